"""``vsite mount`` / ``unmount`` / ``status`` as a user runs them (subprocesses, real mounts)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from runhelp import DEMO_LOCK, vsite
from tests.fusetools import force_unmount, in_proc_mounts, mounted, require_fuse, wait_gone
from tests.memview import MemoryView
from vsite.fs import registry
from vsite.store import usage
from vsite.store import Store

pytestmark = pytest.mark.fuse

DEMO_MODULES = ["rich", "rich.console", "click", "attr", "six", "idna", "packaging.version", "pygments"]


@pytest.fixture
def env(tmp_path, monkeypatch):
    """Private runtime and cache dirs, for this process and the vsite processes it starts."""
    monkeypatch.setenv("VSITE_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("VSITE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))  # no wheels borrowed from uv's cache
    return dict(os.environ)


def one_line_error(done: subprocess.CompletedProcess, code: int, *words: str) -> None:
    assert done.returncode == code
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vsite: "), done.stderr
    for word in words:
        assert word in lines[0]


def test_mount_refuses_non_empty_target(env, tmp_path):
    require_fuse()
    target = tmp_path / "busy"
    target.mkdir()
    (target / "file").write_text("x")
    one_line_error(vsite("mount", DEMO_LOCK, target, env=env, check=None), 1, "not empty")
    assert not in_proc_mounts(str(target))


def test_mount_bad_lock_leaves_nothing(env, tmp_path):
    require_fuse()
    lock = tmp_path / "uv.lock"
    lock.write_text("this is [not toml")
    target = tmp_path / "new" / "site-packages"
    one_line_error(vsite("mount", lock, target, env=env, check=None), 2)
    assert not target.exists()  # the target it created is gone again
    assert not in_proc_mounts(str(target))


def test_mount_without_fusermount(env, tmp_path):
    env = env | {"PATH": "/nonexistent"}
    one_line_error(vsite("mount", DEMO_LOCK, tmp_path / "t", env=env, check=None), 1, "fusermount3")


def test_mount_offline_with_missing_wheels(env, tmp_path):
    require_fuse()
    target = tmp_path / "t"
    try:
        done = vsite("mount", DEMO_LOCK, target, "--offline", env=env, check=None)
        one_line_error(done, 1, "--offline")
        assert not target.exists()
        assert not in_proc_mounts(str(target))
        assert registry.records() == []
    finally:
        force_unmount(str(target))


def test_mount_on_a_mounted_target(env, tmp_path):
    target = tmp_path / "mnt"
    with mounted(MemoryView({"a": b"1"}), target) as pid:
        one_line_error(vsite("mount", DEMO_LOCK, target, env=env, check=None), 1, "already a vsite mount", str(pid))


def test_status_and_unmount(env, tmp_path):
    assert vsite("status", env=env, check=0).stdout.strip() == "no vsite mounts"
    target = tmp_path / "mnt"
    with mounted(MemoryView({"a": b"1"}), target, packages=7, lock="/x/uv.lock", conflicts=["p: a over b"]) as pid:
        (target / "a").read_bytes()
        out = vsite("status", "--conflicts", env=env, check=0).stdout
        first = out.splitlines()[0]
        for word in (str(target), "mounted", f"pid {pid}", "7 packages", "1 files served", "/x/uv.lock"):
            assert word in first, out
        assert "conflict: p: a over b" in out
        elsewhere = env | {"VSITE_RUNTIME_DIR": str(tmp_path / "other-runtime")}
        assert str(target) not in vsite("status", env=elsewhere, check=0).stdout
        assert f"{target}  unregistered" in vsite("status", "--all", env=elsewhere, check=0).stdout
        vsite("unmount", target, env=env, check=0)
        assert not in_proc_mounts(str(target))
        assert wait_gone(pid)
        assert vsite("status", env=env, check=0).stdout.strip() == "no vsite mounts"
        assert str(target) not in vsite("status", "--all", env=env, check=0).stdout
        one_line_error(vsite("unmount", target, env=env, check=None), 1, "not a vsite mount")


def test_unmount_after_daemon_killed(env, tmp_path):
    target = tmp_path / "mnt"
    with mounted(MemoryView({"a": b"1"}), target) as pid:
        os.kill(pid, signal.SIGKILL)
        assert wait_gone(pid)
        assert "dead-daemon" in vsite("status", env=env, check=0).stdout
        vsite("unmount", target, env=env, check=0)
        assert not in_proc_mounts(str(target))
        assert registry.records() == []


# -- end to end: the demo lock, fetched from PyPI, mounted as a whole venv ----------


@pytest.fixture(scope="module")
def uv_venv(tmp_path_factory) -> Path:
    """The demo lock installed by uv itself: the reference."""
    venv = tmp_path_factory.mktemp("uv") / "venv"
    uv = Path(sys.executable).with_name("uv")
    python = subprocess.run(["python3", "-c", "import sys; print(sys.executable)"],
                            capture_output=True, text=True, check=True).stdout.strip()
    subprocess.run([str(uv), "sync", "--frozen", "--project", str(DEMO_LOCK.parent), "--python", python],
                   env=os.environ | {"UV_PROJECT_ENVIRONMENT": str(venv)}, check=True, capture_output=True)
    return venv


def _metadata(python: Path) -> dict:
    code = (
        "import importlib.metadata as m, json, sys\n"
        "out = sorted((d.metadata['Name'].lower(), d.version, sorted((e.group, e.name, e.value) for e in d.entry_points))\n"
        "             for d in m.distributions() if str(d.locate_file('')).startswith(sys.prefix))\n"
        "print(json.dumps(out))"
    )
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.network
@pytest.mark.slow
def test_demo_lock_as_a_venv(env, tmp_path, uv_venv):
    require_fuse()
    target = tmp_path / "venv"
    try:
        done = vsite("mount", DEMO_LOCK, target, "--venv", env=env, check=0)
        assert "mounted" in done.stdout
        python = target / "bin/python"
        code = f"import {', '.join(DEMO_MODULES)}, sys; print(sys.prefix); print(rich.__file__)"
        out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True).stdout.split()
        assert out[0] == str(target)
        assert out[1].startswith(str(target / "lib"))
        version = subprocess.run([str(target / "bin/pygmentize"), "-V"], capture_output=True, text=True, check=True)
        assert "Pygments version" in version.stdout
        assert _metadata(python) == _metadata(uv_venv / "bin/python")
        check = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "check"],
                               capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
        listed = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "list", "--format=json"],
                                capture_output=True, text=True, check=True).stdout
        reference = subprocess.run([sys.executable, "-m", "pip", "--python", str(uv_venv / "bin/python"), "list",
                                    "--format=json"], capture_output=True, text=True, check=True).stdout
        assert json.loads(listed) == json.loads(reference)
        status = vsite("status", env=env, check=0).stdout
        assert str(target) in status and "mounted" in status and "venv" in status
        record = registry.read_record(str(target))
        store = Store()
        pins = [(u.pid, set(u.keys)) for u in usage.live_pins(store)]
        assert pins == [(record.pid, set(record.wheels))] and len(record.wheels) == record.packages == 9
        vsite("unmount", target, env=env, check=0)
        assert usage.live_pins(store) == []
        assert not in_proc_mounts(str(target))
        assert wait_gone(record.pid)
        assert os.listdir(target) == []
    finally:
        force_unmount(str(target))


@pytest.mark.network
@pytest.mark.slow
def test_concurrent_mounts_of_one_target(env, tmp_path):
    require_fuse()
    vsite("fetch", DEMO_LOCK, env=env, check=0)
    target = tmp_path / "site-packages"
    cmd = [sys.executable, "-m", "vsite", "mount", str(DEMO_LOCK), str(target)]
    try:
        procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(4)]
        results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
        assert sorted(code for code, _ in results) == [0, 1, 1, 1], results
        assert all("already a vsite mount" in err for code, err in results if code)
        with open("/proc/mounts") as table:
            assert sum(line.split()[1] == str(target) for line in table) == 1
        vsite("unmount", target, env=env, check=0)
        assert not in_proc_mounts(str(target))
    finally:
        force_unmount(str(target))
        force_unmount(str(target))


@pytest.mark.network
@pytest.mark.slow
def test_demo_lock_site_packages_matches_uv(env, tmp_path, uv_venv):
    require_fuse()
    target = tmp_path / "site-packages"
    try:
        vsite("mount", DEMO_LOCK, target, env=env, check=0)
        reference = next((uv_venv / "lib").glob("python3*/site-packages"))

        def files(root: Path) -> set[str]:
            # links into the store (the mount's unique subtrees) are followed: what a process sees
            walked = (Path(d, n) for d, dirs, names in os.walk(root, followlinks=True) for n in dirs + names)
            return {
                str(p.relative_to(root)) for p in walked
                if "__pycache__" not in p.parts and p.name not in ("RECORD", "INSTALLER")
                and not p.name.startswith("uv_") and p.name != "_virtualenv.py" and p.name != "_virtualenv.pth"
            }

        mine, theirs = files(target), files(reference)
        assert mine == theirs
        for rel in sorted(mine):
            if (reference / rel).is_file() and not (reference / rel).is_symlink():
                assert (target / rel).read_bytes() == (reference / rel).read_bytes(), rel
        code = f"import {', '.join(DEMO_MODULES)}"
        subprocess.run(["python3", "-c", code], env=os.environ | {"PYTHONPATH": str(target)}, check=True)
        vsite("unmount", target, env=env, check=0)
        assert not in_proc_mounts(str(target))
    finally:
        force_unmount(str(target))

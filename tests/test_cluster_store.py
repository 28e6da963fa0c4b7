"""Clusters: a store published once (``vsite fetch --store``) and used in place by every node.

Through real mounts, as root: a store packed as a squashfs image and loop-mounted
(the kernel reads it; no bind needed on a read-only filesystem) serves a whole
venv with an empty local store and ``--offline``; a shared store on a writable
filesystem gets its own read-only bind beside the local store's, each link
leading into whichever store holds its entry; a shared entry that fails its
seal is refused in one line and fetched locally (or the mount fails offline).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from fusetools import force_unmount, require_fuse
from reliab import assert_one_line_error, make_env_wheels, require_root, write_pylock
from runhelp import vsite
from test_fs_links import DATAPKG, _attempt_writes, _site, snapshot
from vsite.fs import readonly
from vsite.store import Store
from wheelmaker import make_wheel

pytestmark = [pytest.mark.fuse, pytest.mark.slow]


def require_squashfs() -> None:
    if shutil.which("mksquashfs"):
        return
    if os.environ.get("CI") == "true":
        pytest.fail("mksquashfs is missing (Debian squashfs-tools: `make system` installs it)")
    pytest.skip("mksquashfs is not installed (Debian squashfs-tools)")


@pytest.fixture
def cluster(tmp_path):
    """Wheels named by file:// URL (so --offline can fetch none of them), the lock, a clean env."""
    require_fuse()
    require_root()
    wheels = make_env_wheels(tmp_path / "wheels", 3, 3)
    wheels.append(make_wheel(tmp_path / "wheels", name="datapkg", files=DATAPKG))
    env = dict(os.environ, VSITE_CACHE_DIR=str(tmp_path / "local"), VSITE_RUNTIME_DIR=str(tmp_path / "runtime"),
               UV_CACHE_DIR=str(tmp_path / "empty-uv-cache"))
    for name in ("VSITE_LINKS", "VSITE_STORE_PATH"):
        env.pop(name, None)
    return tmp_path, wheels, env


def _local_wheels(tmp_path: Path) -> list[str]:
    wheels = tmp_path / "local" / "v2" / "wheels"
    return sorted(os.listdir(wheels)) if wheels.is_dir() else []


def _bind(env: dict, venv: Path, n: int) -> str:
    """Where root's mount at ``venv`` binds its ``n``-th store, in the runtime dir of ``env``, with a slash."""
    return str(Path(env["VSITE_RUNTIME_DIR"]) / "store-ro" / readonly.bind_path(str(venv), n).name) + "/"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


PROBE = (
    "import os, sys, datapkg, relpkg0, relpkg1.m2\n"
    "for m in (relpkg0, relpkg1.m2, datapkg):\n"
    "    print(os.path.realpath(m.__file__))\n"
    "    print(os.path.realpath(m.__cached__) if os.path.exists(m.__cached__) else 'no pyc')\n"
    "print(datapkg.PAYLOAD, end='')\n"
)


def test_a_squashfs_image_of_the_store_serves_a_venv_in_place(cluster):
    tmp_path, wheels, env = cluster
    require_squashfs()
    lock = write_pylock(tmp_path / "pylock.toml", wheels, urls=True)
    published = tmp_path / "published"
    vsite("fetch", "--store", published, lock, env=env, check=0)
    image = tmp_path / "store.sqfs"
    subprocess.run(["mksquashfs", str(published), str(image), "-noappend", "-no-progress", "-quiet"],
                   check=True, capture_output=True, timeout=120)
    digest = _sha256(image)
    mnt = tmp_path / "image"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "squashfs", "-o", "loop,ro", str(image), str(mnt)], check=True, timeout=60)
    try:
        in_image = str(mnt / "v2" / "wheels") + "/"
        assert readonly.read_only_fs(mnt)
        node = dict(env, VSITE_STORE_PATH=str(mnt))
        venv = tmp_path / "venv"
        done = vsite("mount", "--offline", "--venv", lock, venv, env=node, check=0)
        try:
            assert done.stderr == "", done.stderr
            site = _site(venv)
            assert os.readlink(site / "relpkg0").startswith(in_image)  # no bind: the image is read-only
            probe = subprocess.run([str(venv / "bin/python"), "-c", PROBE], capture_output=True, text=True,
                                   env=node, timeout=60)
            assert probe.returncode == 0, probe.stderr
            *paths, payload = probe.stdout.splitlines()
            assert len(paths) == 6 and all(p.startswith(in_image) for p in paths), paths  # sources and pycs
            assert payload == DATAPKG["datapkg/data/payload.txt"].decode().strip()
            assert "links into the store" in vsite("status", env=node, check=0).stdout
            tried = _attempt_writes(venv / "bin/python", site, capture_output=True, text=True, env=node, timeout=60)
            assert tried == {**dict.fromkeys(tried, "EROFS"), "py_compile": "refused"}, tried
        finally:
            vsite("unmount", venv, env=node)
            force_unmount(str(venv))
        assert _local_wheels(tmp_path) == []  # the local store gained no wheel
        assert not list((tmp_path / "runtime").glob("store-ro/*"))  # and no bind was made
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
    assert _sha256(image) == digest


def test_links_lead_into_whichever_store_holds_each_entry(cluster):
    """A shared store on a writable filesystem: its own read-only bind, beside the local store's."""
    tmp_path, wheels, env = cluster
    published = tmp_path / "published"
    vsite("fetch", "--store", published, write_pylock(tmp_path / "part.toml", wheels[:2], urls=True), env=env,
          check=0)
    before = snapshot(published)
    lock = write_pylock(tmp_path / "pylock.toml", wheels, urls=True)
    node = dict(env, VSITE_STORE_PATH=f"{tmp_path / 'absent'}:{published}")
    venv = tmp_path / "venv"
    done = vsite("mount", "--venv", lock, venv, env=node, check=0)
    try:
        assert "fetched 2 of 4 packages" in done.stderr, done.stderr
        site = _site(venv)
        local_bind, shared_bind = (_bind(env, venv, n) for n in (0, 1))
        assert os.readlink(site / "relpkg0").startswith(shared_bind)
        assert os.readlink(site / "relpkg1").startswith(shared_bind)
        assert os.readlink(site / "relpkg2").startswith(local_bind)
        assert os.readlink(site / "datapkg").startswith(local_bind)
        mounts = {line.split()[1]: line.split()[3] for line in open("/proc/mounts")}
        for bind in (local_bind, shared_bind):
            assert "ro" in mounts[bind.rstrip("/")].split(","), bind
        tried = _attempt_writes(venv / "bin/python", site, capture_output=True, text=True, env=node, timeout=60)
        assert tried == {**dict.fromkeys(tried, "EROFS"), "py_compile": "refused"}, tried
        probe = subprocess.run([str(venv / "bin/python"), "-c", "import relpkg0, relpkg2, datapkg"], env=node,
                               capture_output=True, text=True, timeout=60)
        assert probe.returncode == 0, probe.stderr
        status = vsite("status", env=node, check=0).stdout.splitlines()  # which store gives what, in search order
        assert f"  stores: {tmp_path / 'local'} (2 entries), {published} (2 entries)" in status, status
    finally:
        vsite("unmount", venv, env=node)
        force_unmount(str(venv))
    assert not list((tmp_path / "runtime").glob("store-ro/*"))  # both binds went with the mount
    assert snapshot(published) == before
    assert len(_local_wheels(tmp_path)) == 2
    assert Store(published).verify() == []


def test_a_shared_entry_failing_its_seal_is_refused_in_one_line(cluster):
    tmp_path, wheels, env = cluster
    lock = write_pylock(tmp_path / "pylock.toml", wheels, urls=True)
    published = tmp_path / "published"
    vsite("fetch", "--store", published, lock, env=env, check=0)
    shared = Store(published)
    (key,) = [k for k in shared.keys() if (shared.layout.wheel_dir(k) / "site" / "relpkg0").exists()]
    now = time.time_ns()
    os.utime(shared.layout.wheel_dir(key) / "site" / "relpkg0", ns=(now, now))  # changed after publishing
    node = dict(env, VSITE_STORE_PATH=str(published))
    venv = tmp_path / "venv"
    line = assert_one_line_error(vsite("mount", "--offline", "--venv", lock, venv, env=node), code=1)
    assert f"entry {key[:16]} in the shared store {published} failed its seal (site/relpkg0 changed" in line, line
    assert "--offline" in line and not venv.exists()
    done = vsite("mount", "--venv", lock, venv, env=node, check=0)
    try:
        assert len(done.stderr.splitlines()) == 2, done.stderr
        warning, fetched = done.stderr.splitlines()
        assert warning == (f"vsite: warning: relpkg0 1.0: entry {key[:16]} in the shared store {published} failed"
                           " its seal (site/relpkg0 changed after fetch); not used; fetched into the local store")
        assert fetched.startswith("vsite: fetched 1 of 4 packages in ") and ": 1 downloaded" in fetched, fetched
        site = _site(venv)
        assert os.readlink(site / "relpkg0").startswith(_bind(env, venv, 0))  # local
        assert os.readlink(site / "relpkg1").startswith(_bind(env, venv, 1))  # shared
    finally:
        vsite("unmount", venv, env=node)
        force_unmount(str(venv))
    assert _local_wheels(tmp_path) == [key]

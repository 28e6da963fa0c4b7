"""``vsite doctor``: passes on this machine; each check broken alone gives one FAIL naming it, exit 1."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from runhelp import ROOT
from click.testing import CliRunner

from fusetools import require_fs_mode
from vsite.cli import doctor_cmd, main

NAMES = ["vsite", "fuse-device", "fusermount3", "mount-privilege", "kernel", "pyfuse3", "allow-other",
         "store", "store-path", "uv-cache", "runtime-dir"]


@pytest.fixture
def dirs(tmp_path, monkeypatch) -> Path:
    """A private store and runtime dir, so the checks never look at the user's."""
    monkeypatch.setenv("VSITE_CACHE_DIR", str(tmp_path / "store"))
    monkeypatch.setenv("VSITE_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.delenv("VSITE_FS_NO_OPEN", raising=False)
    return tmp_path


def _doctor(monkeypatch, *args: str, **host: object):
    """``vsite doctor`` in this process, on this machine with ``host``'s fields replaced. pyfuse3
    is taken to be a current patched build unless given, so only the check under test can fail."""
    host.setdefault("pyfuse3_version", lambda: "3.5.0+vsite2")
    host.setdefault("pyfuse3_passes_inode", lambda: True)
    monkeypatch.setattr(doctor_cmd, "current_host", lambda: doctor_cmd.Host(**host))
    return CliRunner().invoke(main, ["doctor", *args])


def _lines(result) -> dict[str, str]:
    """check name -> status, from the human output (one line per check, then a summary)."""
    rows = [line.split(None, 2) for line in result.output.splitlines()[:-1]]
    assert [row[1] for row in rows] == NAMES, result.output
    return {row[1]: row[0] for row in rows}


def _fails(result) -> list[str]:
    return [name for name, status in _lines(result).items() if status == "FAIL"]


def test_doctor_passes_here(dirs):
    """The real command, nothing injected: this machine (and CI) mounts with the fast path."""
    require_fs_mode("zero-message")
    proc = subprocess.run([sys.executable, "-m", "vsite", "doctor"], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "FAIL" not in proc.stdout
    assert proc.stdout.splitlines()[-1].startswith("a mount will work")
    assert "vsite's patched build; on: zero-message open" in proc.stdout


def test_json_parses(dirs):
    require_fs_mode("zero-message")
    proc = subprocess.run([sys.executable, "-m", "vsite", "doctor", "--json"], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    checks = json.loads(proc.stdout)
    assert [c["name"] for c in checks] == NAMES
    assert all(set(c) == {"name", "status", "detail", "fix"} for c in checks)
    assert {c["status"] for c in checks} <= {"ok", "warn", "info"}


def test_json_failure_has_fix(dirs, monkeypatch, tmp_path):
    result = _doctor(monkeypatch, "--json", dev_fuse=str(tmp_path / "no-fuse"))
    assert result.exit_code == 1
    failed = [c for c in json.loads(result.output) if c["status"] == "FAIL"]
    assert [c["name"] for c in failed] == ["fuse-device"]
    assert "--device /dev/fuse" in failed[0]["fix"]


@contextlib.contextmanager
def read_only_dir(path: Path) -> Iterator[Path]:
    """A directory this process cannot write: a read-only tmpfs as root (modes do not stop
    root), mode 0555 otherwise. Unmounted again whatever happens."""
    path.mkdir(parents=True)
    if os.geteuid() != 0:
        path.chmod(0o555)
        try:
            yield path
        finally:
            path.chmod(0o755)
        return
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "vsite-doctor-test", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


def test_baseline_injected_host_passes(dirs, monkeypatch):
    """The host the failure tests start from: nothing fails, so each FAIL below is the one cause."""
    result = _doctor(monkeypatch)
    assert result.exit_code == 0, result.output
    assert _fails(result) == []
    assert "on: zero-message open, symlink caching" in result.output


def test_no_dev_fuse(dirs, monkeypatch, tmp_path):
    result = _doctor(monkeypatch, dev_fuse=str(tmp_path / "no-fuse"))
    assert (result.exit_code, _fails(result)) == (1, ["fuse-device"]), result.output
    assert "modprobe fuse" in result.output


def test_dev_fuse_not_a_device(dirs, monkeypatch, tmp_path):
    (tmp_path / "fuse").write_text("")
    result = _doctor(monkeypatch, dev_fuse=str(tmp_path / "fuse"))
    assert (result.exit_code, _fails(result)) == (1, ["fuse-device"]), result.output


def test_no_fusermount3_on_path(dirs, monkeypatch, tmp_path):
    (tmp_path / "empty-bin").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    result = _doctor(monkeypatch)
    assert (result.exit_code, _fails(result)) == (1, ["fusermount3"]), result.output
    assert "apt-get install fuse3" in result.output


def test_fusermount3_not_setuid_for_a_user(dirs, monkeypatch, tmp_path):
    """Not as root, fusermount3 must be setuid root (here: a plain copy on PATH)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "fusermount3"
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    result = _doctor(monkeypatch, euid=1000, fuse_conf=str(tmp_path / "fuse.conf"))
    assert (result.exit_code, _fails(result)) == (1, ["fusermount3"]), result.output
    assert "not setuid root" in result.output


def test_root_without_cap_sys_admin(dirs, monkeypatch, tmp_path):
    status = tmp_path / "status"
    status.write_text("Name:\tpython\nCapEff:\t00000000a80425fb\nCapBnd:\t00000000a80425fb\n")  # docker's default
    result = _doctor(monkeypatch, euid=0, proc_status=str(status))
    assert (result.exit_code, _fails(result)) == (1, ["mount-privilege"]), result.output
    assert "--cap-add SYS_ADMIN" in result.output


@pytest.mark.parametrize("version, loads, words", [
    ("3.5.0", lambda: False, "stock pyfuse3 3.5.0"),
    (None, lambda: True, "not installed"),
    ("3.5.0+vsite2", None, "apt-get install fuse3 libfuse3-3"),
], ids=["stock", "missing", "no-libfuse3"])
def test_pyfuse3(dirs, monkeypatch, version, loads, words):
    def missing_libfuse() -> bool:
        raise ImportError("libfuse3.so.3: cannot open shared object file: No such file or directory")

    result = _doctor(monkeypatch, pyfuse3_version=lambda: version, pyfuse3_passes_inode=loads or missing_libfuse)
    assert (result.exit_code, _fails(result)) == (1, ["pyfuse3"]), result.output
    assert words in result.output


def test_stock_pyfuse3_on_an_old_kernel_is_a_warning(dirs, monkeypatch):
    """Before Linux 5.1 the patch buys nothing: stock pyfuse3 only warns, and so does the kernel."""
    result = _doctor(monkeypatch, kernel_release="4.19.0-26-amd64", pyfuse3_version=lambda: "3.5.0",
                     pyfuse3_passes_inode=lambda: False)
    assert result.exit_code == 0, result.output
    lines = _lines(result)
    assert (lines["kernel"], lines["pyfuse3"]) == ("warn", "warn")
    assert "no zero-message open (needs 5.1+)" in result.output


def test_vsite1_build_has_symlink_caching_off(dirs, monkeypatch):
    result = _doctor(monkeypatch, pyfuse3_version=lambda: "3.5.0+vsite1")
    assert result.exit_code == 0
    assert "on: zero-message open; off: symlink caching (needs a +vsite2 build)" in result.output


def test_fs_no_open_switch_is_a_warning(dirs, monkeypatch):
    monkeypatch.setenv("VSITE_FS_NO_OPEN", "0")
    result = _doctor(monkeypatch)
    assert result.exit_code == 0
    assert _lines(result)["pyfuse3"] == "warn"
    assert "unset VSITE_FS_NO_OPEN" in result.output


def test_allow_other_missing_for_a_user_is_a_warning(dirs, monkeypatch, tmp_path):
    (tmp_path / "fuse.conf").write_text("#user_allow_other\nmount_max = 1000\n")
    result = _doctor(monkeypatch, euid=1000, fuse_conf=str(tmp_path / "fuse.conf"))
    assert result.exit_code == 0, result.output
    assert _lines(result)["allow-other"] == "warn"
    (tmp_path / "fuse.conf").write_text("user_allow_other\n")
    assert _lines(_doctor(monkeypatch, euid=1000, fuse_conf=str(tmp_path / "fuse.conf")))["allow-other"] == "ok"


@pytest.mark.parametrize("variable, check", [("VSITE_CACHE_DIR", "store"), ("VSITE_RUNTIME_DIR", "runtime-dir")])
@pytest.mark.parametrize("where", ["dir", "missing-below"])
def test_read_only_dir(dirs, monkeypatch, tmp_path, variable, check, where):
    """A store (or runtime dir) this user cannot write, whether it exists or would be created in it."""
    with read_only_dir(tmp_path / "ro") as ro:
        monkeypatch.setenv(variable, str(ro if where == "dir" else ro / "vsite"))
        result = _doctor(monkeypatch)
    assert (result.exit_code, _fails(result)) == (1, [check]), result.output


def test_store_under_a_file(dirs, monkeypatch, tmp_path):
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("VSITE_CACHE_DIR", str(tmp_path / "file" / "vsite"))
    result = _doctor(monkeypatch)
    assert (result.exit_code, _fails(result)) == (1, ["store"]), result.output
    assert "is not a directory" in result.output


def test_store_path_lists_the_shared_stores(dirs, monkeypatch, tmp_path):
    (tmp_path / "shared" / "v2" / "wheels" / "abc").mkdir(parents=True)
    monkeypatch.delenv("VSITE_STORE_PATH", raising=False)
    assert _lines(_doctor(monkeypatch))["store-path"] == "info"
    monkeypatch.setenv("VSITE_STORE_PATH", str(tmp_path / "shared"))
    result = _doctor(monkeypatch)
    assert _lines(result)["store-path"] == "ok" and "1 entries" in result.output, result.output
    monkeypatch.setenv("VSITE_STORE_PATH", f"{tmp_path / 'shared'}:{tmp_path / 'absent'}")
    result = _doctor(monkeypatch)
    assert result.exit_code == 0 and _lines(result)["store-path"] == "warn", result.output
    assert f"no store at {tmp_path / 'absent'}" in result.output


def test_store_on_a_network_filesystem_is_a_warning(dirs, monkeypatch):
    monkeypatch.setattr(doctor_cmd, "_fstype", lambda path: "nfs4")
    result = _doctor(monkeypatch)
    assert result.exit_code == 0
    assert _lines(result)["store"] == "warn"

"""Shared helpers for FUSE tests: skip/fail policy, isolated runtime dirs, safe teardown."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest

from vsite.fs import daemon, registry
from vsite.fs.operations import pyfuse3_passes_inode
from vsite.view.nodes import View


def fuse_missing() -> str | None:
    """Why real mounts cannot run here, or None."""
    if not os.path.exists("/dev/fuse"):
        return "no /dev/fuse on this machine"
    if not os.access("/dev/fuse", os.R_OK | os.W_OK):
        return "/dev/fuse is not readable and writable by this user"
    if shutil.which("fusermount3") is None:
        return "fusermount3 is not installed (Debian package fuse3)"
    return None


def require_fuse() -> None:
    """Skip without FUSE, with the reason; in CI a FUSE test must run, so fail instead."""
    reason = fuse_missing()
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"FUSE tests must run in CI: {reason}")
    pytest.skip(reason)


# The fs layer's two modes, by the VSITE_FS_NO_OPEN value that selects them (None: the default).
FS_MODES = {"zero-message": None, "stock": "0"}


def require_fs_mode(mode: str) -> None:
    """Skip or fail (in CI) when ``mode`` cannot run here: zero-message open needs the
    patched pyfuse3 the Makefile builds."""
    require_fuse()
    if mode == "stock" or pyfuse3_passes_inode():
        return
    reason = "pyfuse3 is not vsite's patched build (`make venv` builds it; tools/patch_pyfuse3.py)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"zero-message open must be tested in CI: {reason}")
    pytest.skip(reason)


def set_fs_mode(monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    """Select ``mode`` for daemons started from now on (they read VSITE_FS_NO_OPEN)."""
    require_fs_mode(mode)
    if FS_MODES[mode] is None:
        monkeypatch.delenv("VSITE_FS_NO_OPEN", raising=False)
    else:
        monkeypatch.setenv("VSITE_FS_NO_OPEN", FS_MODES[mode])


def force_unmount(target: str) -> None:
    """Teardown whatever happened: lazy unmount, errors ignored."""
    subprocess.run(["fusermount3", "-u", "-z", target], capture_output=True)


def wait_gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not registry.pid_alive(pid):
            return True
        time.sleep(0.02)
    return False


def in_proc_mounts(target: str) -> bool:
    path = registry.canonical_mountpoint(target)
    with open("/proc/mounts") as table:
        return any(line.split()[1] == path for line in table)


@contextlib.contextmanager
def mounted(view: View, target, *, allow_other: bool = False, **record_fields) -> Iterator[int]:
    """Spawn a daemon serving ``view`` at ``target``; always unmount and reap it after."""
    require_fuse()
    target = str(target)
    os.makedirs(target, exist_ok=True)
    fields = {"lock": "test.lock", "plan_key": "test", "packages": 0} | record_fields
    record = registry.MountRecord(mountpoint=registry.canonical_mountpoint(target), **fields)
    pid = daemon.spawn(view, record, allow_other=allow_other)
    try:
        yield pid
    finally:
        force_unmount(target)
        if not wait_gone(pid):
            os.kill(pid, signal.SIGKILL)

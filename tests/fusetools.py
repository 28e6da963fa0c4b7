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


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """Private VSITE_RUNTIME_DIR and VSITE_CACHE_DIR for one test."""
    monkeypatch.setenv("VSITE_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("VSITE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


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
    path = registry.canonical_target(target)
    with open("/proc/mounts") as table:
        return any(line.split()[1] == path for line in table)


@contextlib.contextmanager
def mounted(view: View, target, *, allow_other: bool = False, **record_fields) -> Iterator[int]:
    """Spawn a daemon serving ``view`` at ``target``; always unmount and reap it after."""
    require_fuse()
    target = str(target)
    os.makedirs(target, exist_ok=True)
    fields = {"lock": "test.lock", "plan_key": "test", "packages": 0} | record_fields
    record = registry.MountRecord(target=registry.canonical_target(target), **fields)
    pid = daemon.spawn(view, record, allow_other=allow_other)
    try:
        yield pid
    finally:
        force_unmount(target)
        if not wait_gone(pid):
            os.kill(pid, signal.SIGKILL)

"""Mount points: checks before mounting, unmounting (also after a dead daemon), status.

Everything here reads the kernel's mount table and the registry, and runs
``fusermount3``; none of it imports pyfuse3, so ``vsite unmount`` and
``vsite status`` start fast and never hang on a daemon.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass

from vsite.errors import MountError
from vsite.fileio import open_locked
from vsite.fs import registry


def check_fuse() -> None:
    """Fail with one line if this machine cannot mount FUSE filesystems."""
    if not os.path.exists("/dev/fuse"):
        raise MountError("no /dev/fuse: the FUSE kernel module is not available here")
    if shutil.which("fusermount3") is None:
        raise MountError("fusermount3 not found: install the fuse3 package")


def _dead_mount(path: str) -> bool:
    """True if ``path`` is a FUSE mount whose daemon is gone.

    statfs, unlike stat, is never answered from the kernel's attribute cache.
    ENOTCONN once the kernel has aborted the connection; ECONNABORTED while it
    is aborting it (the daemon's last thread is still exiting).
    """
    try:
        os.statvfs(path)
    except OSError as exc:
        return exc.errno in (errno.ENOTCONN, errno.ECONNABORTED)
    return False


class Claim:
    """An exclusive hold on one mount point, from its checks until its mount answers.

    Without it, two ``vsite mount`` of the same mount point (workers started at
    once) could both find it empty and stack two mounts. An flock on a file in
    the registry: released by :meth:`release` or when the process ends.
    """

    def __init__(self, mountpoint: str) -> None:
        path = registry.record_path(mountpoint).with_suffix(".lock")
        try:
            self._fd: int | None = open_locked(path, 0o600)
        except OSError as exc:
            raise MountError(f"cannot write the mount registry {path.parent}: {exc.strerror}") from None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "Claim":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def prepare_mountpoint(mountpoint: str) -> tuple[str, bool]:
    """Check that ``mountpoint`` can take a mount; create it if missing.

    Returns the canonical path and whether it was created (so a failed mount
    can remove it again).
    """
    path = registry.canonical_mountpoint(mountpoint)
    fstype = registry.mount_fstype(path)
    if fstype == registry.FSTYPE:
        record = registry.read_record(path)
        if _dead_mount(path) or (record and not registry.daemon_alive(record)):
            raise MountError(f"{path} is a vsite mount whose daemon died: run `vsite unmount {path}`")
        raise MountError(f"{path} is already a vsite mount" + (f" (pid {record.pid})" if record else ""))
    if fstype is not None:
        raise MountError(f"{path} is already a mount point ({fstype})")
    if os.path.lexists(path):
        if not os.path.isdir(path):
            raise MountError(f"{path} exists and is not a directory")
        try:
            if any(os.scandir(path)):
                raise MountError(f"{path} is not empty")
        except PermissionError:
            raise MountError(f"{path} is not readable") from None
        return path, False
    try:
        os.makedirs(path)
    except OSError as exc:
        raise MountError(f"cannot create {path}: {exc.strerror}") from None
    return path, True


def _fusermount(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["fusermount3", *args], capture_output=True, text=True)


def unmount(mountpoint: str, *, timeout: float = 10.0) -> None:
    """Unmount a vsite mount and forget it; a dead daemon's mount is detached lazily."""
    path = registry.canonical_mountpoint(mountpoint)
    fstype = registry.mount_fstype(path)
    record = registry.read_record(path)
    if fstype != registry.FSTYPE:
        if record is not None and fstype is None:
            registry.remove(path)
            raise MountError(f"{path} is not mounted (removed its stale record)")
        raise MountError(f"{path} is not a vsite mount")
    check_fuse()
    daemon_alive = record is not None and registry.daemon_alive(record)
    if _dead_mount(path) or (record is not None and not daemon_alive):
        done = _fusermount("-u", "-z", path)  # nothing serves it: detach whatever holds it
    else:
        done = _fusermount("-u", path)  # served (by us, or by a daemon of another registry)
    if done.returncode != 0:
        why = (done.stderr.strip().splitlines() or ["fusermount3 failed"])[-1]
        raise MountError(f"cannot unmount {path}: {why}")
    if record is not None and daemon_alive:  # the daemon sees its session end, removes its record and exits
        deadline = time.monotonic() + timeout
        while registry.pid_alive(record.pid) and time.monotonic() < deadline:
            time.sleep(0.01)
    from vsite.fs import readonly

    readonly.release(path)  # a dead daemon's read-only bind mount of the store
    registry.remove(path)


@dataclass
class MountState:
    """One line of ``vsite status``."""

    mountpoint: str
    state: str  # mounted | dead-daemon | unregistered
    record: registry.MountRecord | None
    stats: dict


def survey(*, everything: bool = False) -> list[MountState]:
    """The registry's mounts; with ``everything``, also the vsite mounts the kernel
    shows that no record of this registry names.

    A record whose mount is gone is not a mount: it is dropped if its daemon is
    dead, and left to a live daemon, which is exiting and removes it itself.
    """
    states = []
    seen = set()
    for record in registry.records():
        seen.add(record.mountpoint)
        if registry.mount_fstype(record.mountpoint) != registry.FSTYPE:
            if not registry.daemon_alive(record):
                registry.remove(record.mountpoint)
            continue
        if registry.daemon_alive(record):
            states.append(MountState(record.mountpoint, "mounted", record, fresh_stats(record)))
        else:
            states.append(MountState(record.mountpoint, "dead-daemon", record, registry.read_stats(record.mountpoint)))
    for path in registry.vsite_mounts() if everything else ():
        if path not in seen:
            states.append(MountState(path, "unregistered", None, {}))
    return states


def fresh_stats(record: registry.MountRecord, timeout: float = 0.5) -> dict:
    """The daemon's request counters as of now (SIGUSR1), else its last published ones."""
    before = registry.read_stats(record.mountpoint).get("updated")
    if registry.daemon_alive(record):
        os.kill(record.pid, signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            stats = registry.read_stats(record.mountpoint)
            if stats.get("updated") != before:
                return stats
            time.sleep(0.005)
    return registry.read_stats(record.mountpoint)

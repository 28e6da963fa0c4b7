"""Per-entry file locks and pid-named work dirs: how concurrent fetches stay safe.

A fetch takes ``fcntl.flock`` on the entry's lock file before it downloads or
builds, so among any number of processes one does the work and the others
wait, then find the entry complete. The kernel drops a flock when its holder
dies, so a killed fetch never wedges the others. Work happens in
``tmp/<pid>-h<host id>-<random>/`` on the store's filesystem and is renamed into place;
what a killed process leaves there is removed by the next fetch or ``gc``
(:func:`clean_debris`), recognised by its dead pid.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from vsite.fileio import flocked
from vsite.store.seal import make_writable

__all__ = [
    "STORE_ERRNOS", "clean_debris", "flocked", "host_id", "pid_alive", "remove_tree", "rename_into_place", "withdraw",
    "work_dir",
]

# errnos that mean the store's own disk failed (full, over quota, read-only), not the input
STORE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})


def remove_tree(path: Path) -> None:
    """Delete ``path`` and everything below it, sealed (read-only) dirs included; errors ignored."""
    make_writable(path)
    shutil.rmtree(path, ignore_errors=True)


FOREIGN_DEBRIS_AGE = 86400.0  # seconds: another host's work dir older than this is debris

_TAGGED = re.compile(r"^(\d+)-h([0-9a-f]{8})-")


@functools.cache
def host_id() -> str:
    """This host, as pids in a store are qualified with it (8 hex digits of its name and
    machine id): a store on a filesystem several hosts share holds work dirs and pins
    of all of them, and a pid means something only on its own host."""
    try:
        with open("/etc/machine-id", "rb") as f:
            machine = f.read().strip()
    except OSError:
        machine = b""
    return hashlib.sha256(socket.gethostname().encode() + b"\0" + machine).hexdigest()[:8]


@contextlib.contextmanager
def work_dir(tmp_root: Path) -> Iterator[Path]:
    """A fresh ``<tmp_root>/<pid>-h<host id>-xxxx`` dir, removed on exit whatever happens."""
    tmp_root.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-h{host_id()}-", dir=tmp_root))
    try:
        yield path
    finally:
        remove_tree(path)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_debris(tmp_root: Path) -> int:
    """Remove work dirs of processes that no longer run; return how many.

    A work dir of another host (a store several hosts share) is left alone until it is
    older than FOREIGN_DEBRIS_AGE: its pid cannot be checked from here.
    """
    removed = 0
    try:
        names = os.listdir(tmp_root)
    except FileNotFoundError:
        return 0
    for name in names:
        tagged = _TAGGED.match(name)
        if tagged and tagged.group(2) != host_id():
            try:
                if time.time() - os.lstat(tmp_root / name).st_mtime < FOREIGN_DEBRIS_AGE:
                    continue
            except OSError:
                continue
        else:
            pid_text = name.split("-", 1)[0]
            if not pid_text.isdigit() or pid_alive(int(pid_text)):
                continue
        remove_tree(tmp_root / name)
        removed += 1
    return removed


def rename_into_place(src: Path, dest: Path) -> bool:
    """Atomically move the finished dir ``src`` to ``dest``; False if ``dest`` already exists."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(src, dest)
    except OSError as exc:
        if dest.exists():
            return False
        raise exc
    return True


def withdraw(layout, parts: list[Path]) -> None:
    """Withdraw staged parts (``staged/<key>/<part>``) under each key's lock: renamed out, then deleted.

    Used when a fetch fails (its own parts) and by gc (parts killed fetches
    left); another fetch using a part waits on the lock and then redoes it.
    """
    for part in parts:
        key = part.parent.name
        with flocked(layout.lock_file(key)), work_dir(layout.tmp_dir()) as work:
            if part.exists():
                os.rename(part, work / "withdrawn")
            try:
                part.parent.rmdir()
            except OSError:
                pass

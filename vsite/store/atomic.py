"""Per-entry file locks and pid-named work dirs: how concurrent fetches stay safe.

A fetch takes ``fcntl.flock`` on the entry's lock file before it downloads or
builds, so among any number of processes one does the work and the others
wait, then find the entry complete. The kernel drops a flock when its holder
dies, so a killed fetch never wedges the others. Work happens in
``tmp/<pid>-<random>/`` on the store's filesystem and is renamed into place;
what a killed process leaves there is removed by the next fetch or ``gc``
(:func:`clean_debris`), recognised by its dead pid.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

# errnos that mean the store's own disk failed (full, over quota, read-only), not the input
STORE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})


@contextlib.contextmanager
def flocked(path: Path) -> Iterator[None]:
    """Hold an exclusive flock on ``path`` (created if missing) for the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def work_dir(tmp_root: Path) -> Iterator[Path]:
    """A fresh ``<tmp_root>/<pid>-xxxx`` dir, removed on exit whatever happens."""
    tmp_root.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=tmp_root))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_debris(tmp_root: Path) -> int:
    """Remove work dirs of processes that no longer run; return how many."""
    removed = 0
    try:
        names = os.listdir(tmp_root)
    except FileNotFoundError:
        return 0
    for name in names:
        pid_text = name.split("-", 1)[0]
        if not pid_text.isdigit() or pid_alive(int(pid_text)):
            continue
        shutil.rmtree(tmp_root / name, ignore_errors=True)
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

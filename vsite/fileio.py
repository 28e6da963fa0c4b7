"""Generic file helpers, each written once: atomic JSON writes, flocks, copying while hashing.

Nothing here knows about the store, views or mounts; every stage may use it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

CHUNK = 1024 * 1024


class _Hash(Protocol):
    def update(self, data: bytes, /) -> None: ...


def write_json_atomic(
    path: Path,
    data: object,
    *,
    indent: int | None = None,
    sort_keys: bool = False,
    mode: int | None = None,
    mtime_ns: int | None = None,
) -> None:
    """Write ``data`` as JSON to ``path`` so readers see the old file or the new one, never half.

    A temp file beside ``path`` (unique per process and thread) is written,
    given ``mode`` and ``mtime_ns`` if asked, and renamed over ``path``.
    Errors propagate (callers that may ignore them do so); the temp file is
    removed on failure.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    try:
        with open(tmp, "w") as out:
            json.dump(data, out, indent=indent, sort_keys=sort_keys)
        if mode is not None:
            os.chmod(tmp, mode)
        if mtime_ns is not None:
            os.utime(tmp, ns=(mtime_ns, mtime_ns))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def open_locked(path: Path, mode: int = 0o644) -> int:
    """Open ``path`` (created, with its parent, if missing) and take an exclusive ``flock`` on it,
    waiting for it; the caller holds the lock until it closes the returned fd (close-on-exec).

    The kernel drops the lock when the holder dies, so a killed process never
    wedges the others. For a lock held past one block (a claim released early,
    a lock held until exit); :func:`flocked` is the block form.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, mode)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextlib.contextmanager
def flocked(path: Path, mode: int = 0o644) -> Iterator[int]:
    """Hold an exclusive ``flock`` on ``path`` (see :func:`open_locked`) for the block; yields its fd."""
    fd = open_locked(path, mode)
    try:
        yield fd
    finally:
        os.close(fd)


def copy_hashing(
    src: BinaryIO,
    dest: BinaryIO | None,
    *hashes: _Hash,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Stream ``src`` into ``dest`` (None: only read) in chunks, feeding each hash; return the size."""
    size = 0
    while chunk := src.read(CHUNK):
        for h in hashes:
            h.update(chunk)
        if dest is not None:
            dest.write(chunk)
        size += len(chunk)
        if progress is not None:
            progress(len(chunk))
    return size


def sha256_file(path: str | os.PathLike) -> str:
    """The hex sha256 of the file at ``path``, read in chunks."""
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        copy_hashing(f, None, sha)
    return sha.hexdigest()

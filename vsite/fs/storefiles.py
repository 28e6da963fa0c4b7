"""The mount daemon's read-only descriptors on store files: one per inode, a bounded LRU.

Why an LRU: with zero-message open (docs/fs.md) the kernel never sends
``release``, so nothing says when a file is no longer in use; keeping every fd
ever opened would let a fully read 45k-file tree exhaust RLIMIT_NOFILE. At
most ``limit`` fds stay open, the least recently read is closed first, and a
read of a closed one reopens it (one ``open`` + ``fstat``, a few µs next to a
~50 µs FUSE round trip; and with keep_cache a file is read through the daemon
only while its pages are not cached, so reopening is rare). The limit is
derived from the soft RLIMIT_NOFILE the daemon inherited, which it does not
change: the bound holds whatever limit a container imposes.

Store files are opened ``O_NOFOLLOW`` and checked with one ``fstat`` at each
open (a regular file of the size the view showed), so a store file replaced
after lookup is refused with EIO (docs/store.md, "Seal").
"""

from __future__ import annotations

import errno
import logging
import os
import resource
import stat
import threading
from collections import OrderedDict

log = logging.getLogger(__name__)

MAX_OPEN = 1024  # store fds kept open at most, below half the soft RLIMIT_NOFILE


def default_limit() -> int:
    """``MAX_OPEN``, or half the soft fd limit if that is lower (the rest for the daemon itself)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return MAX_OPEN
    return max(1, min(MAX_OPEN, soft // 2))


class _Fd:
    """One open store file: the fd, the reads using it now, and whether it was evicted meanwhile."""

    __slots__ = ("fd", "users", "evicted")

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.users = 0
        self.evicted = False


class StoreFiles:
    """``pread`` on store files by inode, keeping at most ``limit`` descriptors open.

    Thread-safe: the daemon reads in worker threads (a store read may be slow). The
    bookkeeping is under a lock, the ``open``/``fstat``/``pread`` are not; an fd another
    read is using is never closed under it (an evicted fd is closed by its last user),
    so a read never meets an fd number reused for another file.
    """

    def __init__(self, limit: int | None = None) -> None:
        self.limit = default_limit() if limit is None else limit
        self._fds: OrderedDict[int, _Fd] = OrderedDict()
        self._lock = threading.Lock()

    def pread(self, ino: int, path: str, expected_size: int, size: int, offset: int) -> bytes:
        """``size`` bytes at ``offset`` of the store file behind ``ino`` (OSError on failure)."""
        entry = self._take(ino)
        if entry is None:
            entry = self._insert(ino, _Fd(_open_checked(path, expected_size)))
        try:
            return os.pread(entry.fd, size, offset)
        finally:
            self._done(entry)

    def _take(self, ino: int) -> _Fd | None:
        with self._lock:
            entry = self._fds.get(ino)
            if entry is not None:
                self._fds.move_to_end(ino)
                entry.users += 1
            return entry

    def _insert(self, ino: int, new: _Fd) -> _Fd:
        """Keep ``new`` for ``ino`` (or the fd another read opened meanwhile), evicting the least
        recently read fds beyond the limit; returns the entry now in use."""
        doomed = []
        with self._lock:
            entry = self._fds.get(ino)
            if entry is None:
                entry = self._fds[ino] = new
            else:
                doomed.append(new.fd)  # lost the race: use the other fd
                self._fds.move_to_end(ino)
            entry.users += 1
            while len(self._fds) > self.limit:
                _, old = self._fds.popitem(last=False)
                old.evicted = True
                if not old.users:
                    doomed.append(old.fd)
        for fd in doomed:
            os.close(fd)
        return entry

    def _done(self, entry: _Fd) -> None:
        with self._lock:
            entry.users -= 1
            close = entry.evicted and not entry.users
        if close:
            os.close(entry.fd)

    def open_count(self) -> int:
        """How many store fds are open now."""
        with self._lock:
            return len(self._fds)

    def close_all(self) -> None:
        """Close every fd (when the mount ends)."""
        with self._lock:
            idle = []
            for entry in self._fds.values():
                entry.evicted = True  # one in use is closed by its last reader
                if not entry.users:
                    idle.append(entry.fd)
            self._fds.clear()
        for fd in idle:
            os.close(fd)


def _open_checked(path: str, expected_size: int) -> int:
    """Open without following a symlink, and only if it still is the regular file of
    the size the view showed (else EIO: the store changed after lookup)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_size != expected_size:
        os.close(fd)
        log.error("vsite: store file %s changed after it was looked up: refused", path)
        raise OSError(errno.EIO, f"store file changed: {path}")
    return fd

"""pyfuse3 request handlers over a :class:`vsite.view.nodes.View`: thin translators.

Each handler maps one FUSE request onto the view and back; all policy (what the
tree holds) lives in the view. What the kernel may cache, it is told to cache,
because the tree never changes for the life of the mount:

- entry and attribute timeouts are ~11 days, negative lookups included (an
  absent name stays absent), so a warm path walk costs no request at all;
- ``open`` replies ``keep_cache``: file pages survive across opens, so a warm
  read is served from the page cache without a ``read`` request;
- ``flush`` and ``fsync`` answer ENOSYS, which makes the kernel stop sending
  them (one request each per mount instead of one per close);
- inode numbers are the view's (stable), so the kernel's dentry and inode
  caches and Python's directory-listing cache (keyed by mtime) stay valid.

The kernel still sends ``open`` and ``release`` for every open(2) (pyfuse3
passes only the file handle to ``read``, so the zero-message-open ENOSYS trick
is not available), and ``opendir``/``readdir``/``releasedir`` for each listing.

All opens of one inode share one O_RDONLY descriptor on its store file,
opened by the first ``read`` and closed by the last ``release`` (open/release
keep a refcount), and ``read`` is ``os.pread`` on it; synthesized files
(``FileNode.data``) are served from memory.

Blocking caveat: handlers run on the single trio thread and call ``os.open``,
``os.pread`` and the view synchronously. That is cheap when the store is on a
local disk and in the page cache (microseconds); a cold read from a slow disk,
or a view building a directory listing from the store's index for the first
time, stalls every other request for that long. A store on a network
filesystem would need these calls moved to a worker thread.

Only :class:`pyfuse3.FUSEError` leaves a handler: ``OSError`` becomes its
errno, anything else is logged and becomes EIO (an escaping exception would
end pyfuse3's main loop and leave a dead mount).
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from collections.abc import Callable
from typing import Any

import pyfuse3
from pyfuse3 import EntryAttributes, FileInfo, FUSEError, StatvfsData

from vsite.view.nodes import DirNode, FileNode, LinkNode, Node, View

log = logging.getLogger(__name__)

# The tree never changes while mounted: let the kernel keep what it learns.
TIMEOUT = 1_000_000.0


def _handler(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Make a synchronous body a counted pyfuse3 handler that only raises FUSEError."""
    name = fn.__name__

    async def handler(self: "ViewOperations", *args: Any) -> Any:
        self.counts[name] += 1
        try:
            return fn(self, *args)
        except FUSEError:
            raise
        except OSError as exc:
            raise FUSEError(exc.errno or errno.EIO) from None
        except Exception:  # a bug must not end the main loop
            log.exception("vsite: %s%r failed", name, args[:-1] if args else ())
            raise FUSEError(errno.EIO) from None

    handler.__name__ = name
    handler.__doc__ = fn.__doc__
    return handler


_STOP = (errno.ENOSYS, "ENOSYS, so the kernel stops sending it.")
_READ_ONLY = (errno.EROFS, "the view is read-only.")


def _refuse(name: str, err: int, why: str) -> Callable[..., Any]:
    """A counted handler that always answers ``err``."""

    def body(self: "ViewOperations", *args: Any) -> Any:
        raise FUSEError(err)

    body.__name__ = name
    body.__doc__ = f"{name}: {why}"
    return _handler(body)


class _OpenFile:
    """One inode's open state: its store path and (once read) fd, or in-memory bytes."""

    __slots__ = ("real", "fd", "data", "refs")

    def __init__(self, real: str | None, data: bytes | None) -> None:
        self.real = real
        self.fd: int | None = None
        self.data = data
        self.refs = 0


class ViewOperations(pyfuse3.Operations):
    """Serves one View read-only. ``counts`` holds requests per handler name."""

    # No NFS export: the kernel never asks us to look up "." or "..".
    supports_dot_lookup = False
    enable_writeback_cache = False
    enable_acl = False

    HANDLERS = (
        "lookup", "getattr", "readlink", "open", "read", "release", "flush",
        "fsync", "opendir", "readdir", "releasedir", "fsyncdir", "statfs",
        "getxattr", "listxattr", "access", "setattr", "mknod", "mkdir", "unlink",
        "rmdir", "symlink", "rename", "link", "write", "create", "setxattr",
        "removexattr",
    )

    def __init__(self, view: View) -> None:
        super().__init__()
        self.view = view
        self.counts: dict[str, int] = dict.fromkeys(self.HANDLERS, 0)
        self.files_opened: set[int] = set()
        self._attrs: dict[int, EntryAttributes] = {}
        self._listings: dict[int, list[tuple[bytes, Node]]] = {}
        self._open: dict[int, _OpenFile] = {}
        self._uid = os.getuid()
        self._gid = os.getgid()
        negative = EntryAttributes()
        negative.st_ino = 0
        negative.entry_timeout = TIMEOUT
        self._negative = negative

    # -- helpers -----------------------------------------------------------

    def _node(self, ino: int) -> Node:
        try:
            return self.view.node(ino)
        except KeyError:
            raise FUSEError(errno.ENOENT) from None

    def _dir(self, ino: int) -> DirNode:
        node = self._node(ino)
        if not isinstance(node, DirNode):
            raise FUSEError(errno.ENOTDIR)
        return node

    def attrs(self, node: Node) -> EntryAttributes:
        """The (memoized, never changing) attributes the kernel sees for ``node``."""
        cached = self._attrs.get(node.ino)
        if cached is not None:
            return cached
        entry = EntryAttributes()
        entry.st_ino = node.ino
        entry.generation = 0
        entry.entry_timeout = TIMEOUT
        entry.attr_timeout = TIMEOUT
        entry.st_mode = node.st_mode
        entry.st_uid = self._uid
        entry.st_gid = self._gid
        if isinstance(node, FileNode):
            size, nlink = node.size, 1
        elif isinstance(node, LinkNode):
            size, nlink = len(os.fsencode(node.target)), 1
        else:
            size, nlink = 4096, getattr(node, "nlink", 2)
        entry.st_nlink = nlink
        entry.st_size = size
        entry.st_blksize = 4096
        entry.st_blocks = (size + 511) // 512
        entry.st_atime_ns = entry.st_mtime_ns = entry.st_ctime_ns = node.mtime_ns
        self._attrs[node.ino] = entry
        return entry

    def _listing(self, node: DirNode) -> list[tuple[bytes, Node]]:
        listing = self._listings.get(node.ino)
        if listing is None:
            listing = [(os.fsencode(name), child) for name, child in self.view.children(node)]
            self._listings[node.ino] = listing
        return listing

    # -- the tree ----------------------------------------------------------

    @_handler
    def lookup(self, parent_inode: int, name: bytes, ctx: Any) -> EntryAttributes:
        """A child's attributes; an absent name is a cached negative entry."""
        parent = self._dir(parent_inode)
        if name == b".":
            return self.attrs(parent)
        child = self.view.lookup(parent, os.fsdecode(name))
        return self._negative if child is None else self.attrs(child)

    @_handler
    def getattr(self, inode: int, ctx: Any) -> EntryAttributes:
        """Attributes of a node handed out before."""
        return self.attrs(self._node(inode))

    @_handler
    def readlink(self, inode: int, ctx: Any) -> bytes:
        """A symlink's target."""
        node = self._node(inode)
        if not isinstance(node, LinkNode):
            raise FUSEError(errno.EINVAL)
        return os.fsencode(node.target)

    @_handler
    def opendir(self, inode: int, ctx: Any) -> int:
        """Directory handles are inode numbers: a listing needs no per-open state."""
        self._dir(inode)
        return inode

    @_handler
    def readdir(self, fh: int, start_id: int, token: Any) -> None:
        """Entries from ``start_id`` on; each entry's offset is its index + 1."""
        listing = self._listing(self._dir(fh))
        for index in range(start_id, len(listing)):
            name, child = listing[index]
            if not pyfuse3.readdir_reply(token, name, self.attrs(child), index + 1):
                return

    @_handler
    def releasedir(self, fh: int) -> None:
        """Nothing to free (handles are inode numbers)."""

    @_handler
    def statfs(self, ctx: Any) -> StatvfsData:
        """A read-only filesystem with no free space."""
        data = StatvfsData()
        data.f_bsize = data.f_frsize = 4096
        data.f_blocks = data.f_bfree = data.f_bavail = 0
        data.f_files = len(self._attrs)
        data.f_ffree = data.f_favail = 0
        data.f_namemax = 255
        return data

    @_handler
    def access(self, inode: int, mode: int, ctx: Any) -> bool:
        """Only asked without default_permissions: nothing is writable."""
        node = self._node(inode)
        if mode & os.W_OK:
            raise FUSEError(errno.EROFS)
        return not (mode & os.X_OK and not node.st_mode & 0o111)

    @_handler
    def getxattr(self, inode: int, name: bytes, ctx: Any) -> bytes:
        """No extended attributes."""
        self._node(inode)
        raise FUSEError(pyfuse3.ENOATTR)

    @_handler
    def listxattr(self, inode: int, ctx: Any) -> list[bytes]:
        """No extended attributes."""
        self._node(inode)
        return []

    # -- file contents -----------------------------------------------------

    @_handler
    def open(self, inode: int, flags: int, ctx: Any) -> FileInfo:
        """Count an opener; the handle is the inode number.

        The store file itself is opened by the first ``read``: with keep_cache a
        warm open is followed by no read at all, so it costs no syscall here.
        """
        if flags & os.O_ACCMODE != os.O_RDONLY or flags & os.O_TRUNC:
            raise FUSEError(errno.EROFS)
        node = self._node(inode)
        if not isinstance(node, FileNode):
            raise FUSEError(errno.EISDIR if isinstance(node, DirNode) else errno.ELOOP)
        entry = self._open.get(inode)
        if entry is None:
            if node.data is None and node.real is None:
                raise FUSEError(errno.EIO)
            entry = self._open[inode] = _OpenFile(node.real, node.data)
        entry.refs += 1
        self.files_opened.add(inode)
        return FileInfo(fh=inode, direct_io=False, keep_cache=True, nonseekable=False)

    @_handler
    def read(self, fh: int, off: int, size: int) -> bytes:
        """``os.pread`` on the shared store fd, or a slice of synthesized bytes."""
        entry = self._open.get(fh)
        if entry is None:
            raise FUSEError(errno.EBADF)
        if entry.data is not None:
            return entry.data[off : off + size]
        if entry.fd is None:
            entry.fd = self._open_store_file(fh, entry.real)
        return os.pread(entry.fd, size, off)

    def _open_store_file(self, ino: int, real: str) -> int:
        """Open a store file without following a symlink, and only if it still is
        the regular file of the size the view showed (else EIO: changed after lookup)."""
        fd = os.open(real, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        st = os.fstat(fd)
        node = self._node(ino)
        if not stat.S_ISREG(st.st_mode) or (isinstance(node, FileNode) and st.st_size != node.size):
            os.close(fd)
            log.error("vsite: store file %s changed after it was looked up: refused", real)
            raise FUSEError(errno.EIO)
        return fd

    @_handler
    def release(self, fh: int) -> None:
        """Drop one reference; the last one closes the store fd."""
        entry = self._open.get(fh)
        if entry is None:
            return
        entry.refs -= 1
        if entry.refs <= 0:
            del self._open[fh]
            if entry.fd is not None:
                os.close(entry.fd)

    def close_all(self) -> None:
        """Close every store fd (after the main loop ended without releases)."""
        for entry in self._open.values():
            if entry.fd is not None:
                os.close(entry.fd)
        self._open.clear()

    # -- requests the kernel stops sending after ENOSYS --------------------

    flush = _refuse("flush", *_STOP)
    fsync = _refuse("fsync", *_STOP)
    fsyncdir = _refuse("fsyncdir", *_STOP)

    # -- everything that would modify the tree -----------------------------

    setattr = _refuse("setattr", *_READ_ONLY)
    mknod = _refuse("mknod", *_READ_ONLY)
    mkdir = _refuse("mkdir", *_READ_ONLY)
    unlink = _refuse("unlink", *_READ_ONLY)
    rmdir = _refuse("rmdir", *_READ_ONLY)
    symlink = _refuse("symlink", *_READ_ONLY)
    rename = _refuse("rename", *_READ_ONLY)
    link = _refuse("link", *_READ_ONLY)
    write = _refuse("write", *_READ_ONLY)
    create = _refuse("create", *_READ_ONLY)
    setxattr = _refuse("setxattr", *_READ_ONLY)
    removexattr = _refuse("removexattr", *_READ_ONLY)

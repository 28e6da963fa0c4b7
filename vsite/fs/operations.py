"""pyfuse3 request handlers over a :class:`vsite.view.nodes.View`: thin translators.

Each handler maps one FUSE request onto the view and back; all policy (what the
tree holds) lives in the view. What the kernel may cache, it is told to cache,
because the tree never changes for the life of the mount:

- entry and attribute timeouts are ~11 days, negative lookups included (an
  absent name stays absent), so a warm path walk costs no request at all;
- file pages survive across opens (``keep_cache``), so a warm read is served
  from the page cache without a ``read`` request;
- ``flush`` and ``fsync`` answer ENOSYS, which makes the kernel stop sending
  them (one request each per mount instead of one per close);
- inode numbers are the view's (stable), so the kernel's dentry and inode
  caches and Python's directory-listing cache (keyed by mtime) stay valid;
- symlink targets are cached by the kernel (``FUSE_CAP_CACHE_SYMLINKS``, asked
  for by vsite's patched pyfuse3 ``+vsite2`` when ``enable_cache_symlinks`` is
  set), so only the first walk through a link sends ``readlink``.

Handles are inode numbers, for files and directories. That is what makes the
one mode switch possible, ``no_open`` (zero-message open, docs/fs.md):

- on: ``open`` and ``opendir`` answer ENOSYS, once per mount; Linux (>= 5.1)
  then sends no open/release/opendir/releasedir at all, keeps every file's
  pages (FOPEN_KEEP_CACHE) and caches directory listings (FOPEN_CACHE_DIR), and
  ``read``/``readdir`` arrive with handle 0, which vsite's patched pyfuse3
  (tools/patch_pyfuse3.py) replaces by the inode. A warm import sends nothing.
- off (stock pyfuse3, which passes only the handle): ``open`` replies
  ``keep_cache`` with the inode as handle, ``opendir`` the inode; the kernel
  sends open/release per open(2) and opendir/readdir/releasedir per listing.

``read`` is ``os.pread`` on the inode's store fd (:class:`StoreFiles`: opened
by the first read, at most a bounded number kept open, least recently read
closed first), or a slice of synthesized bytes (``FileNode.data``).

No store call on the event loop: the trio thread answers only from memory
(attributes, link targets, synthesized bytes, and what the view already
resolved: :meth:`View.cached`). Whatever may touch the store's filesystem --
a lookup or listing the view has not resolved yet (an ``lstat`` per layer, a
``scandir``, RECORD made from ``files.json``), the daemon-served ``read``
(``open`` + ``fstat`` + ``pread``) -- runs in a worker thread
(``trio.to_thread``), and the daemon runs several pyfuse3 worker tasks, so a
read or stat that waits on a slow store (NFS, Lustre, a cold disk) holds up
that one request, not the mount.

Only :class:`pyfuse3.FUSEError` leaves a handler: ``OSError`` becomes its
errno, anything else is logged and becomes EIO (an escaping exception would
end pyfuse3's main loop and leave a dead mount).
"""

from __future__ import annotations

import errno
import inspect
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pyfuse3
import trio
from pyfuse3 import EntryAttributes, FileInfo, FUSEError, StatvfsData

from vsite.fs.probe import PROBE_INO, Probe
from vsite.fs.pyfuse3_build import installed as pyfuse3_build
from vsite.fs.pyfuse3_build import pyfuse3_passes_inode
from vsite.fs.storefiles import StoreFiles
from vsite.view.nodes import DirNode, FileNode, LinkNode, Node, Unresolved, View

log = logging.getLogger(__name__)

# The tree never changes while mounted: let the kernel keep what it learns.
TIMEOUT = 1_000_000.0

# libfuse's capability bit (fuse_common.h, libfuse >= 3.10; kernel >= 4.20 offers it).
FUSE_CAP_CACHE_SYMLINKS = 1 << 23


def kernel_skips_open(release: str | None = None) -> bool:
    """Whether this Linux (>= 5.1) takes ENOSYS from open/opendir as "never send them";
    older kernels would fail the open(2) with ENOSYS."""
    numbers = (release or os.uname().release).split("-")[0].split(".")[:2]
    try:
        return tuple(int(n) for n in numbers) >= (5, 1)
    except ValueError:
        return False


def zero_message_open() -> bool:
    """The default ``no_open`` mode: on with the patched pyfuse3 on Linux >= 5.1, unless
    ``VSITE_FS_NO_OPEN=0`` (tests of the stock path; a switch for diagnosis)."""
    return os.environ.get("VSITE_FS_NO_OPEN") != "0" and pyfuse3_passes_inode() and kernel_skips_open()


def cache_symlinks_wanted() -> bool:
    """The default ``cache_symlinks``: ask the kernel to cache symlink targets when the build
    can (``+vsite2``), unless ``VSITE_FS_CACHE_SYMLINKS=0`` (tests of the uncached path; diagnosis)."""
    return os.environ.get("VSITE_FS_CACHE_SYMLINKS") != "0" and pyfuse3_build().cache_symlinks


def conn_want() -> int | None:
    """The capability bits the mount's init asked the kernel for (patched pyfuse3 ``+vsite2``);
    None with an older build or before the kernel's init arrived."""
    want = getattr(pyfuse3, "vsite_conn_want", None)
    return None if want is None else want()


@dataclass(frozen=True)
class FastPaths:
    """Which fast paths a mount runs with (published in the daemon's counters)."""

    zero_message_open: bool  # open/opendir answered ENOSYS: no open/release round trips
    cache_symlinks: bool  # the kernel caches link targets: one readlink per link, not per walk


T = TypeVar("T")


def _handler(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Make a body a counted pyfuse3 handler that only raises FUSEError. A synchronous body
    runs on the trio thread and must not touch the store; a coroutine body may await
    :meth:`ViewOperations.off_loop` for what does."""
    name = fn.__name__
    is_async = inspect.iscoroutinefunction(fn)

    async def handler(self: "ViewOperations", *args: Any) -> Any:
        self.counts[name] += 1
        try:
            if is_async:
                return await fn(self, *args)
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


# Worker threads for store calls: as many as pyfuse3 worker tasks may run (vsite.fs.daemon,
# MAX_TASKS), so a request never waits for a thread while others wait on a slow store.
STORE_THREADS = 64


_STOP = (errno.ENOSYS, "ENOSYS, so the kernel stops sending it.")
_READ_ONLY = (errno.EROFS, "the view is read-only.")


def _refuse(name: str, err: int, why: str) -> Callable[..., Any]:
    """A counted handler that always answers ``err``."""

    def body(self: "ViewOperations", *args: Any) -> Any:
        raise FUSEError(err)

    body.__name__ = name
    body.__doc__ = f"{name}: {why}"
    return _handler(body)


class ViewOperations(pyfuse3.Operations):
    """Serves one View read-only. ``counts`` holds requests per handler name,
    ``files_read`` the inodes whose bytes the daemon served.

    ``no_open``: answer open/opendir with ENOSYS (see the module docstring);
    default :func:`zero_message_open`. Only for a pyfuse3 that passes the inode.

    ``cache_symlinks``: let the patched init request FUSE_CAP_CACHE_SYMLINKS (the
    ``enable_cache_symlinks`` attribute it reads; stock pyfuse3 ignores it);
    default :func:`cache_symlinks_wanted`. The tree never changes, so a cached
    target never goes stale.
    """

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

    def __init__(self, view: View, *, no_open: bool | None = None, cache_symlinks: bool | None = None) -> None:
        super().__init__()
        self.view = view
        self.no_open = zero_message_open() if no_open is None else no_open
        self.enable_cache_symlinks = cache_symlinks_wanted() if cache_symlinks is None else cache_symlinks
        self._fast_paths: FastPaths | None = None
        self.probe: Probe | None = None  # names at the root answered per lookup (vsite.fs.probe)
        self.counts: dict[str, int] = dict.fromkeys(self.HANDLERS, 0)
        self.files_read: set[int] = set()
        self._attrs: dict[int, EntryAttributes] = {}
        self._listings: dict[int, list[tuple[bytes, Node]]] = {}
        self._store = StoreFiles()
        self._threads: trio.CapacityLimiter | None = None  # made in the trio run that serves
        self._uid = os.getuid()
        self._gid = os.getgid()
        negative = EntryAttributes()
        negative.st_ino = 0
        negative.entry_timeout = TIMEOUT
        self._negative = negative

    def fast_paths(self) -> FastPaths:
        """The fast paths this mount runs with. Symlink caching counts only once the kernel
        granted it, which is known after the mount's init (before: reported off)."""
        if self._fast_paths is not None:
            return self._fast_paths
        want = conn_want()
        paths = FastPaths(
            zero_message_open=self.no_open,
            cache_symlinks=bool(self.enable_cache_symlinks and want is not None and want & FUSE_CAP_CACHE_SYMLINKS),
        )
        if want is not None or not self.enable_cache_symlinks:
            self._fast_paths = paths  # final: init has run (or nothing to wait for)
        return paths

    # -- helpers -----------------------------------------------------------

    async def off_loop(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)``, a call that may wait on the store's filesystem, in a worker thread."""
        if self._threads is None:
            self._threads = trio.CapacityLimiter(STORE_THREADS)
        # abandoned on cancel (unmount): a call stuck on a dead store must not hold the exit up
        return await trio.to_thread.run_sync(fn, *args, limiter=self._threads, abandon_on_cancel=True)

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

    def _file(self, ino: int) -> FileNode:
        node = self._node(ino)
        if not isinstance(node, FileNode):
            raise FUSEError(errno.EISDIR if isinstance(node, DirNode) else errno.ELOOP)
        if node.data is None and node.real is None:
            raise FUSEError(errno.EIO)
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

    async def _listing(self, node: DirNode) -> list[tuple[bytes, Node]]:
        listing = self._listings.get(node.ino)
        if listing is None:
            children = self.view.cached_children(node)
            if children is None:
                children = await self.off_loop(self.view.children, node)
            listing = [(os.fsencode(name), child) for name, child in children]
            self._listings[node.ino] = listing
        return listing

    # -- the tree ----------------------------------------------------------

    @_handler
    async def lookup(self, parent_inode: int, name: bytes, ctx: Any) -> EntryAttributes:
        """A child's attributes; an absent name is a cached negative entry. What the view
        has resolved is answered here; the rest is resolved in a worker thread."""
        if parent_inode == View.ROOT_INO and self.probe is not None and name in self.probe.asks:
            return self.probe.lookup(name, ctx)
        parent = self._dir(parent_inode)
        if name == b".":
            return self.attrs(parent)
        text = os.fsdecode(name)
        child = self.view.cached(parent, text)
        if isinstance(child, Unresolved):
            child = await self.off_loop(self.view.lookup, parent, text)
        return self._negative if child is None else self.attrs(child)

    @_handler
    def getattr(self, inode: int, ctx: Any) -> EntryAttributes:
        """Attributes of a node handed out before."""
        if inode == PROBE_INO and self.probe is not None:
            return self.probe.attrs()
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
        """ENOSYS with ``no_open``; else the handle is the inode (no per-open state)."""
        if self.no_open:
            raise FUSEError(errno.ENOSYS)
        self._dir(inode)
        return inode

    @_handler
    async def readdir(self, fh: int, start_id: int, token: Any) -> None:
        """Entries of directory ``fh`` (an inode) from ``start_id`` on; offset = index + 1.
        A directory the view has not listed yet is listed in a worker thread."""
        listing = await self._listing(self._dir(fh))
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
        """ENOSYS with ``no_open``; else refuse writes and hand out the inode as handle.

        The store file itself is opened by the first ``read``: with keep_cache a
        warm open is followed by no read at all, so it costs no syscall here.
        """
        if self.no_open:
            raise FUSEError(errno.ENOSYS)
        if flags & os.O_ACCMODE != os.O_RDONLY or flags & os.O_TRUNC:
            raise FUSEError(errno.EROFS)
        self._file(inode)
        return FileInfo(fh=inode, direct_io=False, keep_cache=True, nonseekable=False)

    @_handler
    async def read(self, fh: int, off: int, size: int) -> bytes:
        """Bytes of file ``fh`` (an inode): a slice of synthesized bytes, or ``os.pread`` on its
        store fd in a worker thread (a store read may wait on a slow filesystem)."""
        node = self._file(fh)
        self.files_read.add(fh)
        if node.data is not None:
            return node.data[off : off + size]
        assert node.real is not None  # _file refuses a node with neither
        return await self.off_loop(self._store.pread, fh, node.real, node.size, size, off)

    @_handler
    def release(self, fh: int) -> None:
        """Nothing to free: handles are inodes and store fds are kept by :class:`StoreFiles`."""

    def close_all(self) -> None:
        """Close every store fd (after the main loop ended)."""
        self._store.close_all()

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

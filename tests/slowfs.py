"""A read-only pyfuse3 passthrough that makes some calls slow: a stand-in for a slow store filesystem.

    python slowfs.py SOURCE MOUNTPOINT DELAY PATTERN LOG [OPS]

Serves SOURCE at MOUNTPOINT (mounted ``ro``). The OPS (comma-separated, default
``lookup,getattr,read``) of a name containing PATTERN wait DELAY seconds first (``trio.sleep``: this
filesystem itself keeps answering other requests meanwhile), and append
``<time> slow <op> <path>`` to LOG when they start waiting and ``<time> done
<op> <path>`` when they answer: a network filesystem whose reads and stats of
some files are slow. Everything else is answered at once. Runs until unmounted
(``fusermount3 -u``). Used by tests/test_fs_slow_store.py.
"""

from __future__ import annotations

import errno
import os
import sys
import time

import pyfuse3
import trio
from pyfuse3 import EntryAttributes, FileInfo, FUSEError, StatvfsData

TIMEOUT = 10.0


class SlowFS(pyfuse3.Operations):
    enable_writeback_cache = False

    def __init__(self, source: str, delay: float, pattern: str, log: str, ops: str = "lookup,getattr,read") -> None:
        super().__init__()
        self.source = os.path.abspath(source)
        self.root_ino = os.lstat(self.source).st_ino
        self.paths: dict[int, str] = {pyfuse3.ROOT_INODE: self.source}
        self.delay = delay
        self.pattern = pattern
        self.log = log
        self.ops = set(ops.split(","))

    def _path(self, inode: int) -> str:
        try:
            return self.paths[inode]
        except KeyError:
            raise FUSEError(errno.ENOENT) from None

    def _note(self, what: str, op: str, path: str) -> None:
        with open(self.log, "a") as f:
            f.write(f"{time.time():.3f} {what} {op} {path}\n")

    async def _slow(self, op: str, path: str) -> None:
        if op in self.ops and self.pattern in os.path.basename(path):
            self._note("slow", op, path)
            await trio.sleep(self.delay)
            self._note("done", op, path)

    def _attrs(self, path: str) -> EntryAttributes:
        try:
            st = os.lstat(path)
        except OSError as exc:
            raise FUSEError(exc.errno or errno.EIO) from None
        ino = pyfuse3.ROOT_INODE if st.st_ino == self.root_ino else st.st_ino
        if ino != pyfuse3.ROOT_INODE:
            self.paths[ino] = path
        entry = EntryAttributes()
        entry.st_ino = ino
        # a slow name is never cached by the kernel (a readdirplus reply included): every
        # stat of it comes here and waits, as on NFS with attribute caching off
        entry.entry_timeout = entry.attr_timeout = 0 if self.pattern in os.path.basename(path) else TIMEOUT
        for name in ("st_mode", "st_nlink", "st_uid", "st_gid", "st_rdev", "st_size",
                     "st_atime_ns", "st_mtime_ns", "st_ctime_ns"):
            setattr(entry, name, getattr(st, name))
        entry.st_blksize = 4096
        entry.st_blocks = (st.st_size + 511) // 512
        return entry

    async def lookup(self, parent_inode, name, ctx=None):
        path = os.path.join(self._path(parent_inode), os.fsdecode(name))
        await self._slow("lookup", path)
        return self._attrs(path)

    async def getattr(self, inode, ctx=None):
        path = self._path(inode)
        await self._slow("getattr", path)
        return self._attrs(path)

    async def readlink(self, inode, ctx):
        return os.fsencode(os.readlink(self._path(inode)))

    async def opendir(self, inode, ctx):
        self._path(inode)
        return inode

    async def readdir(self, fh, start_id, token):
        path = self._path(fh)
        names = sorted(os.listdir(path))
        for index in range(start_id, len(names)):
            attrs = self._attrs(os.path.join(path, names[index]))
            if not pyfuse3.readdir_reply(token, os.fsencode(names[index]), attrs, index + 1):
                return

    async def releasedir(self, fh):
        pass

    async def open(self, inode, flags, ctx):
        if flags & os.O_ACCMODE != os.O_RDONLY:
            raise FUSEError(errno.EROFS)
        try:
            fd = os.open(self._path(inode), os.O_RDONLY)
        except OSError as exc:
            raise FUSEError(exc.errno or errno.EIO) from None
        self.paths[-fd] = self._path(inode)  # the fd's path, for _slow
        return FileInfo(fh=fd)

    async def read(self, fh, off, size):
        await self._slow("read", self.paths.get(-fh, ""))
        return os.pread(fh, size, off)

    async def release(self, fh):
        self.paths.pop(-fh, None)
        os.close(fh)

    async def statfs(self, ctx):
        st = os.statvfs(self.source)
        data = StatvfsData()
        for name in ("f_bsize", "f_frsize", "f_blocks", "f_bfree", "f_bavail", "f_files", "f_ffree",
                     "f_favail", "f_namemax"):
            setattr(data, name, getattr(st, name))
        return data


def main() -> None:
    source, mountpoint, delay, pattern, log = sys.argv[1:6]
    ops = SlowFS(source, float(delay), pattern, log, *sys.argv[6:7])
    pyfuse3.init(ops, mountpoint, {"fsname=slowfs", "ro", "default_permissions"})
    try:
        trio.run(pyfuse3.main, 1, 64)
    finally:
        pyfuse3.close(unmount=False)


if __name__ == "__main__":
    main()

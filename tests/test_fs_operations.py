"""The pyfuse3 handlers: through a real mount (semantics the kernel shows) and called directly."""

from __future__ import annotations

import errno
import hashlib
import os
import subprocess
import sys
import threading

import pyfuse3
import pytest

from tests.memview import MTIME_NS, Link, MemoryView, Real
from vsite.fs.operations import TIMEOUT, ViewOperations
from vsite.view.nodes import DirNode, View

from tests.fusetools import mounted

SCRIPT = b"#!/bin/sh\necho tool-ran \"$@\"\n"


def _tree(src) -> dict:
    big = src / "big.bin"
    big.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    init = src / "init.py"
    init.write_bytes(b"from .mod import x\nVALUE = x + 1\n")
    tool = src / "tool"
    tool.write_bytes(SCRIPT)
    return {
        "pkg": {
            "__init__.py": Real(str(init)),
            "mod.py": b"x = 41\n",
            "sub": {"deep.txt": b"deep\n"},
        },
        "bin": {"tool": Real(str(tool), 0o755)},
        "link": Link("pkg/mod.py"),
        "big.bin": Real(str(big)),
        "empty": {},
    }


@pytest.fixture(scope="module")
def mount(tmp_path_factory):
    """One mount shared by the read-only semantic tests below."""
    base = tmp_path_factory.mktemp("ops")
    src = base / "src"
    src.mkdir()
    view = MemoryView(_tree(src))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VSITE_RUNTIME_DIR", str(base / "runtime"))
        with mounted(view, base / "mnt"):
            yield base / "mnt", view, src


@pytest.mark.fuse
def test_listing_and_types(mount):
    target, _, _ = mount
    assert sorted(os.listdir(target)) == ["big.bin", "bin", "empty", "link", "pkg"]
    assert os.listdir(target / "empty") == []
    kinds = {e.name: (e.is_dir(follow_symlinks=False), e.is_symlink()) for e in os.scandir(target)}
    assert kinds["pkg"] == (True, False)
    assert kinds["link"] == (False, True)
    assert kinds["big.bin"] == (False, False)
    assert sorted(os.listdir(target / "pkg")) == ["__init__.py", "mod.py", "sub"]


@pytest.mark.fuse
def test_stat_matches_view_and_is_stable(mount):
    target, view, src = mount
    first = {}
    for rel in ["pkg", "pkg/mod.py", "pkg/sub/deep.txt", "big.bin", "bin/tool"]:
        st = os.lstat(target / rel)
        node = view.root
        for part in rel.split("/"):
            node = view.lookup(node, part)
        assert st.st_ino == node.ino
        assert st.st_mode == node.st_mode
        assert st.st_mtime_ns == MTIME_NS
        first[rel] = (st.st_ino, st.st_mtime_ns, st.st_size)
    assert os.stat(target / "big.bin").st_size == os.stat(src / "big.bin").st_size
    os.listdir(target / "pkg")  # a readdir hands out the same inodes
    for rel, seen in first.items():
        st = os.lstat(target / rel)
        assert (st.st_ino, st.st_mtime_ns, st.st_size) == seen
    assert os.stat(target).st_ino == View.ROOT_INO


@pytest.mark.fuse
def test_exec_bits_kept_and_scripts_run(mount):
    target, _, _ = mount
    assert os.stat(target / "bin/tool").st_mode & 0o777 == 0o755
    assert os.stat(target / "pkg/mod.py").st_mode & 0o777 == 0o644
    assert os.access(target / "bin/tool", os.X_OK)
    assert not os.access(target / "pkg/mod.py", os.X_OK)
    out = subprocess.run([str(target / "bin/tool"), "a"], capture_output=True, check=True)
    assert out.stdout == b"tool-ran a\n"


@pytest.mark.fuse
def test_readlink_and_follow(mount):
    target, _, _ = mount
    assert os.readlink(target / "link") == "pkg/mod.py"
    assert (target / "link").read_bytes() == b"x = 41\n"
    assert os.lstat(target / "link").st_size == len("pkg/mod.py")


@pytest.mark.fuse
def test_bytes_identical_and_random_offsets(mount):
    target, _, src = mount
    expected = (src / "big.bin").read_bytes()
    assert (target / "big.bin").read_bytes() == expected
    fd = os.open(target / "big.bin", os.O_RDONLY)
    try:
        for off in (0, 1, 4095, 4096, 131071, len(expected) - 5, len(expected), len(expected) + 100):
            assert os.pread(fd, 70000, off) == expected[off : off + 70000]
    finally:
        os.close(fd)
    assert (target / "pkg/sub/deep.txt").read_bytes() == b"deep\n"  # synthesized
    assert (target / "pkg/mod.py").read_bytes()[2:4] == b"= "


@pytest.mark.fuse
def test_missing_names(mount):
    target, _, _ = mount
    for _ in range(2):  # second time answered from the negative dentry cache
        with pytest.raises(FileNotFoundError):
            os.stat(target / "pkg/nope.py")
    with pytest.raises(NotADirectoryError):
        os.stat(target / "pkg/mod.py/x")


@pytest.mark.fuse
@pytest.mark.parametrize(
    "action",
    [
        lambda t: open(t / "pkg/mod.py", "r+b"),
        lambda t: open(t / "pkg/mod.py", "ab"),
        lambda t: open(t / "pkg/new.py", "wb"),
        lambda t: os.chmod(t / "pkg/mod.py", 0o600),
        lambda t: os.truncate(t / "pkg/mod.py", 0),
        lambda t: os.utime(t / "pkg/mod.py", (0, 0)),
        lambda t: os.rename(t / "pkg/mod.py", t / "pkg/mod2.py"),
        lambda t: os.setxattr(t / "pkg/mod.py", "user.x", b"1"),
        lambda t: os.unlink(t / "pkg/mod.py"),
        lambda t: os.mkdir(t / "pkg/d"),
        lambda t: os.rmdir(t / "empty"),
        lambda t: os.symlink("x", t / "pkg/l"),
        lambda t: os.link(t / "pkg/mod.py", t / "pkg/h"),
    ],
    ids=["rw", "append", "create", "chmod", "truncate", "utime", "rename", "setxattr",
         "unlink", "mkdir", "rmdir", "symlink", "link"],
)
def test_writes_are_erofs(mount, action):
    target, _, _ = mount
    with pytest.raises(OSError) as info:
        action(target)
    assert info.value.errno == errno.EROFS
    assert (target / "pkg/mod.py").read_bytes() == b"x = 41\n"


@pytest.mark.fuse
def test_xattrs_empty(mount):
    target, _, _ = mount
    assert os.listxattr(target / "pkg/mod.py") == []
    with pytest.raises(OSError) as info:
        os.getxattr(target / "pkg/mod.py", "user.anything")
    assert info.value.errno == errno.ENODATA


@pytest.mark.fuse
def test_statfs(mount):
    target, _, _ = mount
    st = os.statvfs(target)
    assert st.f_flag & os.ST_RDONLY
    assert st.f_namemax == 255


@pytest.mark.fuse
def test_python_imports_through_the_mount(mount):
    target, _, _ = mount
    out = subprocess.run(
        [sys.executable, "-B", "-c", "import pkg; print(pkg.VALUE, pkg.__file__)"],
        env={**os.environ, "PYTHONPATH": str(target)}, capture_output=True, text=True, check=True,
    )
    assert out.stdout.split() == ["42", str(target / "pkg/__init__.py")]


@pytest.mark.fuse
def test_many_concurrent_readers(mount):
    target, _, src = mount
    want = {
        "big.bin": hashlib.sha256((src / "big.bin").read_bytes()).hexdigest(),
        "pkg/__init__.py": hashlib.sha256((src / "init.py").read_bytes()).hexdigest(),
        "pkg/mod.py": hashlib.sha256(b"x = 41\n").hexdigest(),
    }
    errors: list[str] = []

    def reader(seed: int) -> None:
        for i in range(15):
            rel = list(want)[(seed + i) % len(want)]
            got = hashlib.sha256((target / rel).read_bytes()).hexdigest()
            if got != want[rel]:
                errors.append(rel)

    threads = [threading.Thread(target=reader, args=(n,)) for n in range(16)]
    procs = [
        subprocess.Popen(["sha256sum", str(target / "big.bin"), str(target / "pkg/mod.py")],
                         stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for p in procs:
        out, _ = p.communicate()
        assert [line.split()[0] for line in out.splitlines()] == [want["big.bin"], want["pkg/mod.py"]]
    assert errors == []


# -- handlers called directly (no kernel in between) ------------------------


class _Broken(MemoryView):
    """A view whose lookups fail, to check what reaches the kernel."""

    def __init__(self, tree: dict, exc: BaseException) -> None:
        super().__init__(tree)
        self.exc = exc

    def lookup(self, parent: DirNode, name: str):
        raise self.exc


async def _errno(coro) -> int:
    with pytest.raises(pyfuse3.FUSEError) as info:
        await coro
    return info.value.errno


@pytest.mark.trio
async def test_handlers_directly(tmp_path):
    real = tmp_path / "f"
    real.write_bytes(b"0123456789")
    ops = ViewOperations(MemoryView({"f": Real(str(real)), "d": {}, "s": b"syn"}))
    ctx = None
    attrs = await ops.lookup(1, b"f", ctx)
    assert attrs.st_size == 10 and attrs.entry_timeout == TIMEOUT and attrs.attr_timeout == TIMEOUT
    missing = await ops.lookup(1, b"zz", ctx)
    assert missing.st_ino == 0 and missing.entry_timeout == TIMEOUT  # cached negative entry
    assert await _errno(ops.getattr(999, ctx)) == errno.ENOENT
    assert await _errno(ops.lookup(attrs.st_ino, b"x", ctx)) == errno.ENOTDIR
    assert await _errno(ops.open(attrs.st_ino, os.O_WRONLY, ctx)) == errno.EROFS
    assert await _errno(ops.open(1, os.O_RDONLY, ctx)) == errno.EISDIR
    for name, args in [("setattr", (1, None, None, None, ctx)), ("mkdir", (1, b"x", 0o755, ctx)),
                       ("unlink", (1, b"f", ctx)), ("rename", (1, b"f", 1, b"g", 0, ctx)),
                       ("create", (1, b"n", 0o644, os.O_WRONLY, ctx)),
                       ("setxattr", (1, b"user.a", b"v", ctx)), ("write", (1, 0, b"x"))]:
        assert await _errno(getattr(ops, name)(*args)) == errno.EROFS, name
    assert await _errno(ops.flush(1)) == errno.ENOSYS
    assert await _errno(ops.getxattr(1, b"user.a", ctx)) == pyfuse3.ENOATTR
    assert await ops.listxattr(1, ctx) == []

    # one shared fd per inode, closed by the last release
    one = await ops.open(attrs.st_ino, os.O_RDONLY, ctx)
    two = await ops.open(attrs.st_ino, os.O_RDONLY, ctx)
    assert one.fh == two.fh and one.keep_cache and not one.direct_io
    assert ops._open[one.fh].fd is None  # not opened until read
    assert await ops.read(one.fh, 3, 4) == b"3456"
    fd = ops._open[one.fh].fd
    await ops.release(one.fh)
    os.fstat(fd)  # still open for the second opener
    await ops.release(two.fh)
    with pytest.raises(OSError):
        os.fstat(fd)
    assert await _errno(ops.read(one.fh, 0, 1)) == errno.EBADF

    syn = await ops.lookup(1, b"s", ctx)
    info = await ops.open(syn.st_ino, os.O_RDONLY, ctx)
    assert await ops.read(info.fh, 1, 100) == b"yn"
    await ops.release(info.fh)
    assert (ops.counts["open"], ops.counts["read"], ops.counts["lookup"]) == (5, 3, 4)


@pytest.mark.trio
async def test_errors_become_errnos():
    ops = ViewOperations(_Broken({"a": b""}, PermissionError(errno.EACCES, "no")))
    assert await _errno(ops.lookup(1, b"a", None)) == errno.EACCES
    ops = ViewOperations(_Broken({"a": b""}, ValueError("bug")))
    assert await _errno(ops.lookup(1, b"a", None)) == errno.EIO

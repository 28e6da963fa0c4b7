"""Security of a mounted environment (real ``vsite mount --venv`` over a real store):

* every modifying call gets EROFS;
* nothing in the view leads outside the store or the venv skeleton: files are
  backed by store files, symlinks stay inside the mount (``bin/python`` -> the
  target interpreter is the documented exception);
* the mount is private to its user unless ``--allow-other`` is asked;
* a store file changed after fetch is refused (EIO), and named in the daemon log.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from fusetools import force_unmount, in_proc_mounts, require_fuse
from reliab import assert_one_line_error, env_vars, make_env_wheels, record, require_root, write_pylock
from runhelp import vsite
from vsite.fs import readonly, registry
from vsite.plan.cache import cached_plan
from vsite.plan.options import PlanOptions
from vsite.store import Store
from vsite.view import build_view
from vsite.view.nodes import DirNode, FileNode, LinkNode

pytestmark = pytest.mark.fuse

NOBODY = 65534


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A fetched lock of local wheels; mounts go under a world-traversable dir (for the other-uid checks)."""
    base = tmp_path_factory.mktemp("security")
    public = Path(tempfile.mkdtemp(prefix="vsite-sec-", dir="/tmp"))
    os.chmod(public, 0o755)
    env = dict(os.environ, VSITE_CACHE_DIR=str(base / "cache"), VSITE_RUNTIME_DIR=str(base / "runtime"),
               UV_CACHE_DIR=str(base / "empty-uv-cache"))
    lock = write_pylock(base / "pylock.toml", make_env_wheels(base / "wheels", 3, 5, big=1))
    assert vsite("fetch", lock, env=env).returncode == 0
    try:
        yield base, public, lock, env
    finally:
        shutil.rmtree(public, ignore_errors=True)


def _mount(world, name: str, *extra: str, links: bool = True) -> Path:
    require_fuse()
    base, public, lock, env = world
    target = public / name
    env = env if links else dict(env, VSITE_LINKS="0")
    done = vsite("mount", "--offline", "--venv", *extra, lock, target, env=env)
    assert done.returncode == 0, done.stderr
    return target


def _unmount(world, target: Path) -> None:
    vsite("unmount", target, env=world[3])
    force_unmount(str(target))


def _as_nobody(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *argv],
                          capture_output=True, text=True, timeout=60)


MODIFYING = {
    "open-write": lambda p, d: os.open(p, os.O_WRONLY),
    "open-rdwr": lambda p, d: os.open(p, os.O_RDWR),
    "open-trunc": lambda p, d: os.open(p, os.O_RDONLY | os.O_TRUNC),
    "create": lambda p, d: os.open(os.path.join(d, "new.py"), os.O_WRONLY | os.O_CREAT, 0o644),
    "truncate": lambda p, d: os.truncate(p, 0),
    "rename": lambda p, d: os.rename(p, os.path.join(d, "renamed.py")),
    "rename-dir": lambda p, d: os.rename(d, d + "-moved"),
    "unlink": lambda p, d: os.unlink(p),
    "rmdir": lambda p, d: os.rmdir(d),
    "mkdir": lambda p, d: os.mkdir(os.path.join(d, "newdir")),
    "symlink": lambda p, d: os.symlink("/etc/passwd", os.path.join(d, "link")),
    "hardlink": lambda p, d: os.link(p, os.path.join(d, "hard")),
    "mknod-fifo": lambda p, d: os.mkfifo(os.path.join(d, "fifo")),
    "chmod": lambda p, d: os.chmod(p, 0o777),
    "chmod-dir": lambda p, d: os.chmod(d, 0o777),
    "chown": lambda p, d: os.chown(p, NOBODY, NOBODY),
    "utime": lambda p, d: os.utime(p, (0, 0)),
    "setxattr": lambda p, d: os.setxattr(p, "user.evil", b"1"),
    "removexattr": lambda p, d: os.removexattr(p, "user.evil"),
}


def test_every_modifying_call_is_erofs(world):
    target = _mount(world, "venv-rofs")
    try:
        site = next((target / "lib").glob("python3*/site-packages"))
        results = {}
        for name, call in MODIFYING.items():
            for path, folder in ((site / "relpkg0/m0.py", site / "relpkg0"), (target / "bin/relpkg0-tool", target / "bin")):
                with pytest.raises(OSError) as info:
                    call(str(path), str(folder))
                results[name] = errno.errorcode[info.value.errno]
                assert info.value.errno == errno.EROFS, (name, path, info.value)
        assert (site / "relpkg0/m0.py").read_bytes().startswith(b"NAME = 'p0m0'")
        record("erofs", calls=len(MODIFYING) * 2, results=sorted(set(results.values())))
    finally:
        _unmount(world, target)


def test_nothing_in_the_view_leads_outside(world):
    """Through the mount: symlinks resolve inside it, or into the read-only bind of the store made for it
    (bin/python excepted). In the view: files are store files."""
    base, public, lock, env = world
    target = _mount(world, "venv-paths")
    links = files = into_store = 0
    with env_vars(VSITE_RUNTIME_DIR=env["VSITE_RUNTIME_DIR"]):
        bind = str(readonly.bind_path(str(target)))
    try:
        interpreter = os.readlink(target / "bin/python")
        for dirpath, dirs, names in os.walk(target):
            for name in dirs + names:
                path = os.path.join(dirpath, name)
                if not os.path.islink(path):
                    files += 1
                    continue
                links += 1
                dest = os.readlink(path)
                if path == str(target / "bin/python"):
                    assert dest == interpreter and os.path.isabs(dest)
                    continue
                if dest.startswith(bind + "/"):  # a subtree unique to one wheel: the kernel reads the store
                    into_store += 1
                    assert os.path.realpath(path).startswith(bind + "/") and os.path.exists(dest), (path, dest)
                    continue
                resolved = os.path.normpath(os.path.join(dirpath, dest))
                assert not os.path.isabs(dest) and resolved.startswith(str(target) + "/"), (path, dest)
        assert into_store >= 3
    finally:
        _unmount(world, target)
    # the same view in-process: every file node is backed by the store or synthesized
    with env_vars(VSITE_CACHE_DIR=env["VSITE_CACHE_DIR"], UV_CACHE_DIR=env["UV_CACHE_DIR"]):
        plan, interp = cached_plan(str(lock), None, PlanOptions())
        store = Store()
        view = build_view(plan, store, interp, venv_root=str(target))
        roots = os.path.realpath(store.layout.wheels_dir())
        stack, nodes = [view.root], 0
        while stack:
            node = stack.pop()
            for _, child in view.children(node):
                nodes += 1
                if isinstance(child, DirNode):
                    stack.append(child)
                elif isinstance(child, FileNode) and child.real is not None:
                    assert os.path.realpath(child.real).startswith(roots), child.real
                    assert os.path.realpath(child.real) == os.path.abspath(child.real)  # no symlink on the way
                elif isinstance(child, LinkNode):
                    assert child.target in (interp.base_executable, "python", "lib"), child.target
    record("paths", mounted_entries=files + links, symlinks=links, view_nodes=nodes)
    assert links >= 3 and nodes > 50


def test_mount_is_private_unless_allow_other(world):
    require_root()
    private = _mount(world, "venv-private")
    try:
        site = next((private / "lib").glob("python3*/site-packages"))
        assert (site / "relpkg0/m0.py").read_bytes()
        denied = _as_nobody("cat", str(site / "relpkg0/m0.py"))
        assert denied.returncode != 0 and "Permission denied" in denied.stderr, denied
        denied = _as_nobody("ls", str(private))
        assert denied.returncode != 0 and "Permission denied" in denied.stderr, denied
    finally:
        _unmount(world, private)
    shared = _mount(world, "venv-shared", "--allow-other")
    try:
        opts = next(line.split()[3] for line in open("/proc/mounts") if line.split()[1] == str(shared))
        assert "allow_other" in opts.split(",")
        site = next((shared / "lib").glob("python3*/site-packages"))
        allowed = _as_nobody("cat", str(site / "relpkg0/m0.py"))
        assert allowed.returncode == 0 and allowed.stdout.startswith("NAME = 'p0m0'"), allowed
        # other users read, never write: modes are the store's (0o644 files, 0o755 dirs)
        assert _as_nobody("touch", str(site / "relpkg0/m0.py")).returncode != 0
    finally:
        _unmount(world, shared)


@pytest.mark.parametrize("links", [False, True], ids=["daemon-served", "linked"])
def test_file_changed_after_fetch_is_refused_in_the_mount(world, links):
    """Changed below the top level (so the mount's cheap check passes), behind vsite's back: the
    daemon-served path refuses it (EIO on first use, named in the log); below a link the kernel reads
    the store itself, so it is served (docs/store.md, "Read-only"). `cache verify` names it either way."""
    base, public, lock, env = world
    store = Store(env["VSITE_CACHE_DIR"])
    entry = next(store.layout.wheel_dir(k) for k in store.keys()
                 if (store.layout.wheel_dir(k) / "site/relpkg1").is_dir())
    victim = entry / "site/relpkg1/data/empty.txt"
    sealed = victim.stat().st_mtime_ns
    time.sleep(0.01)
    victim.write_bytes(b"import os  # planted\n")
    try:
        target = _mount(world, f"venv-tampered-{links}", links=links)
        try:
            site = next((target / "lib").glob("python3*/site-packages"))
            assert (site / "relpkg1/m1.py").read_bytes()  # the rest is served
            if links:
                assert (site / "relpkg1/data/empty.txt").read_bytes() == b"import os  # planted\n"
            else:
                with pytest.raises(OSError) as info:
                    (site / "relpkg1/data/empty.txt").read_bytes()
                assert info.value.errno == errno.EIO
                with env_vars(VSITE_RUNTIME_DIR=env["VSITE_RUNTIME_DIR"]):
                    log = registry.log_path(str(target)).read_text()
                assert "changed after fetch" in log and "empty.txt" in log, log
            verify = vsite("cache", "verify", env=env)
            assert verify.returncode == 1 and "relpkg1/data/empty.txt" in verify.stderr, verify.stderr
        finally:
            _unmount(world, target)
    finally:
        victim.write_bytes(b"")
        os.utime(victim, ns=(sealed, sealed))
        os.utime(victim.parent, ns=(sealed, sealed))
    assert vsite("cache", "verify", env=env).returncode == 0


def test_mount_of_an_entry_changed_at_top_level_is_refused(world):
    """The mount-time check through the real command: one line naming the package, nothing mounted."""
    require_fuse()
    base, public, lock, env = world
    store = Store(env["VSITE_CACHE_DIR"])
    entry = next(store.layout.wheel_dir(k) for k in store.keys()
                 if (store.layout.wheel_dir(k) / "site/relpkg2").is_dir())
    planted = entry / "site/relpkg2/planted.py"
    sealed = planted.parent.stat().st_mtime_ns
    planted.write_bytes(b"import os\n")
    target = public / "venv-refused"
    try:
        done = vsite("mount", "--offline", "--venv", lock, target, env=env)
        line = assert_one_line_error(done, code=1)
        assert "store entry of relpkg2 1.0 was changed after fetch (site/relpkg2)" in line, line
        assert not in_proc_mounts(str(target)) and not target.exists()
    finally:
        force_unmount(str(target))
        planted.unlink()
        os.utime(planted.parent, ns=(sealed, sealed))
    assert vsite("cache", "verify", env=env).returncode == 0

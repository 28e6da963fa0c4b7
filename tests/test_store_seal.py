"""Sealed entries: read-only modes (whatever the umask), and changes after fetch
found by ``verify`` and refused by the view (cheaply at mount, lazily below the top level)."""

from __future__ import annotations

import errno
import os
import shutil
import stat
import sys
import tempfile
import time
from pathlib import Path

import pytest

from wheelmaker import make_wheel, plan_of, wheel_item
from vsite.errors import StoreError
from vsite.store import Store
from vsite.view import build_view

TAG = sys.implementation.cache_tag


@pytest.fixture
def fetched(tmp_path, target):
    wheel = make_wheel(tmp_path, files={
        "demo_pkg/__init__.py": b"VALUE = 1\n",
        "demo_pkg/sub/__init__.py": b"",
        "demo_pkg/sub/deep.py": b"DEEP = 2\n",
    })
    store = Store(tmp_path / "store")
    item = wheel_item(wheel)
    store.fetch(plan_of(item), target)
    return store, item


def test_entries_read_only_whatever_the_umask(tmp_path, target):
    wheel = make_wheel(tmp_path, files={"demo_pkg/__init__.py": b"", "demo_pkg/a/b/c.py": b"X = 1\n"},
                       executables=())
    store = Store(tmp_path / "store")
    item = wheel_item(wheel)
    old = os.umask(0)
    try:
        store.fetch(plan_of(item), target)
    finally:
        os.umask(old)
    sealed = store.summary(item).sealed_ns
    assert sealed > 0
    checked = 0
    pycs = 0
    for dirpath, dirs, files in os.walk(store.entry_dir(item)):
        for name in [".", *dirs, *files]:
            st = os.lstat(os.path.join(dirpath, name))
            assert not st.st_mode & 0o222, (dirpath, name, oct(st.st_mode))
            assert stat.S_IMODE(st.st_mode) in (0o444, 0o555)
            assert st.st_mtime_ns == sealed
            checked += 1
            pycs += name.endswith(f".{target.cache_tag}.pyc")
    assert checked > 10 and pycs == 2
    assert store.verify() == []


def _append(entry, pyc):
    with open(entry / "site/demo_pkg/sub/deep.py", "ab") as f:
        f.write(b"EVIL = 1\n")


def _touch(entry, pyc):
    os.utime(entry / "site/demo_pkg/sub/deep.py")


def _replace_same_bytes(entry, pyc):
    """What ``sed -i`` does: a new file renamed over the old one, here with the same bytes."""
    path = entry / "site/demo_pkg/sub/deep.py"
    shutil.copy(path, str(path) + ".new")
    os.rename(str(path) + ".new", path)


def _plant_file(entry, pyc):
    (entry / "site/demo_pkg/sub/evil.py").write_bytes(b"")


def _plant_dir_symlink(entry, pyc):
    os.symlink("/etc", entry / "site/demo_pkg/sub/etc")


def _replace_with_symlink(entry, pyc):
    path = entry / "site/demo_pkg/sub/deep.py"
    path.unlink()
    os.symlink("/etc/passwd", path)


def _chmod_world_writable(entry, pyc):
    os.chmod(entry / "site/demo_pkg/sub/deep.py", 0o666)


def _chmod_writable(entry, pyc):
    os.chmod(entry / "site/demo_pkg/sub/deep.py", 0o644)


def _chmod_dir_writable(entry, pyc):
    os.chmod(entry / "site/demo_pkg/sub", 0o755)


def _edit_pyc(entry, pyc):
    path = entry / "site/demo_pkg/sub/__pycache__" / f"deep.{TAG}.pyc"
    path.write_bytes(path.read_bytes())


def _plant_in_bytecode(entry, pyc):
    (entry / "site/demo_pkg/sub/__pycache__/evil.py").write_bytes(b"")


def _plant_pyc_of_another_tag(entry, pyc):
    (entry / "site/demo_pkg/sub/__pycache__/deep.cpython-399.pyc").write_bytes(b"")


def _plant_beside_index(entry, pyc):
    (entry / "notes.txt").write_bytes(b"")


TAMPER = {
    "append": (_append, "site/demo_pkg/sub/deep.py has the wrong"),
    "touch": (_touch, "site/demo_pkg/sub/deep.py changed after fetch"),
    "replaced-same-bytes": (_replace_same_bytes, "changed after fetch"),
    "planted-file": (_plant_file, "unexpected file site/demo_pkg/sub/evil.py"),
    "planted-dir-symlink": (_plant_dir_symlink, "unexpected file site/demo_pkg/sub/etc"),
    "file-replaced-by-symlink": (_replace_with_symlink, "site/demo_pkg/sub/deep.py missing or not a regular file"),
    "world-writable": (_chmod_world_writable, "site/demo_pkg/sub/deep.py is writable by others"),
    "owner-writable": (_chmod_writable, "site/demo_pkg/sub/deep.py is writable (a sealed entry is read-only)"),
    "dir-writable": (_chmod_dir_writable, "site/demo_pkg/sub is writable (a sealed entry is read-only)"),
    "pyc-rewritten": (_edit_pyc, f"site/demo_pkg/sub/__pycache__/deep.{TAG}.pyc changed after fetch"),
    "planted-in-bytecode": (_plant_in_bytecode, "unexpected file site/demo_pkg/sub/__pycache__/evil.py"),
    "planted-pyc-of-uncompiled-tag": (_plant_pyc_of_another_tag,
                                      "unexpected file site/demo_pkg/sub/__pycache__/deep.cpython-399.pyc"),
    "planted-beside-index": (_plant_beside_index, "unexpected file notes.txt"),
}


@pytest.mark.parametrize("case", sorted(TAMPER))
def test_verify_finds_changes_after_fetch(fetched, target, case):
    store, item = fetched
    tamper, reason = TAMPER[case]
    time.sleep(0.01)  # a change made within the seal's second still gets a later mtime
    tamper(store.entry_dir(item), None)
    problems = store.verify()
    assert len(problems) == 1 and problems[0][0] == store.key(item), problems
    assert reason in problems[0][1], problems


def test_mount_refuses_entry_changed_at_top_level(fetched, target):
    """The mount-time check: one lstat per top-level name, so a change beside them is seen at once."""
    store, item = fetched
    entry = store.entry_dir(item)
    (entry / "site/demo_pkg/planted.py").write_bytes(b"")  # changes demo_pkg/'s mtime
    with pytest.raises(StoreError) as info:
        build_view(plan_of(item), store, target)
    message = str(info.value)
    assert "store entry of demo-pkg 1.0 was changed after fetch (site/demo_pkg)" in message
    assert "vsite cache verify" in message and "\n" not in message


def test_view_refuses_deep_change_lazily(fetched, target):
    """Below the top level the check is the lstat the view does when it resolves a name: free."""
    store, item = fetched
    view = build_view(plan_of(item), store, target)
    sub = view.lookup(view.lookup(view.root, "demo_pkg"), "sub")
    time.sleep(0.01)
    _touch(store.entry_dir(item), None)
    assert view.lookup(sub, "__init__.py") is not None  # the rest stays served
    with pytest.raises(OSError) as info:
        view.lookup(sub, "deep.py")
    assert info.value.errno == errno.EIO
    with pytest.raises(OSError):
        view.children(sub)


def test_view_never_presents_a_store_symlink(fetched, target):
    """Even with the seals restored by hand, a symlink in the store is refused, never shown."""
    store, item = fetched
    entry = store.entry_dir(item)
    _replace_with_symlink(entry, None)
    sealed = store.summary(item).sealed_ns
    os.utime(entry / "site/demo_pkg/sub", ns=(sealed, sealed))
    os.utime(entry / "site/demo_pkg/sub/deep.py", ns=(sealed, sealed), follow_symlinks=False)
    view = build_view(plan_of(item), store, target)
    sub = view.lookup(view.lookup(view.root, "demo_pkg"), "sub")
    with pytest.raises(OSError) as info:
        view.lookup(sub, "deep.py")
    assert info.value.errno == errno.EIO


@pytest.fixture
def nobody_store(target):
    """A store owned by ``nobody`` outside pytest's private tmp dirs, fetched by ``nobody``
    (so the seal's last step, after the rename into wheels/, runs without root's override)."""
    from vsite.target import probe

    from wheelmaker import as_user, unprivileged_python
    from vsite.store.atomic import remove_tree
    # imported before the fork: the child (nobody) cannot read this interpreter's stdlib under /root
    import encodings.cp437  # noqa: F401  (zipfile's member names)
    import py_compile  # noqa: F401
    import vsite.store.build
    import vsite.store.download
    import vsite.store.fetch
    import vsite.store.maintenance
    import vsite.store.unpack
    import vsite.store.uvcache  # noqa: F401

    exe = unprivileged_python()
    if exe is None:
        pytest.skip("no interpreter that user nobody can run")
    base = Path(tempfile.mkdtemp(prefix="vsite-nobody-", dir="/tmp"))
    try:
        os.chmod(base, 0o755)
        wheel = make_wheel(base, files={"demo_pkg/__init__.py": b"VALUE = 1\n", "demo_pkg/sub/deep.py": b"DEEP = 2\n"})
        for path in [base, *base.rglob("*")]:
            os.chown(path, 65534, 65534)
        nobody_target = probe(exe)
        store = Store(base / "store", use_uv_cache=False)
        item = wheel_item(wheel)
        as_user(lambda: store.fetch(plan_of(item), nobody_target))
        yield store, item, nobody_target
    finally:
        remove_tree(base)


def test_an_unprivileged_owner_cannot_write_through_to_an_entry(nobody_store):
    """What processes of an environment would do through a symlink into the store all fail for
    the entry's owner: Python writing a missing pyc, ``pip uninstall`` unlinking, an editor
    writing in place or renaming over a file, creating files or dirs."""
    import py_compile

    from wheelmaker import as_user

    store, item, nobody_target = nobody_store
    entry = store.entry_dir(item)
    assert os.stat(entry).st_uid == 65534 and stat.S_IMODE(os.stat(entry).st_mode) == 0o555
    site = entry / "site"
    cache = site / "demo_pkg/sub/__pycache__"
    pyc = cache / f"deep.{nobody_target.cache_tag}.pyc"
    os.unlink(pyc)  # (as root, seal restored) so that Python would want to write it
    sealed = store.summary(item).sealed_ns
    os.utime(cache, ns=(sealed, sealed))
    before = sorted(os.listdir(cache))

    def attempts() -> None:
        tries = {
            "write a pyc": lambda: py_compile.compile(str(site / "demo_pkg/sub/deep.py"), doraise=True),
            "create a pyc": lambda: open(pyc, "xb"),
            "unlink": lambda: os.unlink(site / "demo_pkg/__init__.py"),
            "unlink entry.json": lambda: os.unlink(entry / "entry.json"),
            "open for write": lambda: open(site / "demo_pkg/__init__.py", "r+b"),
            "truncate": lambda: os.truncate(site / "demo_pkg/__init__.py", 0),
            "rename over": lambda: os.rename(site / "demo_pkg/sub/deep.py", site / "demo_pkg/__init__.py"),
            "mkdir": lambda: os.mkdir(site / "demo_pkg/new"),
            "rmdir the entry": lambda: os.rmdir(entry / "headers") if (entry / "headers").exists() else os.rmdir(site),
        }
        for what, attempt in tries.items():
            try:
                attempt()
            except (PermissionError, py_compile.PyCompileError, OSError) as exc:
                if isinstance(exc, OSError) and exc.errno not in (errno.EACCES, errno.EPERM, errno.ENOTEMPTY):
                    raise
            else:
                raise AssertionError(f"{what} succeeded in a sealed entry")
        # and an import without -B does not leave a pyc behind
        import subprocess

        subprocess.run([nobody_target.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(site)!r}); import demo_pkg.sub.deep"],
                       check=True, capture_output=True)

    as_user(attempts)
    assert sorted(os.listdir(cache)) == before
    assert store.verify() == []

"""Sealed entries: modes nobody else can write (whatever the umask), and changes after fetch
found by ``verify`` and refused by the view (cheaply at mount, lazily below the top level)."""

from __future__ import annotations

import errno
import os
import shutil
import stat
import sys
import time

import pytest

from wheelmaker import make_wheel, plan_of, wheel_item
from vsite.errors import StoreError
from vsite.store.store import Store
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


def test_entries_not_writable_by_others_whatever_the_umask(tmp_path, target):
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
    for root in (store.entry_dir(item), store.bytecode_dir(item, target.cache_tag)):
        for dirpath, dirs, files in os.walk(root):
            for name in [".", *dirs, *files]:
                st = os.lstat(os.path.join(dirpath, name))
                assert not st.st_mode & 0o022, (dirpath, name, oct(st.st_mode))
                assert stat.S_IMODE(st.st_mode) in (0o644, 0o755)
                checked += 1
    assert checked > 10
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


def _edit_pyc(entry, pyc):
    path = pyc / "demo_pkg/sub/__pycache__" / f"deep.{TAG}.pyc"
    path.write_bytes(path.read_bytes())


def _plant_in_bytecode(entry, pyc):
    (pyc / "demo_pkg/sub/evil.py").write_bytes(b"")


TAMPER = {
    "append": (_append, "site/demo_pkg/sub/deep.py has the wrong"),
    "touch": (_touch, "site/demo_pkg/sub/deep.py changed after fetch"),
    "replaced-same-bytes": (_replace_same_bytes, "changed after fetch"),
    "planted-file": (_plant_file, "unexpected file site/demo_pkg/sub/evil.py"),
    "planted-dir-symlink": (_plant_dir_symlink, "unexpected file site/demo_pkg/sub/etc"),
    "file-replaced-by-symlink": (_replace_with_symlink, "site/demo_pkg/sub/deep.py missing or not a regular file"),
    "world-writable": (_chmod_world_writable, "site/demo_pkg/sub/deep.py is writable by others"),
    "pyc-rewritten": (_edit_pyc, f"bytecode/{TAG}"),
    "planted-in-bytecode": (_plant_in_bytecode, "unexpected file in bytecode"),
}


@pytest.mark.parametrize("case", sorted(TAMPER))
def test_verify_finds_changes_after_fetch(fetched, target, case):
    store, item = fetched
    tamper, reason = TAMPER[case]
    time.sleep(0.01)  # a change made within the seal's second still gets a later mtime
    tamper(store.entry_dir(item), store.bytecode_dir(item, target.cache_tag))
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

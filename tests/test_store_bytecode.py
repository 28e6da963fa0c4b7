"""Bytecode in the entry's own ``__pycache__`` dirs: compiled on first fetch, further cache tags
added in place (each pyc by one rename, the tag recorded last), a failed add undone."""

from __future__ import annotations

import dataclasses
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from wheelmaker import as_user, entry_state, make_wheel, plan_of, store_snapshot, wheel_item
from vsite.errors import StoreError
from vsite.store import Store, bytecode as bytecode_module
from vsite.store.bytecode import add_pycs, compile_tree
from vsite.store.index import read_summary, write_summary
from vsite.store.seal import check_tree

TAG = sys.implementation.cache_tag
FILES = {
    "demo_pkg/__init__.py": b"from demo_pkg.sub import deep\ndef f():\n    return deep.DEEP\n",
    "demo_pkg/sub/__init__.py": b"",
    "demo_pkg/sub/deep.py": b"DEEP = 2\n",
    "top_mod.py": b"T = 1\n",
}


def _fetched(tmp_path, target, files=FILES):
    wheel = make_wheel(tmp_path, files=files)
    store = Store(tmp_path / "store", use_uv_cache=False)
    item = wheel_item(wheel)
    store.fetch(plan_of(item), target)
    return store, item


def test_first_fetch_compiles_into_the_entrys_pycache_and_imports_use_it(tmp_path, target):
    """Python run on the store entry itself (what a view's symlink leads to) loads the pycs and writes nothing."""
    store, item = _fetched(tmp_path, target)
    entry = store.entry_dir(item)
    site = entry / "site"
    assert store.summary(item).bytecode == (TAG,) and store.has_bytecode(item, TAG)
    assert not store.has_bytecode(item, "cpython-399")
    for pyc in (f"demo_pkg/__pycache__/__init__.{TAG}.pyc", f"demo_pkg/sub/__pycache__/deep.{TAG}.pyc",
                f"__pycache__/top_mod.{TAG}.pyc"):
        header = (site / pyc).read_bytes()[:16]
        assert int.from_bytes(header[4:8], "little") == 0b01, pyc  # unchecked hash
    assert not (tmp_path / "store/v1").exists()
    before = store_snapshot(store.layout.root)
    proc = subprocess.run(
        [target.executable, "-I", "-v", "-c",
         f"import sys; sys.path.insert(0, {str(site)!r}); import demo_pkg, top_mod; print(demo_pkg.f.__code__.co_filename)"],
        capture_output=True, text=True, check=True,
    )
    assert f"matches {site}/demo_pkg/sub/deep.py" in proc.stderr
    assert f"matches {site}/top_mod.py" in proc.stderr
    assert proc.stdout.strip() == f"{site}/demo_pkg/__init__.py"
    assert store_snapshot(store.layout.root) == before
    assert store.verify() == []


def test_a_shipped_pyc_of_the_compiled_name_is_replaced(tmp_path, target):
    """uv keeps a wheel's own pycs, and its compile step overwrites those of its tag: so does the store."""
    files = dict(FILES)
    files[f"demo_pkg/sub/__pycache__/deep.{TAG}.pyc"] = b"stale junk"
    files["demo_pkg/sub/__pycache__/deep.cpython-399.pyc"] = b"other junk"  # a tag not compiled: kept as shipped
    store, item = _fetched(tmp_path, target, files)
    cache = store.entry_dir(item) / "site/demo_pkg/sub/__pycache__"
    assert (cache / f"deep.{TAG}.pyc").read_bytes()[:4] == __import__("importlib.util").util.MAGIC_NUMBER
    assert (cache / "deep.cpython-399.pyc").read_bytes() == b"other junk"
    assert store.verify() == []


def test_a_second_cache_tag_is_added_in_place(tmp_path, target, other_target):
    other = other_target.cache_tag
    files = dict(FILES)
    files[f"demo_pkg/__pycache__/__init__.{other}.pyc"] = b"shipped junk"  # replaced by the compiled one
    store, item = _fetched(tmp_path, target, files)
    entry = store.entry_dir(item)
    before = entry_state(entry)
    first = store.summary(item)

    report = store.fetch(plan_of(item), other_target)
    assert report.reused == ["demo-pkg"] and report.compiled == ["demo-pkg"]
    summary = store.summary(item)
    assert summary.bytecode == (TAG, other)
    assert dataclasses.replace(summary, bytecode=first.bytecode) == first
    assert store.has_bytecode(item, TAG) and store.has_bytecode(item, other)
    after = entry_state(entry)
    added = sorted(set(after) - set(before))
    assert added == sorted([f"site/__pycache__/top_mod.{other}.pyc", f"site/demo_pkg/sub/__pycache__/__init__.{other}.pyc",
                            f"site/demo_pkg/sub/__pycache__/deep.{other}.pyc"])
    changed = sorted(p for p in before if before[p] != after[p])
    assert changed == ["entry.json", f"site/demo_pkg/__pycache__/__init__.{other}.pyc"]
    assert after[f"site/demo_pkg/__pycache__/__init__.{other}.pyc"][1:3] == (0o444, summary.sealed_ns)
    assert check_tree(entry, summary.sealed_ns, base=entry) is None  # seals intact: modes and mtimes
    assert store.verify() == []
    assert not any(store.layout.staged_root().iterdir()) and not any(store.layout.tmp_dir().iterdir())
    # both interpreters import from the same entry with their own pycs
    site = entry / "site"
    for tgt in (target, other_target):
        proc = subprocess.run([tgt.executable, "-I", "-v", "-c", f"import sys; sys.path.insert(0, {str(site)!r}); import demo_pkg"],
                              capture_output=True, text=True, check=True)
        assert f"matches {site}/demo_pkg/__init__.py" in proc.stderr, tgt.cache_tag
    again = store.fetch(plan_of(item), other_target)
    assert again.reused == ["demo-pkg"] and not again.compiled
    assert entry_state(entry) == after


def _fail_on_nth(monkeypatch, name, n, match):
    """Make the ``n``-th ``os.<name>(src, dst)`` whose ``dst`` satisfies ``match`` fail with EIO."""
    real = getattr(os, name)
    calls = []

    def failing(src, dst, *args, **kwargs):
        if match(os.fspath(dst)):
            calls.append(dst)
            if len(calls) == n:
                raise OSError(5, "Input/output error (injected)")
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, name, failing)


@pytest.mark.parametrize("where", ["second-pyc", "summary", "other-item"])
def test_a_fetch_failing_while_adding_a_tag_leaves_the_entry_unchanged(tmp_path, target, other_target, monkeypatch, where):
    store, item = _fetched(tmp_path, target)
    entry = store.entry_dir(item)
    before = entry_state(entry)
    plan = plan_of(item)
    in_entry = str(entry) + os.sep
    if where == "second-pyc":  # one pyc is in, the next fails
        _fail_on_nth(monkeypatch, "rename", 2, lambda dst: dst.startswith(in_entry) and dst.endswith(".pyc"))
    elif where == "summary":  # every pyc is in, entry.json fails
        _fail_on_nth(monkeypatch, "replace", 1, lambda dst: dst == str(entry / "entry.json"))
    else:
        (tmp_path / "bad").mkdir()
        bad = make_wheel(tmp_path / "bad", name="bad_pkg", record_overrides={"bad_pkg/__init__.py": b"other\n"})
        plan = plan_of(item, wheel_item(bad))
    with pytest.raises((StoreError, OSError)):
        store.fetch(plan, other_target)
    monkeypatch.undo()
    assert entry_state(entry) == before
    assert store.summary(item).bytecode == (TAG,) and not store.has_bytecode(item, other_target.cache_tag)
    assert not any(store.layout.staged_root().iterdir()) and not any(store.layout.tmp_dir().iterdir())
    assert store.verify() == []
    # nothing is left half done: the next fetch adds the tag
    assert store.fetch(plan_of(item), other_target).compiled == ["demo-pkg"]
    assert store.has_bytecode(item, other_target.cache_tag) and store.verify() == []


def test_an_unprivileged_owner_adds_a_tag_to_a_read_only_entry(tmp_path, target):
    """Without root, the add needs the temporary write bits it gives itself (a new ``__pycache__``
    included), and leaves every mode and mtime sealed. Tag ``cpython-399`` stands for a second
    interpreter: its pycs are this one's, renamed."""
    base = Path(tempfile.mkdtemp(prefix="vsite-unpriv-", dir="/tmp"))
    try:
        os.chmod(base, 0o755)
        files = dict(FILES, **{"demo_pkg/nopyc/data.txt": b"", "demo_pkg/nopyc/late.py": b"print 'py2'\n"})
        store, item = _fetched(base, target, files)
        entry = store.entry_dir(item)
        mirror = base / "mirror"
        compile_tree(target.executable, entry / "site", mirror)
        for pyc in list(mirror.rglob(f"*.{TAG}.pyc")):
            pyc.rename(pyc.with_name(pyc.name.replace(TAG, "cpython-399")))
        # a py2 module here compiles for no tag: its __pycache__ is new to the entry
        late = mirror / "demo_pkg/nopyc/__pycache__"
        late.mkdir(parents=True)
        shutil.copy(mirror / "demo_pkg/sub/__pycache__/deep.cpython-399.pyc", late / "late.cpython-399.pyc")
        bytecode_module.seal_pycs(mirror, store.summary(item).sealed_ns)
        for path in [base, *base.rglob("*")]:
            os.chown(path, 65534, 65534, follow_symlinks=False)
        assert not (entry / "site/demo_pkg/nopyc/__pycache__").exists()

        def add() -> None:
            summary = read_summary(entry)
            add_pycs(entry / "site", mirror, summary.sealed_ns, base / "backup")
            write_summary(entry, dataclasses.replace(summary, bytecode=(*summary.bytecode, "cpython-399")))

        as_user(add)
        assert (entry / "site/demo_pkg/nopyc/__pycache__/late.cpython-399.pyc").is_file()
        assert store.summary(item).bytecode == (TAG, "cpython-399")
        assert stat.S_IMODE(os.lstat(entry / "site/demo_pkg/nopyc/__pycache__").st_mode) == 0o555
        assert store.verify() == []
    finally:
        from vsite.store.atomic import remove_tree

        remove_tree(base)

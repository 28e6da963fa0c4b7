"""Maintenance of a read-only store: ls, verify of the whole entry, gc and drop of sealed entries."""

from __future__ import annotations

import os
import stat
import sys
import tempfile
import time
from pathlib import Path

import pytest

from wheelmaker import as_user, make_wheel, plan_of, store_snapshot, wheel_item
from vsite.store import EntryInfo, Store


@pytest.fixture
def two(tmp_path, target):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    alpha = wheel_item(make_wheel(tmp_path / "a", name="alpha"))
    beta = wheel_item(make_wheel(tmp_path / "b", name="beta"))
    store = Store(tmp_path / "store", use_uv_cache=False)
    store.fetch(plan_of(alpha, beta), target)
    return store, alpha, beta


def test_entries_list_compiled_tags_from_the_summary(two, target):
    store, alpha, _ = two
    infos = store.entries()
    assert all(isinstance(i, EntryInfo) for i in infos)
    assert [i.key for i in infos] == store.keys()
    assert {i.summary.name: (i.cache_tags, i.locks) for i in infos} == {
        "alpha": ((target.cache_tag,), ("/test/uv.lock",)), "beta": ((target.cache_tag,), ("/test/uv.lock",))}


def test_gc_removes_read_only_entries_whole(two):
    store, alpha, beta = two
    entry = store.entry_dir(alpha)
    assert stat.S_IMODE(os.lstat(entry).st_mode) == 0o555
    assert stat.S_IMODE(os.lstat(entry / "site").st_mode) == 0o555
    assert sorted(k for k, _ in store.gc(max_age_days=0)) == sorted([store.key(alpha), store.key(beta)])
    assert store.keys() == [] and store_snapshot(store.layout.root) == []
    assert not os.listdir(store.layout.tmp_dir())


def test_an_unprivileged_owner_can_gc_its_read_only_store(target):
    """Without root, deleting a sealed tree needs the write bits gc gives back first."""
    import vsite.store.maintenance  # noqa: F401  (before the fork: nobody cannot read more of this interpreter)
    from vsite.store.atomic import remove_tree

    base = Path(tempfile.mkdtemp(prefix="vsite-gc-", dir="/tmp"))
    try:
        os.chmod(base, 0o755)
        alpha = wheel_item(make_wheel(base, name="alpha"))
        store = Store(base / "store", use_uv_cache=False)
        store.fetch(plan_of(alpha), target)
        for path in [base, *base.rglob("*")]:
            os.chown(path, 65534, 65534, follow_symlinks=False)
        def collect() -> None:
            assert store.gc(max_age_days=0) == [(store.key(alpha), "alpha 1.0")]
            assert store.keys() == []

        as_user(collect)
        assert store.keys() == [] and not os.listdir(store.layout.tmp_dir())
        assert store_snapshot(store.layout.root) == []
    finally:
        remove_tree(base)


def test_verify_checks_the_whole_entry_directory(two):
    store, alpha, _ = two
    entry = store.entry_dir(alpha)
    sealed = store.summary(alpha).sealed_ns
    os.chmod(entry, 0o755)
    assert store.verify() == [(store.key(alpha), "the entry directory is writable (a sealed entry is read-only)")]
    os.chmod(entry, 0o555)
    os.chmod(entry / "files.json", 0o644)
    assert store.verify() == [(store.key(alpha), "files.json is writable (a sealed entry is read-only)")]
    os.chmod(entry / "files.json", 0o444)
    os.utime(entry / "entry.json", ns=(sealed + 10**9, sealed + 10**9))
    assert store.verify() == [(store.key(alpha), "entry.json changed after fetch (mtime)")]
    os.utime(entry / "entry.json", ns=(sealed, sealed))
    assert store.verify() == []


def test_gc_corrupt_drops_a_changed_entry_and_fetch_restores_it(two, target):
    store, alpha, beta = two
    entry = store.entry_dir(alpha)
    (entry / "site/alpha/__init__.py").write_bytes(b"EVIL = 1\n")  # root writes through the modes
    assert [k for k, _ in store.verify()] == [store.key(alpha)]
    assert store.gc(corrupt=True) == [(store.key(alpha), "alpha 1.0")]
    assert store.fetch(plan_of(alpha, beta), target).local == ["alpha"]
    assert store.verify() == []


def test_gc_drops_memos_unused_within_the_horizon(tmp_path, monkeypatch):
    """Plans, interpreter probes and conflict reports are memos in the cache dir: `vsite cache gc`
    drops those nothing read or wrote within --max-age (the later of atime and mtime), and the
    next use recomputes a dropped one."""
    from runhelp import vsite
    from vsite.paths import memo_path
    from vsite.plan.cache import cached_plan
    from vsite.target import probe

    monkeypatch.setenv("VSITE_CACHE_DIR", str(tmp_path / "cache"))
    lock = Path(__file__).parent.parent / "examples/demo/uv.lock"
    plan, target = cached_plan(lock, sys.executable)
    plans = list((tmp_path / "cache/plans").iterdir())
    probes = list((tmp_path / "cache/targets").iterdir())
    assert len(plans) == 1 and len(probes) == 1
    old = time.time() - 40 * 86400
    os.utime(plans[0], (old, old))  # a plan not used for 40 days
    recent = memo_path("conflicts", "recent")
    recent.parent.mkdir()
    recent.write_text("[]")
    os.utime(recent, (time.time() - 86400, old))  # written 40 days ago, read yesterday: kept
    store = Store(tmp_path / "cache", use_uv_cache=False)
    assert store.drop_memos(max_age_days=30, dry_run=True) == 1 and plans[0].exists()
    env = dict(os.environ, VSITE_CACHE_DIR=str(tmp_path / "cache"), VSITE_RUNTIME_DIR=str(tmp_path / "run"))
    out = vsite("cache", "gc", env=env).stdout.splitlines()
    assert out == ["removed 0 entries", "removed 1 memos unused for 30 days (plans, interpreter probes, conflict reports)"]
    assert not plans[0].exists() and probes[0].exists() and recent.exists()
    assert cached_plan(lock, sys.executable)[0].to_json() == plan.to_json() and plans[0].exists()  # recomputed
    assert probe(sys.executable) == target
    assert store.drop_memos(max_age_days=-1) == 3  # a horizon past now: every memo

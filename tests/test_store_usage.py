"""gc keeps what recent locks and live mounts use, and cleans what killed fetches leave."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from wheelmaker import make_wheel, plan_of, wheel_item
from vsite.store import usage
from vsite.store import Store
from vsite.store.fetch import Fetch


@pytest.fixture
def two_wheels(tmp_path):
    (tmp_path / "w").mkdir()
    return wheel_item(make_wheel(tmp_path / "w", name="alpha")), wheel_item(make_wheel(tmp_path / "w", name="beta"))


def _age_records(store: Store, days: float) -> None:
    for path in (store.layout.usage_dir() / "locks").glob("*.json"):
        data = json.loads(path.read_text())
        data["time"] = time.time() - days * 86400
        path.write_text(json.dumps(data))


def test_gc_drops_only_entries_no_recent_lock_uses(tmp_path, target, two_wheels):
    alpha, beta = two_wheels
    store = Store(tmp_path / "store")
    store.fetch(plan_of(alpha, beta, lock_path="/old/uv.lock"), target)
    _age_records(store, 40)
    store.fetch(plan_of(alpha, lock_path="/new/uv.lock"), target)
    assert {e.summary.name: e.locks for e in store.entries()} == {
        "alpha": ("/new/uv.lock", "/old/uv.lock"),
        "beta": ("/old/uv.lock",),
    }
    assert store.gc(dry_run=True) == [(store.key(beta), "beta 1.0")]
    assert store.entry_dir(beta) is not None
    assert store.gc() == [(store.key(beta), "beta 1.0")]
    assert store.entry_dir(beta) is None and not store.has_bytecode(beta, target.cache_tag)
    assert store.entry_dir(alpha) is not None and store.has_bytecode(alpha, target.cache_tag)
    assert [r.lock_path for r in usage.lock_records(store)] == ["/new/uv.lock"]
    assert store.gc(max_age_days=1) == []
    assert store.verify() == []


def test_gc_never_drops_what_a_live_mount_pins(tmp_path, target, two_wheels):
    alpha, beta = two_wheels
    store = Store(tmp_path / "store")
    store.fetch(plan_of(alpha, beta), target)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        usage.pin(store, "mount1", [store.key(alpha)], sleeper.pid)
        assert [k for k, _ in store.gc(max_age_days=0)] == [store.key(beta)]
        assert store.entry_dir(alpha) is not None
    finally:
        sleeper.kill()
        sleeper.wait()
    # the pin's process is gone: its pin no longer protects anything and is removed
    assert [k for k, _ in store.gc(max_age_days=0)] == [store.key(alpha)]
    assert usage.live_pins(store) == []
    assert not list((store.layout.usage_dir() / "pins").iterdir())
    usage.unpin(store, "mount1", sleeper.pid)  # unpinning twice is fine


def test_gc_corrupt_removes_failed_entries(tmp_path, target, two_wheels):
    alpha, beta = two_wheels
    store = Store(tmp_path / "store")
    store.fetch(plan_of(alpha, beta), target)
    (store.entry_dir(alpha) / "site/alpha/__init__.py").write_text("tampered")
    assert store.gc() == []
    assert store.gc(corrupt=True) == [(store.key(alpha), "alpha 1.0")]
    assert store.verify() == []
    # the next fetch brings it back
    assert store.fetch(plan_of(alpha, beta), target).local == ["alpha"]


def test_debris_of_dead_fetches_is_cleaned(tmp_path, target, two_wheels):
    alpha, _ = two_wheels
    store = Store(tmp_path / "store")
    tmp = store.layout.tmp_dir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    (tmp / f"{dead_pid}-abc/entry/site").mkdir(parents=True)
    (tmp / f"{os.getpid()}-live").mkdir()
    store.fetch(plan_of(alpha), target)
    assert sorted(os.listdir(tmp)) == [f"{os.getpid()}-live"]
    (tmp / f"{dead_pid}-again").mkdir()
    store.gc()
    assert sorted(os.listdir(tmp)) == [f"{os.getpid()}-live"]


def test_staged_work_of_a_killed_fetch_is_adopted_or_collected(tmp_path, target, two_wheels):
    alpha, beta = two_wheels
    store = Store(tmp_path / "store")
    # a fetch that staged alpha and died before promoting it
    Fetch(store, target).stage(alpha, store.key(alpha))
    assert store.entry_dir(alpha) is None
    report = store.fetch(plan_of(alpha), target)
    assert report.reused == ["alpha"] and not report.local and not report.compiled  # adopted, not redone
    assert store.entry_dir(alpha) is not None and store.has_bytecode(alpha, target.cache_tag)
    assert not store.layout.staged_dir(store.key(alpha)).exists()
    Fetch(store, target).stage(beta, store.key(beta))
    store.gc()
    assert not any(store.layout.staged_root().iterdir())
    assert store.entry_dir(beta) is None and store.verify() == []


def test_unwritable_store_is_one_line_error(tmp_path, target, two_wheels):
    from vsite.errors import StoreError

    alpha, _ = two_wheels
    (tmp_path / "ro").write_text("a file where the store's directory should be")
    with pytest.raises(StoreError, match="^cannot write the store at .*ro"):
        Store(tmp_path / "ro").fetch(plan_of(alpha), target)

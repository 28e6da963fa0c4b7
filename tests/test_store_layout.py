"""The store layout: v2 paths built in one place, and "in the store" as a path test."""

from __future__ import annotations

from pathlib import Path

from vsite.store import LAYOUT_VERSION, Store, StoreLayout


def test_v2_paths(tmp_path):
    layout = StoreLayout(tmp_path)
    assert LAYOUT_VERSION == "v2"
    assert layout.wheels_dir() == tmp_path / "v2/wheels"
    assert layout.wheel_dir("ab") == tmp_path / "v2/wheels/ab"
    assert layout.staged_entry("ab") == tmp_path / "v2/staged/ab/entry"
    assert layout.staged_bytecode("ab", "cpython-312") == tmp_path / "v2/staged/ab/cpython-312"
    assert layout.lock_file("ab") == tmp_path / "v2/locks/ab.lock"
    assert layout.lock_record("k") == tmp_path / "v2/usage/locks/k.json"
    assert layout.pin_file("k", 7) == tmp_path / "v2/usage/pins/k-7.json"
    assert Store(tmp_path).layout.wheels_dir() == layout.wheels_dir()


def test_contains_is_a_path_test_not_a_prefix_test(tmp_path):
    layout = StoreLayout(tmp_path / "store")
    assert layout.contains(tmp_path / "store/v2/tmp/x")
    assert layout.contains(str(tmp_path / "store"))
    assert not layout.contains(tmp_path / "store-other/v2/x")  # a prefix of the string, not of the path
    assert not layout.contains(tmp_path / "store/../elsewhere")
    assert not layout.contains(None) and not layout.contains("")


def test_a_v1_store_is_ignored(tmp_path, target):
    from wheelmaker import make_wheel, plan_of, wheel_item

    old = tmp_path / "store/v1/wheels/" / ("0" * 64)
    old.mkdir(parents=True)
    (old / "entry.json").write_text("{}")
    store = Store(tmp_path / "store", use_uv_cache=False)
    assert store.keys() == [] and store.verify() == [] and store.gc(max_age_days=0) == []
    item = wheel_item(make_wheel(tmp_path))
    store.fetch(plan_of(item), target)
    assert store.entry_dir(item).parent == tmp_path / "store/v2/wheels"
    assert Path(old / "entry.json").read_text() == "{}"

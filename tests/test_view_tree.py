"""The merged tree: lazy (no listing at build), memoized, stable inodes and attributes."""

from __future__ import annotations

import os
import sys

import pytest

from viewsupport import fetched, item_for, materialize, plan_of
from viewwheels import make_corpus
from wheelmaker import make_wheel
from vsite.errors import StoreError
from vsite.store import Store
from vsite.target import probe
from vsite.view import build_view
from vsite.view.nodes import DirNode, FileNode


@pytest.fixture
def target(tmp_path, monkeypatch):
    monkeypatch.setenv("VSITE_CACHE_DIR", str(tmp_path / "cache"))
    return probe(sys.executable)


def _corpus_plan(tmp_path, target):
    plan = plan_of([item_for(wheel) for wheel in make_corpus(tmp_path / "wheels").values()])
    return plan, fetched(plan, tmp_path / "store", target)


def _walk(view, path):
    node = view.root
    for part in path.split("/"):
        node = view.lookup(node, part)
        if node is None:
            return None
    return node


def test_build_lists_nothing_and_lookups_are_memoized(tmp_path, target, monkeypatch):
    plan, store = _corpus_plan(tmp_path, target)
    calls = []
    real_scandir = os.scandir
    monkeypatch.setattr(os, "scandir", lambda p=".": calls.append(str(p)) or real_scandir(p))
    view = build_view(plan, store, target, mtime_ns=123)
    assert calls == []
    # a package owned by one wheel: lookups, no listing
    mod = _walk(view, "ns/alpha/__init__.py")
    assert isinstance(mod, FileNode) and mod.real and mod.real.endswith("site/ns/alpha/__init__.py")
    assert not any("ns/alpha" in c for c in calls)
    assert _walk(view, "ns/alpha/__init__.py") is mod
    assert _walk(view, "ns/alpha/missing.py") is None


def test_namespace_dirs_merge_and_bytecode_overlays(tmp_path, target):
    plan, store = _corpus_plan(tmp_path, target)
    view = build_view(plan, store, target, mtime_ns=123)
    ns = _walk(view, "ns")
    assert [name for name, _ in view.children(ns)] == ["alpha", "beta"]
    cache = _walk(view, "ns/beta/__pycache__")
    assert isinstance(cache, DirNode)
    assert [n for n, _ in view.children(cache)] == [f"__init__.{target.cache_tag}.pyc"]
    # top-level modules of every wheel share the root __pycache__
    root_cache = [n for n, _ in view.children(_walk(view, "__pycache__"))]
    assert root_cache == sorted(
        f"{m}.{target.cache_tag}.pyc" for m in ("alpha_extra", "alpha_mod", "beta_plat")
    )
    # .data/purelib and platlib landed at the root; .pth files are root files
    names = [n for n, _ in view.children(view.root)]
    assert {"alpha_extra.py", "beta_plat.py", "alpha.pth", "beta.pth"} <= set(names)
    assert names == sorted(names)


def test_attributes_are_stable(tmp_path, target):
    plan, store = _corpus_plan(tmp_path, target)
    view = build_view(plan, store, target, mtime_ns=123)
    tree1 = materialize(view)
    nodes = {}

    def collect(node, prefix):
        for name, child in view.children(node):
            nodes[prefix + name] = child
            if isinstance(child, DirNode):
                collect(child, prefix + name + "/")

    collect(view.root, "")
    inos = [n.ino for n in nodes.values()]
    assert len(set(inos)) == len(inos) and view.root.ino == 1 and 1 not in inos
    for path, node in nodes.items():
        assert view.node(node.ino) is node
        if isinstance(node, DirNode):
            assert node.mtime_ns == 123 and node.mode == 0o755
        elif node.real is not None:
            assert node.mtime_ns == os.stat(node.real).st_mtime_ns
        else:
            assert node.mtime_ns == 123  # synthesized (RECORD, INSTALLER, ...)
    assert materialize(view) == tree1
    record = nodes["alpha-1.0.dist-info/RECORD"]
    assert record.data is not None and record.size == len(record.data)
    assert b"../../../bin" not in record.data  # site-packages only: scripts are not presented


def test_missing_store_entry_is_a_store_error(tmp_path, target):
    wheel = make_wheel(tmp_path, "gone", "1.0", {"gone.py": ""})
    with pytest.raises(StoreError, match="gone 1.0 is not in the store"):
        build_view(plan_of([item_for(wheel)]), Store(tmp_path / "store"), target)


def test_virtual_items_are_skipped(tmp_path, target):
    from vsite.plan.model import PlanItem

    view = build_view(plan_of([PlanItem("proj", "0.1", "virtual")]), Store(tmp_path / "s"), target)
    assert view.children(view.root) == []


def test_concurrent_lookups_get_one_node(tmp_path, target):
    """fs handlers may resolve from worker threads: one path, one node, one inode."""
    from concurrent.futures import ThreadPoolExecutor

    plan, store = _corpus_plan(tmp_path, target)
    for attempt in range(5):
        view = build_view(plan, store, target, mtime_ns=1)
        paths = ["ns/alpha/__init__.py", "ns/beta/data/__init__.py", "shared/conflict.py", "alpha_mod.py"] * 8
        with ThreadPoolExecutor(8) as pool:
            nodes = list(pool.map(lambda p: _walk(view, p), paths))
        by_path = {}
        for path, node in zip(paths, nodes):
            assert by_path.setdefault(path, node) is node


def test_store_bytecode_wins_over_pycs_a_wheel_ships(tmp_path, target):
    tag = target.cache_tag
    wheel = make_wheel(
        tmp_path / "w",
        "shipspyc",
        "1.0",
        {"shipspyc/mod.py": "X = 1\n", f"shipspyc/__pycache__/mod.{tag}.pyc": b"stale", "shipspyc/__pycache__/note.txt": "kept\n"},
    )
    plan = plan_of([item_for(wheel)])
    view = build_view(plan, fetched(plan, tmp_path / "store", target), target)
    cache = _walk(view, "shipspyc/__pycache__")
    listing = dict(view.children(cache))
    assert sorted(listing) == [f"mod.{tag}.pyc", "note.txt"]
    pyc = listing[f"mod.{tag}.pyc"]
    assert "/site/shipspyc/__pycache__/" in pyc.real and open(pyc.real, "rb").read() != b"stale"
    assert view.conflicts() == []

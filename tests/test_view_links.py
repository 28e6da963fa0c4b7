"""Links into the store: each subtree unique to one wheel is a symlink, shared dirs stay merged.

"Metadata from the daemon, bytes from the store": with ``links`` the view
presents the shallowest path held by one store entry as a link into that
entry, and keeps merged directories (site-packages, namespace packages,
dist-info dirs with synthesized files, a conflict's parent) and synthesized
files in the daemon. What a process sees by walking the links must equal the
daemon-served view, file for file (tests/test_view_uv.py runs both against uv).
"""

from __future__ import annotations

import os
import sys

import pytest

from viewsupport import fetched, item_for, materialize, plan_of, store_links
from viewwheels import make_corpus, make_wheel
from vsite.target import probe
from vsite.view import StoreLinks, build_view
from vsite.view.nodes import DirNode, FileNode, LinkNode


@pytest.fixture
def target(tmp_path, monkeypatch):
    monkeypatch.setenv("VSITE_CACHE_DIR", str(tmp_path / "cache"))
    return probe(sys.executable)


def _walk(view, path):
    node = view.root
    for part in path.split("/"):
        assert isinstance(node, DirNode), path
        node = view.lookup(node, part)
        if node is None:
            return None
    return node


@pytest.fixture
def corpus(tmp_path, target):
    wheels = make_corpus(tmp_path / "wheels")
    plan = plan_of([item_for(wheel) for wheel in wheels.values()])
    store = fetched(plan, tmp_path / "store", target)
    return plan, store


def _entry(store, plan, name):
    return str(store.entry_dir(next(i for i in plan.items if i.name == name)))


def test_unique_subtrees_are_links_into_their_entry(corpus, target):
    plan, store = corpus
    view = build_view(plan, store, target, links=store_links(store, True))
    for name, path in (("alpha", "alpha_mod.py"), ("alpha", "alpha.pth"), ("beta", "beta_plat.py"),
                       ("alpha", "ns/alpha"), ("beta", "ns/beta"), ("beta", "shared/beta_only.py")):
        node = _walk(view, path)
        assert isinstance(node, LinkNode), path
        assert node.target == os.path.join(_entry(store, plan, name), "site", path)
        assert os.path.exists(node.target)


def test_shared_dirs_stay_merged_and_their_unique_children_are_links(corpus, target):
    plan, store = corpus
    view = build_view(plan, store, target, links=store_links(store, True))
    root = view.root
    assert isinstance(root, DirNode)  # site-packages itself
    merged = [name for name, node in view.children(root) if isinstance(node, DirNode)]
    # every dist-info dir is merged (synthesized RECORD, INSTALLER, REQUESTED live in the daemon)
    dist_infos = [name for name, _ in view.children(root) if name.endswith(".dist-info")]
    assert dist_infos and set(dist_infos) <= set(merged)
    for dist_info in dist_infos:
        children = dict(view.children(_walk(view, dist_info)))
        assert isinstance(children["RECORD"], FileNode) and children["RECORD"].data is not None
        assert isinstance(children["INSTALLER"], FileNode) and children["INSTALLER"].data == b"uv"
        assert isinstance(children["METADATA"], LinkNode)
    # a namespace package shared by two wheels is a merged dir whose children link into each wheel
    namespaces = [n for n in merged if not n.endswith(".dist-info") and n != "__pycache__"]
    assert namespaces, merged
    assert {"ns", "shared"} <= set(namespaces)
    owners = {child.target.split("/site/")[0] for _name, child in view.children(_walk(view, "ns"))}
    assert owners == {_entry(store, plan, "alpha"), _entry(store, plan, "beta")}


def test_walking_the_links_equals_the_daemon_served_view(corpus, target, tmp_path):
    plan, store = corpus
    venv = str(tmp_path / "venv")
    served = materialize(build_view(plan, store, target, venv_root=venv, mtime_ns=1))
    linked_view = build_view(plan, store, target, venv_root=venv, mtime_ns=1, links=store_links(store, True))
    linked = materialize(linked_view)
    assert sorted(linked) == sorted(served)
    for path, value in served.items():
        assert linked[path] == value, path
    # the venv's own links stay links, and bin/ scripts stay synthesized
    bin_dir = _walk(linked_view, "bin")
    for name, node in linked_view.children(bin_dir):
        assert not (isinstance(node, LinkNode) and node.target.startswith(str(store.layout.wheels_dir()))), name


def test_a_conflicts_winning_file_is_a_link_to_the_winner(tmp_path, target):
    wheels = tmp_path / "wheels"
    first = make_wheel(wheels, "one", "1.0", {"shared/__init__.py": "", "shared/x.py": "ONE = 1\n"})
    second = make_wheel(wheels, "two", "1.0", {"shared/__init__.py": "", "shared/x.py": "TWO = 2\n"})
    plan = plan_of([item_for(first), item_for(second)])
    store = fetched(plan, tmp_path / "store", target)
    view = build_view(plan, store, target, links=store_links(store, True))
    shared = _walk(view, "shared")
    assert isinstance(shared, DirNode)
    x = view.lookup(shared, "x.py")
    assert isinstance(x, LinkNode)
    with open(x.target) as f:
        assert f.read() == "TWO = 2\n"  # the later package wins, as if installed last
    assert [c.path for c in view.conflicts()] == ["shared/__init__.py", "shared/x.py"]


def test_links_lead_through_the_given_root(corpus, target, tmp_path):
    """For root the links lead into a read-only bind mount of the store, not the store's own path."""
    plan, store = corpus
    wheels = str(store.layout.wheels_dir())
    view = build_view(plan, store, target, links=StoreLinks(wheels, "/run/elsewhere"))
    top = next(node for _name, node in view.children(view.root) if isinstance(node, LinkNode))
    assert top.target.startswith("/run/elsewhere/")
    assert os.path.exists(wheels + top.target[len("/run/elsewhere"):])


def test_store_links_refuse_paths_outside_the_store():
    links = StoreLinks("/s/wheels", "/r")
    assert links.target("/s/wheels/abc/site/x") == "/r/abc/site/x"
    for outside in ("/s/wheels", "/s/other/x", "/s/wheels/../x"):
        with pytest.raises(ValueError):
            links.target(outside)


def test_store_links_of_several_stores_lead_into_the_one_holding_each_path():
    """A view over the local store and shared ones (vsite.store.search): one pair per store."""
    links = StoreLinks.of([("/local/wheels", "/run/ro"), ("/cvmfs/sw/v2/wheels", "/cvmfs/sw/v2/wheels")])
    assert links.pairs == (("/local/wheels", "/run/ro"), ("/cvmfs/sw/v2/wheels", "/cvmfs/sw/v2/wheels"))
    assert links.target("/local/wheels/abc/site/x") == "/run/ro/abc/site/x"
    assert links.target("/cvmfs/sw/v2/wheels/def/site/y") == "/cvmfs/sw/v2/wheels/def/site/y"
    with pytest.raises(ValueError, match="none of the stores"):
        links.target("/elsewhere/abc")

"""The store search path (VSITE_STORE_PATH): shared read-only stores used in place, never written.

Without FUSE: which store an item's entry comes from, what a fetch does with
entries a shared store holds (nothing), refuses (fetched locally, one line) or
holds without the target's bytecode (fetched locally); ``vsite fetch --store``
publishing a store; ``vsite cache --store``; gc and pins of several hosts.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path

import pytest

from reliab import assert_one_line_error, write_pylock
from runhelp import vsite
from test_fs_links import snapshot
from vsite.paths import store_path
from vsite.store import Store, usage
from vsite.store.atomic import clean_debris, host_id
from vsite.store.fetch import Fetch
from vsite.store.search import SearchPath
from vsite.view import StoreLinks, build_view
from vsite.view.nodes import LinkNode
from wheelmaker import make_wheel, plan_of, wheel_item

TAG = sys.implementation.cache_tag


@pytest.fixture
def wheels(tmp_path) -> list[Path]:
    return [make_wheel(tmp_path / "wheels", name=name, files={f"{name}/__init__.py": f"NAME = {name!r}\n"})
            for name in ("alpha", "beta", "gamma")]


def _items(wheels):
    return [wheel_item(w) for w in wheels]


def test_store_path_parsing(monkeypatch, tmp_path):
    monkeypatch.setenv("VSITE_STORE_PATH", f"{tmp_path}/a::~/b: {tmp_path}/a :rel")
    assert store_path() == [tmp_path / "a", Path.home() / "b", Path.cwd() / "rel"]
    assert store_path("") == [] and store_path(":") == []
    monkeypatch.delenv("VSITE_STORE_PATH")
    assert store_path() == []
    # the local store listed in the search path again is just the local store
    assert SearchPath([tmp_path / "a", tmp_path / "local"], local=tmp_path / "local").roots() == [tmp_path / "a"]


def test_a_shared_entry_is_used_in_place_and_nothing_is_written(tmp_path, target, wheels, monkeypatch):
    alpha, beta, gamma = _items(wheels)
    shared = Store(tmp_path / "shared", use_uv_cache=False)
    shared.fetch(plan_of(alpha, beta), target)
    before = snapshot(shared.layout.root)
    local = Store(tmp_path / "local", use_uv_cache=False, search=[shared.layout.root])
    report = local.fetch(plan_of(alpha, beta, gamma), target)
    assert sorted(report.shared) == ["alpha", "beta"] and report.local == ["gamma"] and report.notes == []
    assert local.keys() == [local.key(gamma)]  # the local store gained only what no store had
    assert local.entry_dir(alpha, TAG) == shared.layout.wheel_dir(local.key(alpha))
    assert local.holder(local.entry_dir(alpha, TAG)) == shared.layout
    assert local.entry_dir(gamma, TAG) == local.layout.wheel_dir(local.key(gamma))
    assert local.has_bytecode(alpha, TAG)
    # the view links each package into the store holding it
    links = StoreLinks.of([(local.layout.wheels_dir(), "/L"), (shared.layout.wheels_dir(), "/S")])
    view = build_view(plan_of(alpha, beta, gamma), local, target, links=links)
    targets = {name: node.target for name, node in view.children(view.root) if isinstance(node, LinkNode)}
    assert targets["alpha"].startswith("/S/") and targets["beta"].startswith("/S/")
    assert targets["gamma"] == f"/L/{local.key(gamma)}/site/gamma"
    assert snapshot(shared.layout.root) == before  # no usage record, no pin, no tmp dir
    # a second fetch: no lock, no copy, same answer, and no stage at all (the fetched lock's fast check)
    fresh = Store(tmp_path / "local", use_uv_cache=False, search=[shared.layout.root])  # nothing memoized
    monkeypatch.setattr(Fetch, "stage", lambda *args: pytest.fail("a fetched lock staged an item"))
    again = fresh.fetch(plan_of(alpha, beta, gamma), target)
    assert sorted(again.shared) == ["alpha", "beta"] and again.reused == ["gamma"]
    # a store's own entry (with the tag) comes first, then the search path in order
    swapped = Store(tmp_path / "shared", search=[tmp_path / "nowhere", tmp_path / "local"])
    assert swapped.entry_dir(alpha, TAG) == shared.layout.wheel_dir(local.key(alpha))
    assert swapped.entry_dir(gamma, TAG) == local.layout.wheel_dir(local.key(gamma))


def test_a_shared_entry_that_fails_its_seal_is_refused_and_fetched_locally(tmp_path, target, wheels):
    alpha, beta, _ = _items(wheels)
    shared = Store(tmp_path / "shared", use_uv_cache=False)
    shared.fetch(plan_of(alpha, beta), target)
    top = shared.entry_dir(alpha) / "site" / "alpha"
    os.utime(top, ns=(time.time_ns(), time.time_ns()))  # changed behind vsite's back
    local = Store(tmp_path / "local", use_uv_cache=False, search=[shared.layout.root])
    report = local.fetch(plan_of(alpha, beta), target)
    assert report.shared == ["beta"] and report.local == ["alpha"]
    key = local.key(alpha)
    assert report.notes == [f"alpha 1.0: entry {key[:16]} in the shared store {shared.layout.root} failed its seal"
                            " (site/alpha changed after fetch); not used; fetched into the local store"]
    assert local.entry_dir(alpha, TAG) == local.layout.wheel_dir(key)


def test_a_shared_entry_without_the_targets_bytecode_is_copied_and_compiled_locally(
        tmp_path, target, other_target):
    """Bytecode cannot be compiled into a read-only store, and a worker running without it would
    compile every module at every start: the local store takes a copy of the entry (no download,
    offline too; its files checked against the entry's index), compiles it and seals it, and the
    entry is the one a fetch of the wheel makes (empty dirs and executable bits included)."""
    files = {"alpha/__init__.py": "NAME = 'alpha'\n", "alpha/sub/mod.py": "X = 1\n",
             "alpha-1.0.data/scripts/run-alpha": "#!/bin/sh\necho alpha\n"}
    made = dict(name="alpha", files=files, executables=("alpha-1.0.data/scripts/run-alpha",),
                extra_members=[("alpha/empty/", b"")])  # a script (mode 0o755) and an empty dir
    wheel = make_wheel(tmp_path / "wheels", **made)
    alpha = wheel_item(wheel, sha256=hashlib.sha256(wheel.read_bytes()).hexdigest())  # as a lock names it
    shared = Store(tmp_path / "shared", use_uv_cache=False)
    shared.fetch(plan_of(alpha), other_target)
    before = snapshot(shared.layout.root)
    local = Store(tmp_path / "local", use_uv_cache=False, search=[shared.layout.root])
    assert local.entry_dir(alpha, TAG) is None and not local.has_bytecode(alpha, TAG)
    assert local.entry_dir(alpha, other_target.cache_tag) == shared.entry_dir(alpha)
    wheel.unlink()  # nothing to fetch from but the shared store
    report = local.fetch(plan_of(alpha), target, offline=True)
    assert report.from_shared == ["alpha"] and report.local == [] and report.shared == [], report
    assert report.notes == [f"alpha 1.0: the shared store {shared.layout.root} has no {TAG} bytecode for it;"
                            " copied into the local store and compiled"]
    assert local.entry_dir(alpha, TAG) == local.layout.wheel_dir(local.key(alpha))
    assert local.summary(alpha).bytecode == (TAG,) and local.verify() == []
    assert snapshot(shared.layout.root) == before  # the shared store untouched

    def tree(entry):  # path -> (mode, content) with no seal time: what the entry holds
        return {rel: (mode, digest) for rel, (mode, _, _, digest) in snapshot(entry).items()
                if not rel.endswith(".json")}

    again = wheel_item(make_wheel(tmp_path / "again", **made))  # the same files (its zip times may differ)
    fetched = Store(tmp_path / "fetched", use_uv_cache=False)
    fetched.fetch(plan_of(again), target)
    copied = tree(local.layout.wheel_dir(local.key(alpha)))
    assert copied == tree(fetched.layout.wheel_dir(fetched.key(again)))
    assert "site/alpha/empty" in copied and copied["scripts/run-alpha"][0] & 0o111


def test_a_shared_entry_whose_files_differ_from_its_index_is_not_copied(tmp_path, target, other_target, wheels):
    """A file changed inside a shared entry (its top level untouched, so the mount-time seal check
    passes): the copy is checked against the entry's index, refused in one line, and the wheel is
    fetched instead."""
    alpha, _, _ = _items(wheels)
    shared = Store(tmp_path / "shared", use_uv_cache=False)
    shared.fetch(plan_of(alpha), other_target)
    module = shared.entry_dir(alpha) / "site" / "alpha" / "__init__.py"
    st = os.stat(module)
    os.chmod(module, 0o644)
    module.write_text("NAME = 'changed'\n")
    os.utime(module, ns=(st.st_atime_ns, st.st_mtime_ns))
    local = Store(tmp_path / "local", use_uv_cache=False, search=[shared.layout.root])
    report = local.fetch(plan_of(alpha), target)
    assert report.local == ["alpha"] and report.from_shared == []
    key = local.key(alpha)
    assert report.notes == [f"alpha 1.0: entry {key[:16]} in the shared store {shared.layout.root} could not be"
                            " copied (site/alpha/__init__.py has the wrong size); fetched into the local store"]
    assert local.verify() == []
    assert (local.entry_dir(alpha, TAG) / "site/alpha/__init__.py").read_text() == "NAME = 'alpha'\n"


def _env(tmp_path, **more) -> dict:
    env = dict(os.environ, VSITE_CACHE_DIR=str(tmp_path / "local"), UV_CACHE_DIR=str(tmp_path / "empty-uv"),
               VSITE_RUNTIME_DIR=str(tmp_path / "rt"))
    env.pop("VSITE_STORE_PATH", None)
    return env | more


def _url_lock(tmp_path, wheels) -> Path:
    """A lock naming the wheels by file:// URL: fetched like downloads, refused by --offline."""
    return write_pylock(tmp_path / "lock" / "pylock.toml", wheels, urls=True)


def test_fetch_store_publishes_and_the_cli_uses_the_search_path(tmp_path, wheels):
    lock = _url_lock(tmp_path, wheels)
    published = tmp_path / "published"
    env = _env(tmp_path, VSITE_STORE_PATH=str(tmp_path / "elsewhere"))  # not consulted by --store
    vsite("fetch", "--store", published, lock, env=env, check=0)
    assert len(Store(published).keys()) == 3 and not (tmp_path / "local" / "v2" / "wheels").exists()
    listed = vsite("cache", "ls", "--store", published, env=env, check=0).stdout
    assert "alpha 1.0" in listed and "3 entries" in listed and str(published) in listed
    assert "3 entries verified" in vsite("cache", "verify", "--store", published, env=env, check=0).stdout
    before = snapshot(published)
    # a node: --offline with an empty local store, the published store on the search path
    for how in (["--store-path", f"{tmp_path}/missing:{published}"], []):
        node_env = _env(tmp_path) if how else _env(tmp_path, VSITE_STORE_PATH=str(published))
        done = vsite("fetch", "--offline", *how, lock, env=node_env, check=0)
        assert done.stderr == ""
    assert not (tmp_path / "local" / "v2" / "wheels").exists() or not os.listdir(tmp_path / "local/v2/wheels")
    assert snapshot(published) == before


def test_a_refused_shared_entry_fails_offline_in_one_line(tmp_path, wheels):
    lock = _url_lock(tmp_path, wheels[:1])
    published = tmp_path / "published"
    env = _env(tmp_path)
    vsite("fetch", "--store", published, lock, env=env, check=0)
    entry = Store(published).layout.wheels_dir()
    (key,) = os.listdir(entry)
    top = entry / key / "site" / "alpha"
    os.utime(top, ns=(time.time_ns(), time.time_ns()))
    node = _env(tmp_path, VSITE_STORE_PATH=str(published))
    line = assert_one_line_error(vsite("fetch", "--offline", lock, env=node), code=1)
    assert line == (f"vsite: alpha 1.0 (alpha-1.0-py3-none-any.whl) is not in the store and --offline was given;"
                    f" entry {key[:16]} in the shared store {published} failed its seal"
                    " (site/alpha changed after fetch); not used")
    done = vsite("fetch", lock, env=node, check=0)  # online: fetched locally, said in one line
    assert done.stderr.splitlines() == [f"vsite: warning: alpha 1.0: entry {key[:16]} in the shared store {published}"
                                        " failed its seal (site/alpha changed after fetch); not used;"
                                        " fetched into the local store"]
    assert os.listdir(tmp_path / "local/v2/wheels") == [key]


def test_gc_of_a_store_several_hosts_share(tmp_path, target, wheels):
    """Pins carry their host: another host's pin (its pid cannot be checked here) protects its
    entries while younger than --max-age; this host's dead pins go; another host's work dir stays."""
    alpha, beta, gamma = _items(wheels)
    store = Store(tmp_path / "store", use_uv_cache=False)
    store.fetch(plan_of(alpha, beta, gamma), target)
    pins = store.layout.pins_dir()
    pins.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for name, key, pid, host, when in [
        ("far", store.key(alpha), 1, "0badc0de", now),  # another host, recent: kept
        ("old", store.key(beta), 1, "0badc0de", now - 40 * 86400),  # another host, older than --max-age
    ]:
        (pins / f"{name}-{pid}-{host}.json").write_text(json.dumps(
            {"key": name, "keys": [key], "time": when, "pid": pid, "host": host}))
    dead = 2 ** 22 + 17  # above pid_max's default: no such process here
    usage.pin(store, "here", [store.key(gamma)], dead)
    assert (pins / f"here-{dead}-{host_id()}.json").is_file()
    foreign = store.layout.tmp_dir() / "1234-h0badc0de-xyz"
    foreign.mkdir(parents=True)
    mine = store.layout.tmp_dir() / f"{dead}-h{host_id()}-abc"
    mine.mkdir()
    assert clean_debris(store.layout.tmp_dir()) == 1 and foreign.is_dir() and not mine.exists()
    for path in store.layout.lock_records_dir().glob("*.json"):
        data = json.loads(path.read_text())
        path.write_text(json.dumps(dict(data, time=now - 40 * 86400)))
    assert sorted(label for _, label in store.gc()) == ["beta 1.0", "gamma 1.0"]
    assert sorted(p.name for p in pins.iterdir()) == ["far-1-0badc0de.json"]
    assert store.keys() == [store.key(alpha)]

"""Fetching real wheels from PyPI: download, verify, refetch with no network, tampered hashes."""

from __future__ import annotations

import dataclasses
import socket

import pytest

from wheelmaker import SMALL, demo_items, plan_of, store_snapshot
from vsite.errors import StoreError
from vsite.store import usage
from vsite.store import Store

@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a socket fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("network access during an offline-capable fetch")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@pytest.mark.network
def test_fetch_then_refetch_without_network(tmp_path, target, monkeypatch):
    store = Store(tmp_path / "store")
    plan = plan_of(*demo_items())
    first = store.fetch(plan, target, jobs=4)
    assert sorted(first.downloaded) == sorted(SMALL)
    assert sorted(first.compiled) == sorted(SMALL)
    assert store.verify() == []
    for item in plan.items:
        summary = store.summary(item)
        assert summary.sha256 == item.wheel.sha256 and summary.name == item.name
        assert store.has_bytecode(item, target.cache_tag)
        assert summary.bytecode == (target.cache_tag,)
    assert store.summary(next(i for i in plan.items if i.name == "idna")).entry_points["console_scripts"]["idna"] == "idna.cli:main"

    socket_calls = []
    monkeypatch.setattr(socket.socket, "connect", lambda *a: socket_calls.append(a))
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: socket_calls.append(a))
    for offline in (False, True):
        again = store.fetch(plan, target, offline=offline)
        assert sorted(again.reused) == sorted(SMALL) and not again.downloaded and not again.compiled
    assert socket_calls == []
    assert [r.lock_path for r in usage.lock_records(store)] == ["/test/uv.lock"]


def test_offline_missing_wheel_is_one_line_error(tmp_path, target, no_network):
    store = Store(tmp_path / "store")
    with pytest.raises(StoreError, match=r"^six 1.17.0 \(six-1.17.0-py2.py3-none-any.whl\) is not in the store and --offline was given$"):
        store.fetch(plan_of(*demo_items(("six",))), target, offline=True)
    assert store_snapshot(store.layout.root) == []


@pytest.mark.network
def test_tampered_hash_names_package_store_unchanged(tmp_path, target):
    store = Store(tmp_path / "store")
    by_name = {i.name: i for i in demo_items(("six", "mdurl"))}
    good, bad = by_name["six"], by_name["mdurl"]
    bad = dataclasses.replace(bad, wheel=dataclasses.replace(bad.wheel, sha256="ab" * 32))
    with pytest.raises(StoreError) as info:
        store.fetch(plan_of(bad, good), target)
    assert str(info.value).startswith("hash mismatch for mdurl 0.1.2: lock says sha256:abab")
    # six verified fine, but nothing of a failed fetch enters the store
    assert store_snapshot(store.layout.root) == []
    store.fetch(plan_of(good), target)
    before = store_snapshot(store.layout.root)
    bad_size = dataclasses.replace(bad, wheel=dataclasses.replace(bad.wheel, size=1))
    with pytest.raises(StoreError, match="size mismatch for mdurl 0.1.2"):
        store.fetch(plan_of(bad_size), target)
    assert store_snapshot(store.layout.root) == before


def test_download_retries_transient_errors(tmp_path, monkeypatch):
    """Connection failures are retried with backoff, then reported on one line."""
    from vsite.store import download as dl

    attempts = []
    monkeypatch.setattr(dl.time, "sleep", lambda s: attempts.append(s))
    with pytest.raises(StoreError, match="cannot download pkg 1 from http://127.0.0.1:9/x.whl"):
        dl.download("http://127.0.0.1:9/x.whl", tmp_path / "x.whl", what="pkg 1", sha256="0" * 64, size=None)
    assert attempts == [0.5, 1.0, 2.0]


def test_an_entry_whose_fetch_was_killed_before_its_last_seal_is_sealed_by_the_next(tmp_path, target):
    """Promotion seals the entry's own dir right after the rename; a kill in between is repaired."""
    import os
    import stat

    from wheelmaker import make_wheel, wheel_item

    item = wheel_item(make_wheel(tmp_path))
    store = Store(tmp_path / "store")
    store.fetch(plan_of(item), target)
    entry = store.entry_dir(item)
    os.chmod(entry, 0o755)  # as left by a fetch killed between the rename and the seal
    assert store.verify() != []
    assert store.fetch(plan_of(item), target).reused == ["demo-pkg"]
    assert stat.S_IMODE(os.lstat(entry).st_mode) == 0o555 and store.verify() == []

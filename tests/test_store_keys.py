"""Entry keys: the lock's sha256, a hash of a local wheel (memoized), none for virtual items."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest

from wheelmaker import make_wheel, wheel_item
from vsite.errors import StoreError
from vsite.store.keys import EntryKeys


def test_keys(tmp_path, monkeypatch):
    wheel = make_wheel(tmp_path)
    keys = EntryKeys()
    item = wheel_item(wheel)
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    assert keys.key(item) == digest
    import vsite.store.keys as mod

    monkeypatch.setattr(mod, "sha256_file", lambda path: pytest.fail("hashed twice"))
    assert keys.key(item) == digest  # memoized by path, size and mtime
    assert keys.key(wheel_item(wheel, sha256="AB" * 32)) == "ab" * 32
    assert keys.key(dataclasses.replace(item, kind="virtual", wheel=None)) is None
    nothing = dataclasses.replace(item, wheel=dataclasses.replace(item.wheel, path=None, url="https://x/y.whl"))
    with pytest.raises(StoreError, match="the lock gives no sha256 for demo_pkg-1.0-py3-none-any.whl"):
        keys.key(nothing)

"""vsite.fileio: the one atomic JSON write, flock and copy-while-hashing."""

from __future__ import annotations

import hashlib
import io
import json
import os
import threading

import pytest

from vsite.fileio import copy_hashing, flocked, sha256_file, write_json_atomic


def test_write_json_atomic(tmp_path, monkeypatch):
    path = tmp_path / "d/x.json"
    write_json_atomic(path, {"a": 1}, indent=1, mode=0o444, mtime_ns=10**18)
    assert json.loads(path.read_text()) == {"a": 1}
    st = os.stat(path)
    assert st.st_mode & 0o777 == 0o444 and st.st_mtime_ns == 10**18
    monkeypatch.setattr(os, "replace", lambda *a: (_ for _ in ()).throw(OSError(28, "No space left on device")))
    with pytest.raises(OSError):
        write_json_atomic(path, {"a": 2})
    assert json.loads(path.read_text()) == {"a": 1} and os.listdir(path.parent) == ["x.json"]  # no temp left


def test_flocked_excludes(tmp_path):
    order = []

    def other() -> None:
        with flocked(tmp_path / "l/x.lock"):
            order.append("other")

    with flocked(tmp_path / "l/x.lock"):
        t = threading.Thread(target=other)
        t.start()
        t.join(0.2)
        order.append("first")
    t.join(5)
    assert order == ["first", "other"]


def test_copy_hashing_streams(tmp_path):
    data = os.urandom(3 * 1024 * 1024 + 5)
    out = io.BytesIO()
    a, b = hashlib.sha256(), hashlib.md5()
    seen = []
    assert copy_hashing(io.BytesIO(data), out, a, b, progress=seen.append) == len(data)
    assert out.getvalue() == data and a.digest() == hashlib.sha256(data).digest() and b.digest() == hashlib.md5(data).digest()
    assert len(seen) == 4 and sum(seen) == len(data)
    (tmp_path / "f").write_bytes(data)
    assert sha256_file(tmp_path / "f") == hashlib.sha256(data).hexdigest()

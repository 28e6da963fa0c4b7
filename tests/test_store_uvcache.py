"""Reusing wheels from uv's cache: only with uv's recorded sha256 equal to the lock's, and verified."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from wheelmaker import demo_items, make_wheel, plan_of
from vsite.errors import StoreError
from vsite.plan.model import Artifact, PlanItem
from vsite.store import download as download_module
from vsite.store import Store
from vsite.store.fetch import Fetch
from vsite.store.uvcache import find_archive
from vsite.target import current


def _msgpack_str(text: str) -> bytes:
    raw = text.encode()
    return bytes([0xD9, len(raw)]) + raw


def fake_uv_cache(root: Path, wheel: Path, name: str, sha256: str) -> Path:
    """Lay out ``wheel`` the way uv 0.9 caches it: an unzipped archive plus a pointer."""
    archive = root / "archive-v0" / "ARCHIVEID123"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(archive)
        for info in zf.infolist():  # uv keeps exec bits; extractall does not
            os.chmod(archive / info.filename, (info.external_attr >> 16) & 0o777)
    rest = wheel.name[: -len(".whl")].split("-", 1)[1]
    pointer = root / "wheels-v8" / "pypi" / name / f"{rest}.http"
    pointer.parent.mkdir(parents=True)
    body = (
        bytes([0x95]) + _msgpack_str("ARCHIVEID123")
        + bytes([0x91, 0x81]) + _msgpack_str("Sha256") + _msgpack_str(sha256)
        + _msgpack_str(wheel.name) + bytes([0x00]) + bytes([0xCD]) + wheel.stat().st_size.to_bytes(2, "big")
    )
    pointer.write_bytes(body + b"\x00\x01http-cache-policy-follows")
    return archive


@pytest.fixture
def target(tmp_path, monkeypatch):
    monkeypatch.setenv("VSITE_CACHE_DIR", str(tmp_path / "probe-cache"))
    return current()


@pytest.fixture
def cached_wheel(tmp_path, monkeypatch):
    (tmp_path / "w").mkdir()
    wheel = make_wheel(tmp_path / "w", name="demo_pkg", executables=("demo_pkg/__init__.py",))
    sha = hashlib.sha256(wheel.read_bytes()).hexdigest()
    uv = tmp_path / "uv"
    archive = fake_uv_cache(uv, wheel, "demo-pkg", sha)
    monkeypatch.setenv("UV_CACHE_DIR", str(uv))
    item = PlanItem(
        name="demo-pkg", version="1.0", kind="wheel",
        wheel=Artifact(filename=wheel.name, url="http://127.0.0.1:9/demo_pkg-1.0-py3-none-any.whl", sha256=sha),
    )
    return item, archive, wheel


def test_entry_from_uv_cache_equals_entry_from_wheel(tmp_path, target, cached_wheel):
    item, _archive, wheel = cached_wheel
    store = Store(tmp_path / "store")
    report = store.fetch(plan_of(item), target, offline=True)
    assert report.from_uv_cache == ["demo-pkg"]
    from_uv = store.entry_dir(item)
    reference = Store(tmp_path / "ref")
    reference.fetch(plan_of(PlanItem(name="demo-pkg", version="1.0", kind="wheel",
                                     wheel=Artifact(filename=wheel.name, path=str(wheel)))), target)
    ref = reference.layout.wheel_dir(item.wheel.sha256)
    assert (from_uv / "files.json").read_text() == (ref / "files.json").read_text()
    assert '"mode":493' in (ref / "files.json").read_text()  # the exec bit survived
    def same_part(summary) -> dict:
        # the archive's size is not the wheel's; sealed_ns is the second each entry was sealed in
        return {k: v for k, v in summary.to_json().items() if k not in ("size", "sealed_ns")}

    assert same_part(store.summary(item)) == same_part(reference.summary(item))
    assert store.verify() == []


def test_uv_archive_changed_after_unpacking_is_not_used(tmp_path, target, cached_wheel, monkeypatch):
    item, archive, _ = cached_wheel
    (archive / "demo_pkg" / "__init__.py").write_text("EDITED = True\n")
    store = Store(tmp_path / "store")
    with pytest.raises(StoreError, match="not in the store and --offline"):
        store.fetch(plan_of(item), target, offline=True)
    downloads = []
    monkeypatch.setattr(download_module, "download", lambda url, dest, **kw: downloads.append(url) or (_ for _ in ()).throw(StoreError("no network in this test")))
    with pytest.raises(StoreError, match="no network"):
        store.fetch(plan_of(item), target)
    assert downloads == [item.wheel.url]
    assert store.entry_dir(item) is None and not os.listdir(store.layout.tmp_dir())


def test_other_hash_or_symlinks_mean_no_match(tmp_path, cached_wheel, target):
    item, archive, _ = cached_wheel
    uv = archive.parent.parent
    assert find_archive("demo-pkg", item.wheel.filename, item.wheel.sha256, uv) == archive
    assert find_archive("demo-pkg", item.wheel.filename, "0" * 64, uv) is None
    assert find_archive("other", item.wheel.filename, item.wheel.sha256, uv) is None
    (archive / "demo_pkg" / "evil").symlink_to("/etc/passwd")
    store = Store(tmp_path / "store")
    assert not Fetch(store, target).from_uv_cache(item, item.wheel.sha256, tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


@pytest.mark.network
def test_real_uv_cache_is_reused(tmp_path, target, monkeypatch):
    """After `uv pip install` into an empty uv cache, the store takes six from there."""
    uv_cache = tmp_path / "uv-cache"
    monkeypatch.setenv("UV_CACHE_DIR", str(uv_cache))
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    subprocess.run([uv, "venv", "-q", str(tmp_path / "venv")], check=True)
    subprocess.run([uv, "pip", "install", "-q", "--python", str(tmp_path / "venv/bin/python"), "six==1.17.0"], check=True)
    store = Store(tmp_path / "store")
    report = store.fetch(plan_of(*demo_items(("six",))), target, offline=True)
    assert report.from_uv_cache == ["six"]
    assert store.verify() == []

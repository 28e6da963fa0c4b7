"""Installer-written dist-info files and the venv skeleton, from the plan and target."""

from __future__ import annotations

import dataclasses
import sys

import pytest

from viewsupport import FakeStore, item_for, materialize, plan_of
from viewwheels import make_wheel
from vsite.target import probe
from vsite.view import build_view
from vsite.view.nodes import LinkNode


@pytest.fixture
def target(tmp_path, monkeypatch):
    monkeypatch.setenv("VSITE_CACHE_DIR", str(tmp_path / "cache"))
    return probe(sys.executable)


def _one(tmp_path, **item_kw):
    wheel = make_wheel(tmp_path / "w", "solo", "1.0", {"solo.py": "X = 1\n"})
    store = FakeStore(tmp_path / "store")
    sha, _ = store.add(wheel)
    item = dataclasses.replace(item_for(wheel, sha, "solo", "1.0"), **item_kw)
    return plan_of([item]), store


def test_requested_and_direct_url_follow_the_plan(tmp_path, target):
    plan, store = _one(tmp_path, requested=False)
    tree = materialize(build_view(plan, store, target))
    names = sorted(p.split("/", 1)[1] for p in tree if p.startswith("solo-1.0.dist-info/"))
    assert names == ["INSTALLER", "METADATA", "RECORD", "WHEEL"]
    assert tree["solo-1.0.dist-info/INSTALLER"] == (b"uv", 0o644)

    url = {"url": "file:///w/solo-1.0-py3-none-any.whl", "archive_info": {}}
    plan, store = _one(tmp_path / "2", source={"kind": "path", "direct_url": url})
    tree = materialize(build_view(plan, store, target))
    assert tree["solo-1.0.dist-info/direct_url.json"][0] == (
        b'{"url":"file:///w/solo-1.0-py3-none-any.whl","archive_info":{}}'
    )
    assert tree["solo-1.0.dist-info/REQUESTED"] == (b"", 0o644)
    record = tree["solo-1.0.dist-info/RECORD"][0].decode().splitlines()
    assert record == sorted(record)
    assert "solo-1.0.dist-info/RECORD,," in record
    assert any(line.startswith("solo-1.0.dist-info/direct_url.json,sha256=") for line in record)
    assert "solo.py,sha256=Crrh4K5yghbuRJk8Wjp1X4scOH2Uf8TE9yyrDkqEIUs,6" in record


def test_venv_skeleton_uses_the_base_interpreter(tmp_path, target):
    plan, store = _one(tmp_path)
    base = dataclasses.replace(target, executable="/some/venv/bin/python")
    view = build_view(plan, store, base, venv_root=str(tmp_path / "env") + "/", prompt="proj", mtime_ns=5)
    tree = materialize(view)
    assert tree["bin/python"] == ("link", target.base_executable)
    assert tree[f"bin/python{target.python_version}"] == ("link", "python")
    assert tree["lib64"] == ("link", "lib")
    cfg = tree["pyvenv.cfg"][0].decode()
    assert cfg.splitlines()[0] == f"home = {target.base_executable.rsplit('/', 1)[0]}"
    assert cfg.endswith("include-system-site-packages = false\nprompt = proj\n")
    assert "include" not in tree  # no package has headers
    assert f"{target.site_packages}/solo.py" in tree
    assert f"VIRTUAL_ENV='{tmp_path}/env'".encode() in tree["bin/activate"][0]
    assert isinstance(view.lookup(view.root, "lib64"), LinkNode)


def test_relative_venv_root_is_refused(tmp_path, target):
    plan, store = _one(tmp_path)
    with pytest.raises(ValueError, match="absolute"):
        build_view(plan, store, target, venv_root="env")

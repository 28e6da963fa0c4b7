"""Installer-written dist-info files and the venv skeleton, from the plan and target."""

from __future__ import annotations

import dataclasses
import sys

import pytest

from viewsupport import fetched, item_for, materialize, plan_of
from wheelmaker import make_wheel
from vsite.target import probe
from vsite.view import build_view
from vsite.view.nodes import LinkNode


@pytest.fixture
def target(tmp_path, monkeypatch):
    monkeypatch.setenv("VSITE_CACHE_DIR", str(tmp_path / "cache"))
    return probe(sys.executable)


def _one(tmp_path, target, **item_kw):
    wheel = make_wheel(tmp_path / "w", "solo", "1.0", {"solo.py": "X = 1\n"})
    plan = plan_of([dataclasses.replace(item_for(wheel), **item_kw)])
    return plan, fetched(plan, tmp_path / "store", target)


def test_requested_and_direct_url_follow_the_plan(tmp_path, target):
    plan, store = _one(tmp_path, target, requested=False)
    tree = materialize(build_view(plan, store, target))
    names = sorted(p.split("/", 1)[1] for p in tree if p.startswith("solo-1.0.dist-info/"))
    assert names == ["INSTALLER", "METADATA", "RECORD", "WHEEL"]
    assert tree["solo-1.0.dist-info/INSTALLER"] == (b"uv", 0o644)

    url = {"url": "file:///w/solo-1.0-py3-none-any.whl", "archive_info": {}}
    plan, store = _one(tmp_path / "2", target, source={"kind": "path", "direct_url": url})
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
    plan, store = _one(tmp_path, target)
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
    plan, store = _one(tmp_path, target)
    with pytest.raises(ValueError, match="absolute"):
        build_view(plan, store, target, venv_root="env")


def test_generated_file_keeps_the_mode_of_the_file_it_replaces(tmp_path, target):
    """uv rewrites RECORD in place, keeping the wheel's mode (protobuf ships it 0o755);
    the view takes the mode of the stored file it replaces."""
    plan, store = _one(tmp_path, target)
    (item,) = plan.items
    shipped = store.entry_dir(item) / "site" / "solo-1.0.dist-info" / "RECORD"
    assert materialize(build_view(plan, store, target))["solo-1.0.dist-info/RECORD"][1] == 0o644
    shipped.chmod(0o555)  # as the store seals a file shipped executable
    tree = materialize(build_view(plan, store, target))
    assert tree["solo-1.0.dist-info/RECORD"][1] == 0o755
    assert tree["solo-1.0.dist-info/INSTALLER"][1] == 0o644  # not shipped: a new file

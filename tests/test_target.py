"""The target probe reads markers, tags and layout from the interpreter itself."""

import sys

import pytest

from vsite.errors import TargetError
from vsite.target import probe


def test_probe_current_interpreter(tmp_path, monkeypatch):
    monkeypatch.setenv("VSITE_CACHE_DIR", str(tmp_path))
    target = probe(sys.executable)
    assert target.version == tuple(sys.version_info[:3])
    assert target.cache_tag == sys.implementation.cache_tag
    assert target.markers["python_version"] == f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert target.tags[0].startswith("cp3")
    assert "py3-none-any" in target.tags
    assert target.tags.index("py3-none-any") > 0
    assert target.site_packages == f"lib/python{sys.version_info[0]}.{sys.version_info[1]}/site-packages"
    # a second probe comes from the cache file and is equal
    assert probe(sys.executable) == target
    assert list((tmp_path / "targets").glob("*.json"))


def test_missing_interpreter_is_one_line_error(tmp_path):
    with pytest.raises(TargetError, match="not found"):
        probe(str(tmp_path / "nope"))

"""vsite.paths: where state lives; runtime_root is runtime_dir without pathlib (the fork server's client)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vsite.paths import runtime_dir, runtime_root


@pytest.mark.parametrize("given", ["/a/../b//c/", "rel/./x", "~/r", "/plain"])
def test_runtime_root_is_what_pathlib_makes_of_it(monkeypatch, tmp_path, given):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VSITE_RUNTIME_DIR", given)
    assert runtime_root() == str(Path(given).expanduser().absolute())
    assert runtime_dir() == Path(runtime_root())


def test_an_absolute_runtime_dir_needs_no_working_directory(monkeypatch, tmp_path):
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    monkeypatch.setenv("VSITE_RUNTIME_DIR", "/srv/vsite-rt")
    assert runtime_root() == "/srv/vsite-rt"
    with pytest.raises(FileNotFoundError):
        os.getcwd()


def test_defaults(monkeypatch, tmp_path):
    monkeypatch.delenv("VSITE_RUNTIME_DIR", raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert runtime_root() == f"{tmp_path}/vsite"
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "missing"))
    assert runtime_root() == f"/tmp/vsite-{os.getuid()}"

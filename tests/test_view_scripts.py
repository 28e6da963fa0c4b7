"""bin/ as uv writes it: launchers and #!python scripts for plain, spaced, quoted and long venv paths."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from viewsupport import fetched, item_for, materialize, materialize_dir, plan_of
from wheelmaker import make_wheel
from vsite.target import probe
from vsite.view import build_view
from vsite.view.scripts import EntryPoint, launcher, rewrite_script, shebang

UV = str(Path(sys.executable).with_name("uv"))


def _scripts_wheel(out: Path) -> Path:
    return make_wheel(
        out,
        "Script_Pkg",
        "0.1",
        {
            "script_pkg/__init__.py": "def main():\n    print('main')\nclass K:\n    @staticmethod\n    def run(): pass\n",
            "Script_Pkg-0.1.data/scripts/crlf": "#!python\r\nprint(1)\r\n",
            "Script_Pkg-0.1.data/scripts/args": "#!pythonw -X dev\nprint(1)\n",
            "Script_Pkg-0.1.data/scripts/nonl": "#!python",
            "Script_Pkg-0.1.data/scripts/env": "#!/usr/bin/env python\nprint(1)\n",
            "Script_Pkg-0.1.data/scripts/plain": "echo hi\n",
            "Script_Pkg-0.1.data/scripts/sp-attr": "#!python\nprint('loses to the launcher')\n",
            "Script_Pkg-0.1.data/scripts/binary": b"\x7fELF\x00#!python",
            "Script_Pkg-0.1.data/headers/sp.h": "#define SP 1\n",
            "Script_Pkg-0.1.data/data/share/sp/a,b.txt": "comma\n",
        },
        entry_points={
            "console_scripts": {"sp-attr": "script_pkg:K.run", "sp-extra": "script_pkg:main [cli]", "Sp.Upper": "script_pkg:main"},
            "gui_scripts": {"sp-gui": "script_pkg:main"},
        },
        modes={"Script_Pkg-0.1.data/scripts/crlf": 0o755},
    )


@pytest.mark.parametrize("dirname", ["venv", "with space", "quo'te", "l" * 110])
def test_bin_and_record_match_uv_pip_install(tmp_path, monkeypatch, dirname):
    monkeypatch.setenv("VSITE_CACHE_DIR", str(tmp_path / "cache"))
    target = probe(sys.executable)
    wheel = _scripts_wheel(tmp_path / "wheels")
    venv = tmp_path / dirname
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "VIRTUAL_ENV": str(venv)}
    for cmd in (["venv", "-q", "-p", sys.executable, str(venv)], ["pip", "install", "-q", "--no-cache", str(wheel)]):
        proc = subprocess.run([UV, *cmd], env=env, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
    source = {"kind": "path", "direct_url": {"url": wheel.as_uri(), "archive_info": {}}}
    plan = plan_of([item_for(wheel, source)])
    view = build_view(plan, fetched(plan, tmp_path / "store", target), target, venv_root=str(venv))
    ours, theirs = materialize(view), materialize_dir(venv)
    compared = [p for p in theirs if p.startswith(("bin/", "include/", "share/")) or p.endswith("/RECORD")]
    assert len(compared) > 15
    for path in compared:
        value = theirs[path]
        if path.endswith("/RECORD"):
            value = (b"".join(line for line in value[0].splitlines(True) if b"uv_cache.json" not in line), value[1])
        assert ours[path] == value, path
    if len(str(venv)) > 124 or " " in str(venv):
        assert ours["bin/sp-attr"][0].startswith(b"#!/bin/sh\n'''exec' ")


def test_shebang_limit_is_uvs():
    """uv (like distlib) wraps in /bin/sh when '#!' + path + newline exceeds 127 bytes."""
    assert shebang("/" + "a" * 123) == b"#!/" + b"a" * 123
    assert shebang("/" + "a" * 124).startswith(b"#!/bin/sh\n")


def test_rewrite_only_hash_bang_python():
    assert rewrite_script(b"#!python3 -u\r\nx\r\n", "/v/bin/python") == b"#!/v/bin/python\nx\r\n"
    assert rewrite_script(b"#!/usr/bin/python\nx\n", "/v/bin/python") == b"#!/usr/bin/python\nx\n"


def test_entry_point_parsing():
    assert EntryPoint.parse("x", "module") is None
    ep = EntryPoint.parse("x", " pkg.mod : obj.attr [extra1, extra2]")
    assert ep == EntryPoint("x", "pkg.mod", "obj.attr")
    body = launcher(ep, "/v/bin/python")
    assert b"from pkg.mod import obj\n" in body and body.endswith(b"sys.exit(obj.attr())\n")


def test_empty_directories_of_a_wheel(tmp_path, monkeypatch):
    import zipfile

    monkeypatch.setenv("VSITE_CACHE_DIR", str(tmp_path / "cache"))
    target = probe(sys.executable)
    wheel = make_wheel(tmp_path / "wheels", "emptyd", "0.1", {"emptyd/__init__.py": ""})
    with zipfile.ZipFile(wheel, "a") as zf:
        zf.writestr(zipfile.ZipInfo("emptyd/empty/"), b"")
        zf.writestr(zipfile.ZipInfo("emptyd-0.1.data/data/share/emptydir/"), b"")
    venv = tmp_path / "venv"
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "VIRTUAL_ENV": str(venv)}
    for cmd in (["venv", "-q", "-p", sys.executable, str(venv)], ["pip", "install", "-q", "--no-cache", str(wheel)]):
        proc = subprocess.run([UV, *cmd], env=env, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
    theirs = materialize_dir(venv)
    assert theirs[f"{target.site_packages}/emptyd/empty"] == ("dir",) and theirs["share/emptydir"] == ("dir",)
    plan = plan_of([item_for(wheel)])
    ours = materialize(build_view(plan, fetched(plan, tmp_path / "store", target), target, venv_root=str(venv)))
    assert ours[f"{target.site_packages}/emptyd/empty"] == ("dir",)
    assert ours["share/emptydir"] == ("dir",)

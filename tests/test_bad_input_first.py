"""The bad input a newcomer gives first: a project file or requirements file for a lock, a Python 2
``--python``. One line saying what the file (or interpreter) is and what to give instead; exit 2."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from runhelp import DEMO_LOCK, ROOT
from runhelp import vsite as run_vsite

DEMO = DEMO_LOCK.parent


def vsite(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """The tests' one runner (runhelp.vsite) with a private store and runtime dir, in ``tmp_path``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "VSITE_CACHE_DIR": str(tmp_path / "cache"),
           "VSITE_RUNTIME_DIR": str(tmp_path / "runtime")}
    return run_vsite(*args, env=env, cwd=tmp_path, timeout=120)


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vsite: "), proc.stderr
    return lines[0]


@pytest.mark.parametrize("command", [
    ["plan"], ["fetch"], ["mount", "{tmp}/mnt"], ["mount", "--shared"], ["run", "--", "true"],
])
def test_pyproject_next_to_a_uv_lock(tmp_path, command):
    """Every command that reads a lock names the uv.lock beside the project file, and mounts nothing."""
    args = [a.format(tmp=tmp_path) for a in command]
    line = one_line_error(vsite(args[0], str(DEMO / "pyproject.toml"), *args[1:], tmp_path=tmp_path))
    assert "pyproject.toml" in line and "not a lockfile" in line
    assert f"use {DEMO / 'uv.lock'}" in line
    assert not (tmp_path / "mnt").exists()


def test_pyproject_without_a_lock(tmp_path):
    project = tmp_path / "proj"
    project.mkdir()
    shutil.copy(DEMO / "pyproject.toml", project / "pyproject.toml")
    line = one_line_error(vsite("plan", str(project / "pyproject.toml"), tmp_path=tmp_path))
    assert f"run `uv lock` in {project}" in line


def test_pyproject_under_another_name(tmp_path):
    """Content, not just the name: a project file called anything is still not a lock."""
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "my-env.toml")
    line = one_line_error(vsite("plan", str(tmp_path / "my-env.toml"), tmp_path=tmp_path))
    assert "is a project file (pyproject.toml), not a lockfile" in line


def test_requirements_file(tmp_path):
    (tmp_path / "requirements.txt").write_text("rich==13.7.1\n")
    line = one_line_error(vsite("plan", str(tmp_path / "requirements.txt"), tmp_path=tmp_path))
    assert "is a requirements file, not a lockfile" in line
    assert "uv pip compile" in line and "-o pylock.toml" in line


def test_other_tools_lockfile(tmp_path):
    (tmp_path / "poetry.lock").write_text('[[package]]\nname = "rich"\n\n[metadata]\nlock-version = "2.0"\n')
    line = one_line_error(vsite("plan", str(tmp_path / "poetry.lock"), tmp_path=tmp_path))
    assert "is another tool's lockfile" in line


def test_uv_lock_under_another_name_still_works(tmp_path):
    shutil.copy(DEMO / "uv.lock", tmp_path / "demo.lock")
    proc = vsite("plan", str(tmp_path / "demo.lock"), tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "rich" in proc.stdout


def _python2() -> str | None:
    pyenv = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    found = sorted(glob.glob(os.path.join(pyenv, "versions", "2.*", "bin", "python"))) + [shutil.which("python2") or ""]
    return next((p for p in found if p and os.access(p, os.X_OK)), None)


def test_python2_target(tmp_path):
    """A real Python 2 (pyenv has 2.7.18 on these machines; skipped where there is none, never in CI)."""
    python2 = _python2()
    if python2 is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI machines have pyenv's Python 2.7: none found (PYENV_ROOT/versions/2.*, python2)")
        pytest.skip("no Python 2 interpreter on this machine (PYENV_ROOT/versions/2.*, python2)")
    line = one_line_error(vsite("plan", str(DEMO / "uv.lock"), "--python", python2, tmp_path=tmp_path))
    assert "is Python 2.7" in line and "vsite environments are Python 3" in line


def test_python2_like_target(tmp_path):
    """The same path with a stand-in that answers like Python 2 (no -I, a 2.x version): always runs."""
    fake = tmp_path / "python2"
    fake.write_text('#!/bin/sh\ncase "$1" in -I) echo "Unknown option: -I" >&2; exit 2;; esac\nprintf 2.7.18\n')
    fake.chmod(0o755)
    line = one_line_error(vsite("plan", str(DEMO / "uv.lock"), "--python", str(fake), tmp_path=tmp_path))
    assert line == (f"vsite: target interpreter {fake} is Python 2.7.18: vsite environments are Python 3; "
                    "give --python a Python 3 interpreter")

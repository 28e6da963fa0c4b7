"""A package's own test suite, run from a mount and from the uv venv of the same lock, gives the same counts.

`pytest --pyargs numpy.linalg` (numpy's conftest needs hypothesis) imports numpy's compiled extensions, its data
files and its test modules through the mount (links into the store) exactly as
from `uv sync --frozen --compile-bytecode`; pytest's own writes (assertion
rewriting caches next to the test modules) are refused by the read-only store
and pytest carries on in memory, as it does on any read-only install.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from fusetools import force_unmount, require_fuse
from runhelp import vsite

pytestmark = [pytest.mark.network, pytest.mark.slow, pytest.mark.fuse]

UV = str(Path(sys.executable).with_name("uv"))
SUMMARY = re.compile(r"^=*\s*(\d+ \w+.*?) in [0-9.]+s", re.M)  # with -q: "486 passed, 2 skipped in 15.1s"


def _counts(output: str) -> dict[str, int]:
    """pytest's closing line as {outcome: count}: ``486 passed, 2 skipped, 1 xfailed in 15.11s``."""
    found = SUMMARY.findall(output)
    assert found, output[-2000:]
    return {word: int(n) for n, word in re.findall(r"(\d+) (\w+)", found[-1])}


def _suites(*pythons: Path, cwd: Path) -> list[dict[str, int]]:
    """The suite's counts under each interpreter, run side by side (one core each), each in its own
    directory under ``cwd`` (hypothesis keeps its database in the working directory)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    runs = []
    try:
        for n, python in enumerate(pythons):
            (cwd / str(n)).mkdir()
            with open(cwd / str(n) / "output", "w") as out:
                runs.append(subprocess.Popen([str(python), "-m", "pytest", "--pyargs", "numpy.linalg", "-q", "-p",
                                              "no:cacheprovider", "-p", "no:randomly", "-x"],
                                             cwd=cwd / str(n), env=env, stdout=out, stderr=subprocess.STDOUT))
        counts = []
        for n, run in enumerate(runs):
            run.wait(timeout=900)
            output = (cwd / str(n) / "output").read_text()
            assert run.returncode == 0, output[-5000:]
            counts.append(_counts(output))
        return counts
    finally:
        for run in runs:
            if run.poll() is None:
                run.kill()
                run.wait()


def test_numpy_linalg_suite_counts_equal_from_a_mount_and_from_uv(tmp_path):
    require_fuse()
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "pyproject.toml").write_text(
        '[project]\nname = "suites"\nversion = "0.1"\nrequires-python = ">=3.11"\n'
        'dependencies = ["numpy", "pytest", "hypothesis"]\n\n[tool.uv]\npackage = false\n'
    )
    uv_env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV",)} | {"UV_PYTHON_DOWNLOADS": "never"}
    for args in (["lock", "-q", "-p", sys.executable], ["sync", "-q", "--frozen", "--compile-bytecode",
                                                       "-p", sys.executable]):
        done = subprocess.run([UV, *args], cwd=proj, env=uv_env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
    env = dict(os.environ, VSITE_CACHE_DIR=str(tmp_path / "store"), VSITE_RUNTIME_DIR=str(tmp_path / "runtime"))
    mnt = tmp_path / "mnt"
    vsite("mount", proj / "uv.lock", mnt, "--venv", "--python", sys.executable, env=env, check=0)
    try:
        site = next((mnt / "lib").glob("python3*/site-packages"))
        assert (site / "numpy").is_symlink()  # the native data path: numpy's files come from the store
        ran = tmp_path / "ran"
        ran.mkdir()
        ours, theirs = _suites(mnt / "bin/python", proj / ".venv/bin/python", cwd=ran)
        assert ours == theirs and ours.get("passed", 0) > 100, (ours, theirs)
        assert "failed" not in ours and "error" not in ours and "errors" not in ours, ours
        vsite("unmount", mnt, env=env, check=0)
    finally:
        force_unmount(str(mnt))

"""tool.uv.conflicts: uv.lock's conflict markers (``extra == 'extra-2-cf-a'``) follow the chosen
extras/groups -- also extras switched on by an edge (group ``ga = ["cf[a]"]``) -- checked against
``uv sync --frozen --dry-run`` on a lock uv made (tests/data/conflicts)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from planhelp import fake_target
from vsite.errors import PlanError
from vsite.plan import PlanOptions, make_plan
from vsite.plan.markers import conflict_marker
from vsite.target import probe

pytestmark = pytest.mark.network  # uv may fetch metadata for its dry run
LOCK = Path(__file__).resolve().parent / "data" / "conflicts" / "uv.lock"
UV = str(Path(sys.executable).with_name("uv"))


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("VSITE_CACHE_DIR", str(tmp_path / "cache"))


def uv_sync_dry_run(flags: list[str], tmp_path: Path) -> set[str] | str:
    """``name==version`` uv would install into a fresh venv, or uv's error line."""
    proc = subprocess.run(
        [UV, "sync", "--frozen", "--dry-run", "--python", sys.executable, *flags],
        cwd=LOCK.parent, capture_output=True, text=True,
        env={**os.environ, "UV_PROJECT_ENVIRONMENT": str(tmp_path / "venv")},
    )
    if proc.returncode:
        return proc.stderr.strip().splitlines()[-1]
    return {line[3:].strip() for line in proc.stderr.splitlines() if line.startswith(" + ")}


@pytest.mark.parametrize(
    "flags, options",
    [
        ([], PlanOptions()),
        (["--extra", "a"], PlanOptions(extras=("a",))),
        (["--extra", "b"], PlanOptions(extras=("b",))),
        (["--group", "g1"], PlanOptions(groups=("g1",))),
        (["--group", "g2", "--extra", "a"], PlanOptions(groups=("g2",), extras=("a",))),
        (["--group", "ga"], PlanOptions(groups=("ga",))),
    ],
)
def test_conflict_markers_follow_selection(flags, options, tmp_path):
    plan = make_plan(LOCK, probe(sys.executable), options)
    mine = {f"{i.name}=={i.version}" for i in plan.items if i.kind != "virtual"}
    assert mine == uv_sync_dry_run(flags, tmp_path)


@pytest.mark.parametrize(
    "flags, options",
    [
        (["--extra", "a", "--extra", "b"], PlanOptions(extras=("a", "b"))),
        (["--group", "ga", "--extra", "b"], PlanOptions(groups=("ga",), extras=("b",))),  # a via the edge
        (["--group", "g1", "--group", "g2"], PlanOptions(groups=("g1", "g2"))),
    ],
)
def test_conflicting_selections_are_errors(flags, options, tmp_path):
    assert isinstance(uv_sync_dry_run(flags, tmp_path), str)  # uv refuses too
    with pytest.raises(PlanError, match="conflict"):
        make_plan(LOCK, fake_target(), options)


def test_conflict_marker_rewrite():
    assert conflict_marker("extra == 'extra-2-cf-a' or extra != \"group-2-cf-g1\"") == (
        "'extra-2-cf-a' in extras or 'group-2-cf-g1' not in extras")
    assert conflict_marker("sys_platform == 'linux'") == "sys_platform == 'linux'"

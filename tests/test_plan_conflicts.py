"""tool.uv.conflicts: uv.lock's conflict markers (``extra == 'extra-2-cf-a'``) follow the chosen
extras/groups, checked against ``uv export --frozen`` (offline) on a lock uv made."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from planhelp import fake_target
from vsite.errors import PlanError
from vsite.plan import PlanOptions, make_plan
from vsite.plan.markers import conflict_marker

LOCK = Path(__file__).resolve().parent / "data" / "conflicts" / "uv.lock"
UV = str(Path(sys.executable).with_name("uv"))


def uv_export(flags: list[str]) -> set[str]:
    out = subprocess.run([UV, "export", "--frozen", "-q", "--no-hashes", "--no-header", *flags],
                         cwd=LOCK.parent, check=True, capture_output=True, text=True).stdout
    return {line.split(" ;")[0].strip() for line in out.splitlines() if line and not line.startswith((" ", "#"))}


@pytest.mark.parametrize(
    "flags, options",
    [
        ([], PlanOptions()),
        (["--extra", "a"], PlanOptions(extras=("a",))),
        (["--extra", "b"], PlanOptions(extras=("b",))),
        (["--group", "g1"], PlanOptions(groups=("g1",))),
        (["--group", "g2", "--extra", "a"], PlanOptions(groups=("g2",), extras=("a",))),
    ],
)
def test_conflict_markers_follow_selection(flags, options):
    plan = make_plan(LOCK, fake_target(), options)
    mine = {f"{i.name}=={i.version}" for i in plan.items if i.kind != "virtual"}
    assert mine == uv_export(flags)


def test_conflicting_extras_are_an_error():
    with pytest.raises(PlanError, match="conflict"):
        make_plan(LOCK, fake_target(), PlanOptions(extras=("a", "b")))
    with pytest.raises(PlanError, match="conflict"):
        make_plan(LOCK, fake_target(), PlanOptions(all_groups=True))


def test_conflict_marker_rewrite():
    assert conflict_marker("extra == 'extra-2-cf-a' or extra != \"group-2-cf-g1\"") == (
        "'extra-2-cf-a' in extras or 'group-2-cf-g1' not in extras")
    assert conflict_marker("sys_platform == 'linux'") == "sys_platform == 'linux'"

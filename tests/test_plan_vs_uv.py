"""vsite's plan equals what ``uv sync --frozen`` installs, for the uv.lock and uv's pylock.toml export.

A workspace (see uvprojects.py) is locked once per module with uv; for each
option set, uv installs it for real into a venv and we read what it wrote:
(name, version) of each dist-info, the wheel's tags (which pin the wheel file
uv chose) and direct_url.json. The plan of the uv.lock -- and of the
pylock.toml ``uv export`` writes for the same flags -- must say the same.
Extra interpreters found on the machine (pyenv) exercise markers and forks
that depend on the Python version; the current one always runs.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from planhelp import fake_target
from uvprojects import workspace
from vsite.plan import PlanOptions, make_plan
from vsite.plan.wheels import wheel_tags
from vsite.target import probe

pytestmark = pytest.mark.network
UV = str(Path(sys.executable).with_name("uv"))

# (uv flags, the same as PlanOptions)
CASES = {
    "default": ([], PlanOptions()),
    "everything": (["--all-extras", "--all-groups", "--all-packages"],
                   PlanOptions(all_extras=True, all_groups=True, all_packages=True)),
    "no-dev-extra": (["--no-dev", "--extra", "cli"], PlanOptions(no_dev=True, extras=("cli",))),
    "only-group": (["--only-group", "lint"], PlanOptions(only_groups=("lint",))),
    "member": (["--package", "lib", "--extra", "fast"], PlanOptions(packages=("lib",), extras=("fast",))),
    "groups": (["--no-default-groups", "--group", "lint"], PlanOptions(no_default_groups=True, groups=("lint",))),
    "all-but": (["--all-extras", "--no-extra", "cli", "--all-groups", "--no-group", "lint"],
                PlanOptions(all_extras=True, no_extras=("cli",), all_groups=True, no_groups=("lint",))),
}


def _other_pythons() -> list[str]:
    """Other CPythons >= 3.10 installed here (pyenv or system), by path; none is fine."""
    found = []
    for path in sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.1*/bin/python3")) +
                       glob.glob("/usr/bin/python3.1[0-9]")):
        if os.path.realpath(path) != os.path.realpath(sys.executable) and os.access(path, os.X_OK):
            found.append(path)
    return found


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    base = tmp_path_factory.mktemp("uvws")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VSITE_CACHE_DIR", str(base / "vsite-cache"))
        root = workspace(base)
        subprocess.run([UV, "lock", "-q"], cwd=root, check=True)
        yield root


def uv_installed(root: Path, python: str, flags: list[str]) -> dict:
    """name -> (version, frozenset of WHEEL tags, direct_url) of what uv sync installs."""
    venv = root / f".venv-{abs(hash(python))}"
    subprocess.run(
        [UV, "sync", "--frozen", "-q", "--python", python, *flags],
        cwd=root, check=True, env={**os.environ, "UV_PROJECT_ENVIRONMENT": str(venv)},
    )
    (site,) = glob.glob(str(venv / "lib" / "python3.*" / "site-packages"))
    out = {}
    for info in Path(site).glob("*.dist-info"):
        meta = (info / "METADATA").read_text()
        name = next(line.split(":", 1)[1].strip() for line in meta.splitlines() if line.startswith("Name:"))
        version = next(line.split(":", 1)[1].strip() for line in meta.splitlines() if line.startswith("Version:"))
        tags = frozenset(
            line.split(":", 1)[1].strip() for line in (info / "WHEEL").read_text().splitlines() if line.startswith("Tag:")
        )
        direct = json.loads((info / "direct_url.json").read_text()) if (info / "direct_url.json").exists() else None
        assert (info / "REQUESTED").exists()  # uv writes REQUESTED for every package it syncs
        out[name.lower().replace("_", "-")] = (version, tags, direct)
    return out


def planned(plan) -> dict:
    """The same shape from a plan: wheel tags from the chosen file name, built items without."""
    out = {}
    for item in plan.items:
        if item.kind == "virtual":
            continue  # uv installs nothing for a virtual member
        tags = frozenset(wheel_tags(item.wheel.filename)[0]) if item.wheel else None
        out[item.name] = (item.version, tags, item.source.get("direct_url"), item.requested)
    return out


def assert_same(plan, installed: dict) -> None:
    mine = planned(plan)
    assert set(mine) == set(installed)
    for name, (version, tags, direct, requested) in mine.items():
        uv_version, uv_tags, uv_direct = installed[name]
        assert requested
        if version:  # dynamic versions are unknown until built
            assert version == uv_version, name
        if tags is not None:
            assert tags == uv_tags, name  # same wheel file as uv
        assert direct == uv_direct, name


def _export_pylock(root: Path, case: str, flags: list[str]) -> Path:
    out = root / f"pylock.{case}.toml"
    subprocess.run([UV, "export", "--frozen", "-q", "--format", "pylock.toml", *flags, "-o", str(out)],
                   cwd=root, check=True)
    return out


@pytest.mark.parametrize("case", sorted(CASES))
def test_uv_lock_and_pylock_match_uv_sync(env, case):
    flags, options = CASES[case]
    target = probe(sys.executable)
    installed = uv_installed(env, sys.executable, flags)
    assert_same(make_plan(env / "uv.lock", target, options), installed)
    assert_same(make_plan(_export_pylock(env, case, flags), target, PlanOptions()), installed)


@pytest.mark.parametrize("python", _other_pythons() or [pytest.param(None, marks=pytest.mark.skip(
    reason="no other CPython >= 3.10 on this machine (pyenv/system); markers by version are still covered "
           "by the fake-target test"))])
@pytest.mark.parametrize("case", ["default", "everything"])
def test_other_interpreters(env, python, case):
    flags, options = CASES[case]
    installed = uv_installed(env, python, flags)
    target = probe(python)
    assert_same(make_plan(env / "uv.lock", target, options), installed)
    assert_same(make_plan(_export_pylock(env, case, flags), target, PlanOptions()), installed)


def _export_requirements(root: Path, flags: list[str], target) -> set[tuple[str, str]]:
    """(name, version) of ``uv export`` requirement lines whose marker holds for ``target``."""
    text = subprocess.run([UV, "export", "--frozen", "-q", "--no-hashes", "--no-header", *flags],
                          cwd=root, check=True, capture_output=True, text=True).stdout
    out = set()
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "-e", ".", "/")):
            continue  # local members and paths: the same on every platform
        req = Requirement(line)
        if req.marker is None or req.marker.evaluate(target.markers):
            pinned = next(iter(req.specifier)).version if req.specifier else None
            out.add((req.name.lower(), pinned))
    return out


@pytest.mark.parametrize("platform, version", [("windows", (3, 12, 1)), ("linux", (3, 10, 4)), ("windows", (3, 13, 0))])
def test_other_platforms_match_uv_export(env, platform, version):
    target = fake_target(version, platform)
    flags, options = CASES["everything"]
    expected = _export_requirements(env, flags, target)
    plan = make_plan(env / "uv.lock", target, options)
    mine = {(i.name, i.version if i.source.get("kind") == "registry" else None)
            for i in plan.items if i.source.get("kind") in ("registry", "url", "git")}
    assert mine == expected
    names = {name for name, _ in mine}
    assert ("colorama" in names) == (platform == "windows") and ("tomli" in names) == (version < (3, 11))

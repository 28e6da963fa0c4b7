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

from planhelp import fake_target, other_pythons
from uvprojects import virtual_root_workspace, workspace
from vsite.errors import PlanError
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
    "no-install": (["--no-install-project", "--no-install-package", "six"],
                   PlanOptions(no_install_project=True, no_install_packages=("six",))),
    "no-install-workspace": (["--all-packages", "--no-install-workspace"],
                             PlanOptions(all_packages=True, no_install_workspace=True)),
    "no-install-local": (["--no-install-local"], PlanOptions(no_install_local=True)),
    # one member synced: the root project lends groups asked for by flag, not its defaults
    "member-root-group": (["--package", "lib", "--group", "dev"], PlanOptions(packages=("lib",), groups=("dev",))),
    "member-all-groups": (["--package", "lib", "--all-groups"], PlanOptions(packages=("lib",), all_groups=True)),
    "member-only-group": (["--package", "lib", "--only-group", "lint"],
                          PlanOptions(packages=("lib",), only_groups=("lint",))),
    "member-no-project": (["--package", "lib", "--no-install-project"],
                          PlanOptions(packages=("lib",), no_install_project=True)),
    "no-editable": (["--no-editable", "--all-packages"], PlanOptions(no_editable=True, all_packages=True)),
    "no-editable-lib": (["--no-editable-package", "lib"], PlanOptions(no_editable_packages=("lib",))),
    "no-build-local-off": (["--no-build", "--no-install-local", "--no-install-package", "gitpkg",
                            "--no-install-package", "gitsub"],
                           PlanOptions(no_build=True, no_install_local=True, no_install_packages=("gitpkg", "gitsub"))),
}
# `uv export` spells some of uv sync's flags differently
EXPORT_FLAGS = {"--no-install-project": "--no-emit-project", "--no-install-workspace": "--no-emit-workspace",
                "--no-install-local": "--no-emit-local", "--no-install-package": "--no-emit-package",
                "--no-build": None}


# the workspace whose root has no [project]: all members synced, the root's groups in [manifest]
VROOT_CASES = {
    "default": ([], PlanOptions()),
    "all": (["--all-groups", "--all-extras"], PlanOptions(all_groups=True, all_extras=True)),
    "no-dev": (["--no-dev"], PlanOptions(no_dev=True)),
    "only-docs": (["--only-group", "docs"], PlanOptions(only_groups=("docs",))),
    "member": (["--package", "beta"], PlanOptions(packages=("beta",))),
}


@pytest.fixture(scope="module")
def projects(tmp_path_factory):
    """Both workspaces, locked once for the module (uv lock resolves against PyPI)."""
    base = tmp_path_factory.mktemp("uvws")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VSITE_CACHE_DIR", str(base / "vsite-cache"))
        roots = {"ws": workspace(base), "vroot": virtual_root_workspace(base)}
        for root in roots.values():
            subprocess.run([UV, "lock", "-q"], cwd=root, check=True)
        yield roots


@pytest.fixture(scope="module")
def env(projects):
    return projects["ws"]


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
        direct = (info / "direct_url.json").read_text() if (info / "direct_url.json").exists() else None
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
        # byte for byte: compact JSON of the plan's dict is the file uv writes
        assert (json.dumps(direct, separators=(",", ":")) if direct else None) == uv_direct, name


def _export_pylock(root: Path, case: str, flags: list[str]) -> Path:
    flags = [EXPORT_FLAGS.get(f, f) for f in flags if EXPORT_FLAGS.get(f, f)]
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


@pytest.mark.parametrize("case", sorted(VROOT_CASES))
def test_virtual_root_workspace_matches_uv_sync(projects, case):
    root = projects["vroot"]
    flags, options = VROOT_CASES[case]
    installed = uv_installed(root, sys.executable, flags)
    target = probe(sys.executable)
    assert_same(make_plan(root / "uv.lock", target, options), installed)
    assert_same(make_plan(_export_pylock(root, case, flags), target, PlanOptions()), installed)


@pytest.mark.parametrize("python", [path for path, _ in other_pythons()] or [pytest.param(None, marks=pytest.mark.skip(
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


@pytest.mark.parametrize(
    "flags, options, message",
    [
        (["--no-binary"], PlanOptions(no_binary=True), "marked --no-binary but is itself a wheel"),
        (["--no-binary-package", "mdurl"], PlanOptions(no_binary_packages=("mdurl",)), "itself a wheel"),
        (["--no-build"], PlanOptions(no_build=True), "marked --no-build"),
        (["--no-build-package", "gitsub"], PlanOptions(no_build_packages=("gitsub",)), "gitsub 1.0 can't"),
    ],
)
def test_refusals_match_uv(env, flags, options, message):
    """What uv refuses to install (it errors before doing anything), the plan refuses too."""
    proc = subprocess.run([UV, "sync", "--frozen", "--dry-run", "--python", sys.executable, *flags],
                          cwd=env, capture_output=True, text=True,
                          env={**os.environ, "UV_PROJECT_ENVIRONMENT": str(env / ".venv-refusals")})
    assert proc.returncode != 0 and "can't be installed" in proc.stderr
    with pytest.raises(PlanError, match=message):
        make_plan(env / "uv.lock", probe(sys.executable), options)


def test_no_binary_package_builds_from_sdist(env):
    proc = subprocess.run([UV, "sync", "--frozen", "--dry-run", "--python", sys.executable,
                           "--no-binary-package", "iniconfig"],
                          cwd=env, capture_output=True, text=True,
                          env={**os.environ, "UV_PROJECT_ENVIRONMENT": str(env / ".venv-refusals")})
    assert proc.returncode == 0 and "+ iniconfig" in proc.stderr
    plan = make_plan(env / "uv.lock", probe(sys.executable), PlanOptions(no_binary_packages=("iniconfig",)))
    (item,) = [i for i in plan.items if i.name == "iniconfig"]
    assert item.kind == "sdist" and item.wheel is None and item.sdist.filename.endswith(".tar.gz")

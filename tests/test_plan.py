"""make_plan on hand-written uv.locks: markers, extras, groups, forks, wheel choice (offline)."""

from __future__ import annotations

from pathlib import Path

import pytest

from planhelp import fake_target, names
from runhelp import DEMO_LOCK
from vsite.errors import PlanError
from vsite.plan import PlanOptions, make_plan

REG = 'source = { registry = "https://pypi.org/simple" }'


def _wheel(fn: str) -> str:
    return f'{{ url = "https://files.example/{fn}", hash = "sha256:{"ab" * 32}", size = 10 }}'


def _pkg(name: str, version: str, *, wheels=(), sdist=True, deps="", extra="", fork="") -> str:
    sd = f'sdist = {{ url = "https://files.example/{name}-{version}.tar.gz", hash = "sha256:{"cd" * 32}" }}\n' if sdist else ""
    ws = "wheels = [\n" + "".join(f"    {_wheel(w)},\n" for w in wheels) + "]\n" if wheels else ""
    return f'[[package]]\nname = "{name}"\nversion = "{version}"\n{REG}\n{fork}{deps}{sd}{ws}{extra}\n'


OLD = 'resolution-markers = ["python_full_version < \'3.12\'"]\n'
NEW = 'resolution-markers = ["python_full_version >= \'3.12\'"]\n'
LIB_DEPS = 'dependencies = [{ name = "six" }]\n'
LIB_EXTRA = '[package.optional-dependencies]\nfast = [{ name = "speedups", marker = "platform_machine == \'x86_64\'" }]\n'

LOCK = f"""version = 1
revision = 3
requires-python = ">=3.10"

[[package]]
name = "app"
version = "1.0"
source = {{ editable = "." }}
dependencies = [
    {{ name = "colorama", marker = "sys_platform == 'win32'" }},
    {{ name = "numpy", version = "1.26.4", source = {{ registry = "https://pypi.org/simple" }}, marker = "python_full_version < '3.12'" }},
    {{ name = "numpy", version = "2.1.0", source = {{ registry = "https://pypi.org/simple" }}, marker = "python_full_version >= '3.12'" }},
    {{ name = "tomli", marker = "python_full_version < '3.11'" }},
    {{ name = "lib", extra = ["fast"] }},
]

[package.optional-dependencies]
cli = [{{ name = "click" }}]

[package.dev-dependencies]
dev = [{{ name = "pytest" }}]
lint = [{{ name = "ruff" }}]

{_pkg("colorama", "0.4.6", wheels=["colorama-0.4.6-py2.py3-none-any.whl"])}
{_pkg("numpy", "1.26.4", fork=OLD, wheels=[
    "numpy-1.26.4-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    "numpy-1.26.4-cp311-cp311-win_amd64.whl",
    "numpy-1.26.4-cp310-cp310-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
])}
{_pkg("numpy", "2.1.0", fork=NEW, wheels=[
    "numpy-2.1.0-cp312-cp312-win_amd64.whl",
    "numpy-2.1.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    "numpy-2.1.0-cp312-cp312-manylinux_2_28_x86_64.whl",
])}
{_pkg("tomli", "2.0.1", wheels=["tomli-2.0.1-py3-none-any.whl"])}
{_pkg("lib", "3.0", sdist=True, deps=LIB_DEPS, extra=LIB_EXTRA)}
{_pkg("six", "1.17.0", wheels=["six-1.17.0-py2.py3-none-any.whl", "six-1.17.0-1-py2.py3-none-any.whl"])}
{_pkg("speedups", "1.0", wheels=["speedups-1.0-cp311-abi3-manylinux_2_17_x86_64.whl", "speedups-1.0-py3-none-any.whl"])}
{_pkg("click", "8.1.0", wheels=["click-8.1.0-py3-none-any.whl"])}
{_pkg("pytest", "8.0", wheels=["pytest-8.0-py3-none-any.whl"])}
{_pkg("ruff", "0.5", sdist=False, wheels=["ruff-0.5-py3-none-manylinux_2_17_x86_64.whl", "ruff-0.5-py3-none-win_amd64.whl"])}
"""


@pytest.fixture
def lock(tmp_path: Path) -> Path:
    path = tmp_path / "uv.lock"
    path.write_text(LOCK)
    return path


def test_demo_lock_all_wheels():
    plan = make_plan(DEMO_LOCK, fake_target())
    got = names(plan)
    assert got["vsite-demo"][1] == "virtual"
    assert got["rich"] == ("15.0.0", "wheel", "rich-15.0.0-py3-none-any.whl")
    assert {k for k, v in got.items() if v[1] == "wheel"} == {
        "attrs", "click", "idna", "markdown-it-py", "mdurl", "packaging", "pygments", "rich", "six"}
    assert plan.lock_format == "uv" and plan.options == {}


def test_markers_extras_and_default_dev_group(lock):
    got = names(make_plan(lock, fake_target((3, 11, 7), "linux")))
    assert set(got) == {"app", "numpy", "lib", "six", "speedups", "pytest"}
    assert got["app"][1] == "editable"
    # fork: python 3.11 takes the 1.26.4 edge; best tag wins over list order
    assert got["numpy"] == ("1.26.4", "wheel", "numpy-1.26.4-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl")
    assert got["lib"] == ("3.0", "sdist", None)  # sdist-only: listed, build needed
    assert got["speedups"][2] == "speedups-1.0-cp311-abi3-manylinux_2_17_x86_64.whl"
    assert got["six"][2] == "six-1.17.0-1-py2.py3-none-any.whl"  # same tag: build tag wins


def test_platform_and_python_version_markers(lock):
    got = names(make_plan(lock, fake_target((3, 12, 1), "windows")))
    assert got["numpy"] == ("2.1.0", "wheel", "numpy-2.1.0-cp312-cp312-win_amd64.whl")
    assert "colorama" in got and "speedups" not in got  # platform_machine AMD64
    got = names(make_plan(lock, fake_target((3, 10, 4), "linux")))
    assert got["numpy"][2] == "numpy-1.26.4-cp310-cp310-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    assert "tomli" in got and "colorama" not in got
    got = names(make_plan(lock, fake_target((3, 12, 1), "linux")))
    assert got["numpy"][2] == "numpy-2.1.0-cp312-cp312-manylinux_2_28_x86_64.whl"


@pytest.mark.parametrize(
    "options, present, absent",
    [
        (PlanOptions(extras=("cli",)), {"click", "pytest"}, {"ruff"}),
        (PlanOptions(all_extras=True, no_dev=True), {"click"}, {"pytest"}),
        (PlanOptions(groups=("lint",)), {"ruff", "pytest"}, {"click"}),
        (PlanOptions(all_groups=True, no_groups=("dev",)), {"ruff"}, {"pytest"}),
        (PlanOptions(no_default_groups=True), {"app", "numpy"}, {"pytest", "ruff"}),
        (PlanOptions(only_groups=("lint",)), {"ruff"}, {"app", "numpy", "pytest"}),
        (PlanOptions(only_dev=True), {"pytest"}, {"app", "numpy", "ruff"}),
    ],
)
def test_extras_and_groups(lock, options, present, absent):
    plan = make_plan(lock, fake_target(), options)
    got = set(names(plan))
    assert present <= got and not (absent & got)
    assert plan.options == options.to_json()


def test_unknown_extra_or_group_is_plan_error(lock):
    with pytest.raises(PlanError, match="extra `nope`"):
        make_plan(lock, fake_target(), PlanOptions(extras=("nope",)))
    with pytest.raises(PlanError, match="group `nope`"):
        make_plan(lock, fake_target(), PlanOptions(groups=("nope",)))


def test_no_wheel_and_no_sdist_is_plan_error(lock):
    # ruff has only linux/windows wheels and no sdist: a mac target cannot get it
    target = fake_target()
    mac = type(target)(**{**target.__dict__, "tags": ("cp311-cp311-macosx_14_0_arm64", "py3-none-any"),
                          "markers": {**target.markers, "sys_platform": "darwin"}})
    with pytest.raises(PlanError, match=r"no wheel of ruff 0\.5 matches cp311-cp311-macosx_14_0_arm64"):
        make_plan(lock, mac, PlanOptions(groups=("lint",)))


def test_requires_python_excludes_target(lock):
    with pytest.raises(PlanError, match="requires-python"):
        make_plan(lock, fake_target((3, 9, 1)))


@pytest.mark.parametrize(
    "setting, present, absent",
    [
        ('default-groups = ["lint"]', {"ruff"}, {"pytest"}),
        ('default-groups = "all"', {"ruff", "pytest"}, set()),
        ("", {"pytest"}, {"ruff"}),
    ],
)
def test_default_groups_from_pyproject(lock, setting, present, absent):
    (lock.parent / "pyproject.toml").write_text(f'[project]\nname = "app"\n[tool.uv]\n{setting}\n')
    got = set(names(make_plan(lock, fake_target())))
    assert present <= got and not (absent & got)


def test_virtual_member_listed_but_not_requested():
    (root,) = [i for i in make_plan(DEMO_LOCK, fake_target()).items if i.kind == "virtual"]
    assert root.name == "vsite-demo" and not root.requested and "direct_url" not in root.source


PYLOCK = """lock-version = "1.0"
created-by = "test"
requires-python = ">=3.10"
extras = ["gui"]
dependency-groups = ["dev", "docs"]
default-groups = ["dev"]

[[packages]]
name = "base"
version = "1.0"
wheels = [{ url = "https://x/base-1.0-py3-none-any.whl", hashes = { sha256 = "00" } }]

[[packages]]
name = "winonly"
version = "1.0"
marker = "sys_platform == 'win32'"
wheels = [{ url = "https://x/winonly-1.0-py3-none-any.whl", hashes = { sha256 = "00" } }]

[[packages]]
name = "guilib"
version = "2.0"
marker = "'gui' in extras"
sdist = { url = "https://x/guilib-2.0.tar.gz", hashes = { sha256 = "00" } }

[[packages]]
name = "pytest"
version = "8.0"
marker = "'dev' in dependency_groups"
wheels = [{ url = "https://x/pytest-8.0-py3-none-any.whl", hashes = { sha256 = "00" } }]

[[packages]]
name = "sphinx"
version = "7.0"
marker = "'docs' in dependency_groups"
requires-python = ">=3.12"
wheels = [{ url = "https://x/sphinx-7.0-py3-none-any.whl", hashes = { sha256 = "00" } }]

[[packages]]
name = "numpy"
version = "1.0"
marker = "python_version < '3.12'"
wheels = [{ url = "https://x/numpy-1.0-cp311-cp311-win_amd64.whl", hashes = { sha256 = "00" } }]
"""


@pytest.fixture
def pylock(tmp_path: Path) -> Path:
    path = tmp_path / "pylock.toml"
    path.write_text(PYLOCK)
    return path


@pytest.mark.parametrize(
    "options, target, expected",
    [
        (PlanOptions(), fake_target((3, 12, 1), "windows"), {"base", "winonly", "pytest"}),
        (PlanOptions(extras=("gui",), no_dev=True), fake_target((3, 12, 1)), {"base", "guilib"}),
        (PlanOptions(only_groups=("docs",)), fake_target((3, 12, 1)), {"base", "sphinx"}),
        (PlanOptions(), fake_target((3, 11, 7), "windows"), {"base", "winonly", "pytest", "numpy"}),
    ],
)
def test_pylock_selection(pylock, options, target, expected):
    plan = make_plan(pylock, target, options)
    assert {i.name for i in plan.items} == expected and plan.lock_format == "pylock"
    assert all(i.kind == ("sdist" if i.name == "guilib" else "wheel") for i in plan.items)


@pytest.mark.parametrize(
    "options, target, message",
    [
        (PlanOptions(groups=("docs",)), fake_target((3, 11, 7), "windows"), "sphinx 7.0 requires Python >=3.12"),
        (PlanOptions(), fake_target((3, 11, 7), "linux"), "no wheel of numpy 1.0 matches"),
        (PlanOptions(extras=("cli",)), fake_target((3, 12, 1)), "extra `cli` is not defined in .*extras"),
        (PlanOptions(all_packages=True), fake_target((3, 12, 1)), "--package"),
        (PlanOptions(), fake_target((3, 9, 1)), "requires-python"),
    ],
)
def test_pylock_errors(pylock, options, target, message):
    with pytest.raises(PlanError, match=message):
        make_plan(pylock, target, options)


def test_pylock_environments_and_duplicates(pylock):
    pylock.write_text(PYLOCK.replace('default-groups = ["dev"]', 'default-groups = ["dev"]\nenvironments = ["sys_platform == \'darwin\'"]'))
    with pytest.raises(PlanError, match="environments"):
        make_plan(pylock, fake_target())
    pylock.write_text(PYLOCK + '[[packages]]\nname = "base"\nversion = "2.0"\nsdist = { url = "https://x/base-2.0.tar.gz" }\n')
    with pytest.raises(PlanError, match="more than one entry of base"):
        make_plan(pylock, fake_target((3, 12, 1)))


def test_build_policy_from_pyproject(lock):
    (lock.parent / "pyproject.toml").write_text('[tool.uv]\nno-binary-package = ["six"]\n')
    plan = make_plan(lock, fake_target())
    assert names(plan)["six"] == ("1.17.0", "sdist", None)
    assert plan.options == {}  # the user's flags; the pyproject is part of the cache key instead
    (lock.parent / "pyproject.toml").write_text("[tool.uv]\nno-build = true\n")
    with pytest.raises(PlanError, match="app 1.0 can't be installed: it is marked --no-build but is a local source tree"):
        make_plan(lock, fake_target())

"""``vsite plan``: table and JSON output, the plan cache, one-line errors with exit status 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from runhelp import DEMO_LOCK
from vsite.cli import main
from vsite.plan import Plan, PlanOptions, cached_plan



@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("VSITE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("VSITE_RUNTIME_DIR", str(tmp_path / "run"))


def run(*args: str):
    return CliRunner().invoke(main, ["plan", *args, "--python", sys.executable])


def test_plan_table_and_json():
    table = run(str(DEMO_LOCK))
    assert table.exit_code == 0, table.output
    row = next(line for line in table.output.splitlines() if line.startswith("rich "))
    assert row.split() == ["rich", "15.0.0", "wheel", "rich-15.0.0-py3-none-any.whl"]
    out = run(str(DEMO_LOCK), "--json", "--no-dev")
    assert out.exit_code == 0
    plan = Plan.from_json(json.loads(out.output))
    assert plan.options == {"no_dev": True}
    assert {i.name for i in plan.items if i.kind == "wheel"} >= {"rich", "click", "six"}


class Replanned(Exception):
    """Raised by the stand-ins for planning and for starting a process."""


def test_cached_plan_warm_path_neither_parses_nor_probes(monkeypatch):
    cold, target = cached_plan(DEMO_LOCK, sys.executable, PlanOptions())
    import vsite.plan.make

    def boom(*a, **k):
        raise Replanned("warm path must not re-plan or start a process")

    monkeypatch.setattr(vsite.plan.make, "plan_bytes", boom)
    monkeypatch.setattr(subprocess, "run", boom)
    monkeypatch.setattr(subprocess, "Popen", boom)
    warm, target2 = cached_plan(DEMO_LOCK, sys.executable, PlanOptions())
    assert warm == cold and target2 == target
    # other options are another plan
    with pytest.raises(Replanned):
        cached_plan(DEMO_LOCK, sys.executable, PlanOptions(no_dev=True))


def test_cached_plan_changes_with_lock_content(tmp_path):
    lock = tmp_path / "proj" / "uv.lock"
    lock.parent.mkdir()
    lock.write_text(DEMO_LOCK.read_text())
    first, _ = cached_plan(lock, sys.executable)
    lock.write_text(DEMO_LOCK.read_text().replace('version = "26.1.0"', 'version = "26.1.1"', 1))
    second, _ = cached_plan(lock, sys.executable)
    assert first.lock_sha256 != second.lock_sha256
    assert {i.version for i in second.items if i.name == "attrs"} == {"26.1.1"}


def test_warm_cli_does_not_import_toml_or_markers(tmp_path):
    code = (
        "import sys; from vsite.plan import cached_plan;"
        f"cached_plan({str(DEMO_LOCK)!r}, sys.executable);"
        "print(sorted(m for m in ('tomllib', 'packaging.markers', 'vsite.lock.uv') if m in sys.modules))"
    )
    env = {**os.environ, "VSITE_CACHE_DIR": str(tmp_path / "c2")}
    first = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert "tomllib" in first.stdout  # cold: parsed
    warm = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert warm.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "content, args, message",
    [
        ("version = [", (), "not TOML"),
        ("version = 7\n", (), "unknown uv.lock version 7"),
        (None, ("--extra", "nope"), "extra `nope` is not defined"),
        (None, ("--group", "nope"), "group `nope` is not defined"),
        ("version = 1\n[[package]]\nname = 'r'\nsource = { virtual = '.' }\ndependencies = [{ name = 'a' }]\n"
         "[[package]]\nname = 'a'\nversion = '1'\nsource = { registry = 'x' }\n"
         "wheels = [{ url = 'https://x/a-1-cp27-cp27m-win32.whl' }]\n", (), "no wheel of a 1 matches"),
    ],
)
def test_bad_input_exit_2_one_line(tmp_path, content, args, message):
    lock = tmp_path / "uv.lock"
    lock.write_text(DEMO_LOCK.read_text() if content is None else content)
    result = run(str(lock), *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("vsite: ") and message in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_missing_lock_exit_2(tmp_path):
    result = run(str(tmp_path / "nope" / "uv.lock"))
    assert result.exit_code == 2 and "not found" in result.stderr


def test_same_lock_at_two_paths_plans_each(tmp_path):
    plans = []
    for sub in ("a", "b"):
        lock = tmp_path / sub / "uv.lock"
        lock.parent.mkdir()
        lock.write_text(DEMO_LOCK.read_text())
        plans.append(cached_plan(lock, sys.executable)[0])
    assert plans[0].lock_sha256 == plans[1].lock_sha256
    assert [p.lock_path for p in plans] == [str(tmp_path / "a" / "uv.lock"), str(tmp_path / "b" / "uv.lock")]
    assert {i.source["path"] for p in plans for i in p.items if i.kind == "virtual"} == {
        str(tmp_path / "a"), str(tmp_path / "b")}


def test_plan_options_reusable_by_other_commands():
    import click

    from vsite.cli.options import plan_from_cli, plan_options

    seen = {}

    @click.command()
    @click.argument("lock")
    @plan_options
    def other(lock, **opts):
        plan, target = plan_from_cli(lock, **opts)
        seen.update(options=plan.options, python=target.executable)

    result = CliRunner().invoke(other, [str(DEMO_LOCK), "--python", sys.executable, "--no-dev", "--all-extras"])
    assert result.exit_code == 0, result.output
    assert seen["options"] == {"all_extras": True, "no_dev": True}


def test_cached_plan_follows_pyproject_settings(tmp_path):
    lock = tmp_path / "uv.lock"
    lock.write_text(DEMO_LOCK.read_text())
    assert {i.kind for i in cached_plan(lock, sys.executable)[0].items} == {"wheel", "virtual"}
    (tmp_path / "pyproject.toml").write_text('[tool.uv]\nno-binary-package = ["six"]\n')
    plan, _ = cached_plan(lock, sys.executable)
    assert [i.kind for i in plan.items if i.name == "six"] == ["sdist"]


def test_real_process_bad_lock_one_line(tmp_path):
    lock = tmp_path / "uv.lock"
    lock.write_text(DEMO_LOCK.read_text().replace('{ name = "mdurl" }', '{ name = "gone" }'))
    vsite = str(Path(sys.executable).with_name("vsite"))
    env = {**os.environ, "VSITE_CACHE_DIR": str(tmp_path / "c")}
    proc = subprocess.run([vsite, "plan", str(lock), "--python", sys.executable], capture_output=True, text=True, env=env)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("vsite: ")
    assert "dependency gone names no package" in proc.stderr

"""vsite.entry: which command lines take the click-free paths (the rest goes to the click CLI)."""

from __future__ import annotations

import sys

import pytest

from vsite import entry
from vsite.fs.mount import parse_plain
from vsite.plan.model import Plan

PLAN = Plan(lock_path="/l/uv.lock", lock_sha256="0" * 64, lock_format="uv", target_identity="t", options={}, items=())


class _Lease:
    def detach(self) -> int:
        return -1


def _console_script(monkeypatch, argv: list[str]) -> dict:
    """Run ``vsite ARGV`` with a live shared mount faked: what it joined and exec'd, or that the CLI ran."""
    seen: dict = {}

    def cached_plan(lock, python):
        seen["join"] = (lock, python)
        return PLAN, None

    def exec_in_venv(venv, cmd, lease_fd):
        seen["exec"] = list(cmd)
        raise SystemExit(0)  # exec does not return

    monkeypatch.setattr(sys, "argv", ["vsite", *argv])
    monkeypatch.setattr("vsite.shared.forkclient.join", lambda argv: None)  # no fork server: the join here
    monkeypatch.setattr("vsite.plan.cache.cached_plan", cached_plan)
    monkeypatch.setattr("vsite.shared.client.lease", lambda env, request: _Lease())
    monkeypatch.setattr("vsite.shared.execenv.exec_in_venv", exec_in_venv)
    monkeypatch.setattr("vsite.cli.main", lambda: seen.setdefault("cli", True))
    try:
        entry.main()
    except SystemExit:
        pass
    return seen


@pytest.mark.parametrize(
    "argv, parsed",
    [
        (["run", "uv.lock", "--", "python", "-c", "x"], ("uv.lock", None, ["python", "-c", "x"])),
        (["run", "uv.lock", "--python", "/py", "--", "true"], ("uv.lock", "/py", ["true"])),
        (["run", "--python", "/py", "uv.lock", "--", "true", "--"], ("uv.lock", "/py", ["true", "--"])),
        (["run", "uv.lock", "--extra", "x", "--", "true"], None),  # other options: the click CLI
        (["run", "uv.lock", "--"], None),
        (["run", "uv.lock", "true"], None),
        (["mount", "uv.lock", "--", "x"], None),
    ],
)
def test_fast_path_takes_only_the_simple_run_form(monkeypatch, argv, parsed):
    seen = _console_script(monkeypatch, argv)
    if parsed is None:
        assert seen == {"cli": True}
    else:
        lock, python, cmd = parsed
        assert seen == {"join": (lock, python), "exec": cmd}


@pytest.mark.parametrize(
    "argv, parsed",
    [
        (["mount", "uv.lock", "dir", "--venv"], ("uv.lock", "dir", True, False, None)),
        (["mount", "--venv", "uv.lock", "dir"], ("uv.lock", "dir", True, False, None)),
        (["mount", "uv.lock", "dir"], ("uv.lock", "dir", False, False, None)),
        (["mount", "uv.lock", "dir", "--venv", "--offline", "--python", "/py"], ("uv.lock", "dir", True, True, "/py")),
        (["mount", "--python", "/py", "uv.lock", "dir"], ("uv.lock", "dir", False, False, "/py")),
        (["mount", "uv.lock", "dir", "--extra", "x"], None),  # any other option: the click CLI
        (["mount", "uv.lock", "dir", "--python", "--venv"], None),
        (["mount", "uv.lock", "dir", "--python=/py"], None),
        (["mount", "--shared", "uv.lock"], None),
        (["mount", "uv.lock"], None),
        (["mount", "lockdir", "dir"], None),  # click's usage errors stay click's
        (["mount", "uv.lock", "afile"], None),
    ],
)
def test_fast_mount_takes_only_the_plain_form(tmp_path, monkeypatch, argv, parsed):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lockdir").mkdir()
    (tmp_path / "afile").write_text("")
    assert parse_plain(argv) == parsed

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


@pytest.mark.parametrize(
    "argv, parsed",
    [
        (["mount", "--shared", "uv.lock"], ("uv.lock", None, "hold 42", None, False)),
        (["mount", "uv.lock", "--shared", "--python", "/py", "--offline"], ("uv.lock", "/py", "hold 42", None, True)),
        (["mount", "--shared", "uv.lock", "--grace", "0", "--name", "job-1"], ("uv.lock", None, "name job-1", 0.0, False)),
        (["mount", "--pid", "7", "--shared", "uv.lock", "--grace", "2.5"], ("uv.lock", None, "hold 7", 2.5, False)),
        (["mount", "--shared", "uv.lock", "--name", "a", "--pid", "7"], None),  # click says: one kind of lease
        (["mount", "--shared", "uv.lock", "--name", "a b"], None),  # click says what a name may hold
        (["mount", "--shared", "uv.lock", "--name", "x" * 201], None),
        (["mount", "--shared", "uv.lock", "--pid", "0"], None),
        (["mount", "--shared", "uv.lock", "--pid", "me"], None),
        (["mount", "--shared", "uv.lock", "--grace", "-1"], None),
        (["mount", "--shared", "uv.lock", "--grace", "nan"], None),
        (["mount", "--shared", "uv.lock", "--grace", "soon"], None),
        (["mount", "--shared", "uv.lock", "dir"], None),  # click says: no TARGET with --shared
        (["mount", "--shared", "uv.lock", "--no-dev"], None),  # plan options: the click CLI
        (["mount", "--shared", "uv.lock", "--python"], None),
        (["mount", "--shared", "uv.lock", "--python", "--offline"], None),
        (["mount", "--shared", "uv.lock", "--python=/py"], None),
        (["mount", "--shared", "--shared", "uv.lock"], None),
        (["mount", "--shared", "uv.lock", "--name", "a", "--name", "b"], None),
        (["mount", "--shared", "lockdir"], None),  # click's usage error
        (["mount", "uv.lock", "dir"], None),
        (["run", "--shared", "uv.lock", "--", "x"], None),
    ],
)
def test_fast_shared_takes_only_the_plain_shared_form(tmp_path, monkeypatch, argv, parsed):
    from vsite.shared.execenv import parse_shared

    monkeypatch.chdir(tmp_path)
    (tmp_path / "lockdir").mkdir()
    assert parse_shared(argv, 42) == parsed


def test_fast_shared_joins_a_live_mount_with_the_lease_asked_for(monkeypatch, capsys):
    """Without a fork server, a live mount is joined in this process: the lease request the options
    give (the caller's parent by default), the venv's path on stdout; no live mount: the click CLI."""
    import os

    from vsite.shared.env import SharedEnv, env_key

    requests = []

    class _Conn:
        def close(self) -> None:
            requests.append("closed")

    monkeypatch.setattr("vsite.shared.forkclient.command", lambda kind, argv: None)
    monkeypatch.setattr("vsite.plan.cache.cached_plan", lambda lock, python: (PLAN, None))
    monkeypatch.setattr("vsite.shared.client.lease", lambda env, request: requests.append(request) or _Conn())
    monkeypatch.setattr("vsite.cli.main", lambda: requests.append("cli"))
    for argv, request in ((["mount", "--shared", "uv.lock"], f"hold {os.getppid()}"),
                          (["mount", "--shared", "uv.lock", "--name", "n"], "name n")):
        monkeypatch.setattr(sys, "argv", ["vsite", *argv])
        requests.clear()
        with pytest.raises(SystemExit) as done:
            entry.main()
        assert done.value.code == 0 and requests == [request, "closed"]
        assert capsys.readouterr().out == f"{SharedEnv(env_key(PLAN)).venv}\n"
    monkeypatch.setattr("vsite.shared.client.lease", lambda env, request: None)  # not live
    requests.clear()
    entry.main()
    assert requests == ["cli"]

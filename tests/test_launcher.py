"""The sh launcher (``vsite/shared/bin/vsite``): a join of a live shared mount with no Python start.

Each test installs the launcher as ``bin/vsite`` beside a ``vsite-cli`` that logs
every call and runs this tree's CLI, so "the launcher joined by itself" is "no
vsite-cli call". The behaviour must be the Python join's (tests/test_run_cli.py):
CMD gets the pid, the signals, stdin/stdout and the exit status; the lease ends
the moment CMD dies, SIGKILL included.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runhelp import DEMO_LOCK, ROOT, daemons_started, shared_mounts, vsite, wait_until
from vsite.shared import client
from vsite.shared.env import SharedEnv
from vsite.shared.launch import launcher_paths

pytestmark = [pytest.mark.fuse, pytest.mark.network]

LAUNCHER = ROOT / "vsite/shared/bin/vsite"
SLEEPER = "import os, sys, time; print(os.getpid(), sys.prefix, flush=True); time.sleep(60)"


@pytest.fixture
def launcher(shared_env, tmp_path) -> tuple[list[str], Path, dict]:
    """(the launcher's argv, the log of vsite-cli calls, env with a 30 s grace)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shutil.copy(LAUNCHER, bin_dir / "vsite")
    log = tmp_path / "cli.log"
    cli = bin_dir / "vsite-cli"
    cli.write_text(f'#!/bin/sh\necho "$*" >>{log}\nexec {sys.executable} -m vsite "$@"\n')
    cli.chmod(0o755)
    env = dict(shared_env, VSITE_GRACE="30", PYTHONPATH=str(ROOT))
    yield [str(bin_dir / "vsite")], log, env
    for point in shared_mounts(env):
        vsite("unmount", point, env=env)


def _cli_calls(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def _env_of(venv: str) -> SharedEnv:
    return SharedEnv(Path(venv).parent.name)


def _start(vsite_: list[str], env: dict, lock=DEMO_LOCK) -> str:
    """Start the mount through the launcher (its first run goes to the CLI, which writes the index)."""
    done = subprocess.run([*vsite_, "run", str(lock), "--", "python", "-c", "import sys; print(sys.prefix)"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_second_run_joins_from_sh(launcher):
    vsite_, log, env = launcher
    venv = _start(vsite_, env)
    assert _cli_calls(log) == 1
    assert Path(env["VSITE_RUNTIME_DIR"], "join").is_dir()
    done = subprocess.run([*vsite_, "run", str(DEMO_LOCK), "--", "python", "-c",
                           "import os, sys, six; print(sys.prefix, os.environ['VIRTUAL_ENV'])"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [venv, venv]
    assert _cli_calls(log) == 1  # no Python start for the join
    # relative lock path, --python in both positions
    python = launcher_paths(str(DEMO_LOCK), None)[1]
    for args in (["run", "uv.lock", "--", "true"], ["run", "uv.lock", "--python", python, "--", "true"],
                 ["run", "--python", python, "./uv.lock", "--", "true"]):
        assert subprocess.run([*vsite_, *args], env=env, cwd=DEMO_LOCK.parent, timeout=60).returncode == 0
    assert _cli_calls(log) == 1
    assert daemons_started(env) == 1
    # any other command goes to the CLI, arguments untouched
    status = subprocess.run([*vsite_, "status"], env=env, capture_output=True, text=True, timeout=60)
    assert venv in status.stdout and _cli_calls(log) == 2


def test_exit_status_signals_stdin_and_missing_command(launcher):
    vsite_, log, env = launcher
    _start(vsite_, env)
    run = [*vsite_, "run", str(DEMO_LOCK), "--"]
    assert subprocess.run([*run, "sh", "-c", "exit 7"], env=env, timeout=60).returncode == 7
    echo = subprocess.run([*run, "python", "-c", "import sys; sys.stdout.write(sys.stdin.read().upper())"],
                          env=env, input="through\n", capture_output=True, text=True, timeout=60)
    assert (echo.returncode, echo.stdout) == (0, "THROUGH\n")
    script = ("import os, signal, sys, time\n"
              "signal.signal(signal.SIGTERM, lambda *a: sys.exit(3))\n"
              "print(os.getpid(), flush=True)\n"
              "time.sleep(60)\n")
    worker = subprocess.Popen([*run, "python", "-c", script], env=env, stdout=subprocess.PIPE, text=True)
    assert int(worker.stdout.readline()) == worker.pid  # CMD replaced the launcher
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 3
    interrupted = subprocess.Popen([*run, "python", "-c", SLEEPER], env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
    interrupted.stdout.readline()
    interrupted.send_signal(signal.SIGINT)
    assert interrupted.wait(timeout=30) == -signal.SIGINT
    missing = subprocess.run([*run, "no-such-command-xyz"], env=env, capture_output=True, text=True, timeout=60)
    assert missing.returncode == 127 and "vsite: no-such-command-xyz: command not found" in missing.stderr
    assert _cli_calls(log) == 1


def _holder(vsite_: list[str], env: dict) -> tuple[subprocess.Popen, str]:
    """A worker that starts the mount (through the CLI) and holds it until killed: what the next
    worker joins from sh, however long the machine takes to start it (the grace is 0.5 s)."""
    holder = subprocess.Popen([*vsite_, "run", str(DEMO_LOCK), "--", "python", "-c", SLEEPER], env=env,
                              stdout=subprocess.PIPE, text=True)
    return holder, holder.stdout.readline().split()[1]


def test_sigkill_ends_the_lease_at_once(launcher):
    vsite_, log, env = launcher
    env["VSITE_GRACE"] = "0.5"
    holder, venv = _holder(vsite_, env)
    worker = subprocess.Popen([*vsite_, "run", str(DEMO_LOCK), "--", "python", "-c", SLEEPER], env=env,
                              stdout=subprocess.PIPE, text=True)
    assert worker.stdout.readline().split()[1] == venv and _cli_calls(log) == 1  # joined from sh
    holder.kill()
    holder.wait()
    assert wait_until(lambda: (client.status(_env_of(venv)) or {}).get("joined") == 1, 10)
    worker.kill()
    worker.wait()
    assert wait_until(lambda: not shared_mounts(env), 10)  # the pidfd fired, then the 0.5 s grace


def test_mount_shared_of_a_live_mount_from_sh(launcher):
    """`vsite mount --shared LOCK [--python PY]` on a live mount: the venv's path from sh (no Python
    start), with the lease on the command's caller, as the CLI's default: the mount stays while the
    caller lives and goes when it is killed. Other options still go to the CLI."""
    vsite_, log, env = launcher
    env["VSITE_GRACE"] = "0.5"
    holder, venv = _holder(vsite_, env)
    python = launcher_paths(str(DEMO_LOCK), None)[1]
    for args in (["mount", "--shared", str(DEMO_LOCK)], ["mount", "--shared", "uv.lock", "--python", python],
                 ["mount", "--shared", "--python", python, "./uv.lock"]):
        done = subprocess.run(["sh", "-c", '"$@"; true', "sh", *vsite_, *args],  # the caller: a shell that exits
                              env=env, cwd=DEMO_LOCK.parent, capture_output=True, text=True, timeout=60)
        assert (done.returncode, done.stdout, done.stderr) == (0, venv + "\n", ""), args
    assert _cli_calls(log) == 1
    # the caller: a shell that runs the command, then waits; its lease outlives the command
    caller = subprocess.Popen(["sh", "-c", '"$@"; exec sleep 60', "sh", *vsite_, "mount", "--shared", str(DEMO_LOCK)],
                              env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert caller.stdout.readline() == venv + "\n" and _cli_calls(log) == 1
        holder.kill()
        holder.wait()
        assert wait_until(lambda: (client.status(_env_of(venv)) or {}).get("joined") == 1, 10)  # the caller's
        time.sleep(0.5 + 1)  # past the grace period: the caller holds the mount
        assert shared_mounts(env) == [venv]
    finally:
        caller.kill()
        caller.wait()
    assert wait_until(lambda: not shared_mounts(env), 10)


def test_mount_shared_writes_the_index_and_leaves_other_options_to_the_cli(launcher, tmp_path):
    """A lock only ever mounted with `mount --shared`: its first (the CLI's, here with --offline, an
    option the launcher leaves to the CLI) writes the join index, so the next joins from sh."""
    vsite_, log, env = launcher
    lock = tmp_path / "proj" / "uv.lock"
    lock.parent.mkdir()
    shutil.copy(DEMO_LOCK, lock)
    callers, venvs = [], []
    try:
        for args in (["--offline"], []):  # one after the other
            callers.append(subprocess.Popen(["sh", "-c", '"$@"; exec sleep 60', "sh", *vsite_, "mount", "--shared",
                                             str(lock), *args], env=env, stdout=subprocess.PIPE, text=True))
            venvs.append(callers[-1].stdout.readline().strip())
        assert venvs[0] == venvs[1] and os.path.isdir(venvs[0]) and _cli_calls(log) == 1, venvs
    finally:
        for caller in callers:
            caller.kill()
            caller.wait()


def test_cache_gc_prunes_the_join_index_of_mounts_that_are_gone(launcher, tmp_path):
    """`vsite cache gc` removes the index entries naming a venv that is not mounted (and the
    directories that leaves empty), keeps a live mount's, and the launcher still joins from sh."""
    vsite_, log, env = launcher
    env["VSITE_GRACE"] = "0.5"
    holder, venv = _holder(vsite_, env)
    join = Path(env["VSITE_RUNTIME_DIR"], "join")
    (live,) = [p for p in join.rglob("*") if p.is_file()]
    gone = join / str(tmp_path).lstrip("/") / "old" / "uv.lock" / "@" / "usr" / "bin" / "python3"
    gone.parent.mkdir(parents=True)
    gone.write_text(f"{env['VSITE_RUNTIME_DIR']}/envs/0123456789abcdef01234567/venv\n/usr/bin/python3\n")
    try:
        out = vsite("cache", "gc", "--dry-run", env=env).stdout.splitlines()
        assert "would remove 1 join index entries of mounts that are gone" in out and gone.exists(), out
        out = vsite("cache", "gc", env=env).stdout.splitlines()
        assert "removed 1 join index entries of mounts that are gone" in out, out
        assert live.is_file() and not gone.exists() and not (join / str(tmp_path).lstrip("/")).exists()
        assert _start(vsite_, env) == venv and _cli_calls(log) == 1  # still joined from sh
    finally:
        holder.kill()
        holder.wait()
    assert wait_until(lambda: not shared_mounts(env), 10)
    assert "removed 1 join index entries of mounts that are gone" in vsite("cache", "gc", env=env).stdout
    assert not list(join.iterdir())  # the live one's too, once its mount went


def test_a_changed_lock_or_inherited_fds_go_to_the_cli(launcher, tmp_path):
    vsite_, log, env = launcher
    lock = tmp_path / "proj" / "uv.lock"
    lock.parent.mkdir()
    shutil.copy(DEMO_LOCK, lock)
    first = _start(vsite_, env, lock)
    again = _start(vsite_, env, lock)
    assert again == first and _cli_calls(log) == 1
    # an inherited fd 7 is CMD's: the launcher leaves the run to the CLI, which passes it on
    done = subprocess.run(["sh", "-c", 'exec 7</dev/null; exec "$@"', "sh", *vsite_, "run", str(lock), "--",
                           "sh", "-c", "[ -e /proc/self/fd/7 ]"], env=env, timeout=60)
    assert done.returncode == 0 and _cli_calls(log) == 2
    # the lock edited in place: the daemon refuses the join, the CLI mounts the new environment
    with open(lock, "a") as f:
        f.write("# edited\n")
    changed = _start(vsite_, env, lock)
    assert changed != first and _cli_calls(log) == 3
    assert _start(vsite_, env, lock) == changed and _cli_calls(log) == 3
    # and back: the old mount (still in its grace) is joined again, from sh after one CLI run
    shutil.copy(DEMO_LOCK, lock)
    assert _start(vsite_, env, lock) == first and _cli_calls(log) == 4
    assert os.path.isdir(first)


def test_a_child_that_outlives_cmd_holds_the_mount(launcher):
    """As with the Python join's connection: CMD's lease FIFO (fd 9), inherited by a background child."""
    vsite_, log, env = launcher
    env["VSITE_GRACE"] = "0.5"
    holder, venv = _holder(vsite_, env)
    done = subprocess.run([*vsite_, "run", str(DEMO_LOCK), "--", "sh", "-c", "sleep 60 >/dev/null 2>&1 & echo $!"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert _cli_calls(log) == 1  # joined from sh
    holder.kill()
    holder.wait()
    child = int(done.stdout)
    try:
        assert wait_until(lambda: (client.status(_env_of(venv)) or {}).get("joined") == 0, 10)  # CMD is gone
        state = client.status(_env_of(venv))
        assert state["held"] is True
        time.sleep(0.5 + 1)  # past the grace period: the child still holds the mount
        assert shared_mounts(env) == [venv]
    finally:
        os.kill(child, signal.SIGKILL)
    assert wait_until(lambda: not shared_mounts(env), 10)


def test_workers_at_a_mount_that_is_not_live_start_it_once(launcher):
    """Workers arriving together while the mount is not live (the index names it, from an earlier run):
    the first takes the start gate and runs the CLI, which starts the mount; the others wait on the gate
    and join from sh. CMD never keeps the gate (fd 5, VSITE_START_FD)."""
    vsite_, log, env = launcher
    venv = _start(vsite_, dict(env, VSITE_GRACE="0.2"))
    assert wait_until(lambda: not shared_mounts(env), 15)
    calls, started = _cli_calls(log), daemons_started(env)
    code = "import os, sys, six; print(sys.prefix, os.path.exists('/proc/self/fd/5'), 'VSITE_START_FD' in os.environ)"
    workers = [subprocess.Popen([*vsite_, "run", str(DEMO_LOCK), "--", "python", "-c", code], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(8)]
    done = [(w.wait(timeout=120), *w.communicate()) for w in workers]
    assert [status for status, _, _ in done] == [0] * 8, [err for _, _, err in done]
    assert {out.strip() for _, out, _ in done} == {f"{venv} False False"}
    assert daemons_started(env) == started + 1
    assert _cli_calls(log) == calls + 1  # one Python start between the eight

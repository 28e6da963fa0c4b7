"""``vsite run`` / ``mount --shared`` / ``release`` against real shared mounts of the demo lock."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import time

import pytest

from fusetools import force_unmount
from runhelp import DEMO_LOCK, IMPORTS, daemon_pids, daemons_started, shared_mounts, vsite, vsite_cmd, wait_until
from vsite.fs import registry

pytestmark = [pytest.mark.fuse, pytest.mark.network]

GRACE = 0.5  # shared_env's VSITE_GRACE


@pytest.mark.slow
def test_32_concurrent_runs_share_one_daemon(shared_env):
    workers = [
        subprocess.Popen(vsite_cmd("run", DEMO_LOCK, "--", "python", "-c", f"{IMPORTS}; import sys; print(sys.prefix)"),
                         env=shared_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(32)
    ]
    results = [(w.wait(timeout=300), *w.communicate()) for w in workers]
    assert [code for code, _, _ in results] == [0] * 32, [err for _, _, err in results if err]
    prefixes = {out.strip() for _, out, _ in results}
    assert len(prefixes) == 1 and prefixes.pop().startswith(shared_env["VSITE_RUNTIME_DIR"])
    assert daemons_started(shared_env) == 1
    # The end, as documented (vsite.fs.daemon): the daemon unmounts, removes its record and exits.
    [daemon] = daemon_pids(shared_env)
    assert wait_until(lambda: not registry.pid_alive(daemon), GRACE + 10)
    assert not shared_mounts(shared_env)
    assert registry.records() == []


def test_exit_status_and_signals_reach_cmd(shared_env, tmp_path):
    assert vsite("run", DEMO_LOCK, "--", "sh", "-c", "exit 7", env=shared_env).returncode == 7
    # CMD replaces vsite: same pid, its own signal handler, its own exit status
    script = ("import os, signal, sys, time\n"
              "signal.signal(signal.SIGTERM, lambda *a: sys.exit(3))\n"
              "print(os.getpid(), os.environ['VIRTUAL_ENV'], flush=True)\n"
              "time.sleep(60)\n")
    worker = subprocess.Popen(vsite_cmd("run", DEMO_LOCK, "--", "python", "-c", script), env=shared_env,
                              stdout=subprocess.PIPE, text=True)
    pid, venv = worker.stdout.readline().split()
    assert int(pid) == worker.pid
    assert venv in shared_mounts(shared_env)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 3
    killed = subprocess.Popen(vsite_cmd("run", DEMO_LOCK, "--", "python", "-c", "import time; print(1, flush=True); time.sleep(60)"),
                              env=shared_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed.stdout.readline()
    killed.send_signal(signal.SIGINT)
    assert killed.wait(timeout=30) == -signal.SIGINT  # Python's own KeyboardInterrupt exit: dies of SIGINT
    assert "KeyboardInterrupt" in killed.stderr.read()
    missing = vsite("run", DEMO_LOCK, "--", "no-such-command-xyz", env=shared_env)
    assert missing.returncode == 127 and "no-such-command-xyz" in missing.stderr
    assert wait_until(lambda: not shared_mounts(shared_env), GRACE + 10)


def test_kill_9_of_the_last_lease_unmounts_within_grace(shared_env):
    shared_env["VSITE_GRACE"] = "2"
    worker = subprocess.Popen(vsite_cmd("run", DEMO_LOCK, "--", "python", "-c", "import time; print(1, flush=True); time.sleep(60)"),
                              env=shared_env, stdout=subprocess.PIPE, text=True)
    assert worker.stdout.readline().strip() == "1"
    assert len(shared_mounts(shared_env)) == 1
    worker.kill()
    worker.wait()
    killed_at = time.monotonic()
    assert wait_until(lambda: not shared_mounts(shared_env), 30)
    assert time.monotonic() - killed_at <= 2 + 2


def test_a_lease_during_grace_keeps_the_mount(shared_env):
    shared_env["VSITE_GRACE"] = "30"
    try:
        assert vsite("run", DEMO_LOCK, "--", "python", "-c", IMPORTS, env=shared_env).returncode == 0
        assert len(shared_mounts(shared_env)) == 1  # within the grace period
        assert vsite("run", DEMO_LOCK, "--", "python", "-c", IMPORTS, env=shared_env).returncode == 0
        assert daemons_started(shared_env) == 1
    finally:
        for point in shared_mounts(shared_env):
            assert vsite("unmount", point, env=shared_env).returncode == 0


@pytest.mark.slow
def test_grace_zero_back_to_back_runs_never_fail(shared_env):
    """Daemons unmount the moment their last lease goes, while the next worker joins: no error, ever."""
    shared_env["VSITE_GRACE"] = "0"
    for _ in range(3):
        batch = [subprocess.Popen(vsite_cmd("run", DEMO_LOCK, "--", "python", "-c", "import six"), env=shared_env,
                                  stderr=subprocess.PIPE, text=True) for _ in range(4)]
        for worker in batch:
            assert worker.wait(timeout=120) == 0, worker.stderr.read()
    assert wait_until(lambda: not shared_mounts(shared_env), 10)


def test_dead_daemon_is_replaced(shared_env):
    shared_env["VSITE_GRACE"] = "30"
    done = vsite("mount", "--shared", DEMO_LOCK, "--name", "keep", env=shared_env)
    assert done.returncode == 0, done.stderr
    venv = done.stdout.strip()
    record = registry.read_record(venv)
    try:
        os.kill(record.pid, signal.SIGKILL)
        assert wait_until(lambda: not registry.pid_alive(record.pid), 10)
        with pytest.raises(OSError) as dead:
            os.statvfs(venv)
        assert dead.value.errno in (errno.ENOTCONN, errno.ECONNABORTED)
        again = vsite("run", DEMO_LOCK, "--", "python", "-c", IMPORTS, env=shared_env)
        assert again.returncode == 0, again.stderr
        assert registry.read_record(venv).pid != record.pid
    finally:
        force_unmount(venv)


def test_pid_and_named_leases(shared_env):
    holder = subprocess.Popen(["sleep", "60"])
    try:
        done = vsite("mount", "--shared", DEMO_LOCK, "--pid", holder.pid, env=shared_env)
        assert done.returncode == 0, done.stderr
        venv = done.stdout.strip()
        assert os.path.exists(os.path.join(venv, "bin", "python"))
        named = vsite("mount", "--shared", DEMO_LOCK, "--name", "job-1", env=shared_env)
        assert named.stdout.strip() == venv
        holder.kill()
        holder.wait()
        time.sleep(GRACE + 1)
        assert shared_mounts(shared_env) == [venv]  # the named lease still holds it
        released = vsite("release", "--name", "job-1", env=shared_env)
        assert released.returncode == 0 and venv in released.stdout
        assert wait_until(lambda: not shared_mounts(shared_env), GRACE + 2 + 8)
    finally:
        if holder.poll() is None:
            holder.kill()


@pytest.mark.parametrize(
    "args, words",
    [
        (["mount", "--shared", DEMO_LOCK, "/tmp/somewhere"], ["no TARGET"]),
        (["mount", DEMO_LOCK, "--pid", "1"], ["--shared"]),
        (["mount", "--shared", DEMO_LOCK, "--pid", "1", "--name", "x"], ["one"]),
        (["mount", "--shared", DEMO_LOCK, "--name", "a b"], ["--name"]),
        (["run", DEMO_LOCK], ["CMD"]),
    ],
)
def test_usage_errors(shared_env, args, words):
    done = vsite(*args, env=shared_env)
    assert done.returncode == 2
    for word in words:
        assert word in done.stderr
    assert not shared_mounts(shared_env)


def test_bad_grace_is_one_line(shared_env):
    shared_env["VSITE_GRACE"] = "soon"
    done = vsite("run", DEMO_LOCK, "--", "true", env=shared_env)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["vsite: VSITE_GRACE must be a number of seconds, not 'soon'"]


def test_a_daemon_started_from_cmd_does_not_hold_cmd_lease(shared_env):
    """CMD starts another environment's daemon: that daemon must not inherit CMD's lease connection."""
    inner = " ".join(vsite_cmd("mount", "--shared", DEMO_LOCK, "--no-dev", "--name", "inner"))
    done = vsite("run", DEMO_LOCK, "--", "sh", "-c", inner, env=shared_env)
    assert done.returncode == 0, done.stderr
    inner_venv = done.stdout.strip()
    try:
        assert wait_until(lambda: shared_mounts(shared_env) == [inner_venv], GRACE + 2 + 8)
    finally:
        vsite("release", "--name", "inner", env=shared_env)
    assert wait_until(lambda: not shared_mounts(shared_env), GRACE + 10)


@pytest.mark.parametrize("server, joiner", [("1", "vsite.shared.forkclient"), ("0", "vsite.shared.client")])
def test_joining_a_live_mount_imports_no_heavy_module(shared_env, server, joiner):
    """A join imports neither click nor the daemon's or the store's machinery (python -X importtime):
    through the fork server, or by itself (VSITE_FORKSERVER=0: the plan cache and the lease client)."""
    shared_env["VSITE_GRACE"] = "30"
    try:
        assert vsite("run", DEMO_LOCK, "--", "true", env=shared_env).returncode == 0  # starts the mount
        done = subprocess.run([*vsite_cmd("run", DEMO_LOCK, "--", "true")[:1], "-X", "importtime",
                               *vsite_cmd("run", DEMO_LOCK, "--", "true")[1:]],
                              env=dict(shared_env, VSITE_FORKSERVER=server), capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0
        modules = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
        assert joiner in modules
        heavy = {m for m in modules if m.split(".")[0] in ("click", "trio", "pyfuse3")
                 or m.startswith(("vsite.store", "vsite.view", "vsite.fs", "vsite.cli"))}
        assert heavy == set()
    finally:
        for point in shared_mounts(shared_env):
            vsite("unmount", point, env=shared_env)

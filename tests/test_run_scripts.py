"""mount/: the worker bootstrap, the Slurm prolog/epilog and the systemd unit, each run for real."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fusetools import force_unmount, in_proc_mounts
from runhelp import DEMO_LOCK, IMPORTS, ROOT, shared_mounts, vsite, wait_until

pytestmark = [pytest.mark.fuse, pytest.mark.network]

MOUNT = ROOT / "mount"
GRACE = 0.5  # shared_env's VSITE_GRACE


@pytest.fixture
def script_env(shared_env, tmp_path):
    """shared_env with a `vsite` command on PATH that runs this checkout with this interpreter."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shim = bindir / "vsite"
    shim.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -m vsite \"$@\"\n")
    shim.chmod(0o755)
    return dict(shared_env, PATH=f"{bindir}:{shared_env['PATH']}", VSITE_PATH=f"{bindir}:/usr/bin:/bin")


def test_worker_script_killed_by_sigterm_unmounts(script_env):
    worker = subprocess.Popen(
        ["sh", str(MOUNT / "vsite-worker.sh"), str(DEMO_LOCK), "--", "python", "-c",
         f"{IMPORTS}; import os, sys, time; print(sys.prefix, os.environ['VIRTUAL_ENV'], flush=True); time.sleep(60)"],
        env=script_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    prefix, venv = worker.stdout.readline().split()
    assert prefix == venv and shared_mounts(script_env) == [venv]
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == -signal.SIGTERM  # the worker itself got the signal
    killed_at = time.monotonic()
    assert wait_until(lambda: not shared_mounts(script_env), 30), "still mounted after SIGTERM"
    assert time.monotonic() - killed_at <= GRACE + 2


def test_worker_script_passes_exit_status_and_takes_lock_from_env(script_env):
    done = subprocess.run(["sh", str(MOUNT / "vsite-worker.sh"), "sh", "-c", 'test -x "$VIRTUAL_ENV/bin/python"; exit 5'],
                          env=dict(script_env, VSITE_LOCK=str(DEMO_LOCK)), capture_output=True, text=True, timeout=120)
    assert done.returncode == 5, done.stderr
    usage = subprocess.run(["sh", str(MOUNT / "vsite-worker.sh")], env=script_env, capture_output=True, text=True)
    assert usage.returncode == 2 and "usage" in usage.stderr
    assert wait_until(lambda: not shared_mounts(script_env), GRACE + 10)


def test_slurm_prolog_mounts_and_epilog_releases(script_env):
    # the prolog runs with slurmd's PATH: it must be told the jobs' interpreter
    python = shutil.which("python3", path=script_env["PATH"])
    slurm = dict(script_env, SLURM_JOB_ID="4242", SLURM_JOB_UID=str(os.getuid()), SLURM_JOB_GID=str(os.getgid()),
                 SLURM_JOB_COMMENT=f"vsite={DEMO_LOCK}", VSITE_OPTS=f"--python {python}")
    done = subprocess.run([str(MOUNT / "slurm/prolog.sh")], env=slurm, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    [venv] = shared_mounts(script_env)
    time.sleep(GRACE + 1)
    assert shared_mounts(script_env) == [venv]  # held for the job, not by a process
    job = vsite("run", DEMO_LOCK, "--python", python, "--", "python", "-c", f"{IMPORTS}; import sys; print(sys.prefix)",
              env=script_env)
    assert job.stdout.strip() == venv
    done = subprocess.run([str(MOUNT / "slurm/epilog.sh")], env=slurm, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert wait_until(lambda: not shared_mounts(script_env), GRACE + 2 + 8)


def test_slurm_prolog_takes_the_shared_store_from_vsite_store_path(script_env, tmp_path, demo_cache):
    """slurmd's VSITE_STORE_PATH (the variable jobs read too): the node's empty local store stays
    empty, the mount comes from the shared store, offline."""
    python = shutil.which("python3", path=script_env["PATH"])
    local = tmp_path / "node-store"
    slurm = dict(script_env, SLURM_JOB_ID="4343", SLURM_JOB_UID=str(os.getuid()), SLURM_JOB_GID=str(os.getgid()),
                 SLURM_JOB_COMMENT=f"vsite={DEMO_LOCK}", VSITE_OPTS=f"--python {python} --offline",
                 VSITE_CACHE_DIR=str(local), VSITE_STORE_PATH=str(demo_cache))
    done = subprocess.run([str(MOUNT / "slurm/prolog.sh")], env=slurm, capture_output=True, text=True, timeout=300)
    try:
        assert done.returncode == 0 and done.stderr == "", done.stderr
        [venv] = shared_mounts(script_env)
        job = subprocess.run([f"{venv}/bin/python", "-c", f"{IMPORTS}; import os; print(os.path.realpath(rich.__file__))"],
                             env=slurm, capture_output=True, text=True, timeout=60)
        assert job.returncode == 0, job.stderr
        assert "/store-ro/" in job.stdout  # root's links: a read-only bind of the shared store
        assert not (local / "v2" / "wheels").exists()  # nothing fetched on the node
    finally:
        subprocess.run([str(MOUNT / "slurm/epilog.sh")], env=slurm, capture_output=True, text=True, timeout=60)
    assert wait_until(lambda: not shared_mounts(script_env), GRACE + 2 + 8)


def test_slurm_prolog_never_fails_the_node(script_env, tmp_path):
    slurm = dict(script_env, SLURM_JOB_ID="7", SLURM_JOB_COMMENT=f"vsite={tmp_path / 'missing' / 'uv.lock'}")
    done = subprocess.run([str(MOUNT / "slurm/prolog.sh")], env=slurm, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert "could not mount" in done.stderr and "job 7" in done.stderr
    assert not shared_mounts(script_env)
    unrelated = subprocess.run([str(MOUNT / "slurm/prolog.sh")], env=dict(script_env, SLURM_JOB_ID="8"),
                               capture_output=True, text=True, timeout=60)
    assert unrelated.returncode == 0 and unrelated.stderr == ""  # a job without a lock: nothing to do


def _unit_commands(unit: str, lock: Path, runtime: Path) -> dict[str, list[str]]:
    """ExecStart/ExecStop of the template with systemd's specifiers filled in for instance ``lock``."""
    escaped = subprocess.run(["systemd-escape", "--path", str(lock)], capture_output=True, text=True,
                             check=True).stdout.strip() if shutil.which("systemd-escape") else None
    instance = escaped or str(lock).strip("/").replace("/", "-")
    values = {"%I": str(lock), "%i": instance, "%t": str(runtime), "$VSITE_OPTS": ""}
    commands = {}
    for key, line in re.findall(r"^(ExecStart|ExecStop)=(.*)$", unit, re.M):
        for spec, value in values.items():
            line = line.replace(spec, value)
        commands[key] = shlex.split(line)
    return commands


@pytest.mark.slow
def test_systemd_unit_verifies_and_its_commands_mount_and_unmount(script_env, tmp_path):
    unit = (MOUNT / "systemd/vsite@.service").read_text()
    if shutil.which("systemd-analyze"):
        instance = tmp_path / "units/vsite@demo.service"
        instance.parent.mkdir()
        instance.write_text(unit)
        verify = subprocess.run(["systemd-analyze", "verify", str(instance)], capture_output=True, text=True)
        assert verify.returncode == 0 and "vsite@demo.service" not in verify.stderr, verify.stderr
    commands = _unit_commands(unit, DEMO_LOCK, tmp_path / "xdg")
    target = commands["ExecStop"][-1]
    service = subprocess.Popen(commands["ExecStart"], env=script_env, stderr=subprocess.PIPE, text=True)
    try:
        assert "serving" in service.stderr.readline()
        assert in_proc_mounts(target)
        assert os.path.exists(os.path.join(target, "bin", "python"))
        stop = subprocess.run(commands["ExecStop"], env=script_env, capture_output=True, text=True, timeout=60)
        assert stop.returncode == 0, stop.stderr
        assert service.wait(timeout=30) == 0
        assert not in_proc_mounts(target)
    finally:
        if service.poll() is None:
            service.kill()
        force_unmount(target)

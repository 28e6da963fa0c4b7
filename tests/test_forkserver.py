"""The fork server (vsite.shared.forkserver, vsite.shared.forkclient): ``vsite mount`` and ``vsite run``
forked from one process that has imported everything, behaving exactly as the command in its own process.

Every mount here is real; the server's log (runtime dir, forkserver/*.log) says which requests it forked,
declined and why.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from fusetools import force_unmount
from runhelp import DEMO_LOCK, ROOT, vsite, vsite_cmd, wait_until

pytestmark = [pytest.mark.fuse, pytest.mark.network]


@pytest.fixture
def env(shared_env, tmp_path) -> dict:
    """The demo store, a private runtime dir; every mount under tmp_path is detached afterwards."""
    yield dict(shared_env)
    for line in Path("/proc/mounts").read_text().splitlines():
        point = line.split()[1]
        if point.startswith(str(tmp_path)):
            force_unmount(point)


def _log(env: dict) -> str:
    logs = list(Path(env["VSITE_RUNTIME_DIR"], "forkserver").glob("*.log"))
    return "".join(log.read_text() for log in logs)


def _mount(env: dict, target: Path, *extra, **kwargs) -> subprocess.CompletedProcess:
    return vsite("mount", DEMO_LOCK, target, "--venv", "--offline", *extra, env=env, **kwargs)


def _daemon_pid(stdout: str) -> int:
    return int(re.search(r"daemon pid (\d+)", stdout).group(1))


def _unmount(env: dict, target: Path, pid: int) -> None:
    vsite("unmount", target, env=env, check=0)
    assert wait_until(lambda: not Path(f"/proc/{pid}").exists(), 10)


def test_mounts_are_forked_from_one_server(env, tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    done = [_mount(env, target) for target in (first, second)]
    for result, target in zip(done, (first, second)):
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(f"mounted {target} (")
        imported = subprocess.run([target / "bin/python", "-c", "import six, rich; print(six.__file__)"],
                                  capture_output=True, text=True, timeout=60)
        assert imported.returncode == 0, imported.stderr
        assert imported.stdout.startswith(str(target))
    log = _log(env)
    assert log.count(": serving ") == 1, log
    assert len(re.findall(r": child \d+ for mount ", log)) == 2, log
    for result, target in zip(done, (first, second)):
        _unmount(env, target, _daemon_pid(result.stdout))


def test_errors_and_output_are_the_commands_own(env, tmp_path):
    """What the command prints and its status are the same with and without the server, for
    a broken lock and for a store (the requester's VSITE_CACHE_DIR) that lacks the wheels."""
    _mount(env, tmp_path / "warm", check=0)  # the server runs, started with the demo store
    broken = tmp_path / "broken.lock"
    broken.write_text("version = 1\n[[package]\nname = 'x'\n")
    empty = dict(env, VSITE_CACHE_DIR=str(tmp_path / "empty-store"), UV_CACHE_DIR=str(tmp_path / "empty-uv"))
    for case_env, lock in ((env, broken), (empty, DEMO_LOCK)):
        outputs = []
        for server in ("1", "0"):
            target = tmp_path / f"point-{server}"
            done = vsite("mount", lock, target, "--venv", "--offline", env=dict(case_env, VSITE_FORKSERVER=server))
            # which missing wheel a fetch names first is the first of its threads to fail: any
            stderr = re.sub(r"^vsite: \S+ \S+ \(\S+\.whl\)", "vsite: PKG", done.stderr.replace(str(target), "TARGET"))
            outputs.append((done.returncode, done.stdout, stderr))
            assert not target.exists()  # the mount point it created is gone again
        assert outputs[0] == outputs[1]
        status, stdout, stderr = outputs[0]
        assert status != 0 and stdout == ""
        assert len(stderr.strip().splitlines()) == 1 and stderr.startswith("vsite: "), stderr
    assert "not in the store and --offline was given" in stderr  # the requester's store, not the server's
    assert len(re.findall(r": child \d+ for mount ", _log(env))) == 3


def test_a_requester_in_another_mount_namespace_mounts_by_itself(env, tmp_path):
    _mount(env, tmp_path / "warm", check=0)
    target = tmp_path / "ns"
    script = (f"{' '.join(vsite_cmd('mount', DEMO_LOCK, target, '--venv', '--offline'))} >/dev/null"
              f" && {target}/bin/python -c 'import six' && fusermount3 -u {target}")
    done = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "a different mnt namespace" in _log(env)
    assert not os.path.ismount(target)  # it was never mounted out here


def test_a_requester_in_another_cgroup(env, tmp_path):
    """cgroup v2 (one unified hierarchy): the child joins the requester's cgroup, so its daemon ends
    with the requester's job; cgroup v1 hierarchies: declined, and the command mounts by itself."""
    v2 = Path("/sys/fs/cgroup/cgroup.procs").exists()
    base = Path("/sys/fs/cgroup") if v2 else Path("/sys/fs/cgroup/pids")
    group = base / f"vsite-test-{os.getpid()}"
    _mount(env, tmp_path / "warm", check=0)  # the server runs, in this process's cgroups
    group.mkdir()
    target = tmp_path / "cg"
    try:
        script = f"echo $$ > {group}/cgroup.procs && exec {' '.join(vsite_cmd('mount', DEMO_LOCK, target, '--venv', '--offline'))}"
        done = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        pid = _daemon_pid(done.stdout)
        relative = "/" + group.relative_to(base).as_posix()
        assert any(line.endswith(f":{relative}") for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines())
        log = _log(env)
        if v2:
            assert re.search(r": child \d+ for mount .* cg ", log), log
        else:
            assert "cgroup v1" in log, log
        _unmount(env, target, pid)
    finally:
        assert wait_until(lambda: not (group / "cgroup.procs").read_text().strip(), 10)
        group.rmdir()


def test_a_changed_vsite_retires_its_server(env, tmp_path):
    """An upgrade or an edited checkout: the server declines (the command mounts by itself), exits,
    and the next command starts a server of the new code."""
    copy = tmp_path / "copy"
    shutil.copytree(ROOT / "vsite", copy / "vsite", ignore=shutil.ignore_patterns("__pycache__"))
    run_env = dict(env, PYTHONPATH=str(copy))
    work = tmp_path / "work"  # not the checkout: python -m puts the working directory first
    work.mkdir()
    points = [tmp_path / f"m{i}" for i in range(3)]
    done = vsite("mount", DEMO_LOCK, points[0], "--venv", "--offline", env=run_env, cwd=work, check=0)
    changed = copy / "vsite/fs/mount.py"
    changed.write_text(changed.read_text() + "\n# edited\n")
    pids = [_daemon_pid(done.stdout)]
    for point in points[1:]:
        done = vsite("mount", DEMO_LOCK, point, "--venv", "--offline", env=run_env, cwd=work, check=0)
        pids.append(_daemon_pid(done.stdout))
    log = _log(env)
    assert "vsite changed on disk since this server started" in log, log
    assert log.count(": serving ") == 2, log  # the second mount ran by itself, the third started a new one
    for point, pid in zip(points, pids):
        _unmount(env, point, pid)


def test_an_idle_server_exits(env, tmp_path):
    idle = dict(env, VSITE_FORKSERVER_IDLE="1")
    target = tmp_path / "idle"
    _unmount(idle, target, _daemon_pid(_mount(idle, target, check=0).stdout))
    sockets = Path(env["VSITE_RUNTIME_DIR"], "forkserver")
    assert wait_until(lambda: not list(sockets.glob("*.sock")), 10)
    assert "idle for 1 s: exiting" in _log(env)
    _unmount(idle, target, _daemon_pid(_mount(idle, target, check=0).stdout))  # the next one starts another
    assert _log(env).count(": serving ") == 2


def test_a_run_keeps_its_pid_and_its_exit_status(env):
    """``vsite run`` through the server: the lease connection comes back, CMD is exec'd by the command
    itself (its pid, its exit status), in the shared venv."""
    proc = subprocess.Popen(vsite_cmd("run", DEMO_LOCK, "--", "python", "-c",
                                      "import os, sys, six; print(os.getpid(), sys.prefix, flush=True); sys.exit(7)"),
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 7, err
    pid, prefix = out.split()
    assert int(pid) == proc.pid
    assert prefix.startswith(env["VSITE_RUNTIME_DIR"])
    assert re.search(r": child \d+ for run ", _log(env))


def test_a_request_of_another_install_is_declined(env, tmp_path):
    """The server runs a request only if the requester runs the same vsite (interpreter, search path,
    package directory): a request naming another gets a decline, and nothing is forked."""
    from vsite.shared import forkclient

    _mount(env, tmp_path / "warm", check=0)
    directory = Path(env["VSITE_RUNTIME_DIR"], "forkserver")
    (sock_path,) = directory.glob("*.sock")
    dir_fd = os.open(directory, os.O_PATH | os.O_DIRECTORY)
    try:
        sock = forkclient._connect(dir_fd, sock_path.stem)
    finally:
        os.close(dir_fd)
    assert sock is not None
    forked = len(re.findall(r": child \d+ ", _log(env)))
    try:
        assert forkclient._ask(sock, "mount", ["mount", str(DEMO_LOCK), str(tmp_path / "x")], ["other"]) is None
    finally:
        sock.close()
    log = _log(env)
    assert "declined pid" in log and ": another vsite install" in log, log
    assert len(re.findall(r": child \d+ ", log)) == forked
    assert not (tmp_path / "x").exists()


def test_a_shared_mount_is_joined_through_the_server(env, tmp_path):
    """``vsite mount --shared``: the server's child starts (then joins) the shared mount and prints its
    path on the command's stdout; the lease is the caller's (the shell that ran it) unless --name or
    --pid say otherwise; errors are the command's own, with and without the server."""
    from runhelp import shared_mounts

    cmd = " ".join(vsite_cmd("mount", "--shared", DEMO_LOCK, "--offline"))
    holder = subprocess.Popen(["sh", "-c", f"{cmd} && {cmd} && read line"], env=env, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_until(lambda: len(re.findall(r"child \d+: status 0 ", _log(env))) == 2, 120), _log(env)
        time.sleep(1.5)  # three grace periods (0.5 s): the shell's leases hold the mount
        (venv,) = shared_mounts(env)
        assert os.path.exists(os.path.join(venv, "bin", "python"))
        named = vsite("mount", "--shared", DEMO_LOCK, "--name", "kept", env=env, check=0)
        assert named.stdout == f"{venv}\n"
    finally:
        out, err = holder.communicate("\n", timeout=60)
    assert holder.returncode == 0, err
    assert out.splitlines() == [venv, venv]
    time.sleep(1.5)
    assert shared_mounts(env) == [venv]  # the named lease still holds it
    assert vsite("release", "--name", "kept", env=env, check=0).stdout.strip() == f"released kept on {venv}"
    assert wait_until(lambda: not shared_mounts(env), 10)
    assert len(re.findall(r": child \d+ for mount --shared ", _log(env))) == 3, _log(env)
    assert "left to it" not in _log(env)
    broken = tmp_path / "broken.lock"
    broken.write_text("version = 1\n[[package]\nname = 'x'\n")
    outputs = [vsite("mount", "--shared", broken, env=dict(env, VSITE_FORKSERVER=server)) for server in ("1", "0")]
    assert [(o.returncode, o.stdout, o.stderr) for o in outputs] == [(2, "", outputs[1].stderr)] * 2
    assert outputs[0].stderr.startswith("vsite: ") and len(outputs[0].stderr.splitlines()) == 1
    assert len(re.findall(r": child \d+ for mount --shared ", _log(env))) == 4

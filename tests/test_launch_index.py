"""vsite.shared.launch without a mount: the launcher's index keys, the daemon's check of a join, the probe node."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from pyfuse3 import FUSEError

from vsite.fs.probe import PROBE_INO, Probe
from vsite.shared.launch import JoinCheck, index_path, launcher_paths
from vsite.target import identity


def _exe(path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return str(path)


def test_launcher_paths_mirror_the_sh_launcher(tmp_path, monkeypatch):
    first, second = tmp_path / "a", tmp_path / "b"
    _exe(second / "python3")
    (first / "python3").mkdir(parents=True)  # a directory is not a match, as for shutil.which
    monkeypatch.setenv("PATH", f"{first}:{second}:")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PWD", str(tmp_path))
    assert launcher_paths("./././uv.lock", None) == (f"{tmp_path}/uv.lock", f"{second}/python3")
    assert launcher_paths("uv.lock", "") == (f"{tmp_path}/uv.lock", f"{second}/python3")
    assert launcher_paths("/l/uv.lock", "/usr/bin/python3") == ("/l/uv.lock", "/usr/bin/python3")
    assert launcher_paths("/l/uv.lock", "./py") == ("/l/uv.lock", f"{tmp_path}/py")
    monkeypatch.setenv("PWD", "/nowhere")  # not this directory: sh takes getcwd()
    assert launcher_paths("uv.lock", "/p")[0] == f"{os.getcwd()}/uv.lock"
    for lock, python in [("/l/../uv.lock", "/p"), ("/l//uv.lock", "/p"), ("/l/@/uv.lock", "/p"),
                         ("/l/uv.lock", "/p/./x"), ("-x", "/p"), ("/l/uv\n.lock", "/p")]:
        assert launcher_paths(lock, python) is None, (lock, python)
    monkeypatch.setenv("PATH", f"bin:{second}")  # a relative entry before the match: left to the CLI
    assert launcher_paths("/l/uv.lock", None) is None
    monkeypatch.setenv("VSITE_RUNTIME_DIR", "/rt")
    assert index_path("/l/uv.lock", "/usr/bin/python3") == "/rt/join/l/uv.lock/@/usr/bin/python3"


@pytest.fixture
def holder(tmp_path):
    """Start a process holding fds 6, 7, 8 on (entry, lock, python), as the launcher does in its lookup."""
    procs = []

    def start(entry, lock, python) -> int:
        proc = subprocess.Popen(["sh", "-c", 'exec 6<"$1" 7<"$2" 8<"$3"; exec sleep 30', "sh",
                                 str(entry), str(lock), str(python)])
        procs.append(proc)
        for _ in range(200):
            if os.path.exists(f"/proc/{proc.pid}/fd/8") and "sleep" in open(f"/proc/{proc.pid}/cmdline").read():
                return proc.pid
            time.sleep(0.01)
        raise AssertionError("holder did not start")

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


def test_join_check_accepts_only_this_environment(tmp_path, holder):
    lock = tmp_path / "uv.lock"
    lock.write_bytes(b"version = 1\n")
    python = _exe(tmp_path / "bin" / "python3")
    venv = str(tmp_path / "rt" / "envs" / "k" / "venv")
    entry = tmp_path / "entry"
    entry.write_text(f"{venv}\n{python}\n")
    check = JoinCheck(venv, venv, hashlib.sha256(lock.read_bytes()).hexdigest(), identity(python))
    pid = holder(entry, lock, python)
    assert check.accepts(pid)
    assert len(check.known_locks) == 1 and check.accepts(pid)  # the second time from the fingerprint
    assert not check.accepts(os.getpid())  # fds 6-8 of this process are not a launcher's
    other = tmp_path / "other.lock"
    other.write_bytes(b"version = 2\n")
    assert not check.accepts(holder(entry, other, python))  # another lock's bytes
    assert not check.accepts(holder(entry, lock, _exe(tmp_path / "bin2" / "python3")))  # another interpreter
    elsewhere = tmp_path / "entry2"
    elsewhere.write_text(f"{venv}-other\n{python}\n")
    assert not check.accepts(holder(elsewhere, lock, python))  # an entry naming another venv
    inside = JoinCheck(venv, str(tmp_path), check.lock_sha256, check.target_identity)
    assert not inside.accepts(pid)  # a file inside the mount itself is never read (it would deadlock)


def test_probe_answers_each_lookup_by_asking():
    asked = []
    probe = Probe({b".vsite-join": lambda pid, uid: asked.append(("join", pid, uid)) or pid == 7,
                   b".vsite-hold": lambda pid, uid: asked.append(("hold", pid, uid)) or pid == 8})
    entry = probe.lookup(b".vsite-join", SimpleNamespace(pid=7, uid=0))
    assert entry.st_ino == PROBE_INO and entry.entry_timeout == 0
    with pytest.raises(FUSEError) as refused:
        probe.lookup(b".vsite-join", SimpleNamespace(pid=8, uid=0))
    assert refused.value.errno == errno.ENOENT
    assert probe.lookup(b".vsite-hold", SimpleNamespace(pid=8, uid=0)).st_ino == PROBE_INO
    assert asked == [("join", 7, 0), ("join", 8, 0), ("hold", 8, 0)]


LAUNCHER = Path(__file__).resolve().parent.parent / "vsite/shared/bin/vsite"


@pytest.fixture
def fake_env(tmp_path, monkeypatch):
    """A runtime dir whose shared venv answers the launcher's lookup by itself (a plain file stands in for
    the daemon's answer, so no mount), a project with a lock, an interpreter on PATH; cwd is the project."""
    rt = tmp_path / "rt"
    venv = rt / "envs" / "k" / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / ".vsite-join").write_text("")
    os.mkfifo(venv.parent / "lease")
    tool = venv / "bin" / "tool"
    tool.write_text('#!/bin/sh\necho "$VIRTUAL_ENV" "$@"\n[ -e /proc/self/fd/9 ] || echo "no fd 9"\n')
    tool.chmod(0o755)
    project = tmp_path / "proj"
    project.mkdir()
    (project / "uv.lock").write_text("version = 1\n")
    python = _exe(tmp_path / "pybin" / "python3")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shutil.copy(LAUNCHER, bin_dir / "vsite")
    for name, value in (("VSITE_RUNTIME_DIR", str(rt)), ("PATH", f"{tmp_path / 'pybin'}:/usr/bin:/bin"),
                        ("PWD", str(project))):
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(project)
    return SimpleNamespace(venv=str(venv), python=python, project=project, vsite=str(bin_dir / "vsite"), shell=[])


def _launch(fake, *args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([*fake.shell, fake.vsite, *args], capture_output=True, text=True, timeout=30, **kwargs)


@pytest.fixture(params=["sh", "bash"])
def shell(request) -> list[str]:
    """The launcher under /bin/sh (dash on Debian) and under bash (/bin/sh on some distributions)."""
    if shutil.which(request.param) is None:
        pytest.skip(f"no {request.param}")
    return [request.param]


@pytest.mark.parametrize("head", [["uv.lock"], ["./uv.lock", "--python", "PY"], ["--python", "PY", "LOCK"]])
def test_the_launcher_opens_the_entry_launcher_paths_names(fake_env, shell, head):
    fake_env.shell = shell
    head = [fake_env.python if a == "PY" else str(fake_env.project / "uv.lock") if a == "LOCK" else a for a in head]
    python = head[head.index("--python") + 1] if "--python" in head else None
    lock = [a for i, a in enumerate(head) if a != "--python" and (i == 0 or head[i - 1] != "--python")][0]
    assert _launch(fake_env, "run", *head, "--", "tool", "x").returncode == 1  # no entry yet: the CLI (absent here)
    entry = index_path(*launcher_paths(lock, python))
    os.makedirs(os.path.dirname(entry))
    with open(entry, "w") as f:
        f.write(f"{fake_env.venv}\n{fake_env.python}\n")
    done = _launch(fake_env, "run", *head, "--", "tool", "x", "y z")
    assert (done.returncode, done.stdout, done.stderr) == (0, f"{fake_env.venv} x y z\n", "")


def test_the_launcher_execs_like_the_python_join(fake_env, shell):
    fake_env.shell = shell
    entry = index_path(*launcher_paths("uv.lock", None))
    os.makedirs(os.path.dirname(entry))
    with open(entry, "w") as f:
        f.write(f"{fake_env.venv}\n{fake_env.python}\n")
    run = ["run", "uv.lock", "--"]
    assert _launch(fake_env, *run, "sh", "-c", "exit 7").returncode == 7
    cat = _launch(fake_env, *run, "cat", input="through\n")
    assert (cat.returncode, cat.stdout) == (0, "through\n")
    env = _launch(fake_env, *run, "sh", "-c", 'echo "$PATH|${PYTHONHOME-unset}"', env=dict(os.environ, PYTHONHOME="/x"))
    assert env.stdout == f"{fake_env.venv}/bin:{os.environ['PATH']}|unset\n"
    missing = _launch(fake_env, *run, "no-such-command-xyz")
    assert (missing.returncode, missing.stderr) == (127, "vsite: no-such-command-xyz: command not found\n")
    for other in (["run", "uv.lock", "--extra", "x", "--", "tool"], ["run", "uv.lock", "tool"], ["status"]):
        cli = _launch(fake_env, *other)
        assert cli.returncode == 1 and "vsite-cli is not installed" in cli.stderr, other

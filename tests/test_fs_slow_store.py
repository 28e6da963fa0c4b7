"""A store on a slow filesystem: while one request waits on it, the mount keeps answering.

The shared store sits on tests/slowfs.py, a passthrough whose lookups, stats and
reads of files named ``lazy*`` take DELAY seconds (the rest is instant): a
network filesystem with a few cold files. One process touches such a file
through a vsite mount, so a daemon request waits on the store (with links: the
view resolving a merged directory lstat-s it; with the daemon serving bytes:
the ``pread``). Meanwhile another process sends the daemon fresh lookups (names
it answers from what it holds: absent names, the venv's own files, a package
dir resolved earlier) and lists dirs: every one is answered at once, and the
daemon's counters show they reached it while the first request still waited.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fusetools import force_unmount, in_proc_mounts, require_fuse
from reliab import make_env_wheels, require_root, write_pylock
from runhelp import vsite, wait_until
from test_fs_links import _site
from vsite.fs import mountpoint, registry
from wheelmaker import make_wheel

pytestmark = [pytest.mark.fuse, pytest.mark.slow]

DELAY = 3.0
SLOWFS = Path(__file__).with_name("slowfs.py")

# Run while the slow request waits: each call is a request the daemon answers from memory.
PROBE = r"""
import json, os, sys, time
venv, site = sys.argv[1:3]
lat = []
def timed(fn):
    t = time.monotonic()
    fn()
    lat.append(time.monotonic() - t)
def absent(i):
    try:
        os.stat(f"{site}/absent-{os.getpid()}-{i}")
    except FileNotFoundError:
        return
    raise SystemExit("an absent name exists")
for i in range(20):
    timed(lambda: absent(i))
timed(lambda: open(f"{venv}/pyvenv.cfg").read())
timed(lambda: os.listdir(f"{venv}/bin"))
timed(lambda: os.stat(f"{site}/relpkg0/m0.py"))
timed(lambda: os.listdir(site))
print(json.dumps({"max": max(lat), "total": sum(lat), "calls": len(lat)}))
"""


@pytest.fixture(params=["links", "daemon-served"])
def slow_store(tmp_path, monkeypatch, request):
    """The published store on slowfs: for the links case its lookups and stats of ``lazy*`` are
    slow (what the view does), for the daemon-served case its reads (what the daemon does)."""
    require_fuse()
    require_root()
    wheels = make_env_wheels(tmp_path / "wheels", 2, 2)
    wheels.append(make_wheel(tmp_path / "wheels", name="nsa", files={"ns/a.py": b"A = 1\n"}))
    wheels.append(make_wheel(tmp_path / "wheels", name="nsb", files={"ns/lazy_b.py": b"B = 2\n"}))
    wheels.append(make_wheel(tmp_path / "wheels", name="bigpkg",
                             files={"bigpkg/__init__.py": b"", "bigpkg/lazy_blob.bin": os.urandom(64 * 1024)}))
    lock = write_pylock(tmp_path / "pylock.toml", wheels, urls=True)
    env = dict(os.environ, VSITE_CACHE_DIR=str(tmp_path / "local"), VSITE_RUNTIME_DIR=str(tmp_path / "runtime"),
               UV_CACHE_DIR=str(tmp_path / "empty-uv-cache"))
    env.pop("VSITE_LINKS", None)
    monkeypatch.setenv("VSITE_RUNTIME_DIR", env["VSITE_RUNTIME_DIR"])  # this process reads the mount's registry
    vsite("fetch", "--store", tmp_path / "published", lock, env=env, check=0)
    slow = tmp_path / "slow"
    slow.mkdir()
    log = tmp_path / "slowfs.log"
    log.touch()
    ops = "lookup,getattr" if request.param == "links" else "read"
    server = subprocess.Popen([sys.executable, str(SLOWFS), str(tmp_path / "published"), str(slow), str(DELAY),
                               "lazy", str(log), ops], stderr=open(tmp_path / "slowfs.err", "w"))
    try:
        assert wait_until(lambda: in_proc_mounts(str(slow)) or server.poll() is not None, 20), "slowfs did not mount"
        assert server.poll() is None, (tmp_path / "slowfs.err").read_text()
        yield request.param, tmp_path, lock, dict(env, VSITE_STORE_PATH=str(slow)), log
    finally:
        force_unmount(str(slow))
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.send_signal(signal.SIGKILL)
            server.wait()


def _lookups(venv: Path) -> int:
    record = registry.read_record(str(venv))
    assert record is not None
    return mountpoint.fresh_stats(record, timeout=2.0).get("requests", {}).get("lookup", 0)


def test_a_request_waiting_on_a_slow_store_holds_up_no_other(slow_store):
    data_path, tmp_path, lock, env, log = slow_store
    if data_path == "daemon-served":
        env = dict(env, VSITE_LINKS="0")
    venv = tmp_path / "venv"
    vsite("mount", "--offline", "--venv", lock, venv, env=env, check=0)
    try:
        site = _site(venv)
        assert (site / "relpkg0").is_symlink() == (data_path == "links")
        os.stat(site / "relpkg0")  # resolved before: the probe's stat below is a lookup inside it
        if data_path == "links":
            # the view lists ns/ (two wheels merge there) and lstat-s ns/lazy_b.py in the store
            slow_call, waits_on = f"import os; os.stat({str(site / 'ns/a.py')!r})", "slow lookup"
        else:
            # the daemon reads the file's bytes from the store
            slow_call, waits_on = f"open({str(site / 'bigpkg/lazy_blob.bin')!r}, 'rb').read()", "slow read"
        started = time.monotonic()
        slow = subprocess.Popen([sys.executable, "-c", slow_call], env=env)
        try:
            assert wait_until(lambda: waits_on in log.read_text(), 6 * DELAY), log.read_text()
            before = _lookups(venv)
            probe = subprocess.run([sys.executable, "-c", PROBE, str(venv), str(site)], env=env,
                                   capture_output=True, text=True, timeout=60)
            still_waiting = slow.poll() is None
            answered = _lookups(venv) - before
        finally:
            slow.wait(60)
        elapsed = time.monotonic() - started
        assert probe.returncode == 0, probe.stderr
        figures = json.loads(probe.stdout)
        assert still_waiting, "the slow request ended before the probe: nothing was shown"
        assert slow.returncode == 0 and elapsed >= DELAY * 0.9
        assert answered >= 21, answered  # the probe's lookups reached the daemon (not the kernel's cache)
        assert figures["max"] < 0.5 and figures["total"] < DELAY / 2, figures
    finally:
        vsite("unmount", venv, env=env)
        force_unmount(str(venv))

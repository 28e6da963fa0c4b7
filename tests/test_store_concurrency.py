"""Concurrent fetches of one lock: each wheel downloaded by one process at a time, a killed one harmless."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import defaultdict

import pytest

from runhelp import DEMO_LOCK as DEMO
from vsite.store import Store

FETCH = [sys.executable, "-m", "vsite", "fetch", str(DEMO), "--python", sys.executable, "--jobs", "4"]

ALL = ("attrs", "click", "idna", "markdown-it-py", "mdurl", "packaging", "pygments", "rich", "six")


def _wait_for(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


@pytest.mark.network
@pytest.mark.slow
def test_eight_fetches_one_killed(tmp_path):
    log = tmp_path / "fetch.log"
    log.touch()
    env = dict(
        os.environ,
        VSITE_CACHE_DIR=str(tmp_path / "store"),
        VSITE_FETCH_LOG=str(log),
        UV_CACHE_DIR=str(tmp_path / "empty-uv-cache"),
    )
    def start() -> subprocess.Popen:
        return subprocess.Popen(FETCH, env=env, stderr=subprocess.PIPE, text=True)

    # the victim starts first and is killed in the middle of its downloads,
    # once the seven others are running and waiting on its locks
    victim = start()
    assert _wait_for(lambda: f" {victim.pid} download-start " in log.read_text())
    procs = [victim] + [start() for _ in range(7)]
    _wait_for(lambda: log.read_text().count("download-start") >= 4, timeout=5)
    os.kill(victim.pid, signal.SIGKILL)
    with open(log, "a") as f:
        f.write(f"{time.time():.6f} {victim.pid} killed -\n")
    assert victim.wait() == -signal.SIGKILL
    for proc in procs[1:]:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err

    # No wheel was being downloaded by two processes at once: replay the log.
    downloading: dict[str, int] = {}  # sha -> pid currently downloading it
    survivor_downloads: dict[str, int] = defaultdict(int)
    for line in log.read_text().splitlines():
        _, pid_text, event, sha = line.split()
        pid = int(pid_text)
        if event == "download-start":
            assert sha not in downloading, f"{sha} downloaded by {downloading.get(sha)} and {pid} at once"
            downloading[sha] = pid
        elif event == "download-end":
            assert downloading.pop(sha) == pid
            if pid != victim.pid:
                survivor_downloads[sha] += 1
        elif event == "killed":
            downloading = {s: p for s, p in downloading.items() if p != pid}
    assert not downloading
    assert all(n == 1 for n in survivor_downloads.values())

    subprocess.run([sys.executable, "-m", "vsite", "cache", "verify"], env=env, check=True, capture_output=True)
    store = Store(tmp_path / "store")
    assert {e.summary.name for e in store.entries()} == set(ALL)
    # what the killed process left in tmp/ goes with the next fetch
    subprocess.run(FETCH, env=env, check=True)
    assert not [n for n in os.listdir(store.layout.tmp_dir()) if n.startswith(f"{victim.pid}-")]
    assert store.verify() == []

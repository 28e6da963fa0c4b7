"""Helpers for the shared-mount tests: a demo-lock store fetched once, vsite as a subprocess, waits."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fusetools import force_unmount, require_fuse
from vsite.fs import registry

ROOT = Path(__file__).resolve().parent.parent
DEMO_LOCK = ROOT / "examples/demo/uv.lock"
IMPORTS = "import rich, click, attr, six"


@pytest.fixture(scope="module")
def demo_cache(tmp_path_factory) -> Path:
    """A store holding the demo lock's wheels (from PyPI or uv's cache), shared by a module's tests."""
    require_fuse()
    cache = tmp_path_factory.mktemp("store")
    env = dict(os.environ, VSITE_CACHE_DIR=str(cache))
    subprocess.run([sys.executable, "-m", "vsite", "fetch", str(DEMO_LOCK)], env=env, check=True,
                   capture_output=True, timeout=600)
    return cache


@pytest.fixture
def shared_env(tmp_path, monkeypatch, demo_cache):
    """Environment for vsite subprocesses: the shared store, a private runtime dir, a short grace.

    Afterwards every mount under the runtime dir is detached (the suite's guard then fails the test).
    """
    runtime = tmp_path / "rt"
    monkeypatch.setenv("VSITE_RUNTIME_DIR", str(runtime))
    monkeypatch.setenv("VSITE_CACHE_DIR", str(demo_cache))
    monkeypatch.setenv("VSITE_GRACE", "0.5")
    yield dict(os.environ)
    for point in registry.vsite_mounts():
        if point.startswith(str(runtime)):
            force_unmount(point)


def vsite_cmd(*args) -> list[str]:
    return [sys.executable, "-m", "vsite", *map(str, args)]


def run(*args, env: dict, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(vsite_cmd(*args), env=env, capture_output=True, text=True, timeout=timeout)


def shared_mounts(env: dict) -> list[str]:
    """vsite mounts under this test's runtime dir."""
    return [p for p in registry.vsite_mounts() if p.startswith(env["VSITE_RUNTIME_DIR"])]


def daemons_started(env: dict) -> int:
    """How many shared-mount daemons have served under this runtime dir (their logs say so once each)."""
    logs = Path(env["VSITE_RUNTIME_DIR"], "mounts").glob("*.log")
    return sum(log.read_text().count(": serving ") for log in logs)


def daemon_pids(env: dict) -> list[int]:
    """The pids of the shared-mount daemons that have served under this runtime dir (from their logs)."""
    logs = Path(env["VSITE_RUNTIME_DIR"], "mounts").glob("*.log")
    return [int(pid) for log in logs for pid in re.findall(r": serving .* \(pid (\d+), grace", log.read_text())]


def wait_until(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()

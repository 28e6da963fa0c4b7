"""The tests' one ``vsite`` runner (a subprocess), the demo lock, and helpers for shared mounts.

The fixtures that go with them (``demo_cache``, ``shared_env``) are in conftest.py.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

from vsite.fs import registry

ROOT = Path(__file__).resolve().parent.parent
DEMO_LOCK = ROOT / "examples/demo/uv.lock"
IMPORTS = "import rich, click, attr, six"


def vsite_cmd(*args) -> list[str]:
    return [sys.executable, "-m", "vsite", *map(str, args)]


def vsite(*args, env: dict, timeout: float = 300, check: int | None = None, **kwargs) -> subprocess.CompletedProcess:
    """Run the real ``vsite`` command line (the tests' one CLI runner); with ``check``, assert its exit status."""
    done = subprocess.run(vsite_cmd(*args), env=env, capture_output=True, text=True, timeout=timeout, **kwargs)
    if check is not None:
        assert done.returncode == check, done.stderr
    return done


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

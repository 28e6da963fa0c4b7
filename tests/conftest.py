"""Suite-wide safety net (no test may leave a mount behind, FUSE or a store bind, whatever it asserted)
and shared fixtures.

Helpers that are not fixtures live in their modules: runhelp (the ``vsite``
runner, the demo lock), wheelmaker (the wheel maker), fusetools (FUSE checks).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from vsite.paths import runtime_dir
from vsite.target import Target, current

# Every test with its own runtime dir starts its own fork server (vsite.shared.forkserver) at its first
# mount: let those end soon after the test, not after the default 10 minutes. The fixtures that make a
# runtime dir also retire its server at teardown (removing its socket ends it within a second).
os.environ.setdefault("VSITE_FORKSERVER_IDLE", "20")


def retire_fork_servers(runtime: Path) -> None:
    """End the fork servers of ``runtime`` (each exits once its socket is gone)."""
    for sock in (runtime / "forkserver").glob("*.sock"):
        sock.unlink(missing_ok=True)


def _mounts() -> dict[str, str]:
    """Mount point -> filesystem type, from the kernel's table."""
    with open("/proc/mounts") as table:
        rows = [line.split() for line in table]
    return {row[1].replace("\\040", " "): row[2] for row in rows if len(row) > 2}


def _ours(point: str, base: str) -> bool:
    """A mount a test made: under pytest's tmp dirs, or a read-only store bind (vsite.fs.readonly) in
    the runtime dir tests use when they set none (other processes' binds elsewhere are not ours)."""
    return point.startswith(base) or point.startswith(str(runtime_dir() / "store-ro") + "/")


@pytest.fixture(autouse=True)
def _unmount_leftovers(tmp_path_factory):
    """After each test, lazily unmount the FUSE mounts (and read-only store binds) it left, and fail it."""
    base = str(tmp_path_factory.getbasetemp())
    before = set(_mounts())
    yield
    now = _mounts()
    left = sorted(m for m in set(now) - before if _ours(m, base))
    deadline = time.monotonic() + 10
    while any(now[m] != "fuse.vsite" for m in left) and time.monotonic() < deadline:
        # a daemon whose mount a test detached directly (fusermount3 -u) releases its
        # store bind as it exits, a moment later: wait for that, not for a leak
        time.sleep(0.05)
        now = _mounts()
        left = [m for m in left if m in now]
    for point in sorted(left, key=len, reverse=True):
        if now[point].startswith("fuse"):
            subprocess.run(["fusermount3", "-u", "-z", point], capture_output=True)
        else:
            subprocess.run(["umount", "-l", point], capture_output=True)
    if left:
        pytest.fail(f"test left mounts behind: {left}")


@pytest.fixture
def target(tmp_path, monkeypatch) -> Target:
    """This interpreter as the target, probed into a private cache, with an empty uv cache
    (so nothing is borrowed from the user's). Test modules that need otherwise override it."""
    monkeypatch.setenv("VSITE_CACHE_DIR", str(tmp_path / "probe-cache"))
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "empty-uv-cache"))
    return current()


@pytest.fixture
def isolated(tmp_path, monkeypatch) -> Iterator[Path]:
    """Private VSITE_RUNTIME_DIR and VSITE_CACHE_DIR for one test."""
    monkeypatch.setenv("VSITE_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("VSITE_CACHE_DIR", str(tmp_path / "cache"))
    yield tmp_path
    retire_fork_servers(tmp_path / "runtime")


@pytest.fixture(scope="module")
def demo_cache(tmp_path_factory) -> Path:
    """A store holding the demo lock's wheels (from PyPI or uv's cache), shared by a module's tests."""
    from fusetools import require_fuse
    from runhelp import DEMO_LOCK

    require_fuse()
    cache = tmp_path_factory.mktemp("store")
    env = dict(os.environ, VSITE_CACHE_DIR=str(cache))
    subprocess.run([sys.executable, "-m", "vsite", "fetch", str(DEMO_LOCK)], env=env, check=True,
                   capture_output=True, timeout=600)
    return cache


@pytest.fixture
def shared_env(tmp_path, monkeypatch, demo_cache) -> Iterator[dict]:
    """Environment for vsite subprocesses: the shared store, a private runtime dir, a short grace.

    Afterwards every mount under the runtime dir is detached (the suite's guard then fails the test).
    """
    from fusetools import force_unmount
    from vsite.fs import registry

    runtime = tmp_path / "rt"
    monkeypatch.setenv("VSITE_RUNTIME_DIR", str(runtime))
    monkeypatch.setenv("VSITE_CACHE_DIR", str(demo_cache))
    monkeypatch.setenv("VSITE_GRACE", "0.5")
    yield dict(os.environ)
    for point in registry.vsite_mounts():
        if point.startswith(str(runtime)):
            force_unmount(point)
    retire_fork_servers(runtime)


@pytest.fixture
def other_target(target):
    """Another interpreter than ``target`` (a second cache tag), probed; skipped only where the machine
    has none, never in CI (its machines have pyenv's other CPythons)."""
    from planhelp import other_pythons
    from vsite.target import probe

    exe = next((path for path, version in other_pythons() if version != sys.version_info[:2]), None)
    if exe is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI machines have pyenv's other CPythons: none found (planhelp.other_pythons)")
        pytest.skip("no CPython >= 3.10 of another version on this machine (PATH or pyenv)")
    return probe(exe, use_cache=False)

"""Suite-wide safety net: no test may leave a mount behind (FUSE, or a store bind), whatever it asserted."""

from __future__ import annotations

import subprocess
import time

import pytest

from vsite.target import Target, current


def _mounts() -> dict[str, str]:
    """Mount point -> filesystem type, from the kernel's table."""
    with open("/proc/mounts") as table:
        rows = [line.split() for line in table]
    return {row[1].replace("\\040", " "): row[2] for row in rows if len(row) > 2}


def _ours(point: str, base: str) -> bool:
    """A mount a test made: under pytest's tmp dirs, or a read-only store bind of a mount (vsite.fs.readonly)."""
    return point.startswith(base) or "/store-ro/" in point


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

"""Suite-wide safety net: no test may leave a FUSE mount behind, whatever it asserted."""

from __future__ import annotations

import subprocess

import pytest

from vsite.target import Target, current


def _fuse_mounts() -> set[str]:
    with open("/proc/mounts") as table:
        rows = [line.split() for line in table]
    return {row[1] for row in rows if len(row) > 2 and row[2].startswith("fuse")}


@pytest.fixture(autouse=True)
def _unmount_leftovers(tmp_path_factory):
    """After each test, lazily unmount the FUSE mounts it made under pytest's tmp dirs, and fail it."""
    base = str(tmp_path_factory.getbasetemp())
    before = _fuse_mounts()
    yield
    left = sorted(m for m in _fuse_mounts() - before if m.startswith(base))
    for target in left:
        subprocess.run(["fusermount3", "-u", "-z", target], capture_output=True)
    if left:
        pytest.fail(f"test left FUSE mounts behind: {left}")


@pytest.fixture
def target(tmp_path, monkeypatch) -> Target:
    """This interpreter as the target, probed into a private cache, with an empty uv cache
    (so nothing is borrowed from the user's). Test modules that need otherwise override it."""
    monkeypatch.setenv("VSITE_CACHE_DIR", str(tmp_path / "probe-cache"))
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "empty-uv-cache"))
    return current()

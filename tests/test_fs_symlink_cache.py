"""Symlink caching on a real mount: with vsite's patched pyfuse3 (``+vsite2``) the kernel
keeps link targets, so only the first walk through a link sends ``readlink``; with it
off (``VSITE_FS_CACHE_SYMLINKS=0``, or stock pyfuse3) every walk sends one.

The kernel keeps a cached target in the link's page cache; on this shared VM it now
and then drops cached pages with no memory pressure (tests/test_fs_zero_open.py), so
a warm round may send a readlink again: every round must send fewer than one per walk,
and one of ``WARM_TRIES`` rounds none at all.
"""

from __future__ import annotations

import os

import pytest

from fusetools import mounted, require_fuse
from memview import Link, MemoryView
from vsite.fs import mountpoint, registry
from vsite.fs.pyfuse3_build import installed

pytestmark = pytest.mark.fuse

WALKS = 4  # walks through each link per round
WARM_TRIES = 5


def _view() -> MemoryView:
    return MemoryView({"pkg": {"mod.py": b"X = 1\n"}, "dirlink": Link("pkg"), "filelink": Link("pkg/mod.py")})


def _stats(target) -> dict:
    return mountpoint.fresh_stats(registry.read_record(str(target)), timeout=30)


def _readlinks(target) -> int:
    return _stats(target)["requests"].get("readlink", 0)


def _walk(target) -> None:
    """One walk through each link: a stat through the directory link, an open through the file link."""
    assert os.stat(target / "dirlink/mod.py").st_size == 6
    with open(target / "filelink", "rb") as f:
        assert f.read() == b"X = 1\n"


def _rounds(target, rounds: int) -> list[int]:
    """readlink requests sent per round of WALKS walks."""
    sent = []
    for _ in range(rounds):
        before = _readlinks(target)
        for _ in range(WALKS):
            _walk(target)
        sent.append(_readlinks(target) - before)
        if sent[-1] == 0:
            break
    return sent


def require_cache_symlinks() -> None:
    """Skip or fail (in CI) without vsite's ``+vsite2`` pyfuse3 build."""
    require_fuse()
    if installed().cache_symlinks:
        return
    reason = f"pyfuse3 {installed().version} cannot cache symlinks (`make venv` builds +vsite2)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"symlink caching must be tested in CI: {reason}")
    pytest.skip(reason)


def test_cached_symlinks_send_one_readlink(isolated, monkeypatch):
    require_cache_symlinks()
    monkeypatch.delenv("VSITE_FS_CACHE_SYMLINKS", raising=False)
    target = isolated / "mnt"
    with mounted(_view(), target):
        assert _readlinks(target) == 0
        _walk(target)
        assert _readlinks(target) == 2  # the first walk: one readlink per link
        warm = _rounds(target, WARM_TRIES)
        assert all(n < 2 * WALKS for n in warm) and warm[-1] == 0, warm  # then the kernel's copy
        assert os.readlink(target / "dirlink") == "pkg"  # readlink(2) too
        stats = _stats(target)
        assert stats["cache_symlinks"] is True and stats["pyfuse3"] == installed().version


def test_uncached_symlinks_send_readlink_every_walk(isolated, monkeypatch):
    require_fuse()  # also what stock pyfuse3 does
    monkeypatch.setenv("VSITE_FS_CACHE_SYMLINKS", "0")
    target = isolated / "mnt"
    with mounted(_view(), target):
        _walk(target)
        assert _readlinks(target) == 2
        assert _rounds(target, 2) == [2 * WALKS, 2 * WALKS]  # every walk asks the daemon again
        assert _stats(target)["cache_symlinks"] is False

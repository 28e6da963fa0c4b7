"""Faults during ``vsite fetch``: killed at random points, and the store's disk full.

A killed fetch leaves only whole entries (and debris the next fetch removes or
adopts); a full disk ends fetch with a one-line error, withdraws what it staged,
and leaves the store verifying. Both through the real command line.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reliab import assert_one_line_error, make_env_wheels, record, require_root, scale, write_pylock
from vsite.store import Store
from vsite.store.index import read_summary

pytestmark = pytest.mark.slow


def _env(base: Path, store: Path) -> dict:
    return dict(os.environ, VSITE_CACHE_DIR=str(store), VSITE_RUNTIME_DIR=str(base / "runtime"),
                UV_CACHE_DIR=str(base / "empty-uv-cache"))


def _fetch(lock: Path, env: dict) -> subprocess.Popen:
    # a session of its own, so the kill also takes the compile processes it started
    return subprocess.Popen([sys.executable, "-m", "vsite", "fetch", str(lock)], env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _only_whole_entries(store: Store) -> None:
    """Every dir in wheels/ is a complete entry, compiled for the tag it lists; all verify."""
    wheels = store.layout.wheels_dir()
    present = sorted(os.listdir(wheels)) if wheels.is_dir() else []
    assert present == store.keys()
    for key in present:
        assert read_summary(store.layout.wheel_dir(key)).bytecode == (sys.implementation.cache_tag,)
    assert store.verify() == []


def test_fetch_killed_at_random_points(tmp_path):
    lock = write_pylock(tmp_path / "pylock.toml", make_env_wheels(tmp_path / "wheels", 8, 60, big=1, seed=1))
    # how long an uninterrupted fetch takes, so kills land all over it
    start = time.monotonic()
    first = _fetch(lock, _env(tmp_path, tmp_path / "timing-store"))
    assert first.wait(timeout=300) == 0, first.stderr.read()
    duration = time.monotonic() - start
    env = _env(tmp_path, tmp_path / "store")
    store = Store(tmp_path / "store")
    rng = random.Random(int(os.environ.get("VSITE_KILL_SEED", "8")))
    kills = completed = 0
    debris_seen = 0
    while kills < scale(6, 30):
        proc = _fetch(lock, env)
        time.sleep(rng.uniform(0.0, duration))
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        code = proc.wait(timeout=60)
        proc.stdout.close()
        proc.stderr.close()
        if code == -signal.SIGKILL:
            kills += 1
        else:
            assert code == 0
            completed += 1
            if completed > 3 * scale(6, 30):
                pytest.fail("fetch never got killed before finishing")
            # start over from an empty store so later kills still hit work in progress
            shutil.rmtree(tmp_path / "store")
            continue
        tmp_dir = store.layout.tmp_dir()
        staged = store.layout.staged_root()
        debris_seen += bool((tmp_dir.is_dir() and os.listdir(tmp_dir)) or (staged.is_dir() and os.listdir(staged)))
        _only_whole_entries(store)
    final = _fetch(lock, env)
    _, err = final.communicate(timeout=300)
    assert final.returncode == 0, err
    _only_whole_entries(store)
    assert len(store.keys()) == 8
    assert not os.listdir(store.layout.tmp_dir())
    staged = store.layout.staged_root()
    assert not staged.is_dir() or not os.listdir(staged)  # adopted by the next fetch
    record("fetch-killed", kills=kills, fetches_finished_before_kill=completed, kills_leaving_debris=debris_seen,
           fetch_seconds=round(duration, 2))


@pytest.fixture
def small_disk(tmp_path):
    """A tmpfs of 1 MiB to hold the store (root only); always unmounted after."""
    require_root()
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0755", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.mark.parametrize("size_kib", [64, 256, 768, 1024])
def test_disk_full_during_fetch(tmp_path, small_disk, size_kib):
    """Disk sizes that run out while copying, unpacking or compiling: a clear error, no half entry."""
    subprocess.run(["mount", "-o", f"remount,size={size_kib}k", str(small_disk)], check=True)
    lock = write_pylock(tmp_path / "pylock.toml", make_env_wheels(tmp_path / "wheels", 4, 30, big=1, seed=2))
    env = _env(tmp_path, small_disk / "cache")
    done = subprocess.run([sys.executable, "-m", "vsite", "fetch", str(lock)], env=env, capture_output=True,
                          text=True, timeout=300)
    line = assert_one_line_error(done, code=1)
    assert "No space left on device" in line and str(small_disk / "cache") in line, line
    store = Store(small_disk / "cache")
    _only_whole_entries(store)
    assert not os.listdir(store.layout.tmp_dir())
    staged = store.layout.staged_root()
    assert not staged.is_dir() or not os.listdir(staged)
    # with room again, the same fetch completes
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    again = subprocess.run([sys.executable, "-m", "vsite", "fetch", str(lock)], env=env, capture_output=True,
                           text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    _only_whole_entries(store)
    assert len(store.keys()) == 4
    record("disk-full", disk_kib=size_kib, error=line)


def test_read_only_store_disk(tmp_path, small_disk):
    """A store on a read-only filesystem: one line naming the store, whatever step hit it first."""
    lock = write_pylock(tmp_path / "pylock.toml", make_env_wheels(tmp_path / "wheels", 2, 3, seed=3))
    env = _env(tmp_path, small_disk / "cache")
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    done = subprocess.run([sys.executable, "-m", "vsite", "fetch", str(lock)], env=env, capture_output=True,
                          text=True, timeout=300)
    line = assert_one_line_error(done, code=1)
    assert "Read-only file system" in line and str(small_disk / "cache") in line, line
    assert os.listdir(small_disk) == []

"""``vsite fetch`` and ``vsite cache``: the commands as a user runs them (subprocesses, real lock)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from runhelp import DEMO_LOCK, vsite
from wheelmaker import store_snapshot
from vsite.store.layout import LAYOUT_VERSION

DEMO_WHEELS = {"attrs", "click", "idna", "markdown-it-py", "mdurl", "packaging", "pygments", "rich", "six"}


@pytest.fixture
def env(tmp_path):
    return dict(
        os.environ,
        VSITE_CACHE_DIR=str(tmp_path / "cache"),
        VSITE_RUNTIME_DIR=str(tmp_path / "run"),
        UV_CACHE_DIR=str(tmp_path / "empty-uv-cache"),
    )


def fetch(env, lock: Path, *args: str) -> subprocess.CompletedProcess:
    return vsite("fetch", str(lock), "--python", sys.executable, *args, env=env)


@pytest.mark.network
def test_fetch_refetch_offline_without_network_then_cache_commands(tmp_path, env):
    first = fetch(env, DEMO_LOCK)
    assert first.returncode == 0, first.stderr
    assert first.stdout == "" and first.stderr == ""  # quiet when not on a terminal
    # a dead proxy: any network access would fail the refetch
    dead = dict(env, http_proxy="http://127.0.0.1:9", https_proxy="http://127.0.0.1:9",
                HTTP_PROXY="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9")
    for extra in ((), ("--offline",)):
        again = fetch(dead, DEMO_LOCK, *extra)
        assert again.returncode == 0, again.stderr

    ls = vsite("cache", "ls", env=env)
    assert ls.returncode == 0
    names = {line.split()[0] for line in ls.stdout.splitlines()[:-1]}
    assert names == DEMO_WHEELS
    assert str(DEMO_LOCK) in ls.stdout and "cpython-" in ls.stdout
    verify = vsite("cache", "verify", env=env)
    assert verify.returncode == 0 and verify.stdout.strip() == "9 entries verified"

    # corrupt one file: verify names the entry and exits 1
    six = next((tmp_path / f"cache/{LAYOUT_VERSION}/wheels").glob("*/site/six.py"))
    os.chmod(six, 0o644)  # the sealed file is read-only (root could write it anyway)
    six.write_text(six.read_text() + "\n# changed\n")
    bad = vsite("cache", "verify", env=env)
    assert bad.returncode == 1
    assert f"corrupt: {six.parent.parent.name}: site/six.py has the wrong size" in bad.stderr
    assert bad.stderr.strip().splitlines()[-1].startswith("vsite: 1 corrupt entry")
    gc = vsite("cache", "gc", "--corrupt", env=env)
    assert gc.returncode == 0 and "removed six 1.17.0" in gc.stdout
    assert vsite("cache", "verify", env=env).returncode == 0
    # offline, the missing wheel is named on one line
    offline = fetch(dead, DEMO_LOCK, "--offline")
    assert offline.returncode == 1
    assert offline.stderr == "vsite: six 1.17.0 (six-1.17.0-py2.py3-none-any.whl) is not in the store and --offline was given\n"


@pytest.mark.network
def test_tampered_hash_in_lock_exit_1_store_unchanged(tmp_path, env):
    lock_dir = tmp_path / "proj"
    lock_dir.mkdir()
    (lock_dir / "pyproject.toml").write_bytes((DEMO_LOCK.parent / "pyproject.toml").read_bytes())
    text = DEMO_LOCK.read_text()
    good = "sha256:84008a41e51615a49fc9966191ff91509e3c40b939176e643fd50a5c2196b8f8"  # mdurl wheel
    assert good in text
    (lock_dir / "uv.lock").write_text(text.replace(good, "sha256:" + "1" * 64))
    result = fetch(env, lock_dir / "uv.lock")
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("vsite: hash mismatch for mdurl 0.1.2: lock says sha256:1111")
    assert store_snapshot(tmp_path / "cache") == []  # the other eight wheels verified, yet nothing entered


def test_cache_commands_on_an_empty_store(env):
    assert vsite("cache", "ls", env=env).stdout.startswith("0 entries")
    assert vsite("cache", "verify", env=env).stdout.strip() == "0 entries verified"
    assert vsite("cache", "gc", env=env).stdout.strip() == "removed 0 entries"


def test_fetch_missing_lock_is_one_line(tmp_path, env):
    result = fetch(env, tmp_path / "nope.lock")
    assert result.returncode != 0 and len(result.stderr.splitlines()) == 1

"""Warm imports through a real mount of the demo lock: the native data path, and both fs modes of the daemon-served one.

Native (the default): subtrees unique to a wheel are links into the store, so
an import reads no byte through the daemon, the first one costs lookups of the
merged dirs and one readlink per link, and a warm one sends nothing at all
(entries, attributes and link targets are cached by the kernel).

The rest runs with VSITE_LINKS=0, the path where the daemon serves every byte
(a user's --allow-other mount, root without CAP_SYS_ADMIN):

Zero-message open (vsite's patched pyfuse3, the default under `make test`): a
second process importing the same packages sends the daemon no request at all,
and every file of the mount still equals its store file byte for byte, read
through a daemon that keeps a bounded number of store fds (more files than the
bound). Stock mode (VSITE_FS_NO_OPEN=0): the open/release path of stock
pyfuse3, so both stay covered.

On this (shared, virtualised) machine the kernel now and then drops a few cached
pages of the mount between two runs with no memory pressure (seen in both
modes: a warm run re-reads a page or two of a .pyc, or relists a directory), so
a warm run may send a few ``read``/``readdir``; open, opendir, release,
releasedir, lookup and getattr never come back, and at least one of
``WARM_TRIES`` warm runs must send nothing at all.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fusetools import FS_MODES, force_unmount, require_fs_mode
from runhelp import DEMO_LOCK, vsite
from vsite.fs import mountpoint, registry
from vsite.fs.pyfuse3_build import notice
from vsite.fs.storefiles import MAX_OPEN
from vsite.store import Store

pytestmark = [pytest.mark.fuse, pytest.mark.network, pytest.mark.slow]

WARM_TRIES = 5
REFILLS = {"read", "readdir"}  # what a page the kernel dropped costs again

IMPORTS = (
    "import rich.console, rich.table, rich.markdown, rich.syntax, rich.traceback, click, attr, six, idna, "
    "packaging.tags, packaging.specifiers, markdown_it, pygments.lexers.python"
)


def _requests(record: registry.MountRecord) -> tuple[float, dict[str, int]]:
    stats = mountpoint.fresh_stats(record, timeout=30)
    return stats["updated"], stats["requests"]


def _import_delta(target: Path, record: registry.MountRecord, env: dict) -> dict[str, int]:
    """Requests the daemon received while one python process ran IMPORTS from the mount."""
    before_at, before = _requests(record)
    subprocess.run(["python3", "-S", "-c", IMPORTS], env=env | {"PYTHONPATH": str(target)}, check=True)
    after_at, after = _requests(record)
    assert after_at > before_at, "the daemon did not publish fresh counters"
    return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}


def _store_files(cache: Path) -> dict[str, Path]:
    """The store's files by their path in site-packages: the wheels' site/ trees, bytecode included."""
    roots = Store(cache).layout.wheels_dir().glob("*/site")
    return {str(p.relative_to(root)): p for root in roots for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("mode", list(FS_MODES))
def test_warm_import_requests_and_bytes(shared_env, demo_cache, tmp_path, mode):
    require_fs_mode(mode)
    env = dict(shared_env, VSITE_LINKS="0")
    env.pop("VSITE_FS_NO_OPEN", None)
    if FS_MODES[mode] is not None:
        env["VSITE_FS_NO_OPEN"] = FS_MODES[mode]
    target = tmp_path / "site-packages"
    try:
        done = vsite("mount", "--offline", DEMO_LOCK, target, env=env)
        assert done.returncode == 0, done.stderr
        # the build's missing fast paths (none with +vsite2), not the switch, make the notice
        assert [line for line in done.stderr.splitlines() if " off (" in line] == ([notice()] if notice() else [])
        assert "VSITE_LINKS=0: the daemon serves every file" in done.stderr
        record = registry.read_record(str(target))
        first = _import_delta(target, record, env)
        warm = _import_delta(target, record, env)
        assert first["lookup"] > 100 and first["read"] > 100
        if mode == "zero-message":
            assert first["open"] == 1 and first["opendir"] == 1  # ENOSYS: the kernel asks once per mount
            assert "release" not in first and "releasedir" not in first
            runs = [warm]
            while runs[-1] and len(runs) < WARM_TRIES:
                runs.append(_import_delta(target, record, env))
            assert all(delta.keys() <= REFILLS for delta in runs), runs
            assert runs[-1] == {}, runs  # nothing at all reaches the daemon
        else:
            assert warm["open"] == first["open"] > 100  # an open per file, a listing per package dir
            assert warm["opendir"] == first["opendir"] > 10 and warm["readdir"] > 10
            assert not {"lookup", "getattr"} & warm.keys()  # entries and attributes cached (pages: see above)

        files = {rel: path for rel, path in _store_files(demo_cache).items() if not rel.endswith(".dist-info/RECORD")}
        assert len(files) > MAX_OPEN  # more files than the daemon keeps store fds open for
        for rel, path in files.items():
            assert (target / rel).read_bytes() == path.read_bytes(), rel
        assert vsite("unmount", target, env=env).returncode == 0
    finally:
        force_unmount(str(target))


def test_native_import_reads_no_byte_through_the_daemon(shared_env, demo_cache, tmp_path):
    env = {k: v for k, v in shared_env.items() if not k.startswith("VSITE_FS_") and k != "VSITE_LINKS"}
    target = tmp_path / "site-packages"
    try:
        done = vsite("mount", "--offline", DEMO_LOCK, target, env=env)
        assert done.returncode == 0, done.stderr
        assert done.stderr == ""  # links on, every fast path on: nothing to say
        record = registry.read_record(str(target))
        first = _import_delta(target, record, env)
        assert "read" not in first  # the kernel reads the store itself
        # the shape only: a listing of site-packages (readdirplus also answers the lookups) and one
        # readlink per link walked; no open, no read
        assert first.keys() <= {"opendir", "readdir", "lookup", "getattr", "readlink"}, first
        assert 0 < first["readlink"] and sum(first.values()) < 200, first
        runs = [_import_delta(target, record, env)]
        while runs[-1] and len(runs) < WARM_TRIES:
            runs.append(_import_delta(target, record, env))
        assert "readlink" not in runs[0] and "lookup" not in runs[0], runs  # link targets cached (+vsite2)
        assert runs[-1] == {}, runs  # nothing at all reaches the daemon
        stats = mountpoint.fresh_stats(record)
        assert stats["cache_symlinks"] is True and stats["files_served"] == 0
        files = {rel: path for rel, path in _store_files(demo_cache).items() if not rel.endswith(".dist-info/RECORD")}
        for rel, path in files.items():
            assert (target / rel).read_bytes() == path.read_bytes(), rel
        assert vsite("unmount", target, env=env).returncode == 0
    finally:
        force_unmount(str(target))


# `vsite mount` with pyfuse3's version lookup answering "3.5.0" (stock), in the CLI and the daemon it forks.
AS_STOCK = """
import runpy, sys
import vsite.fs.pyfuse3_build as build
build._version = lambda: "3.5.0"
sys.argv = ["vsite", *sys.argv[1:]]
runpy.run_module("vsite", run_name="__main__")
"""


def test_stock_build_names_the_missing_fast_paths_once(shared_env, tmp_path):
    # VSITE_FORKSERVER=0: the stock answer is patched into this command's process, so the mount must run here
    env = {k: v for k, v in shared_env.items() if not k.startswith("VSITE_FS_")} | {"VSITE_LINKS": "0",
                                                                                   "VSITE_FORKSERVER": "0"}
    target = tmp_path / "site-packages"
    try:
        done = subprocess.run([sys.executable, "-c", AS_STOCK, "mount", "--offline", DEMO_LOCK, target],
                              env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        lines = [line for line in done.stderr.splitlines() if "fast" in line or " off (" in line]
        # (and the line VSITE_LINKS=0 asked for: the stock daemon-served path is what this checks)
        assert lines == [
            "vsite: stock pyfuse3 3.5.0: zero-message open and symlink caching are off (install vsite's "
            "patched pyfuse3 build: `make venv` in a vsite checkout builds it, tools/patch_pyfuse3.py)"
        ], done.stderr
        record = registry.read_record(str(target))
        delta = _import_delta(target, record, env)
        assert delta["open"] > 10 and delta["release"] > 0  # the stock path, working
        stats = mountpoint.fresh_stats(record)
        assert stats["zero_message_open"] is False and stats["cache_symlinks"] is False
        assert stats["pyfuse3"] == "3.5.0"
        assert vsite("unmount", target, env=env).returncode == 0
    finally:
        force_unmount(str(target))

"""Which fast paths a pyfuse3 build has (its version label), what a mount runs with (the
kernel's grant), and the one-line notice ``vsite mount`` prints for a build without them."""

from __future__ import annotations

import importlib.metadata

import pyfuse3
import pytest

from tests.memview import MemoryView
from vsite.fs import prepare
from vsite.fs import operations, pyfuse3_build
from vsite.fs.operations import FUSE_CAP_CACHE_SYMLINKS, FastPaths, ViewOperations
from vsite.fs.pyfuse3_build import Build, notice, parse

STOCK_LINE = (
    "vsite: stock pyfuse3 3.5.0: zero-message open and symlink caching are off "
    "(install vsite's patched pyfuse3 build: `make venv` in a vsite checkout builds it, tools/patch_pyfuse3.py)"
)


@pytest.mark.parametrize(
    "version, level",
    [("3.5.0", 0), ("3.5.0+vsite1", 1), ("3.5.0+vsite2", 2), ("3.5.0+vsite", 1), ("3.6.0+vsite10", 10),
     ("3.5.0+debian1", 0), (None, 0)],
)
def test_patch_level_from_the_label(version, level):
    build = parse(version)
    assert build == Build(version, level)
    assert build.zero_message_open == (level >= 1) and build.cache_symlinks == (level >= 2)


@pytest.fixture
def installed_version(monkeypatch):
    """Make the installed pyfuse3 look like the version given (the lookup is cached: cleared around)."""
    def pretend(version: str) -> None:
        monkeypatch.setattr(pyfuse3_build, "_version", lambda: version)
        pyfuse3_build.installed.cache_clear()

    yield pretend
    pyfuse3_build.installed.cache_clear()
    prepare.fast_path_notice.cache_clear()


@pytest.mark.parametrize("version, passes", [("3.5.0", False), ("3.5.0+vsite1", True), ("3.5.0+vsite2", True)])
def test_pyfuse3_passes_inode(installed_version, version, passes):
    installed_version(version)
    assert operations.pyfuse3_passes_inode() is passes
    assert pyfuse3_build.installed().version == version


def test_notice():
    assert notice(parse("3.5.0")) == STOCK_LINE
    assert notice(parse("3.5.0+vsite1")) == (
        "vsite: pyfuse3 3.5.0+vsite1: symlink caching is off (install vsite's patched pyfuse3 build: "
        "`make venv` in a vsite checkout builds it, tools/patch_pyfuse3.py)"
    )
    assert notice(parse("3.5.0+vsite2")) is None
    assert notice(parse(None)) is None  # no pyfuse3: the mount fails with its own error


def test_notice_printed_once_per_command(installed_version, capsys):
    installed_version("3.5.0")
    prepare.fast_path_notice.cache_clear()
    prepare.fast_path_notice()
    prepare.fast_path_notice()  # e.g. a second mount in one command
    assert capsys.readouterr() == ("", STOCK_LINE + "\n")
    installed_version("3.5.0+vsite2")
    prepare.fast_path_notice.cache_clear()
    prepare.fast_path_notice()
    assert capsys.readouterr() == ("", "")


def test_cli_does_not_import_pyfuse3():
    import subprocess
    import sys

    code = ("import sys, vsite.fs.prepare as m; m.fast_path_notice(); "
            "print('pyfuse3' in sys.modules, 'trio' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False"]


@pytest.mark.parametrize("env, version, wanted", [
    (None, "3.5.0+vsite2", True), ("0", "3.5.0+vsite2", False), (None, "3.5.0+vsite1", False), ("1", "3.5.0", False),
])
def test_cache_symlinks_wanted(installed_version, monkeypatch, env, version, wanted):
    installed_version(version)
    if env is None:
        monkeypatch.delenv("VSITE_FS_CACHE_SYMLINKS", raising=False)
    else:
        monkeypatch.setenv("VSITE_FS_CACHE_SYMLINKS", env)
    assert operations.cache_symlinks_wanted() is wanted
    assert ViewOperations(MemoryView({}), no_open=False).enable_cache_symlinks is wanted


def test_fast_paths_need_the_kernels_grant(monkeypatch):
    want: list[int | None] = [None]
    monkeypatch.setattr(pyfuse3, "vsite_conn_want", lambda: want[0], raising=False)
    ops = ViewOperations(MemoryView({}), no_open=True, cache_symlinks=True)
    assert ops.fast_paths() == FastPaths(zero_message_open=True, cache_symlinks=False)  # before init
    want[0] = FUSE_CAP_CACHE_SYMLINKS | 1
    assert ops.fast_paths() == FastPaths(zero_message_open=True, cache_symlinks=True)
    want[0] = 0
    assert ops.fast_paths().cache_symlinks  # known after init: not looked up again
    refused = ViewOperations(MemoryView({}), no_open=False, cache_symlinks=True)
    assert refused.fast_paths() == FastPaths(zero_message_open=False, cache_symlinks=False)  # kernel said no
    off = ViewOperations(MemoryView({}), no_open=False, cache_symlinks=False)
    want[0] = FUSE_CAP_CACHE_SYMLINKS  # granted to someone else's request: not ours
    assert off.fast_paths().cache_symlinks is False


def test_fast_paths_with_a_build_that_cannot_tell(monkeypatch):
    monkeypatch.delattr(pyfuse3, "vsite_conn_want", raising=False)  # stock and +vsite1
    ops = ViewOperations(MemoryView({}), no_open=False, cache_symlinks=True)
    assert ops.fast_paths() == FastPaths(zero_message_open=False, cache_symlinks=False)


def test_version_from_the_dist_info_name_is_the_metadata_version():
    assert pyfuse3_build._version() == importlib.metadata.version("pyfuse3")

"""Which of vsite's fast paths the installed pyfuse3 build has, from its version alone.

vsite's patched pyfuse3 (tools/patch_pyfuse3.py, built by the Makefile)
carries the local version label ``+vsiteN``; N is the patch level, and each
level keeps everything of the ones before:

1. zero-message open: ``read``/``readdir`` get the inode when the handle is 0;
2. symlink caching: ``fuse_init`` can request ``FUSE_CAP_CACHE_SYMLINKS``, and
   ``pyfuse3.vsite_conn_want()`` tells what init asked the kernel for.

Stock pyfuse3 (no label) has neither and still works (open/release per open(2),
a ``readlink`` per walk through a symlink). This module reads only the version
(its ``.dist-info`` name, once), never imports pyfuse3 or trio, so the CLI can
name the missing fast paths before it forks the daemon. Whether the kernel
granted symlink caching is known only in the daemon, after the mount's init
(vsite.fs.operations.ViewOperations.fast_paths).
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
from dataclasses import dataclass

PATCHED_LABEL_PREFIX = "vsite"
ZERO_MESSAGE_OPEN_LEVEL = 1  # the patch level that brings each fast path
CACHE_SYMLINKS_LEVEL = 2

HOW_TO_GET = "install vsite's patched pyfuse3 build: `make venv` in a vsite checkout builds it, tools/patch_pyfuse3.py"


@dataclass(frozen=True)
class Build:
    """An installed pyfuse3: its version (None: not installed) and vsite patch level (0: stock)."""

    version: str | None
    level: int

    @property
    def zero_message_open(self) -> bool:
        """The build passes the inode for handle 0 (``+vsite1`` and later)."""
        return self.level >= ZERO_MESSAGE_OPEN_LEVEL

    @property
    def cache_symlinks(self) -> bool:
        """The build can ask the kernel to cache symlink targets (``+vsite2`` and later)."""
        return self.level >= CACHE_SYMLINKS_LEVEL

    def missing(self) -> list[str]:
        """The fast paths this build lacks, by name."""
        names = [("zero-message open", self.zero_message_open), ("symlink caching", self.cache_symlinks)]
        return [name for name, present in names if not present]


def parse(version: str | None) -> Build:
    """The build a pyfuse3 version string describes: ``3.5.0+vsite2`` is level 2, ``3.5.0`` stock."""
    if version is None:
        return Build(None, 0)
    label = version.partition("+")[2]
    if not label.startswith(PATCHED_LABEL_PREFIX):
        return Build(version, 0)
    number = re.match(r"\d+", label[len(PATCHED_LABEL_PREFIX) :])
    return Build(version, max(int(number.group()), 1) if number else ZERO_MESSAGE_OPEN_LEVEL)


@functools.cache
def installed() -> Build:
    """The installed pyfuse3 build; looked up once."""
    return parse(_version())


def _version() -> str | None:
    """pyfuse3's version from the name of its ``.dist-info`` beside it (one listing of that
    directory, what every ``vsite mount`` pays), else from ``importlib.metadata``, whose import and
    scan of every distribution on sys.path cost ~10 ms."""
    spec = importlib.util.find_spec("pyfuse3")  # finds it, does not import it
    if spec is None:
        return None
    if spec.origin and spec.submodule_search_locations:  # the package pyfuse3/__init__...
        site = os.path.dirname(os.path.dirname(spec.origin))
        try:
            names = [n for n in os.listdir(site) if n.startswith("pyfuse3-") and n.endswith(".dist-info")]
        except OSError:
            names = []
        if len(names) == 1:
            return names[0][len("pyfuse3-") : -len(".dist-info")]
    from importlib import metadata

    try:
        return metadata.version("pyfuse3")
    except metadata.PackageNotFoundError:
        return None


def pyfuse3_passes_inode() -> bool:
    """Whether the installed pyfuse3 is vsite's patched build (``+vsite1``, ``+vsite2``, ...):
    its ``read``/``readdir`` get the inode when the handle is 0."""
    return installed().zero_message_open


def notice(build: Build | None = None) -> str | None:
    """One line naming the fast paths ``build`` (default: the installed one) lacks and how
    to get them; None when it has them all (or pyfuse3 is missing: mounting fails anyway)."""
    build = installed() if build is None else build
    missing = build.missing()
    if build.version is None or not missing:
        return None
    name = f"stock pyfuse3 {build.version}" if build.level == 0 else f"pyfuse3 {build.version}"
    verb = "is" if len(missing) == 1 else "are"
    return f"vsite: {name}: {' and '.join(missing)} {verb} off ({HOW_TO_GET})"

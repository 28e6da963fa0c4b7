"""Patch an unpacked pyfuse3 sdist for vsite's fast paths (local version label ``+vsite2``).

1. Zero-message open (``+vsite1``): vsite answers ``open``/``opendir`` with
   ENOSYS, after which Linux (>= 5.1) stops sending open/release/opendir/
   releasedir for the mount and caches file pages and directory listings
   (FOPEN_KEEP_CACHE / FOPEN_CACHE_DIR). Reads and readdirs then arrive with
   file handle 0, and stock pyfuse3 passes handlers only the handle. vsite's
   handles are its inode numbers, so ``read`` and ``readdirplus`` get the inode
   when the handle is 0 (docs/fs.md, "Zero-message open").
2. Symlink caching (``+vsite2``): ``fuse_init`` requests
   ``FUSE_CAP_CACHE_SYMLINKS`` when the kernel offers it and the Operations
   object opts in (``enable_cache_symlinks = True``, like pyfuse3's own
   ``enable_acl``), so the kernel keeps link targets in its page cache instead
   of sending ``readlink`` on every path walk; and ``FUSE_CAP_PARALLEL_DIROPS``
   when offered (libfuse's default, made explicit). pyfuse3's
   ``Include/fuse_common.pxd`` does not declare ``FUSE_CAP_CACHE_SYMLINKS``
   (fuse_common.h has it since libfuse 3.10), so the patch declares it.
3. ``pyfuse3.vsite_conn_want()``: the capability bits (``fuse_conn_info.want``)
   that init asked the kernel for, None before the kernel's init arrived, so
   vsite can tell at run time what was granted (docs/fs.md, "Symlink caching").

Every edit is an exact string match: each text replaced or anchored on must
occur exactly once (within its function where one is named), or this script
exits non-zero naming what it did not find, so a new pyfuse3 version is never
silently mis-patched. Each change carries a ``# vsite patch:`` comment. It also
deletes the sdist's pre-generated ``__init__.c``: the build must run Cython on
the patched source (a build without Cython then fails instead of compiling the
unpatched C).

    python tools/patch_pyfuse3.py .cache/pyfuse3/src/pyfuse3-3.5.0

The Makefile builds the patched tree with the local version label ``+vsite2``;
vsite/fs/pyfuse3_build.py recognises the patch level by that label.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

HANDLERS = Path("src/pyfuse3/handlers.pxi")
COMMON_PXD = Path("Include/fuse_common.pxd")
GENERATED_C = Path("src/pyfuse3/__init__.c")

READ = "cdef void fuse_read (fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,\n"
READDIRPLUS = "cdef void fuse_readdirplus (fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,\n"
INIT = "cdef void fuse_init (void *userdata, fuse_conn_info *conn):\n"

# The trailing comments mark the changed lines in the files themselves (LGPL-2.1 section 2a).
HANDLE_LINE = "    c.fh = fi.fh\n"
INODE_LINE = "    c.fh = fi.fh if fi.fh else ino  # vsite patch: the inode when there is no handle\n"

ACL_REQUEST = (
    "    if (operations.enable_acl and\n"
    "        conn.capable & FUSE_CAP_POSIX_ACL):\n"
    "        conn.want |= FUSE_CAP_POSIX_ACL\n"
)
CAPS_REQUEST = (
    "    # vsite patch: cache symlink targets (opt-in) and parallel dirops, when the kernel offers them\n"
    "    if (getattr(operations, 'enable_cache_symlinks', False) and\n"
    "        conn.capable & FUSE_CAP_CACHE_SYMLINKS):\n"
    "        conn.want |= FUSE_CAP_CACHE_SYMLINKS\n"
    "    if conn.capable & FUSE_CAP_PARALLEL_DIROPS:\n"
    "        conn.want |= FUSE_CAP_PARALLEL_DIROPS\n"
)
INIT_CALL = "    operations.init()\n"
RECORD_WANT = (
    "    global _vsite_conn_want  # vsite patch: what init asked for, for vsite_conn_want()\n"
    "    _vsite_conn_want = conn.want\n"
)
CONN_WANT_FUNCTION = (
    "_vsite_conn_want = None  # vsite patch: fuse_conn_info.want once the kernel's init arrived\n"
    "\n"
    "def vsite_conn_want():\n"
    "    '''vsite patch: the FUSE_CAP_* bits init asked the kernel for (conn.want), None before init.'''\n"
    "    return _vsite_conn_want\n"
    "\n"
)
LAST_CAP = "      FUSE_CAP_HANDLE_KILLPRIV\n"
CACHE_SYMLINKS_DECL = "      FUSE_CAP_CACHE_SYMLINKS  # vsite patch: in fuse_common.h since libfuse 3.10\n"


@dataclass(frozen=True)
class Edit:
    """Replace ``old`` by ``new``; ``old`` must occur exactly once (in function ``within``, if given)."""

    what: str
    old: str
    new: str
    within: str | None = None
    absent: str | None = None  # must not occur in the file before patching (already declared upstream?)


EDITS: dict[Path, tuple[Edit, ...]] = {
    HANDLERS: (
        Edit("vsite_conn_want()", INIT, CONN_WANT_FUNCTION + INIT, absent="vsite_conn_want"),
        Edit("read: the inode when the handle is 0", HANDLE_LINE, INODE_LINE, within=READ),
        Edit("readdirplus: the inode when the handle is 0", HANDLE_LINE, INODE_LINE, within=READDIRPLUS),
        Edit("init: request symlink caching and parallel dirops", ACL_REQUEST, ACL_REQUEST + CAPS_REQUEST,
             within=INIT),
        Edit("init: record conn.want", INIT_CALL, INIT_CALL + RECORD_WANT, within=INIT),
    ),
    COMMON_PXD: (
        Edit("declare FUSE_CAP_CACHE_SYMLINKS", LAST_CAP, LAST_CAP + CACHE_SYMLINKS_DECL,
             absent="FUSE_CAP_CACHE_SYMLINKS"),
    ),
}


class PatchError(Exception):
    """The source is not what this patch was written for."""


def _function_span(text: str, header: str) -> tuple[int, int]:
    """Where the top-level function defined by ``header`` starts and ends in ``text``."""
    if text.count(header) != 1:
        raise PatchError(f"expected exactly one {header.strip()!r}, found {text.count(header)}")
    start = text.index(header)
    # The function body ends where the next top-level definition starts.
    ends = (text.find(marker, start + 1) for marker in ("\ncdef ", "\nasync def ", "\ndef "))
    return start, min((i for i in ends if i > 0), default=len(text))


def _apply(text: str, edit: Edit) -> str:
    if edit.absent is not None and edit.absent in text:
        raise PatchError(f"{edit.what}: {edit.absent!r} is already there (patched before, or a newer pyfuse3?)")
    start, end = _function_span(text, edit.within) if edit.within else (0, len(text))
    region = text[start:end]
    if region.count(edit.old) != 1:
        where = f" in {edit.within.split('(')[0].strip()!r}" if edit.within else ""
        raise PatchError(f"{edit.what}: expected exactly one {edit.old.strip()!r}{where}, "
                         f"found {region.count(edit.old)}")
    return text[:start] + region.replace(edit.old, edit.new) + text[end:]


def patch_source(text: str, file: Path = HANDLERS) -> str:
    """``text`` (the sdist's ``file``, default handlers.pxi) with every edit of EDITS[file] applied."""
    for edit in EDITS[Path(file)]:
        text = _apply(text, edit)
    return text


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: {argv[0]} UNPACKED_PYFUSE3_SDIST", file=sys.stderr)
        return 2
    root = Path(argv[1])
    patched: dict[Path, str] = {}
    for file in EDITS:  # patch everything in memory first: all files or none
        try:
            patched[root / file] = patch_source((root / file).read_text(), file)
        except (OSError, PatchError) as exc:
            print(f"patch_pyfuse3: cannot patch {root / file}: {exc}", file=sys.stderr)
            return 1
    for path, text in patched.items():
        path.write_text(text)
    (root / GENERATED_C).unlink(missing_ok=True)
    edits = "; ".join(edit.what for file in EDITS for edit in EDITS[file])
    print(f"patch_pyfuse3: patched {root} ({edits})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

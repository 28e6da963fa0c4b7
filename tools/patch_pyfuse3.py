"""Patch an unpacked pyfuse3 sdist so that ``read`` and ``readdir`` get the inode when the handle is 0.

Why: vsite answers ``open``/``opendir`` with ENOSYS, after which Linux (>= 5.1)
stops sending open/release/opendir/releasedir for the mount and caches file
pages and directory listings (FOPEN_KEEP_CACHE / FOPEN_CACHE_DIR). Reads and
readdirs then arrive with file handle 0, and stock pyfuse3 passes handlers only
the handle. vsite's handles are its inode numbers, so handing over the inode
when the handle is 0 is all it needs (docs/fs.md, "Zero-message open").

The change is two lines of ``src/pyfuse3/handlers.pxi``, done by exact string
replacement: each replaced line must occur exactly once in its function, or
this script exits non-zero naming what it did not find, so a new pyfuse3
version is never silently mis-patched. It also deletes the sdist's
pre-generated ``__init__.c``: the build must run Cython on the patched source
(a build without Cython then fails instead of compiling the unpatched C).

    python tools/patch_pyfuse3.py .cache/pyfuse3/pyfuse3-3.5.0

The Makefile builds the patched tree with the local version label ``+vsite1``;
vsite/fs/operations.py recognises the patch by that label.
"""

from __future__ import annotations

import sys
from pathlib import Path

HANDLERS = Path("src/pyfuse3/handlers.pxi")
GENERATED_C = Path("src/pyfuse3/__init__.c")

OLD_LINE = "    c.fh = fi.fh\n"
# The trailing comment marks the changed line in the file itself (LGPL-2.1 section 2a).
NEW_LINE = "    c.fh = fi.fh if fi.fh else ino  # vsite patch: the inode when there is no handle\n"
# The functions whose handle line is replaced (their definition lines, verbatim).
FUNCTIONS = (
    "cdef void fuse_read (fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,\n",
    "cdef void fuse_readdirplus (fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,\n",
)


class PatchError(Exception):
    """The source is not what this patch was written for."""


def patch_source(text: str) -> str:
    """``text`` (handlers.pxi) with the handle line of each function in FUNCTIONS replaced."""
    for header in FUNCTIONS:
        if text.count(header) != 1:
            raise PatchError(f"expected exactly one {header.strip()!r}, found {text.count(header)}")
        start = text.index(header)
        # The function body ends where the next top-level definition starts.
        end = min((i for i in (text.find("\ncdef ", start + 1), text.find("\nasync def ", start + 1)) if i > 0),
                  default=len(text))
        body = text[start:end]
        if body.count(OLD_LINE) != 1:
            raise PatchError(f"expected exactly one {OLD_LINE.strip()!r} in {header.split('(')[0].strip()!r}, "
                             f"found {body.count(OLD_LINE)}")
        text = text[:start] + body.replace(OLD_LINE, NEW_LINE) + text[end:]
    return text


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: {argv[0]} UNPACKED_PYFUSE3_SDIST", file=sys.stderr)
        return 2
    root = Path(argv[1])
    handlers = root / HANDLERS
    try:
        handlers.write_text(patch_source(handlers.read_text()))
    except (OSError, PatchError) as exc:
        print(f"patch_pyfuse3: cannot patch {handlers}: {exc}", file=sys.stderr)
        return 1
    (root / GENERATED_C).unlink(missing_ok=True)
    print(f"patch_pyfuse3: patched {handlers} (read, readdirplus: inode when the handle is 0)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

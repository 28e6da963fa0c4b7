"""Sealing a store entry: read-only modes and one fixed mtime, so nothing writes through a view
and later changes show in a stat.

When an entry is complete, every directory (the entry's own included) gets
mode 0o555, every file 0o444, or 0o555 if it had an execute bit, and all of
them one mtime, the entry's ``sealed_ns`` (whole seconds, so filesystems with
coarse timestamps keep it). Views present subtrees of an entry as symlinks
into the store, so processes of an environment reach the entry directly:
without a write bit nobody who is not root can write a pyc beside a source,
unlink a file (``pip uninstall``) or edit one in place (root is kept out by
the view's read-only bind mount). Any change that does get made (by root, or
after a chmod) changes a mode or an mtime, so a single ``lstat`` of the path,
which the view does anyway when it resolves a name, shows it (:func:`intact`).
``vsite cache verify`` rehashes and checks the seal of every file and
directory (:func:`check_tree`). Only a deliberate forgery that restores
modes and mtimes escapes the cheap check; verify's hashes still catch it.

:func:`file_mode` is the mode a view *presents* (0o644/0o755, as uv installs);
:func:`sealed_mode` the one on disk.
"""

from __future__ import annotations

import contextlib
import os
import stat
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

DIR_MODE = 0o555
WRITE_BITS = 0o222


def seal_time() -> int:
    """A seal mtime: now, truncated to whole seconds."""
    return int(time.time()) * 1_000_000_000


def file_mode(st_mode: int) -> int:
    """Permission bits as uv installs them (and a view presents): 0o755 if any execute bit, else 0o644."""
    return 0o755 if st_mode & 0o111 else 0o644


def sealed_mode(st_mode: int) -> int:
    """Permission bits of a sealed file on disk: 0o555 if any execute bit, else 0o444."""
    return 0o555 if st_mode & 0o111 else 0o444


def seal_file(path: str | os.PathLike, sealed_ns: int) -> None:
    os.chmod(path, sealed_mode(os.lstat(path).st_mode))
    os.utime(path, ns=(sealed_ns, sealed_ns))


def seal_dir(path: str | os.PathLike, sealed_ns: int) -> None:
    os.chmod(path, DIR_MODE)
    os.utime(path, ns=(sealed_ns, sealed_ns))


def seal_tree(root: Path, sealed_ns: int, *, include_root: bool = True) -> None:
    """Seal everything under ``root``, files before their dirs; ``root`` itself too unless told.

    An unsealed root stays writable so that the tree can still be renamed into
    a new parent (rename(2) of a directory needs write permission on it).
    """
    for dirpath, _dirs, files in os.walk(root, topdown=False):
        for name in files:
            seal_file(os.path.join(dirpath, name), sealed_ns)
        if include_root or dirpath != str(root):
            seal_dir(dirpath, sealed_ns)


@contextlib.contextmanager
def opened(directory: str | os.PathLike, sealed_ns: int) -> Iterator[None]:
    """Make a sealed ``directory`` writable by its owner for the block, then seal it again (mode and mtime)."""
    os.chmod(directory, 0o755)
    try:
        yield
    finally:
        seal_dir(directory, sealed_ns)


def make_writable(root: str | os.PathLike) -> None:
    """Give every directory under ``root`` its owner's write bit, so the tree can be deleted."""
    root = os.fspath(root)
    if os.path.islink(root) or not os.path.isdir(root):
        return
    for dirpath, dirs, _files in os.walk(root):
        with contextlib.suppress(OSError):
            os.chmod(dirpath, stat.S_IMODE(os.lstat(dirpath).st_mode) | stat.S_IRWXU)
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(dirpath, d))]


def intact(st: os.stat_result, sealed_ns: int) -> bool:
    """True if a stat of a sealed file or dir shows no change (no seal recorded: only no symlink).

    Changed means: another mtime than the seal's, not a regular file or
    directory (a symlink), or any write bit set.
    """
    if not sealed_ns:
        return not stat.S_ISLNK(st.st_mode)
    return (
        st.st_mtime_ns == sealed_ns
        and (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode))
        and not st.st_mode & WRITE_BITS
    )


def check_tree(root: Path, sealed_ns: int, *, base: Path | None = None) -> str | None:
    """Why the sealed tree at ``root`` was changed (first finding), or None.

    Paths in the finding are relative to ``base`` (default: ``root``'s parent).
    """
    if not os.path.lexists(root):
        return None
    base = base if base is not None else root.parent
    for dirpath, dirs, files in os.walk(root):
        for name in [".", *dirs, *files]:
            path = os.path.normpath(os.path.join(dirpath, name))
            st = os.lstat(path)
            if not intact(st, sealed_ns):
                rel = os.path.relpath(path, base)
                rel = "the entry directory" if rel == "." else rel
                if stat.S_ISLNK(st.st_mode):
                    return f"symlink {rel}"
                if st.st_mode & 0o022:
                    return f"{rel} is writable by others"
                if st.st_mode & WRITE_BITS:
                    return f"{rel} is writable (a sealed entry is read-only)"
                return f"{rel} changed after fetch (mtime)"
    return None


def top_level_change(
    entry: str | os.PathLike, top_level: Iterable[str], sealed_ns: int, *, own_dir: bool = False
) -> str | None:
    """The mount-time check of an entry: the first of ``site/`` and its top-level names (with
    ``own_dir``, the entry's own directory first) whose lstat shows a change since the seal,
    relative to the entry (``site/rich``, ``.``), or None. One lstat each: O(names), not O(files)."""
    site = os.path.join(entry, "site")
    paths = [os.fspath(entry)] if own_dir else []
    paths += [site, *(os.path.join(site, name) for name in top_level)]
    for path in paths:
        try:
            ok = intact(os.lstat(path), sealed_ns)
        except OSError:
            ok = False
        if not ok:
            return os.path.relpath(path, entry)
    return None

"""Sealing a store entry: fixed modes and one fixed mtime, so later changes show in a stat.

When an entry (or a bytecode mirror) is complete, every directory gets mode
0o755, every file 0o644 or 0o755, and all of them one mtime, the entry's
``sealed_ns`` (whole seconds, so filesystems with coarse timestamps keep it).
Nobody but the owner can then write the entry (whatever the umask was), and
any later write, replacement, rename into a directory or ``touch`` changes an
mtime. That makes tampering visible to a single ``lstat`` of the file, which
the view does anyway when it resolves a name, so the check costs nothing at
mount time and nothing per file (:func:`intact`). ``vsite cache verify``
rehashes as before and also checks the seal of every file and directory
(:func:`check_tree`). Only a deliberate forgery that restores mtimes escapes
the cheap check; verify's hashes still catch it.
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

DIR_MODE = 0o755


def seal_time() -> int:
    """A seal mtime: now, truncated to whole seconds."""
    return int(time.time()) * 1_000_000_000


def file_mode(st_mode: int) -> int:
    """Permission bits as uv installs them (and the store keeps): 0o755 if any execute bit, else 0o644."""
    return 0o755 if st_mode & 0o111 else 0o644


def seal_tree(root: Path, sealed_ns: int) -> None:
    """Give everything under ``root`` (and ``root``) the sealed modes and mtime, files before their dirs."""
    times = (sealed_ns, sealed_ns)
    for dirpath, _dirs, files in os.walk(root, topdown=False):
        for name in files:
            path = os.path.join(dirpath, name)
            os.chmod(path, file_mode(os.lstat(path).st_mode))
            os.utime(path, ns=times)
        os.chmod(dirpath, DIR_MODE)
        os.utime(dirpath, ns=times)


def intact(st: os.stat_result, sealed_ns: int) -> bool:
    """True if a stat of a sealed file or dir shows no change (no seal recorded: nothing to check)."""
    if not sealed_ns:
        return not stat.S_ISLNK(st.st_mode)
    return (
        st.st_mtime_ns == sealed_ns
        and (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode))
        and not st.st_mode & 0o022
    )


def check_tree(root: Path, sealed_ns: int) -> str | None:
    """Why the sealed tree at ``root`` was changed (first finding), or None."""
    if not os.path.lexists(root):
        return None
    for dirpath, dirs, files in os.walk(root):
        for name in [".", *dirs, *files]:
            path = os.path.normpath(os.path.join(dirpath, name))
            st = os.lstat(path)
            if not intact(st, sealed_ns):
                rel = os.path.relpath(path, root.parent)
                if stat.S_ISLNK(st.st_mode):
                    return f"symlink {rel}"
                if st.st_mode & 0o022:
                    return f"{rel} is writable by others"
                return f"{rel} changed after fetch (mtime)"
    return None

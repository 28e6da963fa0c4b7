"""Lockfile reading: uv.lock and PEP 751 pylock.toml into typed, immutable records.

No FUSE or network here; :func:`load_lock` reads one file and says in one line
what is wrong with it. The record classes load lazily (PEP 562): the warm plan
cache only needs :func:`read_lock_bytes` and should not pay for defining them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vsite.errors import LockError

if TYPE_CHECKING:
    from vsite.lock.model import Lock, PyLock, UvLock

__all__ = ["Lock", "PyLock", "UvLock", "load_lock", "parse_lock", "read_lock_bytes"]

_PYLOCK_NAME = re.compile(r"^pylock\.([^.]+\.)?toml$")


def __getattr__(name: str) -> Any:
    if name in ("Lock", "PyLock", "UvLock"):
        from vsite.lock import model

        return getattr(model, name)
    raise AttributeError(f"module 'vsite.lock' has no attribute {name!r}")


def read_lock_bytes(path: str | Path) -> bytes:
    """The lock's bytes, or a LockError saying why they cannot be read."""
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise LockError(f"lock file not found: {path}") from None
    except IsADirectoryError:
        raise LockError(f"lock path is a directory, not a lock file: {path}") from None
    except OSError as exc:
        raise LockError(f"cannot read lock file {path}: {exc.strerror}") from None


def load_lock(path: str | Path) -> "Lock":
    """Read a uv.lock or pylock.toml, choosing the format by file name, else by content."""
    return parse_lock(Path(path), read_lock_bytes(path))


def parse_lock(path: Path, data: bytes) -> "Lock":
    """Parse lock bytes already read from ``path`` (so a caller can hash the same bytes)."""
    from vsite.lock.fields import read_toml
    from vsite.lock.pylock import parse_pylock
    from vsite.lock.uv import parse_uv_lock

    if path.name == "uv.lock":
        return parse_uv_lock(path, data)
    if _PYLOCK_NAME.match(path.name):
        return parse_pylock(path, data)
    # Unusual name: look at the first keys instead of guessing from the suffix.
    head = data[:4096]
    if re.search(rb"^lock-version\s*=", head, re.M):
        return parse_pylock(path, data)
    if re.search(rb"^version\s*=", head, re.M):
        return parse_uv_lock(path, data)
    read_toml(path, data)  # say "not TOML" when that is the problem
    raise LockError(f"{path}: not a uv.lock or pylock.toml (no `version` or `lock-version` key)")

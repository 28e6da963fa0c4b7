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
        raise LockError(f"lock path is a directory, not a lock file: {path}; {_lock_hint(Path(path) / 'x')}") from None
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

    not_a_lock = _not_a_lock(path, data)
    if not_a_lock:
        raise LockError(not_a_lock)
    if path.name == "uv.lock":
        return parse_uv_lock(path, data)
    if _PYLOCK_NAME.match(path.name):
        return parse_pylock(path, data)
    # Unusual name: look at the top-level keys (before the first table) instead of the suffix.
    head = _top_level(data)
    if re.search(rb"^lock-version\s*=", head, re.M):
        return parse_pylock(path, data)
    if re.search(rb"^version\s*=", head, re.M):
        return parse_uv_lock(path, data)
    read_toml(path, data)  # say "not TOML" when that is the problem
    raise LockError(f"{path}: not a uv.lock or pylock.toml (no `version` or `lock-version` key)")


def _top_level(data: bytes) -> bytes:
    """The start of a TOML file up to its first table header (the top-level keys)."""
    head = data[:4096]
    header = re.search(rb"^\s*\[", head, re.M)
    return head[: header.start()] if header else head


def _lock_hint(path: Path) -> str:
    """What to give instead of ``path``: a lockfile next to it, or how to make one."""
    folder = path.parent
    if (folder / "uv.lock").is_file():
        return f"use {folder / 'uv.lock'}"
    pylocks = sorted(p for p in folder.glob("pylock*.toml") if _PYLOCK_NAME.match(p.name))
    if pylocks:
        return f"use {pylocks[0]}"
    if (folder / "pyproject.toml").is_file():
        return f"run `uv lock` in {folder} and give {folder / 'uv.lock'}"
    return "give a uv.lock (`uv lock` in a project) or a pylock.toml"


# Files newcomers give instead of a lock: name pattern -> what the file is.
_OTHER_FILES = [
    (re.compile(r"^pyproject\.toml$"), "a project file (pyproject.toml)"),
    (re.compile(r"^(poetry|pdm|Pipfile|conda|pixi)\.lock$|^Pipfile$"), "another tool's lockfile"),
    (re.compile(r"^(setup\.(py|cfg)|environment\.ya?ml)$"), "a project file"),
]


def _not_a_lock(path: Path, data: bytes) -> str | None:
    """One line saying ``path`` is a known kind of file that is not a lockfile, and what to give instead."""
    name = path.name
    what = "not a lockfile (vsite reads uv.lock or pylock.toml)"
    if name.endswith((".txt", ".in")):
        hint = _lock_hint(path)
        if hint.startswith("give"):
            hint = f"`uv pip compile {path} -o pylock.toml` writes one"
        return f"{path} is a requirements file, {what}: {hint}"
    for pattern, kind in _OTHER_FILES:
        if pattern.match(name):
            return f"{path} is {kind}, {what}: {_lock_hint(path)}"
    if name != "uv.lock" and not _PYLOCK_NAME.match(name):
        tables = re.findall(rb"^\s*\[+\s*([A-Za-z0-9_.-]+)", data[:65536], re.M)
        project = any(t in (b"project", b"build-system") or t.startswith(b"tool.") for t in tables)
        if project and not re.search(rb"^(lock-)?version\s*=", _top_level(data), re.M):
            return f"{path} is a project file (pyproject.toml), {what}: {_lock_hint(path)}"
    return None

"""Where vsite keeps its state: the local store (cache), the shared stores after it, per-user runtime files."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """The store root: ``$VSITE_CACHE_DIR``, else ``$XDG_CACHE_HOME/vsite``, else ``~/.cache/vsite``."""
    explicit = os.environ.get("VSITE_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser().absolute()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return (base / "vsite").absolute()


def store_path(value: str | None = None) -> list[Path]:
    """The read-only stores consulted after the local one: ``$VSITE_STORE_PATH`` (or ``value``),
    colon-separated, in order; empty entries are skipped, ``~`` is expanded, paths made absolute."""
    text = os.environ.get("VSITE_STORE_PATH", "") if value is None else value
    out: list[Path] = []
    for part in text.split(":"):
        if part.strip():
            path = Path(part.strip()).expanduser().absolute()
            if path not in out:
                out.append(path)
    return out


def runtime_dir() -> Path:
    """Per-user runtime state (mount registry, shared mounts, leases).

    ``$VSITE_RUNTIME_DIR``, else ``$XDG_RUNTIME_DIR/vsite``, else ``/tmp/vsite-<uid>``.
    """
    explicit = os.environ.get("VSITE_RUNTIME_DIR")
    if explicit:
        return Path(explicit).expanduser().absolute()
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and os.path.isdir(xdg):
        return Path(xdg) / "vsite"
    return Path(f"/tmp/vsite-{os.getuid()}")


def write_cache_json(path: Path, data: object) -> None:
    """Write a cache file atomically (temp + rename), best effort.

    Readers never see half a file; a read-only or full cache only costs
    recomputing the value next time, so write errors are ignored.
    """
    from vsite.fileio import write_json_atomic

    try:
        write_json_atomic(path, data)
    except OSError:
        pass

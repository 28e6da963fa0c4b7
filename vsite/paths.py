"""Where vsite keeps its state: the local store (cache), the shared stores after it, per-user runtime files."""

from __future__ import annotations

import os

TYPE_CHECKING = False  # as typing's; pathlib is imported where a Path is made (vsite.fs.forkclient runs
if TYPE_CHECKING:     # runtime_root() before anything needs pathlib)
    from pathlib import Path


def cache_dir() -> Path:
    """The store root: ``$VSITE_CACHE_DIR``, else ``$XDG_CACHE_HOME/vsite``, else ``~/.cache/vsite``."""
    from pathlib import Path

    explicit = os.environ.get("VSITE_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser().absolute()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return (base / "vsite").absolute()


def store_path(value: str | None = None) -> list[Path]:
    """The read-only stores consulted after the local one: ``$VSITE_STORE_PATH`` (or ``value``),
    colon-separated, in order; empty entries are skipped, ``~`` is expanded, paths made absolute."""
    from pathlib import Path

    text = os.environ.get("VSITE_STORE_PATH", "") if value is None else value
    out: list[Path] = []
    for part in text.split(":"):
        if part.strip():
            path = Path(part.strip()).expanduser().absolute()
            if path not in out:
                out.append(path)
    return out


def runtime_dir() -> Path:
    """Per-user runtime state (mount registry, shared mounts, leases, the fork server)."""
    from pathlib import Path

    return Path(runtime_root())


def runtime_root() -> str:
    """:func:`runtime_dir` as a string, with os.path only (the fork server's client runs before
    anything imports pathlib): ``$VSITE_RUNTIME_DIR``, else ``$XDG_RUNTIME_DIR/vsite``, else
    ``/tmp/vsite-<uid>``."""
    explicit = os.environ.get("VSITE_RUNTIME_DIR")
    if explicit:  # as Path(explicit).expanduser().absolute(): no ".." resolved
        path = os.path.expanduser(explicit)
        if not path.startswith("/"):
            path = os.path.join(os.getcwd(), path)
        return "/" + "/".join(part for part in path.split("/") if part not in ("", "."))
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and os.path.isdir(xdg):
        return os.path.join(xdg, "vsite")
    return f"/tmp/vsite-{os.getuid()}"


# The cache dir's memos: values computed once and kept beside the store (a lock's plan for one
# interpreter, an interpreter's probe, a set of entries' conflict report). Any of them may go at any
# time (the next use recomputes it); `vsite cache gc` drops those unused within --max-age.
MEMO_KINDS = ("plans", "targets", "conflicts")


def memo_path(kind: str, name: str) -> Path:
    """The memo ``name`` of ``kind`` (one of MEMO_KINDS) in the cache dir."""
    return cache_dir() / kind / f"{name}.json"


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

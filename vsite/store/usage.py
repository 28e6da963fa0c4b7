"""Who uses which store entries: lock usage records and live-mount pins, for ``cache ls``/``gc``.

Each fetch writes ``usage/locks/<plan key>.json`` (lock path and sha, the
entries' keys, time) *before* it fetches, so a concurrent ``gc`` never drops
what a fetch is about to use. A mount calls :func:`pin` with its daemon pid;
``gc`` keeps every entry pinned by a live pid and removes pins of dead ones.
Files are written tmp + rename, so readers never see half a record.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from vsite.store.atomic import pid_alive


@dataclass(frozen=True)
class Usage:
    """One record: a lock (or a mount, when ``pid`` is set) that uses ``keys``."""

    key: str
    keys: tuple[str, ...]
    time: float
    lock_path: str = ""
    lock_sha256: str = ""
    pid: int | None = None


def _write(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def _read_all(directory: Path) -> list[Usage]:
    out = []
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return []
    for name in names:
        if not name.endswith(".json") or name.startswith("."):
            continue
        try:
            data = json.loads((directory / name).read_text())
            data["keys"] = tuple(data["keys"])
            out.append(Usage(**data))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a record we cannot read protects nothing
    return out


def _store_usage_dir(store) -> Path:
    return store.layout.usage_dir()


def record_lock(store, *, key: str, lock_path: str, lock_sha256: str, keys: list[str]) -> None:
    """Note that the lock with plan ``key`` uses ``keys`` (entry keys), now."""
    _write(
        _store_usage_dir(store) / "locks" / f"{key}.json",
        {"key": key, "keys": sorted(set(keys)), "time": time.time(),
         "lock_path": lock_path, "lock_sha256": lock_sha256},
    )


def pin(store, key: str, keys: list[str], pid: int) -> None:
    """Keep ``keys`` from gc while process ``pid`` (a mount daemon) lives."""
    _write(
        _store_usage_dir(store) / "pins" / f"{key}-{pid}.json",
        {"key": key, "keys": sorted(set(keys)), "time": time.time(), "pid": pid},
    )


def unpin(store, key: str, pid: int) -> None:
    """Drop the pin :func:`pin` made (a missing pin is fine: unmount after a crash)."""
    try:
        os.unlink(_store_usage_dir(store) / "pins" / f"{key}-{pid}.json")
    except FileNotFoundError:
        pass


def lock_records(store) -> list[Usage]:
    return _read_all(_store_usage_dir(store) / "locks")


def live_pins(store, *, prune: bool = False) -> list[Usage]:
    """Pins whose pid still runs; with ``prune``, delete the others."""
    pins_dir = _store_usage_dir(store) / "pins"
    live = []
    for usage in _read_all(pins_dir):
        if usage.pid is not None and pid_alive(usage.pid):
            live.append(usage)
        elif prune:
            unpin(store, usage.key, usage.pid or 0)
    return live


def drop_lock_record(store, key: str) -> None:
    try:
        os.unlink(_store_usage_dir(store) / "locks" / f"{key}.json")
    except FileNotFoundError:
        pass

"""Who uses which store entries: lock usage records and live-mount pins, for ``cache ls``/``gc``.

Each fetch writes ``usage/locks/<plan key>.json`` (lock path and sha, the
entries' keys, time) *before* it fetches, so a concurrent ``gc`` never drops
what a fetch is about to use. A mount calls :func:`pin` with its daemon pid;
``gc`` keeps every entry pinned by a live pid and removes pins of dead ones.
Files are written tmp + rename, so readers never see half a record.
Functions take the store (anything with a ``layout``: vsite.store.layout).

A store this user cannot write (a shared store, one owned by root, a
read-only filesystem) is used as it is: records and pins are skipped, since
only the store's owner can gc it, and does so on purpose. Shared stores of the
search path (vsite.store.search) are never written by a node using them at
all: their gc keeps what their lock records (written by ``vsite fetch --store``)
name within ``--max-age``.

Pins carry the host they were made on (:func:`vsite.store.atomic.host_id`):
a store on a filesystem several hosts share may hold pins of all of them, and
a pid can only be checked on its own host. A pin of another host counts as
live until it is older than gc's ``--max-age``; pins made before hosts were
recorded count as this host's.
"""

from __future__ import annotations

import errno
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from vsite.fileio import write_json_atomic
from vsite.store.atomic import host_id, pid_alive


@dataclass(frozen=True)
class Usage:
    """One record: a lock (or a mount, when ``pid`` is set) that uses ``keys``."""

    key: str
    keys: tuple[str, ...]
    time: float
    lock_path: str = ""
    lock_sha256: str = ""
    pid: int | None = None
    host: str = ""  # pins: the host the pid runs on ("": this one, a pin older than host ids)


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


NOT_OURS = (errno.EACCES, errno.EPERM, errno.EROFS)  # a store this user may read but not write


def _note(path: Path, data: dict) -> None:
    """Write one record; skipped (not an error) where the store is read-only to this user."""
    try:
        write_json_atomic(path, data)
    except OSError as exc:
        if exc.errno not in NOT_OURS:
            raise


def record_lock(store, *, key: str, lock_path: str, lock_sha256: str, keys: list[str]) -> None:
    """Note that the lock with plan ``key`` uses ``keys`` (entry keys), now."""
    _note(
        store.layout.lock_record(key),
        {"key": key, "keys": sorted(set(keys)), "time": time.time(),
         "lock_path": lock_path, "lock_sha256": lock_sha256},
    )


def pin(store, key: str, keys: list[str], pid: int) -> None:
    """Keep ``keys`` from gc while process ``pid`` (a mount daemon) of this host lives."""
    host = host_id()
    _note(
        store.layout.pin_file(key, pid, host),
        {"key": key, "keys": sorted(set(keys)), "time": time.time(), "pid": pid, "host": host},
    )


def unpin(store, key: str, pid: int, host: str | None = None) -> None:
    """Drop the pin :func:`pin` made on ``host`` (default: this one); a missing pin is fine
    (unmount after a crash)."""
    for path in {store.layout.pin_file(key, pid, host if host is not None else host_id()),
                 store.layout.pin_file(key, pid)}:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def lock_records(store) -> list[Usage]:
    return _read_all(store.layout.lock_records_dir())


def live_pins(store, *, prune: bool = False, horizon: float | None = None) -> list[Usage]:
    """Pins whose pid still runs on this host, and pins of other hosts made after ``horizon``
    (a time; None: all of them); with ``prune``, delete the others."""
    live = []
    here = host_id()
    for usage in _read_all(store.layout.pins_dir()):
        if usage.host and usage.host != here:
            alive = horizon is None or usage.time >= horizon  # its pid cannot be checked here
        else:
            alive = usage.pid is not None and pid_alive(usage.pid)
        if alive:
            live.append(usage)
        elif prune:
            unpin(store, usage.key, usage.pid or 0, usage.host)
    return live


def drop_lock_record(store, key: str) -> None:
    try:
        os.unlink(store.layout.lock_record(key))
    except FileNotFoundError:
        pass

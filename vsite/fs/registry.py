"""The mount registry: one JSON record per live mount under ``runtime_dir()/mounts``.

A record says what is mounted where (lock, plan key, wheels) and by which
daemon; the daemon writes it once the mount answers and removes it when it
ends. Next to it the daemon publishes its request counters (``.stats.json``,
rewritten at most once a second while requests arrive) and keeps its log
(``.log``). ``vsite status`` and ``vsite unmount`` read these files and the
kernel's mount table; nothing here talks to a daemon, so a dead or hung daemon
cannot hang them.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from vsite.fileio import write_json_atomic
from vsite.paths import runtime_dir

FSTYPE = "fuse.vsite"


@dataclass
class MountRecord:
    """What ``vsite status`` shows about one mount."""

    mountpoint: str
    lock: str
    plan_key: str
    packages: int
    wheels: list[str] = field(default_factory=list)  # store entry keys (wheel sha256) of the view's packages
    venv: bool = False
    conflicts: list[str] = field(default_factory=list)
    stores: dict[str, int] = field(default_factory=dict)  # store root -> entries the view takes from it
    pid: int = 0
    pid_start: int = 0  # the daemon's start time in clock ticks since boot (guards pid reuse)
    started: float = 0.0

    @classmethod
    def from_json(cls, data: dict) -> "MountRecord":
        if "mountpoint" not in data and "target" in data:  # written before the field was renamed
            data = {**data, "mountpoint": data["target"]}
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


def registry_dir() -> Path:
    return runtime_dir() / "mounts"


def canonical_mountpoint(mountpoint: str | os.PathLike) -> str:
    """The absolute path of a mount point, resolved without touching it (it may be dead)."""
    path = os.path.abspath(os.fspath(mountpoint))
    parent, name = os.path.split(path)
    return os.path.join(os.path.realpath(parent), name) if name else path


def _file_stem(mountpoint: str) -> str:
    """The name of a mount's registry files: a hash of its canonical path."""
    return hashlib.sha256(canonical_mountpoint(mountpoint).encode()).hexdigest()[:16]


def record_path(mountpoint: str) -> Path:
    return registry_dir() / f"{_file_stem(mountpoint)}.json"


def stats_path(mountpoint: str) -> Path:
    return registry_dir() / f"{_file_stem(mountpoint)}.stats.json"


def log_path(mountpoint: str) -> Path:
    return registry_dir() / f"{_file_stem(mountpoint)}.log"


def _write_json(path: Path, data: dict) -> None:
    """Write atomically so readers never see half a file."""
    write_json_atomic(path, data, indent=1, sort_keys=True)


def write_record(record: MountRecord) -> None:
    _write_json(record_path(record.mountpoint), asdict(record))


def write_stats(mountpoint: str, stats: dict) -> None:
    _write_json(stats_path(mountpoint), stats)


def read_record(mountpoint: str) -> MountRecord | None:
    try:
        return MountRecord.from_json(json.loads(record_path(mountpoint).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def read_stats(mountpoint: str) -> dict:
    try:
        return json.loads(stats_path(mountpoint).read_text())
    except (OSError, ValueError):
        return {}


def records() -> list[MountRecord]:
    """Every record, sorted by mount point; unreadable files are skipped."""
    found = []
    for path in sorted(registry_dir().glob("*.json")):
        if path.name.endswith(".stats.json"):
            continue
        try:
            found.append(MountRecord.from_json(json.loads(path.read_text())))
        except (OSError, ValueError, TypeError):
            continue
    return sorted(found, key=lambda r: r.mountpoint)


def remove(mountpoint: str, *, keep_log: bool = False) -> None:
    """Forget a mount: its record and stats (and log unless asked to keep it)."""
    paths = [record_path(mountpoint), stats_path(mountpoint)]
    if not keep_log:
        paths.append(log_path(mountpoint))
    for path in paths:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def _unescape(field_: str) -> str:
    """Undo mountinfo's octal escapes (``\\040`` for a space, also tab, newline, backslash)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field_)


def _mount_table() -> list[tuple[str, str]]:
    """(mount point, filesystem type) for every mount this process sees, in mount order."""
    table = []
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as lines:
        for line in lines:
            fields = line.split()
            table.append((_unescape(fields[4]), fields[fields.index("-") + 1]))
    return table


def mount_fstype(mountpoint: str) -> str | None:
    """The filesystem type mounted at exactly ``mountpoint`` (the top-most one), or None."""
    path = canonical_mountpoint(mountpoint)
    found = [fstype for point, fstype in _mount_table() if point == path]
    return found[-1] if found else None


def vsite_mounts() -> list[str]:
    """Mount points of every vsite filesystem in this mount namespace."""
    return [point for point, fstype in _mount_table() if fstype == FSTYPE]


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (state first), or None."""
    if pid <= 0:
        return None
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as proc:
            return proc.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def pid_alive(pid: int) -> bool:
    """True if a process with this pid exists (zombies count as dead)."""
    fields = _proc_stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def parent_pid(pid: int) -> int:
    """The parent of ``pid``, 0 if it does not exist."""
    fields = _proc_stat(pid)
    return int(fields[1]) if fields else 0


def process_start(pid: int) -> int:
    """When ``pid`` started (clock ticks since boot), 0 if it does not exist."""
    fields = _proc_stat(pid)
    return int(fields[19]) if fields else 0


def daemon_alive(record: MountRecord) -> bool:
    """True if the record's daemon still runs (not just some process reusing its pid)."""
    if not pid_alive(record.pid):
        return False
    return not record.pid_start or process_start(record.pid) == record.pid_start

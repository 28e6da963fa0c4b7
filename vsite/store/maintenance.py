"""Keeping the store: list entries, verify them, collect garbage (``vsite cache ls/verify/gc``)."""

from __future__ import annotations

import hashlib
import os
import stat
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from vsite.fileio import copy_hashing
from vsite.store import usage
from vsite.store.atomic import clean_debris, flocked, withdraw, work_dir
from vsite.store.index import EntrySummary, read_files, read_summary, record_hash
from vsite.store.layout import INDEX_FILES, SCHEMES, StoreLayout
from vsite.store.seal import check_tree as check_seal


@dataclass(frozen=True)
class EntryInfo:
    """One entry as ``vsite cache ls`` shows it."""

    key: str
    summary: EntrySummary
    disk_size: int
    locks: tuple[str, ...]
    cache_tags: tuple[str, ...]


def keys(layout: StoreLayout) -> list[str]:
    """Keys of all complete entries."""
    wheels = layout.wheels_dir()
    try:
        names = sorted(os.listdir(wheels))
    except FileNotFoundError:
        return []
    return [n for n in names if (wheels / n / "entry.json").is_file()]


def entries(store) -> list[EntryInfo]:
    """Every entry with its disk size, the locks that used it and its compiled tags."""
    users: dict[str, list[str]] = {}
    for rec in usage.lock_records(store):
        for k in rec.keys:
            users.setdefault(k, []).append(rec.lock_path)
    out = []
    for key in keys(store.layout):
        entry = store.layout.wheel_dir(key)
        summary = read_summary(entry)
        out.append(
            EntryInfo(
                key=key,
                summary=summary,
                disk_size=sum(f.size for f in read_files(entry)),
                locks=tuple(sorted(set(users.get(key, ())))),
                cache_tags=tuple(sorted(summary.bytecode)),
            )
        )
    return out


def verify(layout: StoreLayout, which: Iterable[str] | None = None) -> list[tuple[str, str]]:
    """Rehash entries and check their seals and bytecode (default: all); ``(key, reason)`` per corrupt one."""
    problems = []
    for key in sorted(which) if which is not None else keys(layout):
        reason = verify_entry(layout.wheel_dir(key), key)
        if reason:
            problems.append((key, reason))
    return problems


def verify_entry(entry: Path, key: str) -> str | None:
    """Why the entry at ``entry`` is not what was fetched as ``key``, or None.

    Every file of ``files.json`` must be there with its size and hash;
    nothing else may be, except the pycs compiled for the tags the summary
    lists (each an unchecked-hash pyc of an existing source, see
    :func:`vsite.store.bytecode.check_pyc`; a compiled pyc replaces a pyc of
    the same name the wheel ships); every file and dir must be sealed.
    """
    from vsite.store.bytecode import check_pyc

    try:
        summary = read_summary(entry)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"unreadable index ({exc.__class__.__name__})"
    if summary.sha256 != key:
        return "entry.json names another wheel"
    pycs: list[tuple[str, str]] = []  # (site-relative path, tag) of compiled pycs to check
    why = check_files(entry, summary.bytecode, pycs)
    if why:
        return why
    try:
        changed = check_seal(entry, summary.sealed_ns, base=entry)
    except OSError as exc:
        return f"entry unreadable ({exc.strerror})"
    if changed:
        return changed
    for rel, tag in sorted(pycs):
        stale = check_pyc(entry / "site", rel, tag)
        if stale:
            return stale
    return None


def check_files(entry: Path, tags: tuple[str, ...], pycs: list[tuple[str, str]] | None = None) -> str | None:
    """Why the files of ``entry`` are not those of its ``files.json``, or None: each one there with
    its size and hash, nothing else but pycs compiled for ``tags`` (added to ``pycs``, for the
    caller to check). The seal is not looked at (an entry being made has none yet)."""
    from vsite.store.bytecode import is_compiled_name

    try:
        records = read_files(entry)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"unreadable index ({exc.__class__.__name__})"
    pycs = [] if pycs is None else pycs
    expected = {(r.scheme, r.path) for r in records}
    for r in records:
        path = entry / r.scheme / r.path
        compiled = r.scheme == "site" and is_compiled_name(r.path, tags)
        try:
            if path.is_symlink() or not path.is_file():
                return f"{r.scheme}/{r.path} missing or not a regular file"
            matches = path.stat().st_size == r.size and _record_hash(path) == r.hash
        except OSError as exc:
            return f"{r.scheme}/{r.path} unreadable ({exc.strerror})"
        if matches:
            continue
        if compiled:
            pycs.append((r.path, _tag_of(r.path, tags)))  # the store's pyc replaced the wheel's
        elif path.stat().st_size != r.size:
            return f"{r.scheme}/{r.path} has the wrong size"
        else:
            return f"{r.scheme}/{r.path} has the wrong hash"
    for name in sorted(os.listdir(entry)):
        if name not in INDEX_FILES and not (name in SCHEMES and not os.path.islink(entry / name)):
            return f"unexpected file {name}"
    for scheme in SCHEMES:
        base = entry / scheme
        for dirpath, dirs, files in os.walk(base):
            for name in files + [d for d in dirs if os.path.islink(os.path.join(dirpath, d))]:
                rel = Path(dirpath, name).relative_to(base).as_posix()
                if (scheme, rel) in expected:
                    continue
                if scheme == "site" and is_compiled_name(rel, tags) and not os.path.islink(os.path.join(dirpath, name)):
                    pycs.append((rel, _tag_of(rel, tags)))
                    continue
                return f"unexpected file {scheme}/{rel}"
    return None


def _tag_of(rel: str, tags: tuple[str, ...]) -> str:
    name = rel.rpartition("/")[2]
    return next(tag for tag in tags if name.endswith(f".{tag}.pyc"))


def _record_hash(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        copy_hashing(f, None, sha)
    return record_hash(sha.digest())


def gc(store, *, max_age_days: float = 30.0, dry_run: bool = False, corrupt: bool = False) -> list[tuple[str, str]]:
    """Drop entries no lock used within ``max_age_days`` and no live mount pins (a pin of
    another host, whose pid cannot be checked here, counts while younger than ``max_age_days``).

    With ``corrupt``, also drop entries that fail :func:`verify` (unless
    pinned: a live mount keeps what it has). Also removes stale usage
    records, dead pins, staged parts and work dirs of dead fetches. Returns
    ``(key, "name version")`` of each dropped entry.
    """
    layout: StoreLayout = store.layout
    clean_debris(layout.tmp_dir())
    if not dry_run:
        clean_staged(layout)
    horizon = time.time() - max_age_days * 86400
    keep: set[str] = set()
    for rec in usage.lock_records(store):
        if rec.time >= horizon:
            keep.update(rec.keys)
        elif not dry_run:
            usage.drop_lock_record(store, rec.key)
    pinned: set[str] = set()
    for pin in usage.live_pins(store, prune=not dry_run, horizon=horizon):
        pinned.update(pin.keys)
    if corrupt:
        keep -= {key for key, _ in verify(layout)}
    keep |= pinned
    dropped = []
    wheels = layout.wheels_dir()
    names = sorted(os.listdir(wheels)) if wheels.is_dir() else []
    for key in names:
        if key in keep:
            continue
        try:
            summary = read_summary(layout.wheel_dir(key))
            label = f"{summary.name} {summary.version}"
        except (OSError, ValueError, KeyError, TypeError):
            label = "(incomplete entry)"
        dropped.append((key, label))
        if not dry_run:
            drop(layout, key)
    return dropped


def drop_memos(root: Path, *, max_age_days: float = 30.0, dry_run: bool = False) -> int:
    """Remove the memos under ``root`` (vsite.paths.MEMO_KINDS) nothing read or wrote within
    ``max_age_days``; returns how many. A lock's plan for one interpreter (~100 kB for a large
    lock) is written once per version of the lock: a fleet whose lock changes with every commit
    would keep them all. Last use is the later of mtime and atime (a read moves atime at least
    daily under relatime; under noatime a memo in daily use is dropped at the horizon and
    recomputed once, in milliseconds)."""
    from vsite.paths import MEMO_KINDS

    horizon = time.time() - max_age_days * 86400
    dropped = 0
    for kind in MEMO_KINDS:
        try:
            names = os.listdir(root / kind)
        except OSError:
            continue
        for name in names:
            path = root / kind / name
            try:
                st = os.lstat(path)
                if not stat.S_ISREG(st.st_mode) or max(st.st_atime, st.st_mtime) >= horizon:
                    continue
                if not dry_run:
                    os.unlink(path)
            except OSError:
                continue  # gone (another gc), or not ours to remove: memos are best effort both ways
            dropped += 1
    return dropped


def clean_staged(layout: StoreLayout) -> None:
    """Withdraw staged parts (of killed fetches; a running fetch just redoes what it loses)."""
    root = layout.staged_root()
    names = os.listdir(root) if root.is_dir() else []
    withdraw(layout, [layout.staged_dir(key) / part for key in names for part in os.listdir(layout.staged_dir(key))])


def drop(layout: StoreLayout, key: str) -> None:
    """Remove an entry: renamed out under its lock first, so it vanishes whole, then deleted.

    A sealed entry's directory is read-only, and rename(2) of a directory
    into another needs write permission on it: it gets its owner's write bit
    back first (a change a concurrent reader would see as "changed", which is
    right: it is going).
    """
    with flocked(layout.lock_file(key)), work_dir(layout.tmp_dir()) as work:
        path = layout.wheel_dir(key)
        if path.is_dir() and not path.is_symlink():
            os.chmod(path, stat.S_IMODE(os.lstat(path).st_mode) | stat.S_IRWXU)
            os.rename(path, work / "dropped")
        elif os.path.lexists(path):
            os.rename(path, work / "dropped")
    # The lock file stays: unlinking it would let two processes lock different inodes.

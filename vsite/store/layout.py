"""Where things live inside the store. The one place that builds store paths.

::

    <root>/v2/wheels/<sha256>/            one immutable entry per wheel (renamed into place whole),
                                          read-only: dirs 0o555, files 0o444/0o555 (vsite.store.seal)
        entry.json                        EntrySummary: small, read at mount time; ``bytecode``
                                          lists the cache tags compiled into the entry
        files.json                        [FileRecord, ...]: every installed file, read lazily
        site/                             what lands in site-packages: the wheel root minus
                                          .data, plus .data/purelib and .data/platlib merged in,
                                          with the compiled ``__pycache__/<stem>.<tag>.pyc`` of
                                          every tag in ``entry.json``'s ``bytecode`` beside the sources
        scripts/  headers/  data/         the other .data schemes, as shipped
    <root>/v2/staged/<sha256>/            work of a fetch still in progress: ``entry/`` (a whole
                                          entry, compiled for that fetch's tag) and ``<cache_tag>/``
                                          (pycs of another tag, to add to an existing entry);
                                          promoted only once every item of the plan is ready,
                                          withdrawn if it fails
    <root>/v2/tmp/<pid>-h<host>-*/        work dirs of fetches in progress (same filesystem,
                                          so renames into place are atomic); gc cleans orphans
    <root>/v2/locks/<sha256>.lock         per-entry lock files (fcntl.flock)
    <root>/v2/usage/locks/<plan key>.json which lock used which entries, when (for gc)
    <root>/v2/usage/pins/<key>-<pid>-<host>.json  entries a live mount (pid on host) needs; gc keeps them

A store of an older layout (``v1/``, with a separate ``bytecode/`` mirror) is
ignored: it is never read, changed or removed.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

LAYOUT_VERSION = "v2"
SCHEMES = ("site", "scripts", "headers", "data")
INDEX_FILES = ("entry.json", "files.json")


@dataclass(frozen=True)
class StoreLayout:
    root: Path

    @property
    def base(self) -> Path:
        return self.root / LAYOUT_VERSION

    def wheels_dir(self) -> Path:
        """The directory of all entries (what a view's symlinks point into)."""
        return self._wheels

    @functools.cached_property
    def _wheels(self) -> Path:  # made once: a mount asks for ~700 entry paths
        return self.base / "wheels"

    def wheel_dir(self, sha256: str) -> Path:
        return self.wheels_dir() / sha256

    def summary_file(self, sha256: str) -> Path:
        return self.wheel_dir(sha256) / "entry.json"

    def staged_root(self) -> Path:
        return self.base / "staged"

    def staged_dir(self, sha256: str) -> Path:
        return self.staged_root() / sha256

    def staged_entry(self, sha256: str) -> Path:
        """A whole entry staged by a fetch in progress."""
        return self.staged_dir(sha256) / "entry"

    def staged_bytecode(self, sha256: str, cache_tag: str) -> Path:
        """Pycs of ``cache_tag`` staged to be added to an existing entry (same relative dirs as ``site/``)."""
        return self.staged_dir(sha256) / cache_tag

    def tmp_dir(self) -> Path:
        return self.base / "tmp"

    def lock_file(self, key: str) -> Path:
        return self.base / "locks" / f"{key}.lock"

    def usage_dir(self) -> Path:
        return self.base / "usage"

    def lock_record(self, plan_key: str) -> Path:
        return self.usage_dir() / "locks" / f"{plan_key}.json"

    def lock_records_dir(self) -> Path:
        return self.usage_dir() / "locks"

    def pin_file(self, key: str, pid: int, host: str = "") -> Path:
        """A pin of process ``pid`` on ``host`` (vsite.store.atomic.host_id; "": a pin without one)."""
        return self.pins_dir() / (f"{key}-{pid}-{host}.json" if host else f"{key}-{pid}.json")

    def pins_dir(self) -> Path:
        return self.usage_dir() / "pins"

    def contains(self, path: str | os.PathLike | None) -> bool:
        """Whether ``path`` lies in the store (a path test, not a string prefix test)."""
        if not path:
            return False
        try:
            return Path(os.path.abspath(path)).is_relative_to(os.path.abspath(self.root))
        except (TypeError, ValueError):
            return False

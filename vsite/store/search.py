"""The store search path: read-only stores consulted after the local one (``VSITE_STORE_PATH``).

A cluster publishes a lock's store once (``vsite fetch --store DIR LOCK``) on a
filesystem every node mounts: NFS, Lustre, CephFS, or a squashfs/CVMFS image.
A node uses an entry found there **in place**: its view links into that store
(vsite.fs.readonly), nothing is copied and nothing in it is written (no usage
records, no pins, no bytecode). Entries missing everywhere are fetched into
the local store as before.

An entry of a shared store is used only if it is complete (``entry.json``),
compiled for the target's cache tag (an entry without it is *not* used: its
sources cannot be compiled in place, and running without bytecode would make
every worker compile every module in memory at every start; the local store
fetches and compiles it instead, see :attr:`SearchPath.untagged`), and intact
at its top level (the mount-time seal check, vsite.store.seal.top_level_change,
with the entry's own directory): an entry that fails it is refused, with one
line naming the entry and the store (:class:`Refusal`), and the next store, or
the local one, is tried. Results are memoized: each entry is checked once per
process, on its first use.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from vsite.store.index import read_summary
from vsite.store.layout import StoreLayout
from vsite.store.seal import top_level_change


@dataclass(frozen=True)
class Refusal:
    """A shared store's entry that was not used: why, in words for one line."""

    key: str
    root: Path
    why: str

    @property
    def text(self) -> str:
        """``entry 1a2b3c4d5e6f7a8b in the shared store /mnt/vsite failed its seal (...); not used``."""
        return f"entry {self.key[:16]} in the shared store {self.root} {self.why}"

    def line(self, what: str) -> str:
        return f"{what}: {self.text}"


class SearchPath:
    """Read-only stores after the local one, in order; ``find`` gives the first usable entry."""

    def __init__(self, roots: Iterable[Path | str] = (), *, local: Path | None = None) -> None:
        seen = {os.path.realpath(local)} if local is not None else set()
        self.layouts: list[StoreLayout] = []
        for root in roots:
            real = os.path.realpath(root)
            if real not in seen:  # the local store listed again is the local store
                seen.add(real)
                self.layouts.append(StoreLayout(Path(root)))
        self.refused: dict[str, Refusal] = {}  # by entry key: the first refusal met
        self.untagged: dict[str, tuple[Path, str]] = {}  # key -> (store, tag): found without the tag's bytecode
        self._found: dict[tuple[str, str | None], Path | None] = {}
        self._lock = threading.Lock()

    def __bool__(self) -> bool:
        return bool(self.layouts)

    def roots(self) -> list[Path]:
        return [layout.root for layout in self.layouts]

    def find(self, key: str, cache_tag: str | None) -> Path | None:
        """The entry ``key`` in the first store that has it complete, compiled for ``cache_tag``
        (None: any) and intact; None if no store does. Memoized."""
        memo = (key, cache_tag)
        with self._lock:
            if memo in self._found:
                return self._found[memo]
        found = None
        for layout in self.layouts:
            entry = layout.wheel_dir(key)
            why = self._unusable(key, entry, layout.root, cache_tag)
            if why is None:
                found = entry
                break
        with self._lock:
            self._found[memo] = found
        return found

    def _unusable(self, key: str, entry: Path, root: Path, cache_tag: str | None) -> str | None:
        """Why ``entry`` cannot serve (a short reason), or None; a refusal is recorded."""
        try:
            summary = read_summary(entry)
        except (FileNotFoundError, NotADirectoryError):
            return "absent"
        except (OSError, ValueError, KeyError, TypeError) as exc:
            return self._refuse(key, root, f"has an unreadable entry.json ({exc.__class__.__name__})")
        if summary.sha256 != key:
            return self._refuse(key, root, "names another wheel in its entry.json")
        if cache_tag is not None and cache_tag not in summary.bytecode:
            with self._lock:
                self.untagged.setdefault(key, (root, cache_tag))
            return "no bytecode"
        changed = top_level_change(entry, summary.top_level, summary.sealed_ns, own_dir=True)
        if changed is not None:
            where = "the entry directory" if changed == os.curdir else changed
            return self._refuse(key, root, f"failed its seal ({where} changed after fetch); not used")
        return None

    def refuse_untagged(self, key: str, why: str) -> None:
        """An entry found without the target's bytecode that could not be copied from its store
        (vsite.store.fetch): a refusal from now on, named in the fetch's notes."""
        with self._lock:
            root, _ = self.untagged.pop(key)
            self.refused.setdefault(key, Refusal(key, root, why))

    def _refuse(self, key: str, root: Path, why: str) -> str:
        with self._lock:
            self.refused.setdefault(key, Refusal(key, root, why))
        return why

    def holder(self, entry: str | os.PathLike) -> StoreLayout | None:
        """The shared store whose entry ``entry`` (``<root>/v2/wheels/<key>``) is, if any."""
        parent = Path(entry).parent
        for layout in self.layouts:
            if parent == layout.wheels_dir():
                return layout
        return None

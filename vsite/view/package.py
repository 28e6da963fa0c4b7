"""One installed package as the view sees it: its plan item, store entry and index."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from vsite.errors import StoreError
from vsite.plan.model import PlanItem
from vsite.store.index import EntrySummary, FileRecord, read_files, read_summary
from vsite.store.seal import top_level_change


class EntrySource(Protocol):
    """What the view needs of the store (``vsite.store.Store`` provides it)."""

    def entry_dir(self, item: PlanItem, cache_tag: str | None = None) -> Path | None:
        """The unpacked entry of ``item``'s wheel (its ``site/`` holds the compiled
        bytecode in ``__pycache__`` dirs), or None if not in the store; with ``cache_tag``,
        preferably one compiled for it (the local store's, or a shared store's)."""


@dataclass(eq=False)
class Package:
    """``owner`` is the package's rank in plan order (later wins a file conflict)."""

    owner: int
    item: PlanItem
    summary: EntrySummary
    entry: str

    @classmethod
    def load(cls, owner: int, item: PlanItem, store: EntrySource, cache_tag: str | None = None) -> "Package":
        """Read the entry's summary (one small file); a missing entry is a StoreError."""
        entry = store.entry_dir(item, cache_tag)
        if entry is None:
            raise StoreError(f"{item.name} {item.version} is not in the store (run `vsite fetch` first)")
        try:
            summary = read_summary(entry)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise StoreError(f"store entry of {item.name} {item.version} is unreadable: {exc}") from None
        return cls(owner, item, summary, str(entry))

    def check_sealed(self) -> None:
        """Mount-time tamper check: one lstat of ``site/`` and each top-level name,
        so O(packages), not O(files). Deeper changes are caught when the view
        first resolves the changed path (see vsite.view.tree), or, below a link
        into the store, by ``vsite cache verify``; writes through a mount never
        reach the store (docs/store.md, "Read-only").
        """
        rel = top_level_change(self.entry, self.summary.top_level, self.summary.sealed_ns)
        if rel is not None:
            raise StoreError(
                f"store entry of {self.name} {self.summary.version} was changed after fetch ({rel});"
                " `vsite cache verify` lists what changed,"
                " `vsite cache gc --corrupt` then `vsite fetch` restores it"
            )

    @property
    def name(self) -> str:
        return self.summary.name

    def scheme_dir(self, scheme: str) -> str:
        return os.path.join(self.entry, scheme)

    def files(self) -> list[FileRecord]:
        """Every installed file (files.json). Read when asked, not kept: RECORD is
        made once per package and a full conflict report is rare."""
        try:
            return read_files(Path(self.entry))
        except (OSError, ValueError, TypeError) as exc:
            raise OSError(f"store entry of {self.name} has no readable files.json: {exc}") from None

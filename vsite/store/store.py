"""The store: fetch a plan's wheels once per machine, unpacked, verified and compiled.

:class:`Store` is what the other stages call, a small facade over the modules
that do the work: :meth:`Store.fetch` fills the store for a plan
(:mod:`vsite.store.fetch`); :meth:`Store.key` (:mod:`vsite.store.keys`),
:meth:`Store.entry_dir`, :meth:`Store.has_bytecode` and :meth:`Store.summary`
read it (views), consulting the search path of shared read-only stores
(:mod:`vsite.store.search`) after the local store; :meth:`Store.verify`, :meth:`Store.entries` and
:meth:`Store.gc` maintain it (:mod:`vsite.store.maintenance`, ``vsite cache``).
Paths come from :class:`~vsite.store.layout.StoreLayout` only.

The fetch pipeline and maintenance load on first use: a mount of a warm store
imports neither (nor urllib, installer or build).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from vsite.errors import StoreError
from vsite.paths import cache_dir, store_path
from vsite.store.index import EntrySummary, bytecode_tags, read_summary
from vsite.store.keys import EntryKeys, what
from vsite.store.layout import StoreLayout
from vsite.store.search import SearchPath

if TYPE_CHECKING:
    from vsite.plan.model import Plan, PlanItem
    from vsite.store.fetch import FetchReport, Progress, Received
    from vsite.store.maintenance import EntryInfo
    from vsite.target import Target


class Store:
    """A content-addressed store of unpacked wheels at ``root`` (default: the cache dir), the
    *local* store: the one fetches fill. ``search``: read-only stores consulted after it
    (vsite.store.search; :meth:`configured` takes them from ``$VSITE_STORE_PATH``)."""

    def __init__(
        self, root: Path | str | None = None, *, use_uv_cache: bool = True, search: Iterable[Path | str] = ()
    ) -> None:
        self.layout = StoreLayout(Path(root) if root is not None else cache_dir())
        self.use_uv_cache = use_uv_cache
        self.search = SearchPath(search, local=self.layout.root)
        self._keys = EntryKeys()

    @classmethod
    def configured(cls, root: Path | str | None = None) -> "Store":
        """The local store (default: the cache dir) with the search path of ``$VSITE_STORE_PATH``."""
        return cls(root, search=store_path())

    # -- reading ------------------------------------------------------------

    def key(self, item: PlanItem) -> str | None:
        """The entry key of ``item`` (see :class:`vsite.store.keys.EntryKeys`); None for virtual items."""
        return self._keys.key(item)

    def entry_dir(self, item: PlanItem, cache_tag: str | None = None) -> Path | None:
        """The complete entry of ``item``, or None if no store has it.

        The local store's ``wheels/<key>`` if it is complete and (given ``cache_tag``, with a
        search path) compiled for it; else the first shared store's entry compiled for
        ``cache_tag`` (any tag if None) and intact (vsite.store.search); else the local entry
        without that tag, if complete.
        """
        key = self.key(item)
        if key is None:
            return None
        path = self.layout.wheel_dir(key)
        local = (path / "entry.json").is_file()
        if local and (not self.search or cache_tag is None or cache_tag in bytecode_tags(path)):
            return path
        if self.search:
            shared = self.search.find(key, cache_tag)
            if shared is not None:
                return shared
        return path if local else None

    def holder(self, entry: Path | str) -> StoreLayout:
        """The store (local or shared) whose entry ``entry`` (a path :meth:`entry_dir` gave) is."""
        return self.search.holder(entry) or self.layout

    def has_bytecode(self, item: PlanItem, cache_tag: str) -> bool:
        """Whether ``item``'s entry holds pycs compiled for ``cache_tag`` (all of them, beside the sources)."""
        entry = self.entry_dir(item, cache_tag)
        return entry is not None and cache_tag in bytecode_tags(entry)

    def summary(self, item: PlanItem) -> EntrySummary:
        entry = self.entry_dir(item)
        if entry is None:
            raise StoreError(f"{what(item)} is not in the store; run `vsite fetch` first")
        return read_summary(entry)

    # -- fetching -----------------------------------------------------------

    def fetch(
        self,
        plan: Plan,
        target: Target,
        *,
        offline: bool = False,
        jobs: int = 8,
        progress: "Progress | None" = None,
        received: "Received | None" = None,
    ) -> "FetchReport":
        """Make every item of ``plan`` present and compiled for ``target`` (see :mod:`vsite.store.fetch`)."""
        from vsite.store.fetch import fetch

        return fetch(self, plan, target, offline=offline, jobs=jobs, progress=progress, received=received)

    # -- maintenance --------------------------------------------------------

    def keys(self) -> list[str]:
        """Keys of all complete entries."""
        from vsite.store.maintenance import keys

        return keys(self.layout)

    def entries(self) -> "list[EntryInfo]":
        """Every entry with its disk size, the locks that used it and its compiled tags."""
        from vsite.store.maintenance import entries

        return entries(self)

    def verify(self, keys: Iterable[str] | None = None) -> list[tuple[str, str]]:
        """Rehash entries and check seals and bytecode (default: all); ``(key, reason)`` for each corrupt one."""
        from vsite.store.maintenance import verify

        return verify(self.layout, keys)

    def gc(self, *, max_age_days: float = 30.0, dry_run: bool = False, corrupt: bool = False) -> list[tuple[str, str]]:
        """Drop entries no recent lock uses and no live mount pins (see :func:`vsite.store.maintenance.gc`)."""
        from vsite.store.maintenance import gc

        return gc(self, max_age_days=max_age_days, dry_run=dry_run, corrupt=corrupt)

    def drop_memos(self, *, max_age_days: float = 30.0, dry_run: bool = False) -> int:
        """Drop the memos beside the store unused for ``max_age_days`` (see
        :func:`vsite.store.maintenance.drop_memos`); how many."""
        from vsite.store.maintenance import drop_memos

        return drop_memos(self.layout.root, max_age_days=max_age_days, dry_run=dry_run)

"""Entry keys of plan items: which store entry holds an item.

An entry is keyed by the wheel's sha256 from the lock; a local wheel the lock
gives no hash for is hashed (memoized by path, size and mtime). Items built
from source are keyed by a hash of their source (:func:`vsite.store.build.source_key`);
virtual items have no entry.
"""

from __future__ import annotations

import os
import threading

from vsite.errors import StoreError
from vsite.fileio import sha256_file
from vsite.plan.model import PlanItem


def what(item: PlanItem) -> str:
    """How messages name an item: ``name version``."""
    return f"{item.name} {item.version}"


class EntryKeys:
    """Computes entry keys, remembering the hashes of local wheels."""

    def __init__(self) -> None:
        self._local: dict[tuple[str, int, int], str] = {}
        self._lock = threading.Lock()

    def key(self, item: PlanItem) -> str | None:
        """The entry key of ``item``: the wheel's sha256 (hashed for a local wheel the lock
        gives none), a source hash for items built from source, None for virtual items."""
        if item.kind == "virtual":
            return None
        if item.kind != "wheel":
            from vsite.store.build import source_key  # builds only: not on the mount path

            return source_key(item)
        art = item.wheel
        if art is None:
            raise StoreError(f"{what(item)}: the plan names no wheel")
        if art.sha256:
            return art.sha256.lower()
        if art.path:
            try:
                st = os.stat(art.path)
            except OSError as exc:
                raise StoreError(f"{what(item)}: cannot read {art.path}: {exc.strerror}") from None
            memo = (art.path, st.st_size, st.st_mtime_ns)
            with self._lock:
                known = self._local.get(memo)
            if known is None:
                known = sha256_file(art.path)
                with self._lock:
                    self._local[memo] = known
            return known
        raise StoreError(f"{what(item)}: the lock gives no sha256 for {art.filename}; refusing to fetch it unverified")

"""Store: content-addressed unpacked wheels with precompiled bytecode, shared by every view.

Callers write ``from vsite.store import Store``. Modules, one job each:
``layout`` (every store path), ``keys`` (entry keys of plan items), ``index``
(entry.json / files.json), ``seal`` (read-only modes and mtimes), ``fetch``
(the two-phase pipeline), ``unpack``, ``download``, ``uvcache``, ``build``,
``bytecode``, ``maintenance`` (ls, verify, gc), ``usage`` (who uses what),
``atomic`` (locks, work dirs, withdrawing staged work), ``store`` (the facade).

``FetchReport`` and ``EntryInfo`` are imported on first access, so that
``from vsite.store import Store`` (the mount path) loads neither the fetch
pipeline nor maintenance.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vsite.store.index import EntrySummary, FileRecord
from vsite.store.layout import LAYOUT_VERSION, StoreLayout
from vsite.store.store import Store

if TYPE_CHECKING:
    from vsite.store.fetch import FetchReport
    from vsite.store.maintenance import EntryInfo

__all__ = ["EntryInfo", "EntrySummary", "FetchReport", "FileRecord", "LAYOUT_VERSION", "Store", "StoreLayout"]

_LAZY = {"FetchReport": "vsite.store.fetch", "EntryInfo": "vsite.store.maintenance"}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'vsite.store' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)

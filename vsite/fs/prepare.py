"""Fetch what a plan lacks and build its view for one mount point: the step before a daemon starts.

Shared by ``vsite mount`` (vsite.cli.mount_cmd) and the start of a shared mount
(vsite.shared.join), so it sits below both and imports no click: messages go
through ``say`` (default: one line on stderr), and on a terminal the fetch
counts its packages on one stderr line. The store and the view are imported
when it runs: only the process that starts a daemon needs them.
"""

from __future__ import annotations

import collections
import functools
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from vsite.fs import registry

if TYPE_CHECKING:
    from vsite.plan.model import Plan
    from vsite.store import Store
    from vsite.store.layout import StoreLayout
    from vsite.target import Target
    from vsite.view.conflicts import Conflict
    from vsite.view.merged import MergedView

Say = Callable[[str], None]


def say_on_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def prepare(
    plan: Plan,
    interpreter: Target,
    lock: str,
    mountpoint: str,
    *,
    venv: bool,
    offline: bool,
    allow_other: bool = False,
    say: Say = say_on_stderr,
) -> tuple[Store, MergedView, registry.MountRecord]:
    """Fetch what ``plan`` lacks and build its view for ``mountpoint``: (store, view, registry record).

    ``venv``: the view is a whole venv rooted at ``mountpoint``, else its site-packages.
    Decides the data path too (vsite.fs.readonly): links into the stores the view
    takes entries from (the local one, shared ones of ``$VSITE_STORE_PATH``), for
    root through read-only bind mounts that the daemon makes and removes (none
    for a store on a read-only filesystem).
    """
    from vsite.fs import readonly
    from vsite.store import Store
    from vsite.view import build_view
    from vsite.view.conflicts import warning as conflict_warning

    store = Store.configured()
    fetch(store, plan, interpreter, offline, say)
    sources = entry_sources(store, plan, interpreter)
    data_path = readonly.choose([layout.wheels_dir() for layout in sources], mountpoint, allow_other=allow_other)
    if data_path.why:
        say(f"vsite: {data_path.why}")
    view = build_view(plan, store, interpreter, venv_root=mountpoint if venv else None, links=data_path.links)
    fast_path_notice(say)
    found = known_conflicts(view)
    line = conflict_warning(found)
    if line:
        say(f"vsite: warning: {line}")
    wheel_hashes = (store.key(item) for item in plan.items)  # store entry keys: wheel (or source) sha256
    record = registry.MountRecord(
        mountpoint=mountpoint,
        lock=os.path.abspath(lock),
        plan_key=plan.key(),
        packages=sum(1 for item in plan.items if item.kind != "virtual"),
        wheels=sorted(sha for sha in wheel_hashes if sha),
        venv=venv,
        conflicts=[describe(c) for c in found],
        stores={str(layout.root): count for layout, count in sources.items()},
    )
    return store, view, record


@functools.cache
def fast_path_notice(say: Say = say_on_stderr) -> None:
    """Name, once per command (cached), the fast paths the installed pyfuse3 build lacks
    (stock pyfuse3 works, slower). Said here, not in the daemon, whose stderr is its log;
    from pyfuse3's version alone (vsite.fs.pyfuse3_build), so the command does not import pyfuse3."""
    from vsite.fs.pyfuse3_build import notice

    line = notice()
    if line:
        say(line)


def entry_sources(store: Store, plan: Plan, interpreter: Target) -> dict[StoreLayout, int]:
    """The stores ``plan``'s entries are in (the local one, shared ones of the search path), in
    search order, with how many entries each gives (``vsite status`` shows them)."""
    given = collections.Counter(store.holder(entry).root for item in plan.items
                                if (entry := store.entry_dir(item, interpreter.cache_tag)) is not None)
    return {layout: given[layout.root] for layout in [store.layout, *store.search.layouts] if given[layout.root]}


def fetch(store: Store, plan: Plan, interpreter: Target, offline: bool, say: Say = say_on_stderr) -> None:
    """Fill the store for the plan: wheels and bytes on one line on a terminal (vsite.store.progress),
    one summary line if anything came in, one warning line per shared-store entry not used
    (refused, or without the target's bytecode)."""
    from vsite.store.progress import FetchMeter

    meter = FetchMeter(plan, store, sys.stderr)  # draws on a terminal only, counts always
    report = None
    try:
        report = store.fetch(plan, interpreter, offline=offline, progress=meter.item_done,
                             received=meter.downloaded)
    finally:
        line = meter.finish(report)
    for note in report.notes:
        say(f"vsite: warning: {note}")
    if line:
        say(line)


CONFLICTS_MEMO = 1  # the memo's format and the report's rules; a change makes every memo a miss


def known_conflicts(view: MergedView) -> list[Conflict]:
    """``view.conflicts()``, remembered in the cache dir per set of entries: the complete report reads
    the file lists of the packages sharing top-level names (~20 ms on a large lock, a fifth of a mount),
    and it depends only on the entries (content-addressed, never changed in place), their order and
    the view's kind. A fresh mount has met no conflicts of its own yet, so the report is the memo."""
    import hashlib
    import json

    from vsite.paths import memo_path, write_cache_json
    from vsite.view.conflicts import Conflict

    identity = [CONFLICTS_MEMO, view.python is not None, view.target.site_packages,
                [[pkg.owner, pkg.name, pkg.entry] for pkg in view.packages]]
    memo = memo_path("conflicts", hashlib.sha256(json.dumps(identity).encode()).hexdigest())
    try:
        return [Conflict(path, winner, tuple(losers), identical)
                for path, winner, losers, identical in json.loads(memo.read_bytes())]
    except (OSError, ValueError, TypeError):
        pass
    found = view.conflicts()
    write_cache_json(memo, [[c.path, c.winner, list(c.losers), c.identical] for c in found])
    return found


def describe(conflict: Conflict) -> str:
    """One conflict as ``vsite status --conflicts`` lists it."""
    same = {True: ", identical copies", False: ", copies differ", None: ""}[conflict.identical]
    return f"{conflict.path}: {conflict.winner} over {', '.join(conflict.losers)}{same}"

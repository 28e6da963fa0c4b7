"""make_plan: lock file + target + options -> :class:`Plan` (no cache; see :mod:`vsite.plan.cache`)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from vsite.lock import parse_lock, read_lock_bytes
from vsite.lock.model import Lock, UvLock
from vsite.plan.model import Plan, PlanItem
from vsite.plan.options import PlanOptions
from vsite.target import Target


def make_plan(lock_path: str | os.PathLike, target: Target, options: PlanOptions | None = None) -> Plan:
    """Plan ``lock_path`` for ``target``: the exact set of packages and files to install."""
    options = options or PlanOptions()
    path = Path(lock_path).absolute()
    data = read_lock_bytes(path)
    return plan_bytes(path, data, hashlib.sha256(data).hexdigest(), target, options)


def plan_bytes(path: Path, data: bytes, sha256: str, target: Target, options: PlanOptions) -> Plan:
    """Plan lock bytes already read (and hashed) by the caller."""
    lock = parse_lock(path, data)
    return Plan(
        lock_path=str(path),
        lock_sha256=sha256,
        lock_format=lock.format,
        target_identity=target.identity,
        options=options.to_json(),
        items=plan_items(lock, target, options),
    )


def plan_items(lock: Lock, target: Target, options: PlanOptions) -> tuple[PlanItem, ...]:
    """The items of a parsed lock for ``target``, sorted by name, by the lock format's rules."""
    if isinstance(lock, UvLock):
        from vsite.plan.uv_plan import plan_uv

        items = plan_uv(lock, target, options)
    else:
        from vsite.plan.pylock_plan import plan_pylock

        items = plan_pylock(lock, target, options)
    return tuple(sorted(items, key=lambda i: (i.name, i.version)))

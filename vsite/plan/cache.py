"""The plan cache: a plan is a pure function of (lock bytes, target, options), so keep it.

Workers call vsite many times for the same environment; the warm path here
stats the interpreter (the probe is cached), hashes the lock bytes and reads
one small JSON file -- no subprocess, no TOML parse, no marker evaluation.
The pyproject.toml beside the lock (uv reads ``default-groups`` and the build
policy from it) is part of the key, as its bytes, unparsed.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from vsite.lock import read_lock_bytes
from vsite.paths import memo_path, write_cache_json
from vsite.plan.model import Plan
from vsite.plan.options import PlanOptions
from vsite.target import Target, probe

_CACHE_VERSION = "1"


def _plan_key(path: Path, lock_sha256: str, extra: bytes, target: Target, options: PlanOptions) -> str:
    """Lock path too: local sources resolve against the lock's directory, so a copy plans differently."""
    raw = json.dumps(
        [_CACHE_VERSION, str(path), lock_sha256, hashlib.sha256(extra).hexdigest(), target.identity,
         options.to_json()],
        sort_keys=True,
    )
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def _pyproject_bytes(lock_path: Path) -> bytes:
    """The pyproject.toml beside the lock (a uv.lock's plan reads its [tool.uv] settings)."""
    try:
        return (lock_path.parent / "pyproject.toml").read_bytes()
    except OSError:
        return b""


def cached_plan(
    lock_path: str | os.PathLike, python: str | None, options: PlanOptions | None = None
) -> tuple[Plan, Target]:
    """The plan of ``lock_path`` for interpreter ``python``, from the cache when it is there."""
    options = options or PlanOptions()
    target = probe(python)
    path = Path(lock_path).absolute()
    data = read_lock_bytes(path)
    sha = hashlib.sha256(data).hexdigest()
    entry = memo_path("plans", _plan_key(path, sha, _pyproject_bytes(path), target, options))
    try:
        return Plan.from_json(json.loads(entry.read_bytes())), target
    except (OSError, ValueError, KeyError, TypeError):
        pass
    from vsite.plan.make import plan_bytes

    plan = plan_bytes(path, data, sha, target, options)
    write_cache_json(entry, plan.to_json())
    return plan, target

"""Where a shared environment lives, and the env key that names it.

Three hashes are called keys in vsite; here the env key (a directory name under
``runtime_dir()/envs``) is the plan key, ``Plan.key()`` (lock hash, interpreter
identity, options), so copies of one lock in different checkouts share one
mount. A plan with local sources (path wheels, directories, editables) also
depends on where the lock is, so its env key mixes in the lock's path. (The
third, a store entry key, is a wheel's sha256: vsite.store.)

The lease socket lives in Linux's abstract namespace: no socket file to go
stale when a daemon is killed, and no 108-byte limit on a deep runtime dir.
Any local user could connect to it, so the server checks the peer's uid.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from vsite.errors import VsiteError
from vsite.paths import runtime_dir

if TYPE_CHECKING:
    from vsite.plan.model import Plan

DEFAULT_GRACE = 3.0  # seconds the mount outlives its last lease


def env_key(plan: "Plan") -> str:
    """The shared mount's name for ``plan``."""
    local = any(
        item.kind in ("directory", "editable") or (item.wheel and item.wheel.path) or (item.sdist and item.sdist.path)
        for item in plan.items
    )
    if not local:
        return plan.key()
    return hashlib.sha256(f"{plan.key()}\0{plan.lock_path}".encode()).hexdigest()[:24]


@dataclass(frozen=True)
class SharedEnv:
    """The files of one shared environment, named by its ``env_key`` (:func:`env_key`)."""

    env_key: str

    @property
    def root(self) -> Path:
        return runtime_dir() / "envs" / self.env_key

    @property
    def venv(self) -> str:
        """The mount point: the environment as a whole venv."""
        return str(self.root / "venv")

    @property
    def fifo(self) -> Path:
        """The lease FIFO the sh launcher's CMDs hold open (vsite.shared.launch)."""
        return self.root / "lease"

    @property
    def lock_file(self) -> Path:
        """flock'ed by whoever checks for a live mount or starts/stops one (outside ``root``)."""
        return runtime_dir() / "envs" / f"{self.env_key}.lock"

    @property
    def address(self) -> bytes:
        """The lease server's abstract socket name, unique per user and runtime dir."""
        tag = hashlib.sha256(str(self.root).encode()).hexdigest()[:32]
        return f"\0vsite-{os.getuid()}-{tag}".encode()


def all_envs() -> list[SharedEnv]:
    """Every environment that has (or had) a shared mount under this runtime dir."""
    base = runtime_dir() / "envs"
    try:
        return [SharedEnv(p.name) for p in sorted(base.iterdir()) if p.is_dir()]
    except OSError:
        return []


def grace_period(value: float | None) -> float:
    """``--grace``, else ``$VSITE_GRACE``, else DEFAULT_GRACE (seconds, >= 0)."""
    if value is None:
        raw = os.environ.get("VSITE_GRACE")
        if not raw:
            return DEFAULT_GRACE
        try:
            value = float(raw)
        except ValueError:
            raise VsiteError(f"VSITE_GRACE must be a number of seconds, not {raw!r}", exit_code=2) from None
    if value < 0:
        raise VsiteError(f"the grace period cannot be negative ({value})", exit_code=2)
    return value

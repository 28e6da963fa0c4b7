"""Scenario 1: N environments made at once, until the last is ready — vsite mounts against ``uv sync``.

For each repeat and each N, every configuration runs once, in an order that
rotates with the repeat (interleaved, so machine load is shared fairly):
``vsite mount --venv`` N times concurrently (N daemons, own mounts), and
``uv sync --frozen`` N times concurrently into N fresh project dirs with each
link mode. The figure is wall time from starting the N processes until the
last has exited. Tear-down (unmount, deleting venvs) is outside the timing.

``copy`` writes the whole environment N times; a run that would fill more than
half the free disk is skipped and says so.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from bench.envs import LINK_MODES, Mounts, make_project, mount_cmd, uv_env, uv_sync_cmd
from bench.harness import Result, Results, Target, Tools, remove, timed_together

SECTION = "ready"


def key(n: int, config: str) -> str:
    return f"ready/N={n}/{config}"


def _target(n: int, config: str) -> Target | None:
    if not config.startswith("vsite"):
        return None
    return Target(0.1) if n == 1 else Target(1.0) if n == 32 else None


def _vsite(tools: Tools, lock: Path, n: int, scratch: Path) -> float:
    targets = [scratch / f"vsite-{i}" / ".venv" for i in range(n)]
    with Mounts(tools) as mounts:
        mounts.expect(targets)
        return timed_together([mount_cmd(tools, lock, t) for t in targets])


def _uv(tools: Tools, lock: Path, n: int, mode: str, scratch: Path) -> float:
    projects = [make_project(lock, scratch / f"uv-{mode}-{i}") for i in range(n)]
    try:
        return timed_together([uv_sync_cmd(tools, p, mode) for p in projects], env=uv_env(dict(os.environ)))
    finally:
        remove(*projects)


def run_ready(results: Results, tools: Tools, lock: Path, ns: list[int], modes: list[str], repeat: int,
              scratch: Path, env_bytes: int) -> None:
    """Fill ``results`` with ready times: keys ``ready/N=<n>/vsite`` and ``ready/N=<n>/uv-<mode>``."""
    configs = ["vsite"] + [f"uv-{m}" for m in modes if m in LINK_MODES]
    free = shutil.disk_usage(scratch).free
    for r in range(repeat):
        for n in ns:
            order = configs[r % len(configs):] + configs[: r % len(configs)]
            for config in order:
                label = f"N={n} " + ("vsite mount (own mounts)" if config == "vsite" else f"uv sync, {config[3:]}")
                if config == "uv-copy" and n * env_bytes > free / 2:
                    results.by_key.setdefault(key(n, config), _skipped(n, config, label, n * env_bytes, free))
                    continue
                work = scratch / f"ready-{r}-{n}-{config}"
                if config == "vsite":
                    seconds = _vsite(tools, lock, n, work)
                else:
                    seconds = _uv(tools, lock, n, config[3:], work)
                remove(work)
                results.add(SECTION, key(n, config), label, "s", seconds,
                            baseline=key(n, "uv-hardlink") if config == "vsite" else None, target=_target(n, config))
                print(f"# ready N={n} {config}: {seconds:.2f} s", file=sys.stderr)


def _skipped(n: int, config: str, label: str, need: int, free: int) -> Result:
    return Result(SECTION, key(n, config), label, "s",
                  note=f"skipped: would write {need / 1e9:.0f} GB, {free / 1e9:.0f} GB free")

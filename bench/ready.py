"""Scenario 1: N environments made at once, until the last is ready — vsite mounts against ``uv sync``.

For each repeat and each N, every configuration runs once, in an order that
rotates with the repeat (interleaved, so machine load is shared fairly):
``vsite mount --venv`` N times concurrently (N daemons, own mounts), and
``vsite mount --shared`` N times concurrently (the first starts the lock's
one shared mount, the others join it: N named leases; released and the mount
gone, ``--grace 0``, before the next run), and ``uv sync --frozen`` N times
concurrently into N fresh project dirs with each link mode. The figure is wall time from starting the N processes until the
last has exited. Tear-down (unmount, deleting venvs) is outside the timing.

``copy`` writes the whole environment N times; a run that would fill more than
half the free disk is skipped and says so.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench.envs import LINK_MODES, Mounts, kernel_mounts, make_project, mount_cmd, uv_env, uv_sync_cmd
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


def has_shared(tools: Tools) -> bool:
    """Whether this vsite has shared mounts (``vsite mount --shared``)."""
    done = subprocess.run([tools.vsite, "mount", "--help"], capture_output=True, text=True)
    return "--shared" in done.stdout


def _vsite_shared(tools: Tools, lock: Path, n: int, tag: str) -> float:
    names = [f"bench-{os.getpid()}-{tag}-{i}" for i in range(n)]
    before = kernel_mounts()
    try:
        return timed_together([[tools.vsite, "mount", "--shared", str(lock), "--offline", "--python", tools.python,
                                "--grace", "0", "--name", name] for name in names])
    finally:
        for proc in [subprocess.Popen([tools.vsite, "release", "--name", name], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL) for name in names]:
            proc.wait()
        _wait_unmounted(kernel_mounts() - before)


def _wait_unmounted(targets: set[str], timeout: float = 30.0) -> None:
    """Wait for released shared mounts to go (grace 0); unmount lazily what is still there after ``timeout``."""
    deadline = time.monotonic() + timeout
    while targets & kernel_mounts() and time.monotonic() < deadline:
        time.sleep(0.05)
    for target in targets & kernel_mounts():
        subprocess.run(["fusermount3", "-u", "-z", target], capture_output=True)


def _uv(tools: Tools, lock: Path, n: int, mode: str, scratch: Path) -> float:
    projects = [make_project(lock, scratch / f"uv-{mode}-{i}") for i in range(n)]
    try:
        return timed_together([uv_sync_cmd(tools, p, mode) for p in projects], env=uv_env(dict(os.environ)))
    finally:
        remove(*projects)


def run_ready(results: Results, tools: Tools, lock: Path, ns: list[int], modes: list[str], repeat: int,
              scratch: Path, env_bytes: int) -> None:
    """Fill ``results`` with ready times: keys ``ready/N=<n>/vsite`` and ``ready/N=<n>/uv-<mode>``."""
    configs = ["vsite"] + (["vsite-shared"] if has_shared(tools) else []) + [f"uv-{m}" for m in modes if m in LINK_MODES]
    free = shutil.disk_usage(scratch).free
    for r in range(repeat):
        for n in ns:
            order = configs[r % len(configs):] + configs[: r % len(configs)]
            for config in order:
                label = f"N={n} " + {"vsite": "vsite mount (own mounts)", "vsite-shared": "vsite mount --shared (one mount)"
                                      }.get(config, f"uv sync, {config[3:]}")
                if config == "uv-copy" and n * env_bytes > free / 2:
                    results.by_key.setdefault(key(n, config), _skipped(n, config, label, n * env_bytes, free))
                    continue
                work = scratch / f"ready-{r}-{n}-{config}"
                if config == "vsite":
                    seconds = _vsite(tools, lock, n, work)
                elif config == "vsite-shared":
                    seconds = _vsite_shared(tools, lock, n, f"{r}-{n}")
                else:
                    seconds = _uv(tools, lock, n, config[3:], work)
                remove(work)
                results.add(SECTION, key(n, config), label, "s", seconds,
                            baseline=key(n, "uv-hardlink") if config.startswith("vsite") else None,
                            target=_target(n, config))
                print(f"# ready N={n} {config}: {seconds:.2f} s", file=sys.stderr)


def _skipped(n: int, config: str, label: str, need: int, free: int) -> Result:
    return Result(SECTION, key(n, config), label, "s",
                  note=f"skipped: would write {need / 1e9:.0f} GB, {free / 1e9:.0f} GB free")

"""Scenario 1: N environments made at once, until the last is ready — vsite mounts against ``uv sync``.

For each repeat and each N, every configuration runs once, in an order that
rotates with the repeat (interleaved, so machine load is shared fairly):
``vsite mount --venv`` N times concurrently (N daemons, own mounts), and
``vsite mount --shared`` N times concurrently (the first starts the lock's
one shared mount, the others join it: N named leases; released and the mount
gone, ``--grace 0``, before the next run), ``vsite run LOCK --python PY --
python -c "import M"`` N times concurrently (what a worker runs: the first
starts the shared mount, the others take the click-free join of
``vsite/entry.py`` and exec the venv's python, which imports a light module M
of the lock, so "ready" means a worker has actually used the environment;
``VSITE_GRACE=0``, the mount gone before the next run), and ``uv sync --frozen`` N times
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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.envs import LINK_MODES, Mounts, kernel_mounts, make_project, mount_cmd, uv_env, uv_sync_cmd
from bench.harness import Result, Results, Target, Tools, remove, timed_together

SECTION = "ready"
LABELS = {"vsite": "vsite mount (own mounts)", "vsite-shared": "vsite mount --shared (one mount)",
          "vsite-run": "vsite run -- python -c import (one mount)"}


def label(config: str) -> str:
    """What a configuration is, for tables and plots."""
    return LABELS.get(config, f"uv sync, {config[3:]}")


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
    with _shared_mounts_removed():
        try:
            return timed_together([[tools.vsite, "mount", "--shared", str(lock), "--offline", "--python",
                                    tools.python, "--grace", "0", "--name", name] for name in names])
        finally:
            for proc in [subprocess.Popen([tools.vsite, "release", "--name", name], stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL) for name in names]:
                proc.wait()


def _vsite_run(tools: Tools, lock: Path, n: int, module: str) -> float:
    cmd = [tools.vsite, "run", str(lock), "--python", tools.python, "--", "python", "-c", f"import {module}"]
    with _shared_mounts_removed():
        return timed_together([cmd] * n, env=dict(os.environ, VSITE_GRACE="0"))


@contextmanager
def _shared_mounts_removed() -> Iterator[None]:
    """Around a run that starts a shared mount with grace 0 and ends its leases inside: on leaving (also on
    error), wait for the mounts made meanwhile to go, and lazily unmount what is still there after 30 s."""
    before = kernel_mounts()
    try:
        yield
    finally:
        deadline = time.monotonic() + 30.0
        while kernel_mounts() - before and time.monotonic() < deadline:
            time.sleep(0.05)
        for target in kernel_mounts() - before:
            subprocess.run(["fusermount3", "-u", "-z", target], capture_output=True)


def _uv(tools: Tools, lock: Path, n: int, mode: str, scratch: Path) -> float:
    projects = [make_project(lock, scratch / f"uv-{mode}-{i}") for i in range(n)]
    try:
        return timed_together([uv_sync_cmd(tools, p, mode) for p in projects], env=uv_env(dict(os.environ)))
    finally:
        remove(*projects)


def run_ready(results: Results, tools: Tools, lock: Path, ns: list[int], modes: list[str], repeat: int,
              scratch: Path, env_bytes: int, module: str) -> None:
    """Fill ``results`` with ready times: keys ``ready/N=<n>/<config>`` (``vsite``, ``vsite-shared``,
    ``vsite-run``, ``uv-<mode>``); ``module`` is what each ``vsite run`` worker imports."""
    shared = ["vsite-shared", "vsite-run"] if has_shared(tools) else []
    configs = ["vsite"] + shared + [f"uv-{m}" for m in modes if m in LINK_MODES]
    free = shutil.disk_usage(scratch).free
    for r in range(repeat):
        for n in ns:
            order = configs[r % len(configs):] + configs[: r % len(configs)]
            for config in order:
                what = f"N={n} " + label(config).replace(" -c import ", f" -c 'import {module}' ")
                if config == "uv-copy" and n * env_bytes > free / 2:
                    results.by_key.setdefault(key(n, config), _skipped(n, config, what, n * env_bytes, free))
                    continue
                work = scratch / f"ready-{r}-{n}-{config}"
                if config == "vsite":
                    seconds = _vsite(tools, lock, n, work)
                elif config == "vsite-shared":
                    seconds = _vsite_shared(tools, lock, n, f"{r}-{n}")
                elif config == "vsite-run":
                    seconds = _vsite_run(tools, lock, n, module)
                else:
                    seconds = _uv(tools, lock, n, config[3:], work)
                remove(work)
                results.add(SECTION, key(n, config), what, "s", seconds,
                            baseline=key(n, "uv-hardlink") if config.startswith("vsite") else None,
                            target=_target(n, config))
                print(f"# ready N={n} {config}: {seconds:.2f} s", file=sys.stderr)


def _skipped(n: int, config: str, what: str, need: int, free: int) -> Result:
    return Result(SECTION, key(n, config), what, "s",
                  note=f"skipped: would write {need / 1e9:.0f} GB, {free / 1e9:.0f} GB free")

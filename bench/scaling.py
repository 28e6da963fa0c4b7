"""Scenario 4: mount time as the lock grows — the claim is a flat line in the number of files.

The lock is exported once as PEP 751 ``pylock.toml`` (``uv export``), whose
``[[packages]]`` blocks stand alone, so any subset of them is a valid lock.
Packages are shuffled (fixed seed) and growing prefixes are cut where the
installed file count (``file_count`` of each store entry: the wheel's files,
bytecode not counted) first passes 1k, 2k, 5k, 10k, 20k, and the whole lock.
Each subset is mounted once untimed (plan cache, usage record), then
``vsite mount --venv`` is timed per repeat, sizes interleaved: wall time, and
CPU time (the command, reaped, plus the detached daemon's /proc/<pid>/stat
up to ready), which a loaded machine disturbs far less than wall time.
"""

from __future__ import annotations

import os
import random
import sys
import time
from pathlib import Path

from packaging.utils import canonicalize_name

from bench.envs import Mounts, make_project, uv_env
from bench.harness import Results, Tools, children_cpu, cpu_seconds, run

STEPS = (1000, 2000, 5000, 10000, 20000)
BLOCK = "\n[[packages]]\n"


def _file_counts(pylock: Path, tools: Tools) -> dict[str, int]:
    """Installed files per package of ``pylock`` (from the store entries of its plan)."""
    from vsite.plan.cache import cached_plan
    from vsite.store.index import read_summary
    from vsite.store import Store

    plan, _ = cached_plan(pylock, tools.python)
    store = Store()
    counts = {}
    for item in plan.items:
        entry = store.entry_dir(item)
        if entry is not None:
            counts[canonicalize_name(item.name)] = read_summary(entry).file_count
    return counts


def subset_locks(tools: Tools, lock: Path, scratch: Path) -> list[tuple[Path, int, int]]:
    """(pylock path, packages, files) for growing subsets of ``lock``."""
    project = make_project(lock, scratch / "export")
    full = scratch / "pylock.toml"
    run([tools.uv, "export", "--format", "pylock.toml", "--frozen", "--no-install-project", "-q",
         "--project", str(project), "-o", str(full)], env=uv_env(dict(os.environ)))
    head, *blocks = full.read_text().split(BLOCK)
    counts = _file_counts(full, tools)

    def name(block: str) -> str:
        return canonicalize_name(block.split('name = "', 1)[1].split('"', 1)[0])

    blocks = [b for b in blocks if counts.get(name(b))]
    random.Random(0).shuffle(blocks)
    total = sum(counts[name(b)] for b in blocks)
    wanted = [s for s in STEPS if s < total] + [total]
    subsets, files, taken = [], 0, 0
    for block in blocks:
        files += counts[name(block)]
        taken += 1
        if wanted and files >= wanted[0]:
            while wanted and files >= wanted[0]:
                wanted.pop(0)
            path = scratch / f"pylock.{taken}.toml"
            path.write_text(head + "".join(BLOCK + b for b in blocks[:taken]))
            subsets.append((path, taken, files))
    return subsets


def run_scaling(results: Results, tools: Tools, lock: Path, repeat: int, scratch: Path) -> None:
    """Keys ``scaling/<files>``: mount seconds, with the subset's packages and files in the label."""
    subsets = subset_locks(tools, lock, scratch)
    for path, _, files in subsets:  # warm-up: plan cache and usage record, untimed
        with Mounts(tools) as mounts:
            mounts.mount(path, scratch / f"warm-{files}" / ".venv")
    for r in range(repeat):
        for path, packages, files in subsets[r % len(subsets):] + subsets[: r % len(subsets)]:
            target = scratch / f"scale-{r}-{files}" / ".venv"
            with Mounts(tools) as mounts:
                before, start = children_cpu(), time.perf_counter()
                pid = mounts.mount(path, target)
                seconds = time.perf_counter() - start
                cpu = children_cpu() - before + cpu_seconds(pid)
            label = f"{packages} packages, {files} files"
            results.add("scaling", f"scaling/{files}", label, "s", seconds)
            results.add("scaling", f"scaling-cpu/{files}", f"{label}: CPU (command + daemon until ready)", "s", cpu)
            print(f"# mount {packages} packages / {files} files: {seconds * 1000:.0f} ms, cpu {cpu * 1000:.0f} ms",
                  file=sys.stderr)

"""Issue 12's memory figures: page cache of a second environment, and the daemon's RSS after a full walk.

*Page cache.* With the native data path every file a wheel owns alone is a
symlink into the store, so all mounts of the store share one page-cache copy
of each file; with the daemon serving bytes (``VSITE_LINKS=0``) every mount
has its own (FUSE caches by the mount's inode). Per side and repeat: drop the
page cache, read the target interpreter's own files back in
(:func:`bench.harness.warm_base_python`, so the stdlib is not counted), then
environment 1 imports the modules in one process (growth G1 of ``Cached`` +
``Buffers`` in /proc/meminfo, around the import alone), then environment 2 the
same (G2). vsite: two fresh mounts of the lock in two dirs; uv: the reference
venv and a second one synced the same way (hardlinks from the same uv cache,
``--compile-bytecode``: its ``.pyc`` files are its own), for reference.
Reported: G1, G2 (MB) and G2/G1 (%; target for vsite <= 5 %).

*Walk.* A fresh mount, ``os.walk(mount, followlinks=True)`` and a stat of every
file, then the daemon's VmRSS (target <= 60 MB): with links the daemon never
sees the store's subtrees; without, it holds an inode for every file.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from bench.envs import Mounts, make_project, uv_env, uv_sync_cmd
from bench.harness import (
    Result,
    Results,
    Target,
    Tools,
    can_drop_caches,
    drop_caches,
    page_cache_mb,
    rss_mb,
    run,
    walk_and_stat,
    warm_base_python,
)
from bench.imports import variants

SECTION = "memory"


def _grow(python: str | Path, code: str, env: dict) -> float:
    before = page_cache_mb()
    run([str(python), "-c", code], env=env)
    return page_cache_mb() - before


def second_uv_venv(tools: Tools, lock: Path, scratch: Path) -> str:
    """Another uv venv of ``lock`` like the reference one (hardlinks, bytecode compiled); its python."""
    project = make_project(lock, scratch / "uv-second")
    run(uv_sync_cmd(tools, project, "hardlink", compile_bytecode=True), env=uv_env(dict(os.environ)))
    return str(project / ".venv/bin/python")


def _record(results: Results, side: str, what: str, g1: float, g2: float, target: Target | None) -> None:
    results.add(SECTION, f"memory/{side}/first", f"{what}: page cache growth, first environment imports", "MB", g1)
    results.add(SECTION, f"memory/{side}/second", f"{what}: page cache growth, second environment imports", "MB", g2)
    results.add(SECTION, f"memory/{side}/ratio", f"{what}: second / first", "%", 100 * g2 / g1 if g1 > 0 else 0.0,
                target=target)
    print(f"# memory {side}: G1 {g1:.1f} MB, G2 {g2:.1f} MB", file=sys.stderr)


def run_memory(results: Results, tools: Tools, lock: Path, uv_python: str, modules: list[str], repeat: int,
               scratch: Path, env: dict, *, links_off: bool = False) -> None:
    """Keys ``memory/{vsite,vsite/links-off,uv}/{first,second,ratio}`` and ``memory/walk-rss[/links-off]``."""
    code = "import " + ", ".join(modules)
    sides = [f"vsite{suffix}" for suffix, _, _ in variants(links_off)] + ["uv"]
    if not can_drop_caches():
        for side in sides:
            results.by_key[f"memory/{side}/ratio"] = Result(SECTION, f"memory/{side}/ratio", f"{side}: second / first",
                                                            "%", note="skipped: cannot write /proc/sys/vm/drop_caches")
    else:
        uv_second = second_uv_venv(tools, lock, scratch)
        mount_envs = {f"vsite{suffix}": (mount_env, tag) for suffix, mount_env, tag in variants(links_off)}
        for r in range(repeat):
            for side in sides[r % len(sides):] + sides[: r % len(sides)]:
                if side == "uv":
                    drop_caches()
                    warm_base_python(tools.python)
                    g1 = _grow(uv_python, code, env)
                    g2 = _grow(uv_second, code, env)
                    _record(results, side, "uv venv (second: another hardlinked venv)", g1, g2, None)
                    continue
                mount_env, tag = mount_envs[side]
                with Mounts(tools, mount_env) as mounts:
                    targets = [scratch / f"memory-{r}-{side.replace('/', '-')}-{i}" / ".venv" for i in (1, 2)]
                    drop_caches()
                    warm_base_python(tools.python)
                    pids, growth = [], []
                    for target in targets:
                        pids.append(mounts.mount(lock, target))
                        growth.append(_grow(target / "bin/python", code, env))
                    _record(results, side, f"vsite mount{tag} (second: another mount of the lock)", *growth,
                            Target(5))
                    for i, pid in enumerate(pids, 1):
                        results.add(SECTION, f"memory/{side}/rss-{i}", f"vsite mount{tag}: daemon {i} RSS after import",
                                    "MB", rss_mb(pid)[0])
    for r in range(repeat):
        for suffix, mount_env, tag in variants(links_off):
            with Mounts(tools, mount_env) as mounts:
                target = scratch / f"walk-{r}{suffix.replace('/', '-')}" / ".venv"
                pid = mounts.mount(lock, target)
                start = time.perf_counter()
                files = walk_and_stat(target)
                seconds = time.perf_counter() - start
                rss, peak = rss_mb(pid)
            results.add(SECTION, f"memory/walk-rss{suffix}",
                        f"daemon RSS after walking the mount{tag} ({files} files, followlinks, stat each)", "MB", rss,
                        target=Target(60))
            results.add(SECTION, f"memory/walk-peak{suffix}", f"daemon peak RSS (VmHWM) after the walk{tag}", "MB",
                        peak, target=Target(60))
            results.add(SECTION, f"memory/walk-time{suffix}", f"time of the walk{tag}", "s", seconds)
            print(f"# walk{tag}: {files} files in {seconds:.2f} s, daemon RSS {rss:.1f} MB", file=sys.stderr)

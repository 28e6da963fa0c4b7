"""Scenarios 2, 3 and 5: importing through a mount against importing from uv's venv, and what the daemon costs.

The uv side is one venv made by ``uv sync --frozen --compile-bytecode`` (the
same state as vsite's store: every module precompiled, pages warm), so both
sides import precompiled bytecode and the difference is the filesystem.

2. *first* is the first process importing a module on a fresh mount (the
   mount's kernel caches empty, nothing looked up yet; the store's pages warm),
   paired with a run on the uv venv just before it; *warm* are the following
   runs, alternating uv and vsite; *cold* is the first import on another fresh
   mount with the page cache dropped before it and before its uv pair (which
   side goes first alternates); *requests* are the daemon's request counters
   over one warm import (issue 12: <= 20).
3. N processes importing one module at once, first on a fresh mount and then
   warm, each paired with N on the uv venv.
5. The daemon's RSS (VmRSS, and VmHWM, the peak) and CPU seconds
   (/proc/<pid>/status and /stat) idle after mounting and while serving (3).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from bench.envs import LINKS_OFF, Mounts
from bench.harness import (
    Results,
    Target,
    Tools,
    can_drop_caches,
    cpu_seconds,
    daemon_requests,
    drop_caches,
    rss_mb,
    run,
    timed,
    timed_together,
)

HEAVY = ("pandas", "sklearn", "scipy.stats", "matplotlib.pyplot")
LIGHT = ("rich.console", "pygments.lexers.python", "click", "packaging.tags")


def _available(python: str, env: dict, modules: Sequence[str]) -> list[str]:
    """Which of ``modules`` the environment of ``python`` has, in order."""
    code = ("import importlib.util as u, sys\n"
            "def has(m):\n"
            "    try: return u.find_spec(m) is not None\n"
            "    except ImportError: return False\n"
            "print(' '.join(m for m in sys.argv[1:] if has(m)))")
    return run([python, "-c", code, *modules], env=env).split()


def pick_modules(python: str, env: dict, want: int = 4) -> list[str]:
    """The heavy modules the environment has (else light ones the demo lock has), at most ``want``."""
    have = _available(python, env, HEAVY + LIGHT)
    heavy = [m for m in have if m in HEAVY]
    return (heavy or have)[:want]


def pick_light(python: str, env: dict) -> str:
    """The lightest module of LIGHT the environment has: what each ``vsite run`` worker of the ready section imports."""
    have = _available(python, env, LIGHT[::-1])
    if not have:
        sys.exit(f"bench: the lock has none of {', '.join(LIGHT)}")
    return have[0]


def _import(python: str | Path, module: str) -> list[str]:
    return [str(python), "-c", f"import {module}"]


def variants(links_off: bool) -> list[tuple[str, dict | None, str]]:
    """(key suffix, vsite mount's extra env, label suffix) of each vsite data path to measure: whatever
    ``vsite mount`` chooses (the native data path where it can), and with ``links_off`` also VSITE_LINKS=0."""
    return [("", None, "")] + ([("/links-off", LINKS_OFF, " (VSITE_LINKS=0)")] if links_off else [])


def warm_store(tools: Tools, lock: Path, modules: list[str], scratch: Path, env: dict,
               uv_python: str | None = None) -> None:
    """Untimed: one mount importing every module, so the store's pages are in the page cache (and, given
    ``uv_python``, the same import from the uv venv, for uv's side). After anything that dropped the cache."""
    code = ", ".join(modules)
    if uv_python:
        run(_import(uv_python, code), env=env)
    with Mounts(tools) as mounts:
        target = scratch / "warm-store" / ".venv"
        mounts.mount(lock, target)
        run(_import(target / "bin/python", code), env=env)


def run_imports(results: Results, tools: Tools, lock: Path, uv_python: str, modules: list[str], repeat: int,
                warm: int, scratch: Path, env: dict, *, links_off: bool = False, cold: bool = True) -> None:
    """Keys ``import/<module>/{first,warm,cold,uv,uv-warm,uv-cold}`` (+ ``/links-off``), the daemon's
    ``requests/<module>`` during one warm import, and its RSS after one module's imports.

    *first*: a fresh mount with the store's pages warm, paired with the uv venv just before; *warm*: the
    following pairs, alternating which side goes first; *cold*: another fresh mount, the page cache dropped
    before each side of the pair (the side going first alternates); *requests*: the daemon's counters
    (SIGUSR1, registry stats file) before and after the first warm import through the mount."""
    cold = cold and can_drop_caches()
    for r in range(repeat):
        warm_store(tools, lock, modules, scratch, env, uv_python)  # the cold pairs of the last repeat dropped it
        for m, module in enumerate(modules):
            for suffix, mount_env, tag in variants(links_off):
                name = f"{module}{tag}"
                target = scratch / f"import-{r}-{module}{suffix.replace('/', '-')}" / ".venv"
                with Mounts(tools, mount_env) as mounts:
                    pid = mounts.mount(lock, target)
                    python = target / "bin/python"
                    results.add("import", f"import/{module}/uv", f"{module}: uv venv (paired with first)", "s",
                                timed(_import(uv_python, module), env=env))
                    first = timed(_import(python, module), env=env)
                    results.add("import", f"import/{module}/first{suffix}", f"{name}: first after mount, store warm",
                                "s", first, baseline=f"import/{module}/uv", target=Target(1.05, "ratio"))
                    before = daemon_requests(pid, target)
                    for w in range(warm):
                        pair = [("uv", uv_python), ("vsite", python)]
                        for side, py in pair if w % 2 == 0 else pair[::-1]:
                            seconds = timed(_import(py, module), env=env)
                            if side == "uv":
                                results.add("import", f"import/{module}/uv-warm", f"{module}: uv venv, warm", "s",
                                            seconds)
                                continue
                            results.add("import", f"import/{module}/warm{suffix}", f"{name}: warm, through the mount",
                                        "s", seconds, baseline=f"import/{module}/uv-warm", target=Target(1.02, "ratio"))
                            if w == 0:
                                after = daemon_requests(pid, target)
                                ops = {k: after.get(k, 0) - before.get(k, 0) for k in after}
                                ops = {k: v for k, v in ops.items() if v}
                                results.add("requests", f"requests/{module}{suffix}",
                                            f"daemon requests during a warm import of {name}", "requests",
                                            sum(ops.values()), target=Target(20),
                                            note=" ".join(f"{k}={v}" for k, v in sorted(ops.items())))
                    results.add("daemon", f"daemon/rss-after-{module}{suffix}", f"RSS after importing {name}", "MB",
                                rss_mb(pid)[0])
                print(f"# import {name}: first {first:.3f} s", file=sys.stderr)
        for m, module in enumerate(modules):  # after every warm figure of this repeat: they drop the page cache
            for suffix, mount_env, tag in variants(links_off) if cold else []:
                _cold_pair(results, tools, lock, uv_python, module, scratch / f"cold-{r}-{module}{suffix.replace('/', '-')}",
                           env, mount_env, suffix, f"{module}{tag}", uv_first=(r + m) % 2 == 0)
    if cold:
        warm_store(tools, lock, modules, scratch, env, uv_python)


def _cold_pair(results: Results, tools: Tools, lock: Path, uv_python: str, module: str, work: Path, env: dict,
               mount_env: dict | None, suffix: str, name: str, uv_first: bool) -> None:
    """One fresh mount; drop the page cache, import on one side; drop again, import on the other."""
    with Mounts(tools, mount_env) as mounts:
        target = work / ".venv"
        mounts.mount(lock, target)
        sides = [("uv", uv_python), ("vsite", target / "bin/python")]
        for side, python in sides if uv_first else sides[::-1]:
            drop_caches()
            seconds = timed(_import(python, module), env=env)
            if side == "uv":
                results.add("import", f"import/{module}/uv-cold", f"{module}: uv venv, page cache dropped", "s",
                            seconds)
            else:
                results.add("import", f"import/{module}/cold{suffix}",
                            f"{name}: first after mount, page cache dropped", "s", seconds,
                            baseline=f"import/{module}/uv-cold", target=Target(1.05, "ratio"))
            print(f"# import {name} cold {side}: {seconds:.3f} s", file=sys.stderr)


def run_parallel(results: Results, tools: Tools, lock: Path, uv_python: str, module: str, n: int, repeat: int,
                 scratch: Path, env: dict) -> None:
    """Keys ``parallel/{first,warm,uv}`` and the daemon's ``daemon/*`` while serving them."""
    for r in range(repeat):
        target = scratch / f"parallel-{r}" / ".venv"
        with Mounts(tools) as mounts:
            pid = mounts.mount(lock, target)
            results.add("daemon", "daemon/rss-idle", "RSS idle after mount", "MB", rss_mb(pid)[0])
            for phase in ("first", "warm"):
                uv = timed_together([_import(uv_python, module)] * n, env=env)
                results.add("parallel", "parallel/uv", f"{n} x import {module}: uv venv", "s", uv)
                cpu = cpu_seconds(pid)
                took = timed_together([_import(target / "bin/python", module)] * n, env=env)
                cpu = cpu_seconds(pid) - cpu
                results.add("parallel", f"parallel/{phase}",
                            f"{n} x import {module}: {'fresh mount' if phase == 'first' else 'warm mount'}", "s",
                            took, baseline="parallel/uv", target=Target(1.1, "ratio"))
                results.add("daemon", f"daemon/cpu-{phase}", f"CPU serving {n} importers ({phase})", "s", cpu)
                results.add("daemon", f"daemon/cpu-share-{phase}", f"CPU share of wall serving {n} importers ({phase})",
                            "%", 100 * cpu / took)
                print(f"# parallel {phase}: vsite {took:.2f} s, uv {uv:.2f} s, daemon cpu {cpu:.2f} s", file=sys.stderr)
            rss, peak = rss_mb(pid)
            results.add("daemon", "daemon/rss-serving", f"RSS after {2 * n} importers", "MB", rss, target=Target(60))
            results.add("daemon", "daemon/rss-peak", "peak RSS (VmHWM)", "MB", peak, target=Target(60))

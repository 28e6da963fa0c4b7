"""Scenarios 2, 3 and 5: importing through a mount against importing from uv's venv, and what the daemon costs.

The uv side is one venv made by ``uv sync --frozen --compile-bytecode`` (the
same state as vsite's store: every module precompiled, pages warm), so both
sides import precompiled bytecode and the difference is the filesystem.

2. *first* is the first process importing a module on a fresh mount (empty
   kernel caches, nothing looked up yet), paired with a run on the uv venv just
   before it; *warm* are the following runs, alternating uv and vsite.
3. N processes importing one module at once, first on a fresh mount and then
   warm, each paired with N on the uv venv.
5. The daemon's RSS (VmRSS, and VmHWM, the peak) and CPU seconds
   (/proc/<pid>/status and /stat) idle after mounting and while serving (3).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from bench.envs import Mounts
from bench.harness import Results, Target, Tools, cpu_seconds, rss_mb, run, timed, timed_together

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


def run_imports(results: Results, tools: Tools, lock: Path, uv_python: str, modules: list[str], repeat: int,
                warm: int, scratch: Path, env: dict) -> None:
    """Keys ``import/<module>/{first,warm,uv,uv-warm}``; daemon RSS after one module's imports."""
    for r in range(repeat):
        for module in modules:
            target = scratch / f"import-{r}-{module}" / ".venv"
            with Mounts(tools) as mounts:
                pid = mounts.mount(lock, target)
                python = target / "bin/python"
                results.add("import", f"import/{module}/uv", f"{module}: uv venv (paired with first)", "s",
                            timed(_import(uv_python, module), env=env))
                first = timed(_import(python, module), env=env)
                results.add("import", f"import/{module}/first", f"{module}: first after mount", "s", first,
                            baseline=f"import/{module}/uv", target=Target(1.3, "ratio"))
                for w in range(warm):
                    pair = [("uv", uv_python), ("vsite", python)]
                    for side, py in pair if w % 2 == 0 else pair[::-1]:
                        seconds = timed(_import(py, module), env=env)
                        if side == "uv":
                            results.add("import", f"import/{module}/uv-warm", f"{module}: uv venv, warm", "s", seconds)
                        else:
                            results.add("import", f"import/{module}/warm", f"{module}: warm, through the mount", "s",
                                        seconds, baseline=f"import/{module}/uv-warm", target=Target(1.05, "ratio"))
                results.add("daemon", f"daemon/rss-after-{module}", f"RSS after importing {module}", "MB",
                            rss_mb(pid)[0])
                print(f"# import {module}: first {first:.3f} s", file=sys.stderr)


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
                            took, baseline="parallel/uv", target=Target(1.5, "ratio"))
                results.add("daemon", f"daemon/cpu-{phase}", f"CPU serving {n} importers ({phase})", "s", cpu)
                results.add("daemon", f"daemon/cpu-share-{phase}", f"CPU share of wall serving {n} importers ({phase})",
                            "%", 100 * cpu / took)
                print(f"# parallel {phase}: vsite {took:.2f} s, uv {uv:.2f} s, daemon cpu {cpu:.2f} s", file=sys.stderr)
            rss, peak = rss_mb(pid)
            results.add("daemon", "daemon/rss-serving", f"RSS after {2 * n} importers", "MB", rss, target=Target(60))
            results.add("daemon", "daemon/rss-peak", "peak RSS (VmHWM)", "MB", peak, target=Target(60))

"""``python -m bench [LOCK]``: vsite against uv on one lock, every scenario of issue 7 in one run.

LOCK is a uv.lock with its pyproject.toml beside it (default: the bundled
example). Before measuring, the vsite store is filled (``vsite fetch``) and
(for ready/import/parallel) a reference uv venv is synced with
``--compile-bytecode``, which also warms uv's cache; neither is timed. Then, each with interleaved repeats:

  ready     N environments at once: vsite mounts, --shared, vsite run vs uv sync (hardlink, symlink, copy)
  import    first import after mount and warm import vs the uv venv
  parallel  N importers at once on one mount vs the uv venv (+ daemon RSS/CPU)
  memory    page cache of a second mount (and of a second uv venv), daemon RSS after a full walk
  scaling   mount time against the number of files (subsets of the lock)
  fetch     cold vsite fetch vs cold uv sync --compile-bytecode (bench/bench_fetch.py)
  alternatives  every way of making N environments: env ready and worker ready (bench/alternatives.py)
  fleet     M different locks (subsets of LOCK) on one node: ready, page cache, daemon RSS (bench/fleet.py)

Prints a markdown report (min/median/max, ratio to uv, target verdicts);
``--markdown``, ``--json`` and ``--plots`` also write it, the raw samples and
PNG plots. ``--tiny`` is the smoke-test size (N=1, one repeat).

  .venv/bin/python -m bench bench/locks/large/uv.lock --plots docs --stem bench-large
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from bench import alternatives, envs, fleet, imports, memory, ready, report, scaling
from bench.harness import Results, Tools, remove, run, tree_bytes, unmount_under, uptime

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = ("ready", "import", "parallel", "memory", "scaling", "fetch", "alternatives", "fleet")
NEEDS_UV_VENV = {"ready", "import", "parallel", "memory", "alternatives", "fleet"}


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("lock", type=Path, nargs="?", default=ROOT / "examples/demo/uv.lock")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved repeats of each measurement")
    parser.add_argument("--n", type=_ints, default=[1, 8, 32], help="environments at once, e.g. 1,8,32")
    parser.add_argument("--link-modes", default=",".join(envs.LINK_MODES), help="uv link modes to compare")
    parser.add_argument("--warm", type=int, default=5, help="warm import pairs per module and repeat")
    parser.add_argument("--parallel", type=int, default=32, help="importers at once on one mount")
    parser.add_argument("--fetch-repeat", type=int, default=1, help="cold fetch runs (each downloads the lock)")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"sections to run, from {','.join(SECTIONS)}")
    parser.add_argument("--m", type=int, default=8, help="different locks on one node (fleet)")
    parser.add_argument("--links-off", action="store_true",
                        help="also measure import/memory with VSITE_LINKS=0 (the daemon serves every byte)")
    parser.add_argument("--no-cold", action="store_true", help="skip the cold imports (page cache dropped)")
    parser.add_argument("--alt-rows", default=",".join(alternatives.ROWS),
                        help=f"rows of the alternatives section, from {','.join(alternatives.ALL_ROWS)}")
    parser.add_argument("--python", default=None, help="target interpreter (default: this one's base)")
    parser.add_argument("--vsite", default=None,
                        help="the vsite command measured (default: the .venv's); an install from the wheelhouse "
                             "(docs/install.md) is what users run, without the checkout's editable-install finder")
    parser.add_argument("--tiny", action="store_true", help="smoke size: N=1, one repeat, 2 importers")
    parser.add_argument("--markdown", type=Path, help="also write the report here")
    parser.add_argument("--json", type=Path, help="write every sample here")
    parser.add_argument("--plots", type=Path, help="write PNG plots into this dir")
    parser.add_argument("--stem", default="bench", help="file name stem of the plots")
    args = parser.parse_args(argv)
    if args.tiny:
        args.repeat, args.n, args.warm, args.parallel, args.fetch_repeat, args.m = 1, [1], 1, 2, 1, 2
    args.only = [s for s in args.only.split(",") if s]
    unknown = set(args.only) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    args.lock = args.lock.resolve()
    if not (args.lock.parent / "pyproject.toml").is_file():
        parser.error(f"{args.lock}: uv needs the pyproject.toml beside the lock")
    return args


def machine(tools: Tools, lock: Path, argv: list[str]) -> dict:
    """What the figures depend on: cores, memory, kernel, interpreter, tool versions, load."""
    mem = next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
    version = lambda *cmd: run(list(cmd)).strip()  # noqa: E731 - a one-line local helper
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "nproc": os.cpu_count(),
        "memory_gb": round(int(mem) / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": version(tools.python, "-c", "import sys; print(sys.version.split()[0])"),
        "uv": version(tools.uv, "--version"),
        "vsite": version(tools.vsite, "--version"),
        "lock": str(lock.relative_to(ROOT) if lock.is_relative_to(ROOT) else lock),
        "loadavg_start": Path("/proc/loadavg").read_text().split()[:3],
        "uptime_start": uptime(),
        "command": "python -m bench " + " ".join(argv),
    }


def _header(info: dict, env_files: int) -> list[str]:
    files = f" ({env_files} files in the uv venv)" if env_files else ""
    return [
        f"lock `{info['lock']}`{files}; {info['date']}; {info['nproc']} CPUs, "
        f"{info['memory_gb']} GB, Linux {info['kernel']}, Python {info['python']}, {info['uv']}, {info['vsite']}; "
        f"load average {' '.join(info['loadavg_start'])} at start, {' '.join(info.get('loadavg_end', []))} at end.",
        "",
        f"`uptime` before: `{info.get('uptime_start', '')}`; after: `{info.get('uptime_end', '')}`.",
        "",
        f"Data path of `vsite mount` (default): {info.get('data_path', '?')}"
        + ("; rows marked VSITE_LINKS=0 were mounted with the daemon serving every byte." if info.get("links_off") else "."),
        "",
        f"`{info['command']}`. Ratios are vsite's median over uv's (below 1: vsite is faster).",
    ]


def _data_path(tools: Tools, lock: Path, scratch: Path) -> str:
    """Mount once (untimed) and say which data path ``vsite mount`` took (links into the store or not)."""
    with envs.Mounts(tools) as mounts:
        target = scratch / "data-path" / ".venv"
        mounts.mount(lock, target)
        return envs.describe_data_path(envs.data_path(target))


def _compile_vsite() -> None:
    """Write vsite's own bytecode, as an install would: with PYTHONDONTWRITEBYTECODE set (as on the bench
    machine) an editable vsite would otherwise recompile ~40 modules in every command it runs."""
    package = Path(importlib.util.find_spec("vsite").origin).parent
    run([sys.executable, "-m", "compileall", "-q", str(package)])


def _reference_venv(tools: Tools, lock: Path, scratch: Path) -> tuple[str, dict]:
    """Sync the reference uv venv (bytecode compiled, warms uv's cache); return its python and the importers' env."""
    project = envs.make_project(lock, scratch / "uv-reference")
    run(envs.uv_sync_cmd(tools, project, "hardlink", compile_bytecode=True, offline=False),
        env=envs.uv_env(dict(os.environ)))
    python = str(project / ".venv/bin/python")
    env = envs.uv_env(dict(os.environ)) | {"MPLBACKEND": "Agg", "MPLCONFIGDIR": str(scratch / "mpl"),
                                           "PYTHONDONTWRITEBYTECODE": "1"}
    return python, env


def _fetch(results: Results, tools: Tools, lock: Path, repeat: int, scratch: Path) -> None:
    from bench.bench_fetch import run_uv, run_vsite

    for r in range(repeat):
        pairs = [("vsite", run_vsite), ("uv", run_uv)]
        for side, fn in pairs if r % 2 == 0 else pairs[::-1]:
            work = Path(tempfile.mkdtemp(prefix=f"fetch-{side}-", dir=scratch))
            seconds, cpu = fn(lock, tools.python, work)  # wall and CPU seconds
            remove(work)
            what = {"vsite": "vsite fetch (empty store, empty uv cache)",
                    "uv": "uv sync --compile-bytecode (empty uv cache)"}[side]
            results.add("fetch", f"fetch/{side}", what, "s", seconds, baseline="fetch/uv" if side == "vsite" else None)
            results.add("fetch", f"fetch-cpu/{side}", f"{what}: CPU", "s", cpu,
                        baseline="fetch-cpu/uv" if side == "vsite" else None)
            print(f"# cold fetch {side}: {seconds:.1f} s", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    tools = Tools.find(args.python, vsite=args.vsite)
    info = machine(tools, args.lock, argv)
    scratch = Path(tempfile.mkdtemp(prefix="vsite-bench-")).resolve()
    results = Results()
    modules: list[str] = []
    env_files = 0
    try:
        _compile_vsite()
        run([tools.vsite, "fetch", str(args.lock), "--python", tools.python])
        info["data_path"] = _data_path(tools, args.lock, scratch)
        info["links_off"] = args.links_off
        print(f"# data path: {info['data_path']}", file=sys.stderr)
        if NEEDS_UV_VENV & set(args.only):
            uv_python, env = _reference_venv(tools, args.lock, scratch)
            venv = scratch / "uv-reference/.venv"
            env_files = sum(len(files) for _, _, files in os.walk(venv))
            modules = imports.pick_modules(uv_python, env)
            for module in modules:  # untimed warm-up: page cache, matplotlib's font cache
                run([uv_python, "-c", f"import {module}"], env=env)
        if "ready" in args.only:
            modes = [m for m in args.link_modes.split(",") if m]
            ready.run_ready(results, tools, args.lock, args.n, modes, args.repeat, scratch, tree_bytes(venv),
                            imports.pick_light(uv_python, env))
        if "import" in args.only:
            imports.run_imports(results, tools, args.lock, uv_python, modules, args.repeat, args.warm, scratch, env,
                                links_off=args.links_off, cold=not args.no_cold)
        if "parallel" in args.only:
            imports.run_parallel(results, tools, args.lock, uv_python, modules[0], args.parallel, args.repeat,
                                 scratch, env)
        if "memory" in args.only:
            memory.run_memory(results, tools, args.lock, uv_python, modules, args.repeat, scratch, env,
                              links_off=args.links_off)
        if "scaling" in args.only:
            scaling.run_scaling(results, tools, args.lock, args.repeat, scratch)
        if "fetch" in args.only:
            _fetch(results, tools, args.lock, args.fetch_repeat, scratch)
        if "alternatives" in args.only:
            rows = [r for r in args.alt_rows.split(",") if r]
            alternatives.run_alternatives(results, tools, args.lock, uv_python, modules, args.n, rows, args.repeat,
                                          scratch, env, tree_bytes(venv))
        if "fleet" in args.only:
            fleet.run_fleet(results, tools, args.lock, args.m, args.repeat, scratch, env, links_off=args.links_off)
    finally:
        unmount_under(scratch)
        remove(scratch)
    info["loadavg_end"] = Path("/proc/loadavg").read_text().split()[:3]
    info["uptime_end"] = uptime()
    info["modules"] = modules
    text = report.markdown(results, _header(info, env_files))
    print(text)
    if args.markdown:
        args.markdown.write_text(text)
    if args.json:
        report.write_json(results, info, args.json)
    if args.plots:
        args.plots.mkdir(parents=True, exist_ok=True)
        for path in report.plot(results, args.plots, args.stem):
            print(f"# wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()

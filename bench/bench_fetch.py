"""Cold fetch: ``vsite fetch`` into an empty store vs ``uv sync --frozen --compile-bytecode`` with an empty uv cache.

Both start from nothing on disk (fresh tmp dirs for the store, the uv cache
and the venv), download every wheel from PyPI, unpack it and compile bytecode
for the same interpreter. vsite is also kept from reusing uv's cache
(``UV_CACHE_DIR`` points at an empty dir), so it measures its own download
path. Wall time and CPU time (user + sys, children included) are reported:
on a shared machine the CPU time is the steadier of the two. Runs alternate (vsite, uv, vsite, uv, ...) so both see the same network
and machine load. Prints one markdown table.

    .venv/bin/python bench/bench_fetch.py bench/locks/large/uv.lock --runs 1
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script (python bench/X.py): make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.harness import children_cpu, find_tool

ROOT = Path(__file__).resolve().parent.parent


def _timed(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Wall time and CPU time (user + sys of the command and its children)."""
    cpu, start = children_cpu(), time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"bench: {' '.join(cmd)} failed: {proc.stderr.strip().splitlines()[-1:]}")
    return elapsed, children_cpu() - cpu


def run_vsite(lock: Path, python: str, scratch: Path) -> tuple[float, float]:
    env = dict(
        os.environ,
        VSITE_CACHE_DIR=str(scratch / "vsite-store"),
        UV_CACHE_DIR=str(scratch / "empty-uv-cache"),
    )
    return _timed([find_tool("vsite"), "fetch", str(lock), "--python", python], env, scratch)


def run_uv(lock: Path, python: str, scratch: Path) -> tuple[float, float]:
    project = scratch / "project"
    project.mkdir()
    shutil.copy(lock, project / "uv.lock")
    shutil.copy(lock.parent / "pyproject.toml", project / "pyproject.toml")
    env = dict(os.environ, UV_CACHE_DIR=str(scratch / "uv-cache"))
    env.pop("VIRTUAL_ENV", None)
    return _timed(
        [find_tool("uv"), "sync", "--frozen", "--compile-bytecode", "--no-install-project", "-q", "--python", python],
        env,
        project,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lock", type=Path, nargs="?", default=ROOT / "bench/locks/large/uv.lock")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args()
    lock = args.lock.resolve()
    python = os.path.realpath(args.python)
    times: dict[str, list[tuple[float, float]]] = {"vsite fetch": [], "uv sync --compile-bytecode": []}
    for _ in range(args.runs):
        for label, fn in (("vsite fetch", run_vsite), ("uv sync --compile-bytecode", run_uv)):
            with tempfile.TemporaryDirectory(prefix="vsite-bench-") as scratch:
                times[label].append(fn(lock, python, Path(scratch)))
                wall, cpu = times[label][-1]
                print(f"# {label}: {wall:.1f}s wall, {cpu:.1f}s CPU", file=sys.stderr)
    uv_version = subprocess.run([find_tool("uv"), "--version"], capture_output=True, text=True).stdout.strip()
    print(f"lock: {lock.relative_to(ROOT) if lock.is_relative_to(ROOT) else lock}; {uv_version}; "
          f"{os.cpu_count()} CPUs; runs: {args.runs}\n")
    print("| tool | median wall (s) | wall per run (s) | CPU per run (s) |\n| --- | --- | --- | --- |")
    for label, values in times.items():
        walls = ", ".join(f"{w:.1f}" for w, _ in values)
        cpus = ", ".join(f"{c:.1f}" for _, c in values)
        print(f"| {label} | {statistics.median(w for w, _ in values):.1f} | {walls} | {cpus} |")


if __name__ == "__main__":
    main()

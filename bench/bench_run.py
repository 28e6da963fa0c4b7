"""N workers starting at once: ``vsite run`` (one shared mount) against ``uv run --frozen`` (one venv each).

Wall time from starting N workers together until all N have imported their
packages and exited, for N = 1, 8, 32 (``--workers``), in the same run,
alternating tools. vsite starts from no mount (the first worker mounts, the
others join; the store is filled beforehand, untimed, by ``vsite fetch``);
every uv worker gets a fresh copy of the project (pyproject.toml + uv.lock)
so each creates its own venv, with ``--link-mode hardlink`` from a warm uv
cache (one untimed ``uv sync`` first). CPU seconds are the workers' and their
children's (rusage) plus, for vsite, the mount daemon's (from /proc), so the
numbers can be read apart from other load on the machine. Also prints the
cost of one join (``vsite run LOCK -- true`` with the mount live). Prints
markdown tables.

    .venv/bin/python bench/bench_run.py bench/locks/large/uv.lock --runs 3
"""

from __future__ import annotations

import argparse
import json
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
DEFAULT_IMPORTS = "requests rich click yaml pydantic sqlalchemy"


def _together(commands: list[tuple[list[str], Path | None]], env: dict[str, str]) -> tuple[float, float]:
    """Start every command at once: (seconds until the last one has exited, CPU seconds they and
    their waited-for children used). All must succeed."""
    cpu = children_cpu()
    start = time.perf_counter()
    procs = [subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for cmd, cwd in commands]
    errors = [(p.wait(), p.stderr.read()) for p in procs]
    elapsed = time.perf_counter() - start
    failed = [err for code, err in errors if code != 0]
    if failed:
        sys.exit(f"bench: {len(failed)} of {len(procs)} workers failed: {failed[0].strip().splitlines()[-3:]}")
    return elapsed, children_cpu() - cpu


def _daemon_cpu(runtime: Path) -> float:
    """CPU seconds of the shared mount's daemon (not our child: read from /proc while it lives)."""
    total = 0.0
    for record in (runtime / "mounts").glob("*.json"):
        if record.name.endswith(".stats.json"):
            continue
        pid = json.loads(record.read_text())["pid"]
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _no_mounts(runtime: Path, timeout: float = 60.0) -> None:
    """Wait for the shared mount to go (grace period), so each vsite trial starts from nothing."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open("/proc/mounts") as table:
            if not any(str(runtime) in line for line in table):
                return
        time.sleep(0.05)
    sys.exit(f"bench: a mount under {runtime} did not go away")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lock", type=Path)
    parser.add_argument("--workers", default="1,8,32")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--imports", default=DEFAULT_IMPORTS, help="modules each worker imports")
    parser.add_argument("--store", type=Path, default=ROOT / ".cache/bench-store", help="VSITE_CACHE_DIR (kept)")
    args = parser.parse_args()
    lock = args.lock.resolve()
    project = lock.parent
    vsite, uv = find_tool("vsite"), find_tool("uv")
    python = shutil.which("python3")
    code = "import " + ", ".join(args.imports.split())
    counts = [int(n) for n in args.workers.split(",")]

    with tempfile.TemporaryDirectory(prefix="bench-run-") as scratch:
        scratch = Path(scratch)
        runtime = scratch / "rt"
        env = dict(os.environ, VSITE_CACHE_DIR=str(args.store), VSITE_RUNTIME_DIR=str(runtime), VSITE_GRACE="600",
                   UV_LINK_MODE="hardlink", UV_PYTHON=python, UV_PYTHON_DOWNLOADS="never", UV_NO_PROGRESS="1")
        env.pop("VIRTUAL_ENV", None)
        subprocess.run([vsite, "fetch", "--python", python, str(lock)], env=env, check=True, capture_output=True)
        warm = scratch / "warm"
        warm.mkdir()
        for name in ("pyproject.toml", "uv.lock"):
            shutil.copy(project / name, warm / name)
        subprocess.run([uv, "sync", "--frozen", "--project", str(warm)], env=env, check=True, capture_output=True)

        def vsite_trial(n: int) -> tuple[float, float]:
            """From no mount; the daemon's CPU is counted, then it is unmounted (the grace is long)."""
            cmd = [vsite, "run", str(lock), "--python", python, "--", "python", "-c", code]
            took, cpu = _together([(cmd, None)] * n, env)
            cpu += _daemon_cpu(runtime)
            for venv in (runtime / "envs").glob("*/venv"):
                subprocess.run([vsite, "unmount", str(venv)], env=env, check=True)
            _no_mounts(runtime)
            return took, cpu

        trial = 0

        def uv_trial(n: int) -> tuple[float, float]:
            nonlocal trial
            trial += 1
            dirs = []
            for i in range(n):
                copy = scratch / f"uv-{trial}-{i}"
                copy.mkdir()
                for name in ("pyproject.toml", "uv.lock"):
                    shutil.copy(project / name, copy / name)
                dirs.append(copy)
            took = _together([([uv, "run", "--frozen", "--project", str(d), "python", "-c", code], d) for d in dirs], env)
            for d in dirs:
                shutil.rmtree(d)
            return took

        results: dict[tuple[str, int], list[tuple[float, float]]] = {}
        for _ in range(args.runs):
            for n in counts:
                results.setdefault(("vsite", n), []).append(vsite_trial(n))
                results.setdefault(("uv", n), []).append(uv_trial(n))

        # the per-worker cost of joining a live mount: `vsite run LOCK -- true`
        holder = subprocess.Popen([vsite, "run", str(lock), "--python", python, "--", "sleep", "600"], env=env)
        time.sleep(3)
        joins = [_together([([vsite, "run", str(lock), "--python", python, "--", "true"], None)], env)
                 for _ in range(10)]
        holder.terminate()
        holder.wait()
        for venv in (runtime / "envs").glob("*/venv"):
            subprocess.run([vsite, "unmount", str(venv)], env=env, check=True)

    packages = sum(1 for line in lock.read_text().splitlines() if line == "[[package]]")
    print(f"lock: {args.lock} ({packages} packages); each worker: python -c {code!r}; "
          f"median of {args.runs} runs, {os.cpu_count()} cores\n")
    print("| workers | vsite run: wall s | CPU s | uv run --frozen: wall s | CPU s | uv / vsite wall | CPU |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for n in counts:
        vw, vc = (statistics.median(x) for x in zip(*results["vsite", n]))
        uw, uc = (statistics.median(x) for x in zip(*results["uv", n]))
        print(f"| {n} | {vw:.2f} | {vc:.2f} | {uw:.2f} | {uc:.2f} | {uw / vw:.1f}x | {uc / vc:.1f}x |")
    walls, cpus = zip(*joins)
    print(f"\none join (`vsite run LOCK -- true`, mount live): wall median {statistics.median(walls) * 1000:.0f} ms"
          f" (min {min(walls) * 1000:.0f}), CPU median {statistics.median(cpus) * 1000:.0f} ms over {len(joins)}")


if __name__ == "__main__":
    main()

"""What each Ray worker start costs on top of Python, per way of getting the environment (no Ray).

bench_ray.py's 32-task times are dominated by Ray's own worker start
(importing ray, connecting the core worker), which is the same for every
variant and very noisy on a shared machine. This measures only what differs:
the command Ray runs to start a worker, with ``default_worker.py`` replaced by
``python -c 'import rich, rich.console, click, attr'``, run one after another
N times (variants interleaved), on a live environment:

- ``vsite plugin``: the start command vsite.ray.plugin gives Ray (the pid lease
  by one ``stat`` of the mount's hold name from sh, then exec the mount's python);
- ``py_executable venv``: exec a prestarted mount's python (no lease);
- ``vsite run``: ``vsite run LOCK -- python`` (its click-free fast path);
- ``uv run``: ``uv run --frozen --project DIR python`` on a synced DIR/.venv.

Reports the median wall time and the mean CPU time (user+sys of the
command's processes) per start.

    .venv/bin/python bench/ray_worker_start.py examples/ray/uv.lock -n 32
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
from bench.harness import children_cpu, unmount_under

CODE = "import rich, rich.console, click, attr"


def _timed(command: list[str], env: dict) -> tuple[float, float]:
    cpu, start = children_cpu(), time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start, children_cpu() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("lock", type=Path)
    parser.add_argument("-n", type=int, default=32)
    args = parser.parse_args()
    lock = args.lock.resolve()
    scratch = Path(tempfile.mkdtemp(prefix="vsstart"))
    env = dict(os.environ, VSITE_RUNTIME_DIR=str(scratch / "runtime"))
    bindir = Path(sys.executable).parent
    vsite, uv = shutil.which("vsite", path=str(bindir)), shutil.which("uv", path=str(bindir))
    try:
        from vsite.ray.env import Lease
        from vsite.ray.spec import EnvSpec

        spec = EnvSpec(str(lock), python=sys.executable)
        lease_name = f"bench-{os.getpid()}"
        venv = subprocess.run([vsite, "mount", "--shared", *spec.cli_args(), "--name", lease_name], env=env,
                              check=True, capture_output=True, text=True).stdout.strip()
        subprocess.run([vsite, "mount", "--shared", str(lock), "--name", lease_name], env=env, check=True,
                       capture_output=True)  # the mount `vsite run LOCK` (python3 on PATH) joins
        prefix = " ".join(Lease(venv, spec).worker_prefix())
        project = scratch / "project"
        project.mkdir()
        for name in ("uv.lock", "pyproject.toml"):
            shutil.copy(lock.parent / name, project / name)
        subprocess.run([uv, "sync", "--frozen", "-q", "--python", sys.executable], cwd=project, check=True)
        variants = {
            "vsite plugin": ["bash", "-c", f"{prefix} exec {venv}/bin/python -c '{CODE}'"],
            "py_executable venv": ["bash", "-c", f"exec {venv}/bin/python -c '{CODE}'"],
            "vsite run": [vsite, "run", str(lock), "--", "python", "-c", CODE],
            "uv run": [uv, "run", "--frozen", "--project", str(project), "--python", sys.executable,
                       "python", "-c", CODE],
        }
        for command in variants.values():  # warm the page cache once
            _timed(command, env)
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
        for i in range(args.n):
            names = list(variants)
            for name in names[i % len(names):] + names[:i % len(names)]:
                results[name].append(_timed(variants[name], env))
        print(f"| per worker start ({args.n} each, {lock.name}) | wall (median) | CPU (mean) |")
        print("| --- | ---: | ---: |")
        for name, series in results.items():
            wall = statistics.median(w for w, _ in series)
            cpu = statistics.mean(c for _, c in series)
            print(f"| {name} | {wall * 1000:.0f} ms | {cpu * 1000:.0f} ms |")
    finally:
        subprocess.run([vsite, "release", "--name", f"bench-{os.getpid()}"], env=env, capture_output=True)
        time.sleep(0.5)
        unmount_under(scratch)
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Ray workers on a lock: the vsite plugin vs Ray's uv integration, in the same run.

Measures the time from submitting N tasks (default 32) until every one has
run in a fresh worker process (``max_calls=1``) and imported the lock's
packages, for:

- ``vsite``: ``runtime_env={"vsite": {"lock": LOCK}}`` (the plugin mounts the
  environment once per node; every worker starts on the mount's python);
- ``vsite run``: ``runtime_env={"py_executable": "vsite run LOCK -- python"}``,
  no plugin: every worker joins the shared mount itself (vsite run's
  click-free fast path once the mount is live);
- ``uv``: ``runtime_env={"py_executable": "uv run --frozen --project .
  --python PY", "working_dir": DIR}`` with DIR holding the lock and its
  pyproject.toml (Ray's documented uv integration: every worker starts
  through ``uv run``, which syncs ``DIR/.venv`` first). ``--project .``:
  uv 0.13 looks for the project from the script's directory (Ray's
  ``default_worker.py``), which is wrong when Ray is installed inside
  another project, as in this checkout's .venv.

Each round starts one local Ray per variant (its own session; Ray's start is
not timed, and ``eager_install`` is off so nothing of the environment is set
up before the first task) and runs two batches: the first batch pays for the
environment (vsite: mount from a warm store; uv: create the working_dir's
.venv from a warm uv cache), the second finds it in place. The order
of the variants rotates from round to round. Ray binds
127.0.0.1 only. The store is filled by ``vsite fetch`` and uv's cache warmed
by a ``uv sync`` in a scratch copy before the first round (not timed).

    .venv/bin/python bench/bench_ray.py examples/ray/uv.lock --tasks 32 --rounds 2
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
from bench.harness import unmount_under

IMPORTS = ("rich", "rich.console", "click", "attr")


def _prepare(lock: Path, scratch: Path) -> tuple[Path, Path, Path]:
    """Store fetched, uv cache warm; returns (lock for vsite, working_dir for uv, runtime dir)."""
    work = scratch / "project"
    work.mkdir()
    for name in ("uv.lock", "pyproject.toml"):
        shutil.copy(lock.parent / name, work / name)
    subprocess.run([sys.executable, "-m", "vsite", "fetch", str(lock)], check=True)
    warm = scratch / "uv-warm"
    shutil.copytree(work, warm)
    uv = shutil.which("uv", path=str(Path(sys.executable).parent))
    subprocess.run([uv, "sync", "--frozen", "--python", sys.executable, "-q"], cwd=warm, check=True)
    return lock, work, scratch / "runtime"


def _round(ray, remote, tasks: int) -> tuple[float, set[str]]:
    start = time.perf_counter()
    prefixes = ray.get([remote.remote() for _ in range(tasks)])
    return time.perf_counter() - start, set(prefixes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("lock", type=Path)
    parser.add_argument("--tasks", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cpus", type=int, default=8, help="Ray's num_cpus (also its worker start-up concurrency)")
    args = parser.parse_args()
    lock = args.lock.resolve()
    scratch = Path(tempfile.mkdtemp(prefix="vsbench"))
    try:
        lock, work, runtime = _prepare(lock, scratch)
        os.environ["VSITE_RUNTIME_DIR"] = str(runtime)  # a fresh runtime dir: round 1 mounts
        import vsite.ray

        os.environ["RAY_RUNTIME_ENV_PLUGINS"] = vsite.ray.plugin_config()
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # loopback only
        os.environ["RAY_AUTH_MODE"] = "disabled"
        import ray

        @ray.remote(num_cpus=1, max_calls=1)
        def work_unit() -> str:
            import importlib
            import sys

            for name in IMPORTS:
                importlib.import_module(name)
            return sys.prefix

        uv = shutil.which("uv", path=str(Path(sys.executable).parent))
        vsite_cmd = shutil.which("vsite", path=str(Path(sys.executable).parent))
        lazy = {"config": {"eager_install": False}}  # nothing is set up before the first task: all of it is timed
        variants = {
            "vsite": {**vsite.ray.runtime_env(str(lock)), **lazy},
            "vsite run": {"py_executable": f"{vsite_cmd} run {lock} -- python", **lazy},
            "uv": {"py_executable": f"{uv} run --frozen --project . --python {sys.executable}", "working_dir": str(work), **lazy},
        }
        times: dict[str, dict[str, list[float]]] = {name: {"first": [], "second": []} for name in variants}
        for r in range(args.rounds):
            order = list(variants)[r % len(variants):] + list(variants)[:r % len(variants)]
            for name in order:
                runtime_env = dict(variants[name])
                if "working_dir" in runtime_env:
                    # A fresh copy per session: a driver that uploaded a directory to an earlier
                    # session skips the upload, and the new session then cannot find the package.
                    fresh = scratch / f"project{r}"
                    shutil.copytree(work, fresh)
                    runtime_env["working_dir"] = str(fresh)
                ray.init(num_cpus=args.cpus, object_store_memory=100 * 1024 * 1024, include_dashboard=False,
                         _temp_dir=str(scratch / f"ray{r}{name.replace(' ', '-')}"), log_to_driver=False, runtime_env=runtime_env)
                for batch in ("first", "second"):
                    elapsed, prefixes = _round(ray, work_unit, args.tasks)
                    times[name][batch].append(elapsed)
                    print(f"round {r + 1} {name} {batch} batch: {elapsed:.2f} s, sys.prefix {sorted(prefixes)}",
                          file=sys.stderr)
                ray.shutdown()
        print(f"| {args.tasks} tasks, {lock.name}, {args.rounds} rounds | first batch of a job (median) | second batch (median) |")
        print("| --- | ---: | ---: |")
        for name, series in times.items():
            print(f"| {name} | {statistics.median(series['first']):.2f} s | {statistics.median(series['second']):.2f} s |")
        print(json.dumps(times), file=sys.stderr)
    finally:
        unmount_under(scratch)
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()

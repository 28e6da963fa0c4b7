"""Ray workers on a vsite venv without the plugin: runtime_env={"py_executable": ...}.

    python with_py_executable.py      (vsite on PATH)

Two ways (docs/ray.md):
1. "vsite run LOCK -- python": each worker joins (or starts) the lock's shared
   mount, holding it while the worker runs; nothing to prepare.
2. "VENV/bin/python" of a mount made beforehand (on a cluster: on every node,
   at the same path); here a shared mount held by a named lease, released at the end.
The environment must contain the cluster's ray version.
"""

import subprocess
import sys

import ray

LOCK = __file__.rsplit("/", 1)[0] + "/uv.lock"


@ray.remote
def where() -> tuple[str, str]:
    import click

    return sys.prefix, click.__file__


def run_job(py_executable: str) -> None:
    ray.init(num_cpus=2, include_dashboard=False, runtime_env={"py_executable": py_executable})
    for prefix, module in ray.get([where.remote() for _ in range(4)]):
        assert module.startswith(prefix + "/"), (prefix, module)
        print(f"{py_executable!r}: task on {prefix}, click from {module}")
    ray.shutdown()


run_job(f"vsite run {LOCK} -- python")

venv = subprocess.run(["vsite", "mount", "--shared", LOCK, "--name", "ray-example"],
                      check=True, capture_output=True, text=True).stdout.strip()
try:
    run_job(f"{venv}/bin/python")
finally:
    subprocess.run(["vsite", "release", "--name", "ray-example"], check=True)

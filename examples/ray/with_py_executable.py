"""Ray workers on a vsite venv without the plugin: runtime_env={"py_executable": VENV/bin/python}.

    python with_py_executable.py

Mount the lock as a venv first (here: by this script; on a cluster: on every
node, at the same path, before the job -- docs/ray.md), then point Ray's
workers at its interpreter. The venv must contain the cluster's ray version.
"""

import os
import subprocess
import sys

import ray

HERE = os.path.dirname(os.path.abspath(__file__))
LOCK = os.path.join(HERE, "uv.lock")
VENV = os.path.join(HERE, ".venv-vsite")

subprocess.run(["vsite", "mount", LOCK, VENV, "--venv"], check=True)
try:
    ray.init(num_cpus=2, include_dashboard=False, runtime_env={"py_executable": f"{VENV}/bin/python"})

    @ray.remote
    def where() -> tuple[str, str]:
        import click

        return sys.prefix, click.__file__

    for prefix, module in ray.get([where.remote() for _ in range(4)]):
        assert prefix == VENV and module.startswith(prefix), (prefix, module)
        print(f"task on {prefix}: click from {module}")
    ray.shutdown()
finally:
    subprocess.run(["vsite", "unmount", VENV], check=True)

"""Ray workers on a vsite mount through the runtime_env plugin.

    RAY_RUNTIME_ENV_PLUGINS='[{"class": "vsite.ray.plugin.VsitePlugin"}]' python with_plugin.py

On a real cluster the variable is set for every `ray start` (docs/ray.md);
here ray.init() starts a local Ray that inherits it from this process.
"""

import os
import sys

import ray

LOCK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "uv.lock")

if "vsite" not in os.environ.get("RAY_RUNTIME_ENV_PLUGINS", ""):
    sys.exit("set RAY_RUNTIME_ENV_PLUGINS='[{\"class\": \"vsite.ray.plugin.VsitePlugin\"}]' first")

ray.init(num_cpus=2, include_dashboard=False, runtime_env={"vsite": {"lock": LOCK}})


@ray.remote
def where() -> tuple[str, str]:
    import rich

    return sys.prefix, rich.__file__


@ray.remote
class Counter:
    """Actors get the job's environment too (or their own: @ray.remote(runtime_env=...))."""

    def prefix(self) -> str:
        import attr  # noqa: F401  (from the mount)

        return sys.prefix


for prefix, module in ray.get([where.remote() for _ in range(4)]):
    assert module.startswith(prefix), (prefix, module)
    print(f"task on {prefix}: rich from {module}")
print(f"actor on {ray.get(Counter.remote().prefix.remote())}")
ray.shutdown()

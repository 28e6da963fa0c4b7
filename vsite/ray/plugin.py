"""Ray's runtime_env plugin for vsite: ``runtime_env={"vsite": {"lock": "uv.lock"}}``.

Enable it in the environment of every ``ray start`` (head and workers)::

    RAY_RUNTIME_ENV_PLUGINS='[{"class": "vsite.ray.plugin.VsitePlugin"}]'

Ray's runtime env agent (one per node) then calls, for each job, task or
actor whose runtime_env has a ``vsite`` field:

- ``validate`` -- the field's shape (vsite.ray.spec), before anything runs;
- ``get_uris`` -- one URI per (field value, working_dir), Ray's cache key;
- ``create`` -- once per URI while Ray caches it: join or start this node's
  shared mount of the environment (fetching what the store lacks) and hold
  it for the hand-off (below);
- ``modify_context`` -- for every worker start: the worker runs the mount's
  ``bin/python``, with the venv's ``bin`` first on PATH, and its start
  command first takes a lease on the mount with the worker's own pid;
- ``delete_uri`` -- when Ray drops the URI: release the agent's hold.

The mount's life is the workers' life: each worker's pid lease ends when the
worker exits, and the mount goes a grace period after the last lease. The
agent's own hold only bridges the gap between mounting and the first
workers' leases: it ends HANDOFF seconds after the start command is
prepared (Ray caches that command per runtime_env and reuses it without
calling the plugin), or at ``delete_uri``. It does not rely on Ray's reference counts, which can
keep a URI "in use" after every worker of a job is gone. A worker that
starts after the mount went away mounts it again from its start command.

Mounting runs in a thread (``create`` is a coroutine on the agent's event
loop) and in a subprocess (the agent must not fork).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from typing import List, Optional

import ray
from ray._private.runtime_env.context import RuntimeEnvContext
from ray._private.runtime_env.plugin import RuntimeEnvPlugin

from vsite.errors import VsiteError
from vsite.ray import env, spec

_WORKING_DIR_VAR = "RAY_RUNTIME_ENV_CREATE_WORKING_DIR"  # set by Ray while plugins create, if working_dir is given
HANDOFF = 10.0  # seconds the agent holds a mount after preparing the workers' start command
# Fields that also choose the worker's interpreter or packages: one of them with vsite is a contradiction.
_EXCLUSIVE = ("pip", "uv", "conda", "py_executable", "container", "image_uri")


class VsitePlugin(RuntimeEnvPlugin):
    """Workers of a job start on a vsite mount of its lock; one mount per node and environment."""

    name = spec.FIELD

    def __init__(self) -> None:
        self.leases: dict[str | None, env.Lease] = {}  # by URI; Ray passes create() an Optional one
        self.handoffs: dict[str, asyncio.TimerHandle] = {}

    @staticmethod
    def validate(runtime_env_dict: dict) -> None:
        spec.check(runtime_env_dict[spec.FIELD])
        clash = [field for field in _EXCLUSIVE if runtime_env_dict.get(field)]
        if clash:
            raise ValueError(
                f"runtime_env['{spec.FIELD}'] chooses the workers' Python; it cannot be combined with {clash[0]!r}"
            )

    def get_uris(self, runtime_env) -> List[str]:
        config = runtime_env.get(spec.FIELD)
        if not config:
            return []
        return [spec.uri(config, runtime_env.working_dir_uri())]

    async def create(
        self, uri: Optional[str], runtime_env, context: RuntimeEnvContext, logger: logging.Logger
    ) -> float:
        base_dir = os.environ.get(_WORKING_DIR_VAR)  # read before the first await: Ray resets it after
        try:
            env_spec = spec.EnvSpec.from_config(runtime_env[spec.FIELD], base_dir, default_python=sys.executable)
            lease = await asyncio.get_running_loop().run_in_executor(None, _mount, env_spec)
        except VsiteError as exc:
            raise RuntimeError(f"vsite: {exc}") from None
        logger.info("vsite: %s is on %s", env_spec.lock, lease.venv)
        old = self.leases.pop(uri, None)
        self.leases[uri] = lease
        if old is not None:
            old.close()
        return 0  # bytes of disk: a mount takes none of its own (the store is shared)

    def modify_context(self, uris: List[str], runtime_env, context: RuntimeEnvContext, logger: logging.Logger) -> None:
        uri = uris[0]
        lease = self.leases[uri]
        context.command_prefix += lease.worker_prefix()
        context.py_executable = lease.python
        context.env_vars["VIRTUAL_ENV"] = lease.venv
        context.env_vars["PATH"] = f"{lease.venv}/bin:" + context.env_vars.get("PATH", "${PATH}")
        if uri in self.handoffs:
            self.handoffs.pop(uri).cancel()
        self.handoffs[uri] = asyncio.get_running_loop().call_later(HANDOFF, lease.close)

    def delete_uri(self, uri: str, logger: logging.Logger) -> float:
        lease = self.leases.pop(uri, None)
        if uri in self.handoffs:
            self.handoffs.pop(uri).cancel()
        if lease is None:
            return 0
        lease.close()
        logger.info("vsite: released %s", lease.venv)
        return 0


def _mount(env_spec: spec.EnvSpec) -> env.Lease:
    """Check that the lock runs this Ray, then mount (in the agent's thread pool)."""
    problem = env.ray_mismatch(env_spec, ray.__version__)
    if problem:
        raise VsiteError(problem)
    return env.env_for(env_spec)

"""One shared mount per node and environment, for Ray's runtime env agent (blocking, no Ray import).

``env_for(spec)`` joins (or starts) the environment's shared mount (vsite.shared,
the one ``vsite run`` and ``vsite mount --shared`` use) and returns a
:class:`Lease`: the venv path, and a connection lease the caller (the agent)
holds until ``close()``. Each worker holds the mount for its own life through
``Lease.worker_prefix()``, the start-command words that take a pid lease with
the worker's pid (one ``stat`` from sh); so the mount lives while any worker runs and goes a grace
period after the last one (and after the agent's lease). The mount is started
by running ``vsite`` in a subprocess, never by forking the caller: Ray's agent
is a multi-threaded gRPC server that must not be forked.
"""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from vsite.errors import MountError, VsiteError
from vsite.ray.spec import EnvSpec
from vsite.shared import client
from vsite.shared.env import SharedEnv
from vsite.shared.launch import HOLD_NAME

MOUNT_TIMEOUT = 3600.0  # seconds a first mount may take (a cold fetch of a large lock)


def _vsite_command(spec: EnvSpec) -> list[str]:
    """``python -m vsite mount --shared LOCK [options]`` with this interpreter (the one that has vsite).

    With ``VSITE_STORE_PATH`` in the agent's environment (shared read-only stores,
    docs/store.md "Clusters"), the command names it (``--store-path``): the agent's
    mount and a worker's own (the start command's slow path, run in the worker's
    environment) use the same stores, so a node's first worker mounts without downloading.
    """
    store_path = os.environ.get("VSITE_STORE_PATH")
    extra = ["--store-path", store_path] if store_path else []
    return [sys.executable, "-m", "vsite", "mount", "--shared", *extra, *spec.cli_args()]


def _shared_mount(spec: EnvSpec) -> str:
    """Join or start the shared mount; its venv path. The command's lease ends when it exits.

    ``sh`` execs vsite under its own pid, so ``--pid $$`` names vsite itself.
    """
    command = ["/bin/sh", "-c", 'exec "$@" --pid $$', "sh", *_vsite_command(spec)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=MOUNT_TIMEOUT)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.startswith("vsite: ") and "warning" not in line]
        message = lines[-1][len("vsite: "):] if lines else (done.stderr.strip().splitlines() or ["failed"])[-1]
        raise VsiteError(message, exit_code=done.returncode)
    return done.stdout.strip().splitlines()[-1]


@dataclass
class Lease:
    """The agent's hold on one node's shared mount; ``venv`` stays the mount's path after ``close()``."""

    venv: str
    spec: EnvSpec
    sock: socket.socket | None = field(default=None, repr=False)

    @property
    def python(self) -> str:
        return os.path.join(self.venv, "bin", "python")

    def worker_prefix(self) -> list[str]:
        """Shell words to put before a worker's ``exec python ...``: hold the mount for the worker's life.

        The quick path is one ``stat`` from the shell that then execs the
        worker (so the pid is the worker's): a lookup of the mount's hold name,
        which the mount's daemon answers with a pid lease on the requester
        (vsite.shared.launch.HOLD_NAME; no Python start). It needs the mount
        live; if it is gone (every worker ended, the grace period passed) or
        its daemon died, the test fails and the slow path mounts it again
        with a lease on ``$$``.
        """
        hold = os.path.join(self.venv, HOLD_NAME.decode())
        slow = [shlex.quote(w) for w in _vsite_command(self.spec)] + ["--pid", "$$"]
        return ["[", "-e", shlex.quote(hold), "]", "||", *slow, ">/dev/null", "&&"]

    def close(self) -> None:
        """Drop the agent's hold (idempotent); workers' own leases keep the mount while they run."""
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def env_for(spec: EnvSpec) -> Lease:
    """Join or start ``spec``'s shared mount on this node and hold it (a connection lease)."""
    for _ in range(2):  # a mount whose grace period ran out between the two steps: start it again
        venv = _shared_mount(spec)
        sock = client.lease(SharedEnv(Path(venv).parent.name), "hold 0")
        if sock is not None:
            return Lease(venv, spec, sock)
    raise MountError(f"the shared mount of {spec.lock} went away while joining it")


def ray_mismatch(spec: EnvSpec, version: str) -> str | None:
    """Why workers on ``spec``'s environment could not run Ray ``version``, or None.

    A worker imports ray from its own environment, and Ray requires one
    version across a cluster: the lock must pin exactly the running one.
    """
    from vsite.plan.cache import cached_plan

    plan, _ = cached_plan(spec.lock, spec.python, spec.options)
    found = [item.version for item in plan.items if item.name == "ray"]
    if not found:
        return f"{spec.lock} does not install ray: Ray workers need ray=={version} in their environment"
    if found[0] != version:
        return f"{spec.lock} pins ray {found[0]} but this cluster runs ray {version}: lock ray=={version}"
    return None

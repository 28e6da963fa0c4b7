"""One mounted environment per node and lock, for Ray's runtime env agent (blocking, no Ray import).

``env_for(spec)`` returns a :class:`Lease` on the environment's mount: its venv
path, held until ``close()``. The mount is made by running ``vsite`` in a
subprocess, never by forking the caller: the caller is Ray's agent, a
multi-threaded gRPC server that must not be forked.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass

from vsite.errors import MountError, VsiteError
from vsite.fs import mountpoint, registry
from vsite.paths import runtime_dir
from vsite.ray.spec import EnvSpec

MOUNT_TIMEOUT = 3600.0  # seconds a first mount may take (a cold fetch of a large lock)


def _vsite(*args: str) -> None:
    """Run ``vsite ARGS`` with this interpreter; a failure becomes its one-line message."""
    done = subprocess.run(
        [sys.executable, "-m", "vsite", *args], capture_output=True, text=True, timeout=MOUNT_TIMEOUT
    )
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.startswith("vsite: ") and "warning" not in line]
        message = lines[-1][len("vsite: "):] if lines else (done.stderr.strip().splitlines() or ["failed"])[-1]
        raise VsiteError(message, exit_code=done.returncode)


def _key(spec: EnvSpec) -> str:
    raw = json.dumps([spec.lock, spec.python, spec.options.to_json()], sort_keys=True)
    return hashlib.sha256(raw.encode()).hexdigest()[:24]


@dataclass
class Lease:
    """A hold on a node's mount of one environment; ``venv`` is valid until ``close()``."""

    venv: str
    key: str

    @property
    def python(self) -> str:
        return os.path.join(self.venv, "bin", "python")

    def close(self) -> None:
        """Unmount (a busy mount is detached lazily: workers still on it keep their files)."""
        with _locked(self.key):
            if registry.mount_fstype(self.venv) == registry.FSTYPE:
                try:
                    mountpoint.unmount(self.venv)
                except MountError:
                    subprocess.run(["fusermount3", "-u", "-z", self.venv], capture_output=True)
                    registry.remove(self.venv)


class _locked:
    """flock on ``runtime_dir()/ray/<key>.lock``: one agent at a time mounts or unmounts an environment."""

    def __init__(self, key: str) -> None:
        self.path = runtime_dir() / "ray" / f"{key}.lock"

    def __enter__(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def __exit__(self, *exc) -> None:
        os.close(self.fd)


def env_for(spec: EnvSpec) -> Lease:
    """Mount ``spec``'s environment as a venv at this node's stable path (or reuse the live mount)."""
    key = _key(spec)
    venv = str(runtime_dir() / "ray" / key / "venv")
    with _locked(key):
        live = registry.read_record(venv)
        if registry.mount_fstype(venv) == registry.FSTYPE and live is not None and registry.daemon_alive(live):
            return Lease(venv, key)
        if registry.mount_fstype(venv) is not None:  # a dead daemon's mount
            mountpoint.unmount(venv)
        _vsite("mount", *spec.cli_args(), venv, "--venv")
    return Lease(venv, key)


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

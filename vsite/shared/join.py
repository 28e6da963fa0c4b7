"""Join a shared mount, or start it: what ``vsite run`` and ``vsite mount --shared`` do first.

Fast path: connect to the environment's lease server and take a lease; one
connect, no file lock, no trio/pyfuse3/store/view import. Slow path (no
daemon answers): take the environment's file lock -- 32 workers starting at
once queue on it, no sleep-and-retry -- try the fast path again (the first
one in has started the daemon meanwhile), else clear a dead mount left by a
killed daemon and start a new daemon (plan, fetch, build the view, fork),
take a lease on it, and release the lock. A daemon unmounts only while
holding the same lock (vsite.shared.server), so a joiner never races an
unmount: it either gets its lease first or finds the mount gone.
"""

from __future__ import annotations

import os
import socket
from typing import TYPE_CHECKING

from vsite.errors import MountError
from vsite.fileio import flocked
from vsite.shared import client
from vsite.shared.env import SharedEnv

if TYPE_CHECKING:
    from vsite.plan.model import Plan
    from vsite.target import Target


def join(
    plan: "Plan", target: "Target", lock: str, request: str, *, grace: float, offline: bool = False
) -> tuple[SharedEnv, socket.socket]:
    """Take the lease ``request`` (a client request line) on ``plan``'s shared mount, starting it if needed.

    Returns the environment and the open lease connection.
    """
    from vsite.shared.env import env_key

    env = SharedEnv(env_key(plan))
    sock = client.lease(env, request)
    if sock is not None:
        return env, sock
    try:
        env.root.mkdir(parents=True, exist_ok=True)
        os.close(os.open(env.lock_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600))
    except OSError as exc:
        raise MountError(f"cannot create the shared mount's files in {env.root.parent}: {exc.strerror}") from None
    with flocked(env.lock_file, 0o600):
        sock = client.lease(env, request)
        if sock is None:
            _start(env, plan, target, lock, grace=grace, offline=offline)
            sock = client.lease(env, request)
            if sock is None:
                raise MountError(f"the new daemon of {env.venv} does not answer on its lease socket")
        return env, sock


def join_lock(
    lock: str, python: str | None, request: str, *, grace: float | None, offline: bool = False
) -> tuple["Plan", SharedEnv, socket.socket]:
    """:func:`join` for LOCK with no plan options, as the click-free command lines give it (``vsite
    run LOCK [--python PY] -- CMD``, ``vsite mount --shared LOCK ...``): the cached plan for PY, the
    grace period from ``--grace`` or ``$VSITE_GRACE``. Returns the plan too."""
    from vsite.plan.cache import cached_plan
    from vsite.shared.env import grace_period

    plan, target = cached_plan(lock, python)
    return (plan, *join(plan, target, lock, request, grace=grace_period(grace), offline=offline))


def _start(
    env: SharedEnv, plan: "Plan", target: "Target", lock: str, *, grace: float, offline: bool
) -> None:
    """Mount ``plan`` at ``env.venv`` with a lease server in its daemon (called under the file lock)."""
    from vsite.fs import mountpoint
    from vsite.fs.daemon import spawn
    from vsite.fs.prepare import prepare
    from vsite.fs.probe import Probe
    from vsite.shared.launch import HOLD_NAME, JOIN_NAME, PARENT_NAME, JoinCheck
    from vsite.shared.server import LeaseServer
    from vsite.store import usage

    mountpoint.check_fuse()
    _clear_dead_mount(env)
    path, _ = mountpoint.prepare_mountpoint(env.venv)
    store, view, record = prepare(plan, target, lock, path, venv=True, offline=offline)
    check = JoinCheck(env.venv, os.path.realpath(path), plan.lock_sha256, plan.target_identity)
    server = LeaseServer(env, grace, check if not plan.options and env.env_key == plan.key() else None)
    probe = Probe({JOIN_NAME: server.join_lookup, HOLD_NAME: server.hold_lookup,
                   PARENT_NAME: server.parent_lookup})
    pid = spawn(view, record, service=server.run, probe=probe)
    usage.pin(store, record.plan_key, record.wheels, pid)  # no store gc of these wheels while it serves


def _clear_dead_mount(env: SharedEnv) -> None:
    """A mount left at ``env.venv`` while no lease server answers: its daemon died (or hangs).

    Under the file lock and with no server answering, the mount has no live
    owner that will unmount it; detach it lazily so a new daemon can mount.
    """
    from vsite.fs import registry
    from vsite.fs.mountpoint import unmount

    record = registry.read_record(env.venv)
    if registry.mount_fstype(env.venv) is None:
        if record is not None:
            registry.remove(env.venv)
        return
    if record is not None and registry.daemon_alive(record):
        raise MountError(f"the daemon of {env.venv} (pid {record.pid}) runs but does not answer on its lease socket")
    unmount(env.venv)

"""The lease server alone (no FUSE): leases end when the kernel says so; the grace period; the file lock."""

from __future__ import annotations

import fcntl
import os
import subprocess

import pytest
import trio

from vsite.shared import client
from vsite.shared.env import SharedEnv, env_key, grace_period
from vsite.shared.server import LeaseServer
from vsite.errors import VsiteError
from vsite.plan.model import Artifact, Plan, PlanItem


@pytest.fixture
def env(tmp_path, monkeypatch) -> SharedEnv:
    monkeypatch.setenv("VSITE_RUNTIME_DIR", str(tmp_path / "rt"))
    shared = SharedEnv("k" * 24)
    shared.lock_file.parent.mkdir(parents=True)
    return shared


def serve(env: SharedEnv, grace: float, body) -> bool:
    """Run a LeaseServer and ``body(server)`` (async); True if the server asked to unmount."""

    async def main() -> bool:
        server = LeaseServer(env, grace)
        with trio.CancelScope() as unmount:
            async with trio.open_nursery() as nursery:
                await nursery.start(server.run, unmount)
                await body(server)
                nursery.cancel_scope.cancel()  # the body is done: stop serving (not an unmount)
        return unmount.cancel_called

    return trio.run(main)


async def call(fn, *args):
    return await trio.to_thread.run_sync(fn, *args)


async def until(condition, timeout: float = 10.0) -> None:
    with trio.fail_after(timeout):
        while not condition():
            await trio.sleep(0.01)


def test_connection_lease_ends_at_eof(env):
    async def body(server):
        sock = await call(client.lease, env, "hold 0")
        await until(lambda: server.leases == 1)
        assert (await call(client.status, env))["connections"] == 1
        sock.close()
        await until(lambda: server.leases == 0)

    assert not serve(env, 60, body)


def test_pid_lease_outlives_the_connection_until_the_pid_exits(env):
    async def body(server):
        holder = subprocess.Popen(["sleep", "60"])
        sock = await call(client.lease, env, f"hold {holder.pid}")
        sock.close()
        await trio.sleep(0.2)
        assert server.leases == 1
        holder.kill()
        await call(holder.wait)
        await until(lambda: server.leases == 0)

    assert not serve(env, 60, body)


def test_named_lease_until_released(env):
    async def body(server):
        (await call(client.lease, env, "name job")).close()
        (await call(client.lease, env, "name job")).close()  # the same name is one lease
        await until(lambda: server.connections == 0)
        assert server.leases == 1
        assert await call(client.release, env, "job")
        assert not await call(client.release, env, "job")
        await until(lambda: server.leases == 0)

    assert not serve(env, 60, body)


def test_grace_expires_into_unmount_and_refuses_new_leases(env):
    async def body(server):
        (await call(client.lease, env, "hold 0")).close()
        await trio.sleep_forever()  # the server cancels us when it unmounts

    assert serve(env, 0.2, body)
    assert client.lease(env, "hold 0") is None  # nobody listens any more


def test_unmount_waits_for_the_file_lock_and_rechecks_leases(env):
    """A joiner holding the file lock (starting or checking) delays the unmount; its lease cancels it."""

    fd = os.open(env.lock_file, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    reached = []

    async def body(server):
        await trio.sleep(0.5)  # grace (0.1 s) has long expired; the server waits for the lock
        sock = await call(client.lease, env, "hold 0")
        assert sock is not None
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
        await trio.sleep(0.5)
        assert server.leases == 1  # still serving: the lease arrived before the server got the lock
        reached.append(True)
        sock.close()
        await trio.sleep_forever()

    assert serve(env, 0.1, body)
    assert reached


def test_unknown_request(env):
    async def body(server):
        sock, reply = await call(client.request, env, "frobnicate")
        sock.close()
        assert reply.startswith("error unknown request")

    serve(env, 60, body)


def test_env_key_mixes_in_the_lock_path_only_for_local_sources():
    wheel = PlanItem("a", "1", "wheel", wheel=Artifact("a-1-py3-none-any.whl", url="https://x/a.whl", sha256="0" * 64))
    local = PlanItem("b", "1", "directory", source={"kind": "directory", "path": "/src/b"})

    def plan(path, *items):
        return Plan(path, "f" * 64, "uv", "py", {}, items)

    assert env_key(plan("/one/uv.lock", wheel)) == env_key(plan("/two/uv.lock", wheel))
    assert env_key(plan("/one/uv.lock", wheel, local)) != env_key(plan("/two/uv.lock", wheel, local))


def test_grace_period_sources(monkeypatch):
    monkeypatch.delenv("VSITE_GRACE", raising=False)
    assert grace_period(None) == 3.0
    monkeypatch.setenv("VSITE_GRACE", "1.5")
    assert grace_period(None) == 1.5
    assert grace_period(0) == 0
    monkeypatch.setenv("VSITE_GRACE", "-1")
    with pytest.raises(VsiteError):
        grace_period(None)


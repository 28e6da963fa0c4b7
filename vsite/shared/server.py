"""The lease server: runs inside a shared mount's daemon, beside pyfuse3, on the same trio loop.

Every lease is something the kernel tells us about the moment it ends, so
nothing polls: a connection ends with EOF when its last holder closes it or
dies (SIGKILL included), and a watched pid's pidfd turns readable when that
process exits. When the last lease ends, the grace period starts; a new lease
cancels it. When it expires the server takes the environment's file lock (the
one joiners hold while they check for a live mount), checks once more that no
lease arrived, closes its listening socket and cancels the daemon's scope,
which unmounts. The lock stays held until the daemon has exited, so a joiner
either got a lease before that or finds no mount and starts a fresh daemon.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import struct
import sys
import time

import trio

from vsite.shared.env import SharedEnv

MAX_REQUEST = 4096  # bytes in one request line


class LeaseServer:
    """A daemon's lease table; ``run`` is a :data:`vsite.fs.daemon.Service`."""

    def __init__(self, env: SharedEnv, grace: float) -> None:
        self.env = env
        self.grace = grace
        self.connections = 0  # accepted connections not yet finished (leases or pending requests)
        self.names: set[str] = set()
        self.changed = trio.Event()  # set and replaced at every change of the lease count
        self.listener: trio.socket.SocketType  # bound by run()
        self.lock_fd = -1  # the file lock taken to unmount, held until the process exits

    @property
    def leases(self) -> int:
        return self.connections + len(self.names)

    def _touch(self) -> None:
        self.changed.set()
        self.changed = trio.Event()

    def _log(self, message: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} vsite shared {self.env.env_key}: {message}", file=sys.stderr, flush=True)

    async def run(self, scope: trio.CancelScope, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Listen, report started, serve leases; cancel ``scope`` (unmount) after the last one plus grace."""
        self.changed = trio.Event()
        self.listener = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        await self.listener.bind(self.env.address)
        self.listener.listen(512)
        self._log(f"serving {self.env.venv} (pid {os.getpid()}, grace {self.grace:g} s)")
        task_status.started()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._accept, nursery)
            await self._expire()
            self._log("no lease left after the grace period: unmounting")
            scope.cancel()

    async def _accept(self, nursery: trio.Nursery) -> None:
        while True:
            try:
                conn, _ = await self.listener.accept()
            except trio.ClosedResourceError:  # _expire closed the listener: no more leases
                return
            self.connections += 1  # counted before its request is read: a shutdown check sees it
            self._touch()
            nursery.start_soon(self._serve_connection, conn)

    async def _expire(self) -> None:
        """Return once no lease has existed for ``grace`` seconds and the file lock is ours."""
        while True:
            while self.leases:
                await self.changed.wait()
            with trio.move_on_after(self.grace):
                while not self.leases:
                    await self.changed.wait()
                continue  # a lease came during the grace period
            fd = os.open(self.env.lock_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            await trio.to_thread.run_sync(fcntl.flock, fd, fcntl.LOCK_EX, abandon_on_cancel=True)
            if self.leases:  # a joiner came while we waited for the lock
                os.close(fd)
                continue
            # No await from here on: nothing can be accepted between the check and the close.
            self.listener.close()
            self.lock_fd = fd  # held until the process exits, after the unmount
            return

    async def _serve_connection(self, conn: trio.socket.SocketType) -> None:
        try:
            with conn:
                if not _same_user(conn):
                    return
                line = await _read_line(conn)
                verb, _, arg = line.partition(" ")
                if verb == "hold":
                    # the pidfd is opened now, while the requester waits for the reply, so a pid
                    # reused after the holder's death can never be mistaken for it
                    pidfd = _pidfd(int(arg) if arg.isdigit() else 0)
                    try:
                        await conn.send(f"ok {self.env.venv}\n".encode())
                        await _wait_eof(conn)
                        if pidfd is not None:
                            await trio.lowlevel.wait_readable(pidfd)  # readable once the process exits
                    finally:
                        if pidfd is not None:
                            os.close(pidfd)
                elif verb == "name" and arg:
                    self.names.add(arg)
                    await conn.send(f"ok {self.env.venv}\n".encode())
                elif verb == "release" and arg:
                    known = arg in self.names
                    self.names.discard(arg)
                    await conn.send(b"released\n" if known else b"unknown\n")
                elif verb == "status":
                    await conn.send(json.dumps(self._status()).encode() + b"\n")
                else:
                    await conn.send(f"error unknown request {line[:80]!r}\n".encode())
        except OSError:
            pass  # the peer went away mid-request: its lease (if any) is over
        finally:
            self.connections -= 1
            self._touch()

    def _status(self) -> dict:
        return {"pid": os.getpid(), "venv": self.env.venv, "key": self.env.env_key,
                "connections": self.connections - 1, "names": sorted(self.names), "grace": self.grace}


def _same_user(conn: trio.socket.SocketType) -> bool:
    """Only the daemon's own user may take or release leases (abstract sockets have no file mode)."""
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid == os.getuid()


async def _read_line(conn: trio.socket.SocketType) -> str:
    data = b""
    while b"\n" not in data and len(data) < MAX_REQUEST:
        chunk = await conn.recv(MAX_REQUEST)
        if not chunk:
            break
        data += chunk
    return data.split(b"\n", 1)[0].decode(errors="replace").strip()


async def _wait_eof(conn: trio.socket.SocketType) -> None:
    """Until every process holding the other end has closed it or died."""
    while await conn.recv(MAX_REQUEST):
        pass


def _pidfd(pid: int) -> int | None:
    """A pidfd for ``pid`` (the kernel wakes its reader when the process exits: no polling), or None."""
    if pid <= 0:
        return None
    try:
        return os.pidfd_open(pid)
    except ProcessLookupError:
        return None

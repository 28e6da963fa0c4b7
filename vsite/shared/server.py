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

import json
import os
import select
import socket
import struct
import sys
import time
from collections.abc import Callable

import trio

from vsite.fileio import open_locked
from vsite.fs import registry
from vsite.shared.env import SharedEnv
from vsite.shared.launch import JoinCheck

MAX_REQUEST = 4096  # bytes in one request line


class LeaseServer:
    """A daemon's lease table; ``run`` is a :data:`vsite.fs.daemon.Service`."""

    def __init__(self, env: SharedEnv, grace: float, check: JoinCheck | None = None) -> None:
        self.env = env
        self.grace = grace
        self.check = check  # who may join through the sh launcher's lookup (None: nobody)
        self.connections = 0  # accepted connections not yet finished (leases or pending requests)
        self.names: set[str] = set()
        self.joined = 0  # pid leases taken by a lookup (join_lookup, hold_lookup), each held by a pidfd
        self.held = False  # some process holds the lease FIFO open (launched CMDs and their children)
        self.held_again = trio.Event()  # set by a launcher's join: the FIFO has a holder to watch
        self.closing = False  # set with the listener's close: no lease of any kind from then on
        self.nursery: trio.Nursery | None = None  # where join_lookup's pidfd waits run
        self.changed = trio.Event()  # set and replaced at every change of the lease count
        self.listener: trio.socket.SocketType  # bound by run()
        self.lock_fd = -1  # the file lock taken to unmount, held until the process exits

    @property
    def leases(self) -> int:
        return self.connections + len(self.names) + self.joined + self.held

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
        fifo = _open_fifo(self.env.fifo) if self.check is not None else None
        task_status.started()
        async with trio.open_nursery() as nursery:
            self.nursery = nursery
            nursery.start_soon(self._accept, nursery)
            if fifo is not None:
                nursery.start_soon(self._watch_fifo, fifo)
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
            fd = await trio.to_thread.run_sync(open_locked, self.env.lock_file, 0o600, abandon_on_cancel=True)
            if self.leases:  # a joiner came while we waited for the lock
                os.close(fd)
                continue
            # No await from here on: nothing can be accepted (or joined) between the check and the close.
            self.closing = True
            self.listener.close()
            self.lock_fd = fd  # held until the process exits, after the unmount
            return

    def join_lookup(self, pid: int, uid: int) -> bool:
        """A launcher's lookup of the join name (vsite.shared.launch): a pid lease, if it joins this
        environment (its fds pass the check), with the lease FIFO watched from now on."""
        if self.check is None or not self._lease_lookup(pid, uid, self.check.accepts):
            return False
        self.held = True  # the launcher holds the FIFO too (CMD inherits it): watched from now on
        self.held_again.set()
        return True

    def parent_lookup(self, pid: int, uid: int) -> bool:
        """A launcher's ``vsite mount --shared`` (vsite.shared.launch.PARENT_NAME): a pid lease on the
        requester's parent, the command's caller (what ``hold <parent>`` from the CLI gives), if the
        requester joins this environment (its fds pass the check). No FIFO: the launcher exits."""
        if self.check is None:
            return False
        return self._lease_lookup(pid, uid, self.check.accepts, parent=True)

    def hold_lookup(self, pid: int, uid: int) -> bool:
        """A lookup of the hold name (vsite.shared.launch): a pid lease on the requester, as ``hold
        <pid>`` on the socket gives, with no check of what it runs: the Ray plugin's worker start
        command, whose environment may have plan options (which the launcher's check refuses)."""
        return self._lease_lookup(pid, uid, None)

    def _lease_lookup(
        self, pid: int, uid: int, accepts: Callable[[int], bool] | None, *, parent: bool = False
    ) -> bool:
        """A pid lease for a lookup of a probe name, on the requester (``parent``: on its parent), if
        the requester is this user and ``accepts`` (if any) says yes. Called on the trio thread inside
        the FUSE lookup, while the requester waits in its stat, so the pidfd opened here is its own
        (no pid reuse); a parent's is checked to be the requester's parent still once opened (had it
        died, the requester would have a new one). Counted before the reply, so a shutdown check
        after it sees the lease, and refused once the server is closing."""
        if self.closing or self.nursery is None or uid != os.getuid():
            return False
        if accepts is not None and not accepts(pid):
            return False
        holder = registry.parent_pid(pid) if parent else pid
        pidfd = _pidfd(holder) if holder > 1 else None  # never init's: nothing would end the lease
        if pidfd is None:
            return False
        if parent and registry.parent_pid(pid) != holder:
            os.close(pidfd)
            return False
        self.joined += 1
        self._touch()
        self.nursery.start_soon(self._hold_pid, pidfd)
        return True

    async def _watch_fifo(self, fd: int) -> None:
        """``held`` until no process holds the FIFO open: its read end (ours) then reports POLLHUP.

        The launcher opens the FIFO read-write before its lookup and CMD inherits it across exec,
        so, like the Python join's connection, it outlives CMD in any child still holding it. The
        kernel tells us when the last holder is gone; level-triggered, so while nobody holds it
        this task sleeps on ``held_again`` instead, which a launcher's join sets."""
        while True:
            await self.held_again.wait()
            self.held_again = trio.Event()
            while True:
                await trio.lowlevel.wait_readable(fd)
                _drain(fd)
                if _hung_up(fd):  # no holder now (checked, then cleared, with no await between)
                    break
            self.held = False
            self._touch()

    async def _hold_pid(self, pidfd: int) -> None:
        try:
            await trio.lowlevel.wait_readable(pidfd)  # readable once the process exits
        finally:
            os.close(pidfd)
            self.joined -= 1
            self._touch()

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
                "connections": self.connections - 1, "joined": self.joined, "held": self.held,
                "names": sorted(self.names), "grace": self.grace}


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


def _open_fifo(path: "os.PathLike[str]") -> int | None:
    """A fresh FIFO at ``path`` and its read end, or None if it cannot be made.

    A write end is opened and closed once, so that from then on the read end reports POLLHUP
    exactly while no process holds the FIFO open for writing (Linux reports it only after a
    writer has come and gone since the read end was opened)."""
    try:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        os.mkfifo(path, 0o600)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC))
        return fd
    except OSError:
        return None


def _drain(fd: int) -> None:
    """Read away what a holder wrote (nothing is expected), so only POLLHUP wakes the watcher."""
    try:
        while os.read(fd, 65536):
            pass
    except BlockingIOError:
        pass


def _hung_up(fd: int) -> bool:
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return any(events & select.POLLHUP for _, events in poller.poll(0))


def _pidfd(pid: int) -> int | None:
    """A pidfd for ``pid`` (the kernel wakes its reader when the process exits: no polling), or None."""
    if pid <= 0:
        return None
    try:
        return os.pidfd_open(pid)
    except ProcessLookupError:
        return None

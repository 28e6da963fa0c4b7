"""The client half of the fork server (vsite.shared.forkserver): what a plain ``vsite mount``, and a
``vsite run`` the sh launcher could not join by itself, do first.

A mount spends most of its time on Python itself: an interpreter start, then
~130 ms importing trio and pyfuse3 in the daemon and ~60 ms importing the
store and the view in the command (docs/startup.md). The fork server is a
per-user process that has imported all of it once; this client hands it the
command line, the working directory, the environment, the umask and its own
stdin/stdout/stderr (SCM_RIGHTS), and the server forks a child that runs the
command exactly as this process would, printing to this process's terminal:
for a mount (:func:`command`) the child's exit status becomes this command's;
for a run (:func:`join`) the child joins or starts the shared mount with a pid
lease on this process and sends the lease connection back, and this process
execs CMD; for ``mount --shared`` (:func:`command` too) the child joins or starts it
with the lease the options ask for and prints the venv's path.

The server is found by a key of this install (interpreter, sys.path, the vsite
package's directory) in the runtime dir, and started here when there is none
(one starter at a time, under a file lock). ``None`` means "do it in this
process": no server wanted (``VSITE_FORKSERVER=0``), none could start, or the
server declined (another namespace or credentials it cannot take on, its code
changed on disk); nothing has been done yet in that case.

Only builtin modules (``_socket``, ``marshal``, ``zlib``, ``_signal``; ~1 ms to
import, where ``socket``, ``json`` and ``signal`` take ~8 ms): the point is to
start less than a mount needs. Messages are ``marshal``'d, length-prefixed:
both ends are the same user's same install (checked), so nothing untrusted is
loaded.
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # signal's C half: signal itself imports enum
import _socket
import marshal
import os
import sys
import zlib

TYPE_CHECKING = False  # as typing's, without importing typing
if TYPE_CHECKING:
    from typing import Any

FDS = (0, 1, 2)
SERVER_MAIN = "from vsite.shared.forkserver import main; main()"
START_TIMEOUT = 60.0  # seconds for a new server to import what it needs and listen
FRAME_LIMIT = 1 << 20  # bytes: a command line and an environment


def enabled() -> bool:
    """``VSITE_FORKSERVER=0`` turns the fork server off: every mount runs in its own command."""
    return os.environ.get("VSITE_FORKSERVER", "1") != "0"


def install_identity() -> list:
    """What makes two processes run the same vsite: the interpreter, its search path (without
    the script's directory or the working directory that ``sys.path[0]`` is unless ``-P``) and
    the vsite package's directory."""
    import vsite

    path = sys.path if sys.flags.safe_path else sys.path[1:]
    return [sys.executable, sys.version, os.path.dirname(os.path.abspath(vsite.__file__)), path]


def server_name(identity: list) -> str:
    """The server's file names in :func:`server_dir`: 16 hex digits of the install's identity."""
    data = marshal.dumps(identity)
    return f"{zlib.crc32(data):08x}{zlib.adler32(data):08x}"


def server_dir() -> str:
    from vsite.paths import runtime_root

    return os.path.join(runtime_root(), "forkserver")


def address(dir_fd: int, name: str) -> str:
    """The socket's address through ``/proc/self/fd``: a runtime dir may be longer than a unix
    socket's 107 bytes (a test's tmp path is), its directory fd never is."""
    return f"/proc/self/fd/{dir_fd}/{name}.sock"


def peer(sock: _socket.socket) -> tuple[int, int, int]:
    """(pid, uid, gid) of the process at the other end (struct ucred)."""
    raw = sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, 12)
    pid, uid, gid = (int.from_bytes(raw[i:i + 4], sys.byteorder, signed=True) for i in (0, 4, 8))
    return pid, uid, gid


def send(sock: _socket.socket, message: Any, fds: tuple[int, ...] = ()) -> None:
    """One message: its length (4 bytes) and ``marshal`` data; ``fds`` go with it (SCM_RIGHTS)."""
    data = marshal.dumps(message)
    data = len(data).to_bytes(4, "little") + data
    if fds:
        rights = b"".join(fd.to_bytes(4, sys.byteorder) for fd in fds)
        sent = sock.sendmsg([data], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, rights)])
        data = data[sent:]
    if data:
        sock.sendall(data)


def receive(sock: _socket.socket) -> tuple[object, list[int]]:
    """The next message :func:`send` sent, and the fds that came with it; EOFError if the other end
    closed first."""
    head, ancillary, _, _ = sock.recvmsg(4, _socket.CMSG_SPACE(4 * len(FDS)))
    fds = [int.from_bytes(data[i:i + 4], sys.byteorder)
           for level, kind, data in ancillary if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS
           for i in range(0, len(data) - len(data) % 4, 4)]
    if not head:
        raise EOFError("connection closed")
    head += read_exactly(sock, 4 - len(head))
    size = int.from_bytes(head, "little")
    if size > FRAME_LIMIT:
        raise ValueError(f"a message of {size} bytes")
    return marshal.loads(read_exactly(sock, size)), fds


def read_exactly(sock: _socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        more = sock.recv(size - len(data))
        if not more:
            raise EOFError("connection closed")
        data += more
    return data


def command(kind: str, argv: list[str]) -> int | None:
    """Run ``vsite ARGV`` in a child of the fork server -- ``mount``: a plain mount; ``shared``: ``mount
    --shared LOCK ...``, the child printing the venv's path on this process's stdout -- its exit
    status, or None when this process should run it itself."""
    reply = _request(kind, argv)
    return None if reply is None else reply[0]


def join(argv: list[str]) -> tuple[int, str, int] | None:
    """Join (or start) the shared mount of ``vsite ARGV`` (``run LOCK [--python PY] -- CMD``) in a child
    of the fork server, with a pid lease on this process: (0, venv, lease fd), (status, "", -1) after
    an error the child reported, or None when this process should run it itself."""
    return _request("join", argv)


def _request(kind: str, argv: list[str]) -> tuple[int, str, int] | None:
    if not enabled():
        return None
    identity = install_identity()
    name = server_name(identity)
    try:
        directory = server_dir()
        os.makedirs(directory, mode=0o700, exist_ok=True)
        dir_fd = os.open(directory, os.O_PATH | os.O_DIRECTORY)
    except OSError:
        return None  # no runtime dir to keep a server in: the command reports that itself
    try:
        sock = _connect(dir_fd, name) or _start(dir_fd, directory, name)
    finally:
        os.close(dir_fd)
    if sock is None:
        return None
    try:
        return _ask(sock, kind, argv, identity)
    finally:
        sock.close()


def _connect(dir_fd: int, name: str) -> _socket.socket | None:
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.connect(address(dir_fd, name))
        if peer(sock)[1] != os.getuid():  # not ours (a shared runtime dir): never send it our environment
            raise OSError("another user's fork server")
    except OSError:
        sock.close()
        return None
    return sock


def _start(dir_fd: int, directory: str, name: str) -> _socket.socket | None:
    """Start the server (one starter at a time) and connect to it; None if it could not start."""
    import fcntl
    import select

    try:
        lock = os.open(os.path.join(directory, name + ".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        return None
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        sock = _connect(dir_fd, name)  # another starter may have won
        if sock is not None:
            return sock
        read_end, write_end = os.pipe()
        try:
            _spawn_server(os.path.join(directory, name + ".log"), name, write_end)
        except OSError:
            os.close(read_end)
            return None
        finally:
            os.close(write_end)
        with os.fdopen(read_end, "rb") as pipe:
            ready, _, _ = select.select([pipe], [], [], START_TIMEOUT)
            started = bool(ready) and pipe.readline().startswith(b"ready")
        return _connect(dir_fd, name) if started else None
    finally:
        os.close(lock)


def _spawn_server(log_path: str, name: str, ready_fd: int) -> None:
    """Start the server detached (new session, a grandchild: never a child of this process, which may
    exec a long-lived CMD next), stdio to its log, and no fd of this process but ``ready_fd`` (an
    inherited one, such as the sh launcher's start gate, would be held for the server's life)."""
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    try:
        child = os.fork()
        if child == 0:
            try:
                os.setsid()
                if os.fork() == 0:
                    os.chdir("/")
                    null = os.open(os.devnull, os.O_RDONLY)
                    os.dup2(null, 0)
                    os.dup2(log, 1)
                    os.dup2(log, 2)
                    os.dup2(ready_fd, 3)
                    os.closerange(4, 1 << 20)
                    os.execv(sys.executable, [sys.executable, "-P", "-c", SERVER_MAIN, name, "3"])
            finally:
                os._exit(0)  # the first child at once; the grandchild only if its exec failed
        os.waitpid(child, 0)
    finally:
        os.close(log)


def _ask(sock: _socket.socket, kind: str, argv: list[str], identity: list) -> tuple[int, str, int] | None:
    """Send the request; relay signals to the child; (exit status, venv, lease fd) as :func:`join` says,
    None if the server declined."""
    umask = os.umask(0o22)
    os.umask(umask)
    try:
        request = {"kind": kind, "argv": argv, "cwd": os.getcwd(), "env": dict(os.environ), "umask": umask,
                   "install": identity, "parent": os.getppid()}
        send(sock, request, FDS)
        first, _ = receive(sock)
    except (OSError, ValueError, EOFError):
        return None  # the server went away before it took the request: nothing was done
    if not isinstance(first, dict) or "pid" not in first:
        return None  # declined (first["fallback"] says why, and so does the server's log)
    child, relayed = first["pid"], []

    def relay(signum: int, frame: object) -> None:
        relayed.append(signum)
        try:
            os.kill(child, signum)
        except OSError:
            pass

    for signum in (_signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP):
        _signal.signal(signum, relay)
    try:
        last, fds = receive(sock)
    except (OSError, ValueError, EOFError):
        last, fds = {}, []
    for signum in (_signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP):
        _signal.signal(signum, _signal.SIG_DFL if signum != _signal.SIGINT else _signal.default_int_handler)
    if isinstance(last, dict) and last.get("fallback"):
        for fd in fds:
            os.close(fd)
        return None  # the child found nothing it could do that this process could not redo
    if isinstance(last, dict) and "status" in last:
        lease = fds[0] if fds else -1
        for fd in fds[1:]:
            os.close(fd)
        return int(last["status"]), str(last.get("venv", "")), lease
    if relayed:
        return 128 + relayed[-1], "", -1
    print(f"vsite: the fork server's child {child} ended without a status (log: {server_dir()})", file=sys.stderr)
    return 1, "", -1

"""The fork server: one per user and install, with everything a mount imports already imported.

``vsite mount`` used to spend ~0.3 s before a mount answered, most of it not on
the mount: an interpreter start, the store's and the view's imports in the
command, then trio's and pyfuse3's (~130 ms) in the daemon it forks
(docs/startup.md). This process imports all of that once, then for each
request (vsite.shared.forkclient) forks a child that becomes the requester: its
working directory, environment, umask and stdin/stdout/stderr (passed over the
socket). Three requests:

- ``mount``: the plain ``vsite mount LOCK TARGET [--venv] [--offline]
  [--python PY]``, run as the command would (vsite.fs.mount.run_plain), whose
  daemon the child forks in turn, as before; the child's status is the command's;
- ``join``: ``vsite run LOCK [--python PY] -- CMD``'s join of the shared mount,
  started if it is not live (vsite.shared.join), with a pid lease on the
  requester; the lease connection goes back over the socket and the requester
  execs CMD itself (it keeps its pid, as a worker must);
- ``shared``: ``vsite mount --shared LOCK [--python PY] [--offline] [--grace S]
  [--name N | --pid PID]``: the same join with the lease those options ask for
  (by default on the requester's parent, the shell or program that ran it), the
  venv's path printed on the requester's stdout.

The server itself never mounts, never starts a thread and never runs trio, so
forking it is safe; it only answers who may use it.

It forks only for a requester it can stand in for: same user (SO_PEERCRED),
same install (interpreter, search path, package directory), and the same
namespaces, root, credentials, capabilities, seccomp mode and resource limits
(a requester in a container, an ``unshare`` or under another limit gets a
decline and does the work in its own process, as without a server). A
requester in another cgroup v2 cgroup (each Slurm job, each systemd session
has its own) gets a child moved into that cgroup first, so a job's end still
ends its daemons; where the move is not allowed, or the host has cgroup v1
hierarchies, a decline. A vsite file changed on disk (an upgrade, an editable
checkout) makes the server decline and exit: the next command starts a new one.

It exits after ``$VSITE_FORKSERVER_IDLE`` seconds without a request (default
600, as sccache's server), when its socket is removed, or on SIGTERM.
``VSITE_FORKSERVER=0`` keeps every command in its own process.
"""

from __future__ import annotations

import gc
import marshal
import os
import select
import signal
import socket
import sys
import time

from vsite.shared import forkclient
from vsite.shared.execenv import START_GATE

IDLE_DEFAULT = 600.0
TICK = 1.0  # seconds between checks for idleness, a removed socket and children to reap
STATUS_FIELDS = ("Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp")
NAMESPACES = ("mnt", "pid", "user", "net", "ipc", "uts", "cgroup")


def preload() -> None:
    """Import what a mount's command and its daemon import, and compute what is fixed per host."""
    import concurrent.futures.thread  # noqa: F401  (the fetch's pool)
    import importlib.readers
    import importlib.resources.readers  # noqa: F401

    import pyfuse3  # noqa: F401
    import trio  # noqa: F401

    import vsite.fs.daemon
    import vsite.fs.mountpoint
    import vsite.fs.mount
    import vsite.fs.operations
    import vsite.fs.prepare
    import vsite.fs.readonly
    import vsite.plan.cache
    import vsite.store.bytecode
    import vsite.store.fetch
    import vsite.store.progress
    import vsite.store.usage
    import vsite.view
    import vsite.view.conflicts
    import vsite.shared.join
    import vsite.shared.launch
    import vsite.shared.server  # noqa: F401
    from vsite.fs.pyfuse3_build import installed
    from vsite.store.atomic import host_id

    installed()
    host_id()


def code_files() -> dict[str, tuple[int, int]]:
    """(mtime_ns, size) of every imported file of vsite and of pyfuse3: what a child would run."""
    import vsite

    package = os.path.dirname(os.path.abspath(vsite.__file__)) + os.sep
    out = {}
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if path and (path.startswith(package) or module.__name__ == "pyfuse3"):
            try:
                st = os.stat(path)
            except OSError:
                out[path] = (0, -1)
            else:
                out[path] = (st.st_mtime_ns, st.st_size)
    return out


def context(pid: int) -> dict:
    """What a child forked from here shares with process ``pid`` only if they are equal."""
    out: dict = {}
    for ns in NAMESPACES:
        out[ns] = os.readlink(f"/proc/{pid}/ns/{ns}")
    root = os.stat(f"/proc/{pid}/root")
    out["root"] = (root.st_dev, root.st_ino)
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            field, _, value = line.partition(":")
            if field in STATUS_FIELDS:
                out[field] = value.split()
    with open(f"/proc/{pid}/limits") as f:
        out["limits"] = f.read()
    return out


def cgroups(pid: int) -> str:
    """``/proc/<pid>/cgroup``: one ``0::/path`` line on a cgroup v2 host, a line per hierarchy on v1."""
    with open(f"/proc/{pid}/cgroup") as f:
        return f.read()


def movable(mine: str, theirs: str) -> str | None:
    """The cgroup v2 path a child must move into to be in the requester's cgroup, or None if
    they are in one already; ValueError where no such move exists (cgroup v1 hierarchies)."""
    if theirs == mine:
        return None
    lines = theirs.splitlines()
    if len(lines) == 1 and lines[0].startswith("0::") and len(mine.splitlines()) == 1:
        return lines[0][3:]
    raise ValueError("a different cgroup (cgroup v1: not joined from here)")


def differs(mine: dict, theirs: dict) -> str | None:
    """The first thing a child of this server would not share with the requester, or None."""
    for key, value in mine.items():
        if theirs.get(key) != value:
            return f"{key} namespace" if key in NAMESPACES else key
    return None


def idle_seconds() -> float:
    """``$VSITE_FORKSERVER_IDLE`` (seconds, > 0), else IDLE_DEFAULT."""
    try:
        value = float(os.environ.get("VSITE_FORKSERVER_IDLE", IDLE_DEFAULT))
    except ValueError:
        return IDLE_DEFAULT
    return value if value > 0 else IDLE_DEFAULT


_LOG_FD = 2  # the server's log; a child keeps its own copy once its fd 2 is the requester's stderr


def _log(line: str) -> None:
    os.write(_LOG_FD, f"{time.strftime('%Y-%m-%d %H:%M:%S')} forkserver {os.getpid()}: {line}\n".encode())


class Server:
    """The listening socket and what every request is checked against."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.directory = forkclient.server_dir()
        self.path = os.path.join(self.directory, name + ".sock")
        self.dir_fd = os.open(self.directory, os.O_PATH | os.O_DIRECTORY)
        self.identity = forkclient.install_identity()
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        address = forkclient.address(self.dir_fd, name)
        try:
            os.unlink(self.path)  # a dead server's (the starter holds the start lock: none is alive)
        except FileNotFoundError:
            pass
        self.listener.bind(address)
        self.listener.listen(128)
        self.inode = os.stat(self.path).st_ino
        self.code = code_files()
        self.mine = context(os.getpid())
        self.cgroups = cgroups(os.getpid())
        self.idle = idle_seconds()
        self.last = time.monotonic()

    def ours(self) -> bool:
        """Whether the socket file is still this server's (a removed or replaced one ends it)."""
        try:
            return os.stat(self.path).st_ino == self.inode
        except OSError:
            return False

    def serve(self) -> None:
        poller = select.poll()
        poller.register(self.listener, select.POLLIN)
        try:
            while True:
                if poller.poll(TICK * 1000):
                    self.last = time.monotonic()
                    conn, _ = self.listener.accept()
                    with conn:
                        if not self.handle(conn):
                            return
                _reap()
                if time.monotonic() - self.last > self.idle:
                    _log(f"idle for {self.idle:g} s: exiting")
                    return
                if not self.ours():
                    _log("socket removed: exiting")
                    return
        finally:
            if self.ours():
                os.unlink(self.path)

    def handle(self, conn: socket.socket) -> bool:
        """Fork a child for one request, or decline it; False: this server must exit."""
        pid, uid, _ = forkclient.peer(conn)
        if uid != os.getuid():
            return True
        conn.settimeout(5.0)
        try:
            request, fds = _receive(conn)
        except (OSError, ValueError, EOFError) as exc:
            _log(f"request from pid {pid} unreadable: {exc}")
            return True
        try:
            why, stale = self.decline(pid, request)
            if why:
                _log(f"declined pid {pid}: {why}")
                try:
                    forkclient.send(conn, {"fallback": why})
                except OSError:
                    pass
                return not stale
            child = os.fork()
            if child == 0:
                _child(self, conn, fds, request, pid)
            _log(f"pid {pid}: child {child} for {' '.join(request['argv'])}")
            return True
        finally:
            for fd in fds:
                os.close(fd)

    def decline(self, pid: int, request: dict) -> tuple[str | None, bool]:
        """(why this server cannot stand in for ``pid``, whether it is stale), (None, False) if it can."""
        if request.get("install") != self.identity:
            return "another vsite install", False
        if code_files() != self.code:
            return "vsite changed on disk since this server started", True
        if not isinstance(request.get("argv"), list) or not isinstance(request.get("env"), dict):
            return "a malformed request", False
        try:
            why = differs(self.mine, context(pid))
        except OSError as exc:
            return f"cannot read the requester's /proc: {exc.strerror}", False
        return (f"a different {why}" if why else None), False


def _receive(conn: socket.socket) -> tuple[dict, list[int]]:
    """The request and the requester's stdin, stdout and stderr (which the caller closes)."""
    head, fds, _, _ = socket.recv_fds(conn, 4, len(forkclient.FDS))
    try:
        if len(fds) != len(forkclient.FDS):
            raise ValueError(f"{len(fds)} fds passed, not {len(forkclient.FDS)}")
        head += forkclient.read_exactly(conn, 4 - len(head))
        size = int.from_bytes(head, "little")
        if size > forkclient.FRAME_LIMIT:
            raise ValueError(f"a request of {size} bytes")
        request = marshal.loads(forkclient.read_exactly(conn, size))
        if not isinstance(request, dict):
            raise ValueError("not a request")
        return request, fds
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _child(server: Server, conn: socket.socket, fds: list[int], request: dict, requester: int) -> None:
    """Become the requester's command, run its mount, send its exit status; never returns."""
    global _LOG_FD
    forked, status = time.monotonic(), 1
    try:
        server.listener.close()
        _LOG_FD = os.dup(2)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD):
            signal.signal(signum, signal.SIG_DFL)
        try:
            path = movable(server.cgroups, cgroups(requester))
            why = _join_cgroup(path) if path is not None else None
        except ValueError as exc:  # cgroup v1
            why = str(exc)
        except OSError as exc:
            why = f"cannot read the requester's cgroup: {exc.strerror}"
        if why:
            _log(f"declined pid {requester}: {why}")
            forkclient.send(conn, {"fallback": why})
            os._exit(0)
        for target, fd in zip(forkclient.FDS, fds):
            os.dup2(fd, target)
        for fd in fds:
            os.close(fd)
        os.chdir(request["cwd"])
        os.umask(request["umask"])
        os.environ.clear()
        os.environ.update(request["env"])
        os.environ.pop(START_GATE, None)  # the requester's fd, not this process's
        forkclient.send(conn, {"pid": os.getpid()})
        if request.get("kind") in ("join", "shared"):
            joined = _join(conn, request, requester)
            sys.stdout.flush()
            sys.stderr.flush()
            _log(f"child {os.getpid()}: status {joined} after {(time.monotonic() - forked) * 1000:.1f} ms")
            os._exit(0)
        from vsite.fs.mount import parse_plain, run_plain

        plain = parse_plain(request["argv"])
        if plain is None:
            print(f"vsite: not a plain mount: {' '.join(request['argv'])}", file=sys.stderr)
            status = 2
        else:
            status = run_plain(plain)
    except BaseException as exc:  # anything: one line on the requester's stderr, never a traceback
        try:
            print(f"vsite: the fork server's child failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        except BaseException:
            pass
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        forkclient.send(conn, {"status": status})
        _log(f"child {os.getpid()}: status {status} after {(time.monotonic() - forked) * 1000:.1f} ms")
    except BaseException:
        pass
    os._exit(0)


def _join(conn: socket.socket, request: dict, requester: int) -> int | None:
    """A shared mount's join for ``requester``, started if it is not live. ``join``: ``vsite run LOCK
    [--python PY] -- CMD``, a pid lease on the requester, the lease connection sent back with the
    venv's path (the requester execs CMD). ``shared``: ``vsite mount --shared LOCK ...``, the lease
    its options ask for (by default on the requester's parent, ``request["parent"]``), the venv's
    path printed on the requester's stdout. Errors of input are reported as the CLI would; anything
    else is left to the requester to redo ("fallback")."""
    from vsite.errors import VsiteError
    from vsite.shared.execenv import parse_run, parse_shared
    from vsite.shared.join import join_lock
    from vsite.shared.launch import remember

    argv = request["argv"]
    try:
        if request["kind"] == "join":
            run = parse_run(argv)
            if run is None:
                raise ValueError(f"not a plain run: {' '.join(argv)}")
            lock, python, _ = run
            plan, env, lease = join_lock(lock, python, f"hold {requester}", grace=None)
        else:
            shared = parse_shared(argv, int(request["parent"]))
            if shared is None:
                raise ValueError(f"not a plain shared mount: {' '.join(argv)}")
            lock, python, lease_request, grace, offline = shared
            plan, env, lease = join_lock(lock, python, lease_request, grace=grace, offline=offline)
        remember(lock, python, plan, env)  # the next `vsite run` or `mount --shared` of LOCK joins from sh
    except VsiteError as exc:
        print(f"vsite: {exc}", file=sys.stderr, flush=True)
        forkclient.send(conn, {"status": exc.exit_code})
        return exc.exit_code
    except Exception as exc:
        _log(f"{request['kind']} for pid {requester} left to it: {type(exc).__name__}: {exc}")
        forkclient.send(conn, {"fallback": f"{type(exc).__name__}: {exc}"})
        return None
    with lease:
        if request["kind"] == "shared":  # a pid lease outlives its connection; a named one lives until released
            print(env.venv, flush=True)
            forkclient.send(conn, {"status": 0})
        else:
            forkclient.send(conn, {"status": 0, "venv": str(env.venv)}, (lease.fileno(),))
    return 0


def _join_cgroup(path: str) -> str | None:
    """Move this process into cgroup v2 ``path`` (the requester's): None, or why it could not."""
    try:
        with open(os.path.join("/sys/fs/cgroup", path.lstrip("/"), "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))
    except OSError as exc:
        return f"cannot join the requester's cgroup {path}: {exc.strerror}"
    return None


def main() -> None:
    """``python -c 'from vsite.shared.forkserver import main; main()' NAME READY_FD`` (vsite.shared.forkclient)."""
    name, ready_fd = sys.argv[1], int(sys.argv[2])
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a session of its own; only SIGTERM ends it
    preload()
    server = Server(name)
    gc.collect()
    gc.freeze()  # the children's collections leave the imported modules' pages shared
    os.write(ready_fd, b"ready\n")
    os.close(ready_fd)
    _log(f"serving {server.path} (idle exit after {server.idle:g} s)")
    server.serve()

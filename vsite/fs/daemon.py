"""The mount daemon: serve one View at one mount point until unmounted or signalled.

``spawn`` forks the calling process (which has already built the view, so the
daemon starts with no re-planning and no exec) and returns once the mount
answers: the daemon detaches (setsid + second fork) and reports readiness, or
the reason it failed, through a pipe. ``serve`` runs in the current process
(``--foreground``). trio and pyfuse3 are imported only here, in the process
that serves, because importing them is most of a daemon's start-up (~0.2 s).

The daemon ends when the mount is removed (``fusermount3 -u``: the kernel
ends the session and pyfuse3's main loop returns) or on SIGTERM/SIGINT/SIGHUP
(then it unmounts itself; libfuse detaches lazily if the mount is busy). Either
way it removes its registry record. SIGUSR1 makes it publish its request
counters at once (otherwise at most once a second while requests arrive).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any

from vsite.errors import MountError
from vsite.fs import readonly, registry
from vsite.fs.probe import Probe
from vsite.view.nodes import View

if TYPE_CHECKING:
    import trio

# A task run beside the filesystem: called as ``service(cancel_scope, task_status=...)``.
Service = Callable[..., Awaitable[Any]]

STATS_INTERVAL = 1.0  # seconds between publications of the request counters
READY_TIMEOUT = 30.0  # seconds the new mount gets to answer its first stat
MIN_TASKS, MAX_TASKS = 2, 64  # pyfuse3 worker tasks (requests in progress at once)


def mount_options(allow_other: bool) -> set[str]:
    """libfuse options: read-only, kernel-side permission checks, named ``vsite``."""
    options = {"fsname=vsite", "subtype=vsite", "ro", "default_permissions"}
    if allow_other:
        options.add("allow_other")
    return options


def serve(
    view: View,
    record: registry.MountRecord,
    *,
    allow_other: bool = False,
    on_ready: Callable[[], None] | None = None,
    service: Service | None = None,
    probe: Probe | None = None,
) -> None:
    """Mount ``view`` at ``record.mountpoint`` and serve it until unmounted or signalled.

    The registry record is written (with this process's pid) once the mount
    answers a stat, then ``service`` is started (``await nursery.start(service,
    cancel_scope)``: it runs beside the filesystem, e.g. the lease server of a
    shared mount, and may cancel the scope to unmount), then ``on_ready`` is
    called; the record is removed at exit. ``probe``: names at the root whose every lookup
    asks its owner (vsite.fs.probe; a shared mount's joins and holds from sh).
    """
    _Daemon(view, record, allow_other=allow_other, on_ready=on_ready, service=service, probe=probe).run()


class _Daemon:
    """One mount being served: the pyfuse3 session, its trio tasks and its registry entries.

    ``run`` is the whole lifecycle: ``_around_mount`` (set-up and teardown beside
    the mount), ``pyfuse3.init``, the trio loop (``_main``: signals, the FUSE
    main loop, the readiness check, periodic counters) and ``_close``.
    """

    def __init__(
        self,
        view: View,
        record: registry.MountRecord,
        *,
        allow_other: bool,
        on_ready: Callable[[], None] | None,
        service: Service | None,
        probe: Probe | None = None,
    ) -> None:
        from vsite.fs.operations import ViewOperations

        self.record = record
        self.mountpoint = record.mountpoint
        self.allow_other = allow_other
        self.on_ready = on_ready
        self.service = service
        self.ops = ViewOperations(view)
        self.ops.probe = probe
        self.unmounted = False  # the kernel ended the session (someone unmounted us)
        self.error: str | None = None  # why the mount never became ready

    def run(self) -> None:
        import pyfuse3
        import trio

        with self._around_mount():
            try:
                pyfuse3.init(self.ops, self.mountpoint, mount_options(self.allow_other))
            except RuntimeError as exc:
                raise MountError(f"cannot mount at {self.mountpoint}: {exc}") from None
            try:
                trio.run(self._main)
                if self.error:
                    raise MountError(self.error)
            finally:
                self._close()

    @contextlib.contextmanager
    def _around_mount(self) -> Iterator[None]:
        """What must exist while the mount does, torn down after the mount is closed (also
        when init fails): the read-only bind mount of the store that root's links lead
        into (vsite.fs.readonly.hold), so it lives exactly as long as this daemon."""
        with readonly.hold(getattr(self.ops.view, "links", None)):
            yield

    def _close(self) -> None:
        import pyfuse3

        registry.remove(self.mountpoint, keep_log=True)  # first: a record must never outlive its mount
        pyfuse3.close(unmount=not self.unmounted)
        self.ops.close_all()

    # -- counters ----------------------------------------------------------

    def publish(self) -> None:
        """Write the request counters and the fast paths in use to the mount's ``.stats.json``."""
        from vsite.fs.pyfuse3_build import installed

        ops = self.ops
        fast = ops.fast_paths()
        registry.write_stats(
            self.mountpoint,
            {
                "pid": os.getpid(),
                "updated": time.time(),
                "requests": {k: v for k, v in ops.counts.items() if v},
                "files_served": len(ops.files_read),
                "zero_message_open": fast.zero_message_open,
                "cache_symlinks": fast.cache_symlinks,
                "links": getattr(ops.view, "links", None) is not None,  # the native data path
                "pyfuse3": installed().version,
            },
        )

    async def _publish_stats(self) -> None:
        """Publish at most once every STATS_INTERVAL, and only when requests arrived."""
        import trio

        last = None
        while True:
            await trio.sleep(STATS_INTERVAL)
            snapshot = sum(self.ops.counts.values())
            if snapshot != last:
                self.publish()
                last = snapshot

    # -- tasks -------------------------------------------------------------

    async def _fuse_main(self, scope: trio.CancelScope) -> None:
        import pyfuse3

        # Several worker tasks: a request waiting on the store (in a worker thread, see
        # vsite.fs.operations) must not keep the next request from being read and answered.
        await pyfuse3.main(min_tasks=MIN_TASKS, max_tasks=MAX_TASKS)
        self.unmounted = True  # the kernel ended the session: someone unmounted us
        scope.cancel()

    async def _on_signals(self, scope: trio.CancelScope, *, task_status: Any = None) -> None:
        """SIGTERM/SIGINT/SIGHUP unmount (cancel ``scope``); SIGUSR1 publishes the counters now."""
        import trio

        stop = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
        with trio.open_signal_receiver(*stop, signal.SIGUSR1) as signals:
            (task_status or trio.TASK_STATUS_IGNORED).started()
            async for signum in signals:
                if signum == signal.SIGUSR1:  # publish the counters now
                    self.publish()
                    continue
                scope.cancel()
                return

    async def _await_ready(self) -> bool:
        """Whether the mount answers a stat through the kernel as a vsite root (else ``error``)."""
        import trio

        root = None
        try:
            with trio.move_on_after(READY_TIMEOUT):
                root = await trio.to_thread.run_sync(os.stat, self.mountpoint, abandon_on_cancel=True)
        except OSError as exc:
            self.error = f"{self.mountpoint} did not answer after mounting: {exc.strerror}"
        if root is not None and root.st_ino != View.ROOT_INO:
            self.error = f"{self.mountpoint} did not come up as a vsite mount"
        elif root is None and not self.error:
            self.error = f"{self.mountpoint} did not answer within {READY_TIMEOUT:.0f} s of mounting"
        return not self.error

    def _register(self) -> None:
        """Write the registry record (this process is the daemon) and the first counters."""
        record = self.record
        record.pid = os.getpid()
        record.pid_start = registry.process_start(record.pid)
        record.started = time.time()
        registry.write_record(record)
        self.publish()

    async def _main(self) -> None:
        import trio

        async with trio.open_nursery() as nursery:
            await nursery.start(self._on_signals, nursery.cancel_scope)
            nursery.start_soon(self._fuse_main, nursery.cancel_scope)
            # A stat through the kernel proves the mount answers requests.
            if not await self._await_ready():
                nursery.cancel_scope.cancel()
                return
            self._register()
            if self.service is not None:
                await nursery.start(self.service, nursery.cancel_scope)
            if self.on_ready is not None:
                self.on_ready()
            nursery.start_soon(self._publish_stats)


def spawn(
    view: View,
    record: registry.MountRecord,
    *,
    allow_other: bool = False,
    service: Service | None = None,
    probe: Probe | None = None,
) -> int:
    """Start a detached daemon serving ``view``; return its pid once the mount is live.

    Raises MountError with the daemon's own message if it could not mount.
    """
    log_path = registry.log_path(record.mountpoint)
    try:
        log_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MountError(f"cannot write the mount registry {log_path.parent}: {exc.strerror}") from None
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # first child: new session, then fork the daemon and leave
        os.close(read_end)
        try:
            os.setsid()
            if os.fork() == 0:
                _daemon_main(view, record, allow_other, write_end, str(log_path), service, probe)
        finally:
            os._exit(0)
    os.close(write_end)
    os.waitpid(child, 0)
    with os.fdopen(read_end, "rb") as pipe:
        reply = pipe.read().decode(errors="replace").strip()
    if reply.startswith("ready "):
        return int(reply.split()[1])
    if reply.startswith("error "):
        raise MountError(reply[len("error ") :])
    raise MountError(f"the mount daemon exited before {record.mountpoint} was ready (log: {log_path})")


def _close_inherited(keep: set[int]) -> None:
    """Close every fd the caller handed down (a pipe a caller waits on must see EOF)."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass  # the fd of the listing itself, already gone


def _daemon_main(
    view: View,
    record: registry.MountRecord,
    allow_other: bool,
    ready_fd: int,
    log_path: str,
    service: Service | None = None,
    probe: Probe | None = None,
) -> None:
    """The detached daemon: stdio to the log, serve, report readiness on ``ready_fd``; never returns."""
    status = 1
    try:
        os.chdir("/")
        null = os.open(os.devnull, os.O_RDONLY)
        log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        _close_inherited(keep={0, 1, 2, ready_fd})

        def ready() -> None:
            nonlocal ready_fd
            os.write(ready_fd, f"ready {os.getpid()}\n".encode())
            os.close(ready_fd)
            ready_fd = -1

        serve(view, record, allow_other=allow_other, on_ready=ready, service=service, probe=probe)
        status = 0
    except BaseException as exc:  # report anything to the waiting parent, then exit
        if ready_fd >= 0:
            message = str(exc) if isinstance(exc, MountError) else f"{type(exc).__name__}: {exc}"
            os.write(ready_fd, f"error {' '.join(message.split())}\n".encode())
        import traceback

        traceback.print_exc(file=sys.stderr)
    finally:
        sys.stderr.flush()
        os._exit(status)

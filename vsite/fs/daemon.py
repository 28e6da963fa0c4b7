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

import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from vsite.errors import MountError
from vsite.fs import registry
from vsite.view.nodes import View

# A task run beside the filesystem: called as ``service(cancel_scope, task_status=...)``.
Service = Callable[..., Awaitable[Any]]

STATS_INTERVAL = 1.0  # seconds between publications of the request counters
READY_TIMEOUT = 30.0  # seconds the new mount gets to answer its first stat


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
) -> None:
    """Mount ``view`` at ``record.target`` and serve it until unmounted or signalled.

    The registry record is written (with this process's pid) once the mount
    answers a stat, then ``service`` is started (``await nursery.start(service,
    cancel_scope)``: it runs beside the filesystem, e.g. the lease server of a
    shared mount, and may cancel the scope to unmount), then ``on_ready`` is
    called; the record is removed at exit.
    """
    import pyfuse3
    import trio

    from vsite.fs.operations import ViewOperations

    ops = ViewOperations(view)
    target = record.target
    try:
        pyfuse3.init(ops, target, mount_options(allow_other))
    except RuntimeError as exc:
        raise MountError(f"cannot mount at {target}: {exc}") from None
    state: dict = {"unmounted": False, "error": None}

    def publish() -> None:
        registry.write_stats(
            target,
            {
                "pid": os.getpid(),
                "updated": time.time(),
                "requests": {k: v for k, v in ops.counts.items() if v},
                "files_served": len(ops.files_read),
                "zero_message_open": ops.no_open,
            },
        )

    async def fuse_main(scope: trio.CancelScope) -> None:
        # One reader task: no handler ever awaits, so more tasks only add scheduling.
        await pyfuse3.main(min_tasks=1, max_tasks=1)
        state["unmounted"] = True  # the kernel ended the session: someone unmounted us
        scope.cancel()

    async def on_signals(scope: trio.CancelScope, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        stop = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
        with trio.open_signal_receiver(*stop, signal.SIGUSR1) as signals:
            task_status.started()
            async for signum in signals:
                if signum == signal.SIGUSR1:  # publish the counters now
                    publish()
                    continue
                scope.cancel()
                return

    async def publish_stats() -> None:
        last = None
        while True:
            await trio.sleep(STATS_INTERVAL)
            snapshot = sum(ops.counts.values())
            if snapshot != last:
                publish()
                last = snapshot

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(on_signals, nursery.cancel_scope)
            nursery.start_soon(fuse_main, nursery.cancel_scope)
            # A stat through the kernel proves the mount answers requests.
            root = None
            try:
                with trio.move_on_after(READY_TIMEOUT):
                    root = await trio.to_thread.run_sync(os.stat, target, abandon_on_cancel=True)
            except OSError as exc:
                state["error"] = f"{target} did not answer after mounting: {exc.strerror}"
            if root is not None and root.st_ino != View.ROOT_INO:
                state["error"] = f"{target} did not come up as a vsite mount"
            elif root is None and not state["error"]:
                state["error"] = f"{target} did not answer within {READY_TIMEOUT:.0f} s of mounting"
            if state["error"]:
                nursery.cancel_scope.cancel()
                return
            record.pid = os.getpid()
            record.pid_start = registry.process_start(record.pid)
            record.started = time.time()
            registry.write_record(record)
            publish()
            if service is not None:
                await nursery.start(service, nursery.cancel_scope)
            if on_ready is not None:
                on_ready()
            nursery.start_soon(publish_stats)

    try:
        trio.run(main)
        if state["error"]:
            raise MountError(state["error"])
    finally:
        registry.remove(target, keep_log=True)  # first: a record must never outlive its mount
        pyfuse3.close(unmount=not state["unmounted"])
        ops.close_all()


def spawn(
    view: View, record: registry.MountRecord, *, allow_other: bool = False, service: Service | None = None
) -> int:
    """Start a detached daemon serving ``view``; return its pid once the mount is live.

    Raises MountError with the daemon's own message if it could not mount.
    """
    log_path = registry.log_path(record.target)
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
                _daemon_main(view, record, allow_other, write_end, str(log_path), service)
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
    raise MountError(f"the mount daemon exited before {record.target} was ready (log: {log_path})")


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

        serve(view, record, allow_other=allow_other, on_ready=ready, service=service)
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

"""The Python command line's entry (``vsite-cli``, behind the sh launcher ``vsite``): click-free fast paths.

The installed ``vsite`` is a POSIX sh script (``vsite/shared/bin/vsite``) that
joins a live shared mount for ``vsite run LOCK [--python PATH] -- CMD`` without
starting Python and hands every other command line here (docs/startup.md).
Here, two forms skip click and the command modules:

- ``run LOCK [--python PATH] -- CMD ...``: the launcher's misses (no index entry
  yet, no live mount, a lock that changed) and ``python -m vsite run``: the fork
  server joins or starts the shared mount and hands back the lease connection,
  or, without a server, a live mount is joined here with only the plan cache and
  the lease client imported; then exec CMD. Either writes the launcher's index
  entry, so the next worker joins from sh;
- ``mount LOCK TARGET [--venv] [--offline] [--python PATH]``: asks the fork server
  (vsite.shared.forkserver: trio, pyfuse3, the store and the view already imported) to
  run the mount in a child of its own, or runs vsite.fs.mount here;
- ``mount --shared LOCK [--python PATH] [--offline] [--grace S] [--name N | --pid PID]``:
  the fork server joins or starts the shared mount with the lease asked for and prints
  its path, or, without a server, a live mount is joined here.

Anything else -- other options, no live mount, any error of the join -- goes to
the click CLI, which does the full job and reports errors its usual way.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # as typing's, without importing typing (~5 ms of every command)
if TYPE_CHECKING:
    import socket

    from vsite.shared.env import SharedEnv


def _fast_run(argv: list[str]) -> None:
    """exec CMD on the shared mount, joined or started by the fork server (vsite.shared.forkclient), or
    joined here if it is live; return when neither could (the CLI then handles the command)."""
    from vsite.shared.execenv import parse_run

    simple = parse_run(argv)
    if simple is None:
        return
    lock, python, cmd = simple
    from vsite.shared import forkclient

    joined = forkclient.join(argv)
    if joined is not None:
        status, venv, lease = joined
        if status:
            sys.exit(status)  # the child said why on stderr
        _exec(venv, cmd, lease)
    live = _live_lease(lock, python, f"hold {os.getpid()}")
    if live is None:
        return
    env, sock = live
    _exec(str(env.venv), cmd, sock.detach())


def _live_lease(lock: str, python: str | None, request: str) -> tuple[SharedEnv, socket.socket] | None:
    """The lease ``request`` on LOCK's shared mount if it is live, with only the plan cache and the
    lease client imported, and the join index entry written (the next `vsite run LOCK -- ...` or
    `mount --shared LOCK` joins from sh, docs/startup.md); None if it is not live, or on any failure
    (the CLI path redoes this and reports the error properly)."""
    try:
        from vsite.plan.cache import cached_plan
        from vsite.shared import client
        from vsite.shared.env import SharedEnv, env_key

        plan, _ = cached_plan(lock, python)
        env = SharedEnv(env_key(plan))
        sock = client.lease(env, request)
    except Exception:
        return None
    if sock is None:
        return None
    from vsite.shared.launch import remember

    remember(lock, python, plan, env)
    return env, sock


def _fast_shared(argv: list[str]) -> None:
    """``vsite mount --shared LOCK [--python PATH] [--offline] [--grace S] [--name N | --pid PID]``
    without click: through the fork server (vsite.shared.forkclient), or joined here if the mount is
    live; return when neither could."""
    from vsite.shared.execenv import parse_shared

    simple = parse_shared(argv, os.getppid())
    if simple is None:
        return
    from vsite.shared import forkclient

    status = forkclient.command("shared", argv)
    if status is not None:
        sys.exit(status)
    lock, python, request, _, _ = simple
    live = _live_lease(lock, python, request)
    if live is None:
        return
    env, sock = live
    sock.close()  # a pid lease outlives the connection; a named one lives until released
    print(env.venv)
    sys.exit(0)


def _exec(venv: str, cmd: list[str], lease: int) -> None:
    from vsite.shared.execenv import exec_in_venv

    try:
        exec_in_venv(venv, cmd, lease)
    except Exception as exc:  # exec failed: one line and the shell's status, as the CLI would
        print(f"vsite: {exc}", file=sys.stderr)
        sys.exit(getattr(exc, "exit_code", 1))


def _fast_mount(argv: list[str]) -> None:
    """``vsite mount LOCK TARGET [--venv] [--offline] [--python PATH]`` without click: through the fork
    server (vsite.shared.forkclient), else in this process; return for any other command line."""
    from vsite.fs.mount import parse_plain

    plain = parse_plain(argv)
    if plain is None:
        return
    from vsite.shared import forkclient

    status = forkclient.command("mount", argv)
    if status is None:  # no server for this install and context: the same mount, here
        from vsite.fs.mount import run_plain

        status = run_plain(plain)
    sys.exit(status)


def main() -> None:
    try:
        _fast_run(sys.argv[1:])
        _fast_mount(sys.argv[1:])
        _fast_shared(sys.argv[1:])
    except KeyboardInterrupt:  # e.g. while the fork server starts: as the CLI reports it
        print("vsite: interrupted", file=sys.stderr)
        sys.exit(130)
    from vsite.cli import main as cli

    if os.path.basename(sys.argv[0]) == "vsite-cli":  # behind the sh launcher (vsite/shared/bin/vsite)
        cli(prog_name="vsite")
    else:
        cli()

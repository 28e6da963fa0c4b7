"""The Python command line's entry (``vsite-cli``, behind the sh launcher ``vsite``): click-free fast paths.

The installed ``vsite`` is a POSIX sh script (``vsite/shared/bin/vsite``) that
joins a live shared mount for ``vsite run LOCK [--python PATH] -- CMD`` without
starting Python and hands every other command line here (docs/startup.md).
Here, two forms skip click and the command modules:

- ``run LOCK [--python PATH] -- CMD ...``: the launcher's misses (no index entry
  yet, a lock that changed) and ``python -m vsite run``: the join with only the
  plan cache and the lease client imported, then exec CMD; it also writes the
  launcher's index entry, so the next worker joins from sh;
- ``mount LOCK TARGET [--venv] [--offline] [--python PATH]``: :func:`mount_target`,
  what ``vsite mount`` does after click has parsed it.

Anything else -- other options, no live mount, any error of the join -- goes to
the click CLI, which does the full job and reports errors its usual way.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vsite.plan.model import Plan
    from vsite.target import Target


def _simple_run(argv: list[str]) -> tuple[str, str | None, list[str]] | None:
    """(LOCK, python, CMD) of ``run LOCK [--python PATH] -- CMD...``, None for any other command line."""
    if argv[:1] != ["run"] or "--" not in argv:
        return None
    split = argv.index("--")
    head, cmd = argv[1:split], argv[split + 1:]
    python = None
    if len(head) == 3 and "--python" in head[:2]:
        at = head.index("--python")
        python = head[at + 1]
        head = head[:at] + head[at + 2:]
    if len(head) != 1 or head[0].startswith("-") or not cmd:
        return None
    return head[0], python, cmd


def _fast_run(argv: list[str]) -> None:
    """exec CMD on a live shared mount, or return (the CLI then handles the command)."""
    simple = _simple_run(argv)
    if simple is None:
        return
    lock, python, cmd = simple
    try:
        from vsite.plan.cache import cached_plan
        from vsite.shared import client
        from vsite.shared.env import SharedEnv, env_key

        plan, _ = cached_plan(lock, python)
        env = SharedEnv(env_key(plan))
        sock = client.lease(env, f"hold {os.getpid()}")
    except Exception:  # any failure: the CLI path redoes this and reports the error properly
        return
    if sock is None:
        return
    from vsite.shared.execenv import exec_in_venv
    from vsite.shared.launch import remember

    remember(lock, python, plan, env)  # the next `vsite run LOCK -- ...` joins from sh (docs/startup.md)
    try:
        exec_in_venv(env.venv, cmd, sock.detach())
    except Exception as exc:  # exec failed: one line and the shell's status, as the CLI would
        print(f"vsite: {exc}", file=sys.stderr)
        sys.exit(getattr(exc, "exit_code", 1))


def _simple_mount(argv: list[str]) -> tuple[str, str, bool, bool, str | None] | None:
    """(LOCK, TARGET, venv, offline, python) of ``mount LOCK TARGET [--venv] [--offline] [--python PATH]``
    (any order) whose paths click would take, else None."""
    if argv[:1] != ["mount"]:
        return None
    args, rest = argv[1:], []
    venv = offline = False
    python = None
    while args:
        arg = args.pop(0)
        if arg == "--venv":
            venv = True
        elif arg == "--offline":
            offline = True
        elif arg == "--python" and python is None and args and not args[0].startswith("-"):
            python = args.pop(0)
        elif arg.startswith("-"):
            return None
        else:
            rest.append(arg)
    if len(rest) != 2:
        return None
    lock, target = rest
    if os.path.isdir(lock) or (os.path.exists(target) and not os.path.isdir(target)):
        return None  # click's own usage errors
    return lock, target, venv, offline, python


def _fast_mount(argv: list[str]) -> None:
    """``vsite mount LOCK TARGET [--venv] [--offline] [--python PATH]`` without click; return for any other
    command line."""
    simple = _simple_mount(argv)
    if simple is None:
        return
    from vsite.errors import VsiteError

    lock, target, venv, offline, python = simple
    try:
        from vsite.plan.cache import cached_plan

        line = mount_target(lock, target, venv=venv, offline=offline, plan=lambda: cached_plan(lock, python))
    except VsiteError as exc:  # as the CLI reports it (vsite.cli.VsiteGroup)
        print(f"vsite: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("vsite: interrupted", file=sys.stderr)
        sys.exit(130)
    print(line)
    sys.exit(0)


def mount_target(
    lock: str,
    given: str,
    *,
    venv: bool,
    offline: bool = False,
    foreground: bool = False,
    allow_other: bool = False,
    plan: "Callable[[], tuple[Plan, Target]] | None" = None,
    say: "Callable[[str], None] | None" = None,
) -> str | None:
    """``vsite mount LOCK TARGET``: the line to print once the daemon serves (None after ``foreground``).

    Checks the mount point under its claim (vsite.fs.mountpoint.Claim), plans (``plan``, default the
    cached plan for python3 and no options), fetches and builds the view (vsite.fs.prepare), forks the
    daemon; whatever fails, nothing is left mounted and a mount point this created is removed.
    """
    from vsite.fs import mountpoint, registry
    from vsite.fs.prepare import prepare, say_on_stderr
    from vsite.store import usage

    say = say or say_on_stderr
    mountpoint.check_fuse()
    with mountpoint.Claim(registry.canonical_mountpoint(given)) as claim:
        path, created = mountpoint.prepare_mountpoint(given)
        try:
            if plan is None:
                from vsite.plan.cache import cached_plan

                the_plan, interpreter = cached_plan(lock, None)
            else:
                the_plan, interpreter = plan()
            store, view, record = prepare(the_plan, interpreter, lock, path, venv=venv, offline=offline,
                                          allow_other=allow_other, say=say)
            if foreground:
                from vsite.fs.daemon import serve

                def ready() -> None:
                    claim.release()
                    say(f"vsite: serving {path} (pid {os.getpid()}); Ctrl-C unmounts")

                usage.pin(store, record.plan_key, record.wheels, os.getpid())
                try:
                    serve(view, record, allow_other=allow_other, on_ready=ready)
                finally:
                    usage.unpin(store, record.plan_key, os.getpid())
                return None
            from vsite.fs.daemon import spawn

            pid = spawn(view, record, allow_other=allow_other)
            # Keep the store's gc off these entries while the daemon lives (the
            # fetch's lock record covers them until this pin exists).
            usage.pin(store, record.plan_key, record.wheels, pid)
        except BaseException:
            if created:
                try:
                    os.rmdir(path)
                except OSError:
                    pass
            raise
    return f"mounted {path} ({record.packages} packages, daemon pid {pid})"


def main() -> None:
    _fast_run(sys.argv[1:])
    _fast_mount(sys.argv[1:])
    from vsite.cli import main as cli

    if os.path.basename(sys.argv[0]) == "vsite-cli":  # behind the sh launcher (vsite/shared/bin/vsite)
        cli(prog_name="vsite")
    else:
        cli()

"""``vsite mount LOCK TARGET``, click-free: claim the mount point, plan, prepare, fork the daemon.

Three callers run it: the click command (vsite.cli.mount_cmd, every option),
the console script's fast path for the plain form (vsite.entry), and a child of
the fork server (vsite.shared.forkserver), which runs :func:`run_plain` with the
modules already imported. So the plain form's parse and its error reporting
live here once, next to the mount itself.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (~3 ms of every plain mount)
if TYPE_CHECKING:
    from collections.abc import Callable

    from vsite.plan.model import Plan
    from vsite.target import Target

    # ``mount LOCK TARGET [--venv] [--offline] [--python PATH]``, the form that needs no click:
    # (lock, target, venv, offline, python)
    PlainMount = tuple[str, str, bool, bool, str | None]


def parse_plain(argv: list[str]) -> PlainMount | None:
    """The plain mount form of ``argv`` (options in any order) whose paths click would take, else None."""
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


def run_plain(plain: PlainMount) -> int:
    """Mount ``plain`` and print what ``vsite mount`` prints: the exit status (errors as the CLI reports them)."""
    from vsite.errors import VsiteError

    lock, target, venv, offline, python = plain
    try:
        from vsite.plan.cache import cached_plan

        line = mount_target(lock, target, venv=venv, offline=offline, plan=lambda: cached_plan(lock, python))
    except VsiteError as exc:  # as the CLI reports it (vsite.cli.VsiteGroup)
        print(f"vsite: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("vsite: interrupted", file=sys.stderr)
        return 130
    print(line, flush=True)
    return 0


def mount_target(
    lock: str,
    given: str,
    *,
    venv: bool,
    offline: bool = False,
    foreground: bool = False,
    allow_other: bool = False,
    plan: Callable[[], tuple[Plan, Target]] | None = None,
    say: Callable[[str], None] | None = None,
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

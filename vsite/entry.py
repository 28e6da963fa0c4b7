"""The ``vsite`` console script: a click-free fast path for joining a live shared mount, else the CLI.

``vsite run LOCK [--python PATH] -- CMD ...`` with the environment's mount
live is what every worker but the first runs; importing click and the command
modules is about a third of its CPU (docs/run.md). So that form first tries
the join with only the plan cache and the lease client imported, and execs
CMD; anything else -- other options, no live mount, any error -- goes to the
click CLI, which does the full job and reports errors its usual way.
"""

from __future__ import annotations

import os
import sys


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

    try:
        exec_in_venv(env.venv, cmd, sock.detach())
    except Exception as exc:  # exec failed: one line and the shell's status, as the CLI would
        print(f"vsite: {exc}", file=sys.stderr)
        sys.exit(getattr(exc, "exit_code", 1))


def main() -> None:
    _fast_run(sys.argv[1:])
    from vsite.cli import main as cli

    cli()

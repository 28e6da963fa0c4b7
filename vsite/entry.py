"""The ``vsite`` console script: a click-free fast path for joining a live shared mount, else the CLI.

``vsite run LOCK -- CMD ...`` (no options) with the environment's mount live
is what every worker but the first runs; importing click and the command
modules is about a third of its CPU (docs/run.md). So that exact form first
tries the join with only the plan cache and the lease client imported, and
execs CMD; anything else -- options, no live mount, any error -- goes to the
click CLI, which does the full job and reports errors its usual way.
"""

from __future__ import annotations

import os
import sys


def _fast_run(argv: list[str]) -> None:
    """exec CMD on a live shared mount, or return (the CLI then handles the command)."""
    if len(argv) < 4 or argv[0] != "run" or argv[2] != "--" or argv[1].startswith("-"):
        return
    try:
        from vsite.plan.cache import cached_plan
        from vsite.shared import client
        from vsite.shared.env import SharedEnv, env_key

        plan, _ = cached_plan(argv[1], None)
        env = SharedEnv(env_key(plan))
        sock = client.lease(env, f"hold {os.getpid()}")
    except Exception:  # noqa: BLE001 - the CLI path redoes this and reports the error properly
        return
    if sock is None:
        return
    from vsite.shared.execenv import exec_in_venv

    try:
        exec_in_venv(env.venv, argv[3:], sock.detach())
    except Exception as exc:  # exec failed: one line and the shell's status, as the CLI would
        print(f"vsite: {exc}", file=sys.stderr)
        sys.exit(getattr(exc, "exit_code", 1))


def main() -> None:
    _fast_run(sys.argv[1:])
    from vsite.cli import main as cli

    cli()

"""The plan flags every command that builds an environment shares (plan, fetch, mount, run).

``@plan_options`` adds ``--python`` and uv's extras/groups/package flags (the table is
:class:`vsite.plan.options.PlanOptions`' fields);
``plan_from_cli(lock, **opts)`` turns them into a cached plan. The plan
machinery is imported only when a command runs, keeping ``vsite`` start-up light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import click

from vsite.plan.options import flag_fields

if TYPE_CHECKING:
    from vsite.plan.model import Plan
    from vsite.target import Target

def plan_options(command: Callable) -> Callable:
    """Decorate a click command with ``--python`` and uv's selection flags."""
    for f in reversed(flag_fields()):
        switch = isinstance(f.default, bool)
        kind: dict[str, Any] = dict(is_flag=True) if switch else dict(multiple=True, metavar="NAME")
        command = click.option(f.metadata["flag"], f.name, help=f.metadata["help"], **kind)(command)
    return click.option(
        "--python",
        "python",
        metavar="PATH",
        default=None,
        help="Target interpreter (default: python3 on PATH).",
    )(command)


def split_plan_options(opts: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """Take ``python`` and the PlanOptions fields out of a command's keyword arguments."""
    fields = {f.name: opts.pop(f.name) for f in flag_fields() if f.name in opts}
    return opts.pop("python", None), fields


def plan_from_cli(lock: str, **opts: Any) -> "tuple[Plan, Target]":
    """The (cached) plan and target for ``lock`` and the flags ``@plan_options`` parsed."""
    from vsite.plan.cache import cached_plan
    from vsite.plan.options import PlanOptions

    python, fields = split_plan_options(dict(opts))
    return cached_plan(lock, python, PlanOptions(**fields))


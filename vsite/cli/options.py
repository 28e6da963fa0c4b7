"""The plan flags every command that builds an environment shares (plan, fetch, mount, run),
and the store flags of the commands that use the store (``--store-path``, ``--store``).

``@plan_options`` adds ``--python`` and uv's extras/groups/package flags (the table is
:class:`vsite.plan.options.PlanOptions`' fields);
``plan_from_cli(lock, **opts)`` turns them into a cached plan. The plan
machinery is imported only when a command runs, keeping ``vsite`` start-up light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import os

import click

from vsite.plan.options import flag_fields

if TYPE_CHECKING:
    from vsite.plan.model import Plan
    from vsite.target import Target

def _export_store_path(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        os.environ["VSITE_STORE_PATH"] = value  # for this command and all it starts (daemon, jobs)


def store_path_option(command: Callable) -> Callable:
    """``--store-path DIRS``: the shared read-only stores consulted after the local one, colon-separated
    (vsite.store.search). It sets ``$VSITE_STORE_PATH``, which is the same setting, for this command
    and every process it starts (the mount daemon, a shared mount's later joiners see the mount)."""
    return click.option(
        "--store-path", metavar="DIRS", default=None, expose_value=False, callback=_export_store_path,
        help="Shared read-only stores to use in place before fetching, colon-separated "
             "(default: $VSITE_STORE_PATH).",
    )(command)


def store_option(help: str) -> Callable[[Callable], Callable]:
    """``--store DIR``: work on the store at DIR instead of the local one (``$VSITE_CACHE_DIR``)."""
    return click.option("--store", "store_dir", metavar="DIR", default=None,
                        type=click.Path(file_okay=False), help=help)


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


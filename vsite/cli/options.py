"""The plan flags every command that builds an environment shares (plan, fetch, mount, run).

``@plan_options`` adds ``--python`` and uv's extras/groups/package flags;
``plan_from_cli(lock, **opts)`` turns them into a cached plan. The plan
machinery is imported only when a command runs, keeping ``vsite`` start-up light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import click

if TYPE_CHECKING:
    from vsite.plan.model import Plan
    from vsite.target import Target

# (flags, click keyword arguments, PlanOptions field)
_MULTI = dict(multiple=True, metavar="NAME")
_FLAGS: list[tuple[tuple[str, ...], dict, str]] = [
    (("--extra",), dict(_MULTI, help="Include an extra of the project (repeatable)."), "extras"),
    (("--all-extras",), dict(is_flag=True, help="Include every extra of the project."), "all_extras"),
    (("--no-extra",), dict(_MULTI, help="Exclude an extra (with --all-extras)."), "no_extras"),
    (("--group",), dict(_MULTI, help="Include a dependency group (repeatable)."), "groups"),
    (("--no-group",), dict(_MULTI, help="Exclude a dependency group, even a default one."), "no_groups"),
    (("--only-group",), dict(_MULTI, help="Only this group's dependencies, not the project."), "only_groups"),
    (("--no-dev",), dict(is_flag=True, help="Exclude the dev group."), "no_dev"),
    (("--only-dev",), dict(is_flag=True, help="Only the dev group, not the project."), "only_dev"),
    (("--no-default-groups",), dict(is_flag=True, help="Exclude tool.uv.default-groups."), "no_default_groups"),
    (("--all-groups",), dict(is_flag=True, help="Include every dependency group."), "all_groups"),
    (("--package",), dict(_MULTI, help="Sync only this workspace member (repeatable)."), "packages"),
    (("--all-packages",), dict(is_flag=True, help="Sync every workspace member."), "all_packages"),
    (("--no-install-project",), dict(is_flag=True, help="Leave out the project (keep its deps)."),
     "no_install_project"),
    (("--no-install-workspace",), dict(is_flag=True, help="Leave out every workspace member."),
     "no_install_workspace"),
    (("--no-install-local",), dict(is_flag=True, help="Leave out local path/directory packages."),
     "no_install_local"),
    (("--no-install-package",), dict(_MULTI, help="Leave out this package (repeatable)."), "no_install_packages"),
    (("--no-editable",), dict(is_flag=True, help="Install editable packages as non-editable."), "no_editable"),
    (("--no-editable-package",), dict(_MULTI, help="Install this editable package as non-editable."),
     "no_editable_packages"),
    (("--no-binary",), dict(is_flag=True, help="Build every package from source."), "no_binary"),
    (("--no-binary-package",), dict(_MULTI, help="Build this package from source."), "no_binary_packages"),
    (("--no-build",), dict(is_flag=True, help="Refuse anything that needs a build."), "no_build"),
    (("--no-build-package",), dict(_MULTI, help="Refuse to build this package."), "no_build_packages"),
]


def plan_options(command: Callable) -> Callable:
    """Decorate a click command with ``--python`` and uv's selection flags."""
    for flags, kwargs, field in reversed(_FLAGS):
        command = click.option(*flags, field, **kwargs)(command)
    return click.option(
        "--python",
        "python",
        metavar="PATH",
        default=None,
        help="Target interpreter (default: python3 on PATH).",
    )(command)


def split_plan_options(opts: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """Take ``python`` and the PlanOptions fields out of a command's keyword arguments."""
    fields = {field: opts.pop(field) for _, _, field in _FLAGS if field in opts}
    return opts.pop("python", None), fields


def plan_from_cli(lock: str, **opts: Any) -> "tuple[Plan, Target]":
    """The (cached) plan and target for ``lock`` and the flags ``@plan_options`` parsed."""
    from vsite.plan.cache import cached_plan
    from vsite.plan.options import PlanOptions

    python, fields = split_plan_options(dict(opts))
    return cached_plan(lock, python, PlanOptions(**fields))


def cli_args(options: "PlanOptions") -> list[str]:
    """The command-line flags that make ``plan_from_cli`` build ``options`` (the inverse of ``@plan_options``).

    For callers that run ``vsite`` in a subprocess with options they hold as a
    PlanOptions (vsite.ray's agent plugin).
    """
    chosen = options.to_json()
    args: list[str] = []
    for flags, kwargs, field in _FLAGS:
        if field not in chosen:
            continue
        if kwargs.get("is_flag"):
            args.append(flags[0])
        else:
            for value in chosen[field]:
                args += [flags[0], value]
    return args

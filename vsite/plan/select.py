"""uv's meaning of the extras and dependency-group flags, shared by both lock formats.

``uv sync`` enables the default groups (``tool.uv.default-groups``, else
``dev``) plus ``--group``/``--all-groups``, minus ``--no-group``/``--no-dev``/
``--no-default-groups``; ``--only-group``/``--only-dev`` replace all of that and
leave the project itself (and its dependencies and extras) out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Collection

from vsite.errors import PlanError
from vsite.plan.options import PlanOptions


@dataclass(frozen=True)
class Selection:
    """The outcome: whether the projects themselves are installed, and which extras and groups."""

    include_project: bool
    extras: frozenset[str]
    groups: frozenset[str]
    explicit_groups: frozenset[str] = frozenset()  # on by a flag, not only as a default

    def explicit(self, group: str) -> bool:
        return group in self.explicit_groups


def select(
    options: PlanOptions,
    defined_extras: Collection[str],
    defined_groups: Collection[str],
    default_groups: Collection[str] | None,
    where: tuple[str, str] = ("the project's optional-dependencies", "the project's dependency-groups"),
) -> Selection:
    """Apply ``options`` to what the lock defines; unknown names asked for are a PlanError.

    ``default_groups`` None means every defined group (uv's ``default-groups = "all"``);
    ``where`` names the places extras and groups are defined, for the error message.
    """
    for extra in (*options.extras, *options.no_extras):
        if extra not in defined_extras:
            raise PlanError(f"extra `{extra}` is not defined in {where[0]}")
    for group in (*options.groups, *options.only_groups, *options.no_groups, *(["dev"] if options.only_dev else [])):
        if group not in defined_groups:
            raise PlanError(f"group `{group}` is not defined in {where[1]}")

    only = set(options.only_groups) | ({"dev"} if options.only_dev else set())
    if only:
        chosen = frozenset(only - set(options.no_groups))
        return Selection(False, frozenset(), chosen, chosen)
    explicit = set(options.groups) | (set(defined_groups) if options.all_groups else set())
    groups = set(explicit)
    if not options.no_default_groups:
        groups |= set(defined_groups if default_groups is None else default_groups)
    off = set(options.no_groups) | ({"dev"} if options.no_dev else set())
    if options.all_extras:
        extras = set(defined_extras) - set(options.no_extras)
    else:
        extras = set(options.extras)
    defined = set(defined_groups)
    return Selection(True, frozenset(extras), frozenset((groups - off) & defined), frozenset(explicit - off))

"""Choosing the wheel uv would install: the best tag rank, then the highest build tag.

uv (``find_best_wheel``) takes, among wheels compatible with the interpreter,
the one whose best tag comes earliest in the interpreter's tag list, then the
larger build tag, and keeps the first on a full tie; this does the same with
the target's ``tags`` (best first, read from the interpreter itself).
"""

from __future__ import annotations

from typing import Iterable

from vsite.plan.model import Artifact


def wheel_tags(filename: str) -> tuple[list[str], tuple[int, str] | None] | None:
    """The expanded tags and build tag of a wheel file name (packaging's parser), or None if it is not one."""
    from packaging.utils import InvalidWheelFilename, parse_wheel_filename

    try:
        _name, _version, build, tags = parse_wheel_filename(filename)
    except InvalidWheelFilename:
        return None
    return [str(tag) for tag in tags], (build or None)


def best_wheel(wheels: Iterable[Artifact], rank: dict[str, int]) -> Artifact | None:
    """The wheel uv would pick for a target whose tag ranks are ``rank`` (0 best), or None."""
    best: Artifact | None = None
    best_key: tuple | None = None
    for wheel in wheels:
        parsed = wheel_tags(wheel.filename)
        if parsed is None:
            continue
        tags, build = parsed
        ranks = [rank[t] for t in tags if t in rank]
        if not ranks:
            continue
        # smaller rank is better; a build tag beats none and larger beats smaller
        key = (-min(ranks), build is not None, build or (0, ""))
        if best_key is None or key > best_key:
            best, best_key = wheel, key
    return best

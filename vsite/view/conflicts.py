"""File conflicts between packages: what uv does, and the full report.

uv installs wheels in parallel and lets the last writer win, so which copy of a
conflicting file survives is a race there (uv's own preview warning says so);
vsite picks deterministically: the package later in plan order wins, as a
serial install in plan order would leave it. Conflicts are noted lazily where
the view merges directories; ``MergedView.conflicts()`` finds them all with the
functions here, from the ``files.json`` of the packages that share a top-level
name (plus bin/ and the venv's data scheme).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Conflict:
    """A path several packages install; ``winner`` is the package the view presents.

    ``identical`` tells whether all copies have the same hash (harmless), None
    when not compared (found at a merge point, or generated scripts).
    """

    path: str
    winner: str
    losers: tuple[str, ...]
    identical: bool | None = None


Claim = tuple[int, str | None]  # (owner, RECORD-style hash or None)


def conflicts_from_claims(claims: Mapping[str, Sequence[Claim]], owners: Mapping[int, str]) -> list[Conflict]:
    """Paths claimed by more than one owner; the highest owner number wins."""
    out = []
    for path, found in claims.items():
        by_owner = {owner: digest for owner, digest in found}
        if len(by_owner) < 2:
            continue
        winner = max(by_owner)
        hashes = set(by_owner.values())
        identical = None if None in hashes else len(hashes) == 1
        losers = tuple(sorted(owners[o] for o in by_owner if o != winner))
        out.append(Conflict(path, owners[winner], losers, identical))
    return out


def file_dir_clashes(claims: Mapping[str, Sequence[Claim]], owners: Mapping[int, str]) -> list[Conflict]:
    """Files of one package at paths where another package has a directory.

    The higher owner number wins the whole path, as at a merge point."""
    dirs: dict[str, set[int]] = {}
    for path, found in claims.items():
        parts = path.split("/")
        for depth in range(1, len(parts)):
            dirs.setdefault("/".join(parts[:depth]), set()).update(o for o, _ in found)
    out = []
    for path, found in claims.items():
        file_owners = {o for o, _ in found}
        dir_owners = dirs.get(path, set()) - file_owners
        if dir_owners:
            every = file_owners | dir_owners
            winner = max(every)
            losers = tuple(sorted(owners[o] for o in every if o != winner))
            out.append(Conflict(path, owners[winner], losers))
    return out


def merge_reports(complete: Iterable[Conflict], found: Iterable[Conflict]) -> list[Conflict]:
    """The complete report, plus what merge points found beyond it (a package's
    data file over a venv skeleton file such as ``bin/activate``)."""
    by_path = {c.path: c for c in found}
    by_path.update({c.path: c for c in complete})
    return sorted(by_path.values(), key=lambda c: c.path)


def warning(conflicts: Iterable[Conflict], *, shown: int = 3) -> str | None:
    """One line for the mount to print, or None when no copies differ."""
    differing = [c for c in conflicts if c.identical is not True]
    if not differing:
        return None
    listed = ", ".join(f"{c.path} ({c.winner} over {', '.join(c.losers)})" for c in differing[:shown])
    more = f" and {len(differing) - shown} more" if len(differing) > shown else ""
    noun = "file is" if len(differing) == 1 else "files are"
    return (
        f"{len(differing)} {noun} installed by more than one package, the later in plan order wins: "
        f"{listed}{more} (vsite status --conflicts)"
    )

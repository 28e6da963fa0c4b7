"""Turning one locked package into a :class:`PlanItem`: which file, and what the store must do.

A compatible wheel is always preferred (kind ``wheel``); without one an sdist
means a build (kind ``sdist``); git, local trees and workspace members are
listed with their kind so later stages build them. Only a package with no
compatible wheel and nothing to build from is an error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from vsite.errors import PlanError
from vsite.plan.model import Artifact, ItemKind, PlanItem
from vsite.plan.options import PlanOptions
from vsite.plan.wheels import best_wheel


def file_url(path: str) -> str:
    """``file://`` URL of an absolute path, percent-encoded as uv writes it."""
    return Path(path).as_uri()


# The three PEP 610 shapes below are what uv 0.13 writes (checked by installing with
# ``uv sync --frozen``): no hash in ``archive_info``, ``editable`` always present
# in ``dir_info``, git URL without uv's ``?branch=``/``#commit`` decorations.


def archive_direct_url(url: str, subdirectory: str | None = None) -> dict:
    """direct_url.json for an archive (wheel or sdist) fetched from ``url`` (PEP 610)."""
    out: dict = {"url": url, "archive_info": {}}
    if subdirectory:
        out["subdirectory"] = subdirectory
    return out


def directory_direct_url(path: str, editable: bool, subdirectory: str | None = None) -> dict:
    out: dict = {"url": file_url(path), "dir_info": {"editable": editable}}
    if subdirectory:
        out["subdirectory"] = subdirectory
    return out


def vcs_direct_url(url: str, commit: str, requested: str | None, subdirectory: str | None = None) -> dict:
    info: dict = {"vcs": "git", "commit_id": commit}
    if requested:
        info["requested_revision"] = requested
    out: dict = {"url": url, "vcs_info": info}
    if subdirectory:
        out["subdirectory"] = subdirectory
    return out


def _refuse(name: str, version: str, why: str) -> PlanError:
    return PlanError(f"{name} {version} can't be installed: {why}".replace("  ", " "))


def archive_item(
    name: str,
    version: str,
    wheels: Iterable[Artifact],
    sdist: Artifact | None,
    rank: dict[str, int],
    target_desc: str,
    source: dict,
    options: PlanOptions,
) -> PlanItem:
    """An item installed from files: the best wheel, else the sdist to build, else an error.

    ``--no-binary`` drops the wheels (a direct wheel then cannot be installed at
    all, as uv says); ``--no-build`` drops the sdist.
    """
    wheels = tuple(wheels)
    if wheels and not options.binary_ok(name):
        if source.get("kind") in ("url", "path"):
            raise _refuse(name, version, "it is marked --no-binary but is itself a wheel")
        wheels = ()
    if sdist is not None and not options.build_ok(name):
        sdist = None
    wheel = best_wheel(wheels, rank)
    kind: ItemKind
    if wheel is not None:
        kind = "wheel"
    elif sdist is not None:
        kind = "sdist"
    elif not options.binary_ok(name):
        raise _refuse(name, version, "it is marked --no-binary and has no sdist to build")
    elif not options.build_ok(name):
        raise _refuse(name, version, f"it is marked --no-build and no wheel matches {target_desc}")
    else:
        have = f"{len(wheels)} wheel(s), none compatible" if wheels else "no wheels"
        raise PlanError(
            f"no wheel of {name} {version} matches {target_desc} ({have}; no sdist to build)"
        )
    if source.get("kind") in ("url", "path"):
        chosen = wheel or sdist
        assert chosen is not None  # one of them, or PlanError above
        url = chosen.url or (file_url(chosen.path) if chosen.path else None)
        if url:
            source = {**source, "direct_url": archive_direct_url(url, source.get("subdirectory"))}
    return PlanItem(
        name=name, version=version, kind=kind, wheel=wheel, sdist=sdist, source=source, requested=True
    )


def git_item(
    name: str, version: str, url: str, commit: str, requested: str | None,
    subdirectory: str | None, options: PlanOptions,
) -> PlanItem:
    """A package built from a git checkout at ``commit``."""
    if not options.build_ok(name):
        raise _refuse(name, version, "it is marked --no-build but is a git source")
    source = {
        "kind": "git",
        "url": url,
        "commit_id": commit,
        "requested_revision": requested,
        "subdirectory": subdirectory,
        "direct_url": vcs_direct_url(url, commit, requested, subdirectory),
    }
    return PlanItem(name=name, version=version, kind="git", source=source, requested=True)


def tree_item(
    name: str, version: str, path: str, editable: bool, subdirectory: str | None, options: PlanOptions
) -> PlanItem:
    """A package built from a local source tree, editable unless ``--no-editable`` says not."""
    if not options.build_ok(name):
        raise _refuse(name, version, "it is marked --no-build but is a local source tree")
    editable = editable and options.editable_ok(name)
    kind: ItemKind = "editable" if editable else "directory"
    source = {"kind": kind, "path": path, "direct_url": directory_direct_url(path, editable, subdirectory)}
    if subdirectory:
        source["subdirectory"] = subdirectory
    return PlanItem(name=name, version=version, kind=kind, source=source, requested=True)

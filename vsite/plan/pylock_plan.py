"""The install set of a PEP 751 pylock.toml for one target, by the PEP's own algorithm.

The lock's ``requires-python`` and ``environments`` must admit the target;
each ``[[packages]]`` entry is selected by its ``marker`` evaluated with the
chosen ``extras`` and ``dependency_groups`` (lock-file marker context); a
selected entry's ``requires-python`` must hold, and two selected entries of
one name are an error. Files: best wheel, else sdist; or the vcs, directory or
archive the entry names.
"""

from __future__ import annotations

from vsite.errors import PlanError
from vsite.lock.model import PyLock, PyPackage
from vsite.plan.items import (
    archive_item,
    directory_direct_url,
    file_url,
    vcs_direct_url,
)
from vsite.plan.markers import MarkerEnv
from vsite.plan.model import PlanItem
from vsite.plan.options import PlanOptions
from vsite.plan.select import select
from vsite.plan.wheels import wheel_tags
from vsite.target import Target


def plan_pylock(lock: PyLock, target: Target, options: PlanOptions) -> list[PlanItem]:
    """Items of the environment a PEP 751 installer makes from ``lock`` for ``target``."""
    chosen = select(options, lock.extras, lock.dependency_groups, lock.default_groups)
    env = MarkerEnv(target.markers, lock.path, extras=chosen.extras, groups=chosen.groups, lock_file=True)
    if not env.python_in(lock.requires_python):
        raise PlanError(
            f"target Python {env.env['python_full_version']} is outside the lock's "
            f"requires-python {lock.requires_python}"
        )
    if lock.environments and not any(map(env.holds, lock.environments)):
        raise PlanError(f"target matches none of the lock's environments: {lock.path}")
    selected: dict[str, PyPackage] = {}
    for package in lock.packages:
        if not env.holds(package.marker):
            continue
        if not env.python_in(package.requires_python):
            raise PlanError(
                f"{package.name} {package.version or ''} requires Python {package.requires_python}, "
                f"target is {env.env['python_full_version']}"
            )
        if package.name in selected:
            raise PlanError(f"{lock.path}: more than one entry of {package.name} applies to the target")
        selected[package.name] = package
    rank = target.tag_priority()
    desc = target.tags[0] if target.tags else f"Python {target.python_version}"
    return [_item(p, rank, desc) for p in selected.values()]


def _item(package: PyPackage, rank: dict[str, int], desc: str) -> PlanItem:
    name, version = package.name, package.version or ""
    if package.vcs is not None:
        vcs = package.vcs
        url = vcs.url or file_url(vcs.path or "")
        info = {
            "kind": "git",
            "url": url,
            "commit_id": vcs.commit_id,
            "requested_revision": vcs.requested_revision,
            "subdirectory": vcs.subdirectory,
            "direct_url": vcs_direct_url(url, vcs.commit_id, vcs.requested_revision, vcs.subdirectory),
        }
        if vcs.type != "git":
            raise PlanError(f"{name}: vcs type {vcs.type!r} is not supported (only git)")
        return PlanItem(name=name, version=version, kind="git", source=info, requested=True)
    if package.directory is not None:
        d = package.directory
        kind = "editable" if d.editable else "directory"
        info = {"kind": kind, "path": d.path, "direct_url": directory_direct_url(d.path, d.editable, d.subdirectory)}
        if d.subdirectory:
            info["subdirectory"] = d.subdirectory
        return PlanItem(name=name, version=version, kind=kind, source=info, requested=True)
    if package.archive is not None:
        a = package.archive
        info = {"kind": "url" if a.url else "path"}
        info.update({"url": a.url} if a.url else {"path": a.path})
        if package.archive_subdirectory:
            info["subdirectory"] = package.archive_subdirectory
        is_wheel = wheel_tags(a.filename) is not None
        return archive_item(name, version, (a,) if is_wheel else (), None if is_wheel else a, rank, desc, info)
    info = {"kind": "registry", "url": package.index} if package.index else {"kind": "registry"}
    return archive_item(name, version, package.wheels, package.sdist, rank, desc, info)

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
from vsite.plan.items import archive_item, file_url, git_item, tree_item
from vsite.plan.markers import MarkerEnv
from vsite.plan.model import PlanItem
from vsite.plan.options import PlanOptions
from vsite.plan.select import select
from vsite.plan.wheels import wheel_tags
from vsite.target import Target


def plan_pylock(lock: PyLock, target: Target, options: PlanOptions) -> list[PlanItem]:
    """Items of the environment a PEP 751 installer makes from ``lock`` for ``target``."""
    if options.packages or options.all_packages or options.no_install_project or options.no_install_workspace:
        raise PlanError("--package/--all-packages/--no-install-project/--no-install-workspace "
                        "are about workspace members; a pylock.toml has none")
    chosen = select(
        options, lock.extras, lock.dependency_groups, lock.default_groups,
        where=(f"{lock.path} (its `extras`)", f"{lock.path} (its `dependency-groups`)"),
    )
    env = MarkerEnv(target.markers, lock.path, extras=chosen.extras, groups=chosen.groups, lock_file=True)
    env.check_lock_python(lock.requires_python)
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
    skip = set(options.no_install_packages)
    if options.no_install_local:
        skip |= {p.name for p in selected.values() if p.directory or (p.archive and p.archive.path)}
    return [_item(p, rank, desc, options) for p in selected.values() if p.name not in skip]


def _item(package: PyPackage, rank: dict[str, int], desc: str, options: PlanOptions) -> PlanItem:
    name, version = package.name, package.version or ""
    if package.vcs is not None:
        vcs = package.vcs
        if vcs.type != "git":
            raise PlanError(f"{name}: vcs type {vcs.type!r} is not supported (only git)")
        url = vcs.url or file_url(vcs.path or "")
        return git_item(name, version, url, vcs.commit_id, vcs.requested_revision, vcs.subdirectory, options)
    if package.directory is not None:
        d = package.directory
        return tree_item(name, version, d.path, d.editable, d.subdirectory, options)
    if package.archive is not None:
        a = package.archive
        info: dict = {"kind": "url" if a.url else "path"}
        info.update({"url": a.url} if a.url else {"path": a.path})
        if package.archive_subdirectory:
            info["subdirectory"] = package.archive_subdirectory
        is_wheel = wheel_tags(a.filename) is not None
        wheels, sdist = ((a,), None) if is_wheel else ((), a)
        return archive_item(name, version, wheels, sdist, rank, desc, info, options)
    info = {"kind": "registry", "url": package.index} if package.index else {"kind": "registry"}
    return archive_item(name, version, package.wheels, package.sdist, rank, desc, info, options)

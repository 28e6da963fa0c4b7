"""The install set of a uv.lock for one target, as ``uv sync --frozen`` computes it.

Walk the graph from the workspace members uv would sync (the root project; or
every member of a non-project workspace; or ``--package``/``--all-packages``),
through their enabled extras and dependency groups, following only edges whose
marker holds for the target. Edges name one exact package (forks carry version
and source), so a forked package resolves to the one version its edge allows.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections import deque
from typing import Callable, Iterable

from vsite.errors import PlanError
from vsite.lock.model import ConflictItem, Dependency, Requirement, UvLock, UvPackage
from vsite.lock.uv import parse_git_source
from vsite.plan.items import archive_item, git_item, tree_item
from vsite.plan.markers import MarkerEnv
from vsite.plan.model import PlanItem
from vsite.plan.options import PlanOptions
from vsite.plan.select import select
from vsite.target import Target

_MEMBER_KINDS = ("editable", "virtual", "directory")


def project_settings(project_dir: str, options: PlanOptions) -> tuple[tuple[str, ...] | None, PlanOptions]:
    """What ``uv sync`` also reads from the workspace root's pyproject.toml ``[tool.uv]``:
    ``default-groups`` (None for ``"all"``; uv's default ``["dev"]``) and the build
    policy (``no-binary``, ``no-build``, ``no-binary-package``, ``no-build-package``),
    merged into ``options``. A missing or unreadable pyproject means uv's defaults.
    """
    try:
        with open(os.path.join(project_dir, "pyproject.toml"), "rb") as fh:
            tool = tomllib.load(fh).get("tool")
    except (OSError, tomllib.TOMLDecodeError):
        tool = None
    uv = tool.get("uv") if isinstance(tool, dict) else None
    if not isinstance(uv, dict):
        return ("dev",), options
    groups = uv.get("default-groups", ["dev"])
    defaults = None if groups == "all" else tuple(map(str, groups)) if isinstance(groups, list) else ("dev",)

    def names(key: str) -> tuple[str, ...]:
        value = uv.get(key, [])
        return tuple(map(str, value)) if isinstance(value, list) else ()

    merged = dataclasses.replace(
        options,
        no_binary=options.no_binary or uv.get("no-binary") is True,
        no_build=options.no_build or uv.get("no-build") is True,
        no_binary_packages=options.no_binary_packages + names("no-binary-package"),
        no_build_packages=options.no_build_packages + names("no-build-package"),
    )
    return defaults, merged


def _roots(lock: UvLock, options: PlanOptions) -> tuple[list[UvPackage], bool]:
    """The members to sync, and whether the workspace root's own needs (``[manifest]``) apply.

    ``--package`` names members; ``--all-packages`` or a root without ``[project]``
    means every member; otherwise the root project. The manifest's requirements
    and groups belong to a non-project root and apply only when it is synced
    (checked: ``uv sync --package m`` leaves the root's groups out).
    """
    root_dir = os.path.dirname(lock.path)
    members = [
        p
        for p in lock.packages
        if p.source.kind in _MEMBER_KINDS and (p.name in lock.members or p.source.path == root_dir)
    ]
    if options.packages:
        named = {p.name: p for p in members}
        missing = [n for n in options.packages if n not in named]
        if missing:
            raise PlanError(f"package `{missing[0]}` is not a workspace member of {lock.path}")
        return [named[n] for n in options.packages], False
    root = [p for p in members if p.source.path == root_dir]
    if options.all_packages or not root:
        return members, not root
    return root, False


def _requirement_package(lock: UvLock, req: Requirement, env: MarkerEnv) -> UvPackage:
    """The locked package a manifest requirement (by name only) means: the one whose fork
    (``resolution-markers``) holds for the target, as uv's ``find_by_markers``."""
    found = [
        p for p in lock.by_name.get(req.name, ())
        if not p.resolution_markers or any(map(env.holds, p.resolution_markers))
    ]
    if len(found) != 1:
        problem = "names no package" if not found else "matches several packages"
        raise PlanError(f"{lock.path}: manifest requirement {req.name} {problem} for this target")
    return found[0]


def _deps(package: UvPackage, extra: str | None) -> tuple[Dependency, ...]:
    return package.dependencies if extra is None else package.optional_dependencies.get(extra, ())


class _Walk:
    """uv's breadth-first walk over (package, extra) pairs (``Installable::to_resolution``)."""

    def __init__(self, lock: UvLock) -> None:
        self.lock = lock
        self.queue: deque[tuple[UvPackage, str | None]] = deque()
        self.seen: set[tuple[int, str | None]] = set()
        self.installed: dict[int, UvPackage] = {}

    def enqueue(self, package: UvPackage, extras: Iterable[str] = ()) -> None:
        """Walk the package's dependencies (and those of ``extras``), installing it or not."""
        for extra in (None, *extras):
            key = (id(package), extra)
            if key not in self.seen:
                self.seen.add(key)
                self.queue.append((package, extra))

    def install(self, package: UvPackage, extras: Iterable[str] = ()) -> None:
        self.installed[id(package)] = package
        self.enqueue(package, extras)

    def follow(self, dep: Dependency, env: MarkerEnv) -> None:
        if env.holds(dep.marker):
            self.install(self.lock.candidates(dep)[0], dep.extras)

    def run(self, env: MarkerEnv) -> list[UvPackage]:
        while self.queue:
            package, extra = self.queue.popleft()
            for dep in _deps(package, extra):
                self.follow(dep, env)
        return list(self.installed.values())

    def activated_extras(
        self, active: set[ConflictItem], env_for: Callable[[set[ConflictItem]], MarkerEnv]
    ) -> set[ConflictItem]:
        """uv's first pass for conflicts: every extra switched on along followed edges.

        A dependency's marker is evaluated as if its own extras were already on,
        and those extras then count for the rest of the pass (and the real walk).
        """
        queue, seen, active = deque(self.queue), set(self.seen), set(active)
        while queue:
            package, extra = queue.popleft()
            for dep in _deps(package, extra):
                more = {ConflictItem(dep.name, extra=e) for e in dep.extras} - active
                if not env_for(active | more).holds(dep.marker):
                    continue
                active |= more
                target = self.lock.candidates(dep)[0]
                for e in (None, *dep.extras):
                    if (id(target), e) not in seen:
                        seen.add((id(target), e))
                        queue.append((target, e))
        return active


def _group_root(lock: UvLock, roots: list[UvPackage], options: PlanOptions) -> UvPackage | None:
    """With one ``--package`` member, the root project lends its dependency groups: uv
    installs a root group the member does not define when it is asked for by flag
    (``--group``, ``--only-group``, ``--all-groups``), never as a mere default, and
    without the root's own dependencies."""
    if len(options.packages) != 1:
        return None
    root_dir = os.path.dirname(lock.path)
    root = [p for p in lock.packages if p.source.kind in _MEMBER_KINDS and p.source.path == root_dir]
    return root[0] if root and root[0] is not roots[0] else None


def _not_installed(lock: UvLock, roots: list[UvPackage], options: PlanOptions) -> set[str]:
    """Names ``--no-install-*`` leave out (their dependencies stay), checked against uv:
    the project is the ``--package`` members or else the root project, the workspace
    is every member, local means path/directory/editable sources."""
    root_dir = os.path.dirname(lock.path)
    skip = set(options.no_install_packages)
    if options.no_install_project:
        skip |= set(options.packages) if options.packages else {
            p.name for p in roots if p.source.path == root_dir}
    if options.no_install_workspace:
        skip |= {p.name for p in lock.packages if p.source.kind in _MEMBER_KINDS
                 and (p.name in lock.members or p.source.path == root_dir)}
    if options.no_install_local:
        skip |= {p.name for p in lock.packages if p.source.kind in ("path", *_MEMBER_KINDS)}
    return skip


def _check_target(lock: UvLock, env: MarkerEnv) -> None:
    """uv refuses a target outside ``requires-python`` (lock markers are simplified against
    it, so they would mislead) or outside ``supported-markers``."""
    env.check_lock_python(lock.requires_python)
    if lock.supported_markers and not any(map(env.holds, lock.supported_markers)):
        raise PlanError(f"target is not among the lock's supported environments: {lock.path}")


def _check_conflicts(lock: UvLock, active: set[ConflictItem]) -> None:
    for conflict in lock.conflicts:
        hit = [i for i in conflict if i in active]
        if len(hit) > 1:
            what = " and ".join(f"`{i.extra or i.group}` of {i.package}" for i in hit)
            raise PlanError(f"{what} conflict (tool.uv.conflicts): they cannot be installed together")


def plan_uv(lock: UvLock, target: Target, options: PlanOptions) -> list[PlanItem]:
    """Items of the environment ``uv sync --frozen`` would make from ``lock`` for ``target``."""
    roots, manifest = _roots(lock, options)
    manifest_groups = lock.dependency_groups if manifest else {}
    group_root = _group_root(lock, roots, options)
    defined_extras = {e for r in roots for e in r.extras}
    defined_groups = {g for r in roots for g in r.groups} | set(manifest_groups)
    defined_groups |= set(group_root.groups) if group_root else set()
    defaults, options = project_settings(os.path.dirname(lock.path), options)
    chosen = select(options, defined_extras, defined_groups, defaults)
    # (package, its groups to include): the synced members, and a root whose groups are inherited
    group_owners = [(r, chosen.groups & set(r.groups)) for r in roots]
    if group_root is not None:
        member_groups = set(roots[0].groups)
        inherited = frozenset(
            g for g in chosen.groups & set(group_root.groups) if chosen.explicit(g) and g not in member_groups
        )
        group_owners.append((group_root, inherited))
    root_extras = {id(r): sorted(chosen.extras & set(r.extras)) if chosen.include_project else [] for r in roots}
    active = {ConflictItem(r.name, extra=e) for r in roots for e in root_extras[id(r)]}
    active |= {ConflictItem(owner.name, group=g) for owner, groups in group_owners for g in groups}

    envs: dict[frozenset[ConflictItem], MarkerEnv] = {}

    def env_for(items: set[ConflictItem]) -> MarkerEnv:
        key = frozenset(items)
        if key not in envs:
            envs[key] = MarkerEnv(target.markers, lock.path, extras=frozenset(i.marker_name for i in key))
        return envs[key]

    _check_target(lock, env_for(active))

    walk = _Walk(lock)
    for root in roots:
        if chosen.include_project:
            walk.install(root, root_extras[id(root)])
    for owner, groups in group_owners:
        for group in sorted(groups):
            for dep in owner.dev_dependencies.get(group, ()):
                # a group edge such as `app[gpu]` counts its own extras as on (uv does
                # the same), so its conflict marker can admit it
                more = {ConflictItem(dep.name, extra=e) for e in dep.extras} - active
                if env_for(active | more).holds(dep.marker):
                    active |= more
                    walk.install(lock.candidates(dep)[0], dep.extras)
    env = env_for(active)
    # the non-project root's own needs: uv walks a requirement's dependencies
    # even under --only-group, without installing the package itself
    for req in lock.requirements if manifest else ():
        if env.holds(req.marker):
            package = _requirement_package(lock, req, env)
            (walk.install if chosen.include_project else walk.enqueue)(package, req.extras)
    for group in sorted(chosen.groups):
        for req in manifest_groups.get(group, ()):
            if env.holds(req.marker):
                package = _requirement_package(lock, req, env)
                walk.install(package, req.extras)
                active |= {ConflictItem(package.name, extra=e) for e in req.extras}
    if lock.conflicts:
        active = walk.activated_extras(active, env_for)
        _check_conflicts(lock, active)
        env = env_for(active)

    rank = target.tag_priority()
    desc = target.tags[0] if target.tags else f"Python {target.python_version}"
    skip = _not_installed(lock, roots, options)
    items = [_item(p, rank, desc, options) for p in walk.run(env) if p.name not in skip]
    names = [i.name for i in items]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise PlanError(f"{lock.path}: two versions of {dup} selected for the same target")
    return items


def _item(package: UvPackage, rank: dict[str, int], desc: str, options: PlanOptions) -> PlanItem:
    source = package.source
    name, version = package.name, package.version or ""
    if source.kind in ("registry", "url", "path"):
        info: dict = {"kind": source.kind}
        info.update({"path": source.path} if source.kind == "path" else {"url": source.value})
        if source.subdirectory:
            info["subdirectory"] = source.subdirectory
        return archive_item(name, version, package.wheels, package.sdist, rank, desc, info, options)
    if source.kind == "git":
        base, params, commit = parse_git_source(source.value)
        requested = params.get("rev") or params.get("tag") or params.get("branch")
        return git_item(name, version, base, commit, requested, source.subdirectory, options)
    assert source.path is not None
    if source.kind == "virtual":  # listed so nothing is silently dropped, but uv installs nothing
        info = {"kind": "virtual", "path": source.path}
        return PlanItem(name=name, version=version, kind="virtual", source=info, requested=False)
    return tree_item(name, version, source.path, source.kind == "editable", None, options)

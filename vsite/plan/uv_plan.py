"""The install set of a uv.lock for one target, as ``uv sync --frozen`` computes it.

Walk the graph from the workspace members uv would sync (the root project; or
every member of a non-project workspace; or ``--package``/``--all-packages``),
through their enabled extras and dependency groups, following only edges whose
marker holds for the target. Edges name one exact package (forks carry version
and source), so a forked package resolves to the one version its edge allows.
"""

from __future__ import annotations

import os
import tomllib
from collections import deque

from vsite.errors import PlanError
from vsite.lock.model import Dependency, Requirement, UvLock, UvPackage
from vsite.plan.items import archive_item, directory_direct_url, vcs_direct_url
from vsite.plan.markers import MarkerEnv, parse_specifier
from vsite.plan.model import PlanItem
from vsite.plan.options import PlanOptions
from vsite.plan.select import select
from vsite.target import Target

_MEMBER_KINDS = ("editable", "virtual", "directory")


def default_groups(project_dir: str) -> tuple[str, ...] | None:
    """``tool.uv.default-groups`` of the workspace root's pyproject.toml (uv's default: ``dev``).

    None stands for ``"all"``. A missing or unreadable pyproject means uv's default.
    """
    try:
        with open(os.path.join(project_dir, "pyproject.toml"), "rb") as fh:
            value = tomllib.load(fh).get("tool", {}).get("uv", {}).get("default-groups", ["dev"])
    except (OSError, tomllib.TOMLDecodeError, AttributeError):
        return ("dev",)
    if value == "all":
        return None
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    return ("dev",)


def _roots(lock: UvLock, options: PlanOptions) -> tuple[list[UvPackage], bool]:
    """The members to sync and whether the root is a non-project workspace (manifest needs apply)."""
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
    """The locked package a manifest requirement (by name only) means for this target."""
    found = list(lock.by_name.get(req.name, ()))
    if req.specifier and len(found) > 1:
        spec = parse_specifier(req.specifier, lock.path)
        found = [p for p in found if p.version is None or spec.contains(p.version, prereleases=True)]
    if len(found) > 1:
        found = [p for p in found if not p.resolution_markers or any(map(env.holds, p.resolution_markers))]
    if not found:
        raise PlanError(f"{lock.path}: manifest requirement {req.name} names no package in the lock")
    return found[0]


def plan_uv(lock: UvLock, target: Target, options: PlanOptions) -> list[PlanItem]:
    """Items of the environment ``uv sync --frozen`` would make from ``lock`` for ``target``."""
    env = MarkerEnv(target.markers, lock.path)
    if not env.python_in(lock.requires_python):
        raise PlanError(
            f"target Python {env.env['python_full_version']} is outside the lock's "
            f"requires-python {lock.requires_python}"
        )
    if lock.supported_markers and not any(map(env.holds, lock.supported_markers)):
        raise PlanError(f"target is not among the lock's supported environments: {lock.path}")

    roots, non_project = _roots(lock, options)
    manifest_groups = lock.dependency_groups if non_project or not roots else {}
    defined_extras = {e for r in roots for e in r.extras}
    defined_groups = {g for r in roots for g in r.groups} | set(manifest_groups)
    chosen = select(options, defined_extras, defined_groups, default_groups(os.path.dirname(lock.path)))

    seen: set[tuple[int, str | None]] = set()
    installed: dict[int, UvPackage] = {}
    queue: deque[tuple[UvPackage, str | None]] = deque()

    def visit(package: UvPackage, extras: tuple[str, ...] | frozenset[str] = ()) -> None:
        for extra in (None, *extras):
            key = (id(package), extra)
            if key not in seen:
                seen.add(key)
                queue.append((package, extra))

    def follow(dep: Dependency) -> None:
        if env.holds(dep.marker):
            visit(lock.candidates(dep)[0], dep.extras)

    def require(req: Requirement) -> None:
        if env.holds(req.marker):
            visit(_requirement_package(lock, req, env), req.extras)

    for root in roots:
        if chosen.include_project:
            visit(root, tuple(e for e in chosen.extras if e in root.extras))
        for group in sorted(chosen.groups):
            for dep in root.dev_dependencies.get(group, ()):
                follow(dep)
    if non_project or not roots:
        if chosen.include_project:
            for req in lock.requirements:
                require(req)
        for group in sorted(chosen.groups):
            for req in manifest_groups.get(group, ()):
                require(req)

    while queue:
        package, extra = queue.popleft()
        installed[id(package)] = package
        deps = package.dependencies if extra is None else package.optional_dependencies.get(extra, ())
        for dep in deps:
            follow(dep)

    rank = target.tag_priority()
    desc = target.tags[0] if target.tags else f"Python {target.python_version}"
    items = [_item(p, rank, desc) for p in installed.values()]
    names = [i.name for i in items]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise PlanError(f"{lock.path}: two versions of {dup} selected for the same target")
    return items


def _item(package: UvPackage, rank: dict[str, int], desc: str) -> PlanItem:
    source = package.source
    version = package.version or ""
    if source.kind in ("registry", "url", "path"):
        info: dict = {"kind": source.kind}
        if source.kind == "registry":
            info["url"] = source.value
        elif source.kind == "url":
            info["url"] = source.value
        else:
            info["path"] = source.path
        if source.subdirectory:
            info["subdirectory"] = source.subdirectory
        sdist = package.sdist
        if sdist is None and not package.wheels and source.kind != "registry":
            raise PlanError(f"{package.name} {version}: lock names neither a wheel nor an sdist")
        return archive_item(package.name, version, package.wheels, sdist, rank, desc, info)
    if source.kind == "git":
        repo, _, commit = source.value.partition("#")
        base, _, query = repo.partition("?")
        params = dict(p.partition("=")[::2] for p in query.split("&") if p)
        requested = params.get("rev") or params.get("tag") or params.get("branch")
        info = {
            "kind": "git",
            "url": base,
            "commit_id": commit,
            "requested_revision": requested,
            "subdirectory": source.subdirectory,
            "direct_url": vcs_direct_url(base, commit, requested, source.subdirectory),
        }
        return PlanItem(name=package.name, version=version, kind="git", source=info, requested=True)
    assert source.path is not None
    info = {"kind": source.kind, "path": source.path}
    if source.kind != "virtual":
        info["direct_url"] = directory_direct_url(source.path, source.kind == "editable")
    return PlanItem(name=package.name, version=version, kind=source.kind, source=info, requested=True)

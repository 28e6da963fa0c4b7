"""Parse uv.lock (``version = 1``, any ``revision``) into :class:`~vsite.lock.model.UvLock`.

Only what planning, fetching and ``direct_url.json`` need is kept; unknown
keys are ignored so newer revisions still load, an unknown major version is an
error because its meaning may have changed.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import MappingProxyType

from packaging.utils import canonicalize_name

from vsite.errors import LockError
from vsite.lock.artifact import Artifact
from vsite.lock.fields import Fields, filename_of, read_toml, resolve_path
from vsite.lock.model import ConflictItem, Dependency, Requirement, Source, UvLock, UvPackage

SUPPORTED_VERSION = 1
_SOURCE_KINDS = ("registry", "url", "path", "directory", "editable", "virtual", "git")
_LOCAL_KINDS = frozenset({"path", "directory", "editable", "virtual"})


def _is_url(value: str) -> bool:
    return "://" in value


def parse_uv_lock(path: Path, data: bytes) -> UvLock:
    """Read a uv.lock whose bytes are ``data``; raise LockError naming the first defect."""
    return uv_lock_from_toml(path, read_toml(path, data, uv_wheels=True))


def uv_lock_from_toml(path: Path, document: dict) -> UvLock:
    """Build the records from an already parsed TOML document (also the fuzzing entry point)."""
    lock = str(path)
    base = os.path.dirname(os.path.abspath(path))
    top = Fields(lock, document, "top level")
    version = top.get("version", int, required=True)
    if version != SUPPORTED_VERSION:
        raise LockError(f"{lock}: unknown uv.lock version {version} (vsite reads version {SUPPORTED_VERSION})")
    manifest = top.table("manifest")
    requirements: tuple[Requirement, ...] = ()
    groups: dict[str, tuple[Requirement, ...]] = {}
    members: tuple[str, ...] = ()
    if manifest is not None:
        members = tuple(canonicalize_name(m) for m in manifest.strs("members"))
        requirements = tuple(_requirement(f) for f in manifest.tables("requirements"))
        dep_groups = manifest.table("dependency-groups")
        if dep_groups is not None:
            for group in dep_groups.data:
                groups[group] = tuple(_requirement(f) for f in dep_groups.tables(group))
    packages = tuple(
        _package(Fields(lock, raw, f"package[{i}]"), base)
        for i, raw in enumerate(top.get("package", list, []))
    )
    parsed = UvLock(
        path=os.path.abspath(path),
        version=version,
        revision=top.get("revision", int, 0),
        requires_python=top.str("requires-python"),
        resolution_markers=top.strs("resolution-markers"),
        supported_markers=top.strs("supported-markers"),
        members=members,
        requirements=requirements,
        dependency_groups=MappingProxyType(groups),
        packages=packages,
        conflicts=tuple(_conflict_set(top, i) for i in range(len(top.get("conflicts", list, [])))),
    )
    _check_edges(parsed)
    return parsed


def _check_edges(lock: UvLock) -> None:
    """Every dependency must name exactly one package (forks are told apart by version/source)."""
    for package in lock.packages:
        edges = [("dependencies", package.dependencies)]
        edges += [(f"optional-dependencies.{k}", v) for k, v in package.optional_dependencies.items()]
        edges += [(f"dev-dependencies.{k}", v) for k, v in package.dev_dependencies.items()]
        for where, deps in edges:
            for dep in deps:
                found = len(lock.candidates(dep))
                if found != 1:
                    what = dep.name + (f" {dep.version}" if dep.version else "")
                    problem = "names no package" if not found else f"matches {found} packages"
                    raise LockError(
                        f"{lock.path}: package {package.name} {package.version or ''}".rstrip()
                        + f": {where}: dependency {what} {problem} in the lock"
                    )


def _conflict_set(top: Fields, index: int) -> tuple[ConflictItem, ...]:
    items = Fields(top.lock, {"set": top.data["conflicts"][index]}, f"conflicts[{index}]").tables("set")
    out = []
    for item in items:
        extra, group = item.str("extra"), item.str("group")
        if (extra is None) == (group is None):
            raise item.fail("must have exactly one of `extra` or `group`")
        out.append(ConflictItem(canonicalize_name(item.str("package", required=True) or ""), extra, group))
    return tuple(out)


def _requirement(f: Fields) -> Requirement:
    return Requirement(
        name=canonicalize_name(f.str("name", required=True)),
        specifier=f.str("specifier"),
        extras=f.strs("extras") or f.strs("extra"),
        marker=f.str("marker"),
    )


def _source(f: Fields, base: str) -> Source:
    found = [k for k in _SOURCE_KINDS if k in f.data]
    if len(found) != 1:
        raise f.fail("must have exactly one of " + ", ".join(f"`{k}`" for k in _SOURCE_KINDS))
    kind = found[0]
    value = f.str(kind, required=True)
    path = None
    if kind in _LOCAL_KINDS or (kind == "registry" and not _is_url(value)):
        path = resolve_path(base, value)
    subdirectory = f.str("subdirectory")
    if kind == "git" and subdirectory is None:
        subdirectory = parse_git_source(value)[1].get("subdirectory")
    return Source(kind=kind, value=value, path=path, subdirectory=subdirectory)  # type: ignore[arg-type]  # one of _SOURCE_KINDS


def parse_git_source(value: str) -> tuple[str, dict[str, str], str]:
    """Split a uv.lock git source ``<repo>?<branch|tag|rev|subdirectory>=...#<commit>``."""
    repo, _, commit = value.partition("#")
    base, _, query = repo.partition("?")
    return base, dict(part.partition("=")[::2] for part in query.split("&") if part), commit


def _dependencies(f: Fields, key: str, base: str) -> tuple[Dependency, ...]:
    return tuple(_dependency(d, base) for d in f.tables(key))


def _dependency(f: Fields, base: str) -> Dependency:
    source = f.table("source")
    return Dependency(
        name=canonicalize_name(f.str("name", required=True)),
        extras=f.strs("extra"),
        marker=f.str("marker"),
        version=f.str("version"),
        source=_source(source, base) if source is not None else None,
    )


def _grouped(f: Fields, key: str, base: str) -> MappingProxyType:
    table = f.table(key)
    if table is None:
        return MappingProxyType({})
    return MappingProxyType({name: _dependencies(table, name, base) for name in table.data})


def _hash(f: Fields) -> str | None:
    value = f.str("hash")
    if value is None:
        return None
    algo, sep, digest = value.partition(":")
    if not sep or not digest:
        raise f.fail(f"field `hash` must be `algorithm:digest`, got {value!r}")
    return digest.lower() if algo == "sha256" else None


def _artifact(f: Fields, source: Source, base: str) -> Artifact:
    """A wheel or sdist entry: ``url``, ``path`` or ``filename`` (which then names the source file)."""
    url, rel, filename = f.str("url"), f.str("path"), f.str("filename")
    path = None
    if rel is not None:
        # registry-relative for a local index (flat directory), lock-relative otherwise
        root = source.path if source.kind == "registry" and source.path else base
        path = resolve_path(root, rel)
    elif url is None:
        if source.kind == "url":
            url = source.value
        elif source.kind == "path":
            path = source.path
        elif filename is None:
            raise f.fail("missing field `url`, `path` or `filename`")
    if filename is None:
        filename = filename_of(url or path or "")
    size = f.get("size", int)
    return Artifact(filename=filename, url=url, path=path, sha256=_hash(f), size=size)


def _package(f: Fields, base: str) -> UvPackage:
    name = canonicalize_name(f.str("name", required=True))
    f.where = f"{f.where} ({name})"
    source_table = f.table("source", required=True)
    assert source_table is not None
    source = _source(source_table, base)
    version = f.str("version", required=source.kind in ("registry", "url", "path", "git"))
    sdist_table = f.table("sdist")
    metadata = f.table("metadata")
    provides: tuple[str, ...] = ()
    declared: tuple[str, ...] = ()
    if metadata is not None:
        provides = metadata.strs("provides-extras")
        requires_dev = metadata.table("requires-dev")
        declared = tuple(requires_dev.data) if requires_dev is not None else ()
    return UvPackage(
        name=name,
        version=version,
        source=source,
        dependencies=_dependencies(f, "dependencies", base),
        optional_dependencies=_grouped(f, "optional-dependencies", base),
        dev_dependencies=_grouped(f, "dev-dependencies", base),
        provides_extras=provides,
        declared_groups=declared,
        resolution_markers=f.strs("resolution-markers"),
        sdist=_artifact(sdist_table, source, base) if sdist_table is not None else None,
        wheels=tuple(_artifact(w, source, base) for w in f.tables("wheels")),
    )

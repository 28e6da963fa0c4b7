"""Typed, immutable records of a lockfile, as read from disk and nothing more.

Two formats share the :class:`~vsite.lock.artifact.Artifact` record for files but
keep their own package records: a uv.lock is a dependency graph walked from the
workspace members, a pylock.toml is a flat list selected package by package, so
forcing one shape on both would lose what each planner needs. File paths are
already absolute (resolved against the lock's directory).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Literal, Mapping

from vsite.lock.artifact import Artifact

# uv.lock package sources: index, direct URL, local archive, local tree, workspace member, git.
SourceKind = Literal["registry", "url", "path", "directory", "editable", "virtual", "git"]

EMPTY: Mapping = MappingProxyType({})


@dataclass(frozen=True)
class Source:
    """Where a uv.lock package comes from: ``kind`` and the lock's value (URL or relative path).

    ``path`` is the value resolved to an absolute path for local kinds;
    ``subdirectory`` is set for URL/git sources that build from a sub-tree.
    """

    kind: SourceKind
    value: str
    path: str | None = None
    subdirectory: str | None = None


@dataclass(frozen=True)
class Dependency:
    """An edge of the uv.lock graph: ``version``/``source`` only disambiguate forks."""

    name: str
    extras: tuple[str, ...] = ()
    marker: str | None = None
    version: str | None = None
    source: Source | None = None


@dataclass(frozen=True)
class UvPackage:
    """One ``[[package]]`` of a uv.lock (one node per name, version and source)."""

    name: str
    version: str | None
    source: Source
    dependencies: tuple[Dependency, ...] = ()
    optional_dependencies: Mapping[str, tuple[Dependency, ...]] = field(default_factory=lambda: EMPTY)
    dev_dependencies: Mapping[str, tuple[Dependency, ...]] = field(default_factory=lambda: EMPTY)
    provides_extras: tuple[str, ...] = ()
    declared_groups: tuple[str, ...] = ()
    resolution_markers: tuple[str, ...] = ()
    sdist: Artifact | None = None
    wheels: tuple[Artifact, ...] = ()

    @property
    def extras(self) -> tuple[str, ...]:
        """Every extra the package defines, with or without dependencies."""
        return tuple(dict.fromkeys((*self.optional_dependencies, *self.provides_extras)))

    @property
    def groups(self) -> tuple[str, ...]:
        """Every dependency group the package defines, with or without dependencies."""
        return tuple(dict.fromkeys((*self.dev_dependencies, *self.declared_groups)))


@dataclass(frozen=True)
class Requirement:
    """A requirement of the lock's ``[manifest]`` (a non-project workspace root's own needs)."""

    name: str
    specifier: str | None = None
    extras: tuple[str, ...] = ()
    marker: str | None = None


@dataclass(frozen=True)
class ConflictItem:
    """One side of a ``tool.uv.conflicts`` set: an extra or a group of a package."""

    package: str
    extra: str | None = None
    group: str | None = None

    @property
    def marker_name(self) -> str:
        """How uv.lock markers name it: ``extra-<len>-<package>-<extra>`` / ``group-<len>-<package>-<group>``."""
        kind, value = ("extra", self.extra) if self.extra is not None else ("group", self.group)
        return f"{kind}-{len(self.package)}-{self.package}-{value}"


@dataclass(frozen=True)
class UvLock:
    """A parsed uv.lock (version 1, any revision)."""

    path: str
    version: int
    revision: int
    requires_python: str | None
    resolution_markers: tuple[str, ...]
    supported_markers: tuple[str, ...]
    members: tuple[str, ...]
    requirements: tuple[Requirement, ...]
    dependency_groups: Mapping[str, tuple[Requirement, ...]]
    packages: tuple[UvPackage, ...]
    conflicts: tuple[tuple[ConflictItem, ...], ...] = ()
    format: Literal["uv"] = "uv"

    @cached_property
    def by_name(self) -> Mapping[str, tuple[UvPackage, ...]]:
        """Packages by normalized name: one entry, or several for a forked resolution."""
        index: dict[str, list[UvPackage]] = {}
        for package in self.packages:
            index.setdefault(package.name, []).append(package)
        return MappingProxyType({name: tuple(found) for name, found in index.items()})

    def candidates(self, dep: Dependency) -> list[UvPackage]:
        """The packages a dependency edge may mean; exactly one in a valid lock."""
        found = self.by_name.get(dep.name, ())
        if len(found) == 1 and dep.version is None and dep.source is None:
            return list(found)
        return [
            p
            for p in found
            if (dep.version is None or p.version == dep.version)
            and (dep.source is None or (p.source.kind, p.source.value) == (dep.source.kind, dep.source.value))
        ]


@dataclass(frozen=True)
class VcsSource:
    """A pylock ``vcs`` table (git, hg, ...) pinned to ``commit_id``."""

    type: str
    url: str | None
    path: str | None
    requested_revision: str | None
    commit_id: str
    subdirectory: str | None = None


@dataclass(frozen=True)
class DirectorySource:
    """A pylock ``directory`` table: a local source tree, maybe installed editable."""

    path: str
    editable: bool = False
    subdirectory: str | None = None


@dataclass(frozen=True)
class PyPackage:
    """One ``[[packages]]`` entry of a pylock.toml; exactly one of the source forms is set.

    ``archive`` is a direct-URL or local archive (wheel or sdist), kept as an
    :class:`Artifact` plus its ``subdirectory``.
    """

    name: str
    version: str | None
    marker: str | None = None
    requires_python: str | None = None
    index: str | None = None
    wheels: tuple[Artifact, ...] = ()
    sdist: Artifact | None = None
    vcs: VcsSource | None = None
    directory: DirectorySource | None = None
    archive: Artifact | None = None
    archive_subdirectory: str | None = None


@dataclass(frozen=True)
class PyLock:
    """A parsed PEP 751 pylock.toml (lock-version 1.x)."""

    path: str
    lock_version: str
    requires_python: str | None
    environments: tuple[str, ...]
    extras: tuple[str, ...]
    dependency_groups: tuple[str, ...]
    default_groups: tuple[str, ...]
    created_by: str | None
    packages: tuple[PyPackage, ...]
    format: Literal["pylock"] = "pylock"


Lock = UvLock | PyLock

"""Parse a PEP 751 lock file (``pylock.toml`` / ``pylock.<name>.toml``) into :class:`PyLock`.

Lock-version 1.x is read (a newer minor version only adds keys, which are
ignored); any other major version is an error, as PEP 751 requires.
"""

from __future__ import annotations

import os
from pathlib import Path

from packaging.utils import canonicalize_name

from vsite.errors import LockError
from vsite.lock.artifact import Artifact
from vsite.lock.fields import Fields, filename_of, read_toml, resolve_path
from vsite.lock.model import DirectorySource, PyLock, PyPackage, VcsSource


def parse_pylock(path: Path, data: bytes) -> PyLock:
    """Read a pylock.toml whose bytes are ``data``; raise LockError naming the first defect."""
    return pylock_from_toml(path, read_toml(path, data))


def pylock_from_toml(path: Path, document: dict) -> PyLock:
    """Build the records from an already parsed TOML document (also the fuzzing entry point)."""
    lock = str(path)
    base = os.path.dirname(os.path.abspath(path))
    top = Fields(lock, document, "top level")
    lock_version = top.str("lock-version", required=True)
    if lock_version.split(".", 1)[0] != "1":
        raise LockError(f"{lock}: unknown pylock lock-version {lock_version} (vsite reads 1.x)")
    packages = []
    for i, raw in enumerate(top.get("packages", list, [])):
        packages.append(_package(Fields(lock, raw, f"packages[{i}]"), base))
    return PyLock(
        path=os.path.abspath(path),
        lock_version=lock_version,
        requires_python=top.str("requires-python"),
        environments=top.strs("environments"),
        extras=tuple(canonicalize_name(e) for e in top.strs("extras")),
        dependency_groups=tuple(canonicalize_name(g) for g in top.strs("dependency-groups")),
        default_groups=tuple(canonicalize_name(g) for g in top.strs("default-groups")),
        created_by=top.str("created-by"),
        packages=tuple(packages),
    )


def _sha256(f: Fields) -> str | None:
    hashes = f.table("hashes")
    if hashes is None:
        return None
    value = hashes.get("sha256", str)
    return value.lower() if value else None


def _location(f: Fields, base: str) -> tuple[str | None, str | None]:
    url, rel = f.str("url"), f.str("path")
    if url is None and rel is None:
        raise f.fail("missing field `url` or `path`")
    return url, resolve_path(base, rel) if rel is not None else None


def _artifact(f: Fields, base: str) -> Artifact:
    url, path = _location(f, base)
    name = f.str("name") or filename_of(url or path or "")
    return Artifact(filename=name, url=url, path=path, sha256=_sha256(f), size=f.get("size", int))


def _package(f: Fields, base: str) -> PyPackage:
    name = canonicalize_name(f.str("name", required=True) or "")
    f.where = f"{f.where} ({name})"
    vcs = f.table("vcs")
    directory = f.table("directory")
    archive = f.table("archive")
    sdist = f.table("sdist")
    wheels = f.tables("wheels")
    forms = [k for k, v in (("vcs", vcs), ("directory", directory), ("archive", archive)) if v is not None]
    if len(forms) > 1 or (forms and (sdist is not None or wheels)):
        raise f.fail("must have only one of `vcs`, `directory`, `archive` or `sdist`/`wheels`")
    if not forms and sdist is None and not wheels:
        raise f.fail("missing field `wheels`, `sdist`, `vcs`, `directory` or `archive`")
    return PyPackage(
        name=name,
        version=f.str("version"),
        marker=f.str("marker"),
        requires_python=f.str("requires-python"),
        index=f.str("index"),
        wheels=tuple(_artifact(w, base) for w in wheels),
        sdist=_artifact(sdist, base) if sdist is not None else None,
        vcs=_vcs(vcs, base) if vcs is not None else None,
        directory=_directory(directory, base) if directory is not None else None,
        archive=_artifact(archive, base) if archive is not None else None,
        archive_subdirectory=archive.str("subdirectory") if archive is not None else None,
    )


def _vcs(f: Fields, base: str) -> VcsSource:
    url, path = _location(f, base)
    return VcsSource(
        type=f.str("type", required=True) or "",
        url=url,
        path=path,
        requested_revision=f.str("requested-revision"),
        commit_id=f.str("commit-id", required=True) or "",
        subdirectory=f.str("subdirectory"),
    )


def _directory(f: Fields, base: str) -> DirectorySource:
    rel = f.str("path", required=True) or ""
    return DirectorySource(
        path=resolve_path(base, rel),
        editable=bool(f.get("editable", bool, False)),
        subdirectory=f.str("subdirectory"),
    )

"""Build a wheel for a non-wheel plan item (sdist, git, directory, editable) with pypa ``build``.

The build runs in the *target* interpreter (so a C extension is built for the
ABI it will be imported by) in an isolated environment made by
``build.env.DefaultIsolatedEnv`` (uv as the installer when vsite has it, pip
otherwise); vsite's own copy of ``build`` is put on that interpreter's path,
as the target probe does with ``packaging``, so the target needs nothing
installed.

Built entries are keyed by their *source*: :func:`source_key` hashes the
kind with the sdist's sha256, the git commit, or the content of a source tree
(for an editable: its path and build configuration, since an editable wheel
only points at the tree). The resulting wheel is unpacked like a downloaded
one.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path


from vsite.errors import StoreError
from vsite.fileio import copy_hashing, sha256_file
from vsite.plan.model import PlanItem

# Skipped when hashing a source tree: VCS data, caches and build outputs do not
# change what the backend builds from.
_TREE_SKIP = {".git", ".hg", ".svn", "__pycache__", ".venv", "venv", "build", "dist", ".tox", ".nox",
              ".mypy_cache", ".pytest_cache", ".ruff_cache"}
_EDITABLE_CONFIG = ("pyproject.toml", "setup.py", "setup.cfg")

_BUILD = r"""
import sys
sys.path.insert(0, sys.argv[1])
import build, build.env
distribution, src, out, installer = sys.argv[2:6]
with build.env.DefaultIsolatedEnv(installer=installer) as env:
    builder = build.ProjectBuilder.from_isolated_env(env, src)
    env.install(builder.build_system_requires)
    env.install(builder.get_requires_for_build(distribution))
    print(builder.build(distribution, out))
"""


def _what(item: PlanItem) -> str:
    return f"{item.name} {item.version}"


def _hash_tree(root: Path) -> str:
    sha = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _TREE_SKIP and not d.endswith(".egg-info"))
        for name in sorted(filenames):
            path = Path(dirpath, name)
            if path.is_symlink() or not path.is_file():
                continue
            sha.update(path.relative_to(root).as_posix().encode() + b"\0")
            sha.update(bytes.fromhex(sha256_file(path)))
    return sha.hexdigest()


def source_dir(item: PlanItem) -> Path:
    """The local tree of a directory/editable item (from the plan's source record)."""
    path = item.source.get("path") or item.source.get("url", "").removeprefix("file://")
    if not path or not Path(path).is_dir():
        raise StoreError(f"{_what(item)} needs a build but its source directory {path or '(none)'} does not exist")
    return Path(path)


def source_key(item: PlanItem) -> str:
    """Entry key of a built item: a hash of what the build is made from."""
    if item.kind == "sdist":
        if item.sdist is not None and item.sdist.sha256:
            ident = item.sdist.sha256
        elif item.sdist is not None and item.sdist.path and Path(item.sdist.path).is_file():
            ident = sha256_file(item.sdist.path)  # a local sdist
        else:
            raise StoreError(f"{_what(item)} needs a build from an sdist the lock gives no sha256 for")
    elif item.kind == "git":
        commit = item.source.get("commit_id") or (item.source.get("url", "").rpartition("#")[2])
        if not commit:
            raise StoreError(f"{_what(item)} needs a build from git but the lock names no commit")
        ident = commit
    elif item.kind == "directory":
        ident = _hash_tree(source_dir(item))
    elif item.kind == "editable":
        src = source_dir(item).resolve()
        config = hashlib.sha256()  # of the config files' bytes one after another
        for name in _EDITABLE_CONFIG:
            if (src / name).is_file():
                with open(src / name, "rb") as f:
                    copy_hashing(f, None, config)
        ident = f"{src}\0{config.hexdigest()}"
    else:
        raise StoreError(f"{_what(item)}: cannot build a {item.kind} item")
    return hashlib.sha256(f"vsite-build-v1\0{item.kind}\0{item.name}\0{ident}".encode()).hexdigest()


def _extract_sdist(sdist: Path, into: Path) -> Path:
    try:
        with tarfile.open(sdist) as tar:
            tar.extractall(into, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise StoreError(f"cannot unpack sdist {sdist.name}: {exc}") from None
    tops = [p for p in into.iterdir() if p.is_dir()]
    if len(tops) != 1:
        raise StoreError(f"sdist {sdist.name} does not contain exactly one top-level directory")
    return tops[0]


def _git_checkout(item: PlanItem, into: Path) -> Path:
    url = item.source.get("url", "")
    repo = url.removeprefix("git+").split("#", 1)[0].split("?", 1)[0]
    commit = item.source.get("commit_id") or url.rpartition("#")[2]
    for cmd in (["git", "clone", "-q", repo, str(into)], ["git", "-C", str(into), "checkout", "-q", commit]):
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["failed"])[-1]
            raise StoreError(f"{_what(item)}: git {cmd[1] if cmd[1] != '-C' else 'checkout'} failed: {last}")
    subdir = item.source.get("subdirectory")
    return into / subdir if subdir else into


def build_wheel(item: PlanItem, executable: str, work: Path, fetch_sdist) -> Path:
    """Build ``item``'s wheel in ``work`` with the target ``executable``; return the wheel path.

    ``fetch_sdist(path)`` downloads and verifies the sdist into ``path`` (the
    store's downloader, so the lock's hash is checked first).
    """
    if item.kind == "sdist":
        assert item.sdist is not None
        sdist = work / item.sdist.filename
        fetch_sdist(sdist)
        src = _extract_sdist(sdist, work / "src")
    elif item.kind == "git":
        src = _git_checkout(item, work / "src")
    else:
        src = source_dir(item)
    distribution = "editable" if item.kind == "editable" else "wheel"
    out = work / "built"
    out.mkdir()
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    env = dict(os.environ, **({"UV": uv} if uv else {}))
    import build as build_pkg  # here, not at module level: only builds need it

    vsite_site = str(Path(build_pkg.__file__).resolve().parent.parent)
    try:
        proc = subprocess.run(
            [executable, "-c", _BUILD, vsite_site, distribution, str(src), str(out), "uv" if uv else "pip"],
            capture_output=True, text=True, timeout=3600, env=env, cwd=work,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise StoreError(f"{_what(item)} needs a build, which could not run: {exc}") from None
    wheels = list(out.glob("*.whl"))
    if proc.returncode != 0 or len(wheels) != 1:
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()] or ["no wheel produced"]
        raise StoreError(f"building {_what(item)} ({item.kind}) failed: {lines[-1].strip()}")
    return wheels[0]

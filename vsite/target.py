"""The target interpreter: the Python an environment is planned, compiled and mounted for.

Everything that depends on the interpreter (marker environment, wheel tags in
priority order, bytecode cache tag, venv layout) is read from that interpreter
itself by running a small probe in it, using vsite's own copy of ``packaging``
so the target needs nothing installed. Probes are cached by the interpreter's
real path, size and mtime, so a warm ``plan`` does not start a process.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import packaging

from vsite.errors import TargetError
from vsite.paths import memo_path, write_cache_json

_PROBE = r"""
import json, sys, sysconfig
sys.path.insert(0, sys.argv[1])
from packaging import markers, tags
scheme = "venv" if "venv" in sysconfig.get_scheme_names() else "posix_prefix"
root = {"base": "/", "platbase": "/"}
json.dump({
    "executable": sys.executable,
    "version": list(sys.version_info[:3]),
    "implementation": sys.implementation.name,
    "cache_tag": sys.implementation.cache_tag,
    "markers": markers.default_environment(),
    "tags": [str(t) for t in tags.sys_tags()],
    "prefix": sys.prefix,
    "base_prefix": sys.base_prefix,
    "base_executable": getattr(sys, "_base_executable", sys.executable),
    "abiflags": getattr(sys, "abiflags", ""),
    "purelib": sysconfig.get_path("purelib", scheme, vars=root),
    "scripts": sysconfig.get_path("scripts", scheme, vars=root),
    "include": sysconfig.get_path("include"),
}, sys.stdout)
"""

_PROBE_VERSION = "1"


@dataclass(frozen=True)
class Target:
    """What vsite needs to know about one interpreter, read from it once.

    ``executable`` is ``sys.executable`` as the interpreter reports it (a pyenv
    shim resolves to the real binary); the venv's ``bin/python`` points at it. ``tags`` are in the
    interpreter's priority order (best first), as ``packaging.tags.sys_tags()`` yields them there.
    """

    executable: str
    version: tuple[int, int, int]
    implementation: str
    cache_tag: str
    markers: dict[str, str]
    tags: tuple[str, ...]
    base_prefix: str
    base_executable: str
    identity: str  # stable key: real path, size, mtime, probe version

    @property
    def python_version(self) -> str:
        return f"{self.version[0]}.{self.version[1]}"

    @property
    def site_packages(self) -> str:
        """site-packages relative to a venv root, e.g. ``lib/python3.11/site-packages``."""
        return f"lib/python{self.python_version}/site-packages"

    def tag_priority(self) -> dict[str, int]:
        """Map tag string to rank (0 is best), for choosing among wheels."""
        return {tag: rank for rank, tag in enumerate(self.tags)}

    def to_json(self) -> dict:
        return {
            "executable": self.executable,
            "version": list(self.version),
            "implementation": self.implementation,
            "cache_tag": self.cache_tag,
            "markers": self.markers,
            "tags": list(self.tags),
            "base_prefix": self.base_prefix,
            "base_executable": self.base_executable,
            "identity": self.identity,
        }

    @classmethod
    def from_json(cls, data: dict) -> "Target":
        return cls(
            executable=data["executable"],
            version=tuple(data["version"]),
            implementation=data["implementation"],
            cache_tag=data["cache_tag"],
            markers=dict(data["markers"]),
            tags=tuple(data["tags"]),
            base_prefix=data["base_prefix"],
            base_executable=data["base_executable"],
            identity=data["identity"],
        )


def resolve_executable(python: str | None) -> str:
    """The interpreter path for ``--python`` (default: ``python3`` on PATH), made absolute."""
    name = python or "python3"
    if os.sep in name:
        path = os.path.abspath(name)
        if not os.access(path, os.X_OK) or os.path.isdir(path):
            raise TargetError(f"target interpreter not found or not executable: {name}")
        return path
    found = shutil.which(name)
    if not found:
        raise TargetError(f"target interpreter not found on PATH: {name}")
    return os.path.abspath(found)


def _identity(executable: str) -> str:
    real = os.path.realpath(executable)
    return identity_of(executable, real, os.stat(real))


def identity(executable: str) -> str:
    """``Target.identity`` of the interpreter at ``executable`` (an absolute path), without probing it."""
    return _identity(executable)


def identity_of(executable: str, real: str, st: os.stat_result) -> str:
    """The identity from its parts: the path, the real path behind it and that file's stat."""
    raw = f"{_PROBE_VERSION}\0{executable}\0{real}\0{st.st_size}\0{st.st_mtime_ns}\0{packaging.__version__}"
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def probe(python: str | None = None, *, use_cache: bool = True) -> Target:
    """Describe the interpreter ``python`` (a path or a name on PATH)."""
    executable = resolve_executable(python)
    try:
        identity = _identity(executable)
    except OSError as exc:
        raise TargetError(f"cannot stat target interpreter {executable}: {exc.strerror}") from None
    cache_file = memo_path("targets", identity)
    if use_cache:
        try:
            return Target.from_json(json.loads(cache_file.read_text()))
        except (OSError, ValueError, KeyError, TypeError):
            pass
    packaging_parent = str(Path(packaging.__file__).resolve().parent.parent)
    try:
        proc = subprocess.run(
            [executable, "-I", "-S", "-c", _PROBE, packaging_parent],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise TargetError(f"cannot run target interpreter {executable}: {exc}") from None
    if proc.returncode != 0:
        _too_old(executable)
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise TargetError(f"target interpreter {executable} failed to describe itself: {last}")
    target = Target.from_json({**json.loads(proc.stdout), "identity": identity})
    write_cache_json(cache_file, target.to_json())
    return target


# Runs in any Python, 2.x included (the probe above needs Python 3 and vsite's packaging).
_VERSION_PROBE = "import sys; sys.stdout.write('%d.%d.%d' % tuple(sys.version_info[:3]))"


def _too_old(executable: str) -> None:
    """After a failed probe: a TargetError in one line if the interpreter is a Python too old to
    be a target (Python 2, or older than the packaging vsite runs in it supports)."""
    try:
        proc = subprocess.run([executable, "-c", _VERSION_PROBE], capture_output=True, text=True, timeout=30)
        version = tuple(int(n) for n in proc.stdout.split("."))
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return
    if proc.returncode != 0 or len(version) != 3:
        return
    shown = ".".join(map(str, version))
    if version < (3,):
        raise TargetError(f"target interpreter {executable} is Python {shown}: vsite environments are Python 3; "
                          "give --python a Python 3 interpreter")
    import importlib.metadata

    from packaging.specifiers import SpecifierSet

    try:
        needs = importlib.metadata.metadata("packaging")["Requires-Python"] or ""
        supported = SpecifierSet(needs).contains(shown)
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return
    if not supported:
        raise TargetError(f"target interpreter {executable} is Python {shown}: this vsite plans for Python {needs} "
                          f"(it runs its packaging {packaging.__version__} in the target)")


def current() -> Target:
    """The interpreter running vsite (handy in tests)."""
    return probe(sys.executable)

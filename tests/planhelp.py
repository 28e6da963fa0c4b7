"""Shared helpers for lock/plan tests: synthetic targets (any platform, no subprocess), other interpreters."""

from __future__ import annotations

import functools
import glob
import os
import shutil
import subprocess
import sys

from packaging import tags
from packaging.markers import default_environment

from vsite.target import Target


def fake_target(version: tuple[int, int, int] = (3, 11, 7), platform: str = "linux") -> Target:
    """A Target for CPython ``version`` on linux x86_64 or win_amd64, built without probing."""
    env = dict(default_environment())
    short = f"{version[0]}.{version[1]}"
    env.update(python_version=short, python_full_version=".".join(map(str, version)),
               implementation_version=".".join(map(str, version)), implementation_name="cpython",
               platform_python_implementation="CPython")
    if platform == "linux":
        env.update(sys_platform="linux", platform_system="Linux", os_name="posix", platform_machine="x86_64")
        plats = [f"manylinux_2_{m}_x86_64" for m in range(39, 4, -1)] + ["manylinux2014_x86_64", "linux_x86_64"]
    else:
        env.update(sys_platform="win32", platform_system="Windows", os_name="nt", platform_machine="AMD64")
        plats = ["win_amd64"]
    pyver = version[:2]
    all_tags = [*tags.cpython_tags(pyver, platforms=plats), *tags.compatible_tags(pyver, "cp" + "".join(map(str, pyver)), plats)]
    return Target(
        executable=sys.executable, version=version, implementation="cpython",
        cache_tag=f"cpython-{pyver[0]}{pyver[1]}", markers=env, tags=tuple(str(t) for t in all_tags),
        base_prefix=sys.base_prefix, base_executable=sys.executable,
        identity=f"fake-{platform}-{short}",
    )


def names(plan) -> dict[str, tuple[str, str, str | None]]:
    """name -> (version, kind, wheel filename) of a plan."""
    return {i.name: (i.version, i.kind, i.wheel.filename if i.wheel else None) for i in plan.items}


@functools.cache
def other_pythons() -> tuple[tuple[str, tuple[int, int]], ...]:
    """Other CPythons >= 3.10 on this machine than the running one: (path, (major, minor)), one per interpreter.

    Looked for in ``$VSITE_TEST_PYTHONS`` (paths, ``os.pathsep``-separated), as
    ``python3.N`` in every PATH directory, and in pyenv's versions (``$PYENV_ROOT``,
    else ~/.pyenv). Each candidate is run once, which also sees through links and
    shims (a pyenv shim of an inactive version is on PATH but does not run).
    """
    candidates = [p for p in os.environ.get("VSITE_TEST_PYTHONS", "").split(os.pathsep) if p]
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        if os.path.basename(directory) == "shims":
            continue  # pyenv's (slow to run; the versions they lead to are listed below)
        candidates += [found for minor in range(10, 20)
                       if (found := shutil.which(f"python3.{minor}", path=directory or None))]
    pyenv = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    candidates += sorted(glob.glob(os.path.join(pyenv, "versions", "3.*", "bin", "python3")))
    ask = "import os, sys; print(sys.implementation.name, *sys.version_info[:2], os.path.realpath(sys.executable))"
    seen = {os.path.realpath(sys.executable)}
    found = []
    for path in candidates:
        try:
            done = subprocess.run([path, "-c", ask], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        words = done.stdout.split(maxsplit=3)
        if done.returncode != 0 or len(words) != 4 or words[0] != "cpython":
            continue
        version, real = (int(words[1]), int(words[2])), words[3].strip()
        if version >= (3, 10) and real not in seen:
            seen.add(real)
            found.append((path, version))
    return tuple(found)

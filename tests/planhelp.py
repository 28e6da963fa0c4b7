"""Shared helpers for lock/plan tests: synthetic targets (any platform, no subprocess)."""

from __future__ import annotations

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

"""Making environments both ways: ``uv sync --frozen`` into a fresh project dir, ``vsite mount --venv``.

Every uv environment gets its own copy of the project (pyproject.toml +
uv.lock) and its own ``.venv``, as N workers with their own checkout would.
uv runs ``--offline`` against the warm uv cache, so no run waits on the
network; vsite runs ``--offline`` against the warm store. :class:`Mounts`
unmounts everything it mounted, even when a scenario fails half-way.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from bench.harness import Tools, run

LINK_MODES = ("hardlink", "symlink", "copy")


def make_project(lock: Path, root: Path) -> Path:
    """A fresh project dir holding ``lock`` and the pyproject.toml next to it."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(lock, root / "uv.lock")
    shutil.copy(lock.parent / "pyproject.toml", root / "pyproject.toml")
    return root


def uv_sync_cmd(tools: Tools, project: Path, link_mode: str, *, compile_bytecode: bool = False,
                offline: bool = True) -> list[str]:
    """``uv sync --frozen`` of ``project`` into ``project/.venv``, by default only from the warm uv cache."""
    cmd = [tools.uv, "sync", "--frozen", "--no-install-project", "-q", "--python", tools.python,
           "--link-mode", link_mode, "--project", str(project)]
    return cmd + (["--offline"] if offline else []) + (["--compile-bytecode"] if compile_bytecode else [])


def uv_env(environ: dict) -> dict:
    """uv's environment for a bench run: no inherited venv or project environment."""
    env = {k: v for k, v in environ.items() if k not in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "UV_LINK_MODE")}
    return env | {"UV_PYTHON_DOWNLOADS": "never", "UV_NO_PROGRESS": "1"}


def mount_cmd(tools: Tools, lock: Path, target: Path) -> list[str]:
    """``vsite mount --venv --offline`` of ``lock`` at ``target``."""
    return [tools.vsite, "mount", str(lock), str(target), "--venv", "--offline", "--python", tools.python]


def kernel_mounts() -> set[str]:
    with open("/proc/self/mounts") as table:
        return {row[1] for row in (line.split() for line in table) if len(row) > 2 and row[2].startswith("fuse")}


class Mounts:
    """The vsite mounts a scenario made; ``unmount_all`` (also on error) removes every one."""

    def __init__(self, tools: Tools) -> None:
        self.tools = tools
        self.targets: list[Path] = []

    def __enter__(self) -> "Mounts":
        return self

    def __exit__(self, *exc) -> None:
        self.unmount_all()

    def mount(self, lock: Path, target: Path) -> int:
        """Mount now; return the daemon's pid (from ``vsite mount``'s output line)."""
        self.targets.append(target)
        out = run(mount_cmd(self.tools, lock, target))
        match = re.search(r"daemon pid (\d+)", out)
        if not match:
            raise RuntimeError(f"no daemon pid in vsite mount output: {out!r}")
        return int(match.group(1))

    def expect(self, targets: list[Path]) -> None:
        """Register targets mounted by commands run elsewhere (concurrent mounts)."""
        self.targets.extend(targets)

    def unmount_all(self) -> None:
        """``vsite unmount`` every target (in parallel), then ``fusermount3 -u -z`` whatever is left."""
        live = kernel_mounts()
        targets = [t for t in self.targets if str(t) in live]
        procs = [subprocess.Popen([self.tools.vsite, "unmount", str(t)], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL) for t in targets]
        for proc in procs:
            proc.wait()
        left = kernel_mounts()
        for target in targets:
            if str(target) in left:
                subprocess.run(["fusermount3", "-u", "-z", str(target)], capture_output=True)
        self.targets.clear()

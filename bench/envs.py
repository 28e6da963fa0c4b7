"""Making environments both ways: ``uv sync --frozen`` into a fresh project dir, ``vsite mount --venv``.

Every uv environment gets its own copy of the project (pyproject.toml +
uv.lock) and its own ``.venv``, as N workers with their own checkout would.
uv runs ``--offline`` against the warm uv cache, so no run waits on the
network; vsite runs ``--offline`` against the warm store. :class:`Mounts`
unmounts everything it mounted, even when a scenario fails half-way.
"""

from __future__ import annotations

import os
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


LINKS_OFF = {"VSITE_LINKS": "0"}  # in vsite mount's environment: the daemon serves every byte (the old data path)


def data_path(target: Path) -> dict:
    """Which data path the venv mount at ``target`` uses: whether its site-packages' top-level entries are
    symlinks out of the mount (into the store, or root's read-only bind mount of it: the native data path),
    and what the daemon's stats file says about it, if anything."""
    from vsite.fs import registry

    sites = sorted((target / "lib").glob("python*/site-packages"))
    entries = list(os.scandir(sites[0])) if sites else []
    out = [os.readlink(e.path) for e in entries if e.is_symlink()]
    out = [t for t in out if os.path.isabs(t) and not t.startswith(str(target) + "/")]
    stats = registry.read_stats(str(target))
    said = {k: v for k, v in stats.items() if "link" in k or "data" in k or "native" in k}
    into = os.path.commonpath(out) if out else ""
    return {"links": bool(out), "linked_entries": len(out), "entries": len(entries), "into": into, "stats": said}


def describe_data_path(found: dict) -> str:
    if not found.get("links"):
        return "daemon serves every byte (no links into the store)" + (f"; stats {found['stats']}" if found.get("stats") else "")
    return (f"native: {found['linked_entries']} of {found['entries']} top-level site-packages entries link into "
            f"{found['into']}" + (f"; stats {found['stats']}" if found.get("stats") else ""))


class Mounts:
    """The vsite mounts a scenario made; ``unmount_all`` (also on error) removes every one. ``env``: extra
    environment for ``vsite mount`` (e.g. :data:`LINKS_OFF`)."""

    def __init__(self, tools: Tools, env: dict | None = None) -> None:
        self.tools = tools
        self.env = dict(os.environ, **env) if env else None
        self.targets: list[Path] = []

    def __enter__(self) -> "Mounts":
        return self

    def __exit__(self, *exc) -> None:
        self.unmount_all()

    def mount(self, lock: Path, target: Path) -> int:
        """Mount now; return the daemon's pid (from ``vsite mount``'s output line)."""
        self.targets.append(target)
        out = run(mount_cmd(self.tools, lock, target), env=self.env)
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

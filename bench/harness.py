"""What every scenario shares: results with min/median/max and ratios, tools, timed processes, /proc readings.

A :class:`Result` is one measured thing (a list of samples); its ratio is its
median over the median of a baseline result (uv doing the same job), so
``0.05x`` means vsite took a twentieth of uv's time. A :class:`Target` is a
goal from issue 7, checked against the median or the ratio.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse


@dataclass(frozen=True)
class Target:
    """A goal: ``median`` (or ``ratio``) must be <= ``limit`` (>= with ``at_least``)."""

    limit: float
    of: str = "median"  # "median" or "ratio"
    at_least: bool = False

    def describe(self, unit: str) -> str:
        op = ">=" if self.at_least else "<="
        if self.of == "ratio":
            return f"{op} {self.limit:g}x uv"
        return f"{op} {self.limit:g}x" if unit == "x" else f"{op} {self.limit:g} {unit}"

    def met(self, value: float) -> bool:
        return value >= self.limit if self.at_least else value <= self.limit


@dataclass
class Result:
    """Samples of one measured thing, in ``unit``; ``baseline`` is the key of the uv result it is compared with."""

    section: str
    key: str
    label: str
    unit: str
    samples: list[float] = field(default_factory=list)
    baseline: str | None = None
    target: Target | None = None
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else float("nan")

    def to_json(self) -> dict:
        return {k: v for k, v in vars(self).items() if k != "target"} | {
            "target": vars(self.target) if self.target else None
        }


class Results:
    """All results of a run, in the order they were first added, by key."""

    def __init__(self) -> None:
        self.by_key: dict[str, Result] = {}

    def add(self, section: str, key: str, label: str, unit: str, value: float, **extra) -> Result:
        """Append ``value`` to the result ``key`` (created with ``label``, ``unit`` and ``extra`` on first use)."""
        result = self.by_key.get(key)
        if result is None:
            result = self.by_key[key] = Result(section, key, label, unit, **extra)
        result.samples.append(value)
        return result

    def ratio(self, result: Result) -> float | None:
        base = self.by_key.get(result.baseline) if result.baseline else None
        if base is None or not base.samples or not base.median:
            return None
        return result.median / base.median

    def verdict(self, result: Result) -> str:
        """``met`` / ``missed by X`` for a result with a target, else empty."""
        if result.target is None or not result.samples:
            return ""
        value = self.ratio(result) if result.target.of == "ratio" else result.median
        if value is None:
            return ""
        if result.target.met(value):
            return "met"
        if result.target.at_least and value <= 0 or not result.target.at_least and result.target.limit <= 0:
            return "missed"
        over = result.target.limit / value if result.target.at_least else value / result.target.limit
        return f"missed by {over:.1f}x" if over >= 1.5 else f"missed by {100 * (over - 1):.0f}%"

    def section(self, name: str) -> list[Result]:
        return [r for r in self.by_key.values() if r.section == name]


@dataclass(frozen=True)
class Tools:
    """The programs a run uses: vsite, uv and the target interpreter (the same for both)."""

    vsite: str
    uv: str
    python: str

    @classmethod
    def find(cls, python: str | None = None, vsite: str | None = None) -> "Tools":
        return cls(vsite or find_tool("vsite"), find_tool("uv"), os.path.realpath(python or sys.executable))


def lock_script_parser(doc: str, *, rounds: int) -> "argparse.ArgumentParser":
    """The arguments of a bench script timing vsite commands on one lock: LOCK, ``--vsite`` (the
    install measured), ``--python`` (the target interpreter), ``--rounds`` and ``--json``."""
    import argparse

    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("lock", type=Path)
    parser.add_argument("--vsite", default=str(Path(sys.executable).parent / "vsite"))
    parser.add_argument("--python", default=os.path.realpath(sys.executable))
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--json", type=Path)
    return parser


def find_tool(name: str) -> str:
    """``name`` beside the running interpreter (the project's .venv), else on PATH."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if not found:
        sys.exit(f"bench: {name} not found (run `make venv`)")
    return found


def children_cpu() -> float:
    """CPU seconds of this process's waited-for children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def unmount_under(prefix: str | Path) -> None:
    """Lazily unmount every FUSE mount under ``prefix`` (teardown, whatever happened)."""
    with open("/proc/mounts") as table:
        points = [line.split()[1] for line in table if line.split()[2].startswith("fuse")]
    for point in points:
        if point.startswith(str(prefix)):
            subprocess.run(["fusermount3", "-u", "-z", point], capture_output=True)


def run(cmd: Sequence[str], *, env: dict | None = None, cwd: str | Path | None = None) -> str:
    """Run ``cmd``, return stdout; exit the bench with the command's last stderr line if it fails."""
    proc = subprocess.run(list(cmd), env=env, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        sys.exit(f"bench: {' '.join(map(str, cmd))} failed ({proc.returncode}): {last}")
    return proc.stdout


def timed(cmd: Sequence[str], *, env: dict | None = None, cwd: str | Path | None = None) -> float:
    """Wall seconds of one process run to completion."""
    start = time.perf_counter()
    run(cmd, env=env, cwd=cwd)
    return time.perf_counter() - start


def timed_together(cmds: Sequence[Sequence[str]], *, env: dict | None = None,
                   cwds: Sequence[str | Path | None] | None = None) -> float:
    """Wall seconds from starting all ``cmds`` at once until the last one has exited (all must succeed)."""
    cwds = cwds or [None] * len(cmds)
    start = time.perf_counter()
    procs = [subprocess.Popen(list(c), env=env, cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True) for c, d in zip(cmds, cwds)]
    errors = [(p, p.communicate()[1]) for p in procs]
    elapsed = time.perf_counter() - start
    for proc, err in errors:
        if proc.returncode != 0:
            last = (err.strip().splitlines() or ["(no output)"])[-1]
            sys.exit(f"bench: {' '.join(map(str, proc.args))} failed ({proc.returncode}): {last}")
    return elapsed


def remove(*paths: Path) -> None:
    """Delete trees fast (``rm -rf``: tens of thousands of files per venv; shutil.rmtree is several times slower)."""
    if paths:
        subprocess.run(["rm", "-rf", "--", *map(str, paths)], check=False)


def rss_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of ``pid`` in MB, from /proc/<pid>/status."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    kb = lambda name: int(fields[name].split()[0])  # noqa: E731 - a one-line local helper
    return kb("VmRSS") / 1024, kb("VmHWM") / 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_bytes(root: Path) -> int:
    """Apparent size of the regular files under ``root`` (what a copy install writes)."""
    total = 0
    for base, _, files in os.walk(root):
        for name in files:
            try:
                st = os.lstat(os.path.join(base, name))
            except OSError:
                continue
            total += st.st_size
    return total


def meminfo_mb(*names: str) -> float:
    """The sum of ``names`` (e.g. ``Cached``, ``Buffers``) from /proc/meminfo, in MB."""
    values = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        name, _, rest = line.partition(":")
        values[name] = int(rest.split()[0])
    return sum(values[n] for n in names) / 1024


def page_cache_mb() -> float:
    """``Cached`` + ``Buffers`` of /proc/meminfo in MB: file pages plus block-device (metadata) pages."""
    return meminfo_mb("Cached", "Buffers")


def can_drop_caches() -> bool:
    """Whether this process may write /proc/sys/vm/drop_caches (root, not in a read-only /proc)."""
    return os.access("/proc/sys/vm/drop_caches", os.W_OK)


def drop_caches() -> None:
    """``sync; echo 3 > /proc/sys/vm/drop_caches``: page cache, dentries and inodes of the whole machine."""
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as knob:
        knob.write("3\n")


def warm_base_python(python: str) -> None:
    """Read the target interpreter's own files (binary, libpython, the stdlib without site-packages and
    tests) into the page cache, so page-cache growth measured after it is the environment's alone."""
    code = "import sys, sysconfig; print(sys.base_prefix); print(sysconfig.get_paths()['stdlib']); print(sys.executable)"
    out = subprocess.run([python, "-I", "-c", code],
                         capture_output=True, text=True, check=True).stdout.split("\n")
    prefix, stdlib, exe = out[0], out[1], out[2]
    roots = [Path(stdlib)] + [p for p in Path(prefix, "lib").glob("libpython*")]
    files = [Path(os.path.realpath(exe))]
    for root in roots:
        if root.is_file():
            files.append(root)
            continue
        for base, dirs, names in os.walk(root):
            dirs[:] = [d for d in dirs if d not in ("site-packages", "test", "tests", "idlelib")]
            files += [Path(base, n) for n in names]
    for path in files:
        try:
            with open(path, "rb") as f:
                while f.read(1 << 20):
                    pass
        except OSError:
            continue


def uptime() -> str:
    """``uptime``'s line (load averages), or /proc/loadavg if there is no uptime."""
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "load average " + " ".join(Path("/proc/loadavg").read_text().split()[:3])


def daemon_requests(pid: int, target: str | Path, timeout: float = 5.0) -> dict[str, int]:
    """The request counters of the daemon ``pid`` serving ``target``, published now: SIGUSR1 makes it
    write the registry's stats file (vsite/fs/daemon.py); wait until the file is newer than the signal."""
    from vsite.fs import registry

    sent = time.time()
    os.kill(pid, signal.SIGUSR1)
    deadline = time.monotonic() + timeout
    while True:
        stats = registry.read_stats(str(target))
        if stats.get("updated", 0) >= sent or time.monotonic() > deadline:
            return dict(stats.get("requests", {}))
        time.sleep(0.01)


def walk_and_stat(root: str | Path) -> int:
    """``os.walk(root, followlinks=True)`` and an ``os.stat`` of every file; return the files stat'ed."""
    count = 0
    for base, _, files in os.walk(root, followlinks=True):
        for name in files:
            try:
                os.stat(os.path.join(base, name))
            except OSError:
                pass
            count += 1
    return count

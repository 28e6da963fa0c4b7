"""Issue 14: every way users make environments today, N at once, "environment ready" and "worker ready".

Each row makes N environments of one lock at once (N = 1, 8, 32), with uv's
cache and vsite's store warm; the figure is wall time from starting the N
processes until the last has exited. Two metrics per row and N:

* **environment ready**: the environment exists (uv rows, the symlink farm,
  vsite mounts: as in the ready section), or a worker has started an
  interpreter in it where that is how the row gets one (cached venv and
  ``vsite run``: ``python -c "import sys"`` in the environment; the floor);
* **worker ready**: each of the N workers makes its environment and then
  completes its first heavy import in it (``python -c "import pandas, sklearn,
  scipy.stats, matplotlib.pyplot"``, or the modules ``pick_modules`` gives for
  a smaller lock) -- what a worker waits for before it does work.

Rows (``--alt-rows``):

``floor``          N bare ``python -c "import sys"`` at once, in an empty venv (``uv venv``, made once): no
                   environment to make, an interpreter start only. An empty venv and not the base
                   interpreter itself, because a venv never reads the base's site-packages, whose
                   ``.pth`` files (this machine has some) would make the floor slower than any row
``uv-hardlink``,   ``uv sync --frozen --offline --link-mode M`` into N fresh project dirs (no bytecode:
``uv-symlink``,    uv's default; the worker's first import compiles what it imports and writes the
``uv-copy``        ``.pyc``); ``uv-copy`` is skipped where N copies would take half the free disk
``uv-hardlink-bytecode``  the same with ``--compile-bytecode`` (not run by default: on the large lock it
                   compiles ~19,000 modules per environment)
``cached-venv-first``  one venv per lock, synced once by the first worker to arrive (``flock`` around
                   ``uv sync --frozen --compile-bytecode``, hardlink, skipped by the others once it is
                   done); then every worker execs its python: what Ray's pip plugin does on a node's
                   first task of a runtime_env (one install per node, the other workers wait for it).
                   Bytecode, as pip compiles it: without it 32 workers would each compile what they
                   import, racing on the same ``.pyc``
``cached-venv``    the same venv made before the timing (untimed): a venv reused from an earlier job;
                   the N workers exec its python. Nothing is made in the timing: the import floor
``farm``           a symlink farm per worker: ``bench/farm.py`` makes a venv whose site-packages links
                   each top-level entry of a uv venv's (the reference venv, bytecode compiled), as uv's
                   proposed shallow symlinking or a Spack view would
``vsite``          N ``vsite mount --venv`` (own mounts, N daemons)
``vsite-shared``   N ``vsite mount --shared --name`` (one mount; the worker runs ``$PATH/bin/python``)
``vsite-run``      N ``vsite run LOCK -- python -c ...`` (one shared mount, started by the first worker;
                   ``VSITE_GRACE=0``)
``vsite-run-live`` the same on a shared mount made before the timing and held by a named lease (untimed),
                   as a mount kept by an earlier job: the counterpart of ``cached-venv``

The Ray plugin path is not a row here: it needs a Ray cluster started per
round (tens of seconds); ``bench/bench_ray.py`` measures it on its own.

Workers run with the user's defaults: ``PYTHONDONTWRITEBYTECODE`` unset (a
uv venv without bytecode gets its ``.pyc`` written by its first import; the
mount is read-only and its store has bytecode), ``MPLBACKEND=Agg`` and a
shared, pre-warmed ``MPLCONFIGDIR``. Rows rotate order every repeat and N;
tear-down (unmount, deleting trees, releasing leases) is outside the timing.

Goals (issue 14), as ratios in the same run, at N = 32 (the largest N run):
``vsite-run`` environment ready <= 2x the floor and >= 35x faster than
``uv-hardlink``; worker ready of the fastest vsite row ahead of every other row,
like against like: a row whose environment is made in the timing against the
fastest vsite row that makes its own (``vsite``, ``vsite-shared``,
``vsite-run``), a row whose environment was made before (``cached-venv``)
against vsite's made before (``vsite-run-live``). Each goal is the ratio of
the two rows in each repeat (rows rotate within a repeat, so the pair ran
minutes apart at most), as samples: its median and spread.
"""

from __future__ import annotations

import os
import shlex
import shutil
import statistics
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.envs import Mounts, make_project, mount_cmd, uv_env, uv_sync_cmd
from bench.harness import Result, Results, Target, Tools, remove, run, timed_together
from bench.imports import warm_store
from bench.ready import _shared_mounts_removed

SECTION = "alternatives"
GOALS = "alternatives-goals"
FARM = Path(__file__).resolve().parent / "farm.py"
ROWS = ("floor", "uv-hardlink", "uv-symlink", "uv-copy", "cached-venv-first", "cached-venv", "farm", "vsite",
        "vsite-shared", "vsite-run", "vsite-run-live")
ALL_ROWS = ROWS + ("uv-hardlink-bytecode",)
LABELS = {
    "floor": "bare python -c 'import sys', empty venv (floor)",
    "uv-hardlink": "uv sync, hardlink",
    "uv-symlink": "uv sync, symlink",
    "uv-copy": "uv sync, copy",
    "uv-hardlink-bytecode": "uv sync --compile-bytecode, hardlink",
    "cached-venv-first": "cached venv per lock, synced once by the first worker",
    "cached-venv": "cached venv per lock, made before (exec its python)",
    "farm": "symlink farm of top-level entries",
    "vsite": "vsite mount --venv (own mounts)",
    "vsite-shared": "vsite mount --shared (one mount)",
    "vsite-run": "vsite run (one mount)",
    "vsite-run-live": "vsite run, live mount (made before)",
}
MADE_BEFORE = {"cached-venv": "vsite-run-live"}  # rows whose environment exists before the timing: vsite's counterpart
METRICS = {"env": "environment ready", "worker": "worker ready"}


def key(metric: str, n: int, row: str) -> str:
    return f"alt/{metric}/N={n}/{row}"


def _sh(*steps: list[str] | str) -> list[str]:
    """``sh -c 'a && b'`` of the given commands (lists are quoted; strings are shell text)."""
    text = " && ".join(s if isinstance(s, str) else shlex.join(map(str, s)) for s in steps)
    return ["/bin/sh", "-c", text]


class Alternatives:
    """What one run needs to build each row's N commands."""

    def __init__(self, tools: Tools, lock: Path, uv_python: str, code: str, scratch: Path, env: dict) -> None:
        self.tools, self.lock, self.code, self.scratch = tools, lock, code, scratch
        self.reference = Path(uv_python).parent.parent  # the reference uv venv (bytecode compiled)
        self.env = {k: v for k, v in uv_env(env).items() if k != "PYTHONDONTWRITEBYTECODE"} | {"VSITE_GRACE": "0"}
        self._cached: Path | None = None
        self._empty: Path | None = None

    def empty_venv(self) -> Path:
        """The floor's venv: ``uv venv`` with nothing installed (made once, untimed)."""
        if self._empty is None:
            self._empty = self.scratch / "alt-empty"
            run([self.tools.uv, "venv", "-q", "--python", self.tools.python, str(self._empty)],
                env=uv_env(dict(os.environ)))
        return self._empty

    def cached_venv(self) -> Path:
        """The row ``cached-venv``'s venv, synced once (untimed) with bytecode, like a CI cache restores it."""
        if self._cached is None:
            project = make_project(self.lock, self.scratch / "alt-cached")
            run(uv_sync_cmd(self.tools, project, "hardlink", compile_bytecode=True), env=uv_env(dict(os.environ)))
            self._cached = project / ".venv"
        return self._cached

    def _py(self, python: Path | str) -> list[str]:
        return [str(python), "-c", self.code]

    def _vsite_run(self, code: str) -> list[str]:
        return [self.tools.vsite, "run", str(self.lock), "--python", self.tools.python, "--", "python", "-c", code]

    @contextmanager
    def commands(self, row: str, metric: str, n: int, work: Path) -> Iterator[list[list[str]] | None]:
        """The N commands of ``row`` for ``metric`` (None: the row has no such metric); cleans up after."""
        worker = metric == "worker"
        if row == "floor":
            yield None if worker else [[str(self.empty_venv() / "bin/python"), "-c", "import sys"]] * n
        elif row.startswith("uv-"):
            mode = row[3:].removesuffix("-bytecode")
            projects = [make_project(self.lock, work / f"uv-{i}") for i in range(n)]
            syncs = [uv_sync_cmd(self.tools, p, mode, compile_bytecode=row.endswith("-bytecode")) for p in projects]
            try:
                yield [_sh(s, self._py(p / ".venv/bin/python")) for s, p in zip(syncs, projects)] if worker else syncs
            finally:
                remove(*projects)
        elif row == "cached-venv":
            python = self.cached_venv() / "bin/python"
            yield [self._py(python) if worker else [str(python), "-c", "import sys"]] * n
        elif row == "cached-venv-first":
            project = make_project(self.lock, work / "cached-first")
            done = project / ".venv" / ".synced"
            sync = shlex.join(uv_sync_cmd(self.tools, project, "hardlink", compile_bytecode=True))
            once = ["flock", str(project / "sync.lock"), "/bin/sh", "-c",
                    f"[ -e {shlex.quote(str(done))} ] || {{ {sync} && : > {shlex.quote(str(done))}; }}"]
            python = project / ".venv/bin/python"
            try:
                yield [_sh(once, self._py(python) if worker else [str(python), "-c", "import sys"])] * n
            finally:
                remove(project)
        elif row == "farm":
            dests = [work / f"farm-{i}" / ".venv" for i in range(n)]
            farms = [[self.tools.python, "-I", "-S", str(FARM), str(self.reference), str(d)] for d in dests]
            try:
                yield [_sh(f, self._py(d / "bin/python")) for f, d in zip(farms, dests)] if worker else farms
            finally:
                remove(*dests)
        elif row == "vsite":
            targets = [work / f"vsite-{i}" / ".venv" for i in range(n)]
            with Mounts(self.tools) as mounts:
                mounts.expect(targets)
                mounts_ = [mount_cmd(self.tools, self.lock, t) for t in targets]
                yield [_sh(m, self._py(t / "bin/python")) for m, t in zip(mounts_, targets)] if worker else mounts_
        elif row == "vsite-shared":
            names = [f"bench-alt-{os.getpid()}-{work.name}-{i}" for i in range(n)]
            joins = [[self.tools.vsite, "mount", "--shared", str(self.lock), "--offline", "--python", self.tools.python,
                      "--grace", "0", "--name", name] for name in names]
            with _shared_mounts_removed():
                try:
                    yield [_sh(f'p="$({shlex.join(j)})"', f'"$p/bin/python" -c {shlex.quote(self.code)}')
                           for j in joins] if worker else joins
                finally:
                    for proc in [subprocess.Popen([self.tools.vsite, "release", "--name", name],
                                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                                 for name in names]:
                        proc.wait()
        elif row == "vsite-run":
            with _shared_mounts_removed():
                yield [self._vsite_run(self.code if worker else "import sys")] * n
        elif row == "vsite-run-live":
            name = f"bench-live-{os.getpid()}-{work.name}"
            with _shared_mounts_removed():
                run([self.tools.vsite, "mount", "--shared", str(self.lock), "--offline", "--python", self.tools.python,
                     "--grace", "0", "--name", name], env=self.env)
                try:
                    run(self._vsite_run("import sys"), env=self.env)  # writes the launcher's join index
                    yield [self._vsite_run(self.code if worker else "import sys")] * n
                finally:
                    run([self.tools.vsite, "release", "--name", name], env=self.env)
        else:
            raise ValueError(f"unknown row {row!r} (from {', '.join(ALL_ROWS)})")


def run_alternatives(results: Results, tools: Tools, lock: Path, uv_python: str, modules: list[str], ns: list[int],
                     rows: list[str], repeat: int, scratch: Path, env: dict, env_bytes: int) -> None:
    """Keys ``alt/{env,worker}/N=<n>/<row>`` and the goals ``alt-goal/*`` (section ``alternatives-goals``)."""
    unknown = set(rows) - set(ALL_ROWS)
    if unknown:
        sys.exit(f"bench: unknown alternatives rows {', '.join(sorted(unknown))} (from {', '.join(ALL_ROWS)})")
    code = "import " + ", ".join(modules)
    alt = Alternatives(tools, lock, uv_python, code, scratch, env)
    warm_store(tools, lock, modules, scratch, env, uv_python)  # earlier sections may have dropped the page cache
    if "cached-venv" in rows:
        alt.cached_venv()
    if "floor" in rows:
        alt.empty_venv()
    free = shutil.disk_usage(scratch).free
    for r in range(repeat):
        for n in ns:
            order = rows[(r + n) % len(rows):] + rows[: (r + n) % len(rows)]
            for row in order:
                for metric in ("env", "worker"):
                    k = key(metric, n, row)
                    what = f"N={n} {LABELS[row]}: {METRICS[metric]}"
                    if row == "uv-copy" and n * env_bytes > free / 2:
                        results.by_key.setdefault(k, Result(SECTION, k, what, "s", note=(
                            f"skipped: would write {n * env_bytes / 1e9:.0f} GB, {free / 1e9:.0f} GB free")))
                        continue
                    work = scratch / f"alt-{r}-{n}-{row}-{metric}"
                    with alt.commands(row, metric, n, work) as cmds:
                        if cmds is None:
                            continue
                        seconds = timed_together(cmds, env=alt.env)
                    remove(work)
                    results.add(SECTION, k, what, "s", seconds)
                    print(f"# alternatives N={n} {row} {metric}: {seconds:.2f} s", file=sys.stderr)
    goals(results, ns, rows)


def goals(results: Results, ns: list[int], rows: list[str]) -> None:
    """Issue 14's ratios at the largest N: the two rows' ratio in each repeat, as the goal's samples."""
    n = 32 if 32 in ns else max(ns)

    def samples(metric: str, row: str) -> list[float]:
        result = results.by_key.get(key(metric, n, row))
        return result.samples if result is not None else []

    def add(name: str, label: str, ours: list[float], theirs: list[float], target: Target, note: str = "") -> None:
        """One sample per repeat that ran both rows (a skipped row has none): ours / theirs."""
        for a, b in zip(ours, theirs):
            results.add(GOALS, f"alt-goal/{name}", label, "x", a / b, target=target, note=note)

    run_env = samples("env", "vsite-run")
    add("env-vs-floor", f"N={n} environment ready: vsite run / bare python (floor)", run_env,
        samples("env", "floor"), Target(2.0))
    add("env-speedup-vs-uv-hardlink", f"N={n} environment ready: uv hardlink / vsite run (speed-up)",
        samples("env", "uv-hardlink"), run_env, Target(35.0, at_least=True))

    def fastest(candidates: list[str]) -> str | None:
        timed = {row: statistics.median(samples("worker", row)) for row in candidates if samples("worker", row)}
        return min(timed, key=timed.__getitem__) if timed else None

    makers = [row for row in rows if row.startswith("vsite") and row not in MADE_BEFORE.values()]
    best = fastest(makers)
    for row in rows:
        if row.startswith("vsite") or row == "floor":
            continue
        ours = MADE_BEFORE.get(row, best)
        if ours is None or ours not in rows:
            continue
        add(f"worker-vs-{row}", f"N={n} worker ready: {ours} / {LABELS[row]}", samples("worker", ours),
            samples("worker", row), Target(1.0), note=ours)
    for row in makers:
        if best is not None and row != best:
            add(f"worker-{best}-vs-{row}", f"N={n} worker ready: {best} / {LABELS[row]}", samples("worker", best),
                samples("worker", row), Target(1.0), note=best)

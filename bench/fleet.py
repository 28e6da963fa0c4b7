"""Issue 14's "M different locks on one node": a CI fleet or a notebook server with M projects at once.

*The locks.* M subsets of one lock, made without resolving anything: each
keeps the lock whole but gives its root project a subset of the direct
dependencies (half of them, drawn with a fixed seed per lock, distinct where
there are enough), in the root ``[[package]]``'s ``dependencies`` and
``[package.metadata] requires-dist`` and in the pyproject.toml's
``[project] dependencies``. ``uv sync --frozen`` (and ``vsite``, which plans
as it does) installs the closure of the root's dependencies, so the packages
no longer reachable are simply not installed; no network, no ``uv lock``
(which would need the index, or every metadata in uv's cache), and each
sub-lock is the same TOML uv wrote with lines left out. Pinned versions are
the big lock's, so the M environments share most of their wheels, as real
projects of one team do.

*Per side and repeat* (sides rotate): make the M environments at once
(timed: vsite ``vsite mount --venv`` M times, one daemon each; uv ``uv sync
--frozen --compile-bytecode --link-mode hardlink``, so both sides import
precompiled bytecode), drop the page cache, read the interpreter's own files
back in, then M importers at once, each importing what ``pick_modules`` finds
in its environment (the heavy modules it has, else light ones). Reported: the
time to make the M environments (each sub-lock mounted once before, untimed,
for its plan cache; the previous side's drop of the page cache affects both
sides alike), the M importers' wall time, the page cache's
growth over the imports (``Cached`` + ``Buffers``), and the daemons' RSS (sum
and largest) after all M have imported.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from bench.envs import Mounts, make_project, mount_cmd, uv_env, uv_sync_cmd
from bench.harness import (
    Result,
    Results,
    Tools,
    can_drop_caches,
    drop_caches,
    page_cache_mb,
    remove,
    rss_mb,
    timed_together,
    warm_base_python,
)
from bench.imports import pick_modules, variants

SECTION = "fleet"
BLOCK = "\n[[package]]\n"
DEP_LINE = re.compile(r'^\s*\{ name = "([^"]+)"')


def _filter_array(block: str, opener: str, keep: set[str]) -> str:
    """In ``block``, drop the lines ``{ name = "X" ... },`` of the array opened by the line ``opener`` whose
    X is not in ``keep``."""
    lines = block.split("\n")
    out, inside = [], False
    for line in lines:
        if line.strip() == opener:
            inside = True
        elif inside and line.strip() == "]":
            inside = False
        elif inside:
            m = DEP_LINE.match(line)
            if m and canonicalize_name(m.group(1)) not in keep:
                continue
        out.append(line)
    return "\n".join(out)


def _array_span(text: str, start: int) -> int:
    """The index just past the ``]`` closing the TOML array whose ``[`` is at ``start`` (strings skipped)."""
    depth, i, quote = 0, start, ""
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\" and quote == '"':
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            i = text.index("\n", i)
            continue
        elif ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise ValueError("unterminated array")


def _sub_pyproject(text: str, keep: list[str]) -> str:
    """``text`` with ``[project] dependencies`` replaced by the requirement strings ``keep``."""
    section = re.search(r"(?m)^\[project\]\s*$", text)
    found = re.compile(r"(?m)^dependencies\s*=\s*\[").search(text, section.end() if section else 0)
    if found is None:
        raise ValueError("no [project] dependencies in pyproject.toml")
    end = _array_span(text, found.end() - 1)
    listed = "".join(f"\n    {json.dumps(req)}," for req in keep)
    return text[: found.start()] + f"dependencies = [{listed}\n]" + text[end:]


def sublocks(lock: Path, m: int, scratch: Path) -> list[tuple[Path, list[str]]]:
    """``m`` projects (dir with uv.lock and pyproject.toml) each depending on a subset of ``lock``'s direct
    dependencies; with the names of their direct dependencies."""
    pyproject_text = (lock.parent / "pyproject.toml").read_text()
    project = tomllib.loads(pyproject_text)["project"]
    root = canonicalize_name(project["name"])
    reqs = {canonicalize_name(Requirement(r).name): r for r in project.get("dependencies", [])}
    names = list(reqs)
    if not names:
        sys.exit(f"bench: {lock.parent / 'pyproject.toml'} has no dependencies to take subsets of")
    head, *blocks = lock.read_text().split(BLOCK)
    at = next((i for i, b in enumerate(blocks) if b.startswith(f'name = "{root}"\n')), None)
    if at is None:
        sys.exit(f"bench: no [[package]] {root} in {lock}")
    size = max(1, math.ceil(len(names) / 2))
    picks: list[list[str]] = []
    for seed in range(1000):
        pick = sorted(random.Random(seed).sample(names, size))
        if pick not in picks or seed >= 100:  # distinct while there are enough subsets
            picks.append(pick)
        if len(picks) == m:
            break
    made = []
    for i, pick in enumerate(picks):
        keep = set(pick)
        root_block = _filter_array(_filter_array(blocks[at], "dependencies = [", keep), "requires-dist = [", keep)
        text = head + "".join(BLOCK + (root_block if j == at else b) for j, b in enumerate(blocks))
        directory = scratch / f"fleet-lock-{i}"
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "uv.lock").write_text(text)
        (directory / "pyproject.toml").write_text(_sub_pyproject(pyproject_text, [reqs[n] for n in pick]))
        made.append((directory / "uv.lock", pick))
    return made


def run_fleet(results: Results, tools: Tools, lock: Path, m: int, repeat: int, scratch: Path, env: dict, *,
              links_off: bool = False) -> None:
    """Keys ``fleet/<side>/{ready,import,page-cache,rss-total,rss-max}``; sides ``vsite``
    (``vsite/links-off``) and ``uv``."""
    locks = sublocks(lock, m, scratch)
    for i, (path, pick) in enumerate(locks):  # untimed: plan cache and usage record of each sub-lock
        print(f"# fleet lock {path.parent.name}: {', '.join(pick)}", file=sys.stderr)
        with Mounts(tools) as mounts:
            mounts.mount(path, scratch / f"fleet-warm-{i}" / ".venv")
    mount_envs = {f"vsite{suffix}": (mount_env, tag) for suffix, mount_env, tag in variants(links_off)}
    sides = list(mount_envs) + ["uv"]
    dropping = can_drop_caches()
    modules: list[list[str]] = []
    for r in range(repeat):
        for side in sides[r % len(sides):] + sides[: r % len(sides)]:
            work = scratch / f"fleet-{r}-{side.replace('/', '-')}"
            tag = mount_envs[side][1] if side in mount_envs else ""
            what = f"M={m} locks, {'vsite mount --venv' + tag if side in mount_envs else 'uv sync (hardlink, bytecode)'}"
            if side == "uv":
                projects = [make_project(p, work / f"uv-{i}") for i, (p, _) in enumerate(locks)]
                ready = timed_together([uv_sync_cmd(tools, d, "hardlink", compile_bytecode=True) for d in projects],
                                       env=uv_env(dict(os.environ)))
                pythons = [d / ".venv/bin/python" for d in projects]
                _measure(results, side, what, ready, pythons, [], modules, tools, env, dropping)
                remove(*projects)
                continue
            mount_env = mount_envs[side][0]
            targets = [work / f"vsite-{i}" / ".venv" for i in range(len(locks))]
            with Mounts(tools, mount_env) as mounts:
                mounts.expect(targets)
                ready = timed_together([mount_cmd(tools, p, t) for (p, _), t in zip(locks, targets)],
                                       env=mounts.env)
                pids = [_daemon_pid(t) for t in targets]
                _measure(results, side, what, ready, [t / "bin/python" for t in targets], pids, modules, tools, env,
                         dropping)
            remove(work)


def _daemon_pid(target: Path) -> int:
    from vsite.fs import registry

    record = registry.read_record(str(target))
    return record.pid if record else 0


def _measure(results: Results, side: str, what: str, ready: float, pythons: list[Path], pids: list[int],
             modules: list[list[str]], tools: Tools, env: dict, dropping: bool) -> None:
    if not modules:  # what each environment imports: found once, from the first side's environments
        modules.extend(pick_modules(str(p), env) for p in pythons)
        for python, mods in zip(pythons, modules):
            print(f"# fleet {python.parent.parent.parent.name} imports {', '.join(mods) or 'nothing'}", file=sys.stderr)
    cmds = [[str(p), "-c", "import " + ", ".join(mods)] for p, mods in zip(pythons, modules) if mods]
    results.add(SECTION, f"fleet/{side}/ready", f"{what}: all M environments made at once", "s", ready,
                baseline="fleet/uv/ready" if side != "uv" else None)
    if dropping:
        drop_caches()
        warm_base_python(tools.python)
    before = page_cache_mb()
    took = timed_together(cmds, env=env)
    growth = page_cache_mb() - before
    results.add(SECTION, f"fleet/{side}/import", f"{what}: M importers at once", "s", took,
                baseline="fleet/uv/import" if side != "uv" else None)
    if dropping:
        results.add(SECTION, f"fleet/{side}/page-cache", f"{what}: page cache growth over the M imports", "MB", growth,
                    baseline="fleet/uv/page-cache" if side != "uv" else None)
    else:
        results.by_key.setdefault(f"fleet/{side}/page-cache", Result(
            SECTION, f"fleet/{side}/page-cache", f"{what}: page cache growth", "MB",
            note="skipped: cannot write /proc/sys/vm/drop_caches"))
    live = [p for p in pids if p]
    if live:
        rss = [rss_mb(p)[0] for p in live]
        results.add(SECTION, f"fleet/{side}/rss-total", f"{what}: daemons' RSS, sum over {len(rss)}", "MB", sum(rss))
        results.add(SECTION, f"fleet/{side}/rss-max", f"{what}: largest daemon RSS", "MB", max(rss))
    print(f"# fleet {side}: ready {ready:.2f} s, imports {took:.2f} s, page cache +{growth:.0f} MB", file=sys.stderr)

"""Benchmark: plan a synthetic ~200-package, ~1 MB uv.lock cold and from the plan cache.

The lock is generated to look like a real large one: a virtual root with ~30
direct dependencies, a random DAG below, binary packages with ~30 wheels each
(CPython 3.9-3.13 x manylinux/musllinux/macOS/Windows), markers on edges,
extras, and a few forked packages. Goals: cold <= 150 ms, cached <= 10 ms.

    .venv/bin/python bench/bench_plan.py [--repeat N] [--markdown]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vsite.plan import PlanOptions, cached_plan, make_plan
from vsite.target import probe

PYS = ["39", "310", "311", "312", "313"]
PLATS = [
    "manylinux_2_17_x86_64.manylinux2014_x86_64", "manylinux_2_17_aarch64.manylinux2014_aarch64",
    "manylinux_2_28_x86_64", "musllinux_1_2_x86_64", "musllinux_1_2_aarch64",
    "macosx_10_9_x86_64", "macosx_11_0_arm64", "win_amd64", "win32",
]
MARKERS = ["sys_platform == 'win32'", "sys_platform == 'darwin'", "python_full_version < '3.11'",
           "platform_machine == 'x86_64'", "implementation_name == 'cpython'", "python_full_version >= '3.12'"]


def _h(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _file(name: str, fn: str) -> str:
    d = _h(fn)
    return (f'{{ url = "https://files.pythonhosted.org/packages/{d[:2]}/{d[2:4]}/{d[4:60]}/{fn}", '
            f'hash = "sha256:{_h(fn + "x")}", size = {len(fn) * 1000}, upload-time = "2025-01-01T00:00:00.000Z" }}')


def synthetic_lock(n: int = 200, seed: int = 7) -> str:
    rnd = random.Random(seed)
    names = [f"pkg-{i:03d}" for i in range(n)]
    forked = set(rnd.sample(names[40:], 6))
    binary = set(rnd.sample(names, n // 3))
    lines = ['version = 1', 'revision = 3', 'requires-python = ">=3.9"', 'resolution-markers = [',
             "    \"python_full_version >= '3.12'\",", "    \"python_full_version < '3.12'\",", ']', '']

    def versions(name):
        return ["1.0.0", "2.0.0"] if name in forked else ["1.4.2"]

    def edge(dep):
        parts = [f'name = "{dep}"']
        if dep in forked:
            v = rnd.choice(versions(dep))
            mark = "python_full_version >= '3.12'" if v == "2.0.0" else "python_full_version < '3.12'"
            return [f'{{ {parts[0]}, version = "{v}", source = {{ registry = "https://pypi.org/simple" }}, marker = "{mark}" }}']
        if rnd.random() < 0.25:
            parts.append(f'marker = "{rnd.choice(MARKERS)}"')
        return ["{ " + ", ".join(parts) + " }"]

    root_deps = sorted(set(rnd.sample(names[:60], 30)))
    lines += ['[[package]]', 'name = "bench-root"', 'version = "0.1.0"', 'source = { virtual = "." }', 'dependencies = [']
    for dep in root_deps:
        lines += [f"    {e}," for e in edge(dep)]
    lines += [']', '']
    for i, name in enumerate(names):
        for version in versions(name):
            lines += ['[[package]]', f'name = "{name}"', f'version = "{version}"',
                      'source = { registry = "https://pypi.org/simple" }']
            if name in forked:
                mark = "python_full_version >= '3.12'" if version == "2.0.0" else "python_full_version < '3.12'"
                lines += ['resolution-markers = [', f'    "{mark}",', ']']
            later = names[i + 1:]
            deps = sorted(set(rnd.sample(later, min(len(later), rnd.randint(0, 5)))))
            if deps:
                lines.append('dependencies = [')
                for dep in deps:
                    lines += [f"    {e}," for e in edge(dep)]
                lines.append(']')
            mod = name.replace("-", "_")
            lines.append(f'sdist = {_file(name, f"{mod}-{version}.tar.gz")}')
            lines.append('wheels = [')
            if name in binary:
                for py in PYS:
                    for plat in PLATS:
                        lines.append(f'    {_file(name, f"{mod}-{version}-cp{py}-cp{py}-{plat}.whl")},')
            lines.append(f'    {_file(name, f"{mod}-{version}-py3-none-any.whl")},')
            lines.append(']')
            if later and rnd.random() < 0.2:
                lines += ['', '[package.optional-dependencies]', f'extra = [{{ name = "{rnd.choice(later)}" }}]']
            lines.append('')
    return "\n".join(lines)


def _ms(samples: list[float]) -> str:
    return f"median {statistics.median(samples) * 1000:.1f} ms (min {min(samples) * 1000:.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["VSITE_CACHE_DIR"] = str(Path(tmp) / "cache")
        lock = Path(tmp) / "uv.lock"
        lock.write_text(synthetic_lock())
        target = probe(sys.executable)
        from vsite.plan import markers

        cold = []
        for _ in range(args.repeat):
            markers._PARSED.clear()  # forget parsed markers: every run pays the full price
            start = time.perf_counter()
            plan = make_plan(lock, target, PlanOptions())
            cold.append(time.perf_counter() - start)
        cached_plan(lock, sys.executable)
        warm = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            cached_plan(lock, sys.executable)
            warm.append(time.perf_counter() - start)
        vsite = str(Path(sys.executable).with_name("vsite"))
        cli = {}
        for label in ("cold", "cached"):
            samples = []
            for _ in range(max(3, args.repeat // 4)):
                if label == "cold":
                    for f in (Path(tmp) / "cache" / "plans").glob("*.json"):
                        f.unlink()
                start = time.perf_counter()
                subprocess.run([vsite, "plan", str(lock), "--json", "--python", sys.executable],
                               check=True, stdout=subprocess.DEVNULL)
                samples.append(time.perf_counter() - start)
            cli[label] = samples
        size = lock.stat().st_size
        packages = lock.read_text().count("[[package]]")
        wheels = lock.read_text().count(".whl")
        print(f"lock: {packages} packages, {wheels} wheels, {size / 1e6:.2f} MB; plan: {len(plan.items)} items")
        print(f"make_plan (cold, in process):        {_ms(cold)}")
        print(f"cached_plan (warm, in process):      {_ms(warm)}")
        print(f"`vsite plan --json` process, cold:   {_ms(cli['cold'])}")
        print(f"`vsite plan --json` process, cached: {_ms(cli['cached'])}")


if __name__ == "__main__":
    main()

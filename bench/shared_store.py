"""A squashfs shared store against a local store: env ready and first heavy import (docs/store.md "Clusters").

    sudo .venv/bin/python bench/shared_store.py [LOCK] [--repeats 5] [--imports "import rich.console, ..."]

Publishes LOCK's store once (``vsite fetch --store``), packs it with mksquashfs,
then alternates, each repeat with cold file pages:

- **squashfs**: a fresh loop mount of the image (squashfs's caches start empty;
  the image file's pages are evicted first), an empty local store (plans
  cached), ``VSITE_STORE_PATH`` = the image: ``vsite mount --offline --venv``;
- **local**: the same store used as the local store (``VSITE_CACHE_DIR``), its
  files' pages evicted (``posix_fadvise(DONTNEED)``, file by file: no global
  drop_caches on a shared machine): ``vsite mount --offline --venv``.

"env ready" is the mount command's wall time; "first import" is the venv's
python running the imports right after. Needs root (loop mount) and
mksquashfs. Prints a markdown table and ``uptime`` before and after.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "examples" / "demo" / "uv.lock"
IMPORTS = "import rich.console, rich.markdown, rich.syntax, rich.table, rich.traceback, pygments.lexers.python, click, attr"


def vsite(*args: object, env: dict) -> float:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "vsite", *map(str, args)], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"bench: vsite {' '.join(map(str, args))} failed: {done.stderr.strip()}")
    return time.perf_counter() - start


def evict(path: Path) -> None:
    """Drop the page-cache pages of every file under ``path`` (or of the file ``path``)."""
    files = [path] if path.is_file() else [Path(d, f) for d, _, fs in os.walk(path) for f in fs]
    for file in files:
        try:
            fd = os.open(file, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def one(mode: str, lock: Path, base: Path, image: Path, published: Path, imports: str, env: dict) -> tuple[float, float]:
    venv = base / f"venv-{mode}"
    mnt = base / "image"
    run_env = dict(env)
    if mode == "squashfs":
        evict(image)
        subprocess.run(["mount", "-t", "squashfs", "-o", "loop,ro", str(image), str(mnt)], check=True)
        run_env.update(VSITE_CACHE_DIR=str(base / "node-local"), VSITE_STORE_PATH=str(mnt))
    else:
        evict(published / "v2" / "wheels")
        run_env.update(VSITE_CACHE_DIR=str(published))
    try:
        ready = vsite("mount", "--offline", "--venv", lock, venv, env=run_env)
        start = time.perf_counter()
        done = subprocess.run([str(venv / "bin/python"), "-c", imports], env=run_env, capture_output=True, text=True)
        first = time.perf_counter() - start
        if done.returncode != 0:
            sys.exit(f"bench: imports failed ({mode}): {done.stderr.strip()}")
        vsite("unmount", venv, env=run_env)
    finally:
        subprocess.run(["fusermount3", "-u", "-z", str(venv)], capture_output=True)
        if mode == "squashfs":
            subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
    return ready, first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lock", nargs="?", type=Path, default=DEMO)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--imports", default=IMPORTS)
    args = parser.parse_args()
    if os.geteuid() != 0 or not shutil.which("mksquashfs"):
        sys.exit("bench: needs root (loop mount) and mksquashfs (squashfs-tools)")
    lock = args.lock.resolve()
    base = Path(tempfile.mkdtemp(prefix="vsite-shared-store-"))
    env = dict(os.environ, VSITE_RUNTIME_DIR=str(base / "runtime"))
    env.pop("VSITE_STORE_PATH", None)
    published = base / "published"
    vsite("fetch", "--store", published, lock, env=env)
    image = base / "store.sqfs"
    subprocess.run(["mksquashfs", str(published), str(image), "-noappend", "-no-progress", "-quiet"], check=True)
    (base / "image").mkdir()
    uptime_before = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    samples: dict[str, list[tuple[float, float]]] = {"squashfs": [], "local": []}
    for mode in samples:  # warm-up (plan caches, interpreter files): not counted
        one(mode, lock, base, image, published, args.imports, env)
    for _ in range(args.repeats):
        for mode in samples:
            samples[mode].append(one(mode, lock, base, image, published, args.imports, env))
    uptime_after = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    size = sum(f.stat().st_size for f in (published / "v2" / "wheels").rglob("*") if f.is_file())
    print(f"lock: {lock} ({len(os.listdir(published / 'v2' / 'wheels'))} entries, {size / 2**20:.1f} MiB unpacked;"
          f" image {image.stat().st_size / 2**20:.1f} MiB); {args.repeats} repeats, alternating, file pages evicted")
    print(f"imports: `{args.imports}`\n")
    print("| store | env ready (ms): median [min-max] | first import (ms): median [min-max] |")
    print("| --- | --- | --- |")
    for mode, runs in samples.items():
        cells = []
        for values in zip(*runs):
            ms = [v * 1000 for v in values]
            cells.append(f"{statistics.median(ms):.0f} [{min(ms):.0f}-{max(ms):.0f}]")
        print(f"| {mode} | {' | '.join(cells)} |")
    print(f"\n`uptime` before: {uptime_before}  \n`uptime` after: {uptime_after}")
    shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()

"""How long building a view takes against the number of files in the lock (goal: flat).

Writes synthetic store entries (the documented layout: entry.json, files.json,
site/ files) for two locks, then times ``build_view`` (median of N runs), the
first import-like lookup, and a full walk for contrast (with the Python heap
the view holds after it, by tracemalloc):

    .venv/bin/python bench/view_build.py [--runs 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import tracemalloc
from dataclasses import asdict
from pathlib import Path

from vsite.plan.model import Artifact, Plan, PlanItem
from vsite.store import EntrySummary, FileRecord, StoreLayout
from vsite.target import probe
from vsite.view import build_view
from vsite.view.nodes import DirNode


class Store:
    def __init__(self, root: Path) -> None:
        self.layout = StoreLayout(root)

    def entry_dir(self, item: PlanItem) -> Path:
        return self.layout.wheel_dir(item.wheel.sha256)  # type: ignore[union-attr]  # items here are all wheels

    def has_bytecode(self, item: PlanItem, cache_tag: str) -> bool:
        return False


def make_lock(root: Path, packages: int, files_per_package: int) -> Plan:
    layout = StoreLayout(root)
    items = []
    for p in range(packages):
        name, sha = f"pkg{p:04d}", f"{p:064x}"
        dest = layout.wheel_dir(sha)
        records = []
        for f in range(files_per_package):
            rel = f"{name}/sub{f % 10}/m{f}.py"
            path = dest / "site" / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"")
            records.append(FileRecord("site", rel, 0, "sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"))
        dist_info = f"{name}-1.0.dist-info"
        (dest / "site" / dist_info).mkdir()
        summary = EntrySummary(name, "1.0", f"{name}-1.0-py3-none-any.whl", sha, 0, dist_info, True,
                               (name, dist_info), file_count=files_per_package)
        (dest / "files.json").write_text(json.dumps([asdict(r) for r in records]))
        (dest / "entry.json").write_text(json.dumps(summary.to_json()))
        items.append(PlanItem(name, "1.0", "wheel", Artifact(summary.filename, sha256=sha), requested=True))
    return Plan("/dev/null", "0" * 64, "uv", "bench", {}, tuple(items))


def walk(view, node: DirNode) -> int:
    count = 0
    for _, child in view.children(node):
        count += walk(view, child) if isinstance(child, DirNode) else 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    target = probe(sys.executable)
    print("| lock | packages | files | build_view median | first lookup | full walk | heap after walk |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        for label, packages, per in (("small", 10, 100), ("large", 150, 300)):
            root = Path(tmp, label)
            plan = make_lock(root, packages, per)
            store = Store(root)
            times = []
            for _ in range(args.runs):
                t0 = time.perf_counter()
                build_view(plan, store, target, mtime_ns=1)
                times.append(time.perf_counter() - t0)
            view = build_view(plan, store, target, mtime_ns=1)
            t0 = time.perf_counter()
            node = view.lookup(view.lookup(view.lookup(view.root, "pkg0000"), "sub3"), "m3.py")
            first = time.perf_counter() - t0
            assert node is not None
            t0 = time.perf_counter()
            files = walk(view, view.root)
            full = time.perf_counter() - t0
            tracemalloc.start()
            fresh = build_view(plan, store, target, mtime_ns=1)
            walk(fresh, fresh.root)
            heap = tracemalloc.get_traced_memory()[0]
            tracemalloc.stop()
            print(f"| {label} | {packages} | {packages * per} | {statistics.median(times) * 1e3:.2f} ms "
                  f"| {first * 1e6:.0f} us | {full * 1e3:.0f} ms ({files} files) | {heap / 1e6:.1f} MB |")


if __name__ == "__main__":
    main()

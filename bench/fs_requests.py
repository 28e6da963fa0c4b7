"""Count FUSE requests per handler (and time) for importing packages through a vsite mount.

Two ways to get the tree:

  --site DIR      serve an existing site-packages DIR (e.g. of a `uv sync` venv)
                  through vsite's fs layer (a mirror view: the fs cost alone);
                  imports run with PYTHONPATH=<mount>.
  --lock LOCK     `vsite mount LOCK <tmp> --venv` (plan, store, view, fs) and
                  import with <mount>/bin/python; --base-venv times the same
                  imports in a venv `uv sync` made from the same lock.

For each run (the first after mounting = "first", then --warm runs) it prints the
requests the daemon received by handler, and the wall time of the import
process, next to the same import from DIR (--site mode) as a baseline.
The fs mode is the daemon's default (zero-message open with vsite's patched
pyfuse3); VSITE_FS_NO_OPEN=0 measures the stock open/release path.

  .venv/bin/python bench/fs_requests.py --site /tmp/uvvenv/lib/python3.11/site-packages
  .venv/bin/python bench/fs_requests.py --lock examples/demo/uv.lock --base-venv /tmp/uvvenv
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):  # run as a script (python bench/X.py): make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.harness import timed
from vsite.fs import daemon, mountpoint, registry
from vsite.view.nodes import DirNode, FileNode, LinkNode, Node, View

DEFAULT_MODULES = (
    "rich.console rich.table rich.markdown rich.syntax rich.traceback click attr six idna "
    "packaging.tags packaging.specifiers markdown_it pygments.lexers.python"
)


class MirrorView(View):
    """A real directory tree as a View, listed lazily (each directory once)."""

    def __init__(self, root: str) -> None:
        self._nodes: dict[int, Node] = {}
        self._paths: dict[int, str] = {}
        self._kids: dict[int, dict[str, Node]] = {}
        self._make(root)

    def _make(self, path: str) -> Node:
        st = os.lstat(path)
        ino = len(self._nodes) + 1
        mode = st.st_mode & 0o7777
        if os.path.islink(path):
            node: Node = LinkNode(ino=ino, mode=0o777, mtime_ns=st.st_mtime_ns, target=os.readlink(path))
        elif os.path.isdir(path):
            node = DirNode(ino=ino, mode=mode, mtime_ns=st.st_mtime_ns, nlink=st.st_nlink)
        else:
            node = FileNode(ino=ino, mode=mode, mtime_ns=st.st_mtime_ns, size=st.st_size, real=path)
        self._nodes[ino] = node
        self._paths[ino] = path
        return node

    def _children(self, parent: DirNode) -> dict[str, Node]:
        kids = self._kids.get(parent.ino)
        if kids is None:
            base = self._paths[parent.ino]
            kids = {name: self._make(os.path.join(base, name)) for name in sorted(os.listdir(base))}
            self._kids[parent.ino] = kids
        return kids

    def node(self, ino: int) -> Node:
        return self._nodes[ino]

    def lookup(self, parent: DirNode, name: str) -> Node | None:
        return self._children(parent).get(name)

    def children(self, parent: DirNode) -> list[tuple[str, Node]]:
        return list(self._children(parent).items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--site", help="a site-packages directory to serve")
    source.add_argument("--lock", help="a lock to mount with `vsite mount --venv`")
    parser.add_argument("--base-venv", help="with --lock: a venv of the same lock (uv sync) to time against")
    parser.add_argument("--modules", default=DEFAULT_MODULES)
    parser.add_argument("--warm", type=int, default=10, help="warm runs after the first")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="vsite-bench-"))
    os.environ.setdefault("VSITE_RUNTIME_DIR", str(work / "runtime"))
    target = work / "mnt"
    code = "import " + ", ".join(args.modules.split())
    env = dict(os.environ)
    if args.site:
        target.mkdir()
        record = registry.MountRecord(mountpoint=str(target), lock="-", plan_key="-", packages=0)
        daemon.spawn(MirrorView(os.path.abspath(args.site)), record)
        cmd = base_cmd = [sys.executable, "-c", code]
        env_mount = env | {"PYTHONPATH": str(target)}
        env_base = env | {"PYTHONPATH": os.path.abspath(args.site)}
    else:
        subprocess.run([sys.executable, "-m", "vsite", "mount", args.lock, str(target), "--venv"], check=True)
        cmd = [str(target / "bin/python"), "-c", code]
        base_cmd = [str(Path(args.base_venv) / "bin/python"), "-c", code] if args.base_venv else None
        env_mount = env_base = env
    try:
        record = registry.read_record(str(target))
        seen: dict[str, int] = {}
        rows = []
        for run in range(1 + args.warm):
            base = timed(base_cmd, env=env_base) if base_cmd else float("nan")
            took = timed(cmd, env=env_mount)
            now = mountpoint.fresh_stats(record)["requests"]
            delta = {k: v - seen.get(k, 0) for k, v in now.items() if v - seen.get(k, 0)}
            seen = dict(now)
            rows.append(("first" if run == 0 else f"warm{run}", took, base, delta))
        names = sorted({k for *_, d in rows for k in d})
        mode = "zero-message open" if mountpoint.fresh_stats(record).get("zero_message_open") else "stock"
        print(f"imports: {code}")
        print(f"fs mode: {mode}")
        print(f"{'run':7} {'mount s':>8} {'base s':>8} " + " ".join(f"{n:>10}" for n in names))
        for label, took, base, delta in rows:
            print(f"{label:7} {took:8.3f} {base:8.3f} " + " ".join(f"{delta.get(n, 0):>10}" for n in names))
        warm = rows[1:]
        if warm:
            print(
                f"warm median: mount {statistics.median(r[1] for r in warm):.3f} s, "
                f"base {statistics.median(r[2] for r in warm):.3f} s, "
                f"requests {statistics.median(sum(r[3].values()) for r in warm):.0f}; "
                f"best: mount {min(r[1] for r in warm):.3f} s, base {min(r[2] for r in warm):.3f} s"
            )
    finally:
        mountpoint.unmount(str(target))


if __name__ == "__main__":
    main()

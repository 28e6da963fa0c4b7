"""Cost of single FUSE requests on a vsite mount: wall time per syscall and daemon CPU per request.

  .venv/bin/python bench/fs_micro.py

Serves a small temporary tree through vsite's fs layer (bench/fs_requests.py's
mirror view) and times open+close (open and release requests), os.listdir
(opendir, readdir x2, releasedir) and a warm stat (no request), reading the
daemon's CPU time from /proc/<pid>/stat before and after and the requests it
counted. In the default zero-message-open mode (vsite's patched pyfuse3) open+close
and a warm listdir send no request; VSITE_FS_NO_OPEN=0 measures the stock path.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from fs_requests import MirrorView
from vsite.fs import daemon, mountpoint, registry


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _requests(record: registry.MountRecord) -> int:
    return sum(mountpoint.fresh_stats(record, timeout=10)["requests"].values())


def _measure(label: str, record: registry.MountRecord, n: int, fn) -> None:
    fn()  # the first call may fill caches (and, zero-message, take the one ENOSYS)
    requests = _requests(record)
    cpu, start = _cpu(record.pid), time.perf_counter()
    for _ in range(n):
        fn()
    wall = (time.perf_counter() - start) / n * 1e6
    cpu = _cpu(record.pid) - cpu
    requests = _requests(record) - requests
    per_call = max(requests, 0) / n
    per_request = cpu / requests * 1e6 if requests > 0 else 0.0
    print(f"{label:14} {wall:8.1f} us wall   {per_call:4.1f} requests/call   daemon cpu {per_request:5.1f} us/request")


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="vsite-micro-"))
    os.environ.setdefault("VSITE_RUNTIME_DIR", str(work / "runtime"))
    tree = work / "tree"
    (tree / "d").mkdir(parents=True)
    (tree / "f").write_bytes(b"x" * 5000)
    (tree / "d" / "a").write_bytes(b"1")
    target = work / "mnt"
    target.mkdir()
    record = registry.MountRecord(mountpoint=str(target), lock="-", plan_key="-", packages=0)
    daemon.spawn(MirrorView(str(tree)), record)
    try:
        record = registry.read_record(str(target))
        path = str(target / "f")
        os.stat(path)
        _measure("open+close", record, 20000, lambda: os.close(os.open(path, os.O_RDONLY)))
        _measure("listdir", record, 5000, lambda: os.listdir(target / "d"))
        _measure("stat (warm)", record, 20000, lambda: os.stat(path))
        print("requests:", mountpoint.fresh_stats(registry.read_record(str(target)))["requests"])
    finally:
        mountpoint.unmount(str(target))


if __name__ == "__main__":
    main()

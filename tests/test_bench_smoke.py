"""``python -m bench --tiny`` on the demo lock runs every scenario and reports every row (no timing asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fusetools import require_fuse

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.fuse, pytest.mark.network, pytest.mark.slow]


def test_tiny_bench_reports_every_scenario(tmp_path):
    require_fuse()
    env = dict(os.environ, VSITE_CACHE_DIR=str(tmp_path / "cache"), VSITE_RUNTIME_DIR=str(tmp_path / "runtime"),
               TMPDIR=str(tmp_path))
    done = subprocess.run(
        [sys.executable, "-m", "bench", "examples/demo/uv.lock", "--tiny", "--json", str(tmp_path / "r.json"),
         "--plots", str(tmp_path / "plots")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = done.stdout
    for title in ("1. Environment ready", "2. Import through a fresh mount", "3. Parallel importers",
                  "4. Mount time against files", "5. Daemon resources", "6. Cold fetch"):
        assert f"### {title}" in report
    keys = {r["key"]: r for r in json.loads((tmp_path / "r.json").read_text())["results"]}
    for key in ("ready/N=1/vsite", "ready/N=1/vsite-shared", "ready/N=1/vsite-run", "ready/N=1/uv-hardlink", "ready/N=1/uv-symlink", "ready/N=1/uv-copy",
                "parallel/first", "parallel/warm", "parallel/uv", "daemon/rss-idle", "daemon/rss-peak",
                "daemon/cpu-first", "fetch/vsite", "fetch/uv"):
        assert len(keys[key]["samples"]) >= 1, key
    assert any(k.startswith("import/") and k.endswith("/first") for k in keys)
    assert any(k.startswith("scaling/") for k in keys)
    # one table row per N with the three ratios to uv's link modes
    row = next(line for line in report.splitlines() if line.startswith("| 1 |"))
    assert row.count("x |") >= 3, row
    assert (tmp_path / "plots/bench-ready.png").stat().st_size > 0
    assert (tmp_path / "plots/bench-scaling.png").stat().st_size > 0
    # nothing left mounted, no scratch left behind
    assert str(tmp_path) not in Path("/proc/mounts").read_text()
    assert not list(tmp_path.glob("vsite-bench-*"))

"""``python -m bench --tiny`` on the demo lock runs every scenario and reports every row (no timing asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runhelp import ROOT

from fusetools import require_fuse


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
    for title in ("1. Environment ready", "2. Import through a fresh mount", "2b. Daemon requests",
                  "3. Parallel importers", "3b. Memory", "4. Mount time against files", "5. Daemon resources",
                  "6. Cold fetch", "7. Every way of making N environments", "7b. Issue 14's goals",
                  "8. M different locks"):
        assert f"### {title}" in report, title
    assert "`uptime` before:" in report and "Data path of `vsite mount`" in report
    keys = {r["key"]: r for r in json.loads((tmp_path / "r.json").read_text())["results"]}
    for key in ("ready/N=1/vsite", "ready/N=1/vsite-shared", "ready/N=1/vsite-run", "ready/N=1/uv-hardlink", "ready/N=1/uv-symlink", "ready/N=1/uv-copy",
                "parallel/first", "parallel/warm", "parallel/uv", "daemon/rss-idle", "daemon/rss-peak",
                "daemon/cpu-first", "fetch/vsite", "fetch/uv"):
        assert len(keys[key]["samples"]) >= 1, key
    assert any(k.startswith("import/") and k.endswith("/first") for k in keys)
    assert any(k.startswith("requests/") and keys[k]["samples"] for k in keys)
    for key in ("memory/walk-rss", "alt/env/N=1/floor", "alt/env/N=1/uv-hardlink", "alt/worker/N=1/uv-hardlink",
                "alt/worker/N=1/cached-venv", "alt/worker/N=1/cached-venv-first", "alt/worker/N=1/farm",
                "alt/worker/N=1/vsite", "alt/worker/N=1/vsite-shared", "alt/env/N=1/vsite-run",
                "alt/worker/N=1/vsite-run", "alt/env/N=1/vsite-run-live", "alt/worker/N=1/vsite-run-live",
                "alt-goal/env-vs-floor", "alt-goal/env-speedup-vs-uv-hardlink", "alt-goal/worker-vs-uv-hardlink",
                "alt-goal/worker-vs-cached-venv-first", "alt-goal/worker-vs-cached-venv",
                "fleet/vsite/ready", "fleet/vsite/import", "fleet/vsite/rss-total", "fleet/uv/ready"):
        assert len(keys[key]["samples"]) >= 1, key
    if os.access("/proc/sys/vm/drop_caches", os.W_OK):  # root: the page-cache figures and cold imports
        for key in ("memory/vsite/ratio", "memory/uv/ratio", "fleet/vsite/page-cache", "fleet/uv/page-cache"):
            assert len(keys[key]["samples"]) >= 1, key
        assert any(k.startswith("import/") and k.endswith("/cold") for k in keys)
    # like against like: the venv made before against the mount made before; the rest against the fastest maker
    assert keys["alt-goal/worker-vs-cached-venv"]["note"] == "vsite-run-live"
    assert keys["alt-goal/worker-vs-cached-venv-first"]["note"] in ("vsite", "vsite-shared", "vsite-run")
    assert (tmp_path / "plots/bench-alternatives.png").stat().st_size > 0
    assert (tmp_path / "plots/bench-fleet.png").stat().st_size > 0
    assert any(k.startswith("scaling/") for k in keys)
    # one table row per N with the three ratios to uv's link modes
    row = next(line for line in report.splitlines() if line.startswith("| 1 |"))
    assert row.count("x |") >= 3, row
    assert (tmp_path / "plots/bench-ready.png").stat().st_size > 0
    assert (tmp_path / "plots/bench-scaling.png").stat().st_size > 0
    # nothing left mounted, no scratch left behind
    assert str(tmp_path) not in Path("/proc/mounts").read_text()
    assert not list(tmp_path.glob("vsite-bench-*"))

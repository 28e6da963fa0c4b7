"""Fetch progress in wheels and bytes (vsite.store.progress), as a terminal shows it."""

from __future__ import annotations

import io
import os
import pty
import select
import subprocess
import sys
from pathlib import Path

from reliab import make_env_wheels
from vsite.plan.model import Artifact, Plan, PlanItem
from vsite.store.fetch import FetchReport
from vsite.store.progress import FetchMeter, summary


class _Store:
    def __init__(self, present: set[str]) -> None:
        self.present = present

    def entry_dir(self, item: PlanItem) -> Path | None:
        return Path("/store") / item.name if item.name in self.present else None


def _plan(sizes: dict[str, int]) -> Plan:
    items = tuple(
        PlanItem(name=name, version="1", kind="wheel", wheel=Artifact(filename=f"{name}-1-py3-none-any.whl",
                                                                   url=f"https://x/{name}.whl", size=size),
                 source={"kind": "registry"}, requested=True)
        for name, size in sizes.items()
    )
    return Plan(lock_path="/l", lock_sha256="0" * 64, lock_format="uv", target_identity="t", options={}, items=items)


def test_meter_counts_wheels_and_the_bytes_still_to_fetch():
    plan = _plan({"big": 300_000_000, "small": 1_000_000, "here": 50_000_000})
    out = io.StringIO()
    meter = FetchMeter(plan, _Store({"here"}), out, interval=0, live=True)
    assert meter.to_fetch == 301_000_000  # what the store already holds is not to fetch
    meter.downloaded(120_300_000)
    meter.item_done(plan.items[2], "reused")
    assert meter.line() == "vsite: fetching 1/3 wheels, 120.3 MB of 301.0 MB downloaded"
    meter.downloaded(180_700_000)
    meter.item_done(plan.items[1], "downloaded")
    meter.item_done(plan.items[0], "downloaded")
    report = FetchReport(downloaded=["big", "small"], reused=["here"])
    line = meter.finish(report)
    assert line.startswith("vsite: fetched 2 of 3 packages in ") and line.endswith("s: 2 downloaded (301.0 MB)")
    drawn = out.getvalue()
    assert drawn.startswith("\r") and drawn.endswith("\n") and "3/3 wheels, 301.0 MB of 301.0 MB" in drawn


def test_summary_is_empty_when_nothing_came_in():
    assert summary(FetchReport(reused=["a"]), 1, 0, 0.1) == ""
    assert summary(FetchReport(from_uv_cache=["a"], local=["b"]), 2, 0, 1.0) == (
        "vsite: fetched 2 of 2 packages in 1.0 s: 1 from uv's cache, 1 local files")


def test_vsite_fetch_on_a_terminal_shows_wheels_and_bytes(tmp_path):
    """A lock whose wheels are file:// URLs goes through the downloader, so its bytes are counted."""
    wheels = make_env_wheels(tmp_path / "wheels", 3, 2, big=1)
    import hashlib

    lines = ['lock-version = "1.0"', 'created-by = "vsite-tests"', 'requires-python = ">=3.8"', ""]
    total = 0
    for wheel in wheels:
        name, version = wheel.name.split("-")[:2]
        data = wheel.read_bytes()
        total += len(data)
        lines += ["[[packages]]", f'name = "{name.replace("_", "-")}"', f'version = "{version}"',
                  f'wheels = [{{ name = "{wheel.name}", url = "{wheel.as_uri()}", size = {len(data)},'
                  f' hashes = {{ sha256 = "{hashlib.sha256(data).hexdigest()}" }} }}]', ""]
    lock = tmp_path / "pylock.toml"
    lock.write_text("\n".join(lines))
    env = dict(os.environ, VSITE_CACHE_DIR=str(tmp_path / "cache"), UV_CACHE_DIR=str(tmp_path / "uv"))
    parent, child = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "vsite", "fetch", str(lock)], stdin=subprocess.DEVNULL,
                            stdout=child, stderr=child, env=env)
    os.close(child)
    seen = b""
    while True:
        ready, _, _ = select.select([parent], [], [], 120)
        if not ready:
            break
        try:
            chunk = os.read(parent, 4096)
        except OSError:  # EIO: the other side closed
            break
        if not chunk:
            break
        seen += chunk
    os.close(parent)
    assert proc.wait(timeout=120) == 0, seen
    text = seen.decode()
    mb = f"{total / 1e6:.1f} MB"
    assert f"vsite: fetching 3/3 wheels, {mb} of {mb} downloaded" in text, text
    assert f"3 packages: 3 downloaded ({mb})" in text, text


def test_meter_off_a_terminal_draws_nothing_but_counts():
    plan = _plan({"a": 2_000_000})
    out = io.StringIO()  # not a terminal
    meter = FetchMeter(plan, _Store(set()), out, interval=0)
    meter.downloaded(2_000_000)
    meter.item_done(plan.items[0], "downloaded")
    line = meter.finish(FetchReport(downloaded=["a"]))
    assert out.getvalue() == "" and line.endswith(": 1 downloaded (2.0 MB)")

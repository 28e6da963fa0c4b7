"""``vsite fetch LOCK``: fill the store with every wheel the environment needs, compiled for the target."""

from __future__ import annotations

import sys

import click

from vsite.cli import main
from vsite.cli.options import plan_from_cli, plan_options


@main.command("fetch")
@click.argument("lock", type=click.Path(dir_okay=False))
@plan_options
@click.option("--offline", is_flag=True, help="Use only the store and uv's cache; fail naming the first missing wheel.")
@click.option("-j", "--jobs", default=8, show_default=True, type=click.IntRange(1, 64),
              help="Parallel downloads/unpacks.")
def fetch(lock: str, offline: bool, jobs: int, **plan_opts) -> None:
    """Download, verify, unpack and compile the lock's wheels into the store.

    On a terminal: wheels and bytes downloaded on one line, then a summary;
    nothing otherwise. A second fetch of the same lock touches no network.
    """
    plan, target = plan_from_cli(lock, **plan_opts)
    from vsite.store import Store  # heavy: only when the command runs
    from vsite.store.progress import FetchMeter, megabytes

    store = Store()
    if not sys.stderr.isatty():
        store.fetch(plan, target, offline=offline, jobs=jobs)
        return
    meter = FetchMeter(plan, store, sys.stderr)
    try:
        report = store.fetch(plan, target, offline=offline, jobs=jobs, progress=meter.item_done,
                             received=meter.downloaded)
    finally:
        meter.finish(None)
    click.echo(
        f"{len(plan.items)} packages: {len(report.downloaded)} downloaded ({megabytes(meter.received)}), "
        f"{len(report.from_uv_cache)} from uv's cache, "
        f"{len(report.local)} local, {len(report.built)} built, {len(report.reused)} already in the store; "
        f"{len(report.compiled)} compiled for {target.cache_tag}",
        err=True,
    )

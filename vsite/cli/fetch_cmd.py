"""``vsite fetch LOCK``: fill the store with every wheel the environment needs, compiled for the target."""

from __future__ import annotations

import sys

import click

from vsite.cli import main
from vsite.cli.options import plan_from_cli, plan_options, store_option, store_path_option


@main.command("fetch")
@click.argument("lock", type=click.Path(dir_okay=False))
@plan_options
@click.option("--offline", is_flag=True, help="Use only the store and uv's cache; fail naming the first missing wheel.")
@click.option("-j", "--jobs", default=8, show_default=True, type=click.IntRange(1, 64),
              help="Parallel downloads/unpacks.")
@store_option("Fill the store at DIR (to publish it for a cluster: docs/store.md) instead of the local one; "
              "no shared store is consulted.")
@store_path_option
def fetch(lock: str, offline: bool, jobs: int, store_dir: str | None, **plan_opts) -> None:
    """Download, verify, unpack and compile the lock's wheels into the store.

    Entries a shared store of the search path holds (compiled for the target)
    are used there and not fetched. On a terminal: wheels and bytes downloaded
    on one line, then a summary; nothing otherwise. A second fetch of the same
    lock touches no network.
    """
    plan, target = plan_from_cli(lock, **plan_opts)
    from vsite.store import Store  # heavy: only when the command runs
    from vsite.store.progress import FetchMeter, megabytes

    store = Store(store_dir) if store_dir is not None else Store.configured()
    if not sys.stderr.isatty():
        report = store.fetch(plan, target, offline=offline, jobs=jobs)
        for note in report.notes:
            click.echo(f"vsite: warning: {note}", err=True)
        return
    meter = FetchMeter(plan, store, sys.stderr)
    try:
        report = store.fetch(plan, target, offline=offline, jobs=jobs, progress=meter.item_done,
                             received=meter.downloaded)
    finally:
        meter.finish(None)
    for note in report.notes:
        click.echo(f"vsite: warning: {note}", err=True)
    shared = f", {len(report.shared)} in a shared store" if report.shared else ""
    shared += f", {len(report.from_shared)} copied from a shared store" if report.from_shared else ""
    click.echo(
        f"{len(plan.items)} packages: {len(report.downloaded)} downloaded ({megabytes(meter.received)}), "
        f"{len(report.from_uv_cache)} from uv's cache, "
        f"{len(report.local)} local, {len(report.built)} built, {len(report.reused)} already in the store{shared}; "
        f"{len(report.compiled)} compiled for {target.cache_tag}",
        err=True,
    )

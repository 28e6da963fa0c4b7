"""``vsite cache ls|verify|gc``: inspect, check and trim the shared wheel store.

The store is imported when a command runs, keeping every ``vsite`` start-up light.
"""

from __future__ import annotations

import click

from vsite.cli import main
from vsite.cli.options import store_option
from vsite.errors import StoreError

_STORE_HELP = "The store at DIR (e.g. a shared store being published) instead of the local one."


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


@main.group("cache")
def cache() -> None:
    """The store of unpacked wheels ($VSITE_CACHE_DIR, or --store DIR)."""


@cache.command("ls")
@click.option("--keys", is_flag=True, help="Show each entry's key (wheel sha256).")
@store_option(_STORE_HELP)
def cache_ls(keys: bool, store_dir: str | None) -> None:
    """List entries: package, version, unpacked size, compiled tags, locks using them."""
    from vsite.store import Store  # heavy: only when the command runs

    store = Store(store_dir)
    entries = store.entries()
    total = 0
    for info in sorted(entries, key=lambda e: (e.summary.name, e.summary.version)):
        total += info.disk_size
        locks = ", ".join(info.locks) or "-"
        key = f"  {info.key}" if keys else ""
        click.echo(
            f"{info.summary.name} {info.summary.version}  {_human(info.disk_size)}"
            f"  [{' '.join(info.cache_tags) or 'no bytecode'}]  {locks}{key}"
        )
    click.echo(f"{len(entries)} entries, {_human(total)} in {store.layout.root}")


@cache.command("verify")
@store_option(_STORE_HELP)
def cache_verify(store_dir: str | None) -> None:
    """Rehash every entry against its index; exit 1 naming each corrupt one."""
    from vsite.store import Store  # heavy: only when the command runs

    store = Store(store_dir)
    problems = store.verify()
    for key, reason in problems:
        click.echo(f"corrupt: {key}: {reason}", err=True)
    if problems:
        noun = "entry" if len(problems) == 1 else "entries"
        raise StoreError(f"{len(problems)} corrupt {noun} (listed above); `vsite cache gc --corrupt` removes them")
    click.echo(f"{len(store.keys())} entries verified")


@cache.command("gc")
@click.option("--max-age", default=30.0, show_default=True, type=float,
              help="Keep entries a lock used within this many days.")
@click.option("--dry-run", is_flag=True, help="Only print what would be removed.")
@click.option("--corrupt", is_flag=True, help="Also remove entries that fail verification.")
@store_option(_STORE_HELP)
def cache_gc(max_age: float, dry_run: bool, corrupt: bool, store_dir: str | None) -> None:
    """Remove entries no recent lock uses (never those a live mount uses), fetch debris,
    memos (plans, interpreter probes, conflict reports) unused within --max-age, and the
    join index entries (runtime dir) of shared mounts that are gone.

    A shared store (--store) is used by nodes that record nothing in it: what its
    lock records (from `vsite fetch --store`) name within --max-age is kept."""
    from vsite.store import Store  # heavy: only when the command runs

    store = Store(store_dir)
    dropped = store.gc(max_age_days=max_age, dry_run=dry_run, corrupt=corrupt)
    verb = "would remove" if dry_run else "removed"
    for key, label in dropped:
        click.echo(f"{verb} {label} ({key[:16]})")
    click.echo(f"{verb} {len(dropped)} entries")
    memos = store.drop_memos(max_age_days=max_age, dry_run=dry_run)
    if memos:
        click.echo(f"{verb} {memos} memos unused for {max_age:g} days (plans, interpreter probes, conflict reports)")
    if store_dir is None:  # the join index belongs to the local runtime dir, not to a store given as DIR
        from vsite.shared.launch import prune_index

        stale = prune_index(dry_run=dry_run)
        if stale:
            click.echo(f"{verb} {stale} join index entries of mounts that are gone")

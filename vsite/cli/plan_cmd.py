"""``vsite plan LOCK``: show which package versions and files an environment would hold."""

from __future__ import annotations

import json

import click

from vsite.cli import main
from vsite.cli.options import plan_from_cli, plan_options


def _file(item) -> str:
    """The file (or source) the store will use for an item, for the human table."""
    if item.wheel is not None:
        return item.wheel.filename
    if item.sdist is not None:
        return item.sdist.filename
    return item.source.get("url") or item.source.get("path") or ""


@main.command("plan")
@click.argument("lock", type=click.Path(dir_okay=False))
@plan_options
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
def plan_command(lock: str, as_json: bool, **opts) -> None:
    """Print the install plan of LOCK (uv.lock or pylock.toml) for one interpreter."""
    plan, target = plan_from_cli(lock, **opts)
    if as_json:
        click.echo(json.dumps(plan.to_json(), indent=2))
        return
    rows = [(i.name, i.version, i.kind, _file(i)) for i in plan.items]
    widths = [max([len(h)] + [len(r[c]) for r in rows]) for c, h in enumerate(("name", "version", "kind", "file"))]
    click.echo(f"# {plan.lock_path} for {target.executable} (Python {'.'.join(map(str, target.version))})")
    for row in [("name", "version", "kind", "file"), *rows]:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())

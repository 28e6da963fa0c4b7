"""``vsite mount``, ``vsite unmount`` and ``vsite status``: the mount lifecycle.

``mount`` checks the mount point first (cheap, and a busy one must not cost
a download), plans, fetches what is missing, builds the view in this process
and then forks the daemon (``vsite.fs.daemon.spawn``), returning once the mount
answers (the fetch and the view: vsite.fs.prepare). Whatever fails, nothing is
left mounted and a mount-point directory this command created is removed again.
That part is click-free, ``vsite.fs.mount.mount_target``, which the console script
also runs for the plain ``vsite mount LOCK TARGET [--venv]`` without loading click.
"""

from __future__ import annotations

import time

import click

from vsite.cli import main
from vsite.cli.options import plan_from_cli, plan_options, store_path_option
from vsite.cli.run_cmd import mount_shared, shared_options
from vsite.fs.mount import mount_target
from vsite.fs import mountpoint, registry
from vsite.store import usage


def _say(line: str) -> None:
    click.echo(line, err=True)


@main.command("mount")
@click.argument("lock", type=click.Path(dir_okay=False))
@click.argument("path", metavar="[TARGET]", type=click.Path(file_okay=False), required=False)
@plan_options
@click.option("--venv", "venv", is_flag=True,
              help="Mount a whole virtual environment at TARGET, not just site-packages.")
@click.option("--offline", is_flag=True, help="Use only wheels already in the store.")
@click.option("--foreground", is_flag=True, help="Serve in this process until unmounted or interrupted.")
@click.option("--allow-other", is_flag=True, help="Let other users see the mount (needs user_allow_other).")
@shared_options
@store_path_option
def mount(lock: str, path: str | None, venv: bool, offline: bool, foreground: bool, allow_other: bool,
          shared: bool, pid: int | None, lease_name: str | None, grace: float | None, **opts) -> None:
    """Mount the environment LOCK describes at TARGET (created if missing), or join its --shared mount."""
    if shared:
        if path is not None or foreground or allow_other:
            raise click.UsageError(
                "--shared mounts at the lock's shared path: no TARGET, --foreground or --allow-other"
            )
        return mount_shared(lock, pid=pid, name=lease_name, grace=grace, offline=offline, **opts)
    if path is None or pid is not None or lease_name is not None or grace is not None:
        raise click.UsageError("give TARGET, or --shared (--pid, --name and --grace go with --shared)")
    line = mount_target(lock, path, venv=venv, offline=offline, foreground=foreground, allow_other=allow_other,
                        plan=lambda: plan_from_cli(lock, **opts), say=_say)
    if line:
        click.echo(line)


@main.command("unmount")
@click.argument("path", metavar="TARGET", type=click.Path(file_okay=False))
def unmount(path: str) -> None:
    """Unmount a vsite mount at TARGET (also after its daemon died)."""
    from vsite.store import Store

    record = registry.read_record(path)
    mountpoint.unmount(path)
    if record is not None:
        usage.unpin(Store(), record.plan_key, record.pid)


@main.command("status")
@click.option("--conflicts", "show_conflicts", is_flag=True, help="List file conflicts between wheels.")
@click.option("--all", "everything", is_flag=True, help="Also list vsite mounts made with another runtime dir.")
def status(show_conflicts: bool, everything: bool) -> None:
    """List vsite mounts: mount point, state, daemon pid, packages, files served, lock."""
    states = mountpoint.survey(everything=everything)
    if not states:
        click.echo("no vsite mounts")
        return
    for st in states:
        rec = st.record
        if rec is None:
            click.echo(f"{st.mountpoint}  {st.state}  (a vsite mount not in this registry: {registry.registry_dir()})")
            continue
        requests = st.stats.get("requests", {})
        age = int(time.time() - rec.started)
        click.echo(
            f"{rec.mountpoint}  {st.state}  pid {rec.pid}  {rec.packages} packages"
            f"  {'links into the store' if st.stats.get('links') else 'bytes via daemon'}"
            f"  {st.stats.get('files_served', 0)} files served"
            f"  {sum(requests.values())} requests  up {age}s"
            f"  {'venv' if rec.venv else 'site-packages'}  lock {rec.lock}"
        )
        if rec.stores:  # where the bytes come from: the local store and/or shared ones ($VSITE_STORE_PATH)
            click.echo("  stores: " + ", ".join(f"{root} ({n} entries)" for root, n in rec.stores.items()))
        if st.state == "dead-daemon":
            click.echo(f"  daemon is gone: run `vsite unmount {rec.mountpoint}`")
        if show_conflicts:
            for conflict in rec.conflicts:
                click.echo(f"  conflict: {conflict}")

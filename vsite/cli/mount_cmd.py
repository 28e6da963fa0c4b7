"""``vsite mount``, ``vsite unmount`` and ``vsite status``: the mount lifecycle.

``mount`` checks the mount point first (cheap, and a busy one must not cost
a download), plans, fetches what is missing, builds the view in this process
and then forks the daemon (``vsite.fs.daemon.spawn``), returning once the mount
answers (the fetch and the view: vsite.fs.prepare). Whatever fails, nothing is
left mounted and a mount-point directory this command created is removed again.
"""

from __future__ import annotations

import os
import time

import click

from vsite.cli import main
from vsite.cli.options import plan_from_cli, plan_options, store_path_option
from vsite.cli.run_cmd import mount_shared, shared_options
from vsite.fs import mountpoint, registry
from vsite.fs.prepare import prepare
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
    mountpoint.check_fuse()
    with mountpoint.Claim(registry.canonical_mountpoint(path)) as claim:
        _mount(claim, lock, path, venv, offline, foreground, allow_other, opts)


def _mount(claim: mountpoint.Claim, lock: str, given: str, venv: bool, offline: bool, foreground: bool,
           allow_other: bool, opts: dict) -> None:
    """``vsite mount`` while holding the mount point's claim (released once the mount answers)."""
    path, created = mountpoint.prepare_mountpoint(given)
    try:
        plan, interpreter = plan_from_cli(lock, **opts)
        store, view, record = prepare(plan, interpreter, lock, path, venv=venv, offline=offline,
                                      allow_other=allow_other, say=_say)
        if foreground:
            from vsite.fs.daemon import serve

            def ready() -> None:
                claim.release()
                click.echo(f"vsite: serving {path} (pid {os.getpid()}); Ctrl-C unmounts", err=True)

            usage.pin(store, record.plan_key, record.wheels, os.getpid())
            try:
                serve(view, record, allow_other=allow_other, on_ready=ready)
            finally:
                usage.unpin(store, record.plan_key, os.getpid())
            return
        from vsite.fs.daemon import spawn

        pid = spawn(view, record, allow_other=allow_other)
        # Keep the store's gc off these entries while the daemon lives (the
        # fetch's lock record covers them until this pin exists).
        usage.pin(store, record.plan_key, record.wheels, pid)
    except BaseException:
        if created:
            try:
                os.rmdir(path)
            except OSError:
                pass
        raise
    click.echo(f"mounted {path} ({record.packages} packages, daemon pid {pid})")


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
        if st.state == "dead-daemon":
            click.echo(f"  daemon is gone: run `vsite unmount {rec.mountpoint}`")
        if show_conflicts:
            for conflict in rec.conflicts:
                click.echo(f"  conflict: {conflict}")

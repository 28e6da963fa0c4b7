"""``vsite mount``, ``vsite unmount`` and ``vsite status``: the mount lifecycle.

``mount`` checks the mount point first (cheap, and a busy target must not cost
a download), plans, fetches what is missing, builds the view in this process
and then forks the daemon (``vsite.fs.daemon.spawn``), returning once the mount
answers. Whatever fails, nothing is left mounted and a target directory this
command created is removed again.
"""

from __future__ import annotations

import functools
import os
import sys
import time

import click

from vsite.cli import main
from vsite.cli.options import plan_from_cli, plan_options
from vsite.cli.run_cmd import mount_shared, shared_options
from vsite.fs import mountpoint, registry
from vsite.store import usage


def _fetch(store, plan, interpreter, offline: bool) -> None:
    """Fill the store for the plan: a progress bar on a terminal, one summary line if anything came in."""
    if sys.stderr.isatty():
        with click.progressbar(length=len(plan.items), label="vsite: fetching", file=sys.stderr) as bar:
            report = store.fetch(plan, interpreter, offline=offline, progress=lambda item, action: bar.update(1))
    else:
        report = store.fetch(plan, interpreter, offline=offline)
    fetched = len(report.downloaded) + len(report.from_uv_cache) + len(report.local) + len(report.built)
    if fetched:
        click.echo(f"vsite: fetched {fetched} of {len(plan.items)} packages into the store", err=True)


def _describe(conflict) -> str:
    """One conflict as ``vsite status --conflicts`` lists it."""
    same = {True: ", identical copies", False: ", copies differ", None: ""}[conflict.identical]
    return f"{conflict.path}: {conflict.winner} over {', '.join(conflict.losers)}{same}"


@functools.cache
def fast_path_notice() -> None:
    """Name on stderr, once per command, the fast paths the installed pyfuse3 build lacks
    (stock pyfuse3 works, slower). Here, not in the daemon, whose stderr is its log; from
    pyfuse3's version alone (vsite.fs.pyfuse3_build), so the CLI does not import pyfuse3."""
    from vsite.fs.pyfuse3_build import notice

    line = notice()
    if line:
        click.echo(line, err=True)


def prepare(plan, interpreter, lock: str, path: str, *, venv: bool, offline: bool, allow_other: bool = False):
    """Fetch what ``plan`` lacks and build its view for mount point ``path``: (store, view, registry record).

    Decides the data path too (vsite.fs.readonly: links into the store, for
    root through a read-only bind mount made here and released with the mount
    or by ``readonly.release`` if mounting fails). Shared by ``vsite mount``
    and the shared mounts of ``vsite run`` (vsite.shared).
    """
    from vsite.fs import readonly
    from vsite.store import Store
    from vsite.view import build_view
    from vsite.view.conflicts import warning as conflict_warning

    store = Store()
    _fetch(store, plan, interpreter, offline)
    data_path = readonly.choose(store.layout.wheels_dir(), path, allow_other=allow_other)
    if data_path.why:
        click.echo(f"vsite: {data_path.why}", err=True)
    try:
        view = build_view(plan, store, interpreter, venv_root=path if venv else None, links=data_path.links)
    except BaseException:
        readonly.release(path)
        raise
    fast_path_notice()
    found = view.conflicts()
    line = conflict_warning(found)
    if line:
        click.echo(f"vsite: warning: {line}", err=True)
    record = registry.MountRecord(
        target=path,
        lock=os.path.abspath(lock),
        plan_key=plan.key(),
        packages=sum(1 for item in plan.items if item.kind != "virtual"),
        wheels=sorted(k for k in (store.key(i) for i in plan.items) if k),
        venv=venv,
        conflicts=[_describe(c) for c in found],
    )
    return store, view, record


@main.command("mount")
@click.argument("lock", type=click.Path(dir_okay=False))
@click.argument("target", type=click.Path(file_okay=False), required=False)
@plan_options
@click.option("--venv", "venv", is_flag=True, help="Mount a whole virtual environment at TARGET, not just site-packages.")
@click.option("--offline", is_flag=True, help="Use only wheels already in the store.")
@click.option("--foreground", is_flag=True, help="Serve in this process until unmounted or interrupted.")
@click.option("--allow-other", is_flag=True, help="Let other users see the mount (needs user_allow_other).")
@shared_options
def mount(lock: str, target: str | None, venv: bool, offline: bool, foreground: bool, allow_other: bool,
          shared: bool, pid: int | None, lease_name: str | None, grace: float | None, **opts) -> None:
    """Mount the environment LOCK describes at TARGET (created if missing), or join its --shared mount."""
    if shared:
        if target is not None or foreground or allow_other:
            raise click.UsageError("--shared mounts at the lock's shared path: no TARGET, --foreground or --allow-other")
        return mount_shared(lock, pid=pid, name=lease_name, grace=grace, offline=offline, **opts)
    if target is None or pid is not None or lease_name is not None or grace is not None:
        raise click.UsageError("give TARGET, or --shared (--pid, --name and --grace go with --shared)")
    mountpoint.check_fuse()
    with mountpoint.Claim(registry.canonical_target(target)) as claim:
        _mount(claim, lock, target, venv, offline, foreground, allow_other, opts)


def _mount(claim: mountpoint.Claim, lock: str, target: str, venv: bool, offline: bool, foreground: bool,
           allow_other: bool, opts: dict) -> None:
    """``vsite mount`` while holding the target's claim (released once the mount answers)."""
    path, created = mountpoint.prepare_target(target)
    try:
        plan, interpreter = plan_from_cli(lock, **opts)
        store, view, record = prepare(plan, interpreter, lock, path, venv=venv, offline=offline,
                                      allow_other=allow_other)
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
        from vsite.fs import readonly

        readonly.release(path)
        if created:
            try:
                os.rmdir(path)
            except OSError:
                pass
        raise
    click.echo(f"mounted {path} ({record.packages} packages, daemon pid {pid})")


@main.command("unmount")
@click.argument("target", type=click.Path(file_okay=False))
def unmount(target: str) -> None:
    """Unmount a vsite mount at TARGET (also after its daemon died)."""
    from vsite.store import Store

    record = registry.read_record(target)
    mountpoint.unmount(target)
    if record is not None:
        usage.unpin(Store(), record.plan_key, record.pid)


@main.command("status")
@click.option("--conflicts", "show_conflicts", is_flag=True, help="List file conflicts between wheels.")
@click.option("--all", "everything", is_flag=True, help="Also list vsite mounts made with another runtime dir.")
def status(show_conflicts: bool, everything: bool) -> None:
    """List vsite mounts: target, state, daemon pid, packages, files served, lock."""
    states = mountpoint.survey(everything=everything)
    if not states:
        click.echo("no vsite mounts")
        return
    for st in states:
        rec = st.record
        if rec is None:
            click.echo(f"{st.target}  {st.state}  (a vsite mount not in this registry: {registry.registry_dir()})")
            continue
        requests = st.stats.get("requests", {})
        age = int(time.time() - rec.started)
        click.echo(
            f"{rec.target}  {st.state}  pid {rec.pid}  {rec.packages} packages"
            f"  {'links into the store' if st.stats.get('links') else 'bytes via daemon'}"
            f"  {st.stats.get('files_served', 0)} files served"
            f"  {sum(requests.values())} requests  up {age}s"
            f"  {'venv' if rec.venv else 'site-packages'}  lock {rec.lock}"
        )
        if st.state == "dead-daemon":
            click.echo(f"  daemon is gone: run `vsite unmount {rec.target}`")
        if show_conflicts:
            for conflict in rec.conflicts:
                click.echo(f"  conflict: {conflict}")

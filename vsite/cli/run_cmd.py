"""``vsite run``, ``vsite mount --shared`` and ``vsite release``: workers on a shared mount.

``vsite run LOCK -- CMD`` joins (or starts) the environment's shared mount,
taking a lease that is the open connection to the daemon plus its own pid,
then *execs* CMD with the venv's bin/ first on PATH: CMD gets vsite's pid,
its signals and its exit status untouched, no process stays behind, and the
lease (the connection, inherited across exec, and the pid, unchanged by exec)
ends when CMD and any child still holding the connection are gone, SIGKILL
included. docs/run.md has the reasoning and the measurements.

Most workers never get here: ``vsite.entry`` joins a live mount without
loading click. This is the full path (options, starting the mount, errors);
trio, pyfuse3, the store and the view are imported only by the one worker
that has to start the daemon.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import click

from vsite.cli import main
from vsite.cli.options import plan_from_cli, plan_options, store_path_option
from vsite.shared.execenv import exec_in_venv, lease_name_ok


def _lease_name(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not lease_name_ok(value):
        raise click.BadParameter("letters, digits and _.:@+=- only, at most 200")
    return value


def grace_option(command: Callable) -> Callable:
    return click.option(
        "--grace", type=click.FloatRange(min=0), default=None, metavar="SECONDS",
        help="How long the mount outlives its last lease, if this command starts it "
             "(default: $VSITE_GRACE, else 3).",
    )(command)


def shared_options(command: Callable) -> Callable:
    """``vsite mount``'s options for a shared mount."""
    for option in reversed([
        click.option("--shared", is_flag=True, help="Join (or start) the lock's shared mount and print its path."),
        click.option("--pid", type=click.IntRange(min=1), default=None,
                     help="With --shared: hold the lease while process PID lives "
                          "(default: the caller, vsite's parent)."),
        click.option("--name", "lease_name", default=None, callback=_lease_name,
                     help="With --shared: hold a named lease until `vsite release --name NAME`."),
    ]):
        command = option(command)
    return grace_option(command)


def _join(lock: str, request: str, grace: float | None, offline: bool, opts: dict):
    """(env, lease connection) of the lock's shared mount, joined or started; the join index entry
    written, so that the next `vsite run LOCK -- ...` or `mount --shared LOCK` joins from sh."""
    from vsite.shared.env import grace_period
    from vsite.shared.join import join
    from vsite.shared.launch import remember

    plan, target = plan_from_cli(lock, **opts)
    env, sock = join(plan, target, lock, request, grace=grace_period(grace), offline=offline)
    remember(lock, opts.get("python"), plan, env)
    return env, sock


def mount_shared(lock: str, *, pid: int | None, name: str | None, grace: float | None, offline: bool, **opts) -> None:
    """``vsite mount --shared``: take a pid lease (or a named one) and print the venv path."""
    if pid is not None and name is not None:
        raise click.UsageError("--pid and --name are two kinds of lease: give one")
    request = f"name {name}" if name is not None else f"hold {pid or os.getppid()}"
    env, sock = _join(lock, request, grace, offline, opts)
    sock.close()  # a pid lease outlives the connection; a named one lives until released
    click.echo(env.venv)


@main.command("run")
@click.argument("lock", type=click.Path(dir_okay=False))
@click.argument("cmd", nargs=-1, required=True, type=click.UNPROCESSED)
@plan_options
@grace_option
@click.option("--offline", is_flag=True, help="Use only wheels already in the store (if this starts the mount).")
@store_path_option
def run(lock: str, cmd: tuple[str, ...], grace: float | None, offline: bool, **opts) -> None:
    """Run CMD in the environment LOCK describes, on its shared mount (`vsite run LOCK -- CMD ...`).

    CMD replaces vsite (same pid, its own signals and exit status) with the
    venv's bin/ first on PATH and VIRTUAL_ENV set; the mount stays while CMD
    runs and goes a grace period after the last worker using it.
    """
    env, sock = _join(lock, f"hold {os.getpid()}", grace, offline, opts)
    exec_in_venv(env.venv, cmd, sock.detach())


@main.command("release")
@click.option("--name", "lease_name", required=True, callback=_lease_name, help="The named lease to drop.")
def release(lease_name: str) -> None:
    """Drop a named lease (`vsite mount --shared --name NAME`) from every shared mount that holds it."""
    from vsite.shared import client
    from vsite.shared.env import all_envs

    dropped = [env.venv for env in all_envs() if client.release(env, lease_name)]
    for venv in dropped:
        click.echo(f"released {lease_name} on {venv}")
    if not dropped:
        click.echo(f"vsite: no shared mount holds a lease named {lease_name}", err=True)

"""The ``vsite`` command line: one click group; each stage's commands live in their own module.

Errors of input or environment (:class:`vsite.errors.VsiteError`) end the
command with ``vsite: <cause>`` on one line and the error's exit status.
"""

from __future__ import annotations

import sys

import click

from vsite import __version__
from vsite.errors import VsiteError


class VsiteGroup(click.Group):
    """A group that turns VsiteError into one line on stderr and its exit code."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except VsiteError as exc:
            click.echo(f"vsite: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("vsite: interrupted", err=True)
            sys.exit(130)


@click.group(cls=VsiteGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vsite")
def main() -> None:
    """Python environments as one read-only FUSE mount of a shared wheel store."""


def _register() -> None:
    """Attach each stage's commands. One import per module keeps start-up small."""
    from vsite.cli import commands  # noqa: F401 - the modules add themselves to main


_register()

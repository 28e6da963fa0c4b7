"""Imports every command module so each registers itself on :data:`vsite.cli.main`."""
from vsite.cli import plan_cmd  # noqa: F401 - imported for its commands
from vsite.cli import fetch_cmd  # noqa: F401 - imported for its commands
from vsite.cli import cache_cmd  # noqa: F401 - imported for its commands
from vsite.cli import mount_cmd  # noqa: F401 - imported for its commands
from vsite.cli import run_cmd  # noqa: F401 - imported for its commands
from vsite.cli import doctor_cmd  # noqa: F401 - imported for its commands

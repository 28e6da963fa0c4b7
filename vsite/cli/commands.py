"""Imports every command module so each registers itself on :data:`vsite.cli.main`."""

"""Errors that end a command with one line and a chosen exit status.

Every stage raises a subclass of :class:`VsiteError` for bad input; the CLI
prints ``vsite: <message>`` and exits with ``exit_code``, never a traceback.
"""

from __future__ import annotations


class VsiteError(Exception):
    """A failure caused by input or environment, reported as one line."""

    exit_code: int = 1

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:  # one line, always
        return " ".join(str(self.args[0]).split()) if self.args else type(self).__name__


class LockError(VsiteError):
    """The lockfile cannot be read: not TOML, unknown version, missing field, dangling reference."""

    exit_code = 2


class PlanError(VsiteError):
    """The lock cannot be planned for the target (no compatible wheel, conflicting options)."""

    exit_code = 2


class TargetError(VsiteError):
    """The target interpreter cannot be run or described."""

    exit_code = 2


class StoreError(VsiteError):
    """Fetching, verifying or unpacking a wheel failed (hash mismatch, bad archive, network)."""

    exit_code = 1


class MountError(VsiteError):
    """A mount could not be made, found or removed."""

    exit_code = 1

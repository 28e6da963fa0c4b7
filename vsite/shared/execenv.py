"""Replace the current process with a command run inside a shared venv."""

from __future__ import annotations

import os
from collections.abc import Sequence

from vsite.errors import VsiteError


def exec_in_venv(venv: str, cmd: Sequence[str], lease_fd: int) -> None:
    """exec ``cmd`` with ``venv``'s bin/ first on PATH, VIRTUAL_ENV set, PYTHONHOME unset.

    ``lease_fd`` (the lease connection) is made inheritable, so CMD holds it.
    Fails like a shell: 127 if CMD is not found, 126 if it cannot be run.
    """
    env = dict(os.environ)
    env["VIRTUAL_ENV"] = venv
    env["PATH"] = os.pathsep.join(p for p in (os.path.join(venv, "bin"), env.get("PATH")) if p)
    env.pop("PYTHONHOME", None)
    os.set_inheritable(lease_fd, True)
    try:
        os.execvpe(cmd[0], list(cmd), env)
    except FileNotFoundError:
        raise VsiteError(f"{cmd[0]}: command not found", exit_code=127) from None
    except OSError as exc:
        raise VsiteError(f"cannot run {cmd[0]}: {exc.strerror}", exit_code=126) from None

"""``vsite run LOCK [--python PY] -- CMD``'s own parts: its plain form, and the exec of CMD in the venv.

Imported by the console script before anything heavy (vsite.entry), so only os.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from vsite.errors import VsiteError


START_GATE = "VSITE_START_FD"  # set by the sh launcher for the worker that starts the mount


def parse_run(argv: list[str]) -> tuple[str, str | None, list[str]] | None:
    """(LOCK, python, CMD) of ``run LOCK [--python PATH] -- CMD...``, None for any other command line."""
    if argv[:1] != ["run"] or "--" not in argv:
        return None
    split = argv.index("--")
    head, cmd = argv[1:split], argv[split + 1:]
    python = None
    if len(head) == 3 and "--python" in head[:2]:
        at = head.index("--python")
        python = head[at + 1]
        head = head[:at] + head[at + 2:]
    if len(head) != 1 or head[0].startswith("-") or not cmd:
        return None
    return head[0], python, cmd


def release_start_gate() -> None:
    """Close the sh launcher's start gate, if this process holds it: the other workers of a mount
    that was not live wait on it (``flock -s``, bin/vsite) and join from sh once it is closed,
    which is when this worker has its lease. Neither CMD nor its environment keep it."""
    fd = os.environ.pop(START_GATE, None)
    if fd is not None:
        try:
            os.close(int(fd))
        except (ValueError, OSError):
            pass


def exec_in_venv(venv: str, cmd: Sequence[str], lease_fd: int) -> None:
    """exec ``cmd`` with ``venv``'s bin/ first on PATH, VIRTUAL_ENV set, PYTHONHOME unset.

    ``lease_fd`` (the lease connection) is made inheritable, so CMD holds it.
    Fails like a shell: 127 if CMD is not found, 126 if it cannot be run.
    """
    release_start_gate()
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

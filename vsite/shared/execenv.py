"""The click-free command lines of shared mounts -- ``vsite run LOCK [--python PY] -- CMD`` and
``vsite mount --shared LOCK ...`` -- and the exec of CMD in the venv.

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


LEASE_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:@+=-")


def lease_name_ok(name: str) -> bool:
    """A named lease's name (``--name``): letters, digits and ``_.:@+=-``, 1 to 200 of them."""
    return 0 < len(name) <= 200 and set(name) <= LEASE_NAME_CHARS


def parse_shared(argv: list[str], parent: int) -> tuple[str, str | None, str, float | None, bool] | None:
    """(LOCK, python, lease request, grace, offline) of ``mount --shared LOCK [--python PATH] [--offline]
    [--grace SECONDS] [--name NAME | --pid PID]``, options in any order, each at most once; the lease
    request is the lease server's line (``hold PID``, by default ``hold <parent>``, or ``name NAME``).
    None for any other command line, a value that is not valid included: the click CLI parses that one
    and reports what is wrong."""
    if argv[:1] != ["mount"] or "--shared" not in argv:
        return None
    flags: set[str] = set()
    values: dict[str, str] = {}
    positional = []
    words = iter(argv[1:])
    for word in words:
        if word in ("--shared", "--offline") and word not in flags:
            flags.add(word)
        elif word in ("--python", "--grace", "--name", "--pid") and word not in values:
            value = next(words, None)
            if value is None or value.startswith("-"):
                return None
            values[word] = value
        elif word.startswith("-") or not word:
            return None
        else:
            positional.append(word)
    if len(positional) != 1 or os.path.isdir(positional[0]) or ("--name" in values and "--pid" in values):
        return None  # (a directory as LOCK: click's own usage error)
    try:
        grace = float(values["--grace"]) if "--grace" in values else None
        pid = int(values.get("--pid", parent))
    except ValueError:
        return None
    name = values.get("--name")
    if (grace is not None and not grace >= 0) or pid < 1 or (name is not None and not lease_name_ok(name)):
        return None
    lease = f"name {name}" if name is not None else f"hold {pid}"
    return positional[0], values.get("--python"), lease, grace, "--offline" in flags


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

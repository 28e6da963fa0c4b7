"""The sh launcher's join (``vsite/shared/bin/vsite``): its index, written here, and its check, in the daemon.

``vsite run LOCK [--python PY] -- CMD`` is what every worker runs, and a Python
start costs as much CPU as the worker's own interpreter start, so the installed
``vsite`` is a POSIX sh script that joins a live shared mount without Python
(docs/startup.md). It needs two things a shell can do:

- find the mount: the *join index*, one small file per (lock path, interpreter
  path) at ``runtime_dir()/join/<LOCK>/@/<PY>`` holding the shared venv's path
  and PY. The key is the two strings the launcher computes (LOCK made absolute
  against ``$PWD``, PY found on ``PATH`` as ``shutil.which`` does), mirrored by
  :func:`launcher_paths`; a Python join writes the entry (:func:`remember`)
  when the launcher would find it and the daemon would accept it;
- take a lease: a stat of ``$venv/.vsite-join`` (:data:`JOIN_NAME`; for ``vsite mount
  --shared``, :data:`PARENT_NAME`, whose lease is on the launcher's caller) is a FUSE
  lookup, which the daemon answers (vsite.fs.probe) with the requester's pid in
  hand. :class:`JoinCheck` accepts it only if the files the launcher holds open
  as fds 6, 7 and 8 -- the index entry, the lock, the interpreter -- are this
  environment's: the lock's bytes hash to the plan's (a stat fingerprint
  remembers a lock already hashed), the interpreter's identity
  (vsite.target.identity_of) is the plan's. The server (vsite.shared.server)
  then holds a pid lease with a pidfd, as for ``hold <pid>``.

So the index can go stale (the lock edited, the interpreter upgraded) without
harm: the daemon refuses, the launcher hands the command to the Python CLI,
which plans and joins (or starts) the right mount and rewrites the entry.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from vsite.paths import runtime_dir

if TYPE_CHECKING:
    from vsite.plan.model import Plan
    from vsite.shared.env import SharedEnv

JOIN_NAME = b".vsite-join"  # the name at a shared venv's root whose lookup is a join
# ... and whose lookup is a plain pid lease on the requester, with no check of what it runs: the Ray
# plugin's worker start command (vsite.ray.env), which the agent wrote for this very mount.
HOLD_NAME = b".vsite-hold"
# ... and whose lookup is a join (the same check) leasing the requester's parent: the launcher's
# ``vsite mount --shared LOCK [--python PY]``, whose lease is on its caller, as the CLI's default.
PARENT_NAME = b".vsite-join-parent"
ENTRY_FD, LOCK_FD, PYTHON_FD = 6, 7, 8  # what the launcher holds open while it looks the name up
_MAX_KNOWN_LOCKS = 64


def _plain(path: str) -> bool:
    """An absolute path the launcher keys on: no empty, ``.``, ``..`` or ``@`` component, no newline."""
    parts = path.split("/")
    return (path.startswith("/") and "\n" not in path and len(path) > 1
            and all(p not in ("", ".", "..", "@") for p in parts[1:]))


def _shell_pwd() -> str:
    """``$PWD`` as sh keeps it: the inherited value if it names the current directory, else getcwd()."""
    pwd = os.environ.get("PWD", "")
    if pwd.startswith("/"):
        try:
            if os.path.samestat(os.stat(pwd), os.stat(".")):
                return pwd
        except OSError:
            pass
    return os.getcwd()


def _absolute(path: str) -> str:
    if path.startswith("/"):
        return path
    while path.startswith("./"):
        path = path[2:]
    return f"{_shell_pwd()}/{path}"


def _which(name: str) -> str | None:
    """The launcher's PATH search: sh's field splitting of ``$PATH`` on ``:``, stopping at a relative entry."""
    value = os.environ.get("PATH")
    if value is None:
        return None
    dirs = value.split(":")
    if dirs and dirs[-1] == "":
        dirs.pop()  # sh drops a trailing empty field
    for d in dirs:
        if not d.startswith("/"):
            return None
        candidate = f"{d}/{name}"
        if os.access(candidate, os.X_OK) and not os.path.isdir(candidate):
            return candidate
    return None


def launcher_paths(lock: str, python: str | None) -> tuple[str, str] | None:
    """The (LOCK, PY) strings the launcher keys the index on for ``run LOCK [--python PY]``, or None
    where it would not look (and hands the command to the CLI)."""
    if not lock or lock.startswith("-"):
        return None
    py = _absolute(python) if python and "/" in python else _which(python or "python3")
    lock = _absolute(lock)
    if py is None or not _plain(lock) or not _plain(py):
        return None
    return lock, py


def index_path(lock: str, python: str) -> str:
    """The index entry for the launcher's (LOCK, PY) strings."""
    return f"{runtime_dir()}/join{lock}/@{python}"


def prune_index(*, dry_run: bool = False) -> int:
    """Remove the join index entries naming a venv that is not mounted now, and the directories
    that leaves empty; returns how many entries (``vsite cache gc``; ``dry_run``: only count them).
    An entry only saves the next worker a Python start, and a Python join writes it again when it
    joins or starts that mount; without this, a node whose lock paths come and go (a CI runner's checkouts, a notebook
    server's projects) keeps one per lock path, with a directory per path component, in the
    runtime dir (often a tmpfs: memory). Never touches a mount: a dead daemon's would hang."""
    from vsite.fs.registry import vsite_mounts

    root = f"{runtime_dir()}/join"
    live = set(vsite_mounts())
    removed = 0
    for dirpath, _, filenames in os.walk(root, topdown=False):
        for name in filenames:
            path = os.path.join(dirpath, name)
            try:
                with open(path, encoding="utf-8") as f:
                    venv = f.readline().rstrip("\n")
                parent, base = os.path.split(venv)
                if venv in live or os.path.join(os.path.realpath(parent), base) in live:
                    continue
                if not dry_run:
                    os.unlink(path)
            except (OSError, ValueError):
                continue  # gone meanwhile, or not ours: best effort, as writing it is
            removed += 1
        if dirpath != root and not dry_run:
            try:
                os.rmdir(dirpath)  # only if empty
            except OSError:
                pass
    return removed


def remember(lock: str, python: str | None, plan: "Plan", env: "SharedEnv") -> None:
    """Write the index entry a launcher's ``run LOCK [--python PY]`` would read, if the daemon of
    ``env`` would accept that join: no options, no local sources (their env key is the lock's
    path), the launcher's strings naming the lock that was planned and the plan's interpreter.
    Best effort: a miss only costs the next worker the Python path."""
    from vsite.target import identity

    if plan.options or env.env_key != plan.key():
        return
    paths = launcher_paths(lock, python)
    if paths is None:
        return
    lock_path, py = paths
    content = f"{env.venv}\n{py}\n"
    where = index_path(lock_path, py)
    try:
        if not os.path.samefile(lock_path, lock) or identity(py) != plan.target_identity:
            return
        try:
            with open(where, encoding="utf-8") as f:
                if f.read() == content:
                    return
        except OSError:
            pass
        os.makedirs(os.path.dirname(where), exist_ok=True)
        tmp = f"{where}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(content)
        os.replace(tmp, where)
    except (OSError, ValueError):
        pass


@dataclass
class JoinCheck:
    """The daemon's side: is the process asking (a launcher in its lookup) joining *this* environment?

    Runs on the daemon's trio thread, inside a FUSE lookup of this very mount: it must never touch
    a path inside the mount (that request could not be served), so it reads only ``/proc/<pid>/fd``
    links and refuses any that lead into the mount.
    """

    venv: str  # the mount point, as given
    real_venv: str  # the same with symlinks resolved (what /proc's links show), computed before mounting
    lock_sha256: str
    target_identity: str
    known_locks: set[tuple[int, ...]] = field(default_factory=set)  # stat fingerprints of locks hashed

    def accepts(self, pid: int) -> bool:
        from vsite.target import identity_of

        fds = f"/proc/{pid}/fd/"
        try:
            links = [os.readlink(f"{fds}{fd}") for fd in (ENTRY_FD, LOCK_FD, PYTHON_FD)]
            if any(link == self.real_venv or link.startswith(self.real_venv + "/") for link in links):
                return False
            with open(f"{fds}{ENTRY_FD}", "rb") as f:
                venv, executable = f.read(65536).decode().split("\n")[:2]
            if venv != self.venv:
                return False
            if identity_of(executable, links[2], os.stat(f"{fds}{PYTHON_FD}")) != self.target_identity:
                return False
            st = os.stat(f"{fds}{LOCK_FD}")
            fingerprint = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
            if fingerprint in self.known_locks:
                return True
            with open(f"{fds}{LOCK_FD}", "rb") as f:
                if hashlib.sha256(f.read()).hexdigest() != self.lock_sha256:
                    return False
            if len(self.known_locks) >= _MAX_KNOWN_LOCKS:
                self.known_locks.clear()
            self.known_locks.add(fingerprint)
            return True
        except (OSError, ValueError):
            return False

"""Where a mount's links into the store lead, and why nothing can write through them.

A view presents each subtree unique to one wheel as a symlink into the store
(vsite.view.tree.StoreLinks), so the kernel reads the store's files itself.
A process that can write where a link leads could change the store through
an environment: Python writes missing ``.pyc`` files next to their sources,
``pip uninstall`` unlinks, an editor saves in place. Who can reach the links
decides what protects the store:

- **a user's own mount** (no ``--allow-other``): only that user can walk it
  (FUSE refuses every other uid, root included). The store's sealed modes
  (dirs 0o555, files 0o444/0o555, vsite.store.seal) refuse the user's writes,
  so the links lead straight into the store;
- **root**: root ignores modes, so the links lead into a *read-only bind mount*
  of the store's entries at :func:`bind_path`, made by the mount's daemon
  before it mounts (:func:`hold`) and detached when it ends, so the bind lives
  exactly as long as the daemon (a SIGKILLed daemon's is detached by ``vsite
  unmount`` or the next mount there, with its dead FUSE mount); every write
  through it fails with EROFS, whatever the caller's privileges, and the page
  cache is the store's (same inodes);
- **a user's mount with ``--allow-other``**: root could reach the links and a
  user cannot make a bind mount, so the daemon serves the bytes (no links);
  also when root cannot bind-mount (no CAP_SYS_ADMIN, e.g. a container), or
  when other users could not traverse the bind mount's path.

A view may take entries from several stores: the local one and shared stores
of the search path (vsite.store.search). Each store the view uses gets its own
pair in the links (vsite.view.tree.StoreLinks): for a user straight into it;
for root into its own read-only bind (``bind_path(mountpoint, n)``), except a
store on a read-only filesystem (``statvfs`` ST_RDONLY: a squashfs image, a
read-only NFS export, CVMFS), where the kernel refuses every write already and
the links lead straight into it.

``VSITE_LINKS=0`` turns links off (the daemon serves every byte): for
diagnosis and for benchmarks of the two data paths.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from vsite.errors import MountError
from vsite.paths import runtime_dir
from vsite.view.tree import StoreLinks

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MNT_DETACH = 0x2


@dataclass(frozen=True)
class DataPath:
    """How a mount's file bytes reach readers: ``links`` (None: through the daemon) and why."""

    links: StoreLinks | None
    why: str  # one line for the user when links are off, "" when on


def _digest(mountpoint: str) -> str:
    return hashlib.sha256(os.fsencode(mountpoint)).hexdigest()[:16]


def bind_path(mountpoint: str, n: int = 0) -> Path:
    """The read-only bind mount of the ``n``-th store that root's mount at ``mountpoint``
    links into (0: the first store the view uses, normally the local one)."""
    name = _digest(mountpoint) + (f"-{n}" if n else "")
    return runtime_dir() / "store-ro" / name


def read_only_fs(path: str | os.PathLike) -> bool:
    """Whether ``path`` lies on a filesystem mounted read-only (statvfs ST_RDONLY)."""
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def choose(stores: Path | Sequence[Path], mountpoint: str, *, allow_other: bool) -> DataPath:
    """Decide where ``mountpoint``'s links into ``stores`` lead: the directories of entries
    (``v2/wheels``) of every store the view takes entries from. No side effect: for root,
    the daemon makes the read-only binds (:func:`hold`)."""
    entries = [str(stores)] if isinstance(stores, (str, os.PathLike)) else [str(s) for s in stores]
    if os.environ.get("VSITE_LINKS") == "0":
        return DataPath(None, "VSITE_LINKS=0: the daemon serves every file")
    if not entries:
        return DataPath(None, "")  # nothing from any store (virtual items only)
    if os.geteuid() != 0:
        if allow_other:
            why = "--allow-other as a user: the daemon serves every file (root could write through links)"
            return DataPath(None, why)
        return DataPath(StoreLinks.of((store, store) for store in entries), "")
    if not _can_mount():
        return DataPath(None, "no CAP_SYS_ADMIN for a read-only bind of the store: the daemon serves every file")
    if allow_other and not _others_can_traverse(runtime_dir()):
        return DataPath(None, f"{runtime_dir()} is not searchable by other users: the daemon serves every file")
    pairs = [
        (store, store) if read_only_fs(store) else (store, str(bind_path(mountpoint, n)))  # read-only fs: no bind
        for n, store in enumerate(entries)
    ]
    return DataPath(StoreLinks.of(pairs), "")


@contextlib.contextmanager
def hold(links: StoreLinks | None) -> Iterator[None]:
    """While the block runs, the read-only bind mounts ``links`` lead into exist (root's mounts:
    one per store on a writable filesystem; nothing to do where links lead into a store
    itself). Run by the daemon around its mount. A failure is a MountError."""
    binds = [(Path(store), Path(root)) for store, root in (links.pairs if links else ()) if root != store]
    made: list[Path] = []
    try:
        for store, at in binds:
            bind_read_only(store, at)
            made.append(at)
            if at.parent.stat().st_mode & 0o777 != 0o755:
                os.chmod(at.parent, 0o755)  # other users of an --allow-other mount walk through it
    except OSError as exc:
        for at in made:
            release_path(at)
        raise MountError(f"cannot bind-mount the store read-only at {exc.filename}: {exc.strerror}"
                         " (VSITE_LINKS=0 serves every file from the daemon instead)") from None
    try:
        yield
    finally:
        for at in made:
            release_path(at)


def _can_mount() -> bool:
    """Whether this process has CAP_SYS_ADMIN (a container's root often has not)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) & (1 << 21))
    except (OSError, ValueError, IndexError):
        pass
    return False


def bind_read_only(source: Path, at: Path) -> None:
    """Bind ``source`` read-only at ``at`` (created; an earlier bind there is detached first)."""
    release_path(at)
    at.mkdir(parents=True, exist_ok=True)
    _mount(str(source), str(at), MS_BIND)
    try:
        _mount(None, str(at), MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
    except OSError:
        release_path(at)
        raise


def release(mountpoint: str) -> None:
    """Detach and remove the read-only bind mounts of ``mountpoint``, if there are any (idempotent)."""
    if os.geteuid() != 0:
        return
    first = bind_path(mountpoint)
    try:
        names = os.listdir(first.parent)
    except OSError:
        return
    for name in names:
        if name == first.name or name.startswith(first.name + "-"):
            release_path(first.parent / name)


def release_path(at: Path) -> None:
    """Detach whatever is mounted at ``at`` (lazily: readers inside keep working) and remove the dir."""
    while _mounted(at):
        if _libc().umount2(os.fsencode(at), MNT_DETACH) != 0:
            err = ctypes.get_errno()
            if err in (errno.EINVAL, errno.ENOENT):
                break
            raise OSError(err, os.strerror(err), str(at))
    try:
        at.rmdir()
    except FileNotFoundError:
        pass
    except OSError:
        pass  # not empty: not ours to remove


def _mounted(at: Path) -> bool:
    """Whether something is mounted at ``at`` (os.path.ismount misses a bind mount
    from the same filesystem: its device and its parent's are the same)."""
    want = os.path.abspath(at)
    try:
        with open("/proc/self/mountinfo", "rb") as f:
            for line in f:
                point = line.split(b" ", 5)[4]
                if _unescape(point) == want:
                    return True
    except OSError:
        return False
    return False


def _unescape(field: bytes) -> str:
    """A mountinfo path: spaces, tabs, newlines and backslashes are written as octal escapes."""
    return os.fsdecode(re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m.group(1), 8)]), field))


def _others_can_traverse(path: Path) -> bool:
    """Whether every directory from / down to ``path`` is searchable by other users."""
    for part in [path, *path.parents]:
        try:
            if not os.stat(part).st_mode & 0o001:
                return False
        except OSError:
            return False
    return True


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _mount(source: str | None, target: str, flags: int) -> None:
    src = os.fsencode(source) if source is not None else None
    if _libc().mount(src, os.fsencode(target), None, ctypes.c_ulong(flags), None) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), target)

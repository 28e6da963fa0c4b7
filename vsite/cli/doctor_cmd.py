"""``vsite doctor``: can this machine mount vsite environments, and with the fast paths on?

One line per check, ``ok``, ``warn``, ``FAIL`` or ``info``, every FAIL and warn
with its fix; exit 0 when nothing FAILed, 1 otherwise; ``--json`` prints the
same as a list. docs/install.md lists the checks and what each fix does.

What counts as a FAIL (the exit status answers "is this node installed so
that vsite mounts work as designed"):

- no usable /dev/fuse, no fusermount3 (or, not as root, one that is not
  setuid root or sits on a nosuid filesystem), no CAP_SYS_ADMIN where the mount
  needs it: a mount fails;
- pyfuse3 missing or not loading (libfuse3.so.3 absent): a mount fails;
- stock pyfuse3 on a kernel that has zero-message open (>= 5.1): mounts work,
  but every open(2) through them costs the daemon two requests, which is the
  install mistake (``pip install vsite`` from an index) this command exists to
  catch; on an older kernel the patch buys nothing, so it is only a warn;
- a store or runtime dir this user cannot write: ``fetch`` unpacks into the
  store, and ``mount`` writes its pins (gc protection) there and its record
  into the runtime dir, so even a store whose entries are all present fails to
  mount if it is read-only.

Warnings: an old kernel (no zero-message open before 5.1, no symlink caching
before 4.20), zero-message open switched off (``VSITE_FS_NO_OPEN=0``), no
``user_allow_other`` (only ``--allow-other`` needs it), a store on a network
filesystem (cold reads stall the daemon: docs/fs.md) or with little free space.

Everything is read from files, ``os`` calls and package metadata; only the
pyfuse3 check imports pyfuse3 (through ``vsite.fs.operations``, the code the
daemon uses to pick its mode), because loading the binary is the check that
libfuse3 is there. :class:`Host` holds what the checks look at, so tests can
point them elsewhere.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import click

from vsite.cli import main
from vsite.fs import pyfuse3_build

OK, WARN, FAIL, INFO = "ok", "warn", "FAIL", "info"

CAP_SYS_ADMIN = 21
LOW_SPACE = 1 << 30  # a warn below 1 GiB free in the store
# Where a cold read is a network round trip (or worse) on the daemon's one thread.
NETWORK_FS = ("nfs", "nfs4", "cifs", "smb3", "smbfs", "lustre", "gpfs", "beegfs", "glusterfs", "ceph",
              "9p", "afs", "sshfs", "fuse.sshfs", "fuse.glusterfs", "fuse.ceph-fuse", "fuse.s3fs")
INSTALL_DOC = "docs/install.md"
ZERO_OPEN_KERNEL = (5, 1)
SYMLINK_CACHE_KERNEL = (4, 20)


@dataclass
class Check:
    name: str
    status: str
    detail: str
    fix: str = ""

    def line(self) -> str:
        fix = f"; fix: {self.fix}" if self.fix and self.status in (FAIL, WARN) else ""
        return f"{self.status:<5} {self.name:<15} {self.detail}{fix}"


def _installed_pyfuse3() -> str | None:
    import importlib.metadata

    try:
        return importlib.metadata.version("pyfuse3")
    except importlib.metadata.PackageNotFoundError:
        return None


def _daemon_passes_inode() -> bool:
    """The daemon's own test (imports pyfuse3: an ImportError means it does not load)."""
    from vsite.fs.operations import pyfuse3_passes_inode

    return pyfuse3_passes_inode()


@dataclass
class Host:
    """What the checks look at; the defaults are this machine and this process."""

    dev_fuse: str = "/dev/fuse"
    fuse_conf: str = "/etc/fuse.conf"
    proc_filesystems: str = "/proc/filesystems"
    proc_status: str = "/proc/self/status"
    kernel_release: str = field(default_factory=lambda: os.uname().release)
    euid: int = field(default_factory=os.geteuid)
    pyfuse3_version: Callable[[], str | None] = _installed_pyfuse3
    pyfuse3_passes_inode: Callable[[], bool] = _daemon_passes_inode


def current_host() -> Host:
    return Host()


def kernel_version(release: str) -> tuple[int, int] | None:
    match = re.match(r"(\d+)\.(\d+)", release)
    return (int(match.group(1)), int(match.group(2))) if match else None


def _capabilities(host: Host, which: str) -> int | None:
    """A capability mask (``CapEff``, ``CapBnd``) of this process, None if unreadable."""
    try:
        with open(host.proc_status) as status:
            for line in status:
                if line.startswith(which + ":"):
                    return int(line.split()[1], 16)
    except (OSError, ValueError, IndexError):
        pass
    return None


# --- the checks, in the order printed ---------------------------------------------------


def check_vsite(host: Host) -> Check:
    from vsite import __version__

    return Check("vsite", INFO, f"vsite {__version__} on Python {sys.version.split()[0]} ({sys.executable})")


def check_fuse_device(host: Host) -> Check:
    name = "fuse-device"
    container = "in a container: --device /dev/fuse"
    try:
        st = os.stat(host.dev_fuse)
    except FileNotFoundError:
        loaded = _fuse_registered(host)
        why = "the fuse module is loaded but the device node is missing" if loaded else "no fuse module loaded"
        return Check(name, FAIL, f"no {host.dev_fuse} ({why})",
                     f"modprobe fuse on the host; {container} (docker/podman run, docs/install.md)")
    except OSError as exc:
        return Check(name, FAIL, f"cannot stat {host.dev_fuse}: {exc.strerror}", container)
    if not stat.S_ISCHR(st.st_mode):
        return Check(name, FAIL, f"{host.dev_fuse} is not a character device",
                     f"{container}, not a bind mount of a file")
    try:
        fd = os.open(host.dev_fuse, os.O_RDWR | os.O_CLOEXEC)
    except OSError as exc:
        fix = ("chmod 0666 /dev/fuse (its usual mode; the kernel checks mount permission, not the device's)"
               if exc.errno in (1, 13) else container)
        return Check(name, FAIL, f"{host.dev_fuse} cannot be opened read-write by uid {host.euid}: {exc.strerror}", fix)
    os.close(fd)
    return Check(name, OK, f"{host.dev_fuse}: character device, opens read-write")


def _fuse_registered(host: Host) -> bool:
    try:
        with open(host.proc_filesystems) as table:
            return any(line.split()[-1:] == ["fuse"] for line in table)
    except OSError:
        return False


def check_fusermount(host: Host) -> Check:
    name = "fusermount3"
    path = shutil.which("fusermount3")
    if path is None:
        return Check(name, FAIL, "not found on PATH (vsite mounts and unmounts through it)",
                     "apt-get install fuse3 (RHEL: dnf install fuse3)")
    if host.euid == 0:
        return Check(name, OK, f"{path} (running as root: setuid not needed)")
    real = os.path.realpath(path)
    st = os.stat(real)
    if st.st_uid != 0 or not st.st_mode & stat.S_ISUID:
        return Check(name, FAIL, f"{real} is not setuid root: users other than root cannot mount",
                     f"chown root {real} && chmod u+s {real} (the fuse3 package installs it so)")
    if os.statvfs(real).f_flag & os.ST_NOSUID:
        return Check(name, FAIL, f"{real} is setuid root but on a nosuid filesystem: setuid is ignored",
                     "install fuse3 into the image itself, or mount that filesystem without nosuid")
    return Check(name, OK, f"{real} (setuid root)")


def check_privilege(host: Host) -> Check:
    """Root mounts with mount(2) itself (CAP_SYS_ADMIN); a user through setuid fusermount3,
    which gains CAP_SYS_ADMIN only if the bounding set still has it (containers drop it)."""
    name = "mount-privilege"
    fix = "docker run --cap-add SYS_ADMIN --device /dev/fuse (or --privileged), docs/install.md"
    which = "CapEff" if host.euid == 0 else "CapBnd"
    caps = _capabilities(host, which)
    if caps is None:
        return Check(name, WARN, f"cannot read {which} from {host.proc_status}", fix)
    has = bool(caps >> CAP_SYS_ADMIN & 1)
    if host.euid == 0:
        if has:
            return Check(name, OK, "root with CAP_SYS_ADMIN")
        return Check(name, FAIL, "root without CAP_SYS_ADMIN (a container?): mount(2) is refused", fix)
    if has:
        return Check(name, OK, f"uid {host.euid}: mounts through setuid fusermount3")
    return Check(name, FAIL, f"uid {host.euid}: CAP_SYS_ADMIN is not in the bounding set, so setuid fusermount3 "
                             "cannot mount (a container?)", fix)


def check_kernel(host: Host) -> Check:
    name = "kernel"
    version = kernel_version(host.kernel_release)
    if version is None:
        return Check(name, WARN, f"cannot parse kernel release {host.kernel_release!r}: fast paths assumed off")
    missing = []
    if version < ZERO_OPEN_KERNEL:
        missing.append("zero-message open (needs 5.1+)")
    if version < SYMLINK_CACHE_KERNEL:
        missing.append("symlink caching (needs 4.20+)")
    if missing:
        return Check(name, WARN, f"Linux {host.kernel_release}: no {' or '.join(missing)}; mounts work, "
                                 "warm opens cost the daemon requests", "a newer kernel on the node")
    return Check(name, OK, f"Linux {host.kernel_release}: zero-message open (5.1+) and symlink caching (4.20+)")


def check_pyfuse3(host: Host) -> Check:
    name = "pyfuse3"
    wheel_fix = ("install the patched wheel: pip install --no-index --find-links WHEELHOUSE --force-reinstall "
                 f"pyfuse3 (`make dist` builds WHEELHOUSE, {INSTALL_DOC})")
    version = host.pyfuse3_version()
    if version is None:
        return Check(name, FAIL, "not installed", wheel_fix)
    try:
        passes_inode = host.pyfuse3_passes_inode()
    except (ImportError, OSError) as exc:
        message = " ".join(str(exc).split())
        if "libfuse3" in message:
            fix = "install the libfuse3 runtime: apt-get install fuse3 libfuse3-3 (RHEL: dnf install fuse3-libs)"
        else:
            fix = "reinstall pyfuse3 from a wheelhouse built with this Python (`make dist PYTHON=...`)"
        return Check(name, FAIL, f"pyfuse3 {version} does not load: {message}", fix)
    version_kernel = kernel_version(host.kernel_release) or (0, 0)
    kernel_zero_open = version_kernel >= ZERO_OPEN_KERNEL
    kernel_symlinks = version_kernel >= SYMLINK_CACHE_KERNEL
    if not passes_inode:
        lost = "zero-message open and symlink caching are off: every open(2) through a mount costs the daemon requests"
        if kernel_zero_open:
            return Check(name, FAIL, f"stock pyfuse3 {version}: {lost}", wheel_fix)
        return Check(name, WARN, f"stock pyfuse3 {version}: {lost} (this kernel lacks zero-message open anyway)",
                     wheel_fix)
    level = pyfuse3_build.parse(version).level
    on: list[str] = []
    off: list[str] = []
    if os.environ.get("VSITE_FS_NO_OPEN") == "0":
        off.append("zero-message open (VSITE_FS_NO_OPEN=0)")
    else:
        (on if kernel_zero_open else off).append("zero-message open" + ("" if kernel_zero_open else " (kernel < 5.1)"))
    if level < pyfuse3_build.CACHE_SYMLINKS_LEVEL:
        off.append(f"symlink caching (needs a +vsite{pyfuse3_build.CACHE_SYMLINKS_LEVEL} build)")
    else:
        (on if kernel_symlinks else off).append("symlink caching" + ("" if kernel_symlinks else " (kernel < 4.20)"))
    detail = f"{version}: vsite's patched build; on: {', '.join(on) or 'none'}"
    if off:
        detail += f"; off: {', '.join(off)}"
    if os.environ.get("VSITE_FS_NO_OPEN") == "0":
        return Check(name, WARN, detail, "unset VSITE_FS_NO_OPEN")
    return Check(name, OK, detail)


def check_allow_other(host: Host) -> Check:
    name = "allow-other"
    if host.euid == 0:
        return Check(name, OK, "running as root: --allow-other needs nothing more")
    try:
        with open(host.fuse_conf) as conf:
            enabled = any(line.strip() == "user_allow_other" for line in conf)
    except OSError:
        enabled = False
    if enabled:
        return Check(name, OK, f"user_allow_other in {host.fuse_conf}")
    return Check(name, WARN, f"no user_allow_other in {host.fuse_conf}: only --allow-other (mounts other users "
                             "see) needs it", f"echo user_allow_other >> {host.fuse_conf}")


def _existing(path: Path) -> Path:
    """``path`` or its nearest existing ancestor."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _fstype(path: Path) -> str:
    """The filesystem type of the mount holding ``path`` (the top-most of the longest mount point)."""
    from vsite.fs.registry import _mount_table

    real = os.path.realpath(path)
    best, fstype = -1, "?"
    try:
        table = _mount_table()
    except OSError:
        return fstype
    for point, kind in table:
        inside = real == point or real.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= best:
            best, fstype = len(point), kind
    return fstype


def _writable(path: Path) -> str | None:
    """Why this process cannot create files under ``path`` (created later if missing), or None."""
    base = _existing(path)
    if not base.is_dir():
        return f"{base} is not a directory"
    if base != path:  # made on first use: the nearest existing ancestor must take a new directory
        return None if os.access(base, os.W_OK | os.X_OK) else f"cannot create it: {base} is not writable"
    probe = base / f".vsite-doctor-{os.getpid()}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        return f"cannot write in it: {exc.strerror}"
    os.close(fd)
    os.unlink(probe)
    return None


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def check_store(host: Host) -> Check:
    from vsite.paths import cache_dir

    name = "store"
    path = cache_dir()
    problem = _writable(path)
    if problem:
        return Check(name, FAIL, f"{path}: {problem}; fetch unpacks and mount pins entries there",
                     "set VSITE_CACHE_DIR to a writable directory on a local disk, or fix its permissions")
    base = _existing(path)
    fstype = _fstype(base)
    free = os.statvfs(base).f_bavail * os.statvfs(base).f_frsize
    where = f"{path}{'' if base == path else ' (created on first fetch)'}: {fstype}, {_human(free)} free, writable"
    if fstype in NETWORK_FS or fstype.startswith("fuse"):
        return Check(name, WARN, f"{where}; a network or FUSE filesystem: every node writes it and each cold "
                     "read goes to the server", "VSITE_CACHE_DIR on a local disk; share a store across nodes "
                     "read-only instead (VSITE_STORE_PATH, docs/store.md \"Clusters\")")
    if free < LOW_SPACE:
        return Check(name, WARN, f"{where}; little space left for unpacked wheels",
                     "free space, `vsite cache gc`, or VSITE_CACHE_DIR elsewhere")
    return Check(name, OK, where)


def check_store_path(host: Host) -> Check:
    """The shared read-only stores of $VSITE_STORE_PATH: there, readable, on what filesystem."""
    from vsite.paths import store_path
    from vsite.store.layout import StoreLayout

    name = "store-path"
    roots = store_path()
    if not roots:
        return Check(name, INFO, "VSITE_STORE_PATH unset: every entry comes from the local store "
                     "(shared read-only stores: docs/store.md, \"Clusters\")")
    seen, missing = [], []
    for root in roots:
        wheels = StoreLayout(root).wheels_dir()
        try:
            count = len(os.listdir(wheels))
        except OSError as exc:
            missing.append(f"{root} ({exc.strerror})")
            continue
        ro = "read-only" if os.statvfs(wheels).f_flag & os.ST_RDONLY else "writable fs: a read-only bind per mount"
        seen.append(f"{root} ({_fstype(wheels)}, {ro}, {count} entries)")
    if missing:
        return Check(name, WARN, "; ".join(seen + [f"no store at {m}" for m in missing]),
                     "fix VSITE_STORE_PATH, or publish the store there (vsite fetch --store DIR LOCK)")
    return Check(name, OK, "; ".join(seen))


def check_uv_cache(host: Host) -> Check:
    from vsite.store.uvcache import uv_cache_dir

    path = uv_cache_dir()
    if path.is_dir():
        return Check("uv-cache", INFO, f"{path}: fetch reuses the wheels uv already downloaded")
    return Check("uv-cache", INFO, f"none at {path}: fetch downloads every wheel from the index")


def check_runtime_dir(host: Host) -> Check:
    from vsite.paths import runtime_dir

    path = runtime_dir()
    problem = _writable(path)
    if problem:
        return Check("runtime-dir", FAIL, f"{path}: {problem}; mount records, leases and shared mounts live there",
                     "set VSITE_RUNTIME_DIR (or XDG_RUNTIME_DIR) to a writable local directory")
    created = "" if path.exists() else " (created on first mount)"
    return Check("runtime-dir", OK, f"{path}{created}: writable, {_fstype(_existing(path))}")


CHECKS: list[Callable[[Host], Check]] = [
    check_vsite, check_fuse_device, check_fusermount, check_privilege, check_kernel, check_pyfuse3,
    check_allow_other, check_store, check_store_path, check_uv_cache, check_runtime_dir,
]


def run_checks(host: Host | None = None) -> list[Check]:
    host = host or current_host()
    results = []
    for check in CHECKS:
        try:
            results.append(check(host))
        except Exception as exc:
            name = check.__name__.removeprefix("check_").replace("_", "-")
            results.append(Check(name, FAIL, f"the check itself failed: {type(exc).__name__}: {exc}"))
    return results


@main.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Print the checks as a JSON list.")
def doctor(as_json: bool) -> None:
    """Check that this machine can mount vsite environments, and how fast; exit 1 if a check FAILs."""
    results = run_checks()
    failed = [c for c in results if c.status == FAIL]
    if as_json:
        click.echo(json.dumps([asdict(c) for c in results], indent=2))
    else:
        for check in results:
            click.echo(check.line())
        warned = sum(c.status == WARN for c in results)
        summary = (f"{len(failed)} check{'s' * (len(failed) != 1)} failed: a mount will not work as designed"
                   if failed else "a mount will work" + (f" ({warned} warning{'s' * (warned != 1)})" if warned else ""))
        click.echo(summary)
    sys.exit(1 if failed else 0)

"""Build small wheels in tests, well-formed or deliberately broken, and plans naming them."""

from __future__ import annotations

import base64
import hashlib
import stat
import tomllib
import zipfile
from pathlib import Path

from vsite.plan.model import Artifact, Plan, PlanItem
from vsite.store.layout import LAYOUT_VERSION


def record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode().rstrip("=")


def make_wheel(
    directory: Path,
    name: str = "demo_pkg",
    version: str = "1.0",
    files: dict[str, bytes] | None = None,
    *,
    entry_points: str | None = None,
    executables: tuple[str, ...] = (),
    extra_members: list[tuple[zipfile.ZipInfo | str, bytes]] = (),
    record_overrides: dict[str, bytes] | None = None,
    unrecorded: tuple[str, ...] = (),
    root_is_purelib: bool = True,
) -> Path:
    """Write ``<name>-<version>-py3-none-any.whl`` into ``directory``.

    ``files`` maps archive paths to contents (RECORD lists them);
    ``record_overrides`` lists a path in RECORD with the hash of other bytes;
    ``extra_members`` are written raw after the normal ones and listed in RECORD
    by name (so only the property under test is wrong); ``unrecorded`` names
    members left out of RECORD.
    """
    files = dict(files if files is not None else {f"{name}/__init__.py": b"VALUE = 1\n"})
    dist_info = f"{name}-{version}.dist-info"
    files[f"{dist_info}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
    files[f"{dist_info}/WHEEL"] = (
        "Wheel-Version: 1.0\nGenerator: wheelmaker\n"
        f"Root-Is-Purelib: {'true' if root_is_purelib else 'false'}\nTag: py3-none-any\n"
    ).encode()
    if entry_points:
        files[f"{dist_info}/entry_points.txt"] = entry_points.encode()
    overrides = record_overrides or {}
    rows = []
    for path, data in files.items():
        if path in unrecorded:
            continue
        shown = overrides.get(path, data)
        rows.append(f"{path},{record_hash(shown)},{len(shown)}")
    for info, data in extra_members:
        member = info.filename if isinstance(info, zipfile.ZipInfo) else info
        rows.append(f"{member},{record_hash(data)},{len(data)}")
    rows.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = ("\n".join(rows) + "\n").encode()
    wheel = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in files.items():
            info = zipfile.ZipInfo(path, date_time=(2020, 1, 1, 0, 0, 0))
            mode = 0o755 if path in executables else 0o644
            info.external_attr = (stat.S_IFREG | mode) << 16
            info.create_system = 3
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
        for info, data in extra_members:
            zf.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED)
    return wheel


def member(name: str, mode: int) -> zipfile.ZipInfo:
    """A ZipInfo with unix mode bits (file type included)."""
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
    info.create_system = 3
    info.external_attr = mode << 16
    return info


def wheel_item(wheel: Path, *, sha256: str | None = None, name: str | None = None) -> PlanItem:
    stem = wheel.name.split("-")
    return PlanItem(
        name=name or stem[0].replace("_", "-"),
        version=stem[1],
        kind="wheel",
        wheel=Artifact(filename=wheel.name, path=str(wheel), sha256=sha256),
    )


def plan_of(*items: PlanItem, lock_path: str = "/test/uv.lock") -> Plan:
    return Plan(
        lock_path=lock_path,
        lock_sha256=hashlib.sha256(lock_path.encode()).hexdigest(),
        lock_format="uv",
        target_identity="test",
        options={},
        items=tuple(sorted(items, key=lambda i: i.name)),
    )


def store_snapshot(root: Path) -> list[str]:
    """Everything under the store except lock files and usage records (which a failed fetch may leave)."""
    base = root / LAYOUT_VERSION
    if not base.exists():
        return []
    skip = {"locks", "usage"}
    return sorted(
        str(p.relative_to(base))
        for p in base.rglob("*")
        if p.relative_to(base).parts[0] not in skip and not (p.is_dir() and not any(p.iterdir()))
    )


DEMO_LOCK = Path(__file__).parent.parent / "examples" / "demo" / "uv.lock"
SMALL = ("six", "mdurl", "idna", "attrs")


def demo_items(names=SMALL) -> list[PlanItem]:
    """PlanItems for a few pure wheels of the demo lock (read directly, not via the lock parser)."""
    items = []
    for pkg in tomllib.loads(DEMO_LOCK.read_text())["package"]:
        if pkg["name"] in names and pkg.get("wheels"):
            wheel = pkg["wheels"][0]
            items.append(
                PlanItem(
                    name=pkg["name"],
                    version=pkg["version"],
                    kind="wheel",
                    wheel=Artifact(
                        filename=wheel["url"].rsplit("/", 1)[1],
                        url=wheel["url"],
                        sha256=wheel["hash"].removeprefix("sha256:"),
                        size=wheel["size"],
                    ),
                    source={"kind": "registry", "url": "https://pypi.org/simple"},
                )
            )
    assert len(items) == len(names)
    return items


def entry_state(entry: Path) -> dict[str, tuple]:
    """Every path of a store entry with its type, mode, mtime and content hash: to compare before/after."""
    import os

    state = {}
    for dirpath, dirs, files in os.walk(entry):
        for name in [".", *dirs, *files]:
            path = os.path.normpath(os.path.join(dirpath, name))
            st = os.lstat(path)
            digest = hashlib.sha256(Path(path).read_bytes()).hexdigest() if stat.S_ISREG(st.st_mode) else None
            state[os.path.relpath(path, entry)] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_mtime_ns, digest)
    return state


def other_interpreter(mine: str) -> str | None:
    """A CPython (>= 3.10, as vsite's probe needs) on this machine whose cache tag is not ``mine``:
    on PATH, or installed by pyenv; the newest first."""
    import glob
    import os
    import shutil
    import subprocess

    pyenv = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")

    def minor(exe: str) -> int:
        tail = os.path.basename(exe).removeprefix("python3.")
        return int(tail) if tail.isdigit() else -1

    found = [shutil.which(f"python3.{m}") for m in range(20, 9, -1)]
    found += glob.glob(os.path.join(pyenv, "versions", "3.*", "bin", "python3.[0-9]*"))
    candidates = sorted((exe for exe in found if exe and minor(exe) >= 10), key=minor, reverse=True)
    for exe in candidates:
        try:
            proc = subprocess.run([exe, "-I", "-c", "import sys; print(sys.implementation.cache_tag)"],
                                  capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue  # e.g. a pyenv shim of a version that is not selected
        if proc.returncode == 0 and proc.stdout.strip() not in ("", mine):
            return exe
    return None


def as_user(fn, uid: int = 65534, gid: int = 65534) -> None:
    """Run ``fn()`` in a forked child as ``uid``/``gid`` (default nobody); fail with its traceback if it raises."""
    import os
    import traceback

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 1
        try:
            os.close(read)
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            fn()
            code = 0
        except BaseException:
            os.write(write, traceback.format_exc().encode())
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        out = pipe.read().decode(errors="replace")
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, out


def unprivileged_python() -> str | None:
    """An interpreter user ``nobody`` can run (the system's, or this one), for fetches as a non-root owner."""
    import os
    import shutil
    import subprocess
    import sys

    for exe in (shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin"), os.path.realpath(sys.executable)):
        if not exe or not shutil.which("setpriv"):
            continue
        proc = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", exe, "-I", "-c",
                               "import os, sys; assert sys.version_info >= (3, 10); print(os.path.realpath(sys.executable))"],
                              capture_output=True, text=True)
        if proc.returncode == 0 and proc.stdout.strip() == os.path.realpath(exe):
            return exe
    return None

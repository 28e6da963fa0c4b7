"""Build small wheels in tests, well-formed or deliberately broken, and plans naming them."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import stat
import tomllib
import zipfile
from pathlib import Path

from runhelp import DEMO_LOCK
from vsite.plan.model import Artifact, Plan, PlanItem
from vsite.store.layout import LAYOUT_VERSION


def record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode().rstrip("=")


def make_wheel(
    directory: Path,
    name: str = "demo_pkg",
    version: str = "1.0",
    files: dict[str, bytes | str] | None = None,
    *,
    entry_points: str | dict[str, dict[str, str]] | None = None,
    requires: tuple[str, ...] = (),
    executables: tuple[str, ...] = (),
    modes: dict[str, int] | None = None,
    tag: str = "py3-none-any",
    extra_members: list[tuple[zipfile.ZipInfo | str, bytes]] = (),
    record_overrides: dict[str, bytes] | None = None,
    unrecorded: tuple[str, ...] = (),
    root_is_purelib: bool = True,
) -> Path:
    """Write ``<name>-<version>-<tag>.whl`` into ``directory`` (created if missing); the one wheel
    maker of the tests, for well-formed wheels and for deliberately broken ones.

    ``files`` maps archive paths to contents, bytes or text (RECORD lists them);
    METADATA (with ``requires`` as Requires-Dist), WHEEL and entry_points.txt
    are generated; ``entry_points`` is the file's text or ``{group: {name: ref}}``.
    ``executables`` get mode 0o755, ``modes`` any unix permission bits.
    ``record_overrides`` lists a path in RECORD with the hash of other bytes;
    ``extra_members`` are written raw after the normal ones and listed in RECORD
    by name (so only the property under test is wrong); ``unrecorded`` names
    members left out of RECORD.
    """
    dist = name.replace("-", "_")
    contents: dict[str, bytes] = {
        path: data.encode() if isinstance(data, str) else data
        for path, data in (files if files is not None else {f"{dist}/__init__.py": b"VALUE = 1\n"}).items()
    }
    dist_info = f"{dist}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    metadata += "".join(f"Requires-Dist: {req}\n" for req in requires)
    contents[f"{dist_info}/METADATA"] = metadata.encode()
    contents[f"{dist_info}/WHEEL"] = (
        "Wheel-Version: 1.0\nGenerator: wheelmaker\n"
        f"Root-Is-Purelib: {'true' if root_is_purelib else 'false'}\nTag: {tag}\n"
    ).encode()
    if isinstance(entry_points, dict):
        entry_points = "".join(
            f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in items.items()) + "\n"
            for group, items in entry_points.items()
        )
    if entry_points:
        contents[f"{dist_info}/entry_points.txt"] = entry_points.encode()
    overrides = record_overrides or {}
    rows = []
    for path, data in contents.items():
        if path in unrecorded:
            continue
        shown = overrides.get(path, data)
        rows.append((path, record_hash(shown), len(shown)))
    for info, data in extra_members:
        member = info.filename if isinstance(info, zipfile.ZipInfo) else info
        rows.append((member, record_hash(data), len(data)))
    rows.append((f"{dist_info}/RECORD", "", ""))
    record = io.StringIO()
    csv.writer(record, lineterminator="\n").writerows(rows)  # quotes a path with a comma, as installers do
    contents[f"{dist_info}/RECORD"] = record.getvalue().encode()
    modes = {**dict.fromkeys(executables, 0o755), **(modes or {})}
    directory.mkdir(parents=True, exist_ok=True)
    wheel = directory / f"{dist}-{version}-{tag}.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in contents.items():
            info = zipfile.ZipInfo(path, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = (stat.S_IFREG | modes.get(path, 0o644)) << 16
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

"""Test support for the view: store entries written in the documented layout
and tree materializers for comparing a view with a real venv.

The entries are written here (not by vsite.store) so view tests depend only on
the layout contract in vsite/store/layout.py and vsite/store/index.py.
"""

from __future__ import annotations

import base64
import configparser
import hashlib
import json
import os
import py_compile
import stat
import zipfile
from dataclasses import asdict
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

from packaging.utils import canonicalize_name

from vsite.plan.model import Artifact, Plan, PlanItem
from vsite.store.index import EntrySummary, FileRecord
from vsite.store.layout import StoreLayout
from vsite.view.nodes import DirNode, FileNode, LinkNode, View

_SCHEMES = {"purelib": "site", "platlib": "site", "scripts": "scripts", "headers": "headers", "data": "data"}


def _hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _local_path(wheel: Artifact) -> Path:
    """A local wheel's path (pylock.toml names local files by ``file://`` URL)."""
    if wheel.path:
        return Path(wheel.path)
    assert wheel.url and wheel.url.startswith("file://"), wheel
    return Path(url2pathname(urlparse(wheel.url).path))


class FakeStore:
    """Entries keyed by the wheel's sha256, with ``entry_dir``/``bytecode_dir`` like vsite.store."""

    def __init__(self, root: Path) -> None:
        self.layout = StoreLayout(root)

    @staticmethod
    def key(item: PlanItem) -> str:
        """The wheel's sha256 from the plan, else of the local file (as vsite.store keys)."""
        assert item.wheel is not None
        if item.wheel.sha256:
            return item.wheel.sha256
        return hashlib.sha256(_local_path(item.wheel).read_bytes()).hexdigest()

    def entry_dir(self, item: PlanItem) -> Path | None:
        path = self.layout.wheel_dir(self.key(item))
        return path if path.is_dir() else None

    def bytecode_dir(self, item: PlanItem, cache_tag: str) -> Path | None:
        path = self.layout.bytecode_dir(cache_tag, self.key(item))
        return path if path.is_dir() else None

    def add(self, wheel: Path, cache_tag: str | None = None) -> tuple[str, EntrySummary]:
        """Unpack ``wheel`` into an entry (and compile its bytecode for ``cache_tag``)."""
        sha = hashlib.sha256(wheel.read_bytes()).hexdigest()
        dest = self.layout.wheel_dir(sha)
        files: list[FileRecord] = []
        entry_points: dict[str, dict[str, str]] = {}
        with zipfile.ZipFile(wheel) as zf:
            names = zf.namelist()
            dist_info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/WHEEL"))
            data_dir = dist_info[: -len(".dist-info")] + ".data/"
            meta = zf.read(f"{dist_info}/METADATA").decode()
            for info in zf.infolist():
                if info.is_dir():
                    continue
                name = info.filename
                if name.startswith(data_dir):
                    scheme_name, _, rel = name[len(data_dir):].partition("/")
                    scheme = _SCHEMES[scheme_name]
                else:
                    scheme, rel = "site", name
                body = zf.read(info)
                out = dest / scheme / rel
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(body)
                mode = 0o755 if (info.external_attr >> 16) & 0o111 else 0o644
                os.chmod(out, mode)
                files.append(FileRecord(scheme, rel, len(body), _hash(body), mode))
            if f"{dist_info}/entry_points.txt" in names:
                cp = configparser.ConfigParser(delimiters=("=",))
                cp.optionxform = str  # type: ignore[assignment,method-assign]
                cp.read_string(zf.read(f"{dist_info}/entry_points.txt").decode())
                for group in ("console_scripts", "gui_scripts"):
                    if cp.has_section(group):
                        entry_points[group] = dict(cp.items(group))
        fields = dict(line.split(": ", 1) for line in meta.splitlines() if ": " in line)
        wheel_meta = (dest / "site" / dist_info / "WHEEL").read_text()
        files.sort(key=lambda f: (f.scheme, f.path))
        summary = EntrySummary(
            name=canonicalize_name(fields["Name"]),
            version=fields["Version"],
            filename=wheel.name,
            sha256=sha,
            size=wheel.stat().st_size,
            dist_info=dist_info,
            root_is_purelib="Root-Is-Purelib: true" in wheel_meta,
            top_level=tuple(sorted({f.path.split("/", 1)[0] for f in files if f.scheme == "site"})),
            entry_points=entry_points,
            scripts=tuple(f.path for f in files if f.scheme == "scripts"),
            has_headers=any(f.scheme == "headers" for f in files),
            has_data=any(f.scheme == "data" for f in files),
            file_count=len(files),
        )
        (dest / "files.json").write_text(json.dumps([asdict(f) for f in files]))
        (dest / "entry.json").write_text(json.dumps(summary.to_json()))
        if cache_tag:
            pyc_root = self.layout.bytecode_dir(cache_tag, sha)
            for f in files:
                if f.scheme == "site" and f.path.endswith(".py"):
                    folder, _, module = f.path.rpartition("/")
                    cfile = pyc_root / folder / "__pycache__" / f"{module[:-3]}.{cache_tag}.pyc"
                    py_compile.compile(
                        str(dest / "site" / f.path),
                        cfile=str(cfile),
                        dfile=f.path,
                        doraise=True,
                        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
                    )
            pyc_root.mkdir(parents=True, exist_ok=True)
        return sha, summary


def item_for(wheel: Path, sha: str, name: str, version: str, source: dict | None = None) -> PlanItem:
    return PlanItem(
        name=name,
        version=version,
        kind="wheel",
        wheel=Artifact(filename=wheel.name, path=str(wheel), sha256=sha),
        source=source or {"kind": "registry"},
        requested=True,
    )


def plan_of(items: list[PlanItem]) -> Plan:
    return Plan(
        lock_path="/dev/null",
        lock_sha256="0" * 64,
        lock_format="uv",
        target_identity="test",
        options={},
        items=tuple(sorted(items, key=lambda i: i.name)),
    )


def ingest(plan: Plan, store: FakeStore, cache_tag: str | None = None) -> None:
    """Add every local wheel of ``plan`` to ``store`` (locks the tests build use local wheels)."""
    for item in plan.items:
        if item.kind != "virtual":
            assert item.wheel is not None, item
            store.add(_local_path(item.wheel), cache_tag)


Tree = dict[str, object]  # relpath -> bytes (file), ("link", target), ("dir",)


def materialize(view: View) -> Tree:
    """Every path of ``view`` via children/lookup, with file bytes and modes checked."""
    out: Tree = {}

    def walk(node: DirNode, prefix: str) -> None:
        for name, child in view.children(node):
            assert view.lookup(node, name) is child
            assert view.node(child.ino) is child
            path = f"{prefix}{name}"
            if isinstance(child, DirNode):
                out[path] = ("dir",)
                walk(child, path + "/")
            elif isinstance(child, LinkNode):
                out[path] = ("link", child.target)
            else:
                assert isinstance(child, FileNode)
                data = child.data if child.data is not None else Path(child.real).read_bytes()
                assert len(data) == child.size, path
                out[path] = (data, child.mode)

    walk(view.root, "")
    return out


def materialize_dir(root: Path) -> Tree:
    """The same form for a real directory tree (a venv uv made)."""
    out: Tree = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            rel = path.relative_to(root).as_posix()
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(path))
                if name in dirnames:
                    dirnames.remove(name)
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir",)
            else:
                out[rel] = (path.read_bytes(), stat.S_IMODE(st.st_mode))
    return out


def write_tree(tree: Tree, root: Path) -> None:
    """Write a materialized view to disk (what a mount would show), for running Python on it."""
    root.mkdir(parents=True, exist_ok=True)
    for path, value in sorted(tree.items()):
        dest = root / path
        if value[0] == "dir":
            dest.mkdir()
        elif value[0] == "link":
            os.symlink(value[1], dest)
        else:
            data, mode = value
            dest.write_bytes(data)
            os.chmod(dest, mode)

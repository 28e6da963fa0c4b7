"""Test support for the view: plans of crafted wheels fetched into a real store,
and tree materializers for comparing a view with a real venv.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from packaging.utils import canonicalize_name, parse_wheel_filename

from vsite.plan.model import Artifact, Plan, PlanItem
from vsite.store import Store
from vsite.target import Target
from vsite.store.seal import file_mode
from vsite.view import StoreLinks
from vsite.view.nodes import DirNode, FileNode, LinkNode, View


def item_for(wheel: Path, source: dict | None = None) -> PlanItem:
    """A plan item installing the local ``wheel`` (the store hashes it)."""
    name, version, _, _ = parse_wheel_filename(wheel.name)
    return PlanItem(
        name=canonicalize_name(name),
        version=str(version),
        kind="wheel",
        wheel=Artifact(filename=wheel.name, path=str(wheel)),
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


def fetched(plan: Plan, root: Path, target: Target) -> Store:
    """A store at ``root`` holding ``plan`` (unpacked and compiled by vsite.store)."""
    store = Store(root, use_uv_cache=False)
    store.fetch(plan, target)
    return store


Tree = dict[str, object]  # relpath -> bytes (file), ("link", target), ("dir",)


def store_links(store: Store, on: bool) -> StoreLinks | None:
    """The links a view of ``store`` presents (into the store itself), or None: the
    two data paths every faithfulness test runs with (vsite.fs.readonly)."""
    wheels = str(store.layout.wheels_dir())
    return StoreLinks(wheels, wheels) if on else None


def _expand_link(target: str, path: str, out: Tree) -> None:
    """A link into the store, as what a process walking it sees: the store's files,
    with the modes uv would install (the store keeps them read-only, exec bits as shipped)."""
    st = os.stat(target)
    assert not st.st_mode & 0o222, f"{target} (behind {path}) is writable in the store"
    if not stat.S_ISDIR(st.st_mode):
        out[path] = (Path(target).read_bytes(), file_mode(st.st_mode))
        return
    out[path] = ("dir",)
    for name in sorted(os.listdir(target)):
        _expand_link(os.path.join(target, name), f"{path}/{name}", out)


def materialize(view: View) -> Tree:
    """Every path of ``view`` via children/lookup, with file bytes and modes checked;
    links into the store (``view.links``) are followed, the venv's own links are not."""
    out: Tree = {}
    links = getattr(view, "links", None)

    def walk(node: DirNode, prefix: str) -> None:
        for name, child in view.children(node):
            assert view.lookup(node, name) is child
            assert view.node(child.ino) is child
            path = f"{prefix}{name}"
            if isinstance(child, DirNode):
                out[path] = ("dir",)
                walk(child, path + "/")
            elif isinstance(child, LinkNode):
                if links is not None and child.target.startswith(links.root + "/"):
                    _expand_link(child.target, path, out)
                else:
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

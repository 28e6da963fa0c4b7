"""An in-memory :class:`vsite.view.nodes.View` for testing the fs layer without a store.

Built eagerly from a nested dict: a ``dict`` is a directory, ``bytes`` a
synthesized file, ``Real(path, mode)`` a file backed by a real file (like a
store entry), ``Link(target)`` a symlink. Inode numbers are handed out in
sorted depth-first order, so they are stable for a given tree.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from vsite.view.nodes import DirNode, FileNode, LinkNode, Node, View

MTIME_NS = 1_700_000_000_123_456_789


@dataclass
class Real:
    path: str
    mode: int = 0o644


@dataclass
class Link:
    target: str


class MemoryView(View):
    def __init__(self, tree: dict) -> None:
        self._nodes: dict[int, Node] = {}
        self._children: dict[int, dict[str, Node]] = {}
        self._build(tree)

    def _new_ino(self) -> int:
        return len(self._nodes) + 1

    def _build(self, tree: dict) -> DirNode:
        node = DirNode(ino=self._new_ino(), mode=0o755, mtime_ns=MTIME_NS)
        self._nodes[node.ino] = node
        children: dict[str, Node] = {}
        for name in sorted(tree):
            spec = tree[name]
            if isinstance(spec, dict):
                child: Node = self._build(spec)
            else:
                ino = self._new_ino()
                if isinstance(spec, bytes):
                    child = FileNode(ino=ino, mode=0o644, mtime_ns=MTIME_NS, size=len(spec), data=spec)
                elif isinstance(spec, Real):
                    size = os.stat(spec.path).st_size
                    child = FileNode(ino=ino, mode=spec.mode, mtime_ns=MTIME_NS, size=size, real=spec.path)
                else:
                    child = LinkNode(ino=ino, mode=0o777, mtime_ns=MTIME_NS, target=spec.target)
                self._nodes[ino] = child
            children[name] = child
        node.nlink = 2 + sum(isinstance(c, DirNode) for c in children.values())
        self._children[node.ino] = children
        return node

    def node(self, ino: int) -> Node:
        return self._nodes[ino]

    def lookup(self, parent: DirNode, name: str) -> Node | None:
        return self._children[parent.ino].get(name)

    def children(self, parent: DirNode) -> list[tuple[str, Node]]:
        return sorted(self._children[parent.ino].items())

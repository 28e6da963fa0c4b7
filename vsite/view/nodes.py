"""The nodes of a view and the interface the filesystem layer reads them through.

This is the contract between ``vsite.view`` (which builds the tree) and
``vsite.fs`` (which serves it): the fs never looks at the store or the plan,
only at these nodes. Nodes are created lazily and never change once created;
each gets a stable inode number for the life of the view.
"""

from __future__ import annotations

import stat
from abc import ABC, abstractmethod
from dataclasses import dataclass


@dataclass(eq=False, slots=True)
class Node:
    """Common attributes. ``mode`` holds permission bits only (type is the class)."""

    ino: int
    mode: int
    mtime_ns: int

    @property
    def st_mode(self) -> int:
        raise NotImplementedError


@dataclass(eq=False, slots=True)
class FileNode(Node):
    """A regular file: bytes of ``real`` (a path in the store) or ``data`` (synthesized)."""

    size: int
    real: str | None = None
    data: bytes | None = None

    @property
    def st_mode(self) -> int:
        return stat.S_IFREG | self.mode


@dataclass(eq=False, slots=True)
class LinkNode(Node):
    """A symbolic link: the venv's ``bin/python``, or a subtree unique to one wheel,
    linked into the store; ``target`` is what readlink returns."""

    target: str

    @property
    def st_mode(self) -> int:
        return stat.S_IFLNK | 0o777


@dataclass(eq=False, slots=True)
class DirNode(Node):
    """A directory; its children are resolved by the :class:`View` on first use
    (the view keeps its own bookkeeping for it, keyed by ``ino``)."""

    nlink: int = 2

    @property
    def st_mode(self) -> int:
        return stat.S_IFDIR | self.mode


class Unresolved:
    """The type of :data:`UNRESOLVED`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "UNRESOLVED"


UNRESOLVED = Unresolved()  # View.cached: the answer needs the store (resolve it off the FUSE thread)


class View(ABC):
    """A read-only tree. Every method is cheap after its first call for a node
    (results are memoized) and raises nothing but ``OSError`` for I/O trouble.
    ``lookup`` and ``children`` may be called from several threads at once."""

    ROOT_INO = 1

    @abstractmethod
    def node(self, ino: int) -> Node:
        """The node with this inode number (KeyError if never handed out)."""

    @abstractmethod
    def lookup(self, parent: DirNode, name: str) -> Node | None:
        """The child ``name`` of ``parent``, or None."""

    @abstractmethod
    def children(self, parent: DirNode) -> list[tuple[str, Node]]:
        """All children of ``parent`` in a stable order (sorted by name)."""

    def cached(self, parent: DirNode, name: str) -> Node | None | Unresolved:
        """What :meth:`lookup` would return, if the view knows it without touching the store
        (memoized, or absent from a listed directory); else :data:`UNRESOLVED`. Never blocks
        on I/O: the fs layer answers these on its event-loop thread and resolves the rest
        in a worker thread. A view held wholly in memory may answer :meth:`lookup` here."""
        return UNRESOLVED

    def cached_children(self, parent: DirNode) -> list[tuple[str, Node]] | None:
        """What :meth:`children` would return, if known without touching the store; else None."""
        return None

    @property
    def root(self) -> DirNode:
        node = self.node(self.ROOT_INO)
        assert isinstance(node, DirNode)
        return node

"""Merged directories, resolved lazily name by name.

A directory of the view is a list of *sources*: a real store directory of one
package (with its bytecode mirror), or a fixed table of entries known up front
(the top-level index built from ``entry.json``, synthesized installer files,
the venv skeleton). Nothing is listed at build time; a name is resolved on its
first lookup (one ``lstat`` per real source that may hold it) and a directory
is listed on its first readdir, and both are memoized, so building a view costs
O(packages) and serving it O(what is touched).

When several sources hold the same name, directories merge (namespace
packages, ``share/``) and otherwise the entry of the highest-priority owner
wins; owners are numbered in plan order, so a later package wins, as if
installed last. Shadowing across owners is recorded as a :class:`Conflict`.

The store is not trusted blindly: every store path is ``lstat``-ed when it is
resolved anyway, and a path whose stat shows it changed since the entry was
sealed (``seals``: owner -> sealed mtime, see :mod:`vsite.store.seal`), or
that is a symlink (the store never holds one), is refused with EIO and logged.
So no node of the view leads outside the store, and a file altered after
fetch is never served, at no cost per file.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, Union

from vsite.store.seal import file_mode, intact
from vsite.view.conflicts import Conflict
from vsite.view.nodes import DirNode, FileNode, LinkNode, Node, View

log = logging.getLogger(__name__)

DIR_MODE = 0o755


@dataclass(frozen=True)
class Real:
    """A path in the store owned by package ``owner``; ``pyc`` is the same
    directory in that package's bytecode mirror (site/ dirs only)."""

    owner: int
    path: str
    pyc: str | None = None
    st: os.stat_result | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Synth:
    """A file generated once, on first lookup (launchers, RECORD, pyvenv.cfg)."""

    owner: int
    make: Callable[[], bytes] = field(compare=False)
    mode: int = 0o644


@dataclass(frozen=True)
class Link:
    """A symbolic link with a fixed target (venv ``bin/python``, ``lib64``)."""

    owner: int
    target: str


@dataclass(frozen=True)
class VDir:
    """A directory made of other sources (venv ``bin/``, dist-info overlays)."""

    owner: int
    sources: tuple["Source", ...]


Entry = Union[Real, Synth, Link, VDir]


class Source(Protocol):
    """Part of a directory's content."""

    def names(self) -> Iterable[str]:
        """Every name this source may hold (listing a directory)."""

    def get(self, name: str) -> list[Entry]:
        """The entries this source holds under ``name`` (usually zero or one)."""


@dataclass(frozen=True)
class Fixed:
    """Entries known up front; a name may map to entries of several owners."""

    entries: Mapping[str, Sequence[Entry]]

    def names(self) -> Iterable[str]:
        return self.entries.keys()

    def get(self, name: str) -> list[Entry]:
        return list(self.entries.get(name, ()))


def _lstat(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


@dataclass(frozen=True)
class Layer:
    """A real directory of one package; its ``__pycache__`` also comes from ``pyc``."""

    owner: int
    path: str
    pyc: str | None = None

    def names(self) -> Iterable[str]:
        try:
            with os.scandir(self.path) as it:
                names = [e.name for e in it]
        except (FileNotFoundError, NotADirectoryError):
            names = []
        if self.pyc is not None and "__pycache__" not in names:
            st = _lstat(os.path.join(self.pyc, "__pycache__"))
            if st is not None and stat.S_ISDIR(st.st_mode):
                names.append("__pycache__")
        return names

    def get(self, name: str) -> list[Entry]:
        out: list[Entry] = []
        path = os.path.join(self.path, name)
        st = _lstat(path)
        if st is not None:
            pyc = None
            if self.pyc is not None and name != "__pycache__" and stat.S_ISDIR(st.st_mode):
                pyc = os.path.join(self.pyc, name)
            out.append(Real(self.owner, path, pyc, st))
        if name == "__pycache__" and self.pyc is not None:
            cache = os.path.join(self.pyc, name)
            st = _lstat(cache)
            if st is not None and stat.S_ISDIR(st.st_mode):
                out.append(Real(self.owner, cache, None, st))
        return out


@dataclass
class _Candidate:
    entry: Entry
    st: os.stat_result | None  # for Real entries

    @property
    def is_dir(self) -> bool:
        if isinstance(self.entry, VDir):
            return True
        return self.st is not None and stat.S_ISDIR(self.st.st_mode)


class MergedTree(View):
    """A :class:`View` over merged sources; ``owners`` names the packages by owner number.

    Directories list on first lookup when they hold more than one real layer (a
    negative lookup would otherwise cost an lstat per layer); single-package
    directories answer lookups with one lstat each.
    """

    def __init__(
        self,
        root_sources: Sequence[Source],
        owners: Mapping[int, str],
        *,
        mtime_ns: int,
        seals: Mapping[int, int] | None = None,
    ) -> None:
        self.owners = owners
        self.seals = seals or {}
        self.mtime_ns = mtime_ns
        self._nodes: dict[int, Node] = {}
        self._next_ino = self.ROOT_INO
        self._lock = threading.RLock()
        self._found: dict[str, Conflict] = {}
        self._new_dir("", tuple(root_sources))

    # -- View --------------------------------------------------------------
    def node(self, ino: int) -> Node:
        return self._nodes[ino]

    def lookup(self, parent: DirNode, name: str) -> Node | None:
        extra = parent.extra
        memo: dict[str, Node | None] = extra["memo"]
        if name in memo:
            return memo[name]
        if extra["listed"] is not None:
            return None
        with self._lock:
            if name in memo:
                return memo[name]
            if extra["eager"]:
                self._list(parent)
                return memo.get(name)
            node = memo[name] = self._resolve(parent, name)
            return node

    def children(self, parent: DirNode) -> list[tuple[str, Node]]:
        listed = parent.extra["listed"]
        if listed is None:
            with self._lock:
                listed = self._list(parent)
        return listed

    # -- conflicts ---------------------------------------------------------
    def found_conflicts(self) -> list[Conflict]:
        """Conflicts met so far at merge points (what was looked up or listed)."""
        with self._lock:
            return sorted(self._found.values(), key=lambda c: c.path)

    # -- internals ---------------------------------------------------------
    def _alloc(self) -> int:
        ino = self._next_ino
        self._next_ino += 1
        return ino

    def _new_dir(self, path: str, sources: tuple[Source, ...]) -> DirNode:
        layers = sum(1 for s in sources if isinstance(s, Layer))
        node = DirNode(
            self._alloc(),
            DIR_MODE,
            self.mtime_ns,
            extra={"path": path, "sources": sources, "memo": {}, "listed": None, "eager": layers > 1},
        )
        self._nodes[node.ino] = node
        return node

    def _list(self, parent: DirNode) -> list[tuple[str, Node]]:
        extra = parent.extra
        if extra["listed"] is not None:
            return extra["listed"]
        memo = extra["memo"]
        names: set[str] = set()
        for source in extra["sources"]:
            names.update(source.names())
        out = []
        for name in sorted(names):
            node = memo[name] if name in memo else self._resolve(parent, name)
            memo[name] = node
            if node is not None:
                out.append((name, node))
        extra["listed"] = out
        return out

    def _resolve(self, parent: DirNode, name: str) -> Node | None:
        candidates: list[_Candidate] = []
        for source in parent.extra["sources"]:
            for entry in source.get(name):
                st = None
                if isinstance(entry, Real):
                    st = entry.st or _lstat(entry.path)
                    if st is None:
                        continue
                    self._check_intact(entry, st)
                candidates.append(_Candidate(entry, st))
        if not candidates:
            return None
        # stable: same owner keeps source order (bytecode after site, synthesized last)
        candidates.sort(key=lambda c: c.entry.owner)
        winner = candidates[-1]
        path = f"{parent.extra['path']}/{name}" if parent.extra["path"] else name
        if winner.is_dir:
            merged = [c for c in candidates if c.is_dir]
            losers = {c.entry.owner for c in candidates if not c.is_dir}
        else:
            merged = []
            losers = {c.entry.owner for c in candidates[:-1]}
        losers.discard(winner.entry.owner)
        # bytecode follows its source (same winner), so only sources are reported
        if losers and name != "__pycache__" and not parent.extra["path"].endswith("__pycache__"):
            self._found[path] = Conflict(
                path,
                self.owners[winner.entry.owner],
                tuple(sorted(self.owners[o] for o in losers)),
            )
        if merged:
            sources: list[Source] = []
            for c in merged:
                if isinstance(c.entry, VDir):
                    sources.extend(c.entry.sources)
                else:
                    assert isinstance(c.entry, Real)
                    sources.append(Layer(c.entry.owner, c.entry.path, c.entry.pyc))
            return self._new_dir(path, tuple(sources))
        return self._leaf(winner, candidates[:-1])

    def _check_intact(self, entry: Real, st: os.stat_result) -> None:
        """Refuse a store path changed after its entry was sealed, or a symlink."""
        if intact(st, self.seals.get(entry.owner, 0)):
            return
        why = "is a symlink" if stat.S_ISLNK(st.st_mode) else "changed after fetch"
        log.error("vsite: store file %s %s (package %s): refused; run `vsite cache verify`",
                  entry.path, why, self.owners.get(entry.owner, "?"))
        raise OSError(errno.EIO, f"store file {why}", entry.path)

    def _leaf(self, c: _Candidate, shadowed: list[_Candidate]) -> Node:
        entry = c.entry
        if isinstance(entry, Synth):
            data = entry.make()
            mode = entry.mode
            # a file the installer rewrites in place (RECORD over the wheel's) keeps its mode, as in uv
            for other in shadowed:
                if other.entry.owner == entry.owner and other.st is not None and stat.S_ISREG(other.st.st_mode):
                    mode = file_mode(other.st.st_mode)
            node: Node = FileNode(self._alloc(), mode, self.mtime_ns, len(data), data=data)
        elif isinstance(entry, Link):
            node = LinkNode(self._alloc(), 0o777, self.mtime_ns, entry.target)
        else:
            assert isinstance(entry, Real) and c.st is not None and stat.S_ISREG(c.st.st_mode)
            node = FileNode(self._alloc(), file_mode(c.st.st_mode), c.st.st_mtime_ns, c.st.st_size, real=entry.path)
        self._nodes[node.ino] = node
        return node

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

With :class:`StoreLinks`, a name held by one store path alone (a directory
unique to one wheel, or a conflict's winning file) is presented as a symbolic
link to that path in the store: "metadata from the daemon, bytes from the
store". The kernel then walks and reads the store itself, at native speed and
with one page-cache copy per node, and the daemon only answers the merged
directories above (site-packages, namespace packages, dist-info dirs with
synthesized files) and the synthesized files. Without it every store file is
served by the daemon (a :class:`FileNode` with ``real``).

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
from vsite.view.nodes import UNRESOLVED, DirNode, FileNode, LinkNode, Node, Unresolved, View

log = logging.getLogger(__name__)

DIR_MODE = 0o755


@dataclass(frozen=True)
class Real:
    """A path in the store owned by package ``owner`` (``st``: its lstat, if known)."""

    owner: int
    path: str
    st: os.stat_result | None = field(default=None, compare=False)


@dataclass(frozen=True)
class StoreLinks:
    """Present store paths as symbolic links: a path under ``store`` (a store's
    directory of entries) becomes a link to the same path under ``root``, which
    is ``store`` itself or a read-only bind mount of it (vsite.fs.readonly).

    ``others``: more ``(store, root)`` pairs, one per shared store of the search
    path the view takes entries from (vsite.store.search), so each link leads
    into whichever store holds its entry. :meth:`of` builds one from pairs.
    """

    store: str
    root: str
    others: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, pairs: "Iterable[tuple[str, str]]") -> "StoreLinks":
        first, *rest = [(str(store), str(root)) for store, root in pairs]
        return cls(first[0], first[1], tuple(rest))

    @property
    def pairs(self) -> tuple[tuple[str, str], ...]:
        return ((self.store, self.root), *self.others)

    def target(self, path: str) -> str:
        for store, root in self.pairs:
            rel = os.path.relpath(path, store)
            if not (rel == os.curdir or rel.startswith(os.pardir + os.sep) or rel == os.pardir):
                return os.path.join(root, rel)
        raise ValueError(f"{path} is not in the store {self.store}" if not self.others
                         else f"{path} is in none of the stores {', '.join(s for s, _ in self.pairs)}")


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
    """A real directory of one package (its ``__pycache__`` dirs hold the store's bytecode)."""

    owner: int
    path: str

    def names(self) -> Iterable[str]:
        try:
            with os.scandir(self.path) as it:
                return [e.name for e in it]
        except (FileNotFoundError, NotADirectoryError):
            return []

    def get(self, name: str) -> list[Entry]:
        path = os.path.join(self.path, name)
        st = _lstat(path)
        return [] if st is None else [Real(self.owner, path, st)]


@dataclass
class _Candidate:
    entry: Entry
    st: os.stat_result | None  # for Real entries

    @property
    def is_dir(self) -> bool:
        if isinstance(self.entry, VDir):
            return True
        return self.st is not None and stat.S_ISDIR(self.st.st_mode)


@dataclass(eq=False, slots=True)
class _DirState:
    """The view's bookkeeping for one merged directory (kept beside its node, not in it)."""

    path: str  # relative to the root, "" for the root
    sources: tuple[Source, ...]
    eager: bool  # more than one real layer: list on first lookup
    memo: dict[str, Node | None] = field(default_factory=dict)
    listed: list[tuple[str, Node]] | None = None
    # held while this directory resolves a name or lists (store I/O): one slow directory
    # holds up only the lookups in it, not the rest of the view
    lock: threading.RLock = field(default_factory=threading.RLock)


class MergedTree(View):
    """A :class:`View` over merged sources; ``owners`` names the packages by owner number.

    Directories list on first lookup when they hold more than one real layer (a
    negative lookup would otherwise cost an lstat per layer); single-package
    directories answer lookups with one lstat each. ``links``: present store
    paths held by one source as symlinks (see the module docstring).

    Thread-safe: each directory resolves under its own lock (the store I/O of
    a slow directory blocks nobody else), the inode table under one short lock
    without I/O; memoized answers are read lock-free (:meth:`cached`).
    """

    def __init__(
        self,
        root_sources: Sequence[Source],
        owners: Mapping[int, str],
        *,
        mtime_ns: int,
        seals: Mapping[int, int] | None = None,
        links: StoreLinks | None = None,
    ) -> None:
        self.owners = owners
        self.seals = seals or {}
        self.mtime_ns = mtime_ns
        self.links = links
        self._nodes: dict[int, Node] = {}
        self._dirs: dict[int, _DirState] = {}
        self._next_ino = self.ROOT_INO
        self._lock = threading.RLock()  # the inode table and the conflicts found: never held over I/O
        self._found: dict[str, Conflict] = {}
        self._new_dir("", tuple(root_sources))

    # -- View --------------------------------------------------------------
    def node(self, ino: int) -> Node:
        return self._nodes[ino]

    def lookup(self, parent: DirNode, name: str) -> Node | None:
        found = self.cached(parent, name)
        if not isinstance(found, Unresolved):
            return found
        state = self._dirs[parent.ino]
        memo = state.memo
        with state.lock:
            if name in memo:
                return memo[name]
            if state.eager:
                self._list(state)
                return memo.get(name)
            node = memo[name] = self._resolve(state, name)
            return node

    def children(self, parent: DirNode) -> list[tuple[str, Node]]:
        state = self._dirs[parent.ino]
        listed = state.listed
        if listed is None:
            with state.lock:
                listed = self._list(state)
        return listed

    def cached(self, parent: DirNode, name: str) -> Node | None | Unresolved:
        state = self._dirs[parent.ino]
        memo = state.memo
        if name in memo:
            return memo[name]
        if state.listed is not None:
            return None
        return UNRESOLVED

    def cached_children(self, parent: DirNode) -> list[tuple[str, Node]] | None:
        return self._dirs[parent.ino].listed

    # -- conflicts ---------------------------------------------------------
    def found_conflicts(self) -> list[Conflict]:
        """Conflicts met so far at merge points (what was looked up or listed)."""
        with self._lock:
            return sorted(self._found.values(), key=lambda c: c.path)

    # -- internals ---------------------------------------------------------
    def _alloc(self) -> int:
        with self._lock:
            ino = self._next_ino
            self._next_ino += 1
            return ino

    def _new_dir(self, path: str, sources: tuple[Source, ...]) -> DirNode:
        layers = sum(1 for s in sources if isinstance(s, Layer))
        with self._lock:
            node = DirNode(self._alloc(), DIR_MODE, self.mtime_ns)
            self._dirs[node.ino] = _DirState(path, sources, eager=layers > 1)
            self._nodes[node.ino] = node  # last: a node is handed out only with its state
        return node

    def _list(self, state: _DirState) -> list[tuple[str, Node]]:
        if state.listed is not None:
            return state.listed
        memo = state.memo
        names: set[str] = set()
        for source in state.sources:
            names.update(source.names())
        out = []
        for name in sorted(names):
            node = memo[name] if name in memo else self._resolve(state, name)
            memo[name] = node
            if node is not None:
                out.append((name, node))
        state.listed = out
        return out

    def _resolve(self, state: _DirState, name: str) -> Node | None:
        candidates: list[_Candidate] = []
        for source in state.sources:
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
        # stable: same owner keeps source order (synthesized files after the store's)
        candidates.sort(key=lambda c: c.entry.owner)
        winner = candidates[-1]
        path = f"{state.path}/{name}" if state.path else name
        if winner.is_dir:
            merged = [c for c in candidates if c.is_dir]
            losers = {c.entry.owner for c in candidates if not c.is_dir}
        else:
            merged = []
            losers = {c.entry.owner for c in candidates[:-1]}
        losers.discard(winner.entry.owner)
        # bytecode follows its source (same winner), so only sources are reported
        if losers and name != "__pycache__" and not state.path.endswith("__pycache__"):
            with self._lock:
                self._found[path] = Conflict(
                    path,
                    self.owners[winner.entry.owner],
                    tuple(sorted(self.owners[o] for o in losers)),
                )
        if self.links is not None and isinstance(winner.entry, Real) and len(merged) <= 1:
            # one store path holds this name (a subtree unique to one wheel, or a
            # conflict's winning file): the kernel reads it from the store itself
            return self._add(LinkNode(self._alloc(), 0o777, self.mtime_ns, self.links.target(winner.entry.path)))
        if merged:
            sources: list[Source] = []
            for c in merged:
                if isinstance(c.entry, VDir):
                    sources.extend(c.entry.sources)
                else:
                    assert isinstance(c.entry, Real)
                    sources.append(Layer(c.entry.owner, c.entry.path))
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

    def _add(self, node: Node) -> Node:
        with self._lock:
            self._nodes[node.ino] = node
        return node

    def _leaf(self, c: _Candidate, shadowed: list[_Candidate]) -> Node:
        entry = c.entry
        if isinstance(entry, Synth):
            data = entry.make()
            mode = entry.mode
            # a file the installer rewrites in place (RECORD over the wheel's) keeps its mode, as in uv
            for other in shadowed:
                if other.entry.owner == entry.owner and other.st is not None and stat.S_ISREG(other.st.st_mode):
                    mode = file_mode(other.st.st_mode)
            return self._add(FileNode(self._alloc(), mode, self.mtime_ns, len(data), data=data))
        if isinstance(entry, Link):
            return self._add(LinkNode(self._alloc(), 0o777, self.mtime_ns, entry.target))
        assert isinstance(entry, Real) and c.st is not None and stat.S_ISREG(c.st.st_mode)
        mode = file_mode(c.st.st_mode)
        return self._add(FileNode(self._alloc(), mode, c.st.st_mtime_ns, c.st.st_size, real=entry.path))

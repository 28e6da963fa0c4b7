"""The fetch pipeline: make every item of a plan present in the store, compiled for a target.

Two phases, so that a failed fetch leaves the store as it was:

1. **Stage** (:meth:`Fetch.stage`, all items at once in a thread pool): under
   the entry's flock, a missing entry is acquired (copied, taken from uv's
   cache, downloaded or built), unpacked, verified, compiled for the target
   into its own ``__pycache__`` dirs and sealed, then renamed into
   ``staged/<sha>/entry``; an entry that exists (or is staged) without the
   target's cache tag gets that tag's pycs compiled into
   ``staged/<sha>/<cache_tag>``. Staged parts of other fetches are used, not
   redone.
2. **Promote** (:meth:`Fetch.promote`, once every item is staged or present):
   a staged entry is renamed into ``wheels/`` whole and its root sealed; a
   staged tag is added to the entry in place (each pyc by one rename, the tag
   recorded in ``entry.json`` last, see :func:`vsite.store.bytecode.add_pycs`).

An item whose entry a shared store of the search path holds, compiled for the
target and intact (vsite.store.search), is used there in place: nothing is
staged, promoted or written for it (report field ``shared``). One that a shared
store holds but refused, or holds without the target's bytecode, is fetched
into the local store; ``FetchReport.notes`` says so in one line each.

If any item fails, the parts this fetch staged are withdrawn. The budgets
(``jobs`` downloads, one unpack or compile per core + 1) belong to one fetch,
so two fetches through one :class:`~vsite.store.Store` do not share them.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import shutil
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from vsite.errors import StoreError
from vsite.fileio import copy_hashing
from vsite.plan.model import Artifact, Plan, PlanItem
from vsite.store import usage
from vsite.store.atomic import STORE_ERRNOS, clean_debris, flocked, remove_tree, rename_into_place, withdraw, work_dir
from vsite.store.bytecode import add_pycs, compile_tree, seal_pycs
from vsite.store.index import bytecode_tags, read_summary, write_summary
from vsite.store.keys import what
from vsite.store.seal import WRITE_BITS, seal_dir, seal_tree
from vsite.target import Target

if TYPE_CHECKING:
    from vsite.store.store import Store

Progress = Callable[[PlanItem, str], None]  # an item is done: (item, the report field it went to)
Received = Callable[[int], None]  # bytes downloaded (a chunk), from any of the fetch's threads


@dataclass
class FetchReport:
    """What one fetch did, by package name."""

    downloaded: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    local: list[str] = field(default_factory=list)
    from_uv_cache: list[str] = field(default_factory=list)
    from_shared: list[str] = field(default_factory=list)  # copied from a shared store lacking the target's bytecode
    built: list[str] = field(default_factory=list)
    compiled: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # virtual items: nothing to install
    shared: list[str] = field(default_factory=list)  # used in place from a shared store (vsite.store.search)
    # one line each: a shared store's entry refused (failed its seal, unreadable) or found
    # without the target's bytecode, so fetched into the local store instead
    notes: list[str] = field(default_factory=list)


def fetch(
    store: "Store",
    plan: Plan,
    target: Target,
    *,
    offline: bool = False,
    jobs: int = 8,
    progress: Progress | None = None,
    received: Received | None = None,
) -> FetchReport:
    """Run one :class:`Fetch`. The store's own disk failing (full, read-only, ...) is a
    StoreError naming the store, not a traceback; what the fetch staged is withdrawn.
    ``progress`` hears of each item done, ``received`` of each chunk downloaded
    (vsite.store.progress.FetchMeter shows both)."""
    layout = store.layout
    try:
        return Fetch(store, target, offline=offline, jobs=jobs, received=received).run(plan, progress)
    except OSError as exc:
        in_store = layout.contains(exc.filename) or layout.contains(exc.filename2)
        if exc.errno not in STORE_ERRNOS and not in_store:
            raise
        where = f" ({exc.filename})" if exc.filename and exc.errno not in STORE_ERRNOS else ""
        raise StoreError(f"cannot write the store at {layout.root}: {exc.strerror or exc}{where}") from None


class Fetch:
    """One fetch of a plan for ``target``: its budgets and the parts it staged."""

    def __init__(
        self, store: "Store", target: Target, *, offline: bool = False, jobs: int = 8, received: Received | None = None
    ) -> None:
        self.store = store
        self.received = received
        self.layout = store.layout
        self.target = target
        self.offline = offline
        self.jobs = max(1, jobs)
        # Separate budgets for network and CPU: ``jobs`` downloads and one
        # unpack/compile per core (+1 to cover I/O waits) run at once, so
        # downloads continue while earlier wheels compile.
        self.net = threading.BoundedSemaphore(self.jobs)
        self.cpu = threading.BoundedSemaphore((os.cpu_count() or 1) + 1)
        self.staged: list[Path] = []  # parts this fetch put in staged/, withdrawn if it fails
        self._staged_lock = threading.Lock()
        self.in_shared: set[str] = set()  # keys served in place by a shared store: nothing to promote
        self.copied: set[str] = set()  # keys copied from a shared store that lacked the target's bytecode

    def run(self, plan: Plan, progress: Progress | None = None) -> FetchReport:
        clean_debris(self.layout.tmp_dir())
        keyed = [(item, self.store.key(item)) for item in plan.items]
        usage.record_lock(
            self.store, key=plan.key(), lock_path=plan.lock_path, lock_sha256=plan.lock_sha256,
            keys=[k for _, k in keyed if k],
        )
        report = FetchReport()
        if self._all_ready(keyed):  # a fetched lock: no pool, nothing staged, nothing to promote
            for item, key in keyed:
                action = "skipped" if key is None else "shared" if key in self.in_shared else "reused"
                getattr(report, action).append(item.name)
                if progress:
                    progress(item, action)
            return report
        try:
            cores = os.cpu_count() or 1
            with ThreadPoolExecutor(max_workers=self.jobs + 2 * cores) as pool:
                # largest first: the big wheels' download, unpack and compile
                # otherwise form a single-threaded tail at the end
                by_size = sorted(keyed, key=lambda ik: -((ik[0].wheel.size or 0) if ik[0].wheel else 0))
                futures = {pool.submit(self.stage, item, key): item for item, key in by_size}
                try:
                    for fut in as_completed(futures):
                        item = futures[fut]
                        action, compiled = fut.result()
                        getattr(report, action).append(item.name)
                        if compiled:
                            report.compiled.append(item.name)
                        if progress:
                            progress(item, action)
                except BaseException:
                    for fut in futures:
                        fut.cancel()  # the first failure ends the fetch; running items finish
                    raise
            for item, key in keyed:
                if key is not None and key not in self.in_shared:
                    self.promote(item, key)
        except BaseException:
            withdraw(self.layout, self.staged)
            raise
        report.notes = self._notes(keyed)
        return report

    def _all_ready(self, keyed: list[tuple[PlanItem, str | None]]) -> bool:
        """Whether every entry is ready where the view will take it: in the local store, sealed and
        compiled for the target, or usable in place in a shared store (what :meth:`stage` finds
        first for each item, here without a thread each). Stops at the first entry that is
        neither; the shared stores' answers are memoized (SearchPath.find), so the pool and the
        view do not ask again."""
        tag = self.target.cache_tag
        search = self.store.search
        shared = []
        for _, key in keyed:
            if key is None or _ready(self.layout.wheel_dir(key), tag):
                continue
            if not search or search.find(key, tag) is None:
                return False
            shared.append(key)
        self.in_shared.update(shared)
        return True

    def _notes(self, keyed: list[tuple[PlanItem, str | None]]) -> list[str]:
        """One line per shared-store entry of this plan that was refused, or that lacked the bytecode."""
        search = self.store.search
        notes = []
        for item, key in keyed:
            if key is None or key in self.in_shared:
                continue
            if key in search.refused:
                notes.append(search.refused[key].line(what(item)) + "; fetched into the local store")
            elif key in search.untagged:
                root, tag = search.untagged[key]
                done = "copied into the local store and compiled" if key in self.copied \
                    else "fetched into the local store"
                notes.append(f"{what(item)}: the shared store {root} has no {tag} bytecode for it; {done}")
        return notes

    # -- phase one ---------------------------------------------------------

    def stage(self, item: PlanItem, key: str | None) -> tuple[str, bool]:
        """Make the item's entry, compiled for the target, exist: in the store or in ``staged/``.

        Returns the report field and whether this fetch compiled bytecode.
        Nothing in ``wheels/`` changes before every item of the plan is ready
        (:meth:`promote`).
        """
        if key is None:
            return "skipped", False
        entry = self.layout.wheel_dir(key)
        tag = self.target.cache_tag
        if _ready(entry, tag):
            return "reused", False  # no lock, no network
        if self.store.search and self.store.search.find(key, tag) is not None:
            with self._staged_lock:
                self.in_shared.add(key)
            return "shared", False  # used in place: nothing is written anywhere
        action, compiled = "reused", False
        staged_entry = self.layout.staged_entry(key)
        with flocked(self.layout.lock_file(key)):
            if not _complete(entry) and not _complete(staged_entry):
                action = self._acquire(item, key, self.offline, staged_entry)
                self._note(staged_entry)
                compiled = True
            else:
                source = entry if _complete(entry) else staged_entry
                mirror = self.layout.staged_bytecode(key, tag)
                if tag not in bytecode_tags(source) and not mirror.is_dir():
                    self._compile_mirror(source, mirror)
                    self._note(mirror)
                    compiled = True
        return action, compiled

    def _note(self, part: Path) -> None:
        with self._staged_lock:
            self.staged.append(part)

    def _acquire(self, item: PlanItem, key: str, offline: bool, dest: Path) -> str:
        """Copy, take from uv's cache, download or build the wheel; unpack, compile, seal, rename to ``dest``."""
        from vsite.store.build import build_wheel  # fetch-only modules load on demand: a mount
        from vsite.store.unpack import unpack_wheel  # of a warm store imports none of them

        with work_dir(self.layout.tmp_dir()) as work:
            unpacked = work / "entry"
            if item.kind != "wheel":
                if offline:
                    raise StoreError(f"{what(item)} needs a build ({item.kind}) and --offline was given")
                get_sdist = functools.partial(self._get_file, item.sdist, item)
                wheel_file = build_wheel(item, self.target.executable, work, get_sdist)
                with self.cpu:
                    unpack_wheel(wheel_file, wheel_file.name, key, unpacked)
                action = "built"
            elif self.from_shared(key, unpacked):
                action = "from_shared"
            elif self.from_uv_cache(item, key, unpacked):
                action = "from_uv_cache"
            else:
                art = item.wheel
                assert art is not None
                if offline and not art.path:
                    refused = self.store.search.refused.get(key)
                    also = f"; {refused.text}" if refused else ""
                    raise StoreError(
                        f"{what(item)} ({art.filename}) is not in the store and --offline was given{also}"
                    )
                wheel_file = work / art.filename
                action = self._get_file(art, item, wheel_file, key)
                with self.cpu:
                    unpack_wheel(wheel_file, art.filename, key, unpacked)
            # First fetch: compile into the entry itself, before it is sealed.
            with self.cpu:
                compile_tree(self.target.executable, unpacked / "site", unpacked / "site")
            summary = dataclasses.replace(read_summary(unpacked), bytecode=(self.target.cache_tag,))
            write_summary(unpacked, summary, sealed=False)
            # the root stays writable until it is renamed into wheels/ (rename(2) needs it)
            seal_tree(unpacked, summary.sealed_ns, include_root=False)
            rename_into_place(unpacked, dest)
        return action

    def _get_file(self, art: Artifact | None, item: PlanItem, dest: Path, sha256: str | None = None) -> str:
        """Copy (local path) or download ``art`` to ``dest``, checking its sha256; return the report field."""
        from vsite.store.download import download

        if art is None:
            raise StoreError(f"{what(item)}: the plan names no file to fetch")
        sha256 = sha256 or art.sha256
        if art.path:
            got = _copy_hashing(Path(art.path), dest)
            if sha256 and got != sha256:
                raise StoreError(
                    f"hash mismatch for {what(item)}: lock says sha256:{sha256}, {art.path} has sha256:{got}"
                )
            return "local"
        if not art.url:
            raise StoreError(f"{what(item)}: the lock gives neither url nor path for {art.filename}")
        if not sha256:
            raise StoreError(
                f"{what(item)}: the lock gives no sha256 for {art.filename}; refusing to fetch it unverified"
            )
        with self.net:
            download(art.url, dest, what=what(item), sha256=sha256, size=art.size, progress=self.received)
        return "downloaded"

    def from_shared(self, key: str, dest: Path) -> bool:
        """Copy the entry a shared store holds without the target's bytecode (SearchPath.untagged)
        to ``dest``, leaving its pycs behind, for :meth:`_acquire` to compile and seal: no download,
        and it works offline. False, with nothing left at ``dest``, if no store holds it so or the
        copy is not exactly the files of the entry's index (vsite.store.maintenance.check_files);
        the wheel is then acquired as if no shared store had it. A failure to write ``dest``
        (the local store's disk) is raised."""
        from vsite.store.layout import StoreLayout
        from vsite.store.maintenance import check_files

        found = self.store.search.untagged.get(key) if self.store.search else None
        if found is None:
            return False
        source = StoreLayout(found[0]).wheel_dir(key)
        try:
            with self.cpu:
                _copy_entry_files(source, dest, read_summary(source).bytecode)
                unusable = check_files(dest, ())
        except OSError as exc:
            if self.layout.contains(exc.filename) or self.layout.contains(exc.filename2):
                raise
            unusable = f"unreadable ({exc.strerror or exc})"
        except (ValueError, KeyError, TypeError) as exc:
            unusable = f"unreadable entry.json ({exc.__class__.__name__})"
        if unusable:
            remove_tree(dest)
            self.store.search.refuse_untagged(key, f"could not be copied ({unusable})")
            return False
        with self._staged_lock:
            self.copied.add(key)
        return True

    def from_uv_cache(self, item: PlanItem, key: str, dest: Path) -> bool:
        """Unpack the wheel from uv's cache if uv recorded the same sha256 and it verifies."""
        from vsite.store.unpack import unpack_tree
        from vsite.store.uvcache import find_archive

        if not self.store.use_uv_cache:
            return False
        assert item.wheel is not None
        archive = find_archive(item.name, item.wheel.filename, key)
        if archive is None:
            return False
        try:
            with self.cpu:
                unpack_tree(archive, item.wheel.filename, key, item.wheel.size or 0, dest)
        except (StoreError, OSError):
            shutil.rmtree(dest, ignore_errors=True)  # changed since uv unpacked it: download instead
            return False
        return True

    def _compile_mirror(self, entry: Path, dest: Path) -> None:
        """Compile ``entry``'s ``site/`` for the target into the mirror ``dest`` (pycs sealed like the entry)."""
        with work_dir(self.layout.tmp_dir()) as work, self.cpu:
            compile_tree(self.target.executable, entry / "site", work / "pyc")
            seal_pycs(work / "pyc", read_summary(entry).sealed_ns)
            rename_into_place(work / "pyc", dest)

    # -- phase two ---------------------------------------------------------

    def promote(self, item: PlanItem, key: str) -> None:
        """Move staged parts into ``wheels/`` (redoing any another fetch withdrew)."""
        entry = self.layout.wheel_dir(key)
        tag = self.target.cache_tag
        if _ready(entry, tag):
            return
        staged_entry = self.layout.staged_entry(key)
        mirror = self.layout.staged_bytecode(key, tag)
        with flocked(self.layout.lock_file(key)):
            if not _complete(entry):
                if not _complete(staged_entry):
                    self._acquire(item, key, False, staged_entry)
                    self._note(staged_entry)
                rename_into_place(staged_entry, entry)
            if os.lstat(entry).st_mode & WRITE_BITS:  # just renamed, or a fetch was killed right after
                seal_dir(entry, read_summary(entry).sealed_ns)  # the seal's last step, in place
            if tag not in bytecode_tags(entry):
                if not mirror.is_dir():
                    self._compile_mirror(entry, mirror)
                    self._note(mirror)
                self._add_tag(entry, mirror, tag)
            if mirror.is_dir():
                remove_tree(mirror)  # its pycs are in the entry now (or were already)
            try:
                self.layout.staged_dir(key).rmdir()
            except OSError:
                pass  # another fetch's part still staged there

    def _add_tag(self, entry: Path, mirror: Path, tag: str) -> None:
        """Add the pycs of ``mirror`` to the sealed ``entry``, then record ``tag`` in its summary.

        The summary is written last, by atomic replace, so "tag present" is
        atomic: a reader that sees the tag finds every pyc. On failure the
        entry is restored as it was.
        """
        summary = read_summary(entry)
        with work_dir(self.layout.tmp_dir()) as work:
            undo = add_pycs(entry / "site", mirror, summary.sealed_ns, work / "replaced")
            try:
                write_summary(entry, dataclasses.replace(summary, bytecode=(*summary.bytecode, tag)))
            except BaseException:
                undo()
                raise


def _complete(entry: Path) -> bool:
    return (entry / "entry.json").is_file()


def _ready(entry: Path, tag: str) -> bool:
    """The entry is in place, sealed to its own directory, and lists ``tag`` (one small read, one lstat)."""
    if tag not in bytecode_tags(entry):
        return False
    try:
        return not os.lstat(entry).st_mode & WRITE_BITS
    except OSError:
        return False


def _copy_entry_files(source: Path, dest: Path, tags: tuple[str, ...]) -> None:
    """Copy the entry ``source`` to ``dest`` (which must not exist) as unpacked: its dirs (empty ones
    too) and files, writable, with their executable bits, but not the pycs compiled for ``tags``
    (``site/**/__pycache__/*.<tag>.pyc``). Links are not followed (a sealed entry has none; the
    check after the copy refuses one)."""
    from vsite.store.bytecode import is_compiled_name

    for dirpath, dirnames, filenames in os.walk(source):
        rel = os.path.relpath(dirpath, source)
        out = dest if rel == os.curdir else dest / rel
        out.mkdir(mode=0o755)
        for name in dirnames:
            if os.path.islink(os.path.join(dirpath, name)):
                os.symlink(os.readlink(os.path.join(dirpath, name)), out / name)
        in_site = rel == "site" or rel.startswith("site/")
        for name in filenames:
            path = os.path.join(dirpath, name)
            if in_site and is_compiled_name(f"{rel[5:]}/{name}", tags):
                continue
            if os.path.islink(path):
                os.symlink(os.readlink(path), out / name)
                continue
            shutil.copyfile(path, out / name, follow_symlinks=False)
            os.chmod(out / name, 0o755 if os.stat(path).st_mode & 0o111 else 0o644)


def _copy_hashing(src: Path, dest: Path) -> str:
    import hashlib

    sha = hashlib.sha256()
    try:
        with open(src, "rb") as f, open(dest, "wb") as out:
            copy_hashing(f, out, sha)
    except OSError as exc:
        if exc.errno in STORE_ERRNOS:
            raise  # the store's disk, not the wheel
        raise StoreError(f"cannot read {src}: {exc.strerror}") from None
    return sha.hexdigest()

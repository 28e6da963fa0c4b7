"""The store: fetch a plan's wheels once per machine, unpacked, verified and compiled.

:class:`Store` is what the other stages call: :meth:`Store.fetch` fills the
store for a plan; :meth:`Store.entry_dir`, :meth:`Store.bytecode_dir` and
:meth:`Store.summary` read it (views); :meth:`Store.verify`,
:meth:`Store.entries` and :meth:`Store.gc` maintain it (``vsite cache``).

An entry is keyed by the wheel's sha256 from the lock (a local wheel without a
hash in the lock is hashed). Getting an entry happens under that key's flock
in a pid-named work dir and ends with one rename, so concurrent fetches
download each wheel once and readers only ever see whole entries.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from vsite.errors import StoreError
from vsite.paths import cache_dir
from vsite.plan.model import Artifact, Plan, PlanItem
from vsite.store import usage
from vsite.store.atomic import clean_debris, flocked, rename_into_place, work_dir
from vsite.store.build import build_wheel, source_key
from vsite.store.bytecode import check_tree as check_bytecode, compile_tree
from vsite.store.download import download
from vsite.store.index import EntrySummary, read_files, read_summary
from vsite.store.layout import SCHEMES, StoreLayout
from vsite.store.seal import check_tree as check_seal, seal_tree
from vsite.store.unpack import STORE_ERRNOS, unpack_tree, unpack_wheel
from vsite.store.uvcache import find_archive
from vsite.target import Target

Progress = Callable[[PlanItem, str], None]


@dataclass
class FetchReport:
    """What one fetch did, by package name."""

    downloaded: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    local: list[str] = field(default_factory=list)
    from_uv_cache: list[str] = field(default_factory=list)
    built: list[str] = field(default_factory=list)
    compiled: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # virtual items: nothing to install


@dataclass(frozen=True)
class EntryInfo:
    """One entry as ``vsite cache ls`` shows it."""

    key: str
    summary: EntrySummary
    disk_size: int
    locks: tuple[str, ...]
    cache_tags: tuple[str, ...]


def _sha256_file(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1024 * 1024):
            sha.update(chunk)
    return sha.hexdigest()


def _what(item: PlanItem) -> str:
    return f"{item.name} {item.version}"


class Store:
    """A content-addressed store of unpacked wheels at ``root`` (default: the cache dir)."""

    def __init__(self, root: Path | str | None = None, *, use_uv_cache: bool = True) -> None:
        self.layout = StoreLayout(Path(root) if root is not None else cache_dir())
        self.use_uv_cache = use_uv_cache
        self._net = self._cpu = threading.BoundedSemaphore(1)  # set per fetch
        self._local_keys: dict[tuple[str, int, int], str] = {}

    # -- keys and reading -------------------------------------------------

    def key(self, item: PlanItem) -> str | None:
        """The entry key of ``item``: the wheel's sha256 (hashed for a local wheel the lock
        gives none), a source hash for items built from source, None for virtual items."""
        if item.kind == "virtual":
            return None
        if item.kind != "wheel":
            return source_key(item)
        art = item.wheel
        if art is None:
            raise StoreError(f"{_what(item)}: the plan names no wheel")
        if art.sha256:
            return art.sha256.lower()
        if art.path:
            try:
                st = os.stat(art.path)
            except OSError as exc:
                raise StoreError(f"{_what(item)}: cannot read {art.path}: {exc.strerror}") from None
            cache_key = (art.path, st.st_size, st.st_mtime_ns)
            if cache_key not in self._local_keys:
                self._local_keys[cache_key] = _sha256_file(Path(art.path))
            return self._local_keys[cache_key]
        raise StoreError(f"{_what(item)}: the lock gives no sha256 for {art.filename}; refusing to fetch it unverified")

    def entry_dir(self, item: PlanItem) -> Path | None:
        """The complete entry of ``item``, or None if it is not in the store."""
        key = self.key(item)
        if key is None:
            return None
        path = self.layout.wheel_dir(key)
        return path if (path / "entry.json").is_file() else None

    def bytecode_dir(self, item: PlanItem, cache_tag: str) -> Path | None:
        """The compiled mirror of ``item``'s ``site/`` for ``cache_tag``, or None."""
        key = self.key(item)
        if key is None:
            return None
        path = self.layout.bytecode_dir(cache_tag, key)
        return path if path.is_dir() else None

    def summary(self, item: PlanItem) -> EntrySummary:
        entry = self.entry_dir(item)
        if entry is None:
            raise StoreError(f"{_what(item)} is not in the store; run `vsite fetch` first")
        return read_summary(entry)

    # -- fetching ---------------------------------------------------------

    def fetch(
        self,
        plan: Plan,
        target: Target,
        *,
        offline: bool = False,
        jobs: int = 8,
        progress: Progress | None = None,
    ) -> FetchReport:
        """Make every item of ``plan`` present and compiled for ``target``.

        The store's own disk failing (full, read-only, ...) is a StoreError
        naming the store, not a traceback; what this fetch staged is withdrawn.
        """
        try:
            return self._fetch(plan, target, offline=offline, jobs=jobs, progress=progress)
        except OSError as exc:
            in_store = str(exc.filename or "").startswith(str(self.layout.root))
            if exc.errno not in STORE_ERRNOS and not in_store:
                raise
            where = f" ({exc.filename})" if exc.filename and exc.errno not in STORE_ERRNOS else ""
            raise StoreError(f"cannot write the store at {self.layout.root}: {exc.strerror or exc}{where}") from None

    def _fetch(
        self, plan: Plan, target: Target, *, offline: bool, jobs: int, progress: Progress | None
    ) -> FetchReport:
        clean_debris(self.layout.tmp_dir())
        keyed = [(item, self.key(item)) for item in plan.items]
        usage.record_lock(
            self,
            key=plan.key(),
            lock_path=plan.lock_path,
            lock_sha256=plan.lock_sha256,
            keys=[k for _, k in keyed if k],
        )
        report = FetchReport()
        staged: list[Path] = []  # parts this fetch put in staged/, removed again if it fails
        try:
            # Separate budgets for network and CPU: ``jobs`` downloads and one
            # unpack/compile per core (+1 to cover I/O waits) run at once, so
            # downloads continue while earlier wheels compile.
            self._net = threading.BoundedSemaphore(max(1, jobs))
            self._cpu = threading.BoundedSemaphore((os.cpu_count() or 1) + 1)
            with ThreadPoolExecutor(max_workers=max(1, jobs) + 2 * (os.cpu_count() or 1)) as pool:
                # largest first: the big wheels' download, unpack and compile
                # otherwise form a single-threaded tail at the end
                by_size = sorted(keyed, key=lambda ik: -((ik[0].wheel.size or 0) if ik[0].wheel else 0))
                futures = {
                    pool.submit(self._stage, item, key, target, offline, staged): item for item, key in by_size
                }
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
                if key is not None:
                    self._promote(item, key, target)
        except BaseException:
            self._unstage(staged)
            raise
        return report

    def _stage(
        self, item: PlanItem, key: str | None, target: Target, offline: bool, staged: list[Path]
    ) -> tuple[str, bool]:
        """Phase one: make the item's entry and bytecode exist, in the store or in ``staged/``.

        Nothing enters ``wheels/`` or ``bytecode/`` before every item of the
        plan is ready (:meth:`_promote`), so a failed fetch leaves the store as
        it was. Staged parts of other fetches are used, not redone: each wheel
        is downloaded once however many fetches run.
        """
        if key is None:
            return "skipped", False
        entry = self.layout.wheel_dir(key)
        bytecode = self.layout.bytecode_dir(target.cache_tag, key)
        if (entry / "entry.json").is_file() and bytecode.is_dir():
            return "reused", False
        stage = self.layout.staged_dir(key)
        action, compiled = "reused", False
        with flocked(self.layout.lock_file(key)):
            if not (entry / "entry.json").is_file() and not (stage / "entry" / "entry.json").is_file():
                action = self._acquire(item, key, target, offline, stage / "entry")
                staged.append(stage / "entry")
            if not bytecode.is_dir() and not (stage / target.cache_tag).is_dir():
                site = entry / "site" if (entry / "entry.json").is_file() else stage / "entry" / "site"
                self._compile(site, target, stage / target.cache_tag)
                staged.append(stage / target.cache_tag)
                compiled = True
        return action, compiled

    def _promote(self, item: PlanItem, key: str, target: Target) -> None:
        """Phase two: rename staged parts into ``wheels/`` and ``bytecode/`` (redoing any another fetch withdrew)."""
        entry = self.layout.wheel_dir(key)
        bytecode = self.layout.bytecode_dir(target.cache_tag, key)
        if (entry / "entry.json").is_file() and bytecode.is_dir():
            return
        stage = self.layout.staged_dir(key)
        with flocked(self.layout.lock_file(key)):
            if not (entry / "entry.json").is_file():
                if not (stage / "entry" / "entry.json").is_file():
                    self._acquire(item, key, target, False, stage / "entry")
                rename_into_place(stage / "entry", entry)
            if not bytecode.is_dir():
                if not (stage / target.cache_tag).is_dir():
                    self._compile(entry / "site", target, stage / target.cache_tag)
                rename_into_place(stage / target.cache_tag, bytecode)
            try:
                stage.rmdir()
            except OSError:
                pass  # another tag still staged there

    def _unstage(self, staged: list[Path]) -> None:
        """Withdraw what a failed fetch staged (under each key's lock; others may be using it)."""
        for part in staged:
            key = part.parent.name
            with flocked(self.layout.lock_file(key)), work_dir(self.layout.tmp_dir()) as work:
                if part.exists():
                    os.rename(part, work / "withdrawn")
                try:
                    part.parent.rmdir()
                except OSError:
                    pass

    def _acquire(self, item: PlanItem, key: str, target: Target, offline: bool, dest: Path) -> str:
        """Copy, take from uv's cache, download or build the wheel; verify, unpack, rename to ``dest``."""
        with work_dir(self.layout.tmp_dir()) as work:
            if item.kind != "wheel":
                if offline:
                    raise StoreError(f"{_what(item)} needs a build ({item.kind}) and --offline was given")
                wheel_file = build_wheel(item, target.executable, work, lambda dest: self._get_file(item.sdist, item, dest))
                with self._cpu:
                    unpack_wheel(wheel_file, wheel_file.name, key, work / "entry")
                action = "built"
            elif self._from_uv_cache(item, key, work / "entry"):
                action = "from_uv_cache"
            else:
                art = item.wheel
                assert art is not None
                if offline and not art.path:
                    raise StoreError(f"{_what(item)} ({art.filename}) is not in the store and --offline was given")
                wheel_file = work / art.filename
                action = self._get_file(art, item, wheel_file, key)
                with self._cpu:
                    unpack_wheel(wheel_file, art.filename, key, work / "entry")
            rename_into_place(work / "entry", dest)
        return action

    def _get_file(self, art: Artifact | None, item: PlanItem, dest: Path, sha256: str | None = None) -> str:
        """Copy (local path) or download ``art`` to ``dest``, checking its sha256; return the report field."""
        if art is None:
            raise StoreError(f"{_what(item)}: the plan names no file to fetch")
        sha256 = sha256 or art.sha256
        if art.path:
            got = _copy_hashing(Path(art.path), dest)
            if sha256 and got != sha256:
                raise StoreError(f"hash mismatch for {_what(item)}: lock says sha256:{sha256}, {art.path} has sha256:{got}")
            return "local"
        if not art.url:
            raise StoreError(f"{_what(item)}: the lock gives neither url nor path for {art.filename}")
        if not sha256:
            raise StoreError(f"{_what(item)}: the lock gives no sha256 for {art.filename}; refusing to fetch it unverified")
        with self._net:
            download(art.url, dest, what=_what(item), sha256=sha256, size=art.size)
        return "downloaded"

    def _from_uv_cache(self, item: PlanItem, key: str, dest: Path) -> bool:
        """Unpack the wheel from uv's cache if uv recorded the same sha256 and it verifies."""
        if not self.use_uv_cache:
            return False
        assert item.wheel is not None
        archive = find_archive(item.name, item.wheel.filename, key)
        if archive is None:
            return False
        try:
            with self._cpu:
                unpack_tree(archive, item.wheel.filename, key, item.wheel.size or 0, dest)
        except (StoreError, OSError):
            shutil.rmtree(dest, ignore_errors=True)  # changed since uv unpacked it: download instead
            return False
        return True

    def _compile(self, site: Path, target: Target, dest: Path) -> None:
        """Compile ``site`` into ``dest``, sealed like its entry (same mtime)."""
        with work_dir(self.layout.tmp_dir()) as work, self._cpu:
            compile_tree(target.executable, site, work / "pyc")
            seal_tree(work / "pyc", read_summary(site.parent).sealed_ns)
            rename_into_place(work / "pyc", dest)

    # -- maintenance ------------------------------------------------------

    def keys(self) -> list[str]:
        """Keys of all complete entries."""
        wheels = self.layout.base / "wheels"
        try:
            names = sorted(os.listdir(wheels))
        except FileNotFoundError:
            return []
        return [n for n in names if (wheels / n / "entry.json").is_file()]

    def entries(self) -> list[EntryInfo]:
        """Every entry with its disk size, the locks that used it and its compiled tags."""
        users: dict[str, list[str]] = {}
        for rec in usage.lock_records(self):
            for k in rec.keys:
                users.setdefault(k, []).append(rec.lock_path)
        bytecode_root = self.layout.base / "bytecode"
        tags = sorted(os.listdir(bytecode_root)) if bytecode_root.is_dir() else []
        out = []
        for key in self.keys():
            entry = self.layout.wheel_dir(key)
            size = sum(f.size for f in read_files(entry))
            out.append(
                EntryInfo(
                    key=key,
                    summary=read_summary(entry),
                    disk_size=size,
                    locks=tuple(sorted(set(users.get(key, ())))),
                    cache_tags=tuple(t for t in tags if self.layout.bytecode_dir(t, key).is_dir()),
                )
            )
        return out

    def verify(self, keys: Iterable[str] | None = None) -> list[tuple[str, str]]:
        """Rehash entries and check their bytecode (default: all); return ``(key, reason)`` for each corrupt one."""
        problems = []
        for key in sorted(keys) if keys is not None else self.keys():
            reason = self._verify_entry(key)
            if reason:
                problems.append((key, reason))
        return problems

    def _verify_entry(self, key: str) -> str | None:
        entry = self.layout.wheel_dir(key)
        try:
            summary = read_summary(entry)
            records = read_files(entry)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            return f"unreadable index ({exc.__class__.__name__})"
        if summary.sha256 != key:
            return "entry.json names another wheel"
        expected = {(r.scheme, r.path) for r in records}
        for r in records:
            path = entry / r.scheme / r.path
            try:
                if path.is_symlink() or not path.is_file():
                    return f"{r.scheme}/{r.path} missing or not a regular file"
                if path.stat().st_size != r.size:
                    return f"{r.scheme}/{r.path} has the wrong size"
                digest = hashlib.sha256(path.read_bytes()).digest()
            except OSError as exc:
                return f"{r.scheme}/{r.path} unreadable ({exc.strerror})"
            if f"sha256={base64.urlsafe_b64encode(digest).decode().rstrip('=')}" != r.hash:
                return f"{r.scheme}/{r.path} has the wrong hash"
        for scheme in SCHEMES:
            base = entry / scheme
            for dirpath, dirs, files in os.walk(base):
                for name in files + [d for d in dirs if os.path.islink(os.path.join(dirpath, d))]:
                    rel = Path(dirpath, name).relative_to(base).as_posix()
                    if (scheme, rel) not in expected:
                        return f"unexpected file {scheme}/{rel}"
            try:
                changed = check_seal(base, summary.sealed_ns)
            except OSError as exc:
                return f"{scheme} unreadable ({exc.strerror})"
            if changed:
                return changed
        return self._verify_bytecode(key, summary.sealed_ns)

    def _verify_bytecode(self, key: str, sealed_ns: int) -> str | None:
        """Bytecode mirrors hold only ``__pycache__/*.pyc``, sealed with their entry.

        Each pyc's header is also checked against its source (an unchecked-hash
        header carries the source's hash); a code body edited in place with the
        header and mtime kept is not caught (no index of pyc hashes is kept).
        """
        root = self.layout.base / "bytecode"
        for tag in sorted(os.listdir(root)) if root.is_dir() else []:
            mirror = self.layout.bytecode_dir(tag, key)
            for dirpath, _dirs, files in os.walk(mirror):
                for name in files:
                    if not (name.endswith(".pyc") and os.path.basename(dirpath) == "__pycache__"):
                        return f"unexpected file in bytecode/{tag}: {os.path.relpath(os.path.join(dirpath, name), mirror)}"
            try:
                changed = check_seal(mirror, sealed_ns)
            except OSError as exc:
                return f"bytecode/{tag} unreadable ({exc.strerror})"
            if changed:
                return f"bytecode/{tag}: {changed.split('/', 1)[-1]}"
            stale = check_bytecode(self.layout.wheel_dir(key) / "site", mirror, tag)
            if stale:
                return stale
        return None

    def gc(self, *, max_age_days: float = 30.0, dry_run: bool = False, corrupt: bool = False) -> list[tuple[str, str]]:
        """Drop entries no lock used within ``max_age_days`` and no live mount pins.

        With ``corrupt``, also drop entries that fail :meth:`verify` (unless
        pinned: a live mount keeps what it has). Also removes stale usage
        records, dead pins and work dirs of dead fetches. Returns ``(key,
        "name version")`` of each dropped entry.
        """
        clean_debris(self.layout.tmp_dir())
        if not dry_run:
            self._clean_staged()
        horizon = time.time() - max_age_days * 86400
        keep: set[str] = set()
        for rec in usage.lock_records(self):
            if rec.time >= horizon:
                keep.update(rec.keys)
            elif not dry_run:
                usage.drop_lock_record(self, rec.key)
        pinned: set[str] = set()
        for pin in usage.live_pins(self, prune=not dry_run):
            pinned.update(pin.keys)
        if corrupt:
            keep -= {key for key, _ in self.verify()}
        keep |= pinned
        dropped = []
        wheels = self.layout.base / "wheels"
        names = sorted(os.listdir(wheels)) if wheels.is_dir() else []
        for key in names:
            if key in keep:
                continue
            try:
                summary = read_summary(self.layout.wheel_dir(key))
                label = f"{summary.name} {summary.version}"
            except (OSError, ValueError, KeyError, TypeError):
                label = "(incomplete entry)"
            dropped.append((key, label))
            if not dry_run:
                self._drop(key)
        return dropped

    def _clean_staged(self) -> None:
        """Withdraw staged parts (of killed fetches; a running fetch just redoes what it loses)."""
        staged_root = self.layout.base / "staged"
        names = os.listdir(staged_root) if staged_root.is_dir() else []
        self._unstage([staged_root / key / part for key in names for part in os.listdir(staged_root / key)])

    def _drop(self, key: str) -> None:
        """Remove an entry and its bytecode: renamed out first, so it vanishes whole."""
        with flocked(self.layout.lock_file(key)), work_dir(self.layout.tmp_dir()) as work:
            targets = [self.layout.wheel_dir(key)]
            bytecode_root = self.layout.base / "bytecode"
            if bytecode_root.is_dir():
                targets += [self.layout.bytecode_dir(tag, key) for tag in os.listdir(bytecode_root)]
            for i, path in enumerate(targets):
                if path.exists():
                    os.rename(path, work / str(i))
        # The lock file stays: unlinking it would let two processes lock different inodes.


def _copy_hashing(src: Path, dest: Path) -> str:
    sha = hashlib.sha256()
    try:
        with open(src, "rb") as f, open(dest, "wb") as out:
            while chunk := f.read(1024 * 1024):
                sha.update(chunk)
                out.write(chunk)
    except OSError as exc:
        if exc.errno in STORE_ERRNOS:
            raise  # the store's disk, not the wheel
        raise StoreError(f"cannot read {src}: {exc.strerror}") from None
    return sha.hexdigest()


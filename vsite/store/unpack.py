"""Unpack one verified wheel (a file, or a tree uv unzipped) into a (temporary) store entry directory.

The walk over the archive is pypa ``installer``'s own (:func:`installer.install`
with a :class:`installer.sources.WheelFile` source), so scheme mapping of
``.data`` directories, ``__pycache__`` skipping and entry-point parsing behave as
in pip and uv. The destination (:class:`_EntryDestination`) does not install:
it writes each file into the entry's scheme directory while hashing it, checks
hash and size against the wheel's RECORD in the same pass (one decompression
per file instead of installer's two, ``validate_record`` + write), and collects
the index (``files.json`` / ``entry.json``).

Before any byte is written the archive as a whole is screened
(:func:`screen_archive`): paths that escape, symlinks, device files, duplicate
names, and decompression bombs are rejected. Any problem raises
:class:`vsite.errors.StoreError` naming the wheel and the reason; the caller
throws the temporary directory away, so the store is unchanged.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import stat
import warnings
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from installer import install
from installer.destinations import WheelDestination
from installer.exceptions import InstallerError
from installer.records import RecordEntry, parse_record_file
from installer.sources import WheelFile, WheelSource
from installer.utils import parse_metadata_file, parse_wheel_filename
from packaging.utils import canonicalize_name

from vsite.errors import StoreError
from vsite.fileio import copy_hashing
from vsite.store.atomic import STORE_ERRNOS
from vsite.store.index import EntrySummary, FileRecord, b64_digest, record_hash
from vsite.store.seal import file_mode, seal_time

# Decompression-bomb limits. The zip headers bound what zipfile will inflate
# (it stops at file_size and checks the CRC), so the declared sizes are what
# we limit: total unpacked size, and the ratio of large members.
MAX_TOTAL_SIZE = 16 * 1024**3
MAX_RATIO = 200
RATIO_MIN_SIZE = 16 * 1024**2

# installer's scheme names -> the entry's directories (layout.SCHEMES)
_SCHEME_DIRS = {
    "purelib": "site",
    "platlib": "site",
    "scripts": "scripts",
    "headers": "headers",
    "data": "data",
}

# Failures of the store's own disk, not of the wheel: they pass through unchanged
# (Store.fetch reports them as such) instead of being blamed on the archive.


def _fail(wheel: str, reason: str) -> StoreError:
    return StoreError(f"rejected wheel {wheel}: {reason}")


def _not_the_wheels_fault(exc: BaseException) -> None:
    """Re-raise a full or read-only store disk as itself."""
    if isinstance(exc, OSError) and exc.errno in STORE_ERRNOS:
        raise exc


def _bad_name(name: str) -> str | None:
    """Why an archive member name is unsafe, or None."""
    if name.startswith("/") or "\\" in name or (len(name) > 1 and name[1] == ":"):
        return f"absolute or non-posix path {name!r}"
    parts = name.rstrip("/").split("/")
    if any(p in ("", ".", "..") for p in parts):
        return f"path escapes the wheel {name!r}"
    if "\0" in name:
        return f"NUL in path {name!r}"
    return None


def screen_archive(zf: zipfile.ZipFile, wheel: str) -> None:
    """Reject unsafe archives before anything is extracted."""
    infos = zf.infolist()
    dupes = [n for n, c in Counter(i.filename for i in infos).items() if c > 1]
    if dupes:
        raise _fail(wheel, f"duplicate member {dupes[0]!r}")
    total = 0
    for info in infos:
        why = _bad_name(info.filename)
        if why:
            raise _fail(wheel, why)
        mode = info.external_attr >> 16
        if info.create_system == 3 and mode:
            kind = stat.S_IFMT(mode)
            if stat.S_ISLNK(mode):
                raise _fail(wheel, f"symlink member {info.filename!r}")
            if kind and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                raise _fail(wheel, f"special file member {info.filename!r}")
        if info.flag_bits & 0x1:
            raise _fail(wheel, f"encrypted member {info.filename!r}")
        total += info.file_size
        if total > MAX_TOTAL_SIZE:
            raise _fail(wheel, f"unpacked size exceeds {MAX_TOTAL_SIZE} bytes (decompression bomb)")
        if info.file_size > RATIO_MIN_SIZE and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise _fail(
                wheel,
                f"member {info.filename!r} inflates {info.file_size // max(info.compress_size, 1)}x"
                " (decompression bomb)",
            )


class _RecordedStream:
    """A member's stream plus its RECORD entry, so the destination can verify it."""

    def __init__(self, stream: BinaryIO, record: RecordEntry) -> None:
        self._stream = stream
        self.record = record

    def read(self, n: int = -1) -> bytes:
        return self._stream.read(n)


class _CheckedWheelFile(WheelFile):
    """installer's WheelFile, handing each stream out with its RECORD entry."""

    def member_names(self) -> list[str]:
        return self._zipfile.namelist()

    def dir_names(self) -> list[str]:
        return [n.rstrip("/") for n in self._zipfile.namelist() if n.endswith("/")]

    def is_executable(self, name: str) -> bool:
        mode = self._zipfile.getinfo(name).external_attr >> 16
        return bool(mode and stat.S_ISREG(mode) and mode & 0o111)

    def get_contents(self):
        for elements, stream, is_executable in super().get_contents():
            yield elements, _RecordedStream(stream, RecordEntry.from_elements(*elements)), is_executable


@dataclass
class _EntryDestination(WheelDestination):
    """Writes a wheel's files into ``<entry>/<scheme dir>/`` and collects the index."""

    root: Path
    wheel: str
    files: dict[tuple[str, str], FileRecord] = field(default_factory=dict)
    entry_points: dict[str, dict[str, str]] = field(default_factory=dict)

    def write_script(self, name: str, module: str, attr: str, section: str) -> RecordEntry:
        # Launchers are the view's job (they name the venv's interpreter); keep the spec.
        group = "gui_scripts" if section == "gui" else "console_scripts"
        self.entry_points.setdefault(group, {})[name] = f"{module}:{attr}"
        return RecordEntry(name, None, None)

    def write_file(self, scheme, path, stream, is_executable) -> RecordEntry:
        scheme_dir = _SCHEME_DIRS[scheme]
        rel = posixpath.normpath(str(path))
        if rel.startswith("../") or rel in ("..", ".") or rel.startswith("/"):
            raise _fail(self.wheel, f"path escapes its scheme: {path}")
        key = (scheme_dir, rel)
        if key in self.files:
            raise _fail(self.wheel, f"two members install to {scheme_dir}/{rel}")
        record: RecordEntry | None = getattr(stream, "record", None)
        algo = record.hash_.name if record is not None and record.hash_ is not None else "sha256"
        target = self.root / scheme_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        check = hashlib.new(algo)
        sha = check if algo == "sha256" else hashlib.sha256()
        try:
            with open(target, "xb") as out:
                size = copy_hashing(stream, out, *((check,) if sha is check else (check, sha)))
        except FileExistsError:
            raise _fail(self.wheel, f"two members install to {scheme_dir}/{rel}") from None
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise _fail(self.wheel, f"cannot read {rel}: {exc}") from None
        except OSError as exc:  # the store's side: disk full, permissions
            _not_the_wheels_fault(exc)  # a full or read-only disk: fetch names the store
            raise StoreError(f"cannot write {self.wheel}'s {rel} into the store: {exc.strerror or exc}") from None
        if record is not None:
            if record.hash_ is None or record.size is None:
                raise _fail(self.wheel, f"RECORD lacks hash or size of {record.path}")
            digest = b64_digest(check.digest())
            if digest != record.hash_.value or size != record.size:
                raise _fail(self.wheel, f"{record.path} does not match RECORD (hash or size)")
        mode = file_mode(0o111 if is_executable else 0)
        os.chmod(target, mode)  # sealed (read-only) with the whole entry once it is complete
        self.files[key] = FileRecord(scheme_dir, rel, size, record_hash(sha.digest()), mode)
        return RecordEntry(rel, None, size)

    def finalize_installation(self, scheme, record_file_path, records) -> None:
        """Nothing to rewrite: the original RECORD is kept (written in :func:`unpack_wheel`)."""


def unpack_wheel(wheel_path: Path, filename: str, sha256: str, dest: Path) -> EntrySummary:
    """Unpack ``wheel_path`` (already hash-checked, named ``filename``) into ``dest``.

    ``dest`` must not exist; on success it holds the scheme dirs, ``entry.json``
    and ``files.json``, not yet sealed (the caller compiles bytecode into it
    first, then seals it: vsite.store.seal). On failure it may hold debris the
    caller removes.
    """
    try:
        zf = zipfile.ZipFile(wheel_path)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise _fail(filename, f"not a readable zip archive ({exc})") from None
    with zf:
        screen_archive(zf, filename)
        # installer reads the name/version from the filename the zip was opened under
        zf.filename = filename
        try:
            source = _CheckedWheelFile(zf)
        except ValueError as exc:
            raise _fail(filename, _short(exc)) from None
        return _install_into(source, filename, sha256, wheel_path.stat().st_size, dest)


def unpack_tree(tree: Path, filename: str, sha256: str, size: int, dest: Path) -> EntrySummary:
    """Like :func:`unpack_wheel`, from a wheel already unzipped (by uv) into ``tree``.

    Every file is checked against the tree's RECORD exactly as for an archive,
    and the tree must hold exactly the files RECORD lists.
    """
    screen_tree(tree, filename)
    try:
        source = _TreeSource(tree, filename)
    except ValueError as exc:
        raise _fail(filename, _short(exc)) from None
    return _install_into(source, filename, sha256, size, dest)


def _install_into(
    source: _CheckedWheelFile | _TreeSource, filename: str, sha256: str, size: int, dest: Path
) -> EntrySummary:
    try:
        dist_info = source.dist_info_dir
        # Names only: every member listed in RECORD. Contents are checked while
        # writing (one pass).
        source.validate_record(validate_contents=False)
        record_text = source.read_dist_info("RECORD")
        metadata = parse_metadata_file(source.read_dist_info("METADATA"))
        wheel_meta = parse_metadata_file(source.read_dist_info("WHEEL"))
    except (InstallerError, ValueError, KeyError, UnicodeDecodeError, OSError, zipfile.BadZipFile, zlib.error) as exc:
        raise _fail(filename, _short(exc)) from None
    record_path = f"{dist_info}/RECORD"
    dest.mkdir(parents=True)
    (dest / "site").mkdir()
    destination = _EntryDestination(dest, filename)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # installer's __pycache__ notice
            install(source, destination, {})
        if any("/__pycache__/" in f"/{name}" for name in source.member_names()):
            _write_pycache_members(source, destination, filename)
        _make_dirs(source, dest, filename)
    except StoreError:
        raise
    except (InstallerError, ValueError, KeyError, zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        _not_the_wheels_fault(exc)
        raise _fail(filename, _short(exc)) from None
    # installer skips RECORD (it would rewrite it); the view needs the original.
    record_bytes = record_text.encode()
    record_mode = file_mode(0o111 if source.is_executable(record_path) else 0)  # uv keeps RECORD's mode
    (dest / "site" / record_path).write_bytes(record_bytes)
    os.chmod(dest / "site" / record_path, record_mode)
    destination.files[("site", record_path)] = FileRecord(
        "site", record_path, len(record_bytes), record_hash(hashlib.sha256(record_bytes).digest()), record_mode
    )
    files = sorted(destination.files.values(), key=lambda f: (f.scheme, f.path))
    summary = EntrySummary(
        name=canonicalize_name(metadata["Name"] or source.distribution),
        version=str(metadata["Version"] or source.version),
        filename=filename,
        sha256=sha256,
        size=size,
        dist_info=dist_info,
        root_is_purelib=wheel_meta["Root-Is-Purelib"] == "true",
        top_level=tuple(sorted(os.listdir(dest / "site"))),  # empty dirs of the wheel count
        entry_points=destination.entry_points,
        scripts=tuple(f.path for f in files if f.scheme == "scripts"),
        has_headers=(dest / "headers").is_dir(),
        has_data=(dest / "data").is_dir(),
        file_count=len(files),
        sealed_ns=seal_time(),
    )
    (dest / "files.json").write_text(json.dumps([f.__dict__ for f in files], separators=(",", ":")))
    (dest / "entry.json").write_text(json.dumps(summary.to_json(), indent=1))
    return summary


def _write_pycache_members(source: _CheckedWheelFile | _TreeSource, destination: _EntryDestination, wheel: str) -> None:
    """Install members inside ``__pycache__`` dirs, which installer skips but uv installs.

    The view must match ``uv sync`` file for file (checked with uv 0.13.9: a
    wheel's ``pkg/__pycache__/x.pyc`` is installed). Only walks the archive
    again when there are such members.
    """
    for elements, stream, is_executable in source.get_contents():
        path = elements[0]
        if "__pycache__" in path.split("/")[:-1]:
            destination.write_file(*_scheme_of(path, source.data_dir, wheel), stream, is_executable)


def _scheme_of(path: str, data_dir: str, wheel: str) -> tuple[str, str]:
    """installer's scheme and scheme-relative path of an archive path (``purelib`` for the root)."""
    if path == data_dir or path.startswith(data_dir + "/"):
        scheme, _, rel = path[len(data_dir) + 1 :].partition("/")
        if scheme not in _SCHEME_DIRS:
            raise _fail(wheel, f"{path} is not contained in a valid .data subdirectory")
        return scheme, rel
    return "purelib", path


def _make_dirs(source: _CheckedWheelFile | _TreeSource, dest: Path, wheel: str) -> None:
    """Create the archive's directory entries: uv creates them, empty ones included."""
    for name in source.dir_names():
        if name == source.data_dir:  # the .data dir's own entry (fonttools 4.68 has one): holds no scheme
            continue
        scheme, rel = _scheme_of(name, source.data_dir, wheel)
        if rel:
            (dest / _SCHEME_DIRS[scheme] / rel).mkdir(parents=True, exist_ok=True)


def screen_tree(tree: Path, wheel: str) -> None:
    """Reject an unpacked tree holding anything but plain files and dirs."""
    for dirpath, dirnames, filenames in os.walk(tree):
        for name in dirnames + filenames:
            mode = os.lstat(os.path.join(dirpath, name)).st_mode
            if stat.S_ISLNK(mode):
                raise _fail(wheel, f"symlink {name!r} in the unpacked tree")
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                raise _fail(wheel, f"special file {name!r} in the unpacked tree")


class _TreeSource(WheelSource):
    """installer's WheelSource over an unzipped wheel (uv's archive dirs)."""

    def __init__(self, tree: Path, filename: str) -> None:
        parsed = parse_wheel_filename(filename)
        super().__init__(distribution=parsed.distribution, version=parsed.version)
        self._tree = tree
        self._files = sorted(
            Path(dirpath, name).relative_to(tree).as_posix()
            for dirpath, _dirs, names in os.walk(tree)
            for name in names
        )
        dist_infos = {p.split("/", 1)[0] for p in self._files if p.split("/", 1)[0].endswith(".dist-info")}
        if len(dist_infos) != 1:
            raise ValueError("the tree does not contain exactly one .dist-info directory")
        self._dist_info = dist_infos.pop()

    @property
    def dist_info_dir(self) -> str:
        return self._dist_info

    def member_names(self) -> list[str]:
        return self._files

    def is_executable(self, name: str) -> bool:
        return bool(os.stat(self._tree / name).st_mode & 0o111)

    def dir_names(self) -> list[str]:
        """Empty dirs only: others are implied by their files, and uv's unzip made these from entries."""
        return sorted(
            Path(dirpath).relative_to(self._tree).as_posix()
            for dirpath, dirnames, filenames in os.walk(self._tree)
            if not dirnames and not filenames and dirpath != str(self._tree)
        )

    @property
    def dist_info_filenames(self) -> list[str]:
        prefix = self._dist_info + "/"
        return [p[len(prefix):] for p in self._files if p.startswith(prefix)]

    def read_dist_info(self, filename: str) -> str:
        return (self._tree / self._dist_info / filename).read_text(encoding="utf-8")

    def _records(self) -> dict[str, tuple[str, str, str]]:
        return {row[0]: row for row in parse_record_file(self.read_dist_info("RECORD").splitlines())}

    def validate_record(self, *, validate_contents: bool = False) -> None:
        """The tree holds exactly the files RECORD lists (contents: checked while writing)."""
        listed = set(self._records())
        present = set(self._files)
        if listed != present:
            odd = sorted(listed ^ present)[0]
            raise ValueError(f"{odd} is {'missing from the tree' if odd in listed else 'not mentioned in RECORD'}")

    def get_contents(self):
        records = self._records()
        for rel in self._files:
            elements = records[rel]
            path = self._tree / rel
            with open(path, "rb") as stream:
                is_executable = bool(os.fstat(stream.fileno()).st_mode & 0o111)
                yield elements, _RecordedStream(stream, RecordEntry.from_elements(*elements)), is_executable


def _short(exc: BaseException) -> str:
    issues = getattr(exc, "issues", None)
    text = issues[0] if issues else str(exc) or type(exc).__name__
    return " ".join(text.split())

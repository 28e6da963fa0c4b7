"""The index a store entry carries, so a view is built without walking or hashing files.

``entry.json`` (:class:`EntrySummary`) is small and read at mount time;
``files.json`` (a list of :class:`FileRecord`) lists every installed file and is
read only when a view needs it (RECORD contents, conflict reports, verify).
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

INDEX_VERSION = 1


@dataclass(frozen=True)
class FileRecord:
    """One installed file of a wheel.

    ``scheme`` is one of ``site``, ``scripts``, ``headers``, ``data``; ``path`` is
    posix, relative to that scheme's directory in the entry. ``hash`` is in
    RECORD form (``sha256=<urlsafe b64, no padding>``), verified at fetch time.
    ``mode`` is 0o755 for executables, else 0o644: the mode uv installs and a
    view presents (on disk the sealed entry holds 0o555/0o444, vsite.store.seal).
    """

    scheme: str
    path: str
    size: int
    hash: str
    mode: int = 0o644


@dataclass(frozen=True)
class EntrySummary:
    """What a view needs of one wheel at mount time.

    ``top_level`` lists the names directly under ``site/`` (packages, modules,
    ``.pth`` files, the dist-info dir); ``entry_points`` maps group to
    ``{name: "module:attr"}`` for ``console_scripts`` and ``gui_scripts``;
    ``scripts`` lists files under ``scripts/`` (from ``.data/scripts``);
    ``has_headers``/``has_data`` tell whether those scheme dirs exist.
    ``bytecode`` lists the cache tags (``cpython-311``) whose pycs are compiled
    into the entry's ``__pycache__`` dirs; a tag is listed only once all its
    pycs are in place.
    """

    name: str  # as in the wheel's METADATA, PEP 503 normalized
    version: str
    filename: str
    sha256: str
    size: int
    dist_info: str  # e.g. "rich-13.7.1.dist-info"
    root_is_purelib: bool
    top_level: tuple[str, ...]
    entry_points: dict[str, dict[str, str]] = field(default_factory=dict)
    scripts: tuple[str, ...] = ()
    has_headers: bool = False
    has_data: bool = False
    file_count: int = 0
    index_version: int = INDEX_VERSION
    # mtime of every file and dir of the entry, its pycs included (vsite.store.seal); 0: not sealed
    sealed_ns: int = 0
    bytecode: tuple[str, ...] = ()

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "EntrySummary":
        data = dict(data)
        data["top_level"] = tuple(data["top_level"])
        data["scripts"] = tuple(data.get("scripts", ()))
        data["bytecode"] = tuple(data.get("bytecode", ()))
        return cls(**data)


def b64_digest(digest: bytes) -> str:
    """A digest as RECORD writes it: urlsafe base64 without padding."""
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def record_hash(sha256_digest: bytes) -> str:
    """A sha256 digest in RECORD form, as :attr:`FileRecord.hash` holds it: ``sha256=<b64>``."""
    return f"sha256={b64_digest(sha256_digest)}"


def read_summary(entry_dir: Path | str) -> EntrySummary:
    """The entry's ``entry.json``, parsed once per version of the file in this process: a mount
    reads each summary three times (the fetch's check, the data path, the view), and the file
    is only ever replaced whole (a new inode, :func:`write_summary`)."""
    path = os.path.join(entry_dir, "entry.json")
    with open(path, "rb") as f:
        st = os.fstat(f.fileno())
        version = (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)
        known = _SUMMARIES.get(path)
        if known is not None and known[0] == version:
            return known[1]
        summary = EntrySummary.from_json(json.loads(f.read()))
    _SUMMARIES[path] = (version, summary)
    return summary


_SUMMARIES: dict[str, tuple[tuple[int, int, int, int], EntrySummary]] = {}


def bytecode_tags(entry_dir: Path) -> tuple[str, ...]:
    """The cache tags compiled into the entry at ``entry_dir``; () if it is missing or unreadable."""
    try:
        return read_summary(entry_dir).bytecode
    except (OSError, ValueError, KeyError, TypeError):
        return ()


def write_summary(entry_dir: Path, summary: EntrySummary, *, sealed: bool = True) -> None:
    """Replace ``entry.json`` by atomic rename: readers see the old summary or the new one.

    In a ``sealed`` entry the new file gets the seal's mode and mtime, and the
    entry's directory is writable only for the rename, then sealed again.
    """
    from vsite.fileio import write_json_atomic
    from vsite.store.seal import opened

    path = entry_dir / "entry.json"
    if not sealed:
        write_json_atomic(path, summary.to_json(), indent=1)
        return
    with opened(entry_dir, summary.sealed_ns):
        write_json_atomic(path, summary.to_json(), indent=1, mode=0o444, mtime_ns=summary.sealed_ns)


def read_files(entry_dir: Path) -> list[FileRecord]:
    return [FileRecord(**f) for f in json.loads((entry_dir / "files.json").read_text())]

"""Find a wheel in the user's uv cache, only where uv recorded the same sha256.

What uv keeps (uv 0.13.9, cache layout ``wheels-v8`` / ``archive-v0``, checked on
this machine): not the wheel file, but

* ``archive-v0/<id>/`` -- the wheel unzipped as is (``.data`` not relocated,
  the original RECORD kept; every archive here listed exactly its RECORD), and
* ``wheels-v8/<index>/<name>/<version>-<tags>.http`` (``<version>-<hash>.http``
  when the tags are long) -- a pointer: a msgpack
  array ``[archive id, [{"Sha256": hex}], filename, ...]`` followed by uv's
  HTTP cache policy. uv computes the sha256 while it streams and unzips the
  download, so the pointer ties the archive to the wheel's hash.

We reuse an archive only when the pointer's sha256 equals the lock's, and then
unpack it like a downloaded wheel: every file checked against the archive's
RECORD (hash and size), the file set equal to RECORD, no symlinks or special
files. That catches an archive changed after uv wrote it (uv installs by
hardlink, so an edited site-packages file edits the archive). Anything
unexpected (other cache versions, unreadable pointers) means: download.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

from packaging.utils import InvalidWheelFilename, parse_wheel_filename


def uv_cache_dir() -> Path:
    """uv's cache: ``$UV_CACHE_DIR``, else ``$XDG_CACHE_HOME/uv``, else ``~/.cache/uv``."""
    explicit = os.environ.get("UV_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "uv"


def find_archive(name: str, filename: str, sha256: str, root: Path | None = None) -> Path | None:
    """The uv archive dir unzipped from the wheel ``filename`` with ``sha256``, or None."""
    root = root if root is not None else uv_cache_dir()
    try:
        _name, parsed_version, _build, _tags = parse_wheel_filename(filename)
    except InvalidWheelFilename:
        return None
    version = str(parsed_version)  # uv names pointers by the normalized version
    # "<version>-<tags>.http", or "<version>-<hash of tags>.http" when the tags are long:
    # candidates are all pointers of this version; the pointer's own filename decides.
    for pointer in sorted(root.glob(f"wheels-v*/*/{name}/{version}-*.http")) + sorted(
        root.glob(f"wheels-v*/index/*/{name}/{version}-*.http")
    ):
        try:
            archive_id, hashes, pointer_filename = _read_pointer(pointer.read_bytes())
        except (OSError, ValueError, IndexError, struct.error):
            continue
        if pointer_filename != filename or hashes.get("sha256") != sha256.lower():
            continue
        if "/" in archive_id or archive_id in ("", ".", ".."):
            continue
        for archive in sorted(root.glob("archive-v*")):
            candidate = archive / archive_id
            if candidate.is_dir() and not candidate.is_symlink():
                return candidate
    return None


def _read_pointer(data: bytes) -> tuple[str, dict[str, str], str]:
    value, _ = _unpack(data, 0)
    if not isinstance(value, list) or len(value) < 3:
        raise ValueError("not a uv wheel pointer")
    archive_id, hash_list, filename = value[0], value[1], value[2]
    hashes = {}
    for entry in hash_list:
        for algo, digest in entry.items():
            hashes[str(algo).lower()] = str(digest).lower()
    return str(archive_id), hashes, str(filename)


def _unpack(data: bytes, i: int):
    """Decode one msgpack value at ``data[i:]`` (the subset uv's pointers use)."""
    b = data[i]
    i += 1
    if b <= 0x7F:
        return b, i
    if b >= 0xE0:
        return b - 0x100, i
    if 0xA0 <= b <= 0xBF:
        n = b & 0x1F
        return data[i : i + n].decode(), i + n
    if 0x90 <= b <= 0x9F:
        return _array(data, i, b & 0x0F)
    if 0x80 <= b <= 0x8F:
        return _map(data, i, b & 0x0F)
    fixed = {0xC0: None, 0xC2: False, 0xC3: True}
    if b in fixed:
        return fixed[b], i
    sized = {0xCC: ">B", 0xCD: ">H", 0xCE: ">I", 0xCF: ">Q", 0xD0: ">b", 0xD1: ">h", 0xD2: ">i", 0xD3: ">q"}
    if b in sized:
        fmt = sized[b]
        return struct.unpack_from(fmt, data, i)[0], i + struct.calcsize(fmt)
    lengths = {0xD9: ">B", 0xDA: ">H", 0xDB: ">I", 0xC4: ">B", 0xC5: ">H", 0xC6: ">I"}
    if b in lengths:
        fmt = lengths[b]
        n = struct.unpack_from(fmt, data, i)[0]
        i += struct.calcsize(fmt)
        raw = data[i : i + n]
        return (raw if b in (0xC4, 0xC5, 0xC6) else raw.decode()), i + n
    if b in (0xDC, 0xDD, 0xDE, 0xDF):
        fmt = ">H" if b in (0xDC, 0xDE) else ">I"
        n = struct.unpack_from(fmt, data, i)[0]
        i += struct.calcsize(fmt)
        return (_array if b in (0xDC, 0xDD) else _map)(data, i, n)
    raise ValueError(f"unsupported msgpack type 0x{b:02x}")


def _array(data: bytes, i: int, n: int):
    out = []
    for _ in range(n):
        value, i = _unpack(data, i)
        out.append(value)
    return out, i


def _map(data: bytes, i: int, n: int):
    out = {}
    for _ in range(n):
        key, i = _unpack(data, i)
        value, i = _unpack(data, i)
        out[key] = value
    return out, i

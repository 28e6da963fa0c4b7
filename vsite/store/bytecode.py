"""Bytecode of an entry: compiled by the target interpreter into the entry's own ``__pycache__`` dirs.

Bytecode must come from the interpreter that will import it (magic number,
cache tag), so compilation runs ``Target.executable`` in a subprocess with a
small script. Pycs are *unchecked-hash* (PEP 552): valid for exactly the bytes
the store holds, independent of mtimes, and never re-validated at import time
(the store is content-addressed and immutable, so there is nothing to check).
``dfile`` is the path relative to site-packages so no store path is baked into
the code objects; importlib replaces ``co_filename`` with the real source path
at import anyway (``_imp._fix_co_filename``).

Each ``<site>/<rel dir>/<stem>.py`` compiles to
``<out>/<rel dir>/__pycache__/<stem>.<cache_tag>.pyc`` (PEP 3147 names, so
several interpreters' pycs sit side by side). ``out`` is the entry's ``site/``
itself on an entry's first fetch (before it is sealed), or a mirror in a work
dir for a further tag, whose pycs :func:`add_pycs` then moves into the sealed
entry one rename at a time. Files that do not compile for this interpreter
(py2-only modules, templates) are skipped, as ``compileall`` in pip/uv does
quietly.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from vsite.errors import StoreError
from vsite.store.seal import DIR_MODE, seal_dir, seal_file

_COMPILE = r"""
import importlib.util, os, py_compile, sys
site, out = sys.argv[1], sys.argv[2]
mode = py_compile.PycInvalidationMode.UNCHECKED_HASH
failed = 0
for dirpath, dirnames, filenames in os.walk(site):
    dirnames[:] = [d for d in dirnames if d != "__pycache__"]
    rel = os.path.relpath(dirpath, site)
    for name in filenames:
        if not name.endswith(".py"):
            continue
        src = os.path.join(dirpath, name)
        relsrc = os.path.normpath(os.path.join(rel, name))
        cfile = os.path.join(out, importlib.util.cache_from_source(relsrc))
        try:
            py_compile.compile(src, cfile=cfile, dfile=relsrc, doraise=True, invalidation_mode=mode)
        except (py_compile.PyCompileError, SyntaxError, ValueError, UnicodeError):
            failed += 1
print(failed)
"""


def compile_tree(executable: str, site: Path, out: Path) -> int:
    """Compile every ``.py`` under ``site`` into ``out`` (may be ``site``); return how many did not compile."""
    out.mkdir(parents=True, exist_ok=True)
    try:
        proc = subprocess.run(
            [executable, "-I", "-S", "-B", "-c", _COMPILE, str(site), str(out)],
            capture_output=True,
            text=True,
            timeout=1800,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise StoreError(f"cannot run {executable} to compile bytecode: {exc}") from None
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise StoreError(f"compiling bytecode with {executable} failed: {last}")
    return int(proc.stdout.strip() or 0)


def seal_pycs(mirror: Path, sealed_ns: int) -> None:
    """Give a mirror's pycs their sealed mode and mtime, so each enters the entry sealed."""
    for dirpath, _dirs, files in os.walk(mirror):
        for name in files:
            seal_file(os.path.join(dirpath, name), sealed_ns)


def is_compiled_name(rel: str, cache_tags: tuple[str, ...]) -> bool:
    """Whether the ``site/``-relative posix path ``rel`` is a pyc the store compiles for one of ``cache_tags``."""
    parent, _, name = rel.rpartition("/")
    if parent.rpartition("/")[2] != "__pycache__":
        return False
    return any(name.endswith(f".{tag}.pyc") and len(name) > len(tag) + 5 for tag in cache_tags)


def add_pycs(site: Path, mirror: Path, sealed_ns: int, backup: Path) -> Callable[[], None]:
    """Move every pyc of ``mirror`` into the sealed ``site``'s ``__pycache__`` dirs; return an undo.

    Each pyc enters by one rename (it appears whole, already sealed); a
    ``__pycache__`` dir (and its parent, if the dir must be created) is
    writable only while its pycs are added, then gets the seal's mode and
    mtime back. A file already there (a pyc the wheel ships, or one left by an
    add that was killed) is replaced, a hard link of it kept in ``backup``. If
    anything fails, everything done is undone and the error raised; the
    returned undo does the same after a later failure (the caller's summary
    write), so the entry is exactly as before.
    """
    moved: list[tuple[Path, Path, Path | None]] = []  # (pyc in site, where it came from, backup of the old file)
    created: list[Path] = []  # __pycache__ dirs made here, in creation order
    backup.mkdir(parents=True, exist_ok=True)

    def undo() -> None:
        touched: set[Path] = set()
        for dest, origin, old in reversed(moved):
            touched.add(dest.parent)
            _writable(dest.parent)
            if old is not None:
                os.rename(old, dest)
            else:
                os.rename(dest, origin)
        moved.clear()
        for directory in reversed(created):
            _writable(directory.parent)
            touched.discard(directory)
            touched.add(directory.parent)
            os.rmdir(directory)
        created.clear()
        for directory in touched:
            seal_dir(directory, sealed_ns)

    try:
        for dirpath, _dirs, files in os.walk(mirror):
            pycs = sorted(n for n in files if n.endswith(".pyc"))
            if not pycs:
                continue
            cache = site / Path(dirpath).relative_to(mirror)
            if cache.name != "__pycache__" or not cache.parent.is_dir() or cache.parent.is_symlink():
                raise StoreError(f"compiled bytecode {cache} has no source directory in the entry")
            if not os.path.lexists(cache):
                _writable(cache.parent)
                try:
                    os.mkdir(cache, 0o755)
                    created.append(cache)
                finally:
                    seal_dir(cache.parent, sealed_ns)
            _writable(cache)
            try:
                for name in pycs:
                    dest = cache / name
                    old = None
                    if os.path.lexists(dest):
                        old = backup / str(len(moved))
                        os.link(dest, old, follow_symlinks=False)
                    os.rename(os.path.join(dirpath, name), dest)
                    moved.append((dest, Path(dirpath, name), old))
            finally:
                seal_dir(cache, sealed_ns)
    except BaseException:
        undo()
        raise
    return undo


def _writable(directory: Path) -> None:
    os.chmod(directory, DIR_MODE | 0o200)


def check_pyc(site: Path, rel: str, cache_tag: str) -> str | None:
    """Why the compiled pyc ``site/<rel>`` of ``cache_tag`` is damaged, or None.

    Unchecked-hash pycs are never re-validated at import, so ``cache verify``
    does it: every pyc must be an unchecked-hash pyc of an existing source;
    for vsite's own interpreter's tag the magic number and the source hash
    (``importlib.util.source_hash``, keyed by the magic number) are checked
    too. Other tags' source hashes need their own interpreter and are not.
    """
    mine = cache_tag == sys.implementation.cache_tag
    suffix = f".{cache_tag}.pyc"
    pyc = site / rel
    parent = Path(rel).parent.parent
    source = site / parent / (pyc.name[: -len(suffix)] + ".py")
    try:
        with open(pyc, "rb") as f:
            header = f.read(16)
        code = source.read_bytes() if mine else b""
    except OSError:
        return f"bytecode {cache_tag}: {rel} has no source or is unreadable"
    if len(header) < 16 or int.from_bytes(header[4:8], "little") != 0b01:
        return f"bytecode {cache_tag}: {rel} is not an unchecked-hash pyc"
    if mine and (header[:4] != importlib.util.MAGIC_NUMBER or header[8:16] != importlib.util.source_hash(code)):
        return f"bytecode {cache_tag}: {rel} does not match its source"
    if not mine and (source.is_symlink() or not source.is_file()):
        return f"bytecode {cache_tag}: {rel} has no source or is unreadable"
    return None

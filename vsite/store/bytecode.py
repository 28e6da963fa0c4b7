"""Compile an entry's sources to bytecode, with the target interpreter, into a mirror dir.

Bytecode must come from the interpreter that will import it (magic number,
cache tag), so compilation runs ``Target.executable`` in a subprocess with a
small script. Pycs are *unchecked-hash* (PEP 552): valid for exactly the bytes
the store holds, independent of mtimes, and never re-validated at import time
(the store is content-addressed and immutable, so there is nothing to check).
``dfile`` is the path relative to site-packages so no store path is baked into
the code objects; importlib replaces ``co_filename`` with the real source path
at import anyway (``_imp._fix_co_filename``).

The output is ``<out>/<rel dir>/__pycache__/<stem>.<cache_tag>.pyc`` for each
``<site>/<rel dir>/<stem>.py``, so the view overlays it on ``site/``. Files
that do not compile for this interpreter (py2-only modules, templates) are
skipped, as ``compileall`` in pip/uv does quietly.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

from vsite.errors import StoreError

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
    """Compile every ``.py`` under ``site`` into ``out``; return how many did not compile."""
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


def check_tree(site: Path, out: Path, cache_tag: str) -> str | None:
    """Why the compiled mirror ``out`` of ``site`` is damaged, or None.

    Unchecked-hash pycs are never re-validated at import, so ``cache verify``
    does it: every pyc must be an unchecked-hash pyc of an existing source;
    for vsite's own interpreter's tag the magic number and the source hash
    (``importlib.util.source_hash``, keyed by the magic number) are checked
    too. Other tags' source hashes need their own interpreter and are not.
    """
    mine = cache_tag == sys.implementation.cache_tag
    suffix = f".{cache_tag}.pyc"
    for dirpath, _dirs, files in os.walk(out):
        for name in files:
            pyc = Path(dirpath, name)
            rel = pyc.relative_to(out)
            if pyc.parent.name != "__pycache__" or not name.endswith(suffix):
                return f"bytecode {cache_tag}: unexpected file {rel.as_posix()}"
            source = site / rel.parent.parent / (name[: -len(suffix)] + ".py")
            try:
                header = pyc.read_bytes()[:16]
                code = source.read_bytes() if mine else b""
            except OSError:
                return f"bytecode {cache_tag}: {rel.as_posix()} has no source or is unreadable"
            if len(header) < 16 or int.from_bytes(header[4:8], "little") != 0b01:
                return f"bytecode {cache_tag}: {rel.as_posix()} is not an unchecked-hash pyc"
            if mine and (header[:4] != importlib.util.MAGIC_NUMBER or header[8:16] != importlib.util.source_hash(code)):
                return f"bytecode {cache_tag}: {rel.as_posix()} does not match its source"
            if not mine and not source.is_file():
                return f"bytecode {cache_tag}: {rel.as_posix()} has no source or is unreadable"
    return None

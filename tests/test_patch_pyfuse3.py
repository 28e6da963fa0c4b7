"""tools/patch_pyfuse3.py on the real pyfuse3 sdist (exactly the lines it means to change) and on
altered sources (PatchError, nothing written); the version label it is built with."""

from __future__ import annotations

import difflib
import importlib.util
import os
import re
import sys
import tarfile
from pathlib import Path

import pytest

from runhelp import ROOT

SDIST = ROOT / ".cache/pyfuse3/pyfuse3-3.5.0.tar.gz"  # the Makefile downloads it there

_spec = importlib.util.spec_from_file_location("patch_pyfuse3", ROOT / "tools/patch_pyfuse3.py")
patch = sys.modules.setdefault("patch_pyfuse3", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(patch)  # registered first: its dataclasses look their module up


@pytest.fixture(scope="module")
def sources() -> dict[Path, str]:
    """The unpatched files the script edits, from the sdist (must be there in CI)."""
    if not SDIST.exists():
        reason = f"no pyfuse3 sdist at {SDIST} (the Makefile's pyfuse3 step downloads it)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    with tarfile.open(SDIST) as tar:
        return {file: tar.extractfile(f"pyfuse3-3.5.0/{file}").read().decode() for file in patch.EDITS}


def _changes(old: str, new: str) -> tuple[list[str], list[str]]:
    """(removed lines, added lines) from ``old`` to ``new``."""
    diff = list(difflib.ndiff(old.splitlines(keepends=True), new.splitlines(keepends=True)))
    return [d[2:] for d in diff if d.startswith("- ")], [d[2:] for d in diff if d.startswith("+ ")]


def _lines(*blocks: str) -> list[str]:
    return [line for block in blocks for line in block.splitlines(keepends=True)]


def test_handlers_patch_on_the_real_sdist(sources):
    text = sources[patch.HANDLERS]
    patched = patch.patch_source(text)
    removed, added = _changes(text, patched)
    assert removed == [patch.HANDLE_LINE] * 2  # read and readdirplus; no other line touched
    assert sorted(added) == sorted(
        _lines(patch.CONN_WANT_FUNCTION, patch.INODE_LINE, patch.INODE_LINE, patch.CAPS_REQUEST, patch.RECORD_WANT)
    )
    # each change is marked in the file
    assert all("# vsite patch:" in edit.new.replace(edit.old, "") for edits in patch.EDITS.values() for edit in edits)
    assert patched.count("# vsite patch:") == 5 and text.count("vsite") == 0
    init = patched[patched.index(patch.INIT) :]
    init = init[: init.index("\ncdef ")]
    assert "conn.want |= FUSE_CAP_CACHE_SYMLINKS" in init and "conn.want |= FUSE_CAP_PARALLEL_DIROPS" in init
    assert init.index("operations.init()") < init.index("_vsite_conn_want = conn.want")  # after the last change
    assert "getattr(operations, 'enable_cache_symlinks', False)" in init  # opt-in: other filesystems unchanged
    # the handle line is replaced in read and readdirplus only
    assert patched.count(patch.HANDLE_LINE) == text.count(patch.HANDLE_LINE) - 2 > 0


def test_pxd_patch_on_the_real_sdist(sources):
    text = sources[patch.COMMON_PXD]
    assert "FUSE_CAP_CACHE_SYMLINKS" not in text  # why the patch declares it
    patched = patch.patch_source(text, patch.COMMON_PXD)
    assert _changes(text, patched) == ([], [patch.CACHE_SYMLINKS_DECL])
    assert patched.index(patch.LAST_CAP) + len(patch.LAST_CAP) == patched.index(patch.CACHE_SYMLINKS_DECL)


def test_fuse_common_h_has_the_bit():
    """The declared name exists in this machine's libfuse with the value vsite checks for."""
    header = Path("/usr/include/fuse3/fuse_common.h")
    if not header.exists():
        pytest.skip("no libfuse3 headers (libfuse3-dev)")
    from vsite.fs.operations import FUSE_CAP_CACHE_SYMLINKS

    found = re.search(r"#define FUSE_CAP_CACHE_SYMLINKS\s+\(1 << (\d+)\)", header.read_text())
    assert found and 1 << int(found.group(1)) == FUSE_CAP_CACHE_SYMLINKS


def _drop(text: str, part: str) -> str:
    assert text.count(part) == 1
    return text.replace(part, "")


@pytest.mark.parametrize(
    "alter, names",
    [
        (lambda t: _drop(t, patch.ACL_REQUEST), "init: request symlink caching"),
        (lambda t: _drop(t, patch.INIT_CALL), "init: record conn.want"),
        (lambda t: t.replace(patch.INIT, patch.INIT + "    pass\n\n" + patch.INIT), "fuse_init"),
        (lambda t: t.replace(patch.READ, "cdef void fuse_read(fuse_req_t req, fuse_ino_t ino, size_t size,\n"),
         "fuse_read"),
        # a second handle line in readdirplus: which one is meant?
        (lambda t: t.replace(patch.READDIRPLUS, patch.READDIRPLUS + patch.HANDLE_LINE), "readdirplus"),
        (lambda t: t + "\ndef vsite_conn_want():\n    pass\n", "already there"),
        (lambda t: patch.patch_source(t), "already there"),  # patched twice
    ],
)
def test_altered_handlers_raise(sources, alter, names):
    with pytest.raises(patch.PatchError, match=names):
        patch.patch_source(alter(sources[patch.HANDLERS]))


@pytest.mark.parametrize(
    "alter, names",
    [
        (lambda t: _drop(t, patch.LAST_CAP), "FUSE_CAP_HANDLE_KILLPRIV"),
        (lambda t: t.replace(patch.LAST_CAP, patch.LAST_CAP + "      FUSE_CAP_CACHE_SYMLINKS\n"), "already there"),
        (lambda t: t.replace(patch.LAST_CAP, patch.LAST_CAP * 2), "found 2"),
    ],
)
def test_altered_pxd_raises(sources, alter, names):
    with pytest.raises(patch.PatchError, match=names):
        patch.patch_source(alter(sources[patch.COMMON_PXD]), patch.COMMON_PXD)


def _unpack(tmp_path: Path, sources: dict[Path, str]) -> Path:
    root = tmp_path / "pyfuse3-3.5.0"
    for file, text in sources.items():
        (root / file).parent.mkdir(parents=True, exist_ok=True)
        (root / file).write_text(text)
    (root / patch.GENERATED_C).write_text("/* generated from the unpatched source */\n")
    return root


def test_main_patches_the_tree(tmp_path, sources, capsys):
    root = _unpack(tmp_path, sources)
    assert patch.main(["patch_pyfuse3.py", str(root)]) == 0
    for file, text in sources.items():
        assert (root / file).read_text() == patch.patch_source(text, file)
    assert not (root / patch.GENERATED_C).exists()  # the build must run Cython on the patched source
    assert patch.main(["patch_pyfuse3.py", str(root)]) == 1  # a second run refuses
    assert "already there" in capsys.readouterr().err


def test_main_writes_nothing_when_one_file_does_not_match(tmp_path, sources, capsys):
    altered = dict(sources)
    altered[patch.COMMON_PXD] = _drop(altered[patch.COMMON_PXD], patch.LAST_CAP)
    root = _unpack(tmp_path, altered)
    assert patch.main(["patch_pyfuse3.py", str(root)]) == 1
    err = capsys.readouterr().err
    assert "fuse_common.pxd" in err and "FUSE_CAP_HANDLE_KILLPRIV" in err
    for file, text in altered.items():
        assert (root / file).read_text() == text  # handlers.pxi untouched too
    assert (root / patch.GENERATED_C).exists()


def test_makefile_label_is_the_patch_level():
    from vsite.fs import pyfuse3_build

    makefile = (ROOT / "Makefile").read_text()
    label = re.search(r"^PYFUSE3_LABEL\s*:=\s*(\S+)$", makefile, re.M).group(1)
    version = re.search(r"^PYFUSE3_VERSION\s*:=\s*(\S+)$", makefile, re.M).group(1)
    build = pyfuse3_build.parse(f"{version}+{label}")
    assert build.level == pyfuse3_build.CACHE_SYMLINKS_LEVEL and build.missing() == []

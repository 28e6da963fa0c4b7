"""Unpacking: the entry layout and index, and every unsafe archive rejected with the store unchanged."""

from __future__ import annotations

import os

import stat
import sys
import zipfile

import pytest

from wheelmaker import make_wheel, member, plan_of, store_snapshot, wheel_item
from vsite.errors import StoreError
from vsite.store.index import read_files, read_summary
from vsite.store import Store


def test_entry_layout_and_index(tmp_path, target):
    wheel = make_wheel(
        tmp_path,
        files={
            "demo_pkg/__init__.py": b"from demo_pkg.sub import X\n",
            "demo_pkg/sub.py": b"X = 2\n",
            "demo_pkg/py2only.py": b"print 'old'\n",
            "demo_pkg/data.txt": b"data",
            "demo_pkg.pth": b"import os\n",
            "demo_pkg-1.0.data/purelib/extra_mod.py": b"Y = 3\n",
            "demo_pkg-1.0.data/scripts/run-demo": b"#!python\nprint('hi')\n",
            "demo_pkg-1.0.data/headers/demo.h": b"int x;\n",
            "demo_pkg-1.0.data/data/share/demo/readme": b"r",
        },
        entry_points="[console_scripts]\ndemo = demo_pkg.cli:main\n[gui_scripts]\ndemo-gui = demo_pkg:gui\n",
        executables=("demo_pkg-1.0.data/scripts/run-demo",),
    )
    store = Store(tmp_path / "store")
    item = wheel_item(wheel)
    report = store.fetch(plan_of(item), target)
    assert report.local == ["demo-pkg"] and report.compiled == ["demo-pkg"]
    entry = store.entry_dir(item)
    assert entry is not None and entry.name == store.key(item)
    summary = read_summary(entry)
    assert summary == store.summary(item)
    assert summary.name == "demo-pkg" and summary.version == "1.0"
    assert summary.dist_info == "demo_pkg-1.0.dist-info"
    assert summary.top_level == ("demo_pkg", "demo_pkg-1.0.dist-info", "demo_pkg.pth", "extra_mod.py")
    assert summary.entry_points == {
        "console_scripts": {"demo": "demo_pkg.cli:main"},
        "gui_scripts": {"demo-gui": "demo_pkg:gui"},
    }
    assert summary.scripts == ("run-demo",)
    assert summary.has_headers and summary.has_data
    assert (entry / "site/extra_mod.py").read_bytes() == b"Y = 3\n"
    assert not (entry / "site/demo_pkg-1.0.data").exists()
    assert (entry / "data/share/demo/readme").read_bytes() == b"r"
    assert (entry / "headers/demo.h").is_file()
    assert stat.S_IMODE((entry / "scripts/run-demo").stat().st_mode) == 0o555  # sealed: read-only, exec kept
    # the wheel's own RECORD is kept as shipped
    assert b"demo_pkg/sub.py,sha256=" in (entry / "site/demo_pkg-1.0.dist-info/RECORD").read_bytes()
    records = {(r.scheme, r.path): r for r in read_files(entry)}
    assert len(records) == summary.file_count
    assert records[("scripts", "run-demo")].mode == 0o755
    assert records[("site", "demo_pkg/sub.py")].size == 6
    assert store.verify() == []

    # bytecode sits beside the sources in site/: unchecked-hash pycs only, none for what does not compile
    tag = sys.implementation.cache_tag
    assert summary.bytecode == (tag,) and store.has_bytecode(item, tag)
    bytecode = entry / "site"
    pyc = bytecode / "demo_pkg" / "__pycache__" / f"sub.{tag}.pyc"
    assert int.from_bytes(pyc.read_bytes()[4:8], "little") == 0b01  # hash-based, unchecked
    assert (bytecode / "__pycache__" / f"extra_mod.{tag}.pyc").is_file()
    assert not (bytecode / "demo_pkg" / "__pycache__" / f"py2only.{tag}.pyc").exists()
    compiled = [p for p in bytecode.rglob("*") if p.is_file() and ("site", p.relative_to(bytecode).as_posix()) not in records]
    assert compiled and all(p.parent.name == "__pycache__" and p.name.endswith(f".{tag}.pyc") for p in compiled)


def test_bytecode_is_used_from_a_read_only_tree(tmp_path, target):
    """A copy of site/ (pycs beside the sources) gives imports that load the pycs, with real filenames."""
    import shutil
    import subprocess

    wheel = make_wheel(tmp_path, files={"demo_pkg/__init__.py": b"def f():\n    return 1\n"})
    store = Store(tmp_path / "store")
    item = wheel_item(wheel)
    store.fetch(plan_of(item), target)
    view = tmp_path / "view"
    shutil.copytree(store.entry_dir(item) / "site", view)
    proc = subprocess.run(
        [sys.executable, "-I", "-v", "-c",
         f"import sys; sys.path.insert(0, {str(view)!r}); import demo_pkg; print(demo_pkg.f.__code__.co_filename)"],
        capture_output=True, text=True, check=True,
    )
    assert f"matches {view}/demo_pkg/__init__.py" in proc.stderr
    assert proc.stdout.strip() == f"{view}/demo_pkg/__init__.py"


def _bomb() -> list:
    return [(member("demo_pkg/zeros.bin", stat.S_IFREG | 0o644), b"\0" * (40 * 1024 * 1024))]


def _rewrite(wheel, edit) -> None:
    """Rewrite ``wheel`` member by member: ``edit(name, data)`` returns new bytes, or None to drop the member."""
    with zipfile.ZipFile(wheel) as zf:
        members = [(info, zf.read(info)) for info in zf.infolist()]
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for info, data in members:
            data = edit(info.filename, data)
            if data is not None:
                zf.writestr(info, data)


def _edit_record(old: bytes, new: bytes):
    def edit(wheel):
        _rewrite(wheel, lambda name, data: data.replace(old, new) if name.endswith("/RECORD") else data)
    return edit


def _drop(suffix: str):
    def edit(wheel):
        _rewrite(wheel, lambda name, data: None if name.endswith(suffix) else data)
    return edit


def _patch_central(field_offset: int, value: int, which: str = "demo_pkg/__init__.py"):
    """Overwrite a 4-byte field of one member's central directory record (declared sizes)."""
    def edit(wheel):
        data = bytearray(wheel.read_bytes())
        at = data.index(b"PK\x01\x02")
        while True:
            name_len = int.from_bytes(data[at + 28:at + 30], "little")
            if data[at + 46:at + 46 + name_len] == which.encode():
                break
            extra = int.from_bytes(data[at + 30:at + 32], "little") + int.from_bytes(data[at + 32:at + 34], "little")
            at = data.index(b"PK\x01\x02", at + 46 + name_len + extra)
        data[at + field_offset:at + field_offset + 4] = value.to_bytes(4, "little")
        wheel.write_bytes(bytes(data))
    return edit


def _truncate(wheel):
    data = wheel.read_bytes()
    wheel.write_bytes(data[: len(data) // 2])


def _flip_member_byte(wheel):
    """Bytes flipped inside a stored member: zipfile's CRC check or RECORD catches it."""
    with zipfile.ZipFile(wheel) as zf:
        offset = zf.getinfo("demo_pkg/__init__.py").header_offset
    data = bytearray(wheel.read_bytes())
    data[offset + 60] ^= 0xFF
    wheel.write_bytes(bytes(data))


def _replace_with(content: bytes):
    def edit(wheel):
        wheel.write_bytes(content)
    return edit


BIG_INIT = {"demo_pkg/__init__.py": b"A" * 5000}
# case -> (make_wheel arguments, edit of the finished wheel file or None, words of the one-line error)
BAD_WHEELS = {
    "zip-slip": (dict(extra_members=[("../evil.py", b"x")]), None, "escapes"),
    "zip-slip-nested": (dict(extra_members=[("demo_pkg/../../evil.py", b"x")]), None, "escapes"),
    "zip-slip-via-data": (dict(extra_members=[("demo_pkg-1.0.data/purelib/../../../evil.py", b"x")]), None, "escapes"),
    "dot-component": (dict(extra_members=[("demo_pkg/./evil.py", b"x")]), None, "escapes"),
    "empty-component-in-data": (dict(extra_members=[("demo_pkg-1.0.data/data//etc/evil", b"x")]), None, "escapes"),
    "absolute": (dict(extra_members=[("/tmp/evil.py", b"x")]), None, "absolute"),
    "drive-letter": (dict(extra_members=[("C:/evil.py", b"x")]), None, "absolute"),
    "backslash": (dict(extra_members=[("demo_pkg\\..\\..\\evil.py", b"x")]), None, "non-posix"),
    "symlink": (dict(extra_members=[(member("demo_pkg/link", stat.S_IFLNK | 0o777), b"../../etc/passwd")]),
                None, "symlink"),
    "symlink-dir-then-file": (
        dict(extra_members=[(member("demo_pkg/sub", stat.S_IFLNK | 0o777), b"/etc"), ("demo_pkg/sub/evil", b"x")]),
        None, "symlink"),
    "char-device": (dict(extra_members=[(member("demo_pkg/dev", stat.S_IFCHR | 0o644), b"")]), None, "special file"),
    "block-device": (dict(extra_members=[(member("demo_pkg/blk", stat.S_IFBLK | 0o644), b"")]), None, "special file"),
    "fifo": (dict(extra_members=[(member("demo_pkg/fifo", stat.S_IFIFO | 0o644), b"")]), None, "special file"),
    "socket": (dict(extra_members=[(member("demo_pkg/sock", stat.S_IFSOCK | 0o644), b"")]), None, "special file"),
    "duplicate": (dict(extra_members=[("demo_pkg/__init__.py", b"evil = 1\n")]), None, "duplicate"),
    "encrypted": (dict(), _patch_central(8, 0x1 | 8 << 16), "encrypted"),  # flag bit 0, method deflate
    "record-mismatch": (dict(record_overrides={"demo_pkg/__init__.py": b"other\n"}), None, "does not match RECORD"),
    "record-wrong-size": (dict(), _edit_record(b",10\n", b",11\n"), "does not match RECORD"),
    "record-without-hash": (dict(), _edit_record(b"demo_pkg/__init__.py,sha256=", b"demo_pkg/__init__.py,#"),
                            "RECORD"),
    "record-missing": (dict(), _drop("/RECORD"), "RECORD"),
    "metadata-missing": (dict(), _drop("/METADATA"), "METADATA"),
    "not-in-record": (dict(unrecorded=("demo_pkg/__init__.py",)), None, "not mentioned in RECORD"),
    "bomb": (dict(extra_members=_bomb()), None, "decompression bomb"),
    "bomb-declared-size": (dict(), _patch_central(24, 0xFFFF0000), "decompression bomb"),
    "size-smaller-than-data": (dict(files=BIG_INIT), _patch_central(24, 100), "demo_pkg/__init__.py"),
    "truncated": (dict(), _truncate, "not a readable zip"),
    "corrupt-member": (dict(files=BIG_INIT), _flip_member_byte, "demo_pkg/__init__.py"),
    "not-a-zip": (dict(), _replace_with(b"#!/bin/sh\nrm -rf /\n" * 10), "not a readable zip"),
    "empty-file": (dict(), _replace_with(b""), "not a readable zip"),
    "data-conflict": (
        dict(files={"demo_pkg/__init__.py": b"a", "demo_pkg-1.0.data/purelib/demo_pkg/__init__.py": b"b"}),
        None, "two members install to site/demo_pkg/__init__.py",
    ),
    "bad-data-scheme": (dict(files={"demo_pkg-1.0.data/nowhere/x": b"b"}), None, "valid .data subdirectory"),
}


@pytest.mark.parametrize("case", sorted(BAD_WHEELS))
def test_unsafe_wheel_rejected_store_unchanged(tmp_path, target, case):
    import warnings

    kwargs, edit, reason = BAD_WHEELS[case]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate we make on purpose
        wheel = make_wheel(tmp_path, **kwargs)
    if edit is not None:
        edit(wheel)
    store = Store(tmp_path / "store")
    (tmp_path / "good").mkdir()
    good = make_wheel(tmp_path / "good", name="good_pkg")
    store.fetch(plan_of(wheel_item(good)), target)
    before = store_snapshot(store.layout.root)
    with pytest.raises(StoreError) as info:
        store.fetch(plan_of(wheel_item(wheel), wheel_item(good)), target)
    message = str(info.value)
    assert "\n" not in message
    assert f"rejected wheel {wheel.name}: " in message and reason in message
    assert store_snapshot(store.layout.root) == before
    assert not any((store.layout.tmp_dir()).iterdir())
    assert store.verify() == []


def test_member_modes_are_sanitized(tmp_path, target):
    """setuid, sticky and world-writable bits in a wheel do not reach the store: files are sealed
    0o444 or 0o555 on disk, indexed (and presented) as 0o644 or 0o755."""
    wheel = make_wheel(tmp_path, extra_members=[
        (member("demo_pkg/suid", stat.S_IFREG | stat.S_ISUID | 0o777), b"#!/bin/sh\n"),
        (member("demo_pkg/open.txt", stat.S_IFREG | 0o666), b"x"),
    ])
    store = Store(tmp_path / "store")
    item = wheel_item(wheel)
    store.fetch(plan_of(item), target)
    entry = store.entry_dir(item)
    assert stat.S_IMODE((entry / "site/demo_pkg/suid").stat().st_mode) == 0o555
    assert stat.S_IMODE((entry / "site/demo_pkg/open.txt").stat().st_mode) == 0o444
    modes = {r.path: r.mode for r in read_files(entry)}
    assert modes["demo_pkg/suid"] == 0o755 and modes["demo_pkg/open.txt"] == 0o644


def test_lock_hash_mismatch_for_local_wheel(tmp_path, target):
    wheel = make_wheel(tmp_path)
    store = Store(tmp_path / "store")
    with pytest.raises(StoreError, match="hash mismatch for demo-pkg 1.0"):
        store.fetch(plan_of(wheel_item(wheel, sha256="0" * 64)), target)
    assert store_snapshot(store.layout.root) == []


def test_verify_names_corrupt_entry(tmp_path, target):
    wheel = make_wheel(tmp_path)
    store = Store(tmp_path / "store")
    item = wheel_item(wheel)
    store.fetch(plan_of(item), target)
    entry = store.entry_dir(item)
    (entry / "site/demo_pkg/__init__.py").write_bytes(b"VALUE = 2\n")
    assert store.verify() == [(store.key(item), "site/demo_pkg/__init__.py has the wrong hash")]
    (entry / "site/demo_pkg/__init__.py").write_bytes(b"VALUE = 1\n")
    (entry / "site/demo_pkg/planted.py").write_bytes(b"")
    assert store.verify() == [(store.key(item), "unexpected file site/demo_pkg/planted.py")]


def test_pycache_members_are_kept_as_uv_installs_them(tmp_path, target):
    """installer skips a wheel's __pycache__ members; uv installs them, so the store keeps them."""
    wheel = make_wheel(tmp_path, files={
        "demo_pkg/__init__.py": b"x = 1\n",
        "demo_pkg/__pycache__/junk.cpython-311.pyc": b"junk",
        "demo_pkg-1.0.data/data/share/__pycache__/d": b"d",
    })
    store = Store(tmp_path / "store")
    item = wheel_item(wheel)
    store.fetch(plan_of(item), target)
    entry = store.entry_dir(item)
    assert (entry / "site/demo_pkg/__pycache__/junk.cpython-311.pyc").read_bytes() == b"junk"
    assert (entry / "data/share/__pycache__/d").read_bytes() == b"d"
    assert {(r.scheme, r.path) for r in read_files(entry)} >= {
        ("site", "demo_pkg/__pycache__/junk.cpython-311.pyc"), ("data", "share/__pycache__/d")}
    assert store.verify() == []


def test_empty_directories_of_the_wheel_are_kept(tmp_path, target):
    """uv creates a wheel's directory entries, empty ones too; so does the store (and indexes them)."""
    wheel = make_wheel(tmp_path)
    with zipfile.ZipFile(wheel, "a") as zf:
        for name in ("emptytop/", "demo_pkg/empty/", "demo_pkg-1.0.data/data/share/d/", "demo_pkg-1.0.data/data/",
                     "demo_pkg-1.0.data/"):  # the .data dir's own entry: fonttools 4.68 has one
            zf.writestr(zipfile.ZipInfo(name), b"")
    store = Store(tmp_path / "store")
    item = wheel_item(wheel)
    store.fetch(plan_of(item), target)
    entry = store.entry_dir(item)
    assert (entry / "site/demo_pkg/empty").is_dir() and (entry / "data/share/d").is_dir()
    summary = store.summary(item)
    assert "emptytop" in summary.top_level and summary.has_data and not summary.has_headers
    assert store.verify() == []


def test_record_keeps_the_wheels_mode(tmp_path, target):
    """uv rewrites RECORD in place, so an executable RECORD (protobuf ships one) stays 0o755."""
    wheel = make_wheel(tmp_path, executables=("demo_pkg-1.0.dist-info/RECORD",))
    store = Store(tmp_path / "store")
    item = wheel_item(wheel)
    store.fetch(plan_of(item), target)
    record = store.entry_dir(item) / "site/demo_pkg-1.0.dist-info/RECORD"
    assert stat.S_IMODE(record.stat().st_mode) == 0o555  # sealed, the exec bit kept
    modes = {r.path: r.mode for r in read_files(store.entry_dir(item))}
    assert modes["demo_pkg-1.0.dist-info/RECORD"] == 0o755 and modes["demo_pkg/__init__.py"] == 0o644


def test_verify_checks_the_unchecked_hash_bytecode(tmp_path, target):
    """Nothing re-validates an unchecked-hash pyc at import, so verify does: past the
    seal (a change that restores the mtime and mode), by the pyc header against its source."""
    wheel = make_wheel(tmp_path, files={"demo_pkg/__init__.py": b"A = 1\n", "demo_pkg/m.py": b"B = 2\n"})
    store = Store(tmp_path / "store")
    item = wheel_item(wheel)
    store.fetch(plan_of(item), target)
    key = store.key(item)
    pyc_dir = store.entry_dir(item) / "site/demo_pkg/__pycache__"
    tag = target.cache_tag
    pyc = pyc_dir / f"m.{tag}.pyc"
    good = pyc.read_bytes()
    sealed = os.stat(pyc)

    def forge(path, data: bytes) -> None:
        """Write ``data`` and put the sealed mode and mtimes back, as a careful forger would."""
        path.write_bytes(data)
        os.chmod(path, 0o444)
        os.utime(path, ns=(sealed.st_atime_ns, sealed.st_mtime_ns))
        os.utime(path.parent, ns=(sealed.st_atime_ns, sealed.st_mtime_ns))

    pyc.write_bytes(good[:8] + b"\0" * 8 + good[16:])  # a plain edit: the seal shows it
    assert store.verify() == [(key, f"site/demo_pkg/__pycache__/m.{tag}.pyc changed after fetch (mtime)")]
    forge(pyc, (pyc_dir / f"__init__.{tag}.pyc").read_bytes())
    assert store.verify() == [(key, f"bytecode {tag}: demo_pkg/__pycache__/m.{tag}.pyc does not match its source")]
    forge(pyc, good[:4] + b"\0\0\0\0" + good[8:])
    assert store.verify() == [(key, f"bytecode {tag}: demo_pkg/__pycache__/m.{tag}.pyc is not an unchecked-hash pyc")]
    forge(pyc, good)
    forge(pyc_dir / f"gone.{tag}.pyc", good)
    assert store.verify() == [(key, f"bytecode {tag}: demo_pkg/__pycache__/gone.{tag}.pyc has no source or is unreadable")]
    (pyc_dir / f"gone.{tag}.pyc").unlink()
    forge(pyc, good)
    assert store.verify() == []

"""load_lock: records from uv.lock and pylock.toml, and one-line LockErrors for bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from runhelp import DEMO_LOCK
from vsite.errors import LockError
from vsite.lock import PyLock, UvLock, load_lock


PYLOCK = """lock-version = "1.0"
created-by = "test"
requires-python = ">=3.10"
extras = ["x"]
dependency-groups = ["dev"]
default-groups = ["dev"]

[[packages]]
name = "Six"
version = "1.17.0"
index = "https://pypi.org/simple"
wheels = [{ url = "https://files.example/six-1.17.0-py2.py3-none-any.whl", size = 3, hashes = { sha256 = "AB" } }]

[[packages]]
name = "local"
directory = { path = "src/local", editable = true }
"""


def test_demo_uv_lock_records():
    lock = load_lock(DEMO_LOCK)
    assert isinstance(lock, UvLock)
    assert (lock.version, lock.revision, lock.requires_python) == (1, 5, ">=3.11")
    rich = lock.by_name["rich"][0]
    assert rich.source.kind == "registry" and rich.version == "15.0.0"
    assert [d.name for d in rich.dependencies] == ["markdown-it-py", "pygments"]
    assert rich.wheels[0].sha256 and rich.wheels[0].size and rich.sdist.filename == "rich-15.0.0.tar.gz"
    root = lock.by_name["vsite-demo"][0]
    assert root.source.kind == "virtual" and root.source.path == str(DEMO_LOCK.parent)
    with pytest.raises(AttributeError):
        rich.version = "0"  # records are immutable


def test_pylock_records(tmp_path):
    path = tmp_path / "pylock.toml"
    path.write_text(PYLOCK)
    lock = load_lock(path)
    assert isinstance(lock, PyLock)
    six, local = lock.packages
    assert six.name == "six" and six.wheels[0].sha256 == "ab" and six.wheels[0].filename.startswith("six-")
    assert local.directory.editable and local.directory.path == str(tmp_path / "src" / "local")
    assert lock.extras == ("x",) and lock.default_groups == ("dev",)


def test_format_chosen_by_content_for_other_names(tmp_path):
    path = tmp_path / "env.lock"
    path.write_text(PYLOCK)
    assert isinstance(load_lock(path), PyLock)
    path.write_text(DEMO_LOCK.read_text())
    assert isinstance(load_lock(path), UvLock)


def _demo_with(old: str, new: str) -> str:
    text = DEMO_LOCK.read_text()
    assert old in text
    return text.replace(old, new, 1)


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("uv.lock", "version = [", "not TOML"),
        ("uv.lock", "version = 2\n", "unknown uv.lock version 2"),
        ("uv.lock", "revision = 1\n", "missing field `version`"),
        ("uv.lock", _demo_with('name = "attrs"\n', ""), r"package\[0\]: missing field `name`"),
        ("uv.lock", _demo_with('source = { registry = "https://pypi.org/simple" }\n', ""),
         r"package\[0\] \(attrs\): missing field `source`"),
        ("uv.lock", _demo_with('{ name = "mdurl" }', '{ name = "nothere" }'),
         "dependency nothere names no package"),
        ("uv.lock", _demo_with('version = "26.1.0"', "version = 26"), "field `version` must be a string"),
        ("pylock.toml", 'lock-version = "2.0"\n', "unknown pylock lock-version 2.0"),
        ("pylock.toml", PYLOCK.replace('name = "local"\n', ""), r"packages\[1\]: missing field `name`"),
        ("pylock.toml", PYLOCK.replace('directory = { path = "src/local", editable = true }', 'version = "1"'),
         r"packages\[1\] \(local\): missing field `wheels`"),
        ("pylock.x.toml", b"\xff\xfe", "not UTF-8"),
        ("other.lock", "x = 1\n", "not a uv.lock or pylock.toml"),
        ("other.lock", "x = [", "not TOML"),
    ],
)
def test_bad_locks_are_one_line_errors(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(LockError, match=message) as info:
        load_lock(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_missing_lock_file(tmp_path):
    with pytest.raises(LockError, match="not found"):
        load_lock(tmp_path / "uv.lock")


def _uv_locks() -> list[Path]:
    here = Path(__file__).resolve().parent
    return [DEMO_LOCK, here / "data" / "workspace" / "uv.lock", here / "data" / "conflicts" / "uv.lock"]


@pytest.mark.parametrize("path", _uv_locks(), ids=lambda p: p.parent.name)
def test_wheel_block_fast_path_equals_tomllib(path):
    import tomllib

    from vsite.lock.fields import read_toml
    from vsite.lock.wheelblocks import split_wheel_blocks

    data = path.read_bytes()
    assert split_wheel_blocks(data.decode())[1]  # the fast path is taken on uv's own output
    assert read_toml(path, data, uv_wheels=True) == tomllib.loads(data.decode())


def test_wheel_block_fast_path_leaves_other_shapes_to_tomllib():
    from vsite.lock.wheelblocks import split_wheel_blocks

    odd = 'wheels = [\n    { url = "a\\u0041", hash = "sha256:00" },\n]\n'  # an escape: not literal
    assert split_wheel_blocks(odd) == (odd, {})
    quoted = 'x = """\nwheels = [\n]\n"""\n'
    assert split_wheel_blocks(quoted) == (quoted, {})


def test_toml_error_names_the_real_line(tmp_path):
    text = DEMO_LOCK.read_text()
    path = tmp_path / "uv.lock"
    path.write_text(text + "broken = \n")
    with pytest.raises(LockError, match=f"line {text.count(chr(10)) + 1}"):
        load_lock(path)

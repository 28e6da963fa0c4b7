"""Typed access to parsed TOML tables, failing with a LockError that names the place.

Lock parsers read every field through these helpers so that a wrong type or a
missing key anywhere becomes one line like ``uv.lock: package[3] (numpy):
missing field `version``` instead of a KeyError or TypeError deep in the planner.
"""

from __future__ import annotations

import builtins
import os
import tomllib
from pathlib import Path
from typing import Any, Literal, overload

from vsite.errors import LockError

_TYPE_NAMES = {str: "a string", int: "an integer", bool: "a boolean", list: "an array", dict: "a table"}


def read_toml(path: Path, data: bytes, *, uv_wheels: bool = False) -> dict:
    """Parse ``data`` (the bytes of ``path``) as TOML, or raise a one-line LockError.

    ``uv_wheels`` takes the fast path for uv.lock wheel arrays (:mod:`vsite.lock.wheelblocks`).
    """
    try:
        text = data.decode("utf-8")
        if not uv_wheels:
            return tomllib.loads(text)
        from vsite.lock.wheelblocks import restore_wheel_blocks, split_wheel_blocks

        short, blocks = split_wheel_blocks(text)
        try:
            document = tomllib.loads(short)
        except tomllib.TOMLDecodeError:
            return tomllib.loads(text)  # raises again, with line numbers of the real file
        restore_wheel_blocks(document, blocks)
        return document
    except UnicodeDecodeError:
        raise LockError(f"{path}: not TOML: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise LockError(f"{path}: not TOML: {exc}") from None


class Fields:
    """Reads fields of one TOML table; ``where`` says which table for error messages."""

    __slots__ = ("lock", "data", "where")

    def __init__(self, lock: str, table: Any, where: str) -> None:
        if not isinstance(table, dict):
            raise LockError(f"{lock}: {where}: expected a table")
        self.lock = lock
        self.data = table
        self.where = where

    def fail(self, message: str) -> LockError:
        return LockError(f"{self.lock}: {self.where}: {message}")

    def get(self, key: str, kind: type, default: Any = None, *, required: bool = False) -> Any:
        value = self.data.get(key)
        if value is None:
            if required:
                raise self.fail(f"missing field `{key}`")
            return default
        # bool is an int subclass in Python; TOML keeps them apart, so do we.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.fail(f"field `{key}` must be {_TYPE_NAMES.get(kind, kind.__name__)}")
        return value

    # (inside the class ``str`` is this method: annotations below say ``builtins.str``)
    @overload
    def str(self, key: builtins.str, *, required: Literal[True]) -> builtins.str: ...
    @overload
    def str(self, key: builtins.str, *, required: bool = False) -> builtins.str | None: ...
    def str(self, key: builtins.str, *, required: bool = False) -> builtins.str | None:
        return self.get(key, str, required=required)

    def strs(self, key: builtins.str) -> tuple[builtins.str, ...]:
        values = self.get(key, list, [])
        if not all(isinstance(v, str) for v in values):
            raise self.fail(f"field `{key}` must be an array of strings")
        return tuple(values)

    def tables(self, key: builtins.str) -> list[Fields]:
        values = self.get(key, list, [])
        return [Fields(self.lock, v, f"{self.where}.{key}[{i}]") for i, v in enumerate(values)]

    def table(self, key: builtins.str, *, required: bool = False) -> Fields | None:
        value = self.get(key, dict, required=required)
        return None if value is None else Fields(self.lock, value, f"{self.where}.{key}")

    def sub(self, key: builtins.str, name: builtins.str) -> Fields:
        """A nested table ``key`` already known to be present (for keyed sub-tables)."""
        return Fields(self.lock, self.data[key], f"{self.where}.{name}")


def resolve_path(base: str, value: str) -> str:
    """A lock-relative path made absolute and normalized (no symlink resolution)."""
    return os.path.normpath(os.path.join(base, value))


def filename_of(url_or_path: str) -> str:
    """The last component of a URL or path, without query or fragment."""
    return url_or_path.split("#", 1)[0].split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]

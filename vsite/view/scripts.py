"""What lands in ``bin/``: console/gui launchers and ``.data/scripts``, byte for byte as uv writes them.

uv's launcher differs from pypa ``installer.scripts.Script`` (uv strips
``-script.pyw``/``.exe`` with ``endswith`` tests, installer with a regex), so the
bytes are generated here in uv's format; docs/view.md has the comparison.
"""

from __future__ import annotations

from dataclasses import dataclass

# Longest shebang line (with "#!" and the newline) the kernel reads whole; longer
# ones, and paths with spaces, go through /bin/sh as uv (and distlib) do.
_MAX_SHEBANG = 127

_LAUNCHER = """\
# -*- coding: utf-8 -*-
import sys
from {module} import {name}
if __name__ == "__main__":
    if sys.argv[0].endswith("-script.pyw"):
        sys.argv[0] = sys.argv[0][:-11]
    elif sys.argv[0].endswith(".exe"):
        sys.argv[0] = sys.argv[0][:-4]
    sys.exit({call}())
"""


def quote_posix(text: str) -> str:
    """Escape for use inside single quotes in sh (uv's ``escape_posix_for_single_quotes``)."""
    return text.replace("'", "'\"'\"'")


def shebang(python: str) -> bytes:
    """The first line(s) uv writes for scripts run by ``python`` (no trailing newline)."""
    if 2 + len(python.encode()) + 1 > _MAX_SHEBANG or " " in python:
        return f"#!/bin/sh\n'''exec' '{quote_posix(python)}' \"$0\" \"$@\"\n' '''".encode()
    return f"#!{python}".encode()


@dataclass(frozen=True)
class EntryPoint:
    """One ``console_scripts``/``gui_scripts`` entry: ``name = module:attr [extras]``."""

    name: str
    module: str
    attr: str

    @classmethod
    def parse(cls, name: str, value: str) -> "EntryPoint | None":
        """None without ``:attr`` (uv refuses such a wheel: "invalid console script")."""
        spec = value.split("[", 1)[0].strip()
        module, sep, attr = spec.partition(":")
        if not sep or not module.strip() or not attr.strip():
            return None
        return cls(name, module.strip(), attr.strip())


def launcher(entry: EntryPoint, python: str) -> bytes:
    """The launcher uv writes for an entry point (the same for console and gui scripts on posix)."""
    body = _LAUNCHER.format(module=entry.module, name=entry.attr.split(".", 1)[0], call=entry.attr)
    return shebang(python) + b"\n" + body.encode()


def rewrite_script(data: bytes, python: str) -> bytes:
    """A ``.data/scripts`` file as uv installs it: a ``#!python...`` first line becomes the venv's."""
    if not data.startswith(b"#!python"):
        return data
    _, newline, rest = data.partition(b"\n")
    return shebang(python) + b"\n" + (rest if newline else b"")

"""A fast path for the bulk of a uv.lock: its ``wheels = [...]`` arrays.

``tomllib`` is pure Python and spends about 80% of a large uv.lock's parse on
wheel lines, which uv writes in one fixed shape::

    wheels = [
        { url = "...", hash = "sha256:...", size = 123, upload-time = "..." },
    ]

Blocks made only of such lines are read with an exact regular expression (a
TOML basic string without backslashes is literal, so the values are exactly
what tomllib would produce) and replaced by a placeholder string before
tomllib parses the rest; the lists are put back afterwards. Anything in
another shape -- or a file with multi-line strings, where a line is not
necessarily a key -- is left entirely to tomllib. tests/test_lock.py checks
the result equals plain tomllib on real locks.
"""

from __future__ import annotations

import os
import re

_BLOCK = re.compile(r"^wheels = \[\n((?:    \{ [^\n]*\},\n)*)\]\n", re.M)
_LINE = re.compile(
    r'    \{ (url|path|filename) = "([^"\\\n]*)", hash = "([^"\\\n]*)"'
    r'(?:, size = (0|[1-9][0-9]*))?(?:, upload-time = "([^"\\\n]*)")? \},\n'
)


def split_wheel_blocks(text: str) -> tuple[str, dict[str, list[dict]]]:
    """``text`` with uv-shaped wheel arrays swapped for placeholders, and those arrays by placeholder."""
    if '"""' in text or "'''" in text:
        return text, {}
    nonce = os.urandom(8).hex()
    blocks: dict[str, list[dict]] = {}

    def replace(match: re.Match) -> str:
        body = match.group(1)
        wheels, pos = [], 0
        for line in _LINE.finditer(body):
            if line.start() != pos:
                return match.group(0)
            entry: dict = {line[1]: line[2], "hash": line[3]}
            if line[4] is not None:
                entry["size"] = int(line[4])
            if line[5] is not None:
                entry["upload-time"] = line[5]
            wheels.append(entry)
            pos = line.end()
        if pos != len(body):
            return match.group(0)
        key = f"{nonce}:{len(blocks)}"
        blocks[key] = wheels
        return f'wheels = "{key}"\n'

    return _BLOCK.sub(replace, text), blocks


def restore_wheel_blocks(node: object, blocks: dict[str, list[dict]]) -> None:
    """Put the arrays back wherever a ``wheels`` key holds one of the placeholders."""
    if not blocks:
        return
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            value = item.get("wheels")
            if isinstance(value, str) and value in blocks:
                item["wheels"] = blocks[value]
            stack.extend(v for v in item.values() if isinstance(v, (dict, list)))
        elif isinstance(item, list):
            stack.extend(v for v in item if isinstance(v, (dict, list)))

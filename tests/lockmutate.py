"""Hypothesis strategies that break lockfiles: structural edits of the parsed document
(delete, retype, swap, duplicate parts) and textual edits of the file (lines, tokens,
hash digits, truncation, noise), plus a small TOML writer for the structural ones."""

from __future__ import annotations

import copy
import datetime
import json
import re

from hypothesis import strategies as st

ODD_STRINGS = st.sampled_from([
    "", ".", "..", "sha256:", "sha256:zz", "x:y", "python_version >", "extra == 'cli'", "sys_platform == 'win32'",
    "1.0", ">=3.99", "six", "app", "lib", "markupsafe", "a-1-py3-none-any.whl", "a-1-x-py3-none-any.whl",
    "https://x/a.tar.gz", "file:///nonexistent", "git+file:///x?rev=1#abc", "'dev' in dependency_groups",
    "/etc/passwd", "../../../../etc", "a\nb", "\u00e9\u4e2d",
])
VALUES = st.one_of(
    st.integers(-2, 3), st.booleans(), st.text(max_size=8), ODD_STRINGS,
    st.lists(ODD_STRINGS, max_size=3), st.dictionaries(ODD_STRINGS, ODD_STRINGS, max_size=2),
    st.just([]), st.just({}),
)


def slots(node, out):
    """Every (container, key) place in a document, depth first."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        out.append((node, key))
        slots(value, out)
    return out


def mutate_doc(draw, doc: dict) -> dict:
    """1-4 structural edits of a parsed lock (a deep copy is edited)."""
    doc = copy.deepcopy(doc)
    for _ in range(draw(st.integers(1, 4))):
        places = slots(doc, [])
        if not places:
            break
        container, key = draw(st.sampled_from(places))
        action = draw(st.sampled_from(["delete", "replace", "swap", "duplicate"]))
        if action == "delete":
            del container[key]
        elif action == "replace":
            container[key] = draw(VALUES)
        elif action == "swap":
            other, other_key = draw(st.sampled_from(places))
            container[key] = copy.deepcopy(other[other_key])
        elif isinstance(container, list):
            container.append(copy.deepcopy(container[key]))
    return doc


_HEX = re.compile(r"[0-9a-f]{64}")
_TOKEN = re.compile(r'"[^"\n]*"|\d+(?:\.\d+)*|[A-Za-z_][A-Za-z0-9_-]*')


@st.composite
def mutated_text(draw, text: str) -> str:
    """1-3 edits of a lock's text, keeping most of its layout (so uv.lock's fast paths are exercised)."""
    for _ in range(draw(st.integers(1, 3))):
        lines = text.split("\n")
        action = draw(st.sampled_from(
            ["drop-line", "dup-line", "swap-lines", "token", "hash-digit", "truncate", "noise"]))
        i = draw(st.integers(0, max(0, len(lines) - 1)))
        if action == "drop-line":
            del lines[i]
        elif action == "dup-line":
            lines.insert(i, lines[i])
        elif action == "swap-lines":
            j = draw(st.integers(0, max(0, len(lines) - 1)))
            lines[i], lines[j] = lines[j], lines[i]
        elif action == "token":
            tokens = list(_TOKEN.finditer(lines[i]))
            if tokens:
                m = draw(st.sampled_from(tokens))
                new = draw(st.one_of(ODD_STRINGS.map(json.dumps), st.sampled_from(['""', "0", "-1", "true", "[]", "{}"]),
                                     st.text(max_size=4)))
                lines[i] = lines[i][:m.start()] + new + lines[i][m.end():]
        elif action == "hash-digit":
            hashes = [(n, m) for n, line in enumerate(lines) for m in _HEX.finditer(line)]
            if hashes:
                n, m = draw(st.sampled_from(hashes))
                at = m.start() + draw(st.integers(0, 63))
                digit = draw(st.sampled_from("0123456789abcdef"))
                lines[n] = lines[n][:at] + digit + lines[n][at + 1:]
        elif action == "truncate":
            text = text[:draw(st.integers(0, len(text)))]
            continue
        else:
            at = draw(st.integers(0, len(text)))
            text = text[:at] + draw(st.text(max_size=6)) + text[at:]
            continue
        text = "\n".join(lines)
    return text


def _value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value))


def to_toml(doc: dict) -> str:
    """TOML for a document: each top-level key on one line, nested values inline."""
    return "".join(f"{json.dumps(str(k))} = {_value(v)}\n" for k, v in doc.items())

"""Mutated locks (real uv.lock / pylock.toml structures with parts deleted, retyped or swapped)
make the parser and planner fail only with LockError/PlanError, or give a valid plan."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lockmutate import mutate_doc
from planhelp import fake_target
from vsite.errors import LockError, PlanError
from vsite.lock.pylock import pylock_from_toml
from vsite.lock.uv import uv_lock_from_toml
from vsite.plan import PlanItem, PlanOptions
from vsite.plan.make import plan_items

HERE = Path(__file__).resolve().parent
SOURCES = {
    "demo": (HERE.parent / "examples" / "demo" / "uv.lock", uv_lock_from_toml),
    "workspace": (HERE / "data" / "workspace" / "uv.lock", uv_lock_from_toml),
    "pylock": (HERE / "data" / "workspace" / "pylock.toml", pylock_from_toml),
}
DOCS = {name: tomllib.loads(path.read_text()) for name, (path, _) in SOURCES.items()}
TARGETS = [fake_target((3, 11, 7), "linux"), fake_target((3, 12, 1), "windows")]
OPTIONS = [
    PlanOptions(),
    PlanOptions(all_extras=True, all_groups=True),
    PlanOptions(no_editable=True, no_install_local=True, no_binary_packages=("six",)),
]
KINDS = {"wheel", "sdist", "git", "directory", "editable", "virtual"}

@st.composite
def mutated(draw):
    name = draw(st.sampled_from(sorted(DOCS)))
    return name, mutate_doc(draw, DOCS[name])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_locks_fail_cleanly_or_plan(case):
    name, doc = case
    path, build = SOURCES[name]
    try:
        lock = build(path, doc)
    except LockError as exc:
        assert "\n" not in str(exc)
        return
    for target in TARGETS:
        for options in OPTIONS:
            try:
                items = plan_items(lock, target, options)
            except (LockError, PlanError) as exc:
                assert "\n" not in str(exc)
                continue
            names = [i.name for i in items]
            assert len(names) == len(set(names))
            for item in items:
                assert item.kind in KINDS
                assert (item.kind == "wheel") == (item.wheel is not None)
                assert PlanItem.from_json(item.to_json()) == item


@pytest.mark.parametrize("name", sorted(DOCS))
def test_unmutated_sources_plan(name):
    path, build = SOURCES[name]
    lock = build(path, copy.deepcopy(DOCS[name]))
    assert plan_items(lock, TARGETS[0], OPTIONS[1])


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=64), st.integers(0, 5000))
def test_corrupted_bytes_fail_cleanly(noise, offset):
    from vsite.lock import parse_lock

    data = bytearray((HERE.parent / "examples" / "demo" / "uv.lock").read_bytes())
    data[offset:offset + len(noise)] = noise
    try:
        parse_lock(Path("/x/uv.lock"), bytes(data))
    except LockError as exc:
        assert "\n" not in str(exc)


WHEEL_TEXT = (HERE / "data" / "workspace" / "uv.lock").read_text()
WHEEL_AT = WHEEL_TEXT.index("wheels = [")


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 4000), st.integers(0, 3), st.text(alphabet=' \n"\\{}[],=0123456789aurlsizehash:-', max_size=6))
def test_wheel_fast_path_agrees_with_tomllib(offset, cut, insert):
    """Edits around wheel arrays: the fast path parses to what tomllib does, or both fail."""
    from vsite.lock.fields import read_toml

    at = WHEEL_AT + offset
    text = WHEEL_TEXT[:at] + insert + WHEEL_TEXT[at + cut:]
    outcomes = []
    for fast in (True, False):
        try:
            outcomes.append(read_toml(Path("uv.lock"), text.encode(), uv_wheels=fast))
        except LockError:
            outcomes.append("error")
    assert outcomes[0] == outcomes[1]

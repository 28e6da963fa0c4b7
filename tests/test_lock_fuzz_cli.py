"""Broken lockfiles through the commands users run: ``vsite plan``, ``vsite fetch --offline``
(in-process, fast) and ``vsite mount --offline`` (the real command line, a smaller sample).

Every mutated uv.lock / pylock.toml must end in a one-line ``vsite: ...`` error or a
correct result: no traceback, no hang, nothing half-written in the store, nothing
left mounted. Counts: ``reliab.scale`` (CI) / ``VSITE_RELIABILITY=full``.
"""

from __future__ import annotations

import json
import os
import signal
import tomllib
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fusetools import force_unmount, in_proc_mounts, require_fuse
from lockmutate import mutate_doc, mutated_text, to_toml
from reliab import FULL, assert_one_line_error, make_env_wheels, record, scale, write_pylock
from runhelp import DEMO_LOCK, vsite
from vsite.cli import main
from vsite.fs import registry
from vsite.plan import PlanItem
from vsite.store.index import read_summary
from vsite.store import Store

HERE = Path(__file__).resolve().parent
WORKSPACE = HERE / "data" / "workspace"
KINDS = {"wheel", "sdist", "git", "directory", "editable", "virtual"}
HANG = 120  # seconds one command may take before it counts as a hang
OUTCOMES: Counter = Counter()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A store holding the demo lock's wheels (from PyPI) and a local pylock's; the sources to break."""
    base = tmp_path_factory.mktemp("lockfuzz")
    saved = dict(os.environ)
    os.environ.update(VSITE_CACHE_DIR=str(base / "cache"), VSITE_RUNTIME_DIR=str(base / "runtime"))
    try:
        local = write_pylock(base / "local" / "pylock.toml", make_env_wheels(base / "wheels", 3, 4))
        for lock in (DEMO_LOCK, local):
            result = CliRunner().invoke(main, ["fetch", str(lock)])
            assert result.exit_code == 0, result.output
        # offline from here on: no wheel borrowed from uv's cache, only the store and local files
        os.environ["UV_CACHE_DIR"] = str(base / "empty-uv-cache")
        sources = {
            "demo/uv.lock": DEMO_LOCK.read_text(),
            "workspace/uv.lock": (WORKSPACE / "uv.lock").read_text(),
            "workspace/pylock.toml": (WORKSPACE / "pylock.toml").read_text(),
            "local/pylock.toml": local.read_text(),
        }
        dirs = {"demo": DEMO_LOCK.parent, "workspace": WORKSPACE, "local": local.parent}
        yield base, sources, dirs
        store = Store()
        assert store.verify() == []
        staged = store.layout.base / "staged"
        assert not staged.is_dir() or not os.listdir(staged)
        assert not os.listdir(store.layout.tmp_dir())
    finally:
        os.environ.clear()
        os.environ.update(saved)


@st.composite
def broken_lock(draw, sources: dict):
    """(source name, text): a textual or structural mutation of one of the sources."""
    name = draw(st.sampled_from(sorted(sources)))
    text = sources[name]
    if draw(st.booleans()):
        return name, draw(mutated_text(text))
    return name, to_toml(mutate_doc(draw, tomllib.loads(text)))


def _write(base: Path, dirs: dict, name: str, text: str, n: int) -> Path:
    """Write the broken lock into a fresh dir, with the pyproject.toml its original has beside it."""
    folder, filename = name.split("/")
    path = base / "fuzz" / str(n) / filename
    path.parent.mkdir(parents=True)
    pyproject = dirs[folder] / "pyproject.toml"
    if pyproject.is_file():
        (path.parent / "pyproject.toml").write_bytes(pyproject.read_bytes())
    path.write_text(text, errors="surrogateescape")
    return path


def _remove(lock: Path) -> None:
    for child in lock.parent.iterdir():
        child.unlink()
    lock.parent.rmdir()


def _alarm(signum, frame):
    raise TimeoutError(f"a command took more than {HANG} s: a hang")


def _invoke(args: list[str]):
    """Run a vsite command in this process; return (exit code, stdout, stderr), failing on a traceback."""
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(HANG)
    try:
        result = CliRunner().invoke(main, args)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # an uncaught exception: a traceback for the user
    return result.exit_code, result.stdout, result.stderr


def _check_fetched(plan_json: dict) -> None:
    """A successful offline fetch: every item's entry and bytecode are in the store, under its key."""
    store = Store()
    for data in plan_json["items"]:
        item = PlanItem.from_json(data)
        if item.kind == "virtual":
            continue
        entry = store.entry_dir(item)
        assert entry is not None, item
        assert store.summary(item).sha256 == store.key(item)


def _plan_and_fetch(base, dirs, name, text, n) -> str:
    lock = _write(base, dirs, name, text, n)
    try:
        code, out, err = _invoke(["plan", "--json", str(lock)])
        if code != 0:
            assert code in (1, 2)
            assert_one_line_error(None, stderr=err)
            return "plan-error"
        plan_json = json.loads(out)
        names = [i["name"] for i in plan_json["items"]]
        assert len(names) == len(set(names))
        assert {i["kind"] for i in plan_json["items"]} <= KINDS
        code, out, err = _invoke(["fetch", "--offline", str(lock)])
        if code != 0:
            assert code in (1, 2)
            assert_one_line_error(None, stderr=err)
            return "fetch-error"
        _check_fetched(plan_json)
        return "fetched"
    finally:
        _remove(lock)


@pytest.mark.network
def test_broken_locks_plan_and_fetch_offline(world):
    """In-process: ``plan --json`` then ``fetch --offline`` of each broken lock."""
    base, sources, dirs = world
    counter = iter(range(10**9))
    outcomes: Counter = Counter()

    @settings(max_examples=scale(120, 1200), deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(broken_lock(sources))
    def run(case):
        name, text = case
        outcomes[(name, _plan_and_fetch(base, dirs, name, text, next(counter)))] += 1

    run()
    total = sum(outcomes.values())
    by_outcome = Counter()
    for (_, outcome), n in outcomes.items():
        by_outcome[outcome] += n
    record("locks-plan-fetch", cases=total, **by_outcome,
           by_source={f"{s}: {o}": n for (s, o), n in sorted(outcomes.items())})
    assert total >= scale(100, 1000)
    assert by_outcome["fetched"] > 0 and by_outcome["plan-error"] > 0 and by_outcome["fetch-error"] > 0


@pytest.mark.network
@pytest.mark.fuse
@pytest.mark.slow
def test_broken_locks_through_the_mount_command(world):
    """The real ``vsite mount --offline``: a one-line error and nothing mounted, or a working mount."""
    require_fuse()
    base, sources, dirs = world
    counter = iter(range(10**9))
    outcomes: Counter = Counter()
    env = dict(os.environ)

    @settings(max_examples=scale(8, 80), deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(broken_lock(sources))
    def run(case):
        name, text = case
        n = next(counter)
        lock = _write(base, dirs, name, text, 100_000 + n)
        target = base / "mnt" / str(n)
        try:
            done = vsite("mount", "--offline", lock, target, env=env, timeout=HANG)
            if done.returncode != 0:
                assert_one_line_error(done)
                assert not in_proc_mounts(str(target))
                assert not target.exists()  # the mount point it created is gone again
                assert registry.read_record(str(target)) is None
                outcomes["error"] += 1
                return
            assert in_proc_mounts(str(target))
            record_ = registry.read_record(str(target))
            assert record_ is not None and registry.daemon_alive(record_)
            listed = os.listdir(target)  # answers, and holds what the store entries say
            store = Store()
            tops = {t for key in record_.wheels for t in read_summary(store.layout.wheel_dir(key)).top_level}
            assert tops <= set(listed)
            unmounted = vsite("unmount", target, env=env, timeout=HANG)
            assert unmounted.returncode == 0, unmounted.stderr
            assert not in_proc_mounts(str(target))
            outcomes["mounted"] += 1
        finally:
            force_unmount(str(target))
            _remove(lock)

    run()
    record("locks-mount", cases=sum(outcomes.values()), **outcomes)
    assert sum(outcomes.values()) >= scale(8, 80)
    if FULL:
        assert outcomes["mounted"] > 0 and outcomes["error"] > 0

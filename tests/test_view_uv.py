"""Acceptance: a view equals what `uv sync --frozen` installs, file for file.

Locks are made with uv from wheels the tests craft (a find-links dir and path
wheels), so no index is needed. Differences allowed, and why:
- ``__pycache__``: uv sync does not compile; the view overlays the store's bytecode.
- ``*.dist-info/uv_cache.json``/``uv_build.json`` (and their RECORD lines): uv's
  private notes on local/built sources (a timestamp, build settings).
- ``.lock``: uv's own lock file for concurrent uv runs on the venv.
- pyvenv.cfg names the tool that made the venv (``uv = X`` vs ``vsite = Y``).
- a conflicting file: uv's copy is whichever wheel it wrote last (a race), the
  view's is the later package's; both must be one of the wheels' copies.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from viewsupport import fetched, materialize, materialize_dir, store_links, write_tree
from viewwheels import make_corpus
from vsite.plan import make_plan
from vsite.target import probe
from vsite.view import build_view

UV = str(Path(sys.executable).with_name("uv"))
_UV_PRIVATE = re.compile(rb"\.dist-info/uv_(cache|build)\.json(,|$)")


@pytest.fixture(params=[False, True], ids=["daemon-served", "linked"])
def linked(request) -> bool:
    """Both data paths: every byte from the daemon, or subtrees unique to a wheel as links into the store."""
    return request.param



def _uv(*args: str, cwd: Path) -> None:
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    env.pop("VIRTUAL_ENV", None)
    proc = subprocess.run([UV, *args], cwd=cwd, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def _normalize(tree: dict, *, uv: bool) -> dict:
    out = {}
    for path, value in tree.items():
        parts = path.split("/")
        if "__pycache__" in parts or path == ".lock" or _UV_PRIVATE.search(path.encode()):
            continue
        if path.endswith(".dist-info/RECORD"):
            data, mode = value
            lines = [line for line in data.split(b"\n") if not _UV_PRIVATE.search(line)]
            value = (b"\n".join(lines), mode)
        if path == "pyvenv.cfg":
            data, mode = value
            lines = [line for line in data.split(b"\n") if not line.startswith(b"uv = " if uv else b"vsite = ")]
            value = (b"\n".join(lines), mode)
        out[path] = value
    return out


def _project(tmp: Path, wheels: dict[str, Path], *, path_deps: bool) -> Path:
    proj = tmp / "proj"
    proj.mkdir()
    if path_deps:
        deps = ", ".join(f'"{name} @ {wheel.as_uri()}"' for name, wheel in wheels.items())
        extra = ""
    else:
        deps = '"alpha"'
        extra = f'find-links = ["{wheels["alpha"].parent}"]\nno-index = true\n'
    (proj / "pyproject.toml").write_text(
        f'[project]\nname = "proj"\nversion = "0.1"\nrequires-python = ">=3.11"\n'
        f"dependencies = [{deps}]\n\n[tool.uv]\npackage = false\n{extra}"
    )
    _uv("lock", "-q", cwd=proj)
    _uv("sync", "-q", "--frozen", "-p", sys.executable, cwd=proj)
    return proj


@pytest.fixture
def target(tmp_path, monkeypatch):
    monkeypatch.setenv("VSITE_CACHE_DIR", str(tmp_path / "cache"))
    return probe(sys.executable)


@pytest.mark.parametrize("lock_name", ["uv.lock", "pylock.toml"])
@pytest.mark.parametrize("path_deps", [False, True], ids=["find-links", "path-wheels"])
def test_venv_view_equals_uv_sync(tmp_path, target, path_deps, lock_name, linked):
    wheels = make_corpus(tmp_path / "wheels")
    proj = _project(tmp_path, wheels, path_deps=path_deps)
    if lock_name == "pylock.toml":
        _uv("export", "--frozen", "-q", "--format", "pylock.toml", "-o", lock_name, cwd=proj)
    venv = proj / ".venv"
    plan = make_plan(proj / lock_name, target)
    store = fetched(plan, tmp_path / "store", target)
    # uv sync's prompt is the project's name: the plan's root item has it (a pylock has none)
    prompt = "proj" if lock_name == "pylock.toml" else None
    view = build_view(plan, store, target, venv_root=str(venv), prompt=prompt, mtime_ns=1,
                      links=store_links(store, linked))

    ours = _normalize(materialize(view), uv=False)
    theirs = _normalize(materialize_dir(venv), uv=True)

    conflicts = view.conflicts()
    assert [(c.path, c.winner, c.losers, c.identical) for c in conflicts] == [
        (f"{target.site_packages}/shared/__init__.py", "beta", ("alpha",), True),
        (f"{target.site_packages}/shared/conflict.py", "beta", ("alpha",), False),
    ]
    path = conflicts[1].path
    copies = {b"WHO = 'alpha'\n", b"WHO = 'beta'\n"}
    assert theirs[path][0] in copies
    assert ours[path][0] == b"WHO = 'beta'\n"
    theirs[path] = ours[path]

    assert sorted(ours) == sorted(theirs)
    for path in ours:
        assert ours[path] == theirs[path], path


def test_site_view_equals_uv_site_packages_without_scripts(tmp_path, target, linked):
    """Site-packages only: the same files as uv's site-packages; RECORD lists what is presented."""
    wheels = make_corpus(tmp_path / "wheels")
    proj = _project(tmp_path, wheels, path_deps=False)
    plan = make_plan(proj / "uv.lock", target)
    store = fetched(plan, tmp_path / "store", target)
    view = build_view(plan, store, target, links=store_links(store, linked))

    ours = _normalize(materialize(view), uv=False)
    theirs = _normalize(materialize_dir(proj / ".venv" / target.site_packages), uv=True)
    assert sorted(ours) == sorted(theirs)
    for path in ours:
        if path.endswith("/RECORD"):
            lines = [line for line in theirs[path][0].split(b"\n") if not line.startswith(b"../")]
            assert ours[path][0] == b"\n".join(lines), path
        elif path != "shared/conflict.py":
            assert ours[path] == theirs[path], path


@pytest.mark.network
def test_venv_view_equals_uv_sync_for_pypi_wheels(tmp_path, target, linked):
    """Real wheels: a namespace package (jaraco.*), headers and data (pybind11-global),
    console scripts (pyjokes), licenses dirs in dist-info; locked from a find-links dir."""
    wheels = tmp_path / "wheels"
    reqs = ["jaraco.functools==4.1.0", "jaraco.context==6.0.1", "more-itertools==10.5.0",
            "backports.tarfile==1.2.0", "pybind11-global==2.13.6", "pyjokes==0.8.3", "six==1.16.0"]
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary", ":all:", "-d", str(wheels), *reqs],
        capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stderr
    proj = tmp_path / "proj"
    proj.mkdir()
    deps = ", ".join(f'"{r.split("==")[0]}"' for r in reqs)
    (proj / "pyproject.toml").write_text(
        f'[project]\nname = "proj"\nversion = "0.1"\nrequires-python = ">=3.11"\ndependencies = [{deps}]\n\n'
        f'[tool.uv]\npackage = false\nfind-links = ["{wheels}"]\nno-index = true\n'
    )
    _uv("lock", "-q", cwd=proj)
    _uv("sync", "-q", "--frozen", "-p", sys.executable, cwd=proj)
    plan = make_plan(proj / "uv.lock", target)
    store = fetched(plan, tmp_path / "store", target)
    view = build_view(plan, store, target, venv_root=str(proj / ".venv"), links=store_links(store, linked))
    ours = _normalize(materialize(view), uv=False)
    theirs = _normalize(materialize_dir(proj / ".venv"), uv=True)
    assert {c.path for c in view.conflicts() if not c.identical} == set()
    assert f"{target.site_packages}/jaraco/functools/__init__.py" in ours
    assert any(p.startswith("include/site/") and p.endswith(".h") for p in ours)
    assert sorted(ours) == sorted(theirs)
    for path in ours:
        assert ours[path] == theirs[path], path


_PROBE = """
import importlib.metadata as md, json, sys
import alpha_mod, ns.alpha, ns.beta, shared.conflict
print(json.dumps({
    "eps": sorted((e.group, e.name, e.value) for d in md.distributions() for e in d.entry_points),
    "dists": sorted((d.metadata["Name"], d.version) for d in md.distributions()),
    "who": shared.conflict.WHO,
    "pyc": alpha_mod.__cached__,
}))
"""


def test_python_runs_on_the_view(tmp_path, target):
    """Written out to disk at its venv_root, the view is a venv Python and its scripts run in,
    importing from the store's bytecode; metadata matches uv's venv."""
    wheels = make_corpus(tmp_path / "wheels")
    proj = _project(tmp_path, wheels, path_deps=False)
    plan = make_plan(proj / "uv.lock", target)
    store = fetched(plan, tmp_path / "store", target)
    root = tmp_path / "mounted"
    view = build_view(plan, store, target, venv_root=str(root), prompt="proj")
    write_tree(materialize(view), root)

    def probe_env(venv: Path) -> dict:
        proc = subprocess.run([str(venv / "bin" / "python"), "-c", _PROBE], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    ours, theirs = probe_env(root), probe_env(proj / ".venv")
    assert ours["eps"] == theirs["eps"] and ours["dists"] == theirs["dists"]
    assert ours["who"] == "beta"
    # the .pyc came from the store's bytecode (nothing could write one: it was there first)
    assert ours["pyc"] == f"{root}/{target.site_packages}/__pycache__/alpha_mod.{target.cache_tag}.pyc"
    proc = subprocess.run([str(root / "bin" / "alpha-cli")], capture_output=True, text=True)
    assert (proc.returncode, proc.stdout) == (0, "alpha main\n")
    proc = subprocess.run([str(root / "bin" / "alpha-script")], capture_output=True, text=True)
    assert (proc.returncode, proc.stdout) == (0, "alpha script\n")


@pytest.mark.network
@pytest.mark.slow
def test_large_real_lock_equals_uv_sync(tmp_path, target, linked):
    """~90 PyPI packages: jupyterlab (share/jupyter and etc/jupyter data from many
    wheels), the google namespace (api-core, protos, protobuf's executable RECORD)."""
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "pyproject.toml").write_text(
        '[project]\nname = "big"\nversion = "0.1"\nrequires-python = ">=3.11"\n'
        'dependencies = ["jupyterlab", "google-api-core", "googleapis-common-protos"]\n'
        "\n[tool.uv]\npackage = false\n"
    )
    _uv("lock", "-q", "-p", sys.executable, cwd=proj)
    _uv("sync", "-q", "--frozen", "-p", sys.executable, cwd=proj)
    plan = make_plan(proj / "uv.lock", target)
    store = fetched(plan, tmp_path / "store", target)  # downloads from the lock's URLs
    view = build_view(plan, store, target, venv_root=str(proj / ".venv"), links=store_links(store, linked))
    ours = _normalize(materialize(view), uv=False)
    theirs = _normalize(materialize_dir(proj / ".venv"), uv=True)
    assert len(ours) > 5000
    assert sorted(ours) == sorted(theirs)
    differ = [p for p in ours if ours[p] != theirs[p]]
    assert differ == []  # protobuf's executable RECORD included: the store keeps the wheel's mode

"""Issue 15, acceptance: vsite installed the way users install it, from the wheelhouse alone.

``make dist`` (idempotent: a re-run with nothing changed takes well under a
second), then a fresh venv of each of this machine's Pythons vsite supports
(3.11, and 3.12/3.13 where pyenv or PATH has them: planhelp.other_pythons)
installs vsite with
``pip install --no-index --only-binary :all: --find-links dist vsite`` -- no
index, nothing built, and no pip configuration (this machine's pip.conf adds
find-links of its own). From that venv: ``vsite doctor`` exits 0 reporting the
patched pyfuse3, and a ``--venv`` mount of the demo lock (wheels fetched into a
fresh store from uv's cache or the index) imports a package, runs a console
script, serves with zero-message open, and unmounts.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fusetools import force_unmount, require_fs_mode
from planhelp import other_pythons
from runhelp import DEMO_LOCK, ROOT

DIST = ROOT / "dist"

pytestmark = [pytest.mark.slow, pytest.mark.fuse, pytest.mark.network]


def _base_python() -> str:
    """This interpreter's base (not a venv's python): the Python the wheelhouse is built for."""
    return os.path.realpath(getattr(sys, "_base_executable", sys.executable))


# The host interpreters vsite runs on (requires-python >= 3.11): this one's base and every other one here.
HOST_PYTHONS = [_base_python()] + [path for path, version in other_pythons() if version >= (3, 11)]


def _makefile_label() -> str:
    text = (ROOT / "Makefile").read_text()
    version = re.search(r"^PYFUSE3_VERSION\s*:=\s*(\S+)", text, re.M).group(1)
    label = re.search(r"^PYFUSE3_LABEL\s*:=\s*(\S+)", text, re.M).group(1)
    return f"{version}+{label}"


def _clean_env(tmp_path: Path) -> dict[str, str]:
    """No PYTHONPATH (the venv must use its own vsite), no pip configuration, private vsite dirs."""
    env = {k: v for k, v in os.environ.items()
           if k != "PYTHONPATH" and k != "VIRTUAL_ENV" and not k.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1",
               VSITE_CACHE_DIR=str(tmp_path / "store"), VSITE_RUNTIME_DIR=str(tmp_path / "runtime"))
    env.pop("VSITE_FS_NO_OPEN", None)
    return env


def _run(args: list, env: dict, timeout: float = 600, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True, env=env, timeout=timeout, **kw)
    assert proc.returncode == 0, f"{args}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def _version(python: str) -> str:
    return subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                          capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture(scope="module", autouse=True)
def _pyfuse3_wheels(tmp_path_factory):
    """The patched pyfuse3 wheel for each CPython version here, built side by side (`make
    pyfuse3-wheel`: one C compile per core) before the first test's `make dist`, which then takes
    it instead of compiling: ~1 min less on a fresh clone. A no-op where the wheels are built."""
    logs = tmp_path_factory.mktemp("pyfuse3-wheels")
    make_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    one_each = {_version(python): python for python in reversed(HOST_PYTHONS)}  # this Python's base first
    runs = []
    try:
        for version, python in one_each.items():
            with open(logs / version, "w") as log:
                runs.append((version, subprocess.Popen(["make", "-C", ROOT, "pyfuse3-wheel", f"PYTHON={python}"],
                                                       env=make_env, stdout=log, stderr=subprocess.STDOUT)))
        for version, run in runs:
            assert run.wait(timeout=1200) == 0, (logs / version).read_text()[-3000:]
    finally:
        for _, run in runs:
            if run.poll() is None:
                run.kill()
                run.wait()


@pytest.mark.parametrize("python", HOST_PYTHONS, ids=_version)
def test_wheelhouse_installs_and_mounts(tmp_path, python):
    require_fs_mode("zero-message")
    timings: dict[str, float] = {}
    start = time.monotonic()
    env = _clean_env(tmp_path)

    # 1. The wheelhouse (built for this Python; the Makefile's own venv, never .venv).
    make_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    _run(["make", "-C", ROOT, "dist", f"PYTHON={python}"], make_env, timeout=1200)
    wheels = sorted(p.name for p in DIST.glob("*.whl"))
    patched = _makefile_label()
    tag = "cp" + _version(python).replace(".", "")
    assert any(w.startswith(f"pyfuse3-{patched}-{tag}-") for w in wheels), wheels
    assert any(w.startswith("vsite-") for w in wheels), wheels
    assert (DIST / "src" / "patch_pyfuse3.py").is_file()  # the LGPL source offer travels with the wheel
    timings["make dist"] = time.monotonic() - start

    # 2. A fresh venv; install from dist/ alone, binaries only.
    venv = tmp_path / "venv"
    _run([python, "-m", "venv", venv], env)
    _run([venv / "bin/python", "-m", "pip", "install", "-q", "--no-index", "--only-binary", ":all:",
          "--find-links", DIST, "vsite"], env, cwd=tmp_path)
    versions = json.loads(_run([venv / "bin/python", "-c",
                                "import importlib.metadata as m, json, vsite; print(json.dumps("
                                "[m.version('pyfuse3'), vsite.__file__]))"], env, cwd=tmp_path).stdout)
    assert versions[0] == patched
    assert versions[1].startswith(str(venv)), versions  # the installed copy, not the repo's
    timings["venv + install"] = time.monotonic() - start - sum(timings.values())

    # 3. doctor from that venv.
    doctor = _run([venv / "bin/vsite", "doctor"], env, cwd=tmp_path)
    assert "FAIL" not in doctor.stdout
    assert re.search(rf"^ok\s+pyfuse3\s+{re.escape(patched)}: vsite's patched build; on: zero-message open",
                     doctor.stdout, re.M), doctor.stdout
    report = {c["name"]: c for c in json.loads(_run([venv / "bin/vsite", "doctor", "--json"], env).stdout)}
    assert report["pyfuse3"]["status"] == "ok"

    # 4. Mount the demo lock as a venv, use it, check the mode, unmount.
    mnt = tmp_path / "mnt"
    try:
        _run([venv / "bin/vsite", "mount", DEMO_LOCK, mnt, "--venv"], env, cwd=tmp_path)
        timings["fetch + mount"] = time.monotonic() - start - sum(timings.values())
        imported = _run([mnt / "bin/python", "-c", "import rich.console, pygments; print(rich.console.__file__)"],
                        env, cwd=tmp_path)
        assert imported.stdout.strip().startswith(str(mnt)), imported.stdout
        for _ in range(2):  # the second run is warm: served without any open reaching the daemon
            shown = _run([mnt / "bin/pygmentize", "-V"], env, cwd=tmp_path)
            assert shown.stdout.startswith("Pygments version"), shown.stdout
        stats = json.loads(_run([venv / "bin/python", "-c",
                                 "import json, sys; from vsite.fs import mountpoint, registry; "
                                 "print(json.dumps(mountpoint.fresh_stats(registry.read_record(sys.argv[1]))))",
                                 mnt], env, cwd=tmp_path).stdout)
        assert stats["zero_message_open"] is True and stats["cache_symlinks"] is True, stats
        assert stats["links"] is True, stats  # the native data path: links into the store
        # ENOSYS to the first open and opendir: the kernel sent no other.
        assert stats["requests"].get("open", 0) <= 1 and stats["requests"].get("opendir", 0) <= 1, stats
        status = _run([venv / "bin/vsite", "status"], env).stdout
        assert str(mnt) in status and "venv" in status
        _run([venv / "bin/vsite", "unmount", mnt], env)
    finally:
        force_unmount(str(mnt))
    assert "no vsite mounts" in _run([venv / "bin/vsite", "status"], env).stdout
    timings["total"] = time.monotonic() - start
    print("timings:", {k: round(v, 1) for k, v in timings.items()})

"""Shared helpers of the reliability suite: scale, figures, offline environments of local wheels.

Every reliability test runs in a reduced count by default (CI) and in full with
``VSITE_RELIABILITY=full`` (``make reliability``). Tests report what they did
(cases tried, faults injected, bytes checked) with :func:`record`; with
``VSITE_RELIABILITY_REPORT=<file>`` each record is appended there as one JSON
line, which is where the figures in docs/reliability.md come from.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import subprocess
from pathlib import Path

import pytest

from wheelmaker import make_wheel

FULL = os.environ.get("VSITE_RELIABILITY") == "full"


def scale(ci: int, full: int) -> int:
    """``full`` under ``VSITE_RELIABILITY=full``, else ``ci``."""
    return full if FULL else ci


def record(test: str, **figures) -> None:
    """Append this test's figures to the report file, if one was asked for."""
    report = os.environ.get("VSITE_RELIABILITY_REPORT")
    if report:
        with open(report, "a") as out:
            out.write(json.dumps({"test": test, "full": FULL, **figures}) + "\n")


@contextlib.contextmanager
def env_vars(**values: str):
    """Set environment variables of this process for a block, then restore them."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def require_root() -> None:
    """Tests that mount a tmpfs or switch uid need root; in CI they must run."""
    if os.geteuid() == 0:
        return
    if os.environ.get("CI") == "true":
        pytest.fail("reliability tests must run as root in CI")
    pytest.skip("needs root (mounts a tmpfs / changes uid)")


def module_source(pkg: int, mod: int, rng: random.Random) -> bytes:
    """An importable module with some code and a recognisable constant."""
    body = "".join(f"def f{i}(x):\n    return x * {i} + {rng.randrange(1000)}\n" for i in range(rng.randrange(3, 30)))
    return f"NAME = 'p{pkg}m{mod}'\n{body}".encode()


def make_env_wheels(directory: Path, packages: int, modules: int, *, big: int = 0, seed: int = 0) -> list[Path]:
    """``packages`` wheels ``relpkgN`` with ``modules`` modules each (+ ``big`` random 64 KiB-1 MiB data files)."""
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    wheels = []
    for p in range(packages):
        name = f"relpkg{p}"
        files = {f"{name}/__init__.py": f"from . import m0\nNAME = {name!r}\n".encode()}
        for m in range(modules):
            files[f"{name}/m{m}.py"] = module_source(p, m, rng)
        for b in range(big):
            files[f"{name}/data/blob{b}.bin"] = rng.randbytes(rng.randrange(64 * 1024, 1024 * 1024))
        files[f"{name}/data/empty.txt"] = b""
        wheels.append(make_wheel(directory, name=name, files=files,
                                 entry_points=f"[console_scripts]\n{name}-tool = {name}:main\n"))
    return wheels


def write_pylock(path: Path, wheels: list[Path], *, urls: bool = False) -> Path:
    """A PEP 751 lock installing exactly ``wheels`` (local paths, with sha256 and size); with
    ``urls``, named by ``file://`` URL instead (fetched like downloads, so ``--offline`` refuses them)."""
    lines = ['lock-version = "1.0"', 'created-by = "vsite-tests"', 'requires-python = ">=3.8"', ""]
    for wheel in wheels:
        name, version = wheel.name.split("-")[:2]
        sha = hashlib.sha256(wheel.read_bytes()).hexdigest()
        lines += [
            "[[packages]]",
            f'name = "{name.replace("_", "-")}"',
            f'version = "{version}"',
            f'wheels = [{{ name = "{wheel.name}", {"url" if urls else "path"} = "{"file://" if urls else ""}{wheel}",'
            f' size = {wheel.stat().st_size},'
            f' hashes = {{ sha256 = "{sha}" }} }}]',
            "",
        ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    return path


def assert_one_line_error(done: subprocess.CompletedProcess | None, *, code: int | None = None,
                          stderr: str | None = None) -> str:
    """A failed command said ``vsite: <cause>`` on exactly one line, no traceback."""
    text = done.stderr if done is not None else stderr
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("vsite: "), text
    assert "Traceback" not in text
    if code is not None:
        assert done.returncode == code, text
    return lines[0]

"""vsite.entry: which command lines take the click-free join (the rest goes to the click CLI)."""

from __future__ import annotations

import pytest

from vsite.entry import _simple_run


@pytest.mark.parametrize(
    "argv, parsed",
    [
        (["run", "uv.lock", "--", "python", "-c", "x"], ("uv.lock", None, ["python", "-c", "x"])),
        (["run", "uv.lock", "--python", "/py", "--", "true"], ("uv.lock", "/py", ["true"])),
        (["run", "--python", "/py", "uv.lock", "--", "true", "--"], ("uv.lock", "/py", ["true", "--"])),
        (["run", "uv.lock", "--extra", "x", "--", "true"], None),  # other options: the click CLI
        (["run", "uv.lock", "--"], None),
        (["run", "uv.lock", "true"], None),
        (["mount", "uv.lock", "--", "x"], None),
    ],
)
def test_fast_path_takes_only_the_simple_run_form(argv, parsed):
    assert _simple_run(argv) == parsed

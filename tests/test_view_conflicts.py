"""Conflicts: the later package in plan order wins; reported lazily and completely."""

from __future__ import annotations

import sys

import pytest

from viewsupport import fetched, item_for, plan_of
from wheelmaker import make_wheel
from vsite.target import probe
from vsite.view import Conflict, build_view


@pytest.fixture
def target(tmp_path, monkeypatch):
    monkeypatch.setenv("VSITE_CACHE_DIR", str(tmp_path / "cache"))
    return probe(sys.executable)


def _plan(tmp_path, target, wheels):
    plan = plan_of([item_for(wheel) for wheel in wheels])
    return plan, fetched(plan, tmp_path / "store", target)


def _wheels(tmp_path):
    out = tmp_path / "w"
    return [
        make_wheel(
            out,
            "zed",
            "1",
            {"six.py": "zed\n", "pkg/x.py": "zed\n", "pkg/same.py": "same\n", "thing": "file\n",
             "zed-1.data/data/share/app.cfg": "zed\n"},
            entry_points={"console_scripts": {"tool": "pkg.x:main"}},
        ),
        make_wheel(
            out,
            "able",
            "1",
            {"six.py": "able\n", "pkg/x.py": "able\n", "pkg/same.py": "same\n", "thing/inner.py": "",
             "able-1.data/data/share/app.cfg": "able\n"},
            entry_points={"console_scripts": {"tool": "pkg.x:main"}},
        ),
    ]


def _get(view, path):
    node = view.root
    for part in path.split("/"):
        node = view.lookup(node, part)
    return node


def test_later_package_in_plan_order_wins(tmp_path, target):
    plan, store = _plan(tmp_path, target, _wheels(tmp_path))
    assert [i.name for i in plan.items] == ["able", "zed"]
    view = build_view(plan, store, target)
    assert view.conflicts(complete=False) == []
    assert open(_get(view, "six.py").real).read() == "zed\n"
    assert open(_get(view, "pkg/x.py").real).read() == "zed\n"
    # pkg/ is shared, so it was listed (and all of it resolved) on first lookup
    assert view.conflicts(complete=False) == [
        Conflict("pkg/same.py", "zed", ("able",)),
        Conflict("pkg/x.py", "zed", ("able",)),
        Conflict("six.py", "zed", ("able",)),
    ]
    # a file shadows a directory of an earlier package: the complete report sees it
    # before any lookup, a merge point when it is looked up
    fresh = build_view(plan, store, target)
    assert Conflict("thing", "zed", ("able",)) in fresh.conflicts()
    assert _get(view, "thing").real.endswith("/site/thing")
    assert view.conflicts() == [
        Conflict("pkg/same.py", "zed", ("able",), True),
        Conflict("pkg/x.py", "zed", ("able",), False),
        Conflict("six.py", "zed", ("able",), False),
        Conflict("thing", "zed", ("able",)),
    ]


def test_venv_reports_scripts_and_data(tmp_path, target):
    plan, store = _plan(tmp_path, target, _wheels(tmp_path))
    view = build_view(plan, store, target, venv_root=str(tmp_path / "venv"))
    paths = {c.path: c for c in view.conflicts()}
    assert paths["bin/tool"] == Conflict("bin/tool", "zed", ("able",), None)
    assert paths["share/app.cfg"] == Conflict("share/app.cfg", "zed", ("able",), False)
    assert f"{target.site_packages}/six.py" in paths
    assert open(_get(view, "share/app.cfg").real).read() == "zed\n"


def test_warning_line_skips_identical_copies():
    from vsite.view.conflicts import warning

    assert warning([Conflict("a/__init__.py", "b", ("a",), True)]) is None
    line = warning([Conflict(f"m{i}.py", "z", ("a", "b"), None) for i in range(5)])
    assert line is not None and "\n" not in line
    assert line.startswith("5 files are installed by more than one package")
    assert "m0.py (z over a, b)" in line and "and 2 more" in line

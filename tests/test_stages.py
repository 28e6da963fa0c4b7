"""Stages import one way: a module may import its own stage and earlier ones, never a later one.

Order: lock, plan, store, view, fs, shared, cli, ray (README.md, "Layout").
The modules outside the stage packages have a place too:

- ``vsite`` (``__init__``), ``vsite.errors``, ``vsite.paths``: common, below
  every stage (they import no stage);
- ``vsite.target`` (the interpreter): beside plan (plan, store and view use it);
- ``vsite.entry`` (the console script's click-free fast path) and
  ``vsite.__main__``: beside cli.

Every import counts, also one inside a function (vsite imports lazily a lot),
and under ``if TYPE_CHECKING:``: a type a module names is one it depends on.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from runhelp import ROOT

STAGES = ("lock", "plan", "store", "view", "fs", "shared", "cli", "ray")
COMMON = -1
PLACES = {
    "vsite": COMMON,
    "vsite.errors": COMMON,
    "vsite.paths": COMMON,
    "vsite.fileio": COMMON,
    "vsite.target": STAGES.index("plan"),
    "vsite.entry": STAGES.index("cli"),
    "vsite.__main__": STAGES.index("cli"),
}


def module_name(package_root: Path, path: Path) -> str:
    parts = list(path.relative_to(package_root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def rank(module: str) -> int:
    """The stage index of a vsite module (KeyError for one with no place: give it one above)."""
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in STAGES:
        return STAGES.index(parts[1])
    if module in PLACES:
        return PLACES[module]
    raise KeyError(f"{module} has no place in the stage order (tests/test_stages.py, PLACES)")


def imported(module: str, is_package: bool, tree: ast.AST, known: set[str]) -> list[tuple[int, str]]:
    """(line, module) of every vsite module ``tree`` imports, wherever the import statement is."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                package = module.split(".") if is_package else module.split(".")[:-1]
                base = package[: len(package) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:  # `from vsite import cli` imports the module vsite.cli
                sub = f"{source}.{alias.name}"
                found.append((node.lineno, sub if sub in known else source))
    return [(line, name) for line, name in found if name == "vsite" or name.startswith("vsite.")]


def back_imports(package_root: Path) -> list[str]:
    """``path:line: A (stage) imports B (later stage)`` for every import against the order."""
    files = {module_name(package_root, p): p for p in sorted(package_root.rglob("*.py"))}
    known = set(files)
    problems = []
    for module, path in files.items():
        tree = ast.parse(path.read_text(), str(path))
        own = rank(module)
        for line, target in imported(module, path.name == "__init__.py", tree, known):
            if rank(target) > own:
                where = path.relative_to(package_root.parent)
                problems.append(f"{where}:{line}: {module} imports {target}, a later stage")
    return problems


def test_stages_import_one_way():
    assert back_imports(ROOT / "vsite") == []


def test_every_module_has_a_place():
    for path in (ROOT / "vsite").rglob("*.py"):
        rank(module_name(ROOT / "vsite", path))


def test_a_back_import_is_found(tmp_path):
    """The check itself: synthetic back-imports, at module level, in a function, relative, as a name."""
    pkg = tmp_path / "vsite"
    for stage in ("lock", "plan", "cli"):
        (pkg / stage).mkdir(parents=True)
        (pkg / stage / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "errors.py").write_text("")
    (pkg / "cli" / "main.py").write_text("from vsite.lock import x\nimport vsite.errors\n")  # forward: fine
    (pkg / "lock" / "x.py").write_text("import os\n\ndef f():\n    from vsite.cli.main import g\n")
    (pkg / "lock" / "y.py").write_text("from ..plan import model\n")
    (pkg / "lock" / "z.py").write_text("from vsite import cli\n")
    (pkg / "errors.py").write_text("import vsite.plan\n")
    assert back_imports(pkg) == [
        "vsite/errors.py:1: vsite.errors imports vsite.plan, a later stage",
        "vsite/lock/x.py:4: vsite.lock.x imports vsite.cli.main, a later stage",
        "vsite/lock/y.py:1: vsite.lock.y imports vsite.plan, a later stage",
        "vsite/lock/z.py:1: vsite.lock.z imports vsite.cli, a later stage",
    ]


def test_starting_a_shared_mount_needs_no_click():
    """The shared join, the fetch-and-view step its first worker runs, and Ray's side are below the CLI."""
    code = ("import sys, vsite.shared.join, vsite.fs.prepare, vsite.ray.spec, vsite.ray.env; "
            "print(sorted(m for m in sys.modules if m.startswith('click')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.strip() == "[]"

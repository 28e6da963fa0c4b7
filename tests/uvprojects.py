"""Small real projects locked with uv, for comparing vsite's plan with what uv installs.

One workspace covers the cases the planner must get right: markers that exclude
by platform and Python version, extras, dependency groups, a forked package
(two versions split by python_version), a URL wheel, a local wheel and sdist,
a non-editable directory, a local git repository, and members (editable root,
editable library, virtual member). Local packages build with flit_core (tiny,
from PyPI) so ``uv sync`` stays quick.
"""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from pathlib import Path

from wheelmaker import make_wheel

MDURL_WHEEL = (
    "https://files.pythonhosted.org/packages/b3/38/89ba8ad64ae25be8de66a6d463314cf1eb366222074cfda9ee839c56a4b4/"
    "mdurl-0.1.2-py3-none-any.whl"
)

FLIT = '[build-system]\nrequires = ["flit_core>=3.4,<4"]\nbuild-backend = "flit_core.buildapi"\n'


def flit_project(root: Path, name: str, deps: list[str] = (), extra: str = "") -> Path:
    """A pure-Python project building with flit_core: ``root/pyproject.toml`` + ``root/<name>.py``."""
    root.mkdir(parents=True, exist_ok=True)
    module = name.replace("-", "_")
    (root / f"{module}.py").write_text(f'"""{name}."""\n__version__ = "1.0"\n')
    dep_list = ", ".join(f'"{d}"' for d in deps)
    (root / "pyproject.toml").write_text(
        f'[project]\nname = "{name}"\nversion = "1.0"\ndescription = "{name}"\n'
        f'requires-python = ">=3.10"\ndependencies = [{dep_list}]\n{extra}\n{FLIT}'
    )
    return root


def handmade_wheel(directory: Path, name: str = "handmade", version: str = "1.0") -> Path:
    """A minimal valid py3-none-any wheel (no build needed)."""
    return make_wheel(directory, name, version, {f"{name}.py": "VALUE = 1\n"})


def handmade_sdist(directory: Path, work: Path, name: str = "sdistpkg") -> Path:
    """An sdist (tar.gz) of a flit_core project; installing it needs a build."""
    src = flit_project(work / name, name)
    path = directory / f"{name}-1.0.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        for file in sorted(src.iterdir()):
            tf.add(file, arcname=f"{name}-1.0/{file.name}")
        pkg_info = f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n".encode()
        ti = tarfile.TarInfo(f"{name}-1.0/PKG-INFO")
        ti.size = len(pkg_info)
        tf.addfile(ti, io.BytesIO(pkg_info))
    return path


def git_repo(root: Path, name: str = "gitpkg") -> tuple[str, str]:
    """A local git repository with one commit tagged ``v1``: a flit project at the top and
    another (``gitsub``) in ``sub/``; returns (file URL, commit)."""
    flit_project(root, name)
    flit_project(root / "sub", "gitsub")
    git = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "init"], check=True)
    subprocess.run([*git, "tag", "v1"], check=True)
    commit = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    return root.as_uri(), commit


def workspace(base: Path) -> Path:
    """The test workspace under ``base``; returns its root (where uv.lock goes)."""
    files = base / "files"
    files.mkdir(parents=True)
    wheel = handmade_wheel(files)
    sdist = handmade_sdist(files, base / "work")
    git_url, _ = git_repo(base / "gitrepo")
    flit_project(base / "dirpkg", "dirpkg")
    root = base / "ws"
    flit_project(
        root / "packages" / "lib",
        "lib",
        deps=["six"],
        extra='[project.optional-dependencies]\nfast = ["attrs"]\n',
    )
    (root / "packages" / "virt").mkdir(parents=True)
    (root / "packages" / "virt" / "pyproject.toml").write_text(
        '[project]\nname = "virt"\nversion = "0.1"\nrequires-python = ">=3.10"\n'
        'dependencies = ["idna"]\n[tool.uv]\npackage = false\n'
    )
    deps = [
        "lib[fast]",
        "colorama; sys_platform == 'win32'",
        "tomli; python_version < '3.11'",
        "markupsafe<3; python_version < '3.12'",
        "markupsafe>=3; python_version >= '3.12'",
        "mdurl",
        "handmade",
        "sdistpkg",
        "gitpkg",
        "gitsub",
        "dirpkg",
        "charset-normalizer",  # binary wheels for many tags plus py3-none-any: tag priority matters
    ]
    extra = (
        '[project.optional-dependencies]\ncli = ["click"]\n'
        '[dependency-groups]\ndev = ["iniconfig"]\nlint = ["pyflakes"]\n'
        '[tool.uv.workspace]\nmembers = ["packages/*"]\n'
        "[tool.uv.sources]\n"
        "lib = { workspace = true }\n"
        f'mdurl = {{ url = "{MDURL_WHEEL}" }}\n'
        f'handmade = {{ path = "{os.path.relpath(wheel, root)}" }}\n'
        f'sdistpkg = {{ path = "{os.path.relpath(sdist, root)}" }}\n'
        f'gitpkg = {{ git = "{git_url}", branch = "main" }}\n'
        f'gitsub = {{ git = "{git_url}", tag = "v1", subdirectory = "sub" }}\n'
        f'dirpkg = {{ path = "../dirpkg" }}\n'
    )
    flit_project(root, "app", deps=deps, extra=extra)
    return root


def virtual_root_workspace(base: Path) -> Path:
    """A workspace whose root has no [project]: members ``alpha`` (needs ``beta``) and ``beta``,
    plus the root's own dependency groups (these land in uv.lock's ``[manifest]``)."""
    root = base / "vroot"
    flit_project(root / "alpha", "alpha", deps=["beta", "six"],
                 extra='[project.optional-dependencies]\nfmt = ["attrs"]\n[tool.uv.sources]\nbeta = { workspace = true }\n')
    flit_project(root / "beta", "beta", deps=["idna; python_version >= '3.11'"])
    (root / "pyproject.toml").write_text(
        '[tool.uv.workspace]\nmembers = ["alpha", "beta"]\n'
        '[dependency-groups]\ndev = ["iniconfig"]\ndocs = ["mdurl"]\n'
    )
    return root

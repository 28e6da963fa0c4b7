"""Items without a wheel are built with pypa build in isolation, keyed by their source, or fail on one line."""

from __future__ import annotations

import pytest

from wheelmaker import plan_of
from vsite.errors import StoreError
from vsite.plan.model import PlanItem
from vsite.store import Store
from vsite.target import current

PYPROJECT = """
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "local-proj"
version = "0.3"

[project.scripts]
local-proj = "local_proj:main"
"""


@pytest.fixture
def target(tmp_path, monkeypatch):
    monkeypatch.setenv("VSITE_CACHE_DIR", str(tmp_path / "probe-cache"))
    return current()


@pytest.fixture
def project(tmp_path):
    proj = tmp_path / "proj"
    (proj / "local_proj").mkdir(parents=True)
    (proj / "pyproject.toml").write_text(PYPROJECT)
    (proj / "local_proj" / "__init__.py").write_text("def main():\n    return 0\n")
    return proj


def _item(kind: str, proj) -> PlanItem:
    return PlanItem(name="local-proj", version="0.3", kind=kind, source={"kind": kind, "path": str(proj)})


@pytest.mark.network
@pytest.mark.slow
def test_directory_and_editable_builds(tmp_path, target, project):
    store = Store(tmp_path / "store")
    directory, editable = _item("directory", project), _item("editable", project)
    report = store.fetch(plan_of(directory), target)
    assert report.built == ["local-proj"]
    summary = store.summary(directory)
    assert summary.name == "local-proj" and summary.filename.startswith("local_proj-0.3-")
    assert summary.entry_points == {"console_scripts": {"local-proj": "local_proj:main"}}
    assert (store.entry_dir(directory) / "site/local_proj/__init__.py").is_file()
    assert store.fetch(plan_of(directory), target, offline=True).reused == ["local-proj"]

    # the key follows the tree's content: an edit means a new build
    old_key = store.key(directory)
    (project / "local_proj" / "__init__.py").write_text("def main():\n    return 1\n")
    assert store.key(directory) != old_key and store.entry_dir(directory) is None
    with pytest.raises(StoreError, match="^local-proj 0.3 needs a build \\(directory\\) and --offline was given$"):
        store.fetch(plan_of(directory), target, offline=True)

    assert store.fetch(plan_of(editable), target).built == ["local-proj"]
    site = store.entry_dir(editable) / "site"
    # setuptools' editable wheel points at the tree instead of copying it
    assert not (site / "local_proj").exists()
    assert any(p.suffix == ".pth" for p in site.iterdir())
    assert store.verify() == []


@pytest.mark.network
def test_failed_build_is_one_line_naming_the_package(tmp_path, target, project):
    (project / "pyproject.toml").write_text(PYPROJECT.replace("setuptools.build_meta", "no_such_backend"))
    store = Store(tmp_path / "store")
    with pytest.raises(StoreError, match="^building local-proj 0.3 \\(directory\\) failed: ") as info:
        store.fetch(plan_of(_item("directory", project)), target)
    assert "\n" not in str(info.value)
    assert store.keys() == []


def test_missing_source_directory(tmp_path, target):
    store = Store(tmp_path / "store")
    with pytest.raises(StoreError, match="local-proj 0.3 needs a build but its source directory .* does not exist"):
        store.fetch(plan_of(_item("directory", tmp_path / "gone")), target)


@pytest.mark.network
def test_sdist_build_checks_the_sdist_hash(tmp_path, target, project):
    import hashlib
    import tarfile

    from vsite.plan.model import Artifact

    sdist = tmp_path / "local_proj-0.3.tar.gz"
    with tarfile.open(sdist, "w:gz") as tar:
        tar.add(project, arcname="local_proj-0.3")
    sha = hashlib.sha256(sdist.read_bytes()).hexdigest()
    store = Store(tmp_path / "store")
    bad = PlanItem(name="local-proj", version="0.3", kind="sdist",
                   sdist=Artifact(filename=sdist.name, path=str(sdist), sha256="0" * 64))
    with pytest.raises(StoreError, match="hash mismatch for local-proj 0.3"):
        store.fetch(plan_of(bad), target)
    good = PlanItem(name="local-proj", version="0.3", kind="sdist",
                    sdist=Artifact(filename=sdist.name, path=str(sdist), sha256=sha))
    assert store.fetch(plan_of(good), target).built == ["local-proj"]
    assert (store.entry_dir(good) / "site/local_proj/__init__.py").is_file()
    assert store.keys() == [store.key(good)]


@pytest.mark.network
def test_git_build_at_the_locked_commit(tmp_path, target, project):
    import subprocess

    def git(*args):
        return subprocess.run(["git", "-C", str(project), *args], check=True, capture_output=True, text=True,
                              env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                                   "GIT_COMMITTER_EMAIL": "t@t", "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}).stdout

    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "one")
    commit = git("rev-parse", "HEAD").strip()
    (project / "local_proj" / "__init__.py").write_text("LATER = True\n")
    git("commit", "-qam", "two")
    item = PlanItem(name="local-proj", version="0.3", kind="git",
                    source={"kind": "git", "url": project.as_uri(), "commit_id": commit})
    store = Store(tmp_path / "store")
    assert store.fetch(plan_of(item), target).built == ["local-proj"]
    assert "def main" in (store.entry_dir(item) / "site/local_proj/__init__.py").read_text()
    missing = PlanItem(name="local-proj", version="0.3", kind="git",
                       source={"kind": "git", "url": project.as_uri(), "commit_id": "f" * 40})
    with pytest.raises(StoreError, match="^local-proj 0.3: git checkout failed: "):
        store.fetch(plan_of(missing), target)

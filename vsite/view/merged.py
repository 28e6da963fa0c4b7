"""Assemble a plan's packages into one lazily merged tree (site-packages, or a whole venv).

Build cost is one ``entry.json`` read per package and a dict of top-level names;
every directory below is resolved on first use by :class:`~vsite.view.tree.MergedTree`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from functools import partial

from vsite.plan.model import Plan
from vsite.target import Target
from vsite.view.conflicts import Claim, Conflict, conflicts_from_claims, file_dir_clashes, merge_reports
from vsite.view.installed import dist_info_files, record
from vsite.view.package import EntrySource, Package
from vsite.view.scripts import EntryPoint, launcher, rewrite_script
from vsite.view.tree import Entry, Fixed, Layer, Link, MergedTree, Real, Source, StoreLinks, Synth, VDir
from vsite.view import venv as venv_skel

VENV_OWNER = -1  # the venv skeleton: created before any package, so any package overrides it
SCRIPT_MODE = 0o755


def _constant(data: bytes) -> Callable[[], bytes]:
    return lambda: data


def _read_script(path: str, python: str) -> bytes:
    with open(path, "rb") as f:
        return rewrite_script(f.read(), python)


def launchers(pkg: Package) -> dict[str, EntryPoint]:
    """Console and gui script entry points of ``pkg`` by script name."""
    out = {}
    for group in ("console_scripts", "gui_scripts"):
        for name, value in pkg.summary.entry_points.get(group, {}).items():
            entry = EntryPoint.parse(name, value)
            if entry is not None:
                out[name] = entry
    return out


def package_scripts(pkg: Package, python: str) -> dict[str, Callable[[], bytes]]:
    """``bin/`` files of ``pkg`` (name -> bytes, made on demand). A launcher wins
    over a ``.data/scripts`` file of the same name, as in uv."""
    out: dict[str, Callable[[], bytes]] = {}
    for name in pkg.summary.scripts:
        if "/" not in name:  # uv rejects wheels with directories under .data/scripts
            out[name] = partial(_read_script, os.path.join(pkg.scheme_dir("scripts"), name), python)
    for name, entry in launchers(pkg).items():
        out[name] = partial(launcher, entry, python)
    return out


def _nested(parts: list[str], leaf: Entry) -> Entry:
    """``leaf`` placed at ``parts[-1]`` under virtual dirs ``parts[:-1]`` (as a VDir chain)."""
    entry = leaf
    for name in reversed(parts[1:]):
        entry = VDir(VENV_OWNER, (Fixed({name: (entry,)}),))
    return entry


class MergedView(MergedTree):
    """The view of one plan. Without ``venv_root`` its root is site-packages;
    with it, the root is a whole venv to be mounted at ``venv_root``."""

    def __init__(
        self,
        packages: list[Package],
        target: Target,
        *,
        venv_root: str | None = None,
        prompt: str | None = None,
        mtime_ns: int | None = None,
        links: StoreLinks | None = None,
    ) -> None:
        self.packages = packages
        self.target = target
        self.venv_root = venv_root
        self.python = f"{venv_root}/bin/python" if venv_root else None
        owners = {p.owner: p.name for p in packages}
        owners[VENV_OWNER] = "(venv)"
        site = self._site_source()
        if venv_root is None:
            roots: tuple[Source, ...] = (site,)
        else:
            roots = self._venv_sources(site, prompt)
        seals = {p.owner: p.summary.sealed_ns for p in packages}
        super().__init__(
            roots, owners, mtime_ns=time.time_ns() if mtime_ns is None else mtime_ns, seals=seals, links=links
        )

    # -- site-packages -------------------------------------------------------
    def _site_source(self) -> Fixed:
        index: dict[str, list[Entry]] = {}
        for pkg in self.packages:
            site = pkg.scheme_dir("site")
            top_level = set(pkg.summary.top_level)
            if "__pycache__" not in top_level and any(n.endswith(".py") for n in top_level):
                top_level.add("__pycache__")  # the store's bytecode of top-level modules
            for name in sorted(top_level):
                index.setdefault(name, []).append(Real(pkg.owner, os.path.join(site, name)))
            overlay = {name: (Synth(pkg.owner, make),) for name, make in self._installer_files(pkg).items()}
            index.setdefault(pkg.summary.dist_info, []).append(VDir(pkg.owner, (Fixed(overlay),)))
        return Fixed(index)

    def _installer_files(self, pkg: Package) -> dict[str, Callable[[], bytes]]:
        files = dist_info_files(pkg)
        out = {name: _constant(data) for name, data in files.items()}
        out["RECORD"] = partial(self._record, pkg, files)
        return out

    def _record(self, pkg: Package, installed: Mapping[str, bytes]) -> bytes:
        scripts = None
        if self.python is not None:
            scripts = {name: make() for name, make in package_scripts(pkg, self.python).items()}
        return record(
            pkg,
            installed,
            scripts,
            launchers=launchers(pkg).keys(),
            site_packages=self.target.site_packages,
            python_version=self.target.python_version,
        )

    # -- venv ----------------------------------------------------------------
    def _venv_sources(self, site: Fixed, prompt: str | None) -> tuple[Source, ...]:
        assert self.venv_root is not None and self.python is not None
        target = self.target
        bin_skel: dict[str, tuple[Entry, ...]] = {
            name: (Link(VENV_OWNER, dest),) for name, dest in venv_skel.python_links(target).items()
        }
        for name, data in venv_skel.activate_scripts(self.venv_root, prompt, target.site_packages).items():
            bin_skel[name] = (Synth(VENV_OWNER, _constant(data)),)
        bin_pkgs: dict[str, list[Entry]] = {}
        for pkg in self.packages:
            for name, make in package_scripts(pkg, self.python).items():
                bin_pkgs.setdefault(name, []).append(Synth(pkg.owner, make, SCRIPT_MODE))
        lib_parts = target.site_packages.split("/")
        skel: dict[str, tuple[Entry, ...]] = {
            "pyvenv.cfg": (Synth(VENV_OWNER, _constant(venv_skel.pyvenv_cfg(target, prompt))),),
            ".gitignore": (Synth(VENV_OWNER, _constant(venv_skel.GITIGNORE)),),
            "CACHEDIR.TAG": (Synth(VENV_OWNER, _constant(venv_skel.CACHEDIR_TAG)),),
            "bin": (VDir(VENV_OWNER, (Fixed(bin_skel), Fixed(bin_pkgs))),),
            lib_parts[0]: (_nested(lib_parts, VDir(VENV_OWNER, (site,))),),
        }
        if venv_skel.has_lib64(target):
            skel["lib64"] = (Link(VENV_OWNER, "lib"),)
        headers = {
            pkg.name: (Real(pkg.owner, pkg.scheme_dir("headers")),) for pkg in self.packages if pkg.summary.has_headers
        }
        if headers:
            parts = ["include", "site", f"python{target.python_version}"]
            skel["include"] = (_nested(parts, VDir(VENV_OWNER, (Fixed(headers),))),)
        data_layers = [Layer(pkg.owner, pkg.scheme_dir("data")) for pkg in self.packages if pkg.summary.has_data]
        return (Fixed(skel), *data_layers)

    # -- conflicts -----------------------------------------------------------
    def conflicts(self, *, complete: bool = True) -> list[Conflict]:
        """Paths installed by several packages, sorted by path.

        ``complete=False`` returns only what lookups met so far (free);
        ``complete=True`` reads the files.json of the packages sharing a
        top-level name (and, for a venv, those with data files and scripts).
        """
        found = self.found_conflicts()
        if not complete:
            return found
        claims: dict[str, list[Claim]] = {}
        prefix = f"{self.target.site_packages}/" if self.venv_root else ""
        tops: dict[str, set[int]] = {}
        for pkg in self.packages:
            for name in pkg.summary.top_level:
                tops.setdefault(name, set()).add(pkg.owner)
        shared = {name for name, owners in tops.items() if len(owners) > 1}
        venv = self.python is not None
        for pkg in self.packages:
            site_shared = not shared.isdisjoint(pkg.summary.top_level)
            if site_shared or (venv and pkg.summary.has_data):
                for rec in pkg.files():
                    if rec.scheme == "site" and site_shared and rec.path.split("/", 1)[0] in shared:
                        claims.setdefault(prefix + rec.path, []).append((pkg.owner, rec.hash))
                    elif rec.scheme == "data" and venv:
                        claims.setdefault(rec.path, []).append((pkg.owner, rec.hash))
            if self.python is not None:
                for name in package_scripts(pkg, self.python):
                    claims.setdefault(f"bin/{name}", []).append((pkg.owner, None))
        complete_report = conflicts_from_claims(claims, self.owners) + file_dir_clashes(claims, self.owners)
        return merge_reports(complete_report, found)


def root_project(plan: Plan) -> str | None:
    """The name of the project the lock belongs to (the item whose source is the
    lock's directory), which ``uv sync`` uses as the venv prompt."""
    lock_dir = os.path.dirname(plan.lock_path)
    for item in plan.items:
        if item.kind in ("virtual", "editable", "directory") and item.source.get("path") == lock_dir:
            return item.name
    return None


def build_view(
    plan: Plan,
    store: EntrySource,
    target: Target,
    *,
    venv_root: str | None = None,
    prompt: str | None = None,
    mtime_ns: int | None = None,
    links: StoreLinks | None = None,
) -> MergedView:
    """The view of ``plan`` for ``target`` over ``store`` (anything with ``entry_dir(item)``).

    ``venv_root`` (absolute) makes the root a whole venv to be mounted there;
    ``prompt`` is the venv prompt (default: the lock's own project, as uv sync
    writes it; none if the plan has no such item); ``mtime_ns``
    is the fixed mtime of directories and generated files (default: now);
    ``links``: present subtrees unique to one wheel as links into the store
    (without it the daemon serves every file's bytes).
    Raises StoreError if a package is missing from the store, or if the cheap
    tamper check of :meth:`Package.check_sealed` finds its entry changed.
    """
    if venv_root is not None and not os.path.isabs(venv_root):
        raise ValueError(f"venv_root must be absolute: {venv_root}")
    items = [item for item in plan.items if item.kind != "virtual"]
    packages = [Package.load(n, item, store, target.cache_tag) for n, item in enumerate(items)]
    for pkg in packages:
        pkg.check_sealed()
    return MergedView(
        packages,
        target,
        venv_root=os.path.normpath(venv_root) if venv_root else None,
        prompt=prompt if prompt is not None else root_project(plan),
        mtime_ns=mtime_ns,
        links=links,
    )

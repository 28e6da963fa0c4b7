"""The files an installer writes into a dist-info dir, as uv writes them.

uv writes ``INSTALLER`` (``uv``, no newline), ``REQUESTED`` (empty; uv writes it
for every package, direct or not), ``direct_url.json`` for non-index sources
(compact JSON), and a ``RECORD`` listing every installed file sorted by path,
with scripts, headers and data relative to site-packages (``../../../bin/x``)
and the hash of the bytes actually installed (rewritten shebangs, launchers).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Collection, Mapping

from vsite.store import index
from vsite.view.package import Package

INSTALLER = b"uv"


def record_hash(data: bytes) -> str:
    """``data``'s hash in RECORD form (``sha256=<urlsafe base64, unpadded>``), as the store records it."""
    return index.record_hash(hashlib.sha256(data).digest())


def dist_info_files(pkg: Package) -> dict[str, bytes]:
    """INSTALLER, REQUESTED and direct_url.json for ``pkg`` (name in dist-info -> bytes)."""
    out = {"INSTALLER": INSTALLER}
    if pkg.item.requested:
        out["REQUESTED"] = b""
    direct_url = pkg.item.source.get("direct_url")
    if direct_url:
        out["direct_url.json"] = json.dumps(direct_url, separators=(",", ":"), ensure_ascii=False).encode()
    return out


def record(
    pkg: Package,
    installed: Mapping[str, bytes],
    scripts: Mapping[str, bytes] | None,
    *,
    launchers: Collection[str] = (),
    site_packages: str,
    python_version: str,
) -> bytes:
    """The RECORD uv writes for ``pkg``.

    ``installed`` are the dist-info files from :func:`dist_info_files`; ``scripts``
    the bytes of every ``bin/`` file of the package, or None when the view is
    site-packages only (then bin/, include/ and data files are not presented and
    not listed). ``launchers`` names the entry-point scripts: a ``.data/scripts``
    file of the same name is not installed (the launcher wins) and uv leaves its
    original line, ``<name>-<version>.data/scripts/<file>``, in RECORD.
    """
    up = "../" * len(site_packages.strip("/").split("/"))
    rows: dict[str, tuple[str, str]] = {}
    for rec in pkg.files():
        if rec.scheme == "site":
            rows[rec.path] = (rec.hash, str(rec.size))
        elif scripts is None:
            continue
        elif rec.scheme == "scripts":
            if rec.path in launchers:
                data_dir = pkg.summary.dist_info[: -len(".dist-info")] + ".data"
                rows[f"{data_dir}/scripts/{rec.path}"] = (rec.hash, str(rec.size))
            # otherwise the installed bytes come from ``scripts``
        elif rec.scheme == "headers":
            rows[f"{up}include/site/python{python_version}/{pkg.name}/{rec.path}"] = (rec.hash, str(rec.size))
        elif rec.scheme == "data":
            rows[f"{up}{rec.path}"] = (rec.hash, str(rec.size))
    for name, data in installed.items():
        rows[f"{pkg.summary.dist_info}/{name}"] = (record_hash(data), str(len(data)))
    for name, data in (scripts or {}).items():
        rows[f"{up}bin/{name}"] = (record_hash(data), str(len(data)))
    rows[f"{pkg.summary.dist_info}/RECORD"] = ("", "")
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows((path, *rows[path]) for path in sorted(rows))
    return out.getvalue().encode()

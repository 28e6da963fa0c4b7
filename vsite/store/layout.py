"""Where things live inside the store. The one place that knows the on-disk layout.

::

    <root>/v1/wheels/<sha256>/            one immutable entry per wheel (renamed into place whole)
        entry.json                        EntrySummary: small, read at mount time
        files.json                        [FileRecord, ...]: every installed file, read lazily
        site/                             what lands in site-packages: the wheel root minus
                                          .data, plus .data/purelib and .data/platlib merged in
        scripts/  headers/  data/         the other .data schemes, as shipped
    <root>/v1/bytecode/<cache_tag>/<sha256>/   mirror of site/ holding only __pycache__/*.pyc,
                                          compiled by the target interpreter (one per cache tag)
    <root>/v1/staged/<sha256>/            entry/ and <cache_tag>/ made by a fetch still in progress:
                                          promoted (renamed) into wheels/ and bytecode/ only once
                                          every item of the plan is ready, withdrawn if it fails
    <root>/v1/tmp/                        work dirs of fetches in progress (same filesystem,
                                          so renames into place are atomic); gc cleans orphans
    <root>/v1/locks/                      per-entry lock files (fcntl.flock)
    <root>/v1/usage/locks/<plan key>.json which lock used which entries, when (for gc)
    <root>/v1/usage/pins/<key>-<pid>.json entries a live mount (pid) needs; gc keeps them
    <root>/v1/downloads/                  nothing persistent: partial downloads live in tmp/
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

LAYOUT_VERSION = "v1"
SCHEMES = ("site", "scripts", "headers", "data")


@dataclass(frozen=True)
class StoreLayout:
    root: Path

    @property
    def base(self) -> Path:
        return self.root / LAYOUT_VERSION

    def wheel_dir(self, sha256: str) -> Path:
        return self.base / "wheels" / sha256

    def bytecode_dir(self, cache_tag: str, sha256: str) -> Path:
        return self.base / "bytecode" / cache_tag / sha256

    def staged_dir(self, sha256: str) -> Path:
        return self.base / "staged" / sha256

    def tmp_dir(self) -> Path:
        return self.base / "tmp"

    def lock_file(self, key: str) -> Path:
        return self.base / "locks" / f"{key}.lock"

    def usage_dir(self) -> Path:
        return self.base / "usage"

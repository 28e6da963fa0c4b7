"""What a user asks of a plan beyond the lock: extras, dependency groups, which members.

The fields mirror ``uv sync`` flags one to one so a plan can be compared with
``uv sync --frozen`` for the same command line. Kept import-light: the CLI and
the warm plan cache build it without loading the lock machinery.
"""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True)
class PlanOptions:
    """uv's selection flags (names as in ``uv sync --help``, lists normalized and sorted)."""

    extras: tuple[str, ...] = ()  # --extra
    no_extras: tuple[str, ...] = ()  # --no-extra (with --all-extras)
    all_extras: bool = False  # --all-extras
    groups: tuple[str, ...] = ()  # --group
    no_groups: tuple[str, ...] = ()  # --no-group
    only_groups: tuple[str, ...] = ()  # --only-group
    no_dev: bool = False  # --no-dev
    only_dev: bool = False  # --only-dev
    no_default_groups: bool = False  # --no-default-groups
    all_groups: bool = False  # --all-groups
    packages: tuple[str, ...] = ()  # --package (workspace members to sync)
    all_packages: bool = False  # --all-packages
    no_install_project: bool = False  # --no-install-project
    no_install_workspace: bool = False  # --no-install-workspace
    no_install_local: bool = False  # --no-install-local
    no_install_packages: tuple[str, ...] = ()  # --no-install-package
    no_editable: bool = False  # --no-editable
    no_editable_packages: tuple[str, ...] = ()  # --no-editable-package
    no_binary: bool = False  # --no-binary
    no_binary_packages: tuple[str, ...] = ()  # --no-binary-package
    no_build: bool = False  # --no-build
    no_build_packages: tuple[str, ...] = ()  # --no-build-package

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, (tuple, list)):
                object.__setattr__(self, f.name, tuple(sorted({_normalize(v) for v in value})))

    def binary_ok(self, name: str) -> bool:
        """May a pre-built wheel be installed for ``name``?"""
        return not (self.no_binary or name in self.no_binary_packages)

    def build_ok(self, name: str) -> bool:
        """May ``name`` be built (sdist, git, local tree)?"""
        return not (self.no_build or name in self.no_build_packages)

    def editable_ok(self, name: str) -> bool:
        """May an editable ``name`` stay editable?"""
        return not (self.no_editable or name in self.no_editable_packages)

    def to_json(self) -> dict:
        """Only the flags that differ from the default, so equal choices hash equally."""
        out: dict = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value != f.default:
                out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_json(cls, data: dict) -> "PlanOptions":
        names = {f.name for f in fields(cls)}
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in names})


def _normalize(name: str) -> str:
    """Extra, group and package names compare PEP 503-normalized (as uv does)."""
    import re

    return re.sub(r"[-_.]+", "-", name).lower()

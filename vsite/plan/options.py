"""What a user asks of a plan beyond the lock: extras, dependency groups, which members.

The fields mirror ``uv sync`` flags one to one so a plan can be compared with
``uv sync --frozen`` for the same command line. Kept import-light: the CLI and
the warm plan cache build it without loading the lock machinery.
"""

from __future__ import annotations

from dataclasses import Field, dataclass, field, fields
from typing import Any


def _flag(flag: str, help: str, default: Any = ()) -> Any:
    """A PlanOptions field and its command-line flag: a switch for a bool, repeatable for a tuple."""
    return field(default=default, metadata={"flag": flag, "help": help})


@dataclass(frozen=True)
class PlanOptions:
    """uv's selection flags (names as in ``uv sync --help``, lists normalized and sorted).

    Each field carries its flag and help text: this class is the one table of
    flags that ``vsite``'s commands (vsite.cli.options) and the Ray plugin's
    command lines (:func:`cli_args`) are built from.
    """

    extras: tuple[str, ...] = _flag("--extra", "Include an extra of the project (repeatable).")
    all_extras: bool = _flag("--all-extras", "Include every extra of the project.", False)
    no_extras: tuple[str, ...] = _flag("--no-extra", "Exclude an extra (with --all-extras).")
    groups: tuple[str, ...] = _flag("--group", "Include a dependency group (repeatable).")
    no_groups: tuple[str, ...] = _flag("--no-group", "Exclude a dependency group, even a default one.")
    only_groups: tuple[str, ...] = _flag("--only-group", "Only this group's dependencies, not the project.")
    no_dev: bool = _flag("--no-dev", "Exclude the dev group.", False)
    only_dev: bool = _flag("--only-dev", "Only the dev group, not the project.", False)
    no_default_groups: bool = _flag("--no-default-groups", "Exclude tool.uv.default-groups.", False)
    all_groups: bool = _flag("--all-groups", "Include every dependency group.", False)
    packages: tuple[str, ...] = _flag("--package", "Sync only this workspace member (repeatable).")
    all_packages: bool = _flag("--all-packages", "Sync every workspace member.", False)
    no_install_project: bool = _flag("--no-install-project", "Leave out the project (keep its deps).", False)
    no_install_workspace: bool = _flag("--no-install-workspace", "Leave out every workspace member.", False)
    no_install_local: bool = _flag("--no-install-local", "Leave out local path/directory packages.", False)
    no_install_packages: tuple[str, ...] = _flag("--no-install-package", "Leave out this package (repeatable).")
    no_editable: bool = _flag("--no-editable", "Install editable packages as non-editable.", False)
    no_editable_packages: tuple[str, ...] = _flag(
        "--no-editable-package", "Install this editable package as non-editable."
    )
    no_binary: bool = _flag("--no-binary", "Build every package from source.", False)
    no_binary_packages: tuple[str, ...] = _flag("--no-binary-package", "Build this package from source.")
    no_build: bool = _flag("--no-build", "Refuse anything that needs a build.", False)
    no_build_packages: tuple[str, ...] = _flag("--no-build-package", "Refuse to build this package.")

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, (tuple, list)):
                object.__setattr__(self, f.name, _normalized(value))

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
        chosen: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in names}
        return cls(**chosen)


def _normalized(names: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Extra, group and package names compare PEP 503-normalized (as uv does), sorted, once each."""
    if not names:
        return ()
    from packaging.utils import canonicalize_name  # ~35 ms of imports: not for the warm path's empty options

    return tuple(sorted({canonicalize_name(v) for v in names}))


def flag_fields() -> tuple[Field, ...]:
    """The fields of :class:`PlanOptions` in command-line order: ``f.metadata["flag"]``, ``["help"]``;
    a bool field is a switch, a tuple field a repeatable ``FLAG NAME``."""
    return fields(PlanOptions)


def cli_args(options: PlanOptions) -> list[str]:
    """The command-line flags that give ``options`` (the inverse of parsing them).

    For callers that run ``vsite`` in a subprocess with options they hold as a
    PlanOptions (vsite.ray's agent plugin).
    """
    chosen = options.to_json()
    args: list[str] = []
    for f in flag_fields():
        if f.name not in chosen:
            continue
        if isinstance(f.default, bool):
            args.append(f.metadata["flag"])
        else:
            for value in chosen[f.name]:
                args += [f.metadata["flag"], value]
    return args

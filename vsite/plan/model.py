"""The plan: what one environment contains, the contract between plan, store and view.

A plan is pure data (JSON round-trip) so it can be cached by (lock hash,
target identity, options) and handed to a daemon without re-reading the lock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from vsite.lock.artifact import Artifact

__all__ = ["Artifact", "ItemKind", "Plan", "PlanItem"]

# What the store must do to get a wheel for the item:
#   wheel     - download (url) or copy (path) the chosen wheel, verify its hash
#   sdist     - build a wheel from the sdist (url or path) in isolation
#   git       - build a wheel from a git checkout (url with #commit)
#   directory - build a wheel from a local source tree (non-editable)
#   editable  - a workspace member or editable path dep: build an editable wheel
#   virtual   - a workspace member with no build system: nothing is installed
ItemKind = Literal["wheel", "sdist", "git", "directory", "editable", "virtual"]


@dataclass(frozen=True)
class PlanItem:
    """One package of the environment.

    ``source`` holds what ``direct_url.json`` needs for non-index sources
    (``{"kind": "url"|"path"|"directory"|"git"|"editable", ...}``) and
    ``{"kind": "registry", "url": index}`` for index packages.
    ``requested`` is true where the installer writes REQUESTED.
    """

    name: str  # PEP 503 normalized
    version: str
    kind: ItemKind
    wheel: Artifact | None = None
    sdist: Artifact | None = None
    source: dict = field(default_factory=dict)
    requested: bool = False

    def to_json(self) -> dict:
        # explicit rather than dataclasses.asdict, which deep-copies and is slow for big plans
        return {
            "name": self.name,
            "version": self.version,
            "kind": self.kind,
            "wheel": self.wheel.to_json() if self.wheel else None,
            "sdist": self.sdist.to_json() if self.sdist else None,
            "source": self.source,
            "requested": self.requested,
        }

    @classmethod
    def from_json(cls, data: dict) -> "PlanItem":
        return cls(
            name=data["name"],
            version=data["version"],
            kind=data["kind"],
            wheel=Artifact(**data["wheel"]) if data.get("wheel") else None,
            sdist=Artifact(**data["sdist"]) if data.get("sdist") else None,
            source=dict(data.get("source") or {}),
            requested=bool(data.get("requested")),
        )


@dataclass(frozen=True)
class Plan:
    """The environment for one (lock, target, options): items sorted by name."""

    lock_path: str
    lock_sha256: str
    lock_format: Literal["uv", "pylock"]
    target_identity: str
    options: dict
    items: tuple[PlanItem, ...]

    def key(self) -> str:
        """Stable identity of this environment, for caches and shared mounts."""
        import hashlib
        import json

        raw = json.dumps(
            [self.lock_sha256, self.target_identity, self.options], sort_keys=True
        )
        return hashlib.sha256(raw.encode()).hexdigest()[:24]

    def to_json(self) -> dict:
        return {
            "lock_path": self.lock_path,
            "lock_sha256": self.lock_sha256,
            "lock_format": self.lock_format,
            "target_identity": self.target_identity,
            "options": self.options,
            "items": [item.to_json() for item in self.items],
        }

    @classmethod
    def from_json(cls, data: dict) -> "Plan":
        return cls(
            lock_path=data["lock_path"],
            lock_sha256=data["lock_sha256"],
            lock_format=data["lock_format"],
            target_identity=data["target_identity"],
            options=dict(data["options"]),
            items=tuple(PlanItem.from_json(i) for i in data["items"]),
        )

"""The one record both lockfile formats and the plan share: a distribution file the lock names.

Its own module, so the plan (and the warm plan cache) can use it without
defining the rest of the lock's records.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Artifact:
    """One distribution file named by the lock.

    ``url`` for remote files, ``path`` (absolute, resolved against the lock's
    directory) for local ones; ``sha256`` is lowercase hex or ``None`` where the
    lock gives no hash (local paths), ``size`` in bytes when the lock gives it.
    """

    filename: str
    url: str | None = None
    path: str | None = None
    sha256: str | None = None
    size: int | None = None

    def to_json(self) -> dict:
        return {"filename": self.filename, "url": self.url, "path": self.path, "sha256": self.sha256, "size": self.size}

"""Names at a mount's root whose every lookup asks the mount's owner: a request the kernel always sends.

Everything else in a mount is cached by the kernel for days (vsite.fs.operations),
and with zero-message open not even open/release reach the daemon. A lookup whose
reply has an entry timeout of 0 is sent again on every path walk that reaches the
name, carrying the requester's pid and uid: a shell can ask the daemon a question
with one ``stat`` and no socket. Shared mounts use it for the sh launcher's join
and for the Ray plugin's worker hold (vsite.shared.launch). An answer of no is
ENOENT, not a cached negative entry, so it is asked again too. The node has a
fixed inode number outside the view's (one for every name) and is not listed
by readdir.
"""

from __future__ import annotations

import errno
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

PROBE_INO = (1 << 62) + 1  # never a view's inode (those count up from the root's, 1)
_ATTR_TIMEOUT = 1_000_000.0  # the node's attributes never change; only the lookup must be re-sent


@dataclass(frozen=True)
class Probe:
    """Each name of ``asks`` at the root exists for a lookup iff its ``ask(pid, uid)`` of the
    requester says so."""

    asks: Mapping[bytes, Callable[[int, int], bool]]

    def lookup(self, name: bytes, ctx: Any) -> Any:
        """The entry for a lookup of ``name`` (one of ``asks``) from ``ctx`` (pyfuse3's RequestContext),
        or ENOENT."""
        from pyfuse3 import FUSEError

        if not self.asks[name](ctx.pid, ctx.uid):
            raise FUSEError(errno.ENOENT)
        return self.attrs()

    def attrs(self) -> Any:
        from pyfuse3 import EntryAttributes

        entry = EntryAttributes()
        entry.st_ino = PROBE_INO
        entry.generation = 0
        entry.entry_timeout = 0  # looked up again by the next path walk: every ask reaches the daemon
        entry.attr_timeout = _ATTR_TIMEOUT
        entry.st_mode = stat.S_IFREG | 0o444
        entry.st_nlink = 1
        entry.st_size = 0
        entry.st_blksize = 4096
        return entry

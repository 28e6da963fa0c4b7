"""Download one file to a temporary path, checking size and sha256 against the lock.

Plain ``urllib`` (honours ``https_proxy``/``no_proxy``), streamed to disk and
hashed on the way, with a bounded number of retries and exponential backoff for
transient failures (connection errors, timeouts, 5xx, 429). A hash or size
mismatch is never retried: it means the lock and the index disagree.
"""

from __future__ import annotations

import hashlib
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from vsite import __version__
from vsite.errors import StoreError

RETRIES = 4
BACKOFF = 0.5  # seconds, doubled per attempt
TIMEOUT = 60
_CHUNK = 1024 * 1024

Progress = Callable[[int], None]


class _Transient(Exception):
    pass


def _once(url: str, dest: Path, progress: Progress | None) -> tuple[str, int]:
    request = urllib.request.Request(url, headers={"User-Agent": f"vsite/{__version__}"})
    sha = hashlib.sha256()
    size = 0
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response, open(dest, "wb") as out:
            while chunk := response.read(_CHUNK):
                sha.update(chunk)
                out.write(chunk)
                size += len(chunk)
                if progress:
                    progress(len(chunk))
    except urllib.error.HTTPError as exc:
        if exc.code >= 500 or exc.code == 429:
            raise _Transient(f"HTTP {exc.code}") from None
        raise StoreError(f"HTTP {exc.code}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise _Transient(str(reason)) from None
    return sha.hexdigest(), size


def download(
    url: str,
    dest: Path,
    *,
    what: str,
    sha256: str,
    size: int | None,
    progress: Progress | None = None,
) -> None:
    """Fetch ``url`` into ``dest``; raise StoreError naming ``what`` unless size and hash match."""
    _log("download-start", sha256)
    delay = BACKOFF
    for attempt in range(1, RETRIES + 1):
        try:
            got_sha, got_size = _once(url, dest, progress)
            break
        except _Transient as exc:
            if attempt == RETRIES:
                raise StoreError(f"cannot download {what} from {url}: {exc}") from None
            time.sleep(delay)
            delay *= 2
        except StoreError as exc:
            raise StoreError(f"cannot download {what} from {url}: {exc}") from None
    _log("download-end", sha256)
    if size is not None and got_size != size:
        raise StoreError(f"size mismatch for {what}: lock says {size} bytes, got {got_size}")
    if got_sha != sha256:
        raise StoreError(f"hash mismatch for {what}: lock says sha256:{sha256}, got sha256:{got_sha}")


def _log(event: str, sha256: str) -> None:
    """Append to ``$VSITE_FETCH_LOG`` (one line per event), so tests and operators can audit downloads."""
    path = os.environ.get("VSITE_FETCH_LOG")
    if path:
        with open(path, "a") as log:
            log.write(f"{time.time():.6f} {os.getpid()} {event} {sha256}\n")

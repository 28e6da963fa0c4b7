"""Download one file to a temporary path, checking size and sha256 against the lock.

``http.client`` with keep-alive connections pooled per host (and proxy), so the
wheels of a lock, which mostly come from one or two hosts, reuse a few
connections instead of a TCP and TLS handshake each. Proxies are honoured as
urllib does (``http_proxy``/``https_proxy``/``no_proxy``: ``urllib.request.getproxies``
and ``proxy_bypass``; https goes through a CONNECT tunnel). Redirects are
followed (up to 10); ``file://`` URLs are copied. The body is streamed to disk and hashed on the way, with
a bounded number of retries and exponential backoff for transient failures
(connection errors, timeouts, 5xx, 429). A hash or size mismatch is never
retried: it means the lock and the index disagree. A pooled connection the
server has closed meanwhile is replaced at once, not counted as a failure.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import os
import ssl
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

from vsite import __version__
from vsite.errors import StoreError
from vsite.fileio import copy_hashing

RETRIES = 4
BACKOFF = 0.5  # seconds, doubled per attempt
TIMEOUT = 60
MAX_REDIRECTS = 10
IDLE_PER_HOST = 8

Progress = Callable[[int], None]
_Key = tuple[str, str, int, str]  # scheme, host, port, proxy URL ("" for none)


class _Transient(Exception):
    pass


class _Stale(Exception):
    """A reused keep-alive connection turned out closed by the server: retry on a new one."""


class ConnectionPool:
    """Idle keep-alive connections by host, shared by the threads of a process."""

    def __init__(self, idle_per_host: int = IDLE_PER_HOST) -> None:
        self._idle: dict[_Key, list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()
        self._limit = idle_per_host
        self._ssl: ssl.SSLContext | None = None
        self.opened = 0  # connections made, for tests and curiosity

    def get(self, key: _Key) -> tuple[http.client.HTTPConnection, bool]:
        """An idle connection for ``key``, or a new one; and whether it is new."""
        with self._lock:
            idle = self._idle.get(key)
            if idle:
                return idle.pop(), False
            self.opened += 1
        return self._new(key), True

    def put(self, key: _Key, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < self._limit:
                idle.append(conn)
                return
        conn.close()

    def clear(self) -> None:
        with self._lock:
            conns = [c for idle in self._idle.values() for c in idle]
            self._idle.clear()
        for conn in conns:
            conn.close()

    def _context(self) -> ssl.SSLContext:
        with self._lock:
            if self._ssl is None:
                self._ssl = ssl.create_default_context()
            return self._ssl

    def _new(self, key: _Key) -> http.client.HTTPConnection:
        scheme, host, port, proxy = key
        if not proxy:
            if scheme == "https":
                return http.client.HTTPSConnection(host, port, timeout=TIMEOUT, context=self._context())
            return http.client.HTTPConnection(host, port, timeout=TIMEOUT)
        p = urllib.parse.urlsplit(proxy)
        if not p.hostname:
            raise StoreError(f"the {scheme} proxy {proxy!r} names no host")
        pport = p.port or (443 if p.scheme == "https" else 80)
        if scheme == "https":  # a CONNECT tunnel through the proxy, TLS to the host inside it
            tunnel = http.client.HTTPSConnection(p.hostname, pport, timeout=TIMEOUT, context=self._context())
            tunnel.set_tunnel(host, port, headers=_proxy_auth(p))
            return tunnel
        return http.client.HTTPConnection(p.hostname, pport, timeout=TIMEOUT)  # absolute URLs (see _route)


POOL = ConnectionPool()


def _proxy_auth(proxy: urllib.parse.SplitResult) -> dict[str, str]:
    if proxy.username is None:
        return {}
    creds = f"{urllib.parse.unquote(proxy.username)}:{urllib.parse.unquote(proxy.password or '')}"
    return {"Proxy-Authorization": "Basic " + base64.b64encode(creds.encode()).decode()}


def _route(url: str) -> tuple[_Key, str, dict[str, str]]:
    """Pool key, request target and extra headers for ``url``."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise StoreError(f"unsupported URL {url}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    proxy = urllib.request.getproxies().get(parts.scheme, "")
    if proxy and urllib.request.proxy_bypass(parts.netloc):
        proxy = ""
    path = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
    headers = {}
    if proxy and parts.scheme == "http":  # a plain proxy: absolute URL
        path = urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path or "/", parts.query, ""))
        headers = _proxy_auth(urllib.parse.urlsplit(proxy))
    return (parts.scheme, parts.hostname, port, proxy), path, headers


def _local(url: str, dest: Path, progress: Progress | None) -> tuple[str, int]:
    """A ``file://`` URL (find-links on a local dir): copied while hashed, as urllib would open it."""
    path = urllib.request.url2pathname(urllib.parse.urlsplit(url).path)
    sha = hashlib.sha256()
    try:
        src = open(path, "rb")
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror}") from None
    with src, open(dest, "wb") as out:
        size = copy_hashing(src, out, sha, progress=progress)
    return sha.hexdigest(), size


def _once(url: str, dest: Path, progress: Progress | None, pool: ConnectionPool) -> tuple[str, int]:
    if urllib.parse.urlsplit(url).scheme == "file":
        return _local(url, dest, progress)
    for _ in range(MAX_REDIRECTS + 1):
        key, path, headers = _route(url)
        conn, new = pool.get(key)
        keep = False
        try:
            try:
                conn.request("GET", path, headers={"User-Agent": f"vsite/{__version__}", "Accept-Encoding": "identity",
                                                   **headers})
                response = conn.getresponse()
            except (http.client.HTTPException, OSError) as exc:
                if not new and isinstance(exc, (http.client.RemoteDisconnected, ConnectionError)):
                    raise _Stale() from None
                raise _Transient(str(getattr(exc, "reason", None) or exc) or type(exc).__name__) from None
            status = response.status
            if status in (301, 302, 303, 307, 308) and response.getheader("Location"):
                response.read()
                keep = not response.will_close
                url = urllib.parse.urljoin(url, response.getheader("Location"))
                continue
            if status >= 400:
                if status >= 500 or status == 429:
                    raise _Transient(f"HTTP {status}")
                raise StoreError(f"HTTP {status}")
            sha = hashlib.sha256()
            try:
                with open(dest, "wb") as out:
                    size = copy_hashing(response, out, sha, progress=progress)
            except (http.client.HTTPException, TimeoutError, ConnectionError) as exc:
                raise _Transient(str(exc) or type(exc).__name__) from None
            except OSError as exc:
                if exc.filename is None:  # the socket, not the file
                    raise _Transient(str(exc)) from None
                raise
            keep = not response.will_close
            return sha.hexdigest(), size
        finally:
            if keep:
                pool.put(key, conn)
            else:
                conn.close()
    raise StoreError(f"more than {MAX_REDIRECTS} redirects")


def download(
    url: str,
    dest: Path,
    *,
    what: str,
    sha256: str,
    size: int | None,
    progress: Progress | None = None,
    pool: ConnectionPool | None = None,
) -> None:
    """Fetch ``url`` into ``dest``; raise StoreError naming ``what`` unless size and hash match."""
    pool = pool if pool is not None else POOL
    _log("download-start", sha256)
    delay = BACKOFF
    attempt = 1
    while True:
        try:
            got_sha, got_size = _once(url, dest, progress, pool)
            break
        except _Stale:
            continue  # a closed keep-alive connection: a new one, not a new attempt
        except _Transient as exc:
            if attempt == RETRIES:
                raise StoreError(f"cannot download {what} from {url}: {exc}") from None
            time.sleep(delay)
            delay *= 2
            attempt += 1
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

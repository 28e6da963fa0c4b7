"""Downloads: keep-alive connections reused per host, redirects, retries with backoff, one-line errors."""

from __future__ import annotations

import hashlib
import http.server
import threading

import pytest

from vsite.errors import StoreError
from vsite.store import download as dl

FILES = {f"/w{i}.whl": bytes([i]) * (1000 + i) for i in range(4)}


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    failures: dict[str, int] = {}
    connections: list[tuple] = []

    def setup(self):
        super().setup()
        type(self).connections.append(self.client_address)

    def log_message(self, *args):
        pass

    def do_GET(self):
        left = self.failures.get(self.path, 0)
        if left:
            self.failures[self.path] = left - 1
            self._reply(503, b"busy")
        elif self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "/w1.whl")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path in FILES:
            self._reply(200, FILES[self.path])
        else:
            self._reply(404, b"no")

    def _reply(self, code, body):
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def server(monkeypatch):
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    _Handler.failures, _Handler.connections = {}, []
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()


def _get(base, path, dest, pool, **kw):
    data = FILES["/w1.whl" if path == "/moved" else path]
    dl.download(base + path, dest, what="pkg 1", sha256=hashlib.sha256(data).hexdigest(), size=len(data), pool=pool, **kw)
    assert dest.read_bytes() == data


def test_connections_are_reused_per_host(server, tmp_path):
    pool = dl.ConnectionPool()
    for path in FILES:
        _get(server, path, tmp_path / "x.whl", pool)
    assert pool.opened == 1 and len(_Handler.connections) == 1
    _get(server, "/moved", tmp_path / "x.whl", pool)  # a redirect on the same connection
    assert len(_Handler.connections) == 1
    pool.clear()  # the server now sees a closed connection; the next download opens one
    _get(server, "/w2.whl", tmp_path / "x.whl", pool)
    assert len(_Handler.connections) == 2


def test_a_connection_closed_by_the_server_is_replaced_not_retried(server, tmp_path, monkeypatch):
    pool = dl.ConnectionPool()
    _get(server, "/w0.whl", tmp_path / "x.whl", pool)
    for idle in pool._idle.values():
        for conn in idle:
            conn.sock.shutdown(2)  # as if the server had dropped the idle connection
    sleeps = []
    monkeypatch.setattr(dl.time, "sleep", sleeps.append)
    _get(server, "/w1.whl", tmp_path / "x.whl", pool)
    assert sleeps == []


def test_transient_http_errors_are_retried_with_backoff(server, tmp_path, monkeypatch):
    sleeps = []
    monkeypatch.setattr(dl.time, "sleep", sleeps.append)
    _Handler.failures["/w3.whl"] = 2
    _get(server, "/w3.whl", tmp_path / "x.whl", dl.ConnectionPool())
    assert sleeps == [0.5, 1.0]
    _Handler.failures["/w3.whl"] = 9
    with pytest.raises(StoreError, match=r"^cannot download pkg 1 from http://127.0.0.1:\d+/w3.whl: HTTP 503$"):
        _get(server, "/w3.whl", tmp_path / "x.whl", dl.ConnectionPool())


def test_client_errors_and_mismatches_are_not_retried(server, tmp_path, monkeypatch):
    sleeps = []
    monkeypatch.setattr(dl.time, "sleep", sleeps.append)
    with pytest.raises(StoreError, match=r"^cannot download pkg 1 from .*/nothing.whl: HTTP 404$"):
        dl.download(server + "/nothing.whl", tmp_path / "x.whl", what="pkg 1", sha256="0" * 64, size=None)
    with pytest.raises(StoreError, match=r"^hash mismatch for pkg 1: lock says sha256:0000"):
        dl.download(server + "/w0.whl", tmp_path / "x.whl", what="pkg 1", sha256="0" * 64, size=None)
    with pytest.raises(StoreError, match=r"^size mismatch for pkg 1: lock says 1 bytes, got 1000"):
        dl.download(server + "/w0.whl", tmp_path / "x.whl", what="pkg 1", sha256="0" * 64, size=1)
    assert sleeps == []


def test_file_urls_are_copied(tmp_path):
    src = tmp_path / "w.whl"
    src.write_bytes(b"wheel")
    dl.download(src.as_uri(), tmp_path / "x.whl", what="pkg 1", sha256=hashlib.sha256(b"wheel").hexdigest(), size=5)
    assert (tmp_path / "x.whl").read_bytes() == b"wheel"
    with pytest.raises(StoreError, match=r"^cannot download pkg 1 from file://.*: cannot read .*gone.whl: No such file"):
        dl.download((tmp_path / "gone.whl").as_uri(), tmp_path / "y.whl", what="pkg 1", sha256="0" * 64, size=None)

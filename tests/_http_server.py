"""A tiny local HTTP server for tests of fetching and downloading (127.0.0.1, random port).

Usage::

    with LocalServer() as server:
        server.routes["/feed.xml"] = Route(body=b"...", etag='"v1"')
        url = server.url("/feed.xml")

Test modules wrap it in a small ``http_server`` fixture.
"""

from __future__ import annotations

import email.utils
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


@dataclass
class Route:
    """How to answer one path.

    Attributes:
        body: the body to send.
        content_type: Content-Type header (None: no header).
        etag / last_modified: validators; a matching ``If-None-Match`` / ``If-Modified-Since``
            gets a 304.
        statuses: statuses for successive requests (the last one repeats); a non-200 sends a
            short text body.
        content_length: the Content-Length to claim (None: the true length; -1: no header, body
            ends when the connection closes).
        send_bytes: send only this many body bytes, then close (truncation).
        redirect: answer 302 to this location.
        trickle_s: send the body one byte every ``trickle_s`` seconds (a slow or hostile
            server); with ``trickle_headers`` the status line and headers trickle too.
    """

    body: bytes = b""
    content_type: str | None = "application/octet-stream"
    etag: str | None = None
    last_modified: str | None = None
    statuses: list[int] = field(default_factory=lambda: [200])
    content_length: int | None = None
    send_bytes: int | None = None
    redirect: str | None = None
    trickle_s: float | None = None
    trickle_headers: bool = False
    hits: int = 0
    request_headers: list[dict[str, str]] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        route = self.server.routes.get(self.path) or self.server.routes.get(self.path.split("?")[0])
        if route is None:
            self._simple(404, b"not found")
            return
        route.request_headers.append(dict(self.headers.items()))
        status = route.statuses[min(route.hits, len(route.statuses) - 1)]
        route.hits += 1
        if route.trickle_s is not None:
            self._trickle(route)
            return
        if route.redirect:
            self.send_response(302)
            self.send_header("Location", route.redirect)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if status != 200:
            self._simple(status, f"status {status}".encode())
            return
        if self._not_modified(route):
            self.send_response(304)
            if route.etag:
                self.send_header("ETag", route.etag)
            self.end_headers()
            return
        self.send_response(200)
        if route.content_type:
            self.send_header("Content-Type", route.content_type)
        if route.etag:
            self.send_header("ETag", route.etag)
        if route.last_modified:
            self.send_header("Last-Modified", route.last_modified)
        if route.content_length is None:
            self.send_header("Content-Length", str(len(route.body)))
        elif route.content_length >= 0:
            self.send_header("Content-Length", str(route.content_length))
        self.end_headers()
        body = route.body if route.send_bytes is None else route.body[: route.send_bytes]
        try:
            for i in range(0, len(body), 64 * 1024):
                self.wfile.write(body[i : i + 64 * 1024])
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _trickle(self, route: Route) -> None:
        assert route.trickle_s is not None
        head = (
            f"HTTP/1.0 200 OK\r\nContent-Type: {route.content_type or 'text/plain'}\r\n"
            f"Content-Length: {len(route.body)}\r\n\r\n"
        ).encode()
        try:
            if route.trickle_headers:
                for i in range(len(head)):
                    self.wfile.write(head[i : i + 1])
                    self.wfile.flush()
                    time.sleep(route.trickle_s)
            else:
                self.wfile.write(head)
            for i in range(len(route.body)):
                self.wfile.write(route.body[i : i + 1])
                self.wfile.flush()
                time.sleep(route.trickle_s)
        except OSError:
            pass

    def _not_modified(self, route: Route) -> bool:
        inm = self.headers.get("If-None-Match")
        if route.etag and inm is not None:
            return inm == route.etag
        ims = self.headers.get("If-Modified-Since")
        if route.last_modified and ims:
            try:
                return email.utils.parsedate_to_datetime(ims) >= email.utils.parsedate_to_datetime(
                    route.last_modified
                )
            except (TypeError, ValueError):
                return False
        return False

    def _simple(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    routes: dict[str, Route]


class LocalServer:
    """A running server: ``routes`` maps paths to :class:`Route`; ``url(path)`` gives its URL."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._server = _Server((host, 0), _Handler)
        self._server.routes = {}
        self.routes = self._server.routes
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{path}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

"""The one safe HTTP client: every outbound request of the platform goes through :func:`open_url`
(feeds, enclosure downloads, ``podcast:transcript`` links).

What it guarantees
------------------
* **http(s) only**, on the first request and on every redirect; the client follows redirects
  itself (at most :data:`MAX_REDIRECTS`), so each hop is checked before it is requested.
* **No internal addresses.** The host of every hop is resolved once; if any address it resolves
  to is loopback, private, link-local, multicast, reserved, unspecified, shared (CGNAT), or an
  IPv6 form embedding one of those (IPv4-mapped, 6to4, NAT64), the request is refused with
  :class:`UnsafeUrlError`. ``MEDIA_PLATFORM_ALLOW_PRIVATE_URLS=1``
  (``get_settings().allow_private_urls``) is the only opt-in (intranet feeds, tests).
* **No DNS-rebinding window.** The socket connects to the address that was checked, never to
  the name again; the ``Host`` header carries the name, and for https the TLS server name (SNI)
  and the certificate check use the name too.
* **A total deadline** per request (monotonic; resolution, connect, redirects, headers and
  body): every socket read gets only the time that is left, the deadline is checked between
  chunks, and a watchdog shuts the socket down when it passes, so a server trickling one byte
  per second cannot hold a fetch past its limit (:class:`HttpTimeoutError`).
* **A size cap**: a declared Content-Length above ``max_bytes`` is refused before the body is
  read, and the bytes actually received are counted (:class:`HttpTooLargeError`).
* ``Accept-Encoding: identity``: the byte count is the size of what is stored.
* **User info** in the URL (``https://user:secret@host/feed``) is sent as
  ``Authorization: Basic`` to that URL's own origin only (scheme, host, port): a redirect to
  another origin gets neither it nor the caller's ``Authorization``/``Cookie`` headers. User info
  in a redirect's ``Location`` is ignored, and the response's ``url`` never holds user info.

Errors are typed (:class:`HttpError` and subclasses, with ``retryable`` and ``status``) and name
the URL through :func:`redact_url`: feed URLs often carry tokens, so no log line or stored field
ever holds one in full.
"""

from __future__ import annotations

import base64
import http.client
import socket
import ssl
import threading
from collections.abc import Iterator, Mapping
from email.message import Message
from types import TracebackType
from typing import Self
from urllib.parse import quote, urljoin, urlsplit

from media_platform.errors import InvalidInputError
from media_platform.ingest.addresses import (
    ALLOW_PRIVATE_VARIABLE,
    ALLOWED_SCHEMES,
    check_url,
    is_public_address,
    resolve_checked,
)
from media_platform.ingest.deadline import Deadline
from media_platform.ingest.http_errors import (
    HttpError,
    HttpTimeoutError,
    HttpTooLargeError,
    UnsafeUrlError,
    redact_url,
    split_userinfo,
    strip_userinfo,
)
from media_platform.settings import get_settings

MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
DEFAULT_CONNECT_TIMEOUT_S = 10.0
CHUNK_BYTES = 64 * 1024
_SAFE_PATH = "/%:@!$&'()*+,;=-._~"
_SAFE_QUERY = _SAFE_PATH + "?"


# ------------------------------------------------------------------------------------------
# Connections pinned to the checked address


class _PinnedConnection(http.client.HTTPConnection):
    """An HTTP connection to ``host`` (Host header) made to the already checked ``address``."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedTlsConnection(_PinnedConnection):
    """HTTPS to the checked address; SNI and the certificate check use the host name."""

    default_port = 443

    def __init__(
        self, host: str, port: int, address: str, timeout: float, context: ssl.SSLContext
    ) -> None:
        super().__init__(host, port, address, timeout)
        self.context = context

    def connect(self) -> None:
        super().connect()
        self.sock = self.context.wrap_socket(self.sock, server_hostname=self.host)


def _shutdown(connection: http.client.HTTPConnection) -> None:
    """The watchdog: end whatever the connection's socket is blocked on. The plain socket's
    ``shutdown`` is called even on a TLS socket, so the TLS layer is not torn down under a read
    in progress; that read then sees end of file."""
    sock = connection.sock
    if sock is not None:
        try:
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
        except OSError:
            pass


# ------------------------------------------------------------------------------------------
# Responses


class HttpResponse:
    """An open response (use it as a context manager). ``url`` is the final URL after redirects,
    ``status`` its status and ``headers`` its headers (case-insensitive ``get``)."""

    def __init__(
        self,
        connection: http.client.HTTPConnection,
        response: http.client.HTTPResponse,
        url: str,
        deadline: Deadline,
        max_bytes: int,
        watchdog: threading.Timer,
        idle_timeout_s: float | None = None,
    ) -> None:
        self._connection = connection
        self._response = response
        self.url = url
        self.status = response.status
        self.reason = response.reason
        self.headers: Message = response.headers
        self._deadline = deadline
        self._max_bytes = max_bytes
        self._watchdog = watchdog
        self._idle_s = idle_timeout_s
        self.bytes_read = 0

    @property
    def declared_length(self) -> int | None:
        """The Content-Length the server declared (None when absent or chunked)."""
        if self._response.chunked:
            return None
        value = (self.headers.get("Content-Length") or "").strip()
        return int(value) if value.isascii() and value.isdigit() else None

    def iter_content(self, chunk_size: int = CHUNK_BYTES) -> Iterator[bytes]:
        """The body in chunks. Refuses a declared length above the cap before reading, counts
        what arrives, and never waits past the deadline.

        Raises:
            HttpTooLargeError, HttpTimeoutError, HttpError (connection lost; retryable).
        """
        declared = self.declared_length
        if declared is not None and declared > self._max_bytes:
            raise HttpTooLargeError(
                self.url, f"Content-Length {declared} exceeds limit {self._max_bytes} bytes",
                status=self.status,
            )
        while True:
            self._check_deadline()
            try:
                sock = self._connection.sock
                if sock is not None:
                    sock.settimeout(_wait_s(self._deadline, self._idle_s))
                chunk = self._response.read1(chunk_size)
            except (OSError, ValueError, http.client.HTTPException) as exc:
                self._check_deadline()
                if isinstance(exc, TimeoutError):
                    raise HttpTimeoutError(
                        self.url, f"no data for {self._idle_s:g} s "
                        f"({self.bytes_read} bytes so far)", retryable=True, status=self.status,
                    ) from None
                raise HttpError(
                    self.url, f"transfer interrupted after {self.bytes_read} bytes: {exc}",
                    retryable=True, status=self.status,
                ) from None
            if not chunk:
                self._check_deadline()
                if declared is not None and self.bytes_read < declared:
                    raise HttpError(
                        self.url, f"truncated: got {self.bytes_read} of {declared} bytes",
                        retryable=True, status=self.status,
                    )
                return
            self.bytes_read += len(chunk)
            if self.bytes_read > self._max_bytes:
                raise HttpTooLargeError(
                    self.url, f"body exceeds limit {self._max_bytes} bytes", status=self.status
                )
            yield chunk

    def read(self) -> bytes:
        """The whole body (within the cap and the deadline)."""
        return b"".join(self.iter_content())

    def _check_deadline(self) -> None:
        if self._deadline.expired():
            raise HttpTimeoutError(
                self.url,
                f"took longer than {self._deadline.seconds:g} s in all "
                f"({self.bytes_read} bytes so far)",
                retryable=True, status=self.status,
            )

    def close(self) -> None:
        self._watchdog.cancel()
        self._response.close()
        self._connection.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


# ------------------------------------------------------------------------------------------
# The client


def open_url(
    url: str,
    *,
    deadline: Deadline | float,
    max_bytes: int,
    headers: Mapping[str, str] | None = None,
    max_redirects: int = MAX_REDIRECTS,
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
    allow_private: bool | None = None,
    ssl_context: ssl.SSLContext | None = None,
    idle_timeout_s: float | None = None,
) -> HttpResponse:
    """GET ``url`` safely (see the module docstring) and return the open final response, whatever
    its status (a redirect is followed, never returned, unless it has no ``Location``).

    Args:
        deadline: a :class:`Deadline`, or seconds from now, for the whole request.
        max_bytes: the body size cap.
        headers: extra request headers (``Host`` and ``Accept-Encoding`` are set here).
        allow_private: allow internal addresses; None reads the settings.
        ssl_context: TLS settings (default: the system's trust store, hostname checked).
        idle_timeout_s: the longest wait for the headers and for each read of the body (within
            ``deadline``); None: up to the deadline.

    Raises:
        UnsafeUrlError: not http(s), malformed, internal address, or a redirect to such a URL.
        HttpTimeoutError: the deadline passed.
        HttpError: resolution or connection failure (retryable), too many redirects.
    """
    if max_bytes <= 0:
        raise InvalidInputError(f"max_bytes must be positive, got {max_bytes}")
    if not isinstance(deadline, Deadline):
        deadline = Deadline(deadline)
    if allow_private is None:
        allow_private = get_settings().allow_private_urls
    current, credentials = split_userinfo(url)
    origin = _origin(current)
    own_headers = dict(headers or {})
    if credentials is not None:
        token = base64.b64encode(":".join(credentials).encode("utf-8")).decode("ascii")
        own_headers["Authorization"] = f"Basic {token}"
    for _hop in range(max_redirects + 1):
        same_origin = _origin(current) == origin
        hop_headers = (
            own_headers if same_origin
            else {k: v for k, v in own_headers.items() if k.lower() not in _ORIGIN_BOUND_HEADERS}
        )
        response = _request_once(
            current, deadline, max_bytes, hop_headers, connect_timeout_s, allow_private,
            ssl_context, idle_timeout_s,
        )
        location = response.headers.get("Location")
        if response.status in REDIRECT_STATUSES and location:
            response.close()
            try:
                # user info in a redirect is never used (nor kept in the response's URL)
                current = strip_userinfo(urljoin(current, location.strip()).split("#", 1)[0])
            except ValueError:
                raise UnsafeUrlError(current, "malformed redirect Location") from None
            continue
        return response
    raise HttpError(url, f"more than {max_redirects} redirects")


_ORIGIN_BOUND_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})


def _wait_s(deadline: Deadline, idle_timeout_s: float | None) -> float:
    """How long one socket wait may last: the idle timeout, never past the deadline."""
    left = deadline.remaining()
    return max(left if idle_timeout_s is None else min(left, idle_timeout_s), 0.001)


def _origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of ``url``, or None."""
    try:
        return check_url(url)
    except UnsafeUrlError:
        return None


def _request_once(
    url: str,
    deadline: Deadline,
    max_bytes: int,
    headers: Mapping[str, str],
    connect_timeout_s: float,
    allow_private: bool,
    ssl_context: ssl.SSLContext | None,
    idle_timeout_s: float | None = None,
) -> HttpResponse:
    scheme, host, port = check_url(url)
    addresses = resolve_checked(url, host, port, allow_private=allow_private, deadline=deadline)
    parts = urlsplit(url)
    target = quote(parts.path or "/", safe=_SAFE_PATH)
    if parts.query:
        target += "?" + quote(parts.query, safe=_SAFE_QUERY)
    last_error: OSError | None = None
    for address in addresses:
        if deadline.expired():
            break
        timeout = max(min(connect_timeout_s, deadline.remaining()), 0.001)
        if scheme == "https":
            context = ssl_context or ssl.create_default_context()
            connection: http.client.HTTPConnection = _PinnedTlsConnection(
                host, port, address, timeout, context
            )
        else:
            connection = _PinnedConnection(host, port, address, timeout)
        watchdog = threading.Timer(deadline.remaining(), _shutdown, args=(connection,))
        watchdog.daemon = True
        watchdog.start()
        connected = False
        try:
            connection.connect()
            connected = True
            connection.sock.settimeout(_wait_s(deadline, idle_timeout_s))
            connection.putrequest("GET", target, skip_accept_encoding=True)
            for name, value in headers.items():
                if name.lower() not in ("host", "accept-encoding"):
                    connection.putheader(name, value)
            connection.putheader("Accept-Encoding", "identity")
            connection.endheaders()
            response = connection.getresponse()
        except ssl.SSLCertVerificationError as exc:
            watchdog.cancel()
            connection.close()
            raise HttpError(url, f"TLS certificate not valid for {host!r}: {exc}") from None
        except (OSError, http.client.HTTPException, ValueError) as exc:
            watchdog.cancel()
            connection.close()
            if deadline.expired():
                raise HttpTimeoutError(
                    url, f"took longer than {deadline.seconds:g} s in all (no response)",
                    retryable=True,
                ) from None
            if connected and isinstance(exc, TimeoutError):
                raise HttpTimeoutError(
                    url, f"no response within {idle_timeout_s:g} s", retryable=True
                ) from None
            if isinstance(exc, OSError):
                last_error = exc
                continue
            raise HttpError(url, f"bad response: {exc}", retryable=True) from None
        return HttpResponse(
            connection, response, url, deadline, max_bytes, watchdog, idle_timeout_s
        )
    if last_error is None:
        raise HttpTimeoutError(url, f"took longer than {deadline.seconds:g} s in all", retryable=True)
    raise HttpError(url, f"connection failed: {last_error}", retryable=True)


__all__ = [
    "ALLOWED_SCHEMES",
    "ALLOW_PRIVATE_VARIABLE",
    "MAX_REDIRECTS",
    "HttpError",
    "HttpResponse",
    "HttpTimeoutError",
    "HttpTooLargeError",
    "UnsafeUrlError",
    "check_url",
    "is_public_address",
    "open_url",
    "redact_url",
    "resolve_checked",
    "strip_userinfo",
]

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

Errors are typed (:class:`HttpError` and subclasses, with ``retryable`` and ``status``) and name
the URL through :func:`redact_url`: feed URLs often carry tokens, so no log line or stored field
ever holds one in full.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator, Mapping
from email.message import Message
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote, urljoin, urlsplit

from media_platform.errors import InvalidInputError, MediaPlatformError
from media_platform.ingest.deadline import Deadline
from media_platform.keys import printable
from media_platform.settings import get_settings

MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
ALLOWED_SCHEMES = ("http", "https")
ALLOW_PRIVATE_VARIABLE = "MEDIA_PLATFORM_ALLOW_PRIVATE_URLS"
DEFAULT_CONNECT_TIMEOUT_S = 10.0
CHUNK_BYTES = 64 * 1024
_SAFE_PATH = "/%:@!$&'()*+,;=-._~"
_SAFE_QUERY = _SAFE_PATH + "?"
_EXTRA_BLOCKED = tuple(
    ipaddress.ip_network(n)
    for n in ("192.0.0.0/24", "100.64.0.0/10", "64:ff9b:1::/48", "2001:db8::/32")
)


# ------------------------------------------------------------------------------------------
# Errors and redaction


def redact_url(url: str) -> str:
    """``url`` without what may be a secret: user info, query and fragment are dropped, leaving
    ``scheme://host[:port]/path`` (printable). Text that is not a URL comes back as ``<url>``
    hints only: its scheme and host when it has them."""
    text = printable(str(url)).strip()
    try:
        parts = urlsplit(text)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<invalid URL>"
    if not parts.scheme and not host:
        return "<invalid URL>"
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port is not None else host
    return f"{parts.scheme}://{netloc}{parts.path}"


class HttpError(MediaPlatformError):
    """A request failed. ``url`` is the redacted URL, ``problem`` says why; ``retryable`` tells
    whether a later attempt might succeed and ``status`` is the HTTP status, if one came."""

    def __init__(
        self, url: str, problem: str, *, retryable: bool = False, status: int | None = None
    ) -> None:
        self.url = redact_url(url)
        self.problem = problem
        self.retryable = retryable
        self.status = status
        super().__init__(f"{self.url}: {problem}")


class UnsafeUrlError(HttpError, InvalidInputError):
    """The URL (or a redirect) is not http(s), is malformed, or reaches an internal address."""


class HttpTooLargeError(HttpError):
    """The body is (or says it is) larger than the cap."""


class HttpTimeoutError(HttpError):
    """The request's total deadline passed."""


# ------------------------------------------------------------------------------------------
# Checking URLs and addresses


def check_url(url: str) -> tuple[str, str, int]:
    """``(scheme, host, port)`` of an absolute http(s) URL with a host (IDNA-encoded), else
    :class:`UnsafeUrlError` (nothing is resolved)."""
    if not isinstance(url, str) or not url:
        raise UnsafeUrlError("<empty>", "URL is empty")
    if any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise UnsafeUrlError(url, "URL contains whitespace or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeUrlError(url, f"malformed URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise UnsafeUrlError(url, f"scheme {scheme or '(none)'!r} is not http(s)")
    if not parts.hostname:
        raise UnsafeUrlError(url, "URL has no host")
    try:
        host = parts.hostname.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise UnsafeUrlError(url, f"invalid host name: {exc}") from None
    return scheme, host, port if port is not None else (443 if scheme == "https" else 80)


def is_public_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether an address is globally routable unicast, also looking inside IPv6 forms that
    embed an IPv4 address (IPv4-mapped, 6to4, NAT64 ``64:ff9b::/96``)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in ipaddress.ip_network("64:ff9b::/96"):
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None and not is_public_address(embedded):
            return False
        if address.ipv4_mapped is not None:
            return True
    if not address.is_global or address.is_multicast or address.is_reserved:
        return False
    return not any(address in net for net in _EXTRA_BLOCKED if net.version == address.version)


def _lookup(url: str, host: str, port: int, deadline: Deadline | None) -> list[Any]:
    """``getaddrinfo``, abandoned (left to finish in its thread) when the deadline passes: the
    system resolver cannot be interrupted, but the request need not wait for it."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            outcome["error"] = exc

    if deadline is None:
        run()
    else:
        thread = threading.Thread(target=run, name="resolve", daemon=True)
        thread.start()
        thread.join(deadline.remaining())
        if thread.is_alive():
            raise HttpTimeoutError(
                url, f"took longer than {deadline.seconds:g} s in all (resolving {host!r})",
                retryable=True,
            )
    if "error" in outcome:
        raise HttpError(
            url, f"cannot resolve host {host!r}: {outcome['error']}", retryable=True
        ) from None
    return list(outcome["infos"])


def resolve_checked(
    url: str, host: str, port: int, *, allow_private: bool, deadline: Deadline | None = None
) -> list[str]:
    """Resolve ``host`` once (within ``deadline``) and return its addresses, refusing internal
    ones (unless ``allow_private``). The caller connects only to these addresses."""
    infos = _lookup(url, host, port, deadline)
    addresses: list[str] = []
    for info in infos:
        text = str(info[4][0]).split("%", 1)[0]
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            raise UnsafeUrlError(url, f"host {host!r} resolved to {text!r}, not an address") from None
        if not allow_private and not is_public_address(address):
            raise UnsafeUrlError(
                url,
                f"host {host!r} is an internal address ({address}); "
                f"set {ALLOW_PRIVATE_VARIABLE}=1 to allow it",
            )
        if text not in addresses:
            addresses.append(text)
    if not addresses:
        raise HttpError(url, f"host {host!r} has no address", retryable=True)
    return addresses


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
                    sock.settimeout(max(self._deadline.remaining(), 0.001))
                chunk = self._response.read1(chunk_size)
            except (OSError, ValueError, http.client.HTTPException) as exc:
                self._check_deadline()
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
) -> HttpResponse:
    """GET ``url`` safely (see the module docstring) and return the open final response, whatever
    its status (a redirect is followed, never returned, unless it has no ``Location``).

    Args:
        deadline: a :class:`Deadline`, or seconds from now, for the whole request.
        max_bytes: the body size cap.
        headers: extra request headers (``Host`` and ``Accept-Encoding`` are set here).
        allow_private: allow internal addresses; None reads the settings.
        ssl_context: TLS settings (default: the system's trust store, hostname checked).

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
    current = url
    for _hop in range(max_redirects + 1):
        response = _request_once(
            current, deadline, max_bytes, headers or {}, connect_timeout_s, allow_private,
            ssl_context,
        )
        location = response.headers.get("Location")
        if response.status in REDIRECT_STATUSES and location:
            response.close()
            current = urljoin(current, location.strip()).split("#", 1)[0]
            continue
        return response
    raise HttpError(url, f"more than {max_redirects} redirects")


def _request_once(
    url: str,
    deadline: Deadline,
    max_bytes: int,
    headers: Mapping[str, str],
    connect_timeout_s: float,
    allow_private: bool,
    ssl_context: ssl.SSLContext | None,
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
        try:
            connection.connect()
            connection.sock.settimeout(max(deadline.remaining(), 0.001))
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
            if isinstance(exc, OSError):
                last_error = exc
                continue
            raise HttpError(url, f"bad response: {exc}", retryable=True) from None
        return HttpResponse(connection, response, url, deadline, max_bytes, watchdog)
    if last_error is None:
        raise HttpTimeoutError(url, f"took longer than {deadline.seconds:g} s in all", retryable=True)
    raise HttpError(url, f"connection failed: {last_error}", retryable=True)


__all__ = [
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
]

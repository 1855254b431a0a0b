"""The safe HTTP client's errors, and the redaction every URL goes through before it is shown."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from media_platform.errors import InvalidInputError, MediaPlatformError
from media_platform.keys import printable


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


def split_userinfo(url: str) -> tuple[str, tuple[str, str] | None]:
    """``(url without user info, (user, password) or None)``; the user info percent-decoded.
    A URL that cannot be split comes back unchanged, with None."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url, None
    if "@" not in parts.netloc:
        return url, None
    from urllib.parse import unquote

    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    clean = urlunsplit((parts.scheme, hostport, parts.path, parts.query, parts.fragment))
    return clean, (unquote(user), unquote(password))


def strip_userinfo(url: str) -> str:
    """``url`` without ``user:password@`` (a URL that is stored or used as a base never keeps it)."""
    return split_userinfo(url)[0]


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



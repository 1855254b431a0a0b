"""The safe HTTP client's errors, and the redaction every URL goes through before it is shown."""

from __future__ import annotations

from urllib.parse import urlsplit

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



"""Fetching a feed: one conditional GET (ETag / Last-Modified) through the safe HTTP client."""

from __future__ import annotations

from dataclasses import dataclass

from media_platform.errors import InvalidInputError
from media_platform.ingest.deadline import Deadline
from media_platform.ingest.feeds.config import require_http_url
from media_platform.ingest.feeds.errors import FeedError, FeedTimeoutError, FeedTooLargeError
from media_platform.ingest.http import (
    HttpError,
    HttpTimeoutError,
    HttpTooLargeError,
    UnsafeUrlError,
    open_url,
)

USER_AGENT = "media-platform-feed-fetcher/0.1 (+https://example.invalid/media-platform)"
DEFAULT_MAX_FEED_BYTES = 4 * 1024 * 1024
"""Largest feed body accepted (real feeds with hundreds of episodes stay well under 2 MiB)."""
DEFAULT_FETCH_TIMEOUT_S = 20.0
_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1"
)


@dataclass(frozen=True)
class FetchResult:
    """Outcome of :func:`fetch_feed`.

    Attributes:
        status: 200 (``body`` holds the feed) or 304 (not modified; ``body`` is empty).
        body: the raw feed bytes.
        etag: the ETag to send next time (the server's, or the one sent when a 304 omits it).
        modified: the Last-Modified value to send next time, likewise.
        url: the final URL after redirects (use it as ``base_url`` for ``parse_feed``).
        content_type: the response's Content-Type header, if any.
    """

    status: int
    body: bytes
    etag: str | None
    modified: str | None
    url: str
    content_type: str | None = None


def fetch_feed(
    url: str,
    *,
    etag: str | None = None,
    modified: str | None = None,
    timeout: float | Deadline = DEFAULT_FETCH_TIMEOUT_S,
    max_bytes: int = DEFAULT_MAX_FEED_BYTES,
) -> FetchResult:
    """Conditionally GET a feed through :func:`media_platform.ingest.http.open_url` (http(s)
    only, no internal addresses on any hop, pinned to the checked address, size cap).

    Sends ``If-None-Match``/``If-Modified-Since`` when ``etag``/``modified`` are given.
    ``timeout`` is the total deadline of the request (seconds, or a shared :class:`Deadline`).

    Raises:
        InvalidInputError: ``url`` (or a redirect target) is not http(s) or is internal
            (an :class:`~media_platform.ingest.http.UnsafeUrlError`).
        FeedTooLargeError: the body is larger than ``max_bytes``.
        FeedTimeoutError: the deadline passed.
        FeedError: connection failure or an HTTP status other than 200/304.
    """
    require_http_url(url)
    if max_bytes <= 0:
        raise InvalidInputError(f"max_bytes must be positive, got {max_bytes}")
    headers = {"User-Agent": USER_AGENT, "Accept": _ACCEPT}
    if etag:
        headers["If-None-Match"] = etag
    if modified:
        headers["If-Modified-Since"] = modified
    try:
        with open_url(url, deadline=timeout, max_bytes=max_bytes, headers=headers) as resp:
            new_etag = resp.headers.get("ETag") or etag
            new_modified = resp.headers.get("Last-Modified") or modified
            content_type = resp.headers.get("Content-Type")
            if resp.status == 304:
                return FetchResult(304, b"", new_etag, new_modified, resp.url, content_type)
            if resp.status != 200:
                raise FeedError(url, f"HTTP {resp.status} {resp.reason or ''}".strip())
            body = resp.read()
            return FetchResult(200, body, new_etag, new_modified, resp.url, content_type)
    except UnsafeUrlError:
        raise
    except HttpTooLargeError as exc:
        raise FeedTooLargeError(url, exc.problem) from None
    except HttpTimeoutError as exc:
        raise FeedTimeoutError(url, exc.problem) from None
    except HttpError as exc:
        raise FeedError(url, f"request failed: {exc.problem}") from None

"""The errors of feed ingestion; each names the (redacted) feed URL and the problem."""

from __future__ import annotations

from media_platform.errors import MediaPlatformError
from media_platform.ingest.http import redact_url


class FeedError(MediaPlatformError):
    """A feed could not be fetched or used. ``url`` names it (redacted: no user info, query or
    fragment, which may hold tokens), ``problem`` says why."""

    def __init__(self, url: str, problem: str) -> None:
        self.url = redact_url(url)
        self.problem = problem
        super().__init__(f"{self.url}: {problem}")


class FeedParseError(FeedError):
    """The body is not a feed (empty, not XML/RSS/Atom at all)."""


class FeedSecurityError(FeedParseError):
    """The body contains a DTD, entity declarations or external references; rejected unparsed."""


class FeedTooLargeError(FeedError):
    """The response exceeded ``max_bytes``."""



class FeedTimeoutError(FeedError):
    """Fetching and parsing the feed took longer than its deadline."""

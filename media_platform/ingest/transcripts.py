"""Fetching the transcripts a feed item links (``<podcast:transcript>``), for the transcript
asset. Ingest fetches, media understanding parses: :func:`fetch_linked_transcripts` yields each
link's bytes (or why there are none) and :mod:`media_platform.audio.sidecars` only parses them.

Every request goes through the safe HTTP client (http(s) only, no internal address on any hop,
a total deadline and a size cap); a link is fetched only when the caller wants it (a format it can
parse), and only when the caller asks for the next one, so the first usable transcript ends the
fetching.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from media_platform.errors import InvalidInputError
from media_platform.ingest.deadline import Deadline
from media_platform.ingest.feeds.model import MAX_TRANSCRIPT_LINKS
from media_platform.ingest.http import HttpError, HttpTimeoutError, open_url, redact_url

MAX_TRANSCRIPT_BYTES = 5 * 1024 * 1024
TRANSCRIPT_DEADLINE_S = 30.0
TRANSCRIPTS_TOTAL_DEADLINE_S = 60.0
"""All linked transcripts of one episode together, retries included."""
TRANSCRIPT_CONTENT_TYPES = (
    "text/", "application/json", "application/x-subrip", "application/srt",
    "application/octet-stream",
)
_ATTEMPTS = 2


@dataclass(frozen=True)
class LinkedTranscript:
    """One linked transcript: ``label`` names it (the redacted URL), ``url`` is what was
    fetched, ``mime_type`` what the feed declared; ``data`` holds its bytes, or ``problem`` says
    why there are none."""

    label: str
    url: str
    mime_type: str | None
    data: bytes | None = None
    problem: str | None = None


def transcript_links(entries: Iterable[Any] | None) -> list[tuple[str, str | None]]:
    """``metadata["transcript_urls"]`` (``[url, mime type]`` pairs, or bare URLs) as pairs, at
    most :data:`MAX_TRANSCRIPT_LINKS` (rows stored before the cap may hold more)."""
    links: list[tuple[str, str | None]] = []
    for entry in entries or []:
        if len(links) >= MAX_TRANSCRIPT_LINKS:
            break
        if isinstance(entry, (list, tuple)) and entry:
            url, mime = str(entry[0]), (str(entry[1]) if len(entry) > 1 and entry[1] else None)
        else:
            url, mime = str(entry), None
        links.append((url, mime))
    return links


def fetch_transcript(
    url: str,
    *,
    max_bytes: int = MAX_TRANSCRIPT_BYTES,
    deadline_s: float = TRANSCRIPT_DEADLINE_S,
    budget: Deadline | None = None,
) -> bytes:
    """The bytes of one transcript (HTTP 200 with a text-like content type), retried once when
    the failure may pass. Each attempt gets ``deadline_s``, never past ``budget`` (the total
    for all of an episode's links).

    Raises:
        HttpError: refused URL, too large, too slow, HTTP error or wrong content type.
    """
    last: HttpError | None = None
    for _attempt in range(_ATTEMPTS):
        seconds = deadline_s if budget is None else min(deadline_s, budget.remaining())
        if seconds <= 0:
            raise last or HttpTimeoutError(url, "the transcripts' time budget is spent")
        try:
            with open_url(url, deadline=seconds, max_bytes=max_bytes) as response:
                if response.status != 200:
                    raise HttpError(
                        url, f"HTTP {response.status}",
                        retryable=response.status >= 500 or response.status == 429,
                        status=response.status,
                    )
                media_type = (response.headers.get("Content-Type") or "application/octet-stream")
                media_type = media_type.split(";", 1)[0].strip().lower()
                if not any(
                    media_type.startswith(t) if t.endswith("/") else media_type == t
                    for t in TRANSCRIPT_CONTENT_TYPES
                ):
                    raise HttpError(url, f"content type {media_type!r} is not a transcript")
                return response.read()
        except HttpError as exc:
            if not exc.retryable:
                raise
            last = exc
    assert last is not None
    raise last


def fetch_linked_transcripts(
    entries: Iterable[Any] | None,
    *,
    wanted: Callable[[str, str | None], bool] = lambda url, mime: True,
    fetch: Callable[[str, Deadline], bytes] | None = None,
    total_deadline_s: float = TRANSCRIPTS_TOTAL_DEADLINE_S,
) -> Iterator[LinkedTranscript]:
    """Each linked transcript in feed order, fetched lazily (see the module docstring).

    Args:
        entries: ``metadata["transcript_urls"]``.
        wanted: whether the caller can use a link (its URL and declared MIME type); unwanted
            links are yielded with a problem and not fetched.
        fetch: the fetch function, given the URL and the total budget (default:
            :func:`fetch_transcript`).
        total_deadline_s: the time all links may take together (counted from the first
            fetch); once it is spent, the remaining links are yielded unfetched, with a problem.
    """
    if fetch is None:
        def fetch(url: str, budget: Deadline) -> bytes:
            return fetch_transcript(url, budget=budget)
    budget: Deadline | None = None
    for url, mime in transcript_links(entries):
        label = redact_url(url)
        if not wanted(url, mime):
            yield LinkedTranscript(label, url, mime, problem=f"unsupported format {mime}")
            continue
        if budget is None:
            budget = Deadline(total_deadline_s)
        if budget.expired():
            yield LinkedTranscript(
                label, url, mime,
                problem=f"not fetched: the transcripts took {total_deadline_s:g} s in all",
            )
            continue
        try:
            yield LinkedTranscript(label, url, mime, data=fetch(url, budget))
        except (HttpError, InvalidInputError) as exc:
            yield LinkedTranscript(label, url, mime, problem=getattr(exc, "problem", str(exc)))

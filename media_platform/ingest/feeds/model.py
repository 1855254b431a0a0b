"""What parsing a feed yields: its items, the items it skipped, and the channel's fields."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

MAX_GUID_CHARS = 512
"""A longer GUID (or fallback enclosure URL) is replaced, as the item's identity, by
``"sha256:" + its hex SHA-256``: the same text always gives the same identity, and a hostile feed
cannot bloat the sensor's cursor."""

MAX_TRANSCRIPT_LINKS = 4
"""``podcast:transcript`` links kept per item (distinct, in feed order): real feeds give one per
format or language; a hostile feed could give thousands, each a request of the transcript asset."""

ItemType = Literal["full", "trailer", "bonus"]


@dataclass(frozen=True)
class FeedItem:
    """One episode with a usable enclosure.

    Attributes:
        guid: the item's identity (GUID/Atom id, else the enclosure URL).
        title: item title ("" if none).
        enclosure_url: absolute http(s) URL of the media.
        enclosure_type: declared MIME type, or None.
        enclosure_length: declared length in bytes (positive), or None.
        published: publication (else update) time as ISO 8601 UTC, or None.
        duration_s: ``itunes:duration`` in seconds, or None if missing/unparseable.
        season: ``itunes:season`` / ``podcast:season`` (positive int) or None.
        episode: ``itunes:episode`` / ``podcast:episode`` (positive int) or None.
        explicit: ``itunes:explicit`` of the item, else of the channel; None if unknown.
        item_type: ``itunes:episodeType``: full (default, also for unknown values), trailer, bonus.
        transcript_urls: ``podcast:transcript`` (absolute http(s) url, MIME type) pairs.
        chapters_url: ``podcast:chapters`` URL (absolute http(s)) or None.
        licence: ``podcast:license`` of the item, else of the channel (text, else its url).
        description: feedparser's sanitized summary ("" if none).
        author: item author, else the channel's (``itunes:author``), or None.
        link: the item's web page, or None.
        guid_is_fallback: True when ``guid`` is the enclosure URL because the item had no GUID.
    """

    guid: str
    title: str
    enclosure_url: str
    enclosure_type: str | None = None
    enclosure_length: int | None = None
    published: str | None = None
    duration_s: float | None = None
    season: int | None = None
    episode: int | None = None
    explicit: bool | None = None
    item_type: ItemType = "full"
    transcript_urls: tuple[tuple[str, str | None], ...] = ()
    chapters_url: str | None = None
    licence: str | None = None
    description: str = ""
    author: str | None = None
    link: str | None = None
    guid_is_fallback: bool = False


@dataclass(frozen=True)
class SkippedItem:
    """An item that was not turned into a :class:`FeedItem`, and why."""

    index: int
    reason: str
    guid: str | None = None
    title: str | None = None


@dataclass(frozen=True)
class ParsedFeed:
    """A parsed feed.

    Attributes:
        title: channel title ("" if none).
        link: channel web page or None.
        author: channel author (``itunes:author``) or None.
        licence: channel ``podcast:license`` or None.
        explicit: channel ``itunes:explicit`` or None.
        items: usable items in document order.
        skipped: items not usable, with reasons.
        bozo_reason: why feedparser considered the document not well-formed, or None.
        version: feedparser's format name (``rss20``, ``atom10``...) or "".
    """

    title: str
    link: str | None
    author: str | None
    licence: str | None
    explicit: bool | None
    items: tuple[FeedItem, ...]
    skipped: tuple[SkippedItem, ...] = ()
    bozo_reason: str | None = None
    version: str = ""



def parsed_feed_from_dict(raw: dict[str, Any]) -> ParsedFeed:
    """A :class:`ParsedFeed` from ``dataclasses.asdict`` output that went through JSON (how the
    parser process hands its result back: data, never code).

    Raises:
        ValueError: not the fields of a parsed feed.
    """
    try:
        fields = dict(raw)
        items = tuple(
            FeedItem(**{**item, "transcript_urls": tuple(tuple(t) for t in item["transcript_urls"])})
            for item in fields.pop("items")
        )
        skipped = tuple(SkippedItem(**s) for s in fields.pop("skipped"))
        return ParsedFeed(**fields, items=items, skipped=skipped)
    except (TypeError, KeyError, AttributeError) as exc:
        raise ValueError(f"not a parsed feed: {exc}") from None

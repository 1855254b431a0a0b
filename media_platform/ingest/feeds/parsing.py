"""Parsing a feed body into items (RSS 2.0, Atom, Media RSS, iTunes and Podcasting 2.0 tags).

:func:`parse_feed` checks the body first (:mod:`~media_platform.ingest.feeds.xml_safety`), then
hands it to feedparser, always as a ``BytesIO`` (``feedparser.parse`` given raw ``bytes``/``str``
may open a local file or a URL named by the data). feedparser's strict parser additionally
disables external general entities, and its loose parser never resolves external entities; with
no DTD in the document there is nothing for either to expand. The Podcasting 2.0 elements
feedparser does not model and raw GUIDs are read in a second pass over the same, already checked
body (:mod:`~media_platform.ingest.feeds.raw`). feedparser itself cannot be interrupted: the RSS
sensor runs :func:`parse_feed` in a worker process it can kill at the feed's deadline
(:mod:`~media_platform.ingest.feeds.isolation`).

Malformed feeds
---------------
A body that is empty, fails the safety check or in which feedparser finds no feed at all (no
version, no title, no items) raises :class:`FeedParseError`/:class:`FeedSecurityError`. A feed
that is merely not well-formed (feedparser's "bozo" feeds: bad characters, undeclared namespace
prefixes...) is parsed leniently and returned with ``ParsedFeed.bozo_reason`` set, because real
feeds are often sloppy and refusing them would stop ingestion for no security gain.

Item identity
-------------
An item's identity is its ``<guid>`` (Atom ``<id>``), verbatim (trimmed; not resolved as a URL:
GUIDs are opaque). Without one, the absolute enclosure URL is the identity. An identity longer
than 512 characters is replaced by ``sha256:<hex>`` of it (the same for the same text, and a
hostile feed cannot bloat the cursor). A second item with the same identity in one feed is
skipped ("duplicate guid").
"""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import io
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser

from media_platform.errors import InvalidInputError
from media_platform.ingest.deadline import Deadline
from media_platform.ingest.feeds.errors import FeedParseError
from media_platform.ingest.feeds.model import (
    MAX_GUID_CHARS,
    MAX_TRANSCRIPT_LINKS,
    FeedItem,
    ParsedFeed,
    SkippedItem,
)
from media_platform.ingest.feeds.raw import RawItem, collect_raw
from media_platform.ingest.feeds.xml_safety import assert_safe_xml
from media_platform.ingest.http import ALLOWED_SCHEMES, redact_url, strip_userinfo

_DURATION_COLON = re.compile(r"^(?:(\d+):)?(\d+):(\d+(?:\.\d+)?)$")
_DURATION_SECONDS = re.compile(r"^\d+(?:\.\d+)?$")


def parse_duration(value: str | None) -> float | None:
    """Parse ``itunes:duration``: ``"1864"``, ``"1864.5"``, ``"31:04"``, ``"1:02:03"``; else None.

    In colon forms, minutes and seconds after the first field must be below 60
    (``"90:00"`` = 90 minutes is fine, ``"1:75:00"`` is junk). Negative or empty values are None.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if _DURATION_SECONDS.match(text):
        return float(text)
    m = _DURATION_COLON.match(text)
    if not m:
        return None
    hours_s, minutes_s, seconds_s = m.groups()
    minutes, seconds = int(minutes_s), float(seconds_s)
    if seconds >= 60:
        return None
    if hours_s is not None:
        if minutes >= 60:
            return None
        return int(hours_s) * 3600 + minutes * 60 + seconds
    return minutes * 60 + seconds


def _positive_int(value: str | None) -> int | None:
    if value is None:
        return None
    text = value.strip()
    if not text.isascii() or not text.isdigit():
        return None
    n = int(text)
    return n if n > 0 else None


def _explicit(value: str | None) -> bool | None:
    if value is None:
        return None
    text = value.strip().lower()
    if text in ("yes", "true", "explicit"):
        return True
    if text in ("no", "false", "clean"):
        return False
    return None


def _iso(struct: Any) -> str | None:
    if not struct:
        return None
    try:
        return dt.datetime.fromtimestamp(calendar.timegm(struct), tz=dt.UTC).isoformat()
    except (TypeError, ValueError, OverflowError):
        return None


_CHARREF = re.compile(rb"&#(?:[xX]([0-9a-fA-F]+)|([0-9]+));")


def _neutralise_bad_charrefs(body: bytes) -> bytes:
    """Character references no text can hold (surrogates, NUL, beyond U+10FFFF) become U+FFFD:
    feedparser's lenient parser crashes on them, which would fail the whole feed."""

    def fix(m: re.Match[bytes]) -> bytes:
        digits = m.group(1) or m.group(2)
        if len(digits) > 8:
            return b"&#xFFFD;"
        value = int(digits, 16) if m.group(1) else int(digits)
        if value == 0 or 0xD800 <= value <= 0xDFFF or value > 0x10FFFF:
            return b"&#xFFFD;"
        return m.group(0)

    return _CHARREF.sub(fix, body) if b"&#" in body else body


def item_identity(text: str) -> str:
    """An item's identity: its GUID (or fallback URL) verbatim, or ``sha256:<hex>`` of it
    when it is longer than :data:`MAX_GUID_CHARS`."""
    if len(text) <= MAX_GUID_CHARS:
        return text
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return f"sha256:{digest}"


def shown_guid(guid: str | None) -> str | None:
    """A GUID as logs may show it: one that is a URL (often the enclosure URL, which may
    carry a token) is redacted."""
    if guid and "://" in guid:
        return redact_url(guid)
    return guid


def _absolute_http(url: str | None, base_url: str) -> tuple[str | None, str | None]:
    """(absolute url, None) or (None, reason)."""
    if url is None or not url.strip():
        return None, "empty URL"
    text = url.strip()
    if any(ord(c) < 32 for c in text):
        return None, f"URL {redact_url(text)!r} contains control characters"
    try:
        absolute = urljoin(base_url, text) if base_url else text
        parts = urlsplit(absolute)
        host = parts.hostname
    except ValueError as exc:  # "Invalid IPv6 URL" and the like: only this URL is unusable
        return None, f"URL {redact_url(text)!r} is malformed ({exc})"
    shown = redact_url(absolute)
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        return (
            None,
            f"URL {shown!r} has scheme {parts.scheme or '(none)'!r}, only http(s) allowed",
        )
    if not host:
        return None, f"URL {shown!r} has no host"
    return strip_userinfo(absolute), None  # credentials are never stored


def _pick_enclosure(
    entry: Mapping[str, Any], base_url: str
) -> tuple[dict[str, Any] | None, str | None]:
    enclosures = [
        e for e in (entry.get("enclosures") or []) if (e.get("href") or e.get("url") or "").strip()
    ]
    if not enclosures:  # Media RSS: <media:content url= type= fileSize=>
        enclosures = [
            {
                "href": m.get("url"),
                "type": m.get("type"),
                "length": m.get("filesize") or m.get("fileSize"),
            }
            for m in (entry.get("media_content") or [])
            if (m.get("url") or "").strip()
        ]
    if not enclosures:
        return None, "no enclosure"
    usable: list[dict[str, Any]] = []
    reasons: list[str] = []
    for enc in enclosures:
        url, reason = _absolute_http(enc.get("href") or enc.get("url"), base_url)
        if url is None:
            reasons.append(reason or "bad URL")
            continue
        usable.append(
            {
                "url": url,
                "type": (enc.get("type") or "").strip() or None,
                "length": enc.get("length"),
            }
        )
    if not usable:
        return None, "no usable enclosure: " + "; ".join(reasons)
    for enc in usable:
        if enc["type"] and enc["type"].lower().startswith(("audio/", "video/")):
            return enc, None
    return usable[0], None


def _length(value: Any) -> int | None:
    if value is None:
        return None
    text = str(value).strip()
    if text.isascii() and text.isdigit() and int(text) > 0:
        return int(text)
    return None


def parse_feed(body: bytes, base_url: str, deadline: Deadline | None = None) -> ParsedFeed:
    """Safely parse an RSS/Atom feed body into items (see the module docstring).

    Args:
        body: raw bytes as fetched (encoding detected from the XML declaration/BOM).
        base_url: the feed's URL; relative enclosure/transcript/chapter URLs are resolved
            against it. Only http(s) results are kept.

    Raises:
        FeedSecurityError: the body has a DTD, entity declarations or external references.
        FeedParseError: the body is empty or not a feed at all.
        DeadlineExceeded: ``deadline`` passed during one of the SAX passes or between steps
            (feedparser's own step is bounded by the caller, see the module docstring).
    """
    if not isinstance(body, (bytes, bytearray)):
        raise InvalidInputError(f"feed body must be bytes, got {type(body).__name__}")
    body = bytes(body)
    base_url = strip_userinfo(base_url)  # the feed's credentials never reach an item's URLs
    if not body.strip():
        raise FeedParseError(base_url, "empty feed body")
    where = redact_url(base_url)
    well_formed = assert_safe_xml(body, where, deadline)
    raw = collect_raw(body, where, deadline) if well_formed else None
    if deadline is not None:
        deadline.check(f"{where}: parsing the feed")

    # No Content-Location: feedparser must not resolve GUIDs as URLs; we resolve URLs ourselves.
    try:
        parsed = feedparser.parse(
            io.BytesIO(_neutralise_bad_charrefs(body)), response_headers={}
        )
    except (ValueError, OverflowError, UnicodeError) as exc:  # feedparser's own crashes
        raise FeedParseError(base_url, f"not parseable ({type(exc).__name__}: {exc})") from None
    entries = list(parsed.get("entries") or [])
    feed_meta = parsed.get("feed") or {}
    version = parsed.get("version") or ""
    if not version and not entries and not feed_meta.get("title"):
        exc = parsed.get("bozo_exception")
        raise FeedParseError(base_url, f"not an RSS/Atom feed{f' ({exc})' if exc else ''}")
    bozo_reason = None
    bozo_exc = parsed.get("bozo_exception")
    benign = (feedparser.NonXMLContentType, feedparser.CharacterEncodingOverride)
    if parsed.get("bozo") and not isinstance(bozo_exc, benign):
        bozo_reason = str(bozo_exc or "not well-formed")

    raw_items: list[RawItem | None]
    if raw is not None and len(raw.items) == len(entries):
        raw_items = list(raw.items)
        channel = raw.channel
    else:
        raw_items = [None] * len(entries)
        channel = raw.channel if raw is not None else RawItem()

    ch_licence = channel.text.get("license") or channel.license_url
    if ch_licence is None:
        ch_licence = _first_str(feed_meta.get("podcast_license"))
    ch_explicit = _explicit(
        channel.text.get("explicit")
        if channel.text.get("explicit") is not None
        else _first_str(feed_meta.get("itunes_explicit"))
    )
    ch_author = channel.text.get("author") or feed_meta.get("author") or None

    items: list[FeedItem] = []
    skipped: list[SkippedItem] = []
    seen: set[str] = set()
    for index, (entry, raw_item) in enumerate(zip(entries, raw_items, strict=True)):
        title = (entry.get("title") or "").strip()
        if raw_item is not None:
            guid = raw_item.text.get("guid") or raw_item.text.get("id") or ""
        else:
            guid = (entry.get("id") or "").strip()
        enc, reason = _pick_enclosure(entry, base_url)
        if enc is None:
            skipped.append(
                SkippedItem(
                    index, reason or "no enclosure", item_identity(guid) if guid else None,
                    title or None,
                )
            )
            continue
        fallback = not guid
        identity = item_identity(guid or enc["url"])
        if identity in seen:
            skipped.append(
                SkippedItem(
                    index, f"duplicate guid {shown_guid(identity)!r} in feed", identity,
                    title or None,
                )
            )
            continue
        seen.add(identity)

        def raw_text(
            key: str, fp_key: str, raw_item: RawItem | None = raw_item, entry: Any = entry
        ) -> str | None:
            if raw_item is not None and key in raw_item.text:
                return raw_item.text[key]
            return _first_str(entry.get(fp_key))

        item_type = (raw_text("episodetype", "itunes_episodetype") or "full").strip().lower()
        if item_type not in ("full", "trailer", "bonus"):
            item_type = "full"
        explicit = _explicit(raw_text("explicit", "itunes_explicit"))
        if explicit is None:
            explicit = ch_explicit
        transcripts: list[tuple[str, str | None]] = []
        chapters_url = None
        licence = None
        if raw_item is not None:
            linked: set[str] = set()
            for t_url, t_type in raw_item.transcripts:
                absolute, _ = _absolute_http(t_url, base_url)
                if absolute is not None and absolute not in linked:
                    linked.add(absolute)
                    transcripts.append((absolute, (t_type or "").strip() or None))
                    if len(transcripts) >= MAX_TRANSCRIPT_LINKS:
                        break
            chapters_url, _ = (
                _absolute_http(raw_item.chapters_url, base_url)
                if raw_item.chapters_url
                else (None, None)
            )
            licence = raw_item.text.get("license") or raw_item.license_url
        else:
            pt = entry.get("podcast_transcript")
            if isinstance(pt, Mapping):
                absolute, _ = _absolute_http(pt.get("url"), base_url)
                if absolute:
                    transcripts.append((absolute, pt.get("type")))
            pc = entry.get("podcast_chapters")
            if isinstance(pc, Mapping) and pc.get("url"):
                chapters_url, _ = _absolute_http(pc.get("url"), base_url)
            licence = _first_str(entry.get("podcast_license"))
        if not licence:
            licence = ch_licence
        link, _ = _absolute_http(entry.get("link"), base_url) if entry.get("link") else (None, None)
        items.append(
            FeedItem(
                guid=identity,
                title=title,
                enclosure_url=enc["url"],
                enclosure_type=enc["type"],
                enclosure_length=_length(enc["length"]),
                published=_iso(entry.get("published_parsed") or entry.get("updated_parsed")),
                duration_s=parse_duration(raw_text("duration", "itunes_duration")),
                season=_positive_int(raw_text("season", "itunes_season")),
                episode=_positive_int(raw_text("episode", "itunes_episode")),
                explicit=explicit,
                item_type=item_type,  # type: ignore[arg-type]
                transcript_urls=tuple(transcripts),
                chapters_url=chapters_url,
                licence=licence or None,
                description=entry.get("summary") or "",
                author=(raw_item.text.get("author") if raw_item else None)
                or entry.get("author")
                or ch_author,
                link=link,
                guid_is_fallback=fallback,
            )
        )
    ch_link, _ = (
        _absolute_http(feed_meta.get("link"), base_url) if feed_meta.get("link") else (None, None)
    )
    return ParsedFeed(
        title=(feed_meta.get("title") or "").strip(),
        link=ch_link,
        author=ch_author,
        licence=ch_licence or None,
        explicit=ch_explicit,
        items=tuple(items),
        skipped=tuple(skipped),
        bozo_reason=bozo_reason,
        version=version,
    )


def _first_str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return None
    return str(value)


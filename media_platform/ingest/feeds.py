"""Podcast/RSS feed ingestion: feed configs, conditional fetching, safe parsing, cursors.

Pure functions for the RSS sensor:

* :func:`load_feed_configs` reads and validates the operator's YAML list of feeds.
* :func:`fetch_feed` does one conditional GET (ETag / Last-Modified), http(s) only, with a timeout
  and a byte limit; a 304 returns no body.
* :func:`parse_feed` turns a feed body into :class:`ParsedFeed` — items with an absolute http(s)
  enclosure URL, and skipped items with a reason.
* :func:`new_items` picks the oldest unseen items, capped (backfill cap).
* :func:`encode_cursor` / :func:`decode_cursor` are the sensor cursor codec.

XML safety (why a feed can never expand entities or fetch anything)
-----------------------------------------------------------------
Feeds are untrusted XML. Before feedparser sees a body, :func:`assert_safe_xml` parses it with
``defusedxml.sax`` (expat, namespace processing off so feeds using undeclared prefixes like
``itunes:`` still pass) with ``forbid_dtd``, ``forbid_entities`` and ``forbid_external`` all on.
Any ``<!DOCTYPE``, any entity declaration (the "billion laughs" bomb needs one) and any external
entity/DTD reference raises :class:`FeedSecurityError` and the feed is rejected outright — podcast
feeds have no legitimate use for DTDs. A body that is not well-formed XML cannot be checked by
expat, so it gets a lexical check instead: any ``<!DOCTYPE`` or ``<!ENTITY`` anywhere in it
(also after removing NUL bytes, for UTF-16/32) rejects it.

Only after that is the body handed to feedparser, always as a ``BytesIO`` (``feedparser.parse``
given raw ``bytes``/``str`` may open a local file or a URL named by the data). feedparser's strict
parser additionally disables external general entities, and its loose parser never resolves
external entities; with no DTD in the document there is nothing for either to expand. The
Podcasting 2.0 elements feedparser does not model (``podcast:transcript`` lists,
``podcast:chapters``, ``podcast:license``) and raw GUIDs are read in a second pass over the same,
already-checked body with the same defused SAX parser.

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
GUIDs are opaque). Without one, the absolute enclosure URL is the identity. A second item with the
same identity in one feed is skipped ("duplicate guid").
"""

from __future__ import annotations

import calendar
import datetime as dt
import io
import json
import re
import xml.sax
import xml.sax.handler
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

import defusedxml
import defusedxml.sax
import feedparser
import requests
import yaml

from media_platform.errors import InvalidInputError, MediaPlatformError

USER_AGENT = "media-platform-feed-fetcher/0.1 (+https://example.invalid/media-platform)"
ALLOWED_SCHEMES = ("http", "https")
DEFAULT_MAX_FEED_BYTES = 20 * 1024 * 1024
CURSOR_VERSION = 1
DEFAULT_SEEN_LIMIT = 5000

ItemType = Literal["full", "trailer", "bonus"]


class FeedError(MediaPlatformError):
    """A feed could not be fetched or used. ``url`` names it, ``problem`` says why."""

    def __init__(self, url: str, problem: str) -> None:
        self.url = url
        self.problem = problem
        super().__init__(f"{url}: {problem}")


class FeedParseError(FeedError):
    """The body is not a feed (empty, not XML/RSS/Atom at all)."""


class FeedSecurityError(FeedParseError):
    """The body contains a DTD, entity declarations or external references; rejected unparsed."""


class FeedTooLargeError(FeedError):
    """The response exceeded ``max_bytes``."""


# ------------------------------------------------------------------------------------------
# Configuration


@dataclass(frozen=True)
class FeedConfig:
    """One feed the operator wants ingested.

    Attributes:
        url: the feed URL (http or https).
        title: display name; also the default base of partition keys.
        default_licence: licence name applying to items without a recognised ``podcast:license``
            (see :mod:`media_platform.licences`); ``None`` means the conservative no-use default.
        max_new_items_per_tick: backfill cap: at most this many new items per sensor tick.
        poll_interval_s: minimum seconds between fetches of this feed.
    """

    url: str
    title: str
    default_licence: str | None = None
    max_new_items_per_tick: int = 5
    poll_interval_s: int = 3600


_FEED_CONFIG_KEYS = {"url", "title", "default_licence", "max_new_items_per_tick", "poll_interval_s"}
MIN_POLL_INTERVAL_S = 60


def load_feed_configs(path: Path | str) -> list[FeedConfig]:
    """Read and validate ``feeds:`` from a YAML file.

    Format::

        feeds:
          - url: https://feeds.example.org/show.xml
            title: Example Show
            default_licence: analysis-only     # optional, a licences preset / CC identifier
            max_new_items_per_tick: 5          # optional, 1..1000
            poll_interval_s: 3600              # optional, >= 60

    Raises:
        InvalidInputError: naming the file, the entry index and the field, for an unreadable file,
            bad YAML, unknown keys, a non-http(s) URL, an empty title, an unknown licence, an
            out-of-range number or a URL given twice.
    """
    from media_platform.licences import recognise_licence_string

    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{p}: cannot read feed config: {exc}") from exc
    except yaml.YAMLError as exc:
        raise InvalidInputError(f"{p}: invalid YAML: {exc}") from exc
    if not isinstance(data, Mapping) or "feeds" not in data:
        raise InvalidInputError(f"{p}: expected a mapping with a 'feeds' list")
    extra = set(data) - {"feeds"}
    if extra:
        raise InvalidInputError(f"{p}: unknown top-level keys {sorted(extra)}")
    feeds = data["feeds"]
    if feeds is None:
        return []
    if not isinstance(feeds, list):
        raise InvalidInputError(f"{p}: 'feeds' must be a list")
    out: list[FeedConfig] = []
    seen: set[str] = set()
    for i, entry in enumerate(feeds):
        where = f"{p}: feeds[{i}]"
        if not isinstance(entry, Mapping):
            raise InvalidInputError(f"{where}: expected a mapping, got {type(entry).__name__}")
        unknown = set(entry) - _FEED_CONFIG_KEYS
        if unknown:
            raise InvalidInputError(f"{where}: unknown keys {sorted(unknown)}")
        url = entry.get("url")
        if not isinstance(url, str):
            raise InvalidInputError(f"{where}.url: missing or not a string")
        try:
            url = require_http_url(url.strip())
        except InvalidInputError as exc:
            raise InvalidInputError(f"{where}.url: {exc}") from None
        if url in seen:
            raise InvalidInputError(f"{where}.url: {url} is listed twice")
        seen.add(url)
        title = entry.get("title")
        if not isinstance(title, str) or not title.strip():
            raise InvalidInputError(f"{where}.title: missing or empty")
        licence = entry.get("default_licence")
        if licence is not None and (
            not isinstance(licence, str) or recognise_licence_string(licence) is None
        ):
            raise InvalidInputError(f"{where}.default_licence: unknown licence {licence!r}")
        max_new = _int_field(entry, "max_new_items_per_tick", 5, 1, 1000, where)
        poll = _int_field(entry, "poll_interval_s", 3600, MIN_POLL_INTERVAL_S, 7 * 86400, where)
        out.append(FeedConfig(url, title.strip(), licence, max_new, poll))
    return out


def _int_field(
    entry: Mapping[str, Any], key: str, default: int, lo: int, hi: int, where: str
) -> int:
    value = entry.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise InvalidInputError(f"{where}.{key}: expected an integer in {lo}..{hi}, got {value!r}")
    return value


def require_http_url(url: str) -> str:
    """Return ``url`` if it is an absolute http(s) URL with a host, else raise InvalidInputError."""
    if not isinstance(url, str) or not url:
        raise InvalidInputError("URL is empty")
    if any(c in url for c in "\x00\r\n\t "):
        raise InvalidInputError(f"URL {url!r} contains whitespace or control characters")
    parts = urlsplit(url)
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        raise InvalidInputError(f"URL {url!r}: scheme {parts.scheme or '(none)'!r} is not http(s)")
    if not parts.hostname:
        raise InvalidInputError(f"URL {url!r} has no host")
    return url


# ------------------------------------------------------------------------------------------
# Fetching


@dataclass(frozen=True)
class FetchResult:
    """Outcome of :func:`fetch_feed`.

    Attributes:
        status: 200 (``body`` holds the feed) or 304 (not modified; ``body`` is empty).
        body: the raw feed bytes.
        etag: the ETag to send next time (the server's, or the one sent when a 304 omits it).
        modified: the Last-Modified value to send next time, likewise.
        url: the final URL after redirects (use it as ``base_url`` for :func:`parse_feed`).
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
    timeout: float = 30.0,
    max_bytes: int = DEFAULT_MAX_FEED_BYTES,
    session: requests.Session | None = None,
) -> FetchResult:
    """Conditionally GET a feed.

    Sends ``If-None-Match``/``If-Modified-Since`` when ``etag``/``modified`` are given. Streams the
    body and stops as soon as more than ``max_bytes`` (decoded) bytes arrived, whatever
    Content-Length said. ``timeout`` applies to connecting and to each read.

    Raises:
        InvalidInputError: ``url`` (or a redirect target) is not http(s).
        FeedTooLargeError: the body is larger than ``max_bytes``.
        FeedError: connection failure, timeout, or an HTTP status other than 200/304.
    """
    require_http_url(url)
    if max_bytes <= 0:
        raise InvalidInputError(f"max_bytes must be positive, got {max_bytes}")
    headers = {
        "User-Agent": USER_AGENT,
        "Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1",
    }
    if etag:
        headers["If-None-Match"] = etag
    if modified:
        headers["If-Modified-Since"] = modified
    http = session or requests
    try:
        resp = http.get(url, headers=headers, timeout=timeout, stream=True, allow_redirects=True)
    except requests.exceptions.InvalidSchema as exc:
        raise InvalidInputError(f"{url}: redirected to a non-http(s) URL: {exc}") from exc
    except requests.RequestException as exc:
        raise FeedError(url, f"request failed: {exc}") from exc
    with resp:
        final_url = resp.url or url
        try:
            require_http_url(final_url)
        except InvalidInputError as exc:
            raise InvalidInputError(f"{url}: redirected to {final_url!r}: {exc}") from None
        new_etag = resp.headers.get("ETag") or etag
        new_modified = resp.headers.get("Last-Modified") or modified
        if resp.status_code == 304:
            return FetchResult(
                304, b"", new_etag, new_modified, final_url, resp.headers.get("Content-Type")
            )
        if resp.status_code != 200:
            raise FeedError(url, f"HTTP {resp.status_code} {resp.reason or ''}".strip())
        declared = resp.headers.get("Content-Length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            raise FeedTooLargeError(
                url, f"Content-Length {declared} exceeds limit {max_bytes} bytes"
            )
        buf = bytearray()
        try:
            for chunk in resp.iter_content(chunk_size=64 * 1024):
                buf += chunk
                if len(buf) > max_bytes:
                    raise FeedTooLargeError(url, f"body exceeds limit {max_bytes} bytes")
        except requests.RequestException as exc:
            raise FeedError(url, f"reading body failed: {exc}") from exc
        return FetchResult(
            200, bytes(buf), new_etag, new_modified, final_url, resp.headers.get("Content-Type")
        )


# ------------------------------------------------------------------------------------------
# Parsing


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


class _NullHandler(xml.sax.handler.ContentHandler):
    pass


_LEXICAL_DANGER = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


def assert_safe_xml(body: bytes, source: str = "feed") -> bool:
    """Reject XML with a DTD, entity declarations or external references.

    Returns True if the body is well-formed XML, False if it is not well-formed but carries no
    DTD/ENTITY declaration (lexical check). See the module docstring for the reasoning.

    Raises:
        FeedSecurityError: a DTD, entity declaration or external reference was found.
    """
    try:
        defusedxml.sax.parseString(
            body, _NullHandler(), forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except defusedxml.DefusedXmlException as exc:
        raise FeedSecurityError(
            source, f"unsafe XML rejected ({type(exc).__name__}: {exc})"
        ) from exc
    except xml.sax.SAXException:
        stripped = body.replace(b"\x00", b"")
        if _LEXICAL_DANGER.search(stripped):
            raise FeedSecurityError(
                source, "malformed XML with a DOCTYPE/ENTITY declaration rejected"
            ) from None
        return False
    return True


_ITEM_FIELDS_TEXT = {
    "guid",
    "id",
    "duration",
    "episode",
    "season",
    "explicit",
    "episodetype",
    "license",
    "author",
}
_ITEM_FIELDS_ATTR = {"transcript", "chapters", "license"}


@dataclass
class _RawItem:
    text: dict[str, str] = field(default_factory=dict)
    transcripts: list[tuple[str, str | None]] = field(default_factory=list)
    chapters_url: str | None = None
    license_url: str | None = None
    has_guid: bool = False


class _RawCollector(xml.sax.handler.ContentHandler):
    """Second pass: raw per-item values feedparser does not keep (namespaces off, local names).

    Records the first occurrence of selected direct children of each ``item``/``entry`` and of
    the channel/feed element, keyed by local name (prefix dropped), so it works with undeclared
    prefixes too.
    """

    def __init__(self) -> None:
        super().__init__()
        self.items: list[_RawItem] = []
        self.channel = _RawItem()
        self._stack: list[str] = []
        self._item_depth: int | None = None
        self._channel_depth: int | None = None
        self._text: list[str] | None = None
        self._text_key: str | None = None
        self._text_target: _RawItem | None = None

    @staticmethod
    def _local(name: str) -> str:
        return name.rsplit(":", 1)[-1].lower()

    def startElement(self, name: str, attrs: Any) -> None:
        local = self._local(name)
        depth = len(self._stack)
        self._stack.append(local)
        if (
            self._item_depth is None
            and local in ("item", "entry")
            and name.count(":") <= 1
            and (":" not in name or name.split(":")[0] in ("atom", "rss", "rdf", ""))
        ):
            self._item_depth = depth
            self.items.append(_RawItem())
            return
        if (
            self._channel_depth is None
            and local in ("channel", "feed")
            and self._item_depth is None
        ):
            self._channel_depth = depth
            return
        if self._item_depth is not None and depth == self._item_depth + 1:
            target: _RawItem | None = self.items[-1]
        elif (
            self._item_depth is None
            and self._channel_depth is not None
            and depth == self._channel_depth + 1
        ):
            target = self.channel
        else:
            target = None
        if target is None:
            return
        if local == "transcript" and attrs.get("url"):
            target.transcripts.append((attrs.get("url"), attrs.get("type")))
        elif local == "chapters" and attrs.get("url") and target.chapters_url is None:
            target.chapters_url = attrs.get("url")
        if local == "license" and attrs.get("url") and target.license_url is None:
            target.license_url = attrs.get("url")
        if local in _ITEM_FIELDS_TEXT and local not in target.text:
            if local == "guid" and ":" in name:  # podcast:guid is the channel's, not an item GUID
                return
            self._text, self._text_key, self._text_target = [], local, target

    def characters(self, content: str) -> None:
        if self._text is not None:
            self._text.append(content)

    def endElement(self, name: str) -> None:
        depth = len(self._stack) - 1
        self._stack.pop()
        if (
            self._text is not None
            and self._text_target is not None
            and self._text_key is not None
            and self._local(name) == self._text_key
        ):
            self._text_target.text.setdefault(self._text_key, "".join(self._text).strip())
            if self._text_key in ("guid", "id"):
                self._text_target.has_guid = True
            self._text = self._text_key = self._text_target = None
        if self._item_depth is not None and depth == self._item_depth:
            self._item_depth = None
        if self._channel_depth is not None and depth == self._channel_depth:
            self._channel_depth = None


def _collect_raw(body: bytes) -> _RawCollector:
    collector = _RawCollector()
    defusedxml.sax.parseString(
        body, collector, forbid_dtd=True, forbid_entities=True, forbid_external=True
    )
    return collector


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


def _absolute_http(url: str | None, base_url: str) -> tuple[str | None, str | None]:
    """(absolute url, None) or (None, reason)."""
    if url is None or not url.strip():
        return None, "empty URL"
    text = url.strip()
    if any(ord(c) < 32 for c in text):
        return None, f"URL {text!r} contains control characters"
    absolute = urljoin(base_url, text) if base_url else text
    parts = urlsplit(absolute)
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        return (
            None,
            f"URL {absolute!r} has scheme {parts.scheme or '(none)'!r}, only http(s) allowed",
        )
    if not parts.hostname:
        return None, f"URL {absolute!r} has no host"
    return absolute, None


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


def parse_feed(body: bytes, base_url: str) -> ParsedFeed:
    """Safely parse an RSS/Atom feed body into items (see the module docstring).

    Args:
        body: raw bytes as fetched (encoding detected from the XML declaration/BOM).
        base_url: the feed's URL; relative enclosure/transcript/chapter URLs are resolved
            against it. Only http(s) results are kept.

    Raises:
        FeedSecurityError: the body has a DTD, entity declarations or external references.
        FeedParseError: the body is empty or not a feed at all.
    """
    if not isinstance(body, (bytes, bytearray)):
        raise InvalidInputError(f"feed body must be bytes, got {type(body).__name__}")
    body = bytes(body)
    if not body.strip():
        raise FeedParseError(base_url, "empty feed body")
    well_formed = assert_safe_xml(body, base_url)
    raw = _collect_raw(body) if well_formed else None

    # No Content-Location: feedparser must not resolve GUIDs as URLs; we resolve URLs ourselves.
    parsed = feedparser.parse(io.BytesIO(body), response_headers={})
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

    raw_items: list[_RawItem | None]
    if raw is not None and len(raw.items) == len(entries):
        raw_items = list(raw.items)
        channel = raw.channel
    else:
        raw_items = [None] * len(entries)
        channel = raw.channel if raw is not None else _RawItem()

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
                SkippedItem(index, reason or "no enclosure", guid or None, title or None)
            )
            continue
        fallback = not guid
        identity = guid or enc["url"]
        if identity in seen:
            skipped.append(
                SkippedItem(index, f"duplicate guid {identity!r} in feed", identity, title or None)
            )
            continue
        seen.add(identity)

        def raw_text(
            key: str, fp_key: str, raw_item: _RawItem | None = raw_item, entry: Any = entry
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
            for t_url, t_type in raw_item.transcripts:
                absolute, _ = _absolute_http(t_url, base_url)
                if absolute is not None and all(absolute != u for u, _ in transcripts):
                    transcripts.append((absolute, (t_type or "").strip() or None))
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


# ------------------------------------------------------------------------------------------
# Selecting new items and the sensor cursor


def _sort_key(indexed: tuple[int, FeedItem]) -> tuple[int, str, int]:
    index, item = indexed
    # Undated items sort as oldest, in reverse document order (feeds list newest first).
    return (1 if item.published else 0, item.published or "", -index)


def new_items(parsed: ParsedFeed, seen_guids: Iterable[str], max_new: int) -> list[FeedItem]:
    """Unseen items, oldest first, at most ``max_new`` (the backfill cap).

    Items are ordered by ``published``; undated items count as older than dated ones and keep
    reverse document order (feeds list the newest first). With a cap, the *oldest* unseen items
    are returned so a backfill proceeds in order across ticks.
    """
    if max_new < 0:
        raise InvalidInputError(f"max_new must be >= 0, got {max_new}")
    seen = set(seen_guids)
    unseen = [(i, item) for i, item in enumerate(parsed.items) if item.guid not in seen]
    unseen.sort(key=_sort_key)
    return [item for _, item in unseen[:max_new]]


@dataclass
class FeedCursorState:
    """Per-feed cursor state: validators for the next conditional GET and seen GUIDs (oldest
    first, bounded)."""

    etag: str | None = None
    modified: str | None = None
    seen_guids: list[str] = field(default_factory=list)

    def mark_seen(self, guids: Iterable[str], limit: int = DEFAULT_SEEN_LIMIT) -> None:
        """Append ``guids`` (skipping ones already present) and keep only the last ``limit``."""
        present = set(self.seen_guids)
        for g in guids:
            if g not in present:
                self.seen_guids.append(g)
                present.add(g)
        if len(self.seen_guids) > limit:
            del self.seen_guids[: len(self.seen_guids) - limit]


def encode_cursor(
    states: Mapping[str, FeedCursorState], *, seen_limit: int = DEFAULT_SEEN_LIMIT
) -> str:
    """Serialise per-feed-URL cursor states to compact, deterministic JSON.

    Only the last ``seen_limit`` GUIDs per feed are kept (Dagster cursors are stored per tick, so
    they must stay bounded; an item dropped from the window that is still in the feed would be
    seen again, so keep the limit well above a feed's length).
    """
    payload = {
        "v": CURSOR_VERSION,
        "feeds": {
            url: {
                "etag": s.etag,
                "modified": s.modified,
                "seen": list(s.seen_guids[-seen_limit:]) if seen_limit > 0 else [],
            }
            for url, s in sorted(states.items())
        },
    }
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=True)


def decode_cursor(cursor: str | None) -> dict[str, FeedCursorState]:
    """Parse :func:`encode_cursor` output; ``None``/empty gives an empty state.

    Raises:
        InvalidInputError: not valid cursor JSON of a known version.
    """
    if not cursor:
        return {}
    try:
        payload = json.loads(cursor)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"feed cursor is not JSON: {exc}") from exc
    if (
        not isinstance(payload, dict)
        or payload.get("v") != CURSOR_VERSION
        or not isinstance(payload.get("feeds"), dict)
    ):
        raise InvalidInputError(f"feed cursor has unknown format/version: {str(cursor)[:100]!r}")
    out: dict[str, FeedCursorState] = {}
    for url, s in payload["feeds"].items():
        if not isinstance(s, dict):
            raise InvalidInputError(f"feed cursor entry for {url!r} is not an object")
        etag, modified, seen = s.get("etag"), s.get("modified"), s.get("seen", [])
        if not (etag is None or isinstance(etag, str)) or not (
            modified is None or isinstance(modified, str)
        ):
            raise InvalidInputError(f"feed cursor entry for {url!r}: etag/modified must be strings")
        if not isinstance(seen, list) or not all(isinstance(g, str) for g in seen):
            raise InvalidInputError(
                f"feed cursor entry for {url!r}: seen must be a list of strings"
            )
        out[url] = FeedCursorState(etag, modified, list(seen))
    return out


__all__: Sequence[str] = (
    "FeedConfig",
    "FeedCursorState",
    "FeedError",
    "FeedItem",
    "FeedParseError",
    "FeedSecurityError",
    "FeedTooLargeError",
    "FetchResult",
    "ParsedFeed",
    "SkippedItem",
    "assert_safe_xml",
    "decode_cursor",
    "encode_cursor",
    "fetch_feed",
    "load_feed_configs",
    "new_items",
    "parse_duration",
    "parse_feed",
    "require_http_url",
)

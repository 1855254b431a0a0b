"""The operator's feeds file: which feeds to ingest, with what licence, cap and interval."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from media_platform.errors import InvalidInputError
from media_platform.ingest.http import ALLOWED_SCHEMES, redact_url


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

    @property
    def feed_id(self) -> str:
        """A stable name of the feed that reveals nothing of its URL (cursor keys, stored rows)."""
        return feed_id(self.url)

    @property
    def display_url(self) -> str:
        """The URL as it may be logged or stored: without user info, query or fragment."""
        return redact_url(self.url)


def feed_id(url: str) -> str:
    """``"feed-"`` plus 16 hex digits of SHA-256 over the full feed URL."""
    return "feed-" + hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()[:16]


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
            raise InvalidInputError(f"{where}.url: {redact_url(url)} is listed twice")
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
    """Return ``url`` if it is an absolute http(s) URL with a host, else raise InvalidInputError
    (naming the URL redacted: feed URLs may carry tokens)."""
    if not isinstance(url, str) or not url:
        raise InvalidInputError("URL is empty")
    shown = redact_url(url)
    if any(c in url for c in "\x00\r\n\t "):
        raise InvalidInputError(f"URL {shown!r} contains whitespace or control characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError as exc:
        raise InvalidInputError(f"URL {shown!r} is malformed: {exc}") from None
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        raise InvalidInputError(f"URL {shown!r}: scheme {parts.scheme or '(none)'!r} is not http(s)")
    if not parts.hostname:
        raise InvalidInputError(f"URL {shown!r} has no host")
    return url


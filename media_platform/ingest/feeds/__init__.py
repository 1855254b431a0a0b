"""Podcast/RSS feed ingestion, one module per job:

* :mod:`.config`: the operator's feeds file (:func:`load_feed_configs`, :class:`FeedConfig`).
* :mod:`.fetch`: one conditional GET through the safe HTTP client (:func:`fetch_feed`).
* :mod:`.xml_safety`: no DTD, entity or external reference, bounded nesting
  (:func:`assert_safe_xml`).
* :mod:`.parsing` (with :mod:`.raw` and :mod:`.model`): the body into items
  (:func:`parse_feed`); :mod:`.isolation` bounds it with a deadline (:func:`parse_feed_within`).
* :mod:`.cursor`: which items are new (:func:`new_items`) and the per-feed cursor state.
* :mod:`.schedule`: the RSS sensor's cursor, back-off and rotation.

The public names are re-exported here.
"""

from media_platform.ingest.feeds.config import (
    MIN_POLL_INTERVAL_S,
    FeedConfig,
    feed_id,
    load_feed_configs,
    require_http_url,
)
from media_platform.ingest.feeds.cursor import (
    CURSOR_VERSION,
    DEFAULT_SEEN_LIMIT,
    FeedCursorState,
    decode_cursor,
    encode_cursor,
    new_items,
)
from media_platform.ingest.feeds.errors import (
    FeedError,
    FeedParseError,
    FeedSecurityError,
    FeedTimeoutError,
    FeedTooLargeError,
)
from media_platform.ingest.feeds.fetch import (
    DEFAULT_FETCH_TIMEOUT_S,
    DEFAULT_MAX_FEED_BYTES,
    USER_AGENT,
    FetchResult,
    fetch_feed,
)
from media_platform.ingest.feeds.isolation import parse_feed_within
from media_platform.ingest.feeds.model import FeedItem, ItemType, ParsedFeed, SkippedItem
from media_platform.ingest.feeds.parsing import parse_duration, parse_feed
from media_platform.ingest.feeds.xml_safety import MAX_XML_DEPTH, assert_safe_xml
from media_platform.ingest.http import ALLOWED_SCHEMES

__all__ = [
    "ALLOWED_SCHEMES",
    "CURSOR_VERSION",
    "DEFAULT_FETCH_TIMEOUT_S",
    "DEFAULT_MAX_FEED_BYTES",
    "DEFAULT_SEEN_LIMIT",
    "MAX_XML_DEPTH",
    "MIN_POLL_INTERVAL_S",
    "USER_AGENT",
    "FeedConfig",
    "FeedCursorState",
    "FeedError",
    "FeedItem",
    "FeedParseError",
    "FeedSecurityError",
    "FeedTimeoutError",
    "FeedTooLargeError",
    "FetchResult",
    "ItemType",
    "ParsedFeed",
    "SkippedItem",
    "assert_safe_xml",
    "decode_cursor",
    "encode_cursor",
    "feed_id",
    "fetch_feed",
    "load_feed_configs",
    "new_items",
    "parse_duration",
    "parse_feed",
    "parse_feed_within",
    "require_http_url",
]

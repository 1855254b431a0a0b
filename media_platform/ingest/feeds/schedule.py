"""The RSS sensor's memory between ticks, and its schedule: which feed is due (polling interval,
exponential back-off after failures) and where the next tick starts (rotation).

Pure: the sensor (``sensors/rss.py``) decodes the cursor, asks what is due, and encodes it back.
Every map is keyed by :func:`~media_platform.ingest.feeds.config.feed_id` (a hash of the feed
URL), never by the URL, which may carry a token.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from media_platform.errors import InvalidInputError
from media_platform.ingest.cursor_json import parse_cursor_json
from media_platform.ingest.feeds.config import FeedConfig, feed_id
from media_platform.ingest.feeds.cursor import (
    CURSOR_VERSION,
    FeedCursorState,
    decode_cursor_payload,
    encode_cursor,
)

RSS_CURSOR_VERSION = 2
MAX_BACKOFF_S = 86400
"""Longest wait after consecutive failures of a feed (a day)."""




@dataclass
class RssCursor:
    """What the sensor remembers between ticks; every map is keyed by :func:`feed_id`."""

    states: dict[str, FeedCursorState] = field(default_factory=dict)
    polled: dict[str, float] = field(default_factory=dict)
    backlog: set[str] = field(default_factory=set)
    failures: dict[str, int] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)
    start: str | None = None

    def forget_all_but(self, ids: set[str]) -> None:
        """Drop feeds that are no longer configured."""
        self.states = {k: v for k, v in self.states.items() if k in ids}
        self.polled = {k: v for k, v in self.polled.items() if k in ids}
        self.backlog &= ids
        self.failures = {k: v for k, v in self.failures.items() if k in ids}
        self.problems = {k: v for k, v in self.problems.items() if k in ids}
        if self.start not in ids:
            self.start = None


def encode_rss_cursor(cursor: RssCursor) -> str:
    """The sensor's cursor as compact JSON (version 2, keyed by feed id)."""
    return json.dumps(
        {
            "v": RSS_CURSOR_VERSION,
            "feeds": json.loads(encode_cursor(cursor.states)),
            "polled": {k: round(t, 3) for k, t in sorted(cursor.polled.items())},
            "backlog": sorted(cursor.backlog),
            "failures": dict(sorted(cursor.failures.items())),
            "problems": dict(sorted(cursor.problems.items())),
            "start": cursor.start,
        },
        separators=(",", ":"),
    )


def decode_rss_cursor(cursor: str | None) -> RssCursor:
    """Inverse of :func:`encode_rss_cursor`; ``None``/empty gives an empty cursor. A version 1
    cursor (keyed by full feed URL) is converted: its keys become feed ids.

    Raises:
        InvalidInputError: not a cursor of this sensor.
    """
    if not cursor:
        return RssCursor()
    payload = parse_cursor_json(cursor, "rss cursor", (1, RSS_CURSOR_VERSION))
    key = feed_id if payload["v"] == 1 else str
    feeds = payload.get("feeds")
    if not isinstance(feeds, dict) or feeds.get("v") != CURSOR_VERSION:
        raise InvalidInputError("rss cursor: feeds malformed")
    states = {key(k): s for k, s in decode_cursor_payload(feeds).items()}
    polled_raw = payload.get("polled") or {}
    backlog_raw = payload.get("backlog") or []
    failures_raw = payload.get("failures") or {}
    problems_raw = payload.get("problems") or {}
    if not all(isinstance(x, dict) for x in (polled_raw, failures_raw, problems_raw)) or not (
        isinstance(backlog_raw, list)
    ):
        raise InvalidInputError("rss cursor: polled/backlog/failures malformed")
    start = payload.get("start")
    return RssCursor(
        states=states,
        polled={key(k): float(t) for k, t in polled_raw.items() if isinstance(t, (int, float))},
        backlog={key(str(k)) for k in backlog_raw},
        failures={str(k): int(n) for k, n in failures_raw.items() if isinstance(n, int)},
        problems={str(k): str(p) for k, p in problems_raw.items()},
        start=start if isinstance(start, str) else None,
    )


def backoff_s(config: FeedConfig, failures: int) -> float:
    """How long after a failed poll the feed is tried again: its polling interval doubled per
    consecutive failure beyond the first, at most :data:`MAX_BACKOFF_S`."""
    if failures <= 0:
        return float(config.poll_interval_s)
    return float(min(config.poll_interval_s * 2 ** min(failures - 1, 20), MAX_BACKOFF_S))


def rotated(configs: list[FeedConfig], start: str | None) -> list[FeedConfig]:
    """The feeds in file order, starting with the one whose id is ``start``."""
    ids = [c.feed_id for c in configs]
    if start not in ids:
        return list(configs)
    i = ids.index(start)
    return configs[i:] + configs[:i]

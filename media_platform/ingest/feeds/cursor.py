"""Which items are new, and the per-feed cursor state (validators and seen GUIDs) with its codec."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from media_platform.errors import InvalidInputError
from media_platform.ingest.cursor_json import parse_cursor_json
from media_platform.ingest.feeds.model import FeedItem, ParsedFeed

CURSOR_VERSION = 1
DEFAULT_SEEN_LIMIT = 5000
MAX_SEEN_CHARS = 256 * 1024
"""Characters of seen GUIDs kept per feed (the newest first): with identities capped at
:data:`~media_platform.ingest.feeds.model.MAX_GUID_CHARS`, at least 500 of them."""
MAX_VALIDATOR_CHARS = 1024
"""A longer ETag/Last-Modified is not kept (the next request is then unconditional)."""


def _bounded(guids: list[str], limit: int) -> list[str]:
    """The last ``limit`` GUIDs, fewer when they hold more than :data:`MAX_SEEN_CHARS`."""
    kept = guids[-limit:] if limit > 0 else []
    total, start = 0, len(kept)
    while start > 0 and total + len(kept[start - 1]) <= MAX_SEEN_CHARS:
        start -= 1
        total += len(kept[start])
    return kept[start:]


def _validator(value: str | None) -> str | None:
    return value if value is None or len(value) <= MAX_VALIDATOR_CHARS else None


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
        self.seen_guids[:] = _bounded(self.seen_guids, limit)


def encode_cursor(
    states: Mapping[str, FeedCursorState], *, seen_limit: int = DEFAULT_SEEN_LIMIT
) -> str:
    """Serialise per-feed-URL cursor states to compact, deterministic JSON.

    Only the last ``seen_limit`` GUIDs per feed are kept, at most :data:`MAX_SEEN_CHARS` of
    them, and validators longer than :data:`MAX_VALIDATOR_CHARS` are dropped (Dagster cursors are stored per tick, so
    they must stay bounded; an item dropped from the window that is still in the feed would be
    seen again, so keep the limit well above a feed's length).
    """
    payload = {
        "v": CURSOR_VERSION,
        "feeds": {
            url: {
                "etag": _validator(s.etag),
                "modified": _validator(s.modified),
                "seen": _bounded(list(s.seen_guids), seen_limit),
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
    return decode_cursor_payload(parse_cursor_json(cursor, "feed cursor", (CURSOR_VERSION,)))


def decode_cursor_payload(payload: dict[str, Any]) -> dict[str, FeedCursorState]:
    """The per-feed states of an already parsed :func:`encode_cursor` object."""
    if not isinstance(payload.get("feeds"), dict):
        raise InvalidInputError("feed cursor has no feeds object")
    out: dict[str, FeedCursorState] = {}
    for number, (url, s) in enumerate(payload["feeds"].items()):
        if not isinstance(s, dict):
            raise InvalidInputError(f"feed cursor entry {number} is not an object")
        etag, modified, seen = s.get("etag"), s.get("modified"), s.get("seen", [])
        if not (etag is None or isinstance(etag, str)) or not (
            modified is None or isinstance(modified, str)
        ):
            raise InvalidInputError(f"feed cursor entry {number}: etag/modified must be strings")
        if not isinstance(seen, list) or not all(isinstance(g, str) for g in seen):
            raise InvalidInputError(f"feed cursor entry {number}: seen must be a list of strings")
        out[url] = FeedCursorState(etag, modified, list(seen))
    return out



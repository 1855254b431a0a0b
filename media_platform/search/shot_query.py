"""Finding shots: the parameters of a shot search, its cursor, its order and diversification.

Pure and typed: no web framework here. The search API (``media_platform.api.search_routes``)
turns request parameters into a :class:`ShotQuery` and calls these functions.

Two orders:

* **browse** (no text; :class:`media_platform.search.shot_table.ShotTable`): shots ordered by tag score (the lowest score among the requested tags;
  with no tag, the shot's best tag score, 0 when it has none), then by time (start), then by
  partition and shot number so that the order is total. Pagination is a keyset cursor.
* **similarity** (text, or a shot's image vector): the vector index's order (cosine, best
  first). Pagination is an offset into the diversified list.

Diversification: at most ``per_episode`` shots of one episode over the *whole* result list
(the best ones of that episode in the list's order), so that one title does not fill the
pages; 0 means no cap. The cursor carries a fingerprint of the query, so a cursor is only
accepted back with the query that made it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from media_platform.errors import InvalidInputError
from media_platform.keys import printable, require_text

#: The longest duration a filter accepts (a week).
MAX_DURATION_S = 7 * 24 * 3600.0
MAX_LIMIT = 200
DEFAULT_LIMIT = 20
DEFAULT_PER_EPISODE = 3
MAX_TAGS = 16
#: ``markers=``: leave out (default) or keep the shots inside intro, recap, credits or preview markers.
MARKER_MODES = ("exclude", "include")
#: The most index hits one page may read (deep pages of a capped search stop there).
MAX_HITS = 20_000
_DURATION = re.compile(
    r"(?:(?P<h>\d+(?:\.\d+)?)h)?(?:(?P<m>\d+(?:\.\d+)?)m)?(?:(?P<s>\d+(?:\.\d+)?)s)?"
)
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_CURSOR_VERSION = 1


class ParameterError(InvalidInputError):
    """A request parameter is invalid: ``parameter`` names it, ``problem`` says why."""

    def __init__(self, parameter: str, problem: str) -> None:
        super().__init__(f"{parameter}: {problem}")
        self.parameter = parameter
        self.problem = problem


def parse_duration(text: str, parameter: str = "duration") -> float:
    """Seconds from ``90``, ``1.5``, ``5s``, ``1m30s``, ``2h``, ``1h2m3.5s``.

    Raises:
        ParameterError: anything else, or more than :data:`MAX_DURATION_S`.
    """
    try:
        require_text(text, parameter, max_length=40)
    except InvalidInputError as exc:
        raise ParameterError(parameter, str(exc).removeprefix(f"{parameter}: ")) from None
    value = text.strip().lower()
    shown = printable(text)
    if _NUMBER.fullmatch(value):
        seconds = float(value)
    else:
        match = _DURATION.fullmatch(value)
        if not value or match is None or not any(match.groupdict().values()):
            raise ParameterError(
                parameter, f"{shown!r} is not a duration; use seconds (90, 1.5) or 5s, 1m30s, 1h2m"
            )
        parts = match.groupdict()
        seconds = sum(float(parts[u] or 0) * k for u, k in (("h", 3600), ("m", 60), ("s", 1)))
    if not math.isfinite(seconds) or seconds > MAX_DURATION_S:
        raise ParameterError(parameter, f"{shown!r} is longer than {MAX_DURATION_S:g} s")
    return seconds


@dataclass(frozen=True)
class ShotFilters:
    """What a shot must match: every tag in ``tags``, a duration within the bounds, one of
    ``partitions`` (None: any), episodes of ``title`` (None: any), none of ``exclude``; and
    ``markers``: ``exclude`` (default) leaves out the shots inside an intro, recap, credits or
    preview-of-next marker (material repeated across a series' episodes), ``include`` keeps them."""

    tags: tuple[str, ...] = ()
    min_duration_s: float | None = None
    max_duration_s: float | None = None
    partitions: tuple[str, ...] | None = None
    title: str | None = None
    exclude: tuple[str, ...] = ()
    markers: str = "exclude"

    def __post_init__(self) -> None:
        if self.markers not in MARKER_MODES:
            raise ParameterError("markers", f"{printable(str(self.markers))!r}: use {' or '.join(MARKER_MODES)}")
        if len(self.tags) > MAX_TAGS:
            raise ParameterError("tag", f"at most {MAX_TAGS} tags")
        lo, hi = self.min_duration_s, self.max_duration_s
        if lo is not None and hi is not None and lo > hi:
            raise ParameterError("max_duration", f"{hi:g} s is shorter than min_duration {lo:g} s")

    def with_exclusions(self, partitions: Iterable[str]) -> ShotFilters:
        extra = tuple(sorted(set(self.exclude) | set(partitions)))
        return ShotFilters(self.tags, self.min_duration_s, self.max_duration_s, self.partitions, self.title, extra,
                           self.markers)


@dataclass(frozen=True)
class ShotQuery:
    """One shot search: ``text`` (None: browse), filters, page size and the per-episode cap."""

    text: str | None = None
    filters: ShotFilters = field(default_factory=ShotFilters)
    limit: int = DEFAULT_LIMIT
    per_episode: int = DEFAULT_PER_EPISODE

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_LIMIT:
            raise ParameterError("limit", f"must be from 1 to {MAX_LIMIT}, got {self.limit}")
        if not 0 <= self.per_episode <= 10_000:
            raise ParameterError("per_episode", f"must be from 0 (no cap) to 10000, got {self.per_episode}")

    def fingerprint(self, kind: str) -> str:
        """A short hash of everything that decides the order (not the page size)."""
        f = self.filters
        canon = json.dumps(
            [kind, self.text, list(f.tags), f.min_duration_s, f.max_duration_s,
             None if f.partitions is None else list(f.partitions), f.title, self.per_episode, f.markers],
            separators=(",", ":"),
        )
        return hashlib.sha256(canon.encode()).hexdigest()[:16]


# ---- cursors --------------------------------------------------------------------------------


def encode_cursor(fingerprint: str, position: Mapping[str, Any]) -> str:
    """An opaque cursor: the query's fingerprint and where the next page starts."""
    raw = json.dumps({"v": _CURSOR_VERSION, "q": fingerprint, **position}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, fingerprint: str) -> dict[str, Any]:
    """The position in ``cursor``; ParameterError("cursor", ...) when it is malformed or was made
    by another query."""
    if not isinstance(cursor, str) or not cursor or len(cursor) > 2000:
        raise ParameterError("cursor", "malformed (use the next_cursor of a previous page)")
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ParameterError("cursor", "malformed (use the next_cursor of a previous page)") from None
    if not isinstance(data, dict) or data.get("v") != _CURSOR_VERSION:
        raise ParameterError("cursor", "malformed (use the next_cursor of a previous page)")
    if data.get("q") != fingerprint:
        raise ParameterError("cursor", "belongs to another query (the parameters changed)")
    return data


def browse_position(cursor: str | None, fingerprint: str) -> tuple[float, float, str, int] | None:
    """The keyset (score, start, partition, shot) after which a browse page starts."""
    if cursor is None:
        return None
    data = decode_cursor(cursor, fingerprint)
    key = data.get("k")
    if (
        not isinstance(key, list) or len(key) != 4
        or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in key[:2])
        or not isinstance(key[2], str) or not isinstance(key[3], int) or isinstance(key[3], bool)
    ):
        raise ParameterError("cursor", "malformed (use the next_cursor of a previous page)")
    return float(key[0]), float(key[1]), key[2], key[3]


def offset_position(cursor: str | None, fingerprint: str) -> int:
    """The offset at which a similarity page starts."""
    if cursor is None:
        return 0
    offset = decode_cursor(cursor, fingerprint).get("o")
    if not isinstance(offset, int) or isinstance(offset, bool) or not 0 <= offset <= 100_000:
        raise ParameterError("cursor", "malformed (use the next_cursor of a previous page)")
    return offset


# ---- browse ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RankedShot:
    """One shot in a result order: where it is, and its score in that order."""

    partition: str
    shot: int
    score: float
    start: float = 0.0

    @property
    def shot_id(self) -> str:
        """The metadata database's ``shot_id`` (``partition/shot``)."""
        return f"{self.partition}/{self.shot}"


def browse_page(shots: Sequence[RankedShot], query: ShotQuery, fingerprint: str) -> tuple[list[RankedShot], str | None]:
    """The page (at most ``limit`` shots) from up to ``limit + 1`` shots in browse order, and the
    cursor of the next page (None when there is no further shot)."""
    page = list(shots[: query.limit])
    if len(shots) <= query.limit or not page:
        return page, None
    last = page[-1]
    return page, encode_cursor(fingerprint, {"k": [last.score, last.start, last.partition, last.shot]})


# ---- similarity: the vector index's hits ------------------------------------------------------


def diversify(shots: Iterable[RankedShot], per_episode: int) -> list[RankedShot]:
    """``shots`` in their order, keeping at most ``per_episode`` of each partition (0: all)."""
    if per_episode <= 0:
        return list(shots)
    seen: dict[str, int] = {}
    out = []
    for s in shots:
        n = seen.get(s.partition, 0)
        if n < per_episode:
            seen[s.partition] = n + 1
            out.append(s)
    return out


def similarity_page(
    ranked: Sequence[RankedShot], offset: int, query: ShotQuery, fingerprint: str, exhausted: bool
) -> tuple[list[RankedShot], str | None]:
    """The page at ``offset`` of the diversified list ``ranked`` and the next cursor.

    ``exhausted``: ``ranked`` holds every match (the index returned fewer hits than asked), so
    no cursor is given past its end."""
    page = list(ranked[offset : offset + query.limit])
    end = offset + len(page)
    more = len(ranked) > end or (not exhausted and len(page) == query.limit)
    return page, (encode_cursor(fingerprint, {"o": end}) if more and page else None)


def ranked_similar(
    search: Callable[[int], Sequence[RankedShot]], query: ShotQuery, offset: int
) -> tuple[list[RankedShot], bool]:
    """The diversified similarity list, long enough for the page at ``offset``, and whether it
    holds every match. ``search(n)`` returns the ``n`` best matches (fewer when there are no
    more), best first; it is asked again for more while the cap leaves the page short.
    Diversifying a longer list of the same order only appends, so pages stay consistent."""
    attempt = 0
    while True:
        n = hits_needed(offset, query.limit, query.per_episode, attempt)
        hits = list(search(n))
        exhausted = len(hits) < n
        ranked = diversify(hits, query.per_episode)
        if exhausted or len(ranked) > offset + query.limit or n >= MAX_HITS:
            return ranked, exhausted
        attempt += 1


def hits_needed(offset: int, limit: int, per_episode: int, attempt: int) -> int:
    """How many index hits to ask for on the ``attempt``-th try (0, 1, ...) to fill a page at
    ``offset``: one more than the page's end, times 4 per try when a cap may discard hits."""
    base = offset + limit + 1
    if per_episode <= 0 and attempt == 0:
        return base
    return min(max(base * 4 ** (attempt + 1), 64), MAX_HITS)

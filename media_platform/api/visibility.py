"""Which episodes may appear in an API response: the one rule every route calls.

An episode (and everything of it: shots, tags, transcript, files, its title) may appear only if
search indexing is allowed by

1. the metadata database (``dim_episodes.allows_search_indexing``, decided by the licence
   policy when the catalogue was exported), and
2. the licence in force *now*: the catalogue row and the operator's current ``licences.yaml``
   (:func:`media_platform.licences.episodes.licence_in_force`), asked of the one policy
   (:func:`media_platform.licences.policy.refusal_reason`) for the asset that gates search
   indexing (``shot_index``). An edit of ``licences.yaml`` or an expiry thus hides an episode
   before the next metadata build.

An episode unknown to either, an unreadable licence or an unreadable operator file hides it.
Answers are cached per partition for :data:`TTL_S` seconds, so a withdrawal shows within that
time; the operator file is re-read at most once per :data:`TTL_S`.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from media_platform.catalogue.export import SEARCH_INDEXING_ASSET
from media_platform.errors import InvalidInputError

if TYPE_CHECKING:  # pragma: no cover
    import duckdb

    from media_platform.api.context import ApiContext
    from media_platform.catalogue.episode import Episode
    from media_platform.licences.model import Licence

TTL_S = 5.0
_DB_SQL = "select partition_key, allows_search_indexing from dim_episodes where list_contains($p, partition_key)"
_NOTHING: dict[str, Any] = {}


class Visibility:
    """Decides and caches which partitions may appear (see the module docstring).

    Args:
        metadata: a new read-only cursor on the metadata database.
        episodes: the catalogue rows of these partition keys (absent keys left out).
        operator_entries: the operator's licence entries (raises InvalidInputError when the
            file is unreadable).
        ttl_s: how long an answer is reused.
        clock, today: injectable for tests.
    """

    def __init__(
        self,
        metadata: Callable[[], duckdb.DuckDBPyConnection],
        episodes: Callable[[Sequence[str]], Mapping[str, Episode]],
        operator_entries: Callable[[], Mapping[str, Licence]],
        *,
        ttl_s: float = TTL_S,
        clock: Callable[[], float] = time.monotonic,
        today: Callable[[], dt.date] = dt.date.today,
    ) -> None:
        self._metadata = metadata
        self._episodes = episodes
        self._operator_entries = operator_entries
        self.ttl_s = ttl_s
        self._clock = clock
        self._today = today
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, bool]] = {}
        self._entries: tuple[float, Mapping[str, Licence] | None] | None = None

    def visible(self, partitions: Iterable[str]) -> set[str]:
        """The subset of ``partitions`` that may appear in a response."""
        wanted = set(partitions)
        now = self._clock()
        out: set[str] = set()
        missing: list[str] = []
        with self._lock:
            for p in wanted:
                hit = self._cache.get(p)
                if hit is not None and hit[0] > now:
                    if hit[1]:
                        out.add(p)
                else:
                    missing.append(p)
        if missing:
            decided = self._decide(sorted(missing))
            with self._lock:
                for p, ok in decided.items():
                    self._cache[p] = (now + self.ttl_s, ok)
            out.update(p for p, ok in decided.items() if ok)
        return out

    def is_visible(self, partition: str) -> bool:
        return partition in self.visible([partition])

    def hidden(self, partitions: Iterable[str]) -> set[str]:
        wanted = set(partitions)
        return wanted - self.visible(wanted)

    # ---- the decision --------------------------------------------------------------------

    def _decide(self, partitions: list[str]) -> dict[str, bool]:
        cursor = self._metadata()
        try:
            db = dict(cursor.execute(_DB_SQL, {"p": partitions}).fetchall())
        finally:
            cursor.close()
        entries = self._entries_now()
        today = self._today()
        wanted = [p for p in partitions if db.get(p)]
        rows = self._episodes(wanted) if wanted and entries is not None else {}
        return {p: p in rows and entries is not None and self._licence_allows(rows[p], entries, today)
                for p in partitions}

    def _entries_now(self) -> Mapping[str, Licence] | None:
        now = self._clock()
        with self._lock:
            if self._entries is not None and self._entries[0] > now:
                return self._entries[1]
        try:
            entries: Mapping[str, Licence] | None = self._operator_entries()
        except InvalidInputError:
            entries = None  # an unreadable operator file allows nothing (as the export decides)
        with self._lock:
            self._entries = (now + self.ttl_s, entries)
        return entries

    @staticmethod
    def _licence_allows(episode: Episode, entries: Mapping[str, Licence], today: dt.date) -> bool:
        from media_platform.licences.episodes import licence_in_force
        from media_platform.licences.policy import refusal_reason

        try:
            licence = licence_in_force(episode, entries)
        except InvalidInputError:
            return False
        return refusal_reason(licence, SEARCH_INDEXING_ASSET, today) is None


_REGISTRY_LOCK = threading.Lock()
_BATCH = 500


def catalogue_rows(store: Any) -> Callable[[Sequence[str]], dict[str, Episode]]:
    """A batch lookup of catalogue rows by partition key (one query per 500 keys)."""

    opened: list[Any] = []

    def rows(keys: Sequence[str]) -> dict[str, Episode]:
        import sqlalchemy as sa

        from media_platform.catalogue import Catalogue
        from media_platform.catalogue.database import catalogue_url, open_database
        from media_platform.catalogue.episode import Episode
        from media_platform.catalogue.schema import episodes as table

        if not opened:
            Catalogue(store)  # opens (creates, migrates) the catalogue as every reader does
            opened.append(True)
        db = open_database(catalogue_url(store))
        out: dict[str, Episode] = {}
        for lo in range(0, len(keys), _BATCH):
            query = sa.select(table).where(table.c.partition_key.in_(list(keys[lo:lo + _BATCH])))
            with db.errors(), db.engine.connect() as conn:
                for row in conn.execute(query).mappings():
                    episode = Episode.from_row(row)
                    out[episode.partition_key] = episode
        return out

    return rows


def visibility(ctx: ApiContext) -> Visibility:
    """The context's :class:`Visibility` (one per context, made on first use)."""
    with _REGISTRY_LOCK:
        found = ctx.__dict__.get("_search_visibility")
        if found is None:
            from media_platform.licences import load_operator_licences

            found = Visibility(ctx.metadata, catalogue_rows(ctx.store), load_operator_licences)
            ctx.__dict__["_search_visibility"] = found
        return found


def visible(ctx: ApiContext, partitions: Iterable[str]) -> set[str]:
    """The subset of ``partitions`` that may appear in a response (cached a few seconds)."""
    return visibility(ctx).visible(partitions)


def is_visible(ctx: ApiContext, partition: str) -> bool:
    """Whether ``partition`` may appear in a response; routes answer 404 when it may not."""
    return visibility(ctx).is_visible(partition)

"""The episode catalogue: one row per episode partition, in a transactional SQL database.

Every operation is one transaction on one row (found through the primary key or the unique
index of the content hash), so its cost does not grow with the number of episodes; listing is
by pages in key order. The database, not a lock file, decides conflicts: two writers of the same
key or the same content cannot both succeed, on one host or several (see ``database`` for where
the database is and how it is opened).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from media_platform.catalogue import legacy
from media_platform.catalogue.database import Database, catalogue_url, open_database
from media_platform.catalogue.episode import Episode
from media_platform.catalogue.errors import DuplicateContentError, PartitionKeyTakenError
from media_platform.catalogue.schema import episodes as EPISODES
from media_platform.storage import Store

PAGE_SIZE = 1000
_KEY = EPISODES.c.partition_key
_HASH = EPISODES.c.content_hash


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Catalogue:
    """Read and update the episode catalogue of a store.

    Opening it the first time in a process creates or migrates the database and imports a
    legacy ``catalogue/episodes.parquet`` from the store once (the file is kept as it is).

    Raises:
        CatalogueError: the database or the legacy file is corrupt or cannot be reached.
    """

    def __init__(self, store: Store, url: str | None = None) -> None:
        self.store = store
        self.url = url or catalogue_url(store)
        self._db: Database = open_database(self.url)
        legacy.import_once(self._db, store)

    @property
    def where(self) -> str:
        """The database file, or its URL without the password."""
        return self._db.where

    # ---- reads ------------------------------------------------------------------------------

    def _one(self, where: Any) -> Episode | None:
        with self._db.errors(), self._db.engine.connect() as conn:
            row = conn.execute(sa.select(EPISODES).where(where)).mappings().first()
        return Episode.from_row(row) if row is not None else None

    def get(self, partition_key: str) -> Episode | None:
        return self._one(_KEY == partition_key)

    def find_by_hash(self, content_hash: str) -> Episode | None:
        """The episode holding this content (None for an empty hash)."""
        return self._one(_HASH == content_hash) if content_hash else None

    def page(self, after: str | None = None, limit: int = PAGE_SIZE) -> list[Episode]:
        """Up to ``limit`` episodes with keys after ``after``, in key order (keyset paging)."""
        query = sa.select(EPISODES).order_by(_KEY).limit(max(1, int(limit)))
        if after is not None:
            query = query.where(_KEY > after)
        with self._db.errors(), self._db.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [Episode.from_row(r) for r in rows]

    def iter_episodes(self, page_size: int = PAGE_SIZE) -> Iterator[Episode]:
        """Every episode in key order, read page by page."""
        after: str | None = None
        while True:
            batch = self.page(after, page_size)
            yield from batch
            if len(batch) < page_size:
                return
            after = batch[-1].partition_key

    def episodes(self) -> list[Episode]:
        """All episodes, ordered by partition key."""
        return list(self.iter_episodes())

    def count(self) -> int:
        with self._db.errors(), self._db.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(EPISODES)).scalar_one())

    # ---- writes -----------------------------------------------------------------------------

    def _conflict(self, exc: sa.exc.IntegrityError, episode: Episode) -> Exception:
        """Which constraint an insert or update broke, read after its transaction rolled back."""
        if episode.content_hash:
            other = self.find_by_hash(episode.content_hash)
            if other is not None and other.partition_key != episode.partition_key:
                return DuplicateContentError(self.where, episode.content_hash, other)
        taken = self.get(episode.partition_key)
        if taken is not None:
            return PartitionKeyTakenError(self.where, episode.partition_key, taken)
        return exc

    def upsert(self, episode: Episode) -> Episode:
        """Insert or replace the row of ``episode.partition_key`` (its first ingestion time is
        kept). Raises DuplicateContentError when another episode holds the same content."""
        for attempt in range(3):
            now = _now()
            try:
                with self._db.errors(), self._db.writer.begin() as conn:
                    found = conn.execute(
                        sa.select(EPISODES.c.ingested_at).where(_KEY == episode.partition_key).with_for_update()
                    ).first()
                    row = replace(episode, ingested_at=found[0] if found else now, updated_at=now)
                    if found:
                        values = row.to_row()
                        del values["partition_key"]
                        conn.execute(sa.update(EPISODES).where(_KEY == row.partition_key).values(**values))
                    else:
                        conn.execute(sa.insert(EPISODES).values(**row.to_row()))
                return row
            except sa.exc.IntegrityError as exc:
                problem = self._conflict(exc, episode)
                if isinstance(problem, DuplicateContentError) or attempt == 2:
                    raise problem from None
                # a concurrent insert of the same key won: update it on the next attempt
        raise AssertionError("unreachable")

    def insert(self, episode: Episode) -> Episode:
        """Insert ``episode`` as a new row, never replacing one: returns the stored row.

        Raises:
            PartitionKeyTakenError: the key is taken (the database decides, so of two
                processes inserting the same key only one succeeds).
            DuplicateContentError: another episode holds the same content.
        """
        now = _now()
        row = replace(episode, ingested_at=now, updated_at=now)
        try:
            with self._db.errors(), self._db.writer.begin() as conn:
                conn.execute(sa.insert(EPISODES).values(**row.to_row()))
        except sa.exc.IntegrityError as exc:
            problem = self._conflict(exc, episode)
            if isinstance(problem, (DuplicateContentError, PartitionKeyTakenError)):
                raise problem from None
            # the conflicting row went away before we could name it: still the key was taken
            raise PartitionKeyTakenError(self.where, episode.partition_key, None) from exc
        return row

    def modify(self, partition_key: str, change: Callable[[Episode], Episode]) -> Episode:
        """Read-modify-write of one row in one transaction (the row locked): ``change`` gets the
        current row and returns the new one. Raises KeyError for an unknown key."""
        now = _now()
        try:
            with self._db.errors(), self._db.writer.begin() as conn:
                found = conn.execute(sa.select(EPISODES).where(_KEY == partition_key).with_for_update()).mappings().first()
                if found is None:
                    raise KeyError(f"unknown partition {partition_key!r}")
                episode = Episode.from_row(found)
                row = replace(change(episode), partition_key=partition_key, ingested_at=episode.ingested_at, updated_at=now)
                values = row.to_row()
                del values["partition_key"]
                conn.execute(sa.update(EPISODES).where(_KEY == partition_key).values(**values))
        except sa.exc.IntegrityError as exc:
            raise self._conflict(exc, row) from None
        return row

    def update_metadata(self, partition_key: str, **values: Any) -> Episode:
        """Merge ``values`` into an episode's metadata (one transaction)."""
        return self.modify(partition_key, lambda e: replace(e, metadata={**e.metadata, **values}))

    def update_licence(self, partition_key: str, licence: dict[str, Any], **metadata: Any) -> Episode:
        """Replace an episode's licence record and merge ``metadata`` (one transaction)."""
        return self.modify(partition_key, lambda e: replace(e, licence=dict(licence), metadata={**e.metadata, **metadata}))

    def insert_new_content(self, episode: Episode) -> tuple[Episode, bool]:
        """Insert ``episode`` as a new row unless its content is already catalogued: returns the
        stored row and whether it was inserted. The database decides between concurrent
        inserts, so the same content never gets two episodes.

        Raises:
            PartitionKeyTakenError: the key holds other content (nothing is replaced; the
                caller chooses another key).
        """
        for attempt in range(3):
            if episode.content_hash:
                existing = self.find_by_hash(episode.content_hash)
                if existing is not None:
                    return existing, False
            now = _now()
            row = replace(episode, ingested_at=now, updated_at=now)
            try:
                with self._db.errors(), self._db.writer.begin() as conn:
                    conn.execute(sa.insert(EPISODES).values(**row.to_row()))
                return row, True
            except sa.exc.IntegrityError as exc:
                problem = self._conflict(exc, episode)
                if isinstance(problem, DuplicateContentError):
                    return problem.existing, False  # a concurrent ingest of the same content won
                if isinstance(problem, PartitionKeyTakenError) or attempt == 2:
                    raise problem from None
                # the conflicting row went away meanwhile: try again
        raise AssertionError("unreachable")

    def remove(self, partition_key: str, *, content_hash: str | None = None) -> bool:
        """Delete a row; with ``content_hash``, only if the row still holds that content.
        Returns whether a row was deleted."""
        query = sa.delete(EPISODES).where(_KEY == partition_key)
        if content_hash is not None:
            query = query.where(_HASH == (content_hash or None))
        with self._db.errors(), self._db.writer.begin() as conn:
            return conn.execute(query).rowcount > 0

    # ---- analytics --------------------------------------------------------------------------

    def export_parquet(self, key: str | None = None) -> str:
        """Write every row as a Parquet table in the store (atomically); returns its URI."""
        from media_platform.catalogue.export import EXPORT_KEY, export_parquet

        return export_parquet(self, key or EXPORT_KEY)

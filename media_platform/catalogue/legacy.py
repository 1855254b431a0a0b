"""The layout before the database: ``catalogue/episodes.parquet`` in the store, imported once.

The first time a catalogue is opened on a store holding that file, its rows are inserted into
the database in one transaction, under the migration lock, and the import is recorded in
``catalogue_meta`` (``legacy_import:<file URI>``). The file itself is kept as it is: never
renamed, rewritten or deleted. A file that cannot be read, or rows that break the database's
rules (two rows with the same content), raise CatalogueError naming the file; nothing is
imported then, and every command says so until the file is repaired or moved aside.
"""

from __future__ import annotations

import hashlib
import io
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import polars as pl
import sqlalchemy as sa

from media_platform.catalogue.episode import COLUMNS, Episode
from media_platform.catalogue.errors import CatalogueError
from media_platform.catalogue.schema import episodes as EPISODES
from media_platform.catalogue.schema import meta as META
from media_platform.storage import LocalStore, Store

if TYPE_CHECKING:
    from media_platform.catalogue.database import Database

#: Where the catalogue lived before the database (one Parquet table in the store).
LEGACY_KEY = "catalogue/episodes.parquet"
_CHECKED: set[tuple[str, str, int]] = set()


def read_legacy(uri: str, data: bytes) -> list[Episode]:
    """The episodes of a legacy Parquet catalogue. Raises CatalogueError naming ``uri``."""
    try:
        df = pl.read_parquet(io.BytesIO(data))
    except Exception as exc:  # polars raises several types for a torn or foreign file
        raise CatalogueError(uri, f"not a readable Parquet catalogue ({type(exc).__name__}: {str(exc)[:200]}); nothing was imported") from None
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise CatalogueError(uri, f"not a catalogue table: missing columns {', '.join(missing)}; nothing was imported")
    episodes = []
    owners: dict[str, str] = {}
    for index, row in enumerate(df.select(COLUMNS).iter_rows(named=True)):
        try:
            episode = Episode.from_row(row)
        except (TypeError, ValueError) as exc:
            raise CatalogueError(uri, f"row {index}: {exc}; nothing was imported") from None
        if episode.content_hash:
            other = owners.setdefault(episode.content_hash, episode.partition_key)
            if other != episode.partition_key:
                raise CatalogueError(
                    uri, f"rows {other!r} and {episode.partition_key!r} hold the same content "
                    f"{episode.content_hash[:12]}; remove one and retry; nothing was imported"
                )
        episodes.append(episode)
    return episodes


def import_once(db: Database, store: Store) -> int:
    """Import ``store``'s legacy catalogue into ``db`` unless done; returns the rows imported."""
    uri = store.uri(LEGACY_KEY)
    memo = (db.url, uri, db.pid)
    if memo in _CHECKED:
        return 0
    marker = f"legacy_import:{uri}"
    with db.errors(), db.engine.connect() as conn:
        done = conn.execute(sa.select(META.c.value).where(META.c.name == marker)).first() is not None
    if done or not store.exists(LEGACY_KEY):
        _CHECKED.add(memo)
        return 0
    data = store.read_bytes(LEGACY_KEY)
    where = str(store.path(LEGACY_KEY)) if isinstance(store, LocalStore) else uri
    episodes = read_legacy(where, data)
    with db.errors(), db.writer.connect() as conn, db.migration_lock(conn):
        if conn.execute(sa.select(META.c.value).where(META.c.name == marker)).first() is not None:
            conn.rollback()
            _CHECKED.add(memo)
            return 0
        rows = [e.to_row() for e in episodes]
        try:
            for start in range(0, len(rows), 5000):
                conn.execute(sa.insert(EPISODES), rows[start:start + 5000])
        except sa.exc.IntegrityError as exc:
            conn.rollback()
            raise CatalogueError(
                where, f"its rows conflict with the catalogue database {db.where} (same partition key or "
                f"content): {str(exc.orig).splitlines()[0]}; nothing was imported"
            ) from None
        record = {"rows": len(rows), "sha256": hashlib.sha256(data).hexdigest(),
                  "imported_at": datetime.now(UTC).isoformat(timespec="seconds")}
        conn.execute(sa.insert(META).values(name=marker, value=json.dumps(record)))
        conn.commit()
    _CHECKED.add(memo)
    return len(rows)

"""The layout before the database: ``catalogue/episodes.parquet`` in the store, imported once.

The first time a catalogue is opened on a store holding that file, its rows are inserted into
the database in one transaction, under the migration lock, and the import is recorded in
``catalogue_meta`` under the file's content (``legacy_import:sha256:<hex>``), so moving or
remounting the home folder does not import it again. The import is idempotent as well: a row
whose key the database already holds with the same content (or, for an RSS row not yet
downloaded, any content) counts as imported. The file itself is kept as it is: never renamed,
rewritten or deleted.

The previous release stored an RSS item whose enclosure another episode already held as a
second row with the same ``content_hash``, marked ``same_content_as``. The database allows one
row per content, so the earliest of such rows keeps the hash and each later one is imported
with no hash, its old one kept in metadata ``legacy_content_hash`` (and ``same_content_as``
naming the earliest, when it was not set). A file that cannot be read, or rows that conflict
with the database (a key holding other content), raise CatalogueError naming the file; nothing
is imported then, and every command says so until the file is repaired or moved aside.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import replace
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


def _dedupe_content(episodes: list[Episode]) -> list[Episode]:
    """One row per content hash: the earliest (by ingestion time, then file order) keeps it;
    later rows lose it and record it in metadata (the previous release wrote such rows)."""
    owners: dict[str, Episode] = {}
    for episode in sorted(episodes, key=lambda e: e.ingested_at or "~"):  # stable: file order breaks ties
        if episode.content_hash:
            owners.setdefault(episode.content_hash, episode)
    result = []
    for episode in episodes:
        owner = owners.get(episode.content_hash) if episode.content_hash else None
        if owner is None or owner is episode:
            result.append(episode)
            continue
        metadata = {**episode.metadata, "legacy_content_hash": episode.content_hash}
        metadata.setdefault("same_content_as", owner.partition_key)
        result.append(replace(episode, content_hash="", metadata=metadata))
    return result


def read_legacy(uri: str, data: bytes) -> list[Episode]:
    """The episodes of a legacy Parquet catalogue, one row per content (see the module).
    Raises CatalogueError naming ``uri``."""
    try:
        df = pl.read_parquet(io.BytesIO(data))
    except Exception as exc:  # polars raises several types for a torn or foreign file
        raise CatalogueError(uri, f"not a readable Parquet catalogue ({type(exc).__name__}: {str(exc)[:200]}); nothing was imported") from None
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise CatalogueError(uri, f"not a catalogue table: missing columns {', '.join(missing)}; nothing was imported")
    episodes = []
    keys: set[str] = set()
    for index, row in enumerate(df.select(COLUMNS).iter_rows(named=True)):
        try:
            episode = Episode.from_row(row)
        except (TypeError, ValueError) as exc:
            raise CatalogueError(uri, f"row {index}: {exc}; nothing was imported") from None
        if episode.partition_key in keys:
            raise CatalogueError(uri, f"row {index}: partition {episode.partition_key!r} appears twice; nothing was imported")
        keys.add(episode.partition_key)
        episodes.append(episode)
    return _dedupe_content(episodes)


def _imported(conn: sa.Connection, uri: str, digest: str | None) -> bool:
    """Whether the file at ``uri`` (or, with ``digest``, any file with that content, wherever it
    was) has been imported. Markers of earlier versions are keyed by URI and hold the digest."""
    if conn.execute(sa.select(META.c.name).where(META.c.name.in_([f"legacy_import:{uri}", _marker(digest)]))).first():
        return True
    if digest is None:
        return False
    for (value,) in conn.execute(sa.select(META.c.value).where(META.c.name.like("legacy_import:%"))):
        try:
            if json.loads(value).get("sha256") == digest:
                return True
        except (ValueError, AttributeError):
            continue
    return False


def _marker(digest: str | None) -> str:
    return f"legacy_import:sha256:{digest}"


def _new_rows(conn: sa.Connection, episodes: list[Episode]) -> list[dict]:
    """The rows the database does not hold yet: a key it holds with the same content (or an
    RSS row not downloaded then) is already imported."""
    rows = []
    for start in range(0, len(episodes), 500):
        batch = episodes[start:start + 500]
        held = dict(conn.execute(sa.select(EPISODES.c.partition_key, EPISODES.c.content_hash)
                                 .where(EPISODES.c.partition_key.in_([e.partition_key for e in batch]))).all())
        for episode in batch:
            if episode.partition_key in held and (not episode.content_hash or held[episode.partition_key] == episode.content_hash):
                continue
            rows.append(episode.to_row())
    return rows


def import_once(db: Database, store: Store) -> int:
    """Import ``store``'s legacy catalogue into ``db`` unless done; returns the rows imported."""
    uri = store.uri(LEGACY_KEY)
    memo = (db.url, uri, db.pid)
    if memo in _CHECKED:
        return 0
    with db.errors(), db.engine.connect() as conn:
        done = _imported(conn, uri, None)
    if done or not store.exists(LEGACY_KEY):
        _CHECKED.add(memo)
        return 0
    data = store.read_bytes(LEGACY_KEY)
    digest = hashlib.sha256(data).hexdigest()
    with db.errors(), db.engine.connect() as conn:
        done = _imported(conn, uri, digest)
    if done:
        _CHECKED.add(memo)
        return 0
    where = str(store.path(LEGACY_KEY)) if isinstance(store, LocalStore) else uri
    episodes = read_legacy(where, data)
    with db.errors(), db.writer.connect() as conn, db.migration_lock(conn):
        if _imported(conn, uri, digest):
            conn.rollback()
            _CHECKED.add(memo)
            return 0
        try:
            rows = _new_rows(conn, episodes)
            for start in range(0, len(rows), 5000):
                conn.execute(sa.insert(EPISODES), rows[start:start + 5000])
        except sa.exc.IntegrityError as exc:
            conn.rollback()
            raise CatalogueError(
                where, f"its rows conflict with the catalogue database {db.where} (a partition key holding "
                f"other content, or content another key holds): {str(exc.orig).splitlines()[0]}; nothing was imported"
            ) from None
        record = {"rows": len(rows), "sha256": digest, "uri": uri,
                  "imported_at": datetime.now(UTC).isoformat(timespec="seconds")}
        conn.execute(sa.insert(META).values(name=_marker(digest), value=json.dumps(record)))
        conn.commit()
    _CHECKED.add(memo)
    return len(rows)

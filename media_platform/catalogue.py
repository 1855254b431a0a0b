"""The episode catalogue: one row per episode partition, stored as Parquet with the outputs.

A row records the partition key, title, episode id, kind (video or audio), the master's URI
and content hash, where it came from (upload, rss, cli), the licence fields, and free-form
metadata (JSON). Updates are read-modify-write under a lock file, so the CLI, sensors and runs
never lose each other's rows. The lock is a local file: with an S3 storage root, writers on
different hosts are not serialized (run sensors and runs that write the catalogue on one host,
or use a local root per host).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import polars as pl
from filelock import FileLock

from media_platform.config import CATALOGUE_KEY
from media_platform.storage import LocalStore, Store, read_table, write_table

EpisodeKind = Literal["video", "audio"]
EpisodeSource = Literal["upload", "rss", "cli"]

CATALOGUE_SCHEMA: dict[str, Any] = {
    "partition_key": pl.Utf8,
    "title": pl.Utf8,
    "episode_id": pl.Utf8,
    "kind": pl.Utf8,
    "master_uri": pl.Utf8,
    "master_key": pl.Utf8,
    "content_hash": pl.Utf8,
    "source": pl.Utf8,
    "licence_json": pl.Utf8,
    "metadata_json": pl.Utf8,
    "ingested_at": pl.Utf8,
    "updated_at": pl.Utf8,
}


@dataclass(frozen=True)
class Episode:
    """One catalogue row."""

    partition_key: str
    title: str
    kind: EpisodeKind
    master_uri: str
    master_key: str
    content_hash: str
    source: EpisodeSource
    episode_id: str | None = None
    licence: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    ingested_at: str = ""
    updated_at: str = ""

    def to_row(self) -> dict[str, Any]:
        row = asdict(self)
        row["licence_json"] = json.dumps(row.pop("licence"), sort_keys=True, default=str)
        row["metadata_json"] = json.dumps(row.pop("metadata"), sort_keys=True, default=str)
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Episode:
        data = dict(row)
        data["licence"] = json.loads(data.pop("licence_json") or "{}")
        data["metadata"] = json.loads(data.pop("metadata_json") or "{}")
        return cls(**data)


class Catalogue:
    """Read and update the episode catalogue in a store."""

    def __init__(self, store: Store, lock_dir: Path | None = None) -> None:
        self.store = store
        if lock_dir is None:
            lock_dir = store.root if isinstance(store, LocalStore) else Path(tempfile.gettempdir())
        lock_dir.mkdir(parents=True, exist_ok=True)
        self._lock = FileLock(str(lock_dir / ".catalogue.lock"), timeout=60)

    def _read(self) -> pl.DataFrame:
        if not self.store.exists(CATALOGUE_KEY):
            return pl.DataFrame(schema=CATALOGUE_SCHEMA)
        return read_table(self.store, CATALOGUE_KEY)

    def episodes(self) -> list[Episode]:
        """All episodes, ordered by partition key."""
        return [Episode.from_row(r) for r in self._read().sort("partition_key").to_dicts()]

    def get(self, partition_key: str) -> Episode | None:
        df = self._read().filter(pl.col("partition_key") == partition_key)
        return Episode.from_row(df.row(0, named=True)) if df.height else None

    def find_by_hash(self, content_hash: str) -> Episode | None:
        df = self._read().filter(pl.col("content_hash") == content_hash)
        return Episode.from_row(df.row(0, named=True)) if df.height else None

    @contextmanager
    def _locked(self) -> Iterator[pl.DataFrame]:
        with self._lock:
            yield self._read()

    def upsert(self, episode: Episode) -> Episode:
        """Insert or replace the row of ``episode.partition_key``."""
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with self._locked() as df:
            existing = df.filter(pl.col("partition_key") == episode.partition_key)
            ingested = existing["ingested_at"][0] if existing.height else now
            row = Episode(**{**asdict(episode), "ingested_at": ingested, "updated_at": now})
            new = pl.DataFrame([row.to_row()], schema=CATALOGUE_SCHEMA)
            df = pl.concat([df.filter(pl.col("partition_key") != episode.partition_key), new])
            write_table(self.store, CATALOGUE_KEY, df.sort("partition_key"))
        return row

    def modify(self, partition_key: str, change: Callable[[Episode], Episode]) -> Episode:
        """Locked read-modify-write of one row: ``change`` gets the current row, returns the new."""
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with self._locked() as df:
            current = df.filter(pl.col("partition_key") == partition_key)
            if not current.height:
                raise KeyError(f"unknown partition {partition_key!r}")
            episode = Episode.from_row(current.row(0, named=True))
            row = replace(change(episode), partition_key=partition_key, ingested_at=episode.ingested_at, updated_at=now)
            new = pl.DataFrame([row.to_row()], schema=CATALOGUE_SCHEMA)
            df = pl.concat([df.filter(pl.col("partition_key") != partition_key), new])
            write_table(self.store, CATALOGUE_KEY, df.sort("partition_key"))
        return row

    def update_metadata(self, partition_key: str, **values: Any) -> Episode:
        """Merge ``values`` into an episode's metadata (under the lock)."""
        return self.modify(partition_key, lambda e: replace(e, metadata={**e.metadata, **values}))

    def update_licence(self, partition_key: str, licence: dict[str, Any], **metadata: Any) -> Episode:
        """Replace an episode's licence record and merge ``metadata`` (under the lock)."""
        return self.modify(partition_key, lambda e: replace(e, licence=dict(licence), metadata={**e.metadata, **metadata}))

    def insert_new_content(self, episode: Episode) -> tuple[Episode, bool]:
        """Insert ``episode`` unless its content hash is already catalogued, atomically (under
        the lock, so two ingests of the same content never create two episodes). Returns the
        stored row and whether it was inserted."""
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with self._locked() as df:
            same = df.filter(pl.col("content_hash") == episode.content_hash)
            if episode.content_hash and same.height:
                return Episode.from_row(same.row(0, named=True)), False
            row = replace(episode, ingested_at=now, updated_at=now)
            new = pl.DataFrame([row.to_row()], schema=CATALOGUE_SCHEMA)
            df = pl.concat([df.filter(pl.col("partition_key") != episode.partition_key), new])
            write_table(self.store, CATALOGUE_KEY, df.sort("partition_key"))
        return row, True

    def remove(self, partition_key: str) -> bool:
        with self._locked() as df:
            kept = df.filter(pl.col("partition_key") != partition_key)
            if kept.height == df.height:
                return False
            write_table(self.store, CATALOGUE_KEY, kept)
        return True

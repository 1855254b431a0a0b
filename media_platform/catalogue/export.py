"""The catalogue as a Parquet table in the store, for analytics (the metadata models read it).

Written atomically under ``exports/episodes.parquet`` by the ``episode_catalogue`` asset; it is
a copy, never read back by the platform: the database is the catalogue.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from media_platform.catalogue.episode import COLUMNS
from media_platform.storage import write_table

if TYPE_CHECKING:
    from media_platform.catalogue.store import Catalogue

EXPORT_KEY = "exports/episodes.parquet"
EXPORT_SCHEMA = {name: pl.Utf8 for name in COLUMNS}


def export_parquet(catalogue: Catalogue, key: str = EXPORT_KEY) -> str:
    """Write all rows of ``catalogue`` (in key order) to ``key`` in its store; returns the URI."""
    frames = []
    batch: list[dict] = []
    for episode in catalogue.iter_episodes():
        row = episode.to_row()
        row["content_hash"] = row["content_hash"] or ""
        batch.append(row)
        if len(batch) == 10_000:
            frames.append(pl.DataFrame(batch, schema=EXPORT_SCHEMA))
            batch = []
    frames.append(pl.DataFrame(batch, schema=EXPORT_SCHEMA))
    return write_table(catalogue.store, key, pl.concat(frames))

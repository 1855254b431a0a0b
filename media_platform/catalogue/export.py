"""The catalogue as a Parquet table in the store, for analytics (the metadata models read it).

Written atomically under ``exports/episodes.parquet`` by the ``episode_catalogue`` asset; it is
a copy, never read back by the platform: the database is the catalogue.

Beside the catalogue's columns, each row carries what its licence in force allows today
(``allows_analysis``, ``allows_search_indexing``, ``licence_status``), decided by the one
licence policy (:func:`~media_platform.licences.policy.refusal_reason` against the operator's
current licence file), so that the metadata models never re-implement it. An unreadable
operator file or stored licence allows nothing (its status says why).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import polars as pl

from media_platform.catalogue.episode import COLUMNS, Episode
from media_platform.storage import write_table

if TYPE_CHECKING:
    from collections.abc import Mapping

    from media_platform.catalogue.store import Catalogue
    from media_platform.licences.model import Licence

EXPORT_KEY = "exports/episodes.parquet"
EXPORT_SCHEMA = {
    **{name: pl.Utf8 for name in COLUMNS},
    "allows_analysis": pl.Boolean,
    "allows_search_indexing": pl.Boolean,
    "licence_status": pl.Utf8,
}
#: Registered assets whose licence requirement is exactly the use named (see media_platform.layout).
ANALYSIS_ASSET = "transcript"
SEARCH_INDEXING_ASSET = "shot_index"


def licence_decisions(
    episode: Episode, entries: Mapping[str, Licence] | None, today: dt.date
) -> dict[str, bool | str]:
    """``allows_analysis``, ``allows_search_indexing`` and ``licence_status`` of ``episode``
    today under the operator's ``entries`` (None: the file is unreadable; nothing is allowed)."""
    from media_platform.errors import InvalidInputError
    from media_platform.licences.episodes import licence_in_force
    from media_platform.licences.policy import licence_status, refusal_reason

    if entries is None:
        return {"allows_analysis": False, "allows_search_indexing": False,
                "licence_status": "operator licences unreadable"}
    try:
        licence = licence_in_force(episode, entries)
    except InvalidInputError:
        return {"allows_analysis": False, "allows_search_indexing": False,
                "licence_status": "unreadable"}
    return {
        "allows_analysis": refusal_reason(licence, ANALYSIS_ASSET, today) is None,
        "allows_search_indexing": refusal_reason(licence, SEARCH_INDEXING_ASSET, today) is None,
        "licence_status": licence_status(licence, today),
    }


def export_parquet(catalogue: Catalogue, key: str = EXPORT_KEY) -> str:
    """Write all rows of ``catalogue`` (in key order) to ``key`` in its store; returns the URI."""
    from media_platform.errors import InvalidInputError
    from media_platform.licences import load_operator_licences

    try:
        entries = load_operator_licences()
    except InvalidInputError:
        entries = None
    today = dt.date.today()
    frames = []
    batch: list[dict] = []
    for episode in catalogue.iter_episodes():
        row = episode.to_row()
        row["content_hash"] = row["content_hash"] or ""
        row.update(licence_decisions(episode, entries, today))
        batch.append(row)
        if len(batch) == 10_000:
            frames.append(pl.DataFrame(batch, schema=EXPORT_SCHEMA))
            batch = []
    frames.append(pl.DataFrame(batch, schema=EXPORT_SCHEMA))
    return write_table(catalogue.store, key, pl.concat(frames))

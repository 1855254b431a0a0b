"""One catalogue row: the :class:`Episode` record and its codec to and from database rows."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

EpisodeKind = Literal["video", "audio"]
EpisodeSource = Literal["upload", "rss", "cli"]

#: The columns of a row, in the order of the legacy Parquet layout and of the export.
COLUMNS = (
    "partition_key", "title", "episode_id", "kind", "master_uri", "master_key", "content_hash",
    "source", "licence_json", "metadata_json", "ingested_at", "updated_at",
)


@dataclass(frozen=True)
class Episode:
    """One catalogue row.

    ``content_hash`` is the SHA-256 of the master ("" for an RSS item not yet downloaded);
    ``licence`` and ``metadata`` are JSON objects.
    """

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
        """The row as stored: JSON text for licence and metadata, NULL for an empty hash (so
        the database's uniqueness of hashes applies to real hashes only)."""
        row = asdict(self)
        row["licence_json"] = json.dumps(row.pop("licence"), sort_keys=True, default=str)
        row["metadata_json"] = json.dumps(row.pop("metadata"), sort_keys=True, default=str)
        row["content_hash"] = row["content_hash"] or None
        return row

    @classmethod
    def from_row(cls, row: Any) -> Episode:
        """An episode from a database row or a legacy Parquet row (a mapping)."""
        data = {name: row[name] for name in COLUMNS}
        data["licence"] = json.loads(data.pop("licence_json") or "{}")
        data["metadata"] = json.loads(data.pop("metadata_json") or "{}")
        data["content_hash"] = data["content_hash"] or ""
        data["ingested_at"] = data["ingested_at"] or ""
        data["updated_at"] = data["updated_at"] or ""
        return cls(**data)

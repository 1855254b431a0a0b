"""The shot vector index: the interface the platform codes against.

``VectorIndex`` is implemented by :class:`~media_platform.search.edge.EmbeddedQdrantIndex` (the
default: Qdrant's own engine in-process through ``qdrant-edge-py``, stored on local disk, no
server to run) and :class:`~media_platform.search.qdrant_server.QdrantServerIndex` (a Qdrant
server through ``qdrant-client``).

Points are shots. Their payload holds ``partition`` (str), ``title`` (str), ``shot`` (int),
``start_s``/``end_s``/``duration_s`` (float), ``keyframe_uri`` (str) and ``tags`` (list of str);
``partition``, ``duration_s`` and ``tags`` carry payload indexes so that filters are fast.
Vectors are compared by cosine similarity (score 1.0 = same direction).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from media_platform.errors import InvalidInputError, MediaPlatformError

#: Payload fields that get an index, with their kind ("keyword" or "float").
PAYLOAD_INDEXES: Mapping[str, str] = {
    "partition": "keyword",
    "duration_s": "float",
    "tags": "keyword",
}

#: Namespace of the deterministic shot point ids.
SHOT_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "media-platform:shot")


class VectorIndexError(MediaPlatformError):
    """The vector index cannot do what was asked (missing collection, wrong dimension, ...)."""


@dataclass(frozen=True)
class IndexPoint:
    """A point to store: ``id`` (a UUID string, see :func:`shot_point_id`), vector, payload."""

    id: str
    vector: np.ndarray
    payload: dict = field(default_factory=dict)


@dataclass(frozen=True)
class SearchHit:
    """One search result: point id, cosine similarity (higher is nearer), stored payload."""

    id: str
    score: float
    payload: dict


def shot_point_id(partition_key: str, shot_index: int) -> str:
    """Deterministic point id (UUID5) of shot ``shot_index`` of ``partition_key``.

    The same shot always maps to the same id, so re-running an indexing step overwrites its
    points instead of duplicating them.
    """
    if not partition_key:
        raise InvalidInputError("partition_key: must not be empty")
    if shot_index < 0:
        raise InvalidInputError(f"shot_index: must be >= 0, got {shot_index}")
    return str(uuid.uuid5(SHOT_ID_NAMESPACE, f"{partition_key}\x1f{int(shot_index)}"))


@runtime_checkable
class VectorIndex(Protocol):
    """A collection of shot vectors with payloads, searchable by cosine similarity."""

    def ensure_collection(self, dim: int) -> None:
        """Create the collection (cosine distance, payload indexes) unless it exists.

        Raises :class:`VectorIndexError` if it exists with another dimension or distance.
        """
        ...

    def upsert(self, points: Sequence[IndexPoint]) -> None:
        """Insert or overwrite ``points`` (matched by id), in batches."""
        ...

    def delete(self, ids: Sequence[str]) -> None:
        """Delete the points with these ids; unknown ids are ignored."""
        ...

    def ids_for_partition(self, partition_key: str) -> set[str]:
        """Ids of all points whose payload ``partition`` is ``partition_key``."""
        ...

    def count(self, partition_key: str | None = None) -> int:
        """Number of points, in all or in one partition."""
        ...

    def search(
        self,
        vector: np.ndarray,
        limit: int = 10,
        *,
        partition_key: str | None = None,
        min_duration_s: float | None = None,
        tags: Sequence[str] | None = None,
        max_duration_s: float | None = None,
        partition_keys: Sequence[str] | None = None,
        exclude_partitions: Sequence[str] | None = None,
    ) -> list[SearchHit]:
        """The ``limit`` points nearest to ``vector``, best first.

        Filters combine with AND: only ``partition_key``, only shots lasting at least
        ``min_duration_s`` and at most ``max_duration_s`` seconds, only shots carrying *every*
        tag in ``tags``, only partitions in ``partition_keys`` (an empty list matches nothing),
        none in ``exclude_partitions``.
        """
        ...

    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The stored vectors of the points with these ids (unknown ids are left out)."""
        ...

    def delete_partition(self, partition_key: str) -> int:
        """Delete all points of a partition; returns how many there were."""
        ...


def replace_partition_points(
    index: VectorIndex, partition_key: str, points: Sequence[IndexPoint]
) -> tuple[int, int]:
    """Make ``points`` the exact content of partition ``partition_key``.

    Upserts the points, then deletes the partition's points whose ids are not among them (shots
    that disappeared on a re-run). Other partitions are untouched. Every point's payload must
    name this partition. On the embedded index the three steps run in one write session (one
    lock, one open). Returns ``(upserted, deleted)``.
    """
    for point in points:
        if point.payload.get("partition") != partition_key:
            raise InvalidInputError(
                f"point {point.id}: payload partition {point.payload.get('partition')!r} is not {partition_key!r}"
            )
    session = getattr(index, "write_session", None)
    with session() if callable(session) else contextlib.nullcontext():
        index.upsert(points)
        keep = {str(p.id) for p in points}
        stale = sorted(index.ids_for_partition(partition_key) - keep)
        if stale:
            index.delete(stale)
    return len(points), len(stale)

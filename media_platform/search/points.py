"""What both index backends share: batch sizes and the checks and encodings of points."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from media_platform.errors import InvalidInputError
from media_platform.search.index import SearchHit, VectorIndexError

UPSERT_BATCH = 1024
SCROLL_PAGE = 1024
_COLLECTION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def as_vector(vector: np.ndarray, dim: int | None) -> list[float]:
    arr = np.asarray(vector, dtype=np.float32)
    if arr.ndim != 1:
        arr = arr.reshape(-1)
    if dim is not None and arr.shape[0] != dim:
        raise VectorIndexError(f"vector has dimension {arr.shape[0]}, the collection has {dim}")
    if not np.all(np.isfinite(arr)):
        raise VectorIndexError("vector contains NaN or infinite values")
    return arr.tolist()


def plain_payload(value: Any) -> Any:
    """Payload value as plain JSON types (numpy scalars/arrays and tuples converted)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Mapping):
        return {str(k): plain_payload(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain_payload(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def check_point_id(point_id: str) -> str:
    try:
        return str(uuid.UUID(str(point_id)))
    except ValueError:
        raise InvalidInputError(f"point id {point_id!r}: must be a UUID string") from None


def check_collection(collection: str) -> str:
    if not _COLLECTION_NAME.match(collection):
        raise InvalidInputError(f"collection {collection!r}: must match [A-Za-z0-9][A-Za-z0-9_.-]*")
    return collection


def search_hits(scored: Iterable[Any]) -> list[SearchHit]:
    """:class:`SearchHit` s from a backend's scored points (``id``, ``score``, ``payload``)."""
    return [
        SearchHit(id=str(p.id), score=float(p.score), payload=dict(p.payload or {})) for p in scored
    ]

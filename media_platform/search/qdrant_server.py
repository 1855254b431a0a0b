"""The shot index in a Qdrant server collection, through ``qdrant-client``."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Self

import numpy as np

from media_platform.errors import InvalidInputError
from media_platform.search.index import PAYLOAD_INDEXES, IndexPoint, SearchHit, VectorIndexError
from media_platform.search.points import (
    SCROLL_PAGE,
    UPSERT_BATCH,
    as_vector,
    check_collection,
    check_point_id,
    plain_payload,
    search_hits,
)

if TYPE_CHECKING:  # pragma: no cover
    from qdrant_client import QdrantClient


class QdrantServerIndex:
    """Shot index in a Qdrant server collection, through ``qdrant-client``.

    Pass ``client`` to use an existing :class:`qdrant_client.QdrantClient` instead of
    connecting to ``url`` (the tests inject ``QdrantClient(location=":memory:")``, which speaks
    the same client API; no real server is started in the test suite, so the server-only parts,
    payload indexes and HNSW, are exercised only against a real server). Concurrency is the
    server's business: any number of processes may read and write.
    """

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        collection: str = "shots",
        *,
        client: QdrantClient | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        if client is None:
            if not url:
                raise InvalidInputError("url: a Qdrant server URL (or a client) is required")
            from qdrant_client import QdrantClient

            client = QdrantClient(url=url, api_key=api_key, timeout=int(timeout_s))
        self.client = client
        self.collection = check_collection(collection)
        self._dim: int | None = None

    def close(self) -> None:
        """Close the client connection."""
        with contextlib.suppress(Exception):
            self.client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def _filter(
        partition_key: str | None,
        min_duration_s: float | None = None,
        tags: Sequence[str] | None = None,
        *,
        max_duration_s: float | None = None,
        partition_keys: Sequence[str] | None = None,
        exclude_partitions: Sequence[str] | None = None,
    ) -> Any:
        from qdrant_client import models

        must: list[Any] = []
        must_not: list[Any] = []
        if partition_key is not None:
            must.append(
                models.FieldCondition(key="partition", match=models.MatchValue(value=partition_key))
            )
        if partition_keys is not None:
            must.append(models.FieldCondition(key="partition", match=models.MatchAny(any=[str(p) for p in partition_keys])))
        if exclude_partitions:
            must_not.append(
                models.FieldCondition(key="partition", match=models.MatchAny(any=[str(p) for p in exclude_partitions]))
            )
        if min_duration_s is not None or max_duration_s is not None:
            must.append(
                models.FieldCondition(
                    key="duration_s",
                    range=models.Range(
                        gte=None if min_duration_s is None else float(min_duration_s),
                        lte=None if max_duration_s is None else float(max_duration_s),
                    ),
                )
            )
        for tag in tags or ():
            must.append(models.FieldCondition(key="tags", match=models.MatchValue(value=str(tag))))
        if not must and not must_not:
            return None
        return models.Filter(must=must or None, must_not=must_not or None)

    def _collection_dim(self) -> int | None:
        if self._dim is None and self.client.collection_exists(self.collection):
            vectors = self.client.get_collection(self.collection).config.params.vectors
            self._dim = int(vectors.size) if hasattr(vectors, "size") else None
        return self._dim

    def ensure_collection(self, dim: int) -> None:
        """Create the collection (cosine, payload indexes) or check the existing one's dim."""
        from qdrant_client import models

        if dim <= 0:
            raise InvalidInputError(f"dim: must be positive, got {dim}")
        if self.client.collection_exists(self.collection):
            info = self.client.get_collection(self.collection)
            vectors = info.config.params.vectors
            size = getattr(vectors, "size", None)
            if size != dim:
                raise VectorIndexError(
                    f"Qdrant collection {self.collection!r} has vector dimension {size}, asked for {dim}"
                )
            if vectors.distance != models.Distance.COSINE:
                raise VectorIndexError(
                    f"Qdrant collection {self.collection!r} uses distance {vectors.distance}, not cosine"
                )
            existing = set((info.payload_schema or {}).keys())
        else:
            self.client.create_collection(
                self.collection,
                vectors_config=models.VectorParams(size=dim, distance=models.Distance.COSINE),
            )
            existing = set()
        kinds = {
            "keyword": models.PayloadSchemaType.KEYWORD,
            "float": models.PayloadSchemaType.FLOAT,
        }
        with warnings.catch_warnings():
            # local mode (tests) warns that payload indexes have no effect there
            warnings.simplefilter("ignore")
            for name, kind in PAYLOAD_INDEXES.items():
                if name not in existing:
                    self.client.create_payload_index(self.collection, name, kinds[kind], wait=True)
        self._dim = dim

    def upsert(self, points: Sequence[IndexPoint]) -> None:
        """Insert or overwrite points, in batches of 1024."""
        from qdrant_client import models

        dim = self._collection_dim()
        for start in range(0, len(points), UPSERT_BATCH):
            batch = [
                models.PointStruct(
                    id=check_point_id(p.id),
                    vector=as_vector(p.vector, dim),
                    payload=plain_payload(p.payload),
                )
                for p in points[start : start + UPSERT_BATCH]
            ]
            self.client.upsert(self.collection, points=batch, wait=True)

    def delete(self, ids: Sequence[str]) -> None:
        """Delete points by id (unknown ids are ignored)."""
        from qdrant_client import models

        checked = [check_point_id(i) for i in ids]
        for start in range(0, len(checked), SCROLL_PAGE):
            self.client.delete(
                self.collection,
                points_selector=models.PointIdsList(points=checked[start : start + SCROLL_PAGE]),
                wait=True,
            )

    def ids_for_partition(self, partition_key: str) -> set[str]:
        """Ids of all points of ``partition_key``."""
        flt = self._filter(partition_key)
        ids: set[str] = set()
        offset = None
        while True:
            records, offset = self.client.scroll(
                self.collection,
                scroll_filter=flt,
                limit=SCROLL_PAGE,
                offset=offset,
                with_payload=False,
                with_vectors=False,
            )
            ids.update(str(r.id) for r in records)
            if offset is None:
                return ids

    def count(self, partition_key: str | None = None) -> int:
        """Exact number of points (in ``partition_key`` if given)."""
        return int(
            self.client.count(
                self.collection, count_filter=self._filter(partition_key), exact=True
            ).count
        )

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
        """Nearest points by cosine similarity, best first, filters ANDed (all ``tags`` needed;
        ``partition_keys``: any of these; ``exclude_partitions``: none of these)."""
        if limit <= 0 or (partition_keys is not None and not partition_keys):
            return []
        flt = self._filter(
            partition_key, min_duration_s, tags, max_duration_s=max_duration_s,
            partition_keys=partition_keys, exclude_partitions=exclude_partitions,
        )
        response = self.client.query_points(
            self.collection,
            query=as_vector(vector, self._collection_dim()),
            query_filter=flt,
            limit=int(limit),
            with_payload=True,
        )
        return search_hits(response.points)

    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The stored vectors of the points with these ids (unknown ids are left out)."""
        if not ids:
            return {}
        records = self.client.retrieve(
            self.collection, ids=[check_point_id(i) for i in ids], with_payload=False, with_vectors=True
        )
        out: dict[str, np.ndarray] = {}
        for r in records:
            vector = r.vector.get("") if isinstance(r.vector, dict) else r.vector
            if vector is not None:
                out[str(r.id)] = np.asarray(vector, dtype=np.float32)
        return out

    def delete_partition(self, partition_key: str) -> int:
        """Delete every point of ``partition_key``; returns how many were deleted."""
        from qdrant_client import models

        flt = self._filter(partition_key)
        n = self.count(partition_key)
        if n:
            self.client.delete(
                self.collection, points_selector=models.FilterSelector(filter=flt), wait=True
            )
        return n

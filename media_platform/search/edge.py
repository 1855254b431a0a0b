"""The embedded shot index: Qdrant's own engine in-process through ``qdrant-edge-py``.

Concurrency of the embedded index (what qdrant-edge 0.9 allows, measured):

* An edge shard directory can be open in exactly one place at a time. ``EdgeShard.load`` takes
  an exclusive, non-blocking lock on the shard's WAL; a second open, from the same process or
  another, fails at once with ``failed to open WAL ...: Can't init WAL: Kind(WouldBlock)`` and
  leaves the data untouched. The lock is dropped by ``close()`` (or garbage collection, or the
  process dying).
* Opening is not cheap: about 0.3-0.4 s for 100,000 512-d points, so opening per query would
  break the 50 ms latency budget.

Hence the protocol used here, all under one ``filelock`` lock file per collection:

* Writers (``ensure_collection``, ``upsert``, ``delete``, ``delete_partition``, and anything inside
  :meth:`EmbeddedQdrantIndex.write_session`) take the lock, open the primary shard, apply the
  change, ``flush()``, optionally ``optimize()`` (builds the HNSW index of grown segments),
  ``close()``, bump a generation file, and release the lock. Writers are therefore serialized,
  and whenever the lock is free the primary shard is closed and consistent on disk.
* Readers (``search``, ``count``, ``ids_for_partition`` outside a write session) never open the
  primary. A reader keeps a private *replica* (:mod:`media_platform.search.replicas`), a copy of
  the primary taken under the lock, open for as long as it lives, and before each read compares
  the generation file (one small file read) with the generation it copied; when a writer has
  changed the store it copies and opens a fresh replica. Readers thus never block writers for
  longer than a copy, never see a store in the middle of a write, and any number of reader
  processes can coexist. The price is disk space (one copy of the shard per live reader
  process, under ``<path>/.replicas``) and a refresh of a few tenths of a second (copy + open)
  on the first read after each change.

The lock file holds on one machine only. Writers on several hosts are refused by a writer lease
(:mod:`media_platform.search.writer_lease`): every write first holds the lease record
(``<collection>.writer.json`` in the index folder, or in the store given as ``lease_store``,
such as an S3 home's bucket); a live lease of another host raises
:class:`~media_platform.search.writer_lease.IndexWriterBusy` naming it. Readers never take it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import numpy as np
from filelock import FileLock

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
from media_platform.search.replicas import Replica, pid_alive, remove_tree, sparse_copy
from media_platform.search.writer_lease import DEFAULT_STALE_AFTER_S, WriterLease
from media_platform.storage import LocalStore, Store

if TYPE_CHECKING:  # pragma: no cover
    import qdrant_edge


def _edge() -> Any:
    import qdrant_edge

    return qdrant_edge


def _edge_filter(
    partition_key: str | None,
    min_duration_s: float | None = None,
    tags: Sequence[str] | None = None,
    *,
    max_duration_s: float | None = None,
    partition_keys: Sequence[str] | None = None,
    exclude_partitions: Sequence[str] | None = None,
) -> qdrant_edge.Filter | None:
    qe = _edge()
    must: list[Any] = []
    must_not: list[Any] = []
    if partition_key is not None:
        must.append(qe.FieldCondition("partition", match=qe.MatchValue(partition_key)))
    if partition_keys is not None:
        must.append(qe.FieldCondition("partition", match=qe.MatchAny([str(p) for p in partition_keys])))
    if exclude_partitions:
        must_not.append(qe.FieldCondition("partition", match=qe.MatchAny([str(p) for p in exclude_partitions])))
    if min_duration_s is not None or max_duration_s is not None:
        lo = None if min_duration_s is None else float(min_duration_s)
        hi = None if max_duration_s is None else float(max_duration_s)
        must.append(qe.FieldCondition("duration_s", range=qe.RangeFloat(gte=lo, lte=hi)))
    for tag in tags or ():
        must.append(qe.FieldCondition("tags", match=qe.MatchValue(str(tag))))
    if not must and not must_not:
        return None
    return qe.Filter(must=must or None, must_not=must_not or None)


class EmbeddedQdrantIndex:
    """Shot index stored on local disk, searched in-process by Qdrant's engine (qdrant-edge).

    Layout under ``path``: ``<collection>/`` the primary edge shard, ``<collection>.lock`` the
    writers' lock file, ``<collection>.generation`` bumped after every write session, and
    ``.replicas/`` the readers' private copies. See the module docstring for the concurrency
    protocol. Safe to use from several processes on one machine; within a process, share one
    object between threads (calls are serialized by an internal lock). Not for network
    filesystems whose ``flock`` is unreliable.

    Args:
        path: Directory of the index (created if missing).
        collection: Collection name; one edge shard per collection.
        lock_timeout_s: How long a writer (or a reader taking a copy) waits for the lock before
            raising ``filelock.Timeout``.
        optimize_on_write: Run the edge optimizers at the end of each write session, which
            builds the HNSW graph once the growing segment passes the indexing threshold (a few
            thousand 512-d points; then some seconds per few thousand points). Turn it off for a
            bulk load and call :meth:`optimize` once at the end.
        hnsw_m, hnsw_ef_construct: HNSW graph parameters used when the collection is created.
        lease_store, lease_key: Where writers hold the writer lease (default: this folder,
            ``<collection>.writer.json``); give the home's store for an S3 home, whose hosts
            each keep their own index folder.
        lease_stale_after_s: A lease whose holder has not renewed it for this long is taken over.
    """

    def __init__(
        self,
        path: Path,
        collection: str = "shots",
        *,
        lock_timeout_s: float = 600.0,
        optimize_on_write: bool = True,
        hnsw_m: int = 16,
        hnsw_ef_construct: int = 100,
        lease_store: Store | None = None,
        lease_key: str | None = None,
        lease_stale_after_s: float = DEFAULT_STALE_AFTER_S,
    ) -> None:
        self.path = Path(path)
        self.collection = check_collection(collection)
        self.lock_timeout_s = lock_timeout_s
        self.optimize_on_write = optimize_on_write
        self.hnsw_m = hnsw_m
        self.hnsw_ef_construct = hnsw_ef_construct
        self.path.mkdir(parents=True, exist_ok=True)
        self._shard_dir = self.path / self.collection
        self._generation_file = self.path / f"{self.collection}.generation"
        self._replicas_dir = self.path / ".replicas"
        # thread_local=False: the lock is owned by this object, whichever thread holds self._mutex.
        self._file_lock = FileLock(
            str(self.path / f"{self.collection}.lock"), timeout=lock_timeout_s, thread_local=False
        )
        self._mutex = threading.RLock()
        self._write_shard: Any = None
        self._write_dirty = False
        self._replica: Replica | None = None
        self._dim: int | None = None
        self._lease = WriterLease(
            lease_store if lease_store is not None else LocalStore(self.path),
            lease_key or f"{self.collection}.writer.json",
            stale_after_s=lease_stale_after_s,
            heartbeat_s=min(20.0, lease_stale_after_s / 4),
        )

    # ---- lifecycle -----------------------------------------------------------------------

    def close(self) -> None:
        """Close the reader replica (and delete its copy) and give up the writer lease. The
        object stays usable."""
        with self._mutex:
            self._lease.release()
            if self._replica is not None:
                self._replica.close()
                self._replica = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- writing -------------------------------------------------------------------------

    @contextlib.contextmanager
    def write_session(self) -> Iterator[None]:
        """Hold the write lock and the open primary shard across several operations.

        Reads inside the session (``count``, ``ids_for_partition``, ``search``) see the
        session's own writes. Re-entrant. On exit: flush, optimize (if enabled), close, bump
        the generation so readers refresh.
        """
        with self._mutex:
            if self._write_shard is not None:
                yield
                return
            with self._file_lock:
                self._lease.hold()
                self._write_shard = self._open_primary()
                self._write_dirty = False
                try:
                    yield
                    if self._write_dirty:
                        self._write_shard.flush()
                        if self.optimize_on_write:
                            self._write_shard.optimize()
                finally:
                    shard, self._write_shard = self._write_shard, None
                    try:
                        shard.close()
                    finally:
                        if self._write_dirty:
                            self._bump_generation()

    def _open_primary(self) -> Any:
        qe = _edge()
        if not (self._shard_dir / "edge_config.json").is_file():
            raise VectorIndexError(
                f"{self._shard_dir}: collection {self.collection!r} does not exist; "
                "call ensure_collection(dim) first"
            )
        self._dim = self._stored_dim()
        return qe.EdgeShard.load(str(self._shard_dir))

    def _stored_config(self) -> dict:
        return json.loads((self._shard_dir / "edge_config.json").read_text())

    def _stored_dim(self) -> int:
        return int(self._stored_config()["vectors"][""]["size"])

    def _bump_generation(self) -> None:
        tmp = self._generation_file.with_name(f"{self._generation_file.name}.{os.getpid()}.tmp")
        tmp.write_text(uuid.uuid4().hex)
        os.replace(tmp, self._generation_file)

    def _read_generation(self) -> str:
        try:
            return self._generation_file.read_text()
        except FileNotFoundError:
            return ""

    def generation(self) -> str:
        """Changes after every write session that changed the index ("" before any): what a
        reader keeps beside a copy of the vectors, to know when it is stale."""
        return self._read_generation()

    def ensure_collection(self, dim: int) -> None:
        """Create the collection (cosine, payload indexes) or check the existing one's dim."""
        if dim <= 0:
            raise InvalidInputError(f"dim: must be positive, got {dim}")
        qe = _edge()
        with self._mutex, self._file_lock:
            self._lease.hold()
            if self._write_shard is not None:  # inside a write session: the collection exists
                if self._stored_dim() != dim:
                    raise VectorIndexError(
                        f"{self._shard_dir}: collection {self.collection!r} has vector dimension "
                        f"{self._stored_dim()}, asked for {dim}"
                    )
                return
            if (self._shard_dir / "edge_config.json").is_file():
                stored = self._stored_config()["vectors"].get("")
                if stored is None or int(stored["size"]) != dim:
                    have = None if stored is None else stored["size"]
                    raise VectorIndexError(
                        f"{self._shard_dir}: collection {self.collection!r} has vector dimension "
                        f"{have}, asked for {dim}; delete the directory or use another collection"
                    )
                if str(stored.get("distance", "Cosine")).lower() != "cosine":
                    raise VectorIndexError(
                        f"{self._shard_dir}: collection {self.collection!r} uses distance "
                        f"{stored.get('distance')}, not Cosine"
                    )
                shard = qe.EdgeShard.load(str(self._shard_dir))
            else:
                config = qe.EdgeConfig(
                    vectors=qe.EdgeVectorParams(size=dim, distance=qe.Distance.Cosine),
                    hnsw_config=qe.HnswIndexConfig(
                        m=self.hnsw_m,
                        ef_construct=self.hnsw_ef_construct,
                        full_scan_threshold=10_000,
                    ),
                )
                shard = qe.EdgeShard.create(str(self._shard_dir), config)
            try:
                existing = shard.info().payload_schema
                kinds = {
                    "keyword": qe.PayloadSchemaType.Keyword,
                    "float": qe.PayloadSchemaType.Float,
                }
                created = False
                for name, kind in PAYLOAD_INDEXES.items():
                    if name not in existing:
                        shard.update(qe.UpdateOperation.create_field_index(name, kinds[kind]))
                        created = True
                if created:
                    shard.flush()
            finally:
                shard.close()
            self._dim = dim
            if not self._generation_file.exists() or created:
                self._bump_generation()

    def upsert(self, points: Sequence[IndexPoint]) -> None:
        """Insert or overwrite points, in batches of 1024, in one write session."""
        if not points:
            return
        qe = _edge()
        with self.write_session():
            for start in range(0, len(points), UPSERT_BATCH):
                batch = [
                    qe.Point(
                        check_point_id(p.id),
                        as_vector(p.vector, self._dim),
                        plain_payload(p.payload),
                    )
                    for p in points[start : start + UPSERT_BATCH]
                ]
                self._write_shard.update(qe.UpdateOperation.upsert_points(batch))
                self._write_dirty = True

    def delete(self, ids: Sequence[str]) -> None:
        """Delete points by id (unknown ids are ignored)."""
        if not ids:
            return
        qe = _edge()
        with self.write_session():
            checked = [check_point_id(i) for i in ids]
            for start in range(0, len(checked), SCROLL_PAGE):
                chunk = checked[start : start + SCROLL_PAGE]
                self._write_shard.update(qe.UpdateOperation.delete_points(chunk))
                self._write_dirty = True

    def delete_partition(self, partition_key: str) -> int:
        """Delete every point of ``partition_key``; returns how many were deleted."""
        qe = _edge()
        with self.write_session():
            flt = _edge_filter(partition_key)
            n = self._write_shard.count(qe.CountRequest(exact=True, filter=flt))
            if n:
                self._write_shard.update(qe.UpdateOperation.delete_points_by_filter(flt))
                self._write_dirty = True
            return int(n)

    def optimize(self) -> bool:
        """Run the edge optimizers now (builds HNSW indexes); True if anything changed."""
        with self._mutex, self._file_lock:
            self._lease.hold()
            shard = self._open_primary()
            try:
                changed = bool(shard.optimize())
            finally:
                shard.close()
            if changed:
                self._bump_generation()
            return changed

    # ---- reading -------------------------------------------------------------------------

    def _read_shard(self) -> Any:
        """The shard to read from: the write session's, else a fresh-enough replica."""
        if self._write_shard is not None:
            return self._write_shard
        generation = self._read_generation()
        if self._replica is None or self._replica.generation != generation:
            self._refresh_replica()
        assert self._replica is not None
        return self._replica.shard

    def _refresh_replica(self) -> None:
        qe = _edge()
        self._replicas_dir.mkdir(exist_ok=True)
        self._sweep_dead_replicas()
        target = self._replicas_dir / f"{self.collection}-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        try:
            with self._file_lock:
                if not (self._shard_dir / "edge_config.json").is_file():
                    raise VectorIndexError(
                        f"{self._shard_dir}: collection {self.collection!r} does not exist; "
                        "call ensure_collection(dim) first"
                    )
                generation = self._read_generation()
                shutil.copytree(self._shard_dir, target, symlinks=True, copy_function=sparse_copy)
                self._dim = self._stored_dim()
            shard = qe.EdgeShard.load(str(target))
        except BaseException:
            remove_tree(target)
            raise
        old, self._replica = self._replica, Replica(target, shard, generation)
        if old is not None:
            old.close()

    def _sweep_dead_replicas(self) -> None:
        for entry in self._replicas_dir.iterdir():
            parts = entry.name.rsplit("-", 2)
            if len(parts) == 3 and parts[1].isdigit() and not pid_alive(int(parts[1])):
                remove_tree(entry)

    def count(self, partition_key: str | None = None) -> int:
        """Exact number of points (in ``partition_key`` if given)."""
        qe = _edge()
        with self._mutex:
            shard = self._read_shard()
            return int(shard.count(qe.CountRequest(exact=True, filter=_edge_filter(partition_key))))

    def ids_for_partition(self, partition_key: str) -> set[str]:
        """Ids of all points of ``partition_key``."""
        qe = _edge()
        flt = _edge_filter(partition_key)
        ids: set[str] = set()
        with self._mutex:
            shard = self._read_shard()
            offset = None
            while True:
                records, offset = shard.scroll(
                    qe.ScrollRequest(
                        offset=offset, limit=SCROLL_PAGE, filter=flt, with_payload=False
                    )
                )
                ids.update(str(r.id) for r in records)
                if offset is None:
                    return ids

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
        qe = _edge()
        flt = _edge_filter(
            partition_key, min_duration_s, tags, max_duration_s=max_duration_s,
            partition_keys=partition_keys, exclude_partitions=exclude_partitions,
        )
        with self._mutex:
            shard = self._read_shard()
            request = qe.QueryRequest(
                limit=int(limit),
                query=qe.Query.Nearest(as_vector(vector, self._dim)),
                filter=flt,
                with_payload=True,
            )
            scored = shard.query(request)
        return search_hits(scored)

    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The stored vectors of the points with these ids (unknown ids are left out)."""
        if not ids:
            return {}
        checked = [check_point_id(i) for i in ids]
        with self._mutex:
            records = self._read_shard().retrieve(checked, False, True)
        out: dict[str, np.ndarray] = {}
        for r in records:
            vector = r.vector.get("") if isinstance(r.vector, dict) else r.vector
            if vector is not None:
                out[str(r.id)] = np.asarray(vector, dtype=np.float32)
        return out

"""The shot vector index: one interface, two Qdrant backends.

``VectorIndex`` is what the rest of the platform codes against. Two implementations:

* :class:`EmbeddedQdrantIndex` (the default): Qdrant's own engine in-process through
  ``qdrant-edge-py`` (module ``qdrant_edge``), stored on local disk. No server to run.
* :class:`QdrantServerIndex`: a Qdrant server through ``qdrant-client``.

Points are shots. Their payload holds ``partition`` (str), ``title`` (str), ``shot`` (int),
``start_s``/``end_s``/``duration_s`` (float), ``keyframe_uri`` (str) and ``tags`` (list of str);
``partition``, ``duration_s`` and ``tags`` carry payload indexes so that filters are fast.
Vectors are compared by cosine similarity (score 1.0 = same direction).

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
  primary. A reader keeps a private *replica*, a copy of the primary taken under the lock, open
  for as long as it lives, and before each read compares the generation file (one small file
  read) with the generation it copied; when a writer has changed the store it copies and opens
  a fresh replica. Readers thus never block writers for longer than a copy, never see a store
  in the middle of a write, and any number of reader processes can coexist. The price is disk
  space (one copy of the shard per live reader process, under ``<path>/.replicas``) and a
  refresh of a few tenths of a second (copy + open) on the first read after each change.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import threading
import uuid
import warnings
import weakref
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, Self, runtime_checkable

import numpy as np
from filelock import FileLock

from media_platform.errors import InvalidInputError, MediaPlatformError

if TYPE_CHECKING:  # pragma: no cover
    import qdrant_edge
    from qdrant_client import QdrantClient

__all__ = [
    "PAYLOAD_INDEXES",
    "EmbeddedQdrantIndex",
    "IndexPoint",
    "QdrantServerIndex",
    "SearchHit",
    "VectorIndex",
    "VectorIndexError",
    "replace_partition_points",
    "shot_point_id",
]

#: Payload fields that get an index, with their kind ("keyword" or "float").
PAYLOAD_INDEXES: Mapping[str, str] = {
    "partition": "keyword",
    "duration_s": "float",
    "tags": "keyword",
}

#: Namespace of the deterministic shot point ids.
SHOT_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "media-platform:shot")

_UPSERT_BATCH = 1024
_SCROLL_PAGE = 1024
_COLLECTION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


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
    ) -> list[SearchHit]:
        """The ``limit`` points nearest to ``vector``, best first.

        Filters combine with AND: only ``partition_key``, only shots lasting at least
        ``min_duration_s`` seconds, only shots carrying *every* tag in ``tags``.
        """
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


# --------------------------------------------------------------------------------------------
# helpers shared by both backends


def _as_vector(vector: np.ndarray, dim: int | None) -> list[float]:
    arr = np.asarray(vector, dtype=np.float32)
    if arr.ndim != 1:
        arr = arr.reshape(-1)
    if dim is not None and arr.shape[0] != dim:
        raise VectorIndexError(f"vector has dimension {arr.shape[0]}, the collection has {dim}")
    if not np.all(np.isfinite(arr)):
        raise VectorIndexError("vector contains NaN or infinite values")
    return arr.tolist()


def _plain(value: Any) -> Any:
    """Payload value as plain JSON types (numpy scalars/arrays and tuples converted)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def _check_point_id(point_id: str) -> str:
    try:
        return str(uuid.UUID(str(point_id)))
    except ValueError:
        raise InvalidInputError(f"point id {point_id!r}: must be a UUID string") from None


def _check_collection(collection: str) -> str:
    if not _COLLECTION_NAME.match(collection):
        raise InvalidInputError(f"collection {collection!r}: must match [A-Za-z0-9][A-Za-z0-9_.-]*")
    return collection


# --------------------------------------------------------------------------------------------
# embedded: qdrant-edge


def _edge() -> Any:
    import qdrant_edge

    return qdrant_edge


def _edge_filter(
    partition_key: str | None,
    min_duration_s: float | None = None,
    tags: Sequence[str] | None = None,
) -> qdrant_edge.Filter | None:
    qe = _edge()
    must: list[Any] = []
    if partition_key is not None:
        must.append(qe.FieldCondition("partition", match=qe.MatchValue(partition_key)))
    if min_duration_s is not None:
        must.append(qe.FieldCondition("duration_s", range=qe.RangeFloat(gte=float(min_duration_s))))
    for tag in tags or ():
        must.append(qe.FieldCondition("tags", match=qe.MatchValue(str(tag))))
    return qe.Filter(must=must) if must else None


def _sparse_copy(src: str, dst: str) -> str:
    """Copy one file, keeping holes: edge preallocates 32 MiB sparse files (WAL, vector chunks,
    payload pages) that are mostly holes, and a plain copy would write every zero."""
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        size = os.fstat(fin.fileno()).st_size
        in_fd, out_fd = fin.fileno(), fout.fileno()
        pos = 0
        while pos < size:
            try:
                start = os.lseek(in_fd, pos, os.SEEK_DATA)
            except OSError:  # ENXIO: only a hole is left
                break
            except AttributeError:  # pragma: no cover - no SEEK_DATA on this platform
                start = pos
            try:
                end = os.lseek(in_fd, start, os.SEEK_HOLE)
            except (OSError, AttributeError):  # pragma: no cover
                end = size
            os.lseek(in_fd, start, os.SEEK_SET)
            os.lseek(out_fd, start, os.SEEK_SET)
            remaining = end - start
            while remaining > 0:
                chunk = os.read(in_fd, min(remaining, 1 << 22))
                if not chunk:
                    break
                os.write(out_fd, chunk)
                remaining -= len(chunk)
            pos = end
        fout.truncate(size)
    shutil.copystat(src, dst)
    return dst


def _remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _Replica:
    """A private, read-only-by-convention copy of the primary shard, open for reading."""

    def __init__(self, directory: Path, shard: Any, generation: str) -> None:
        self.directory = directory
        self.shard = shard
        self.generation = generation
        self._finalizer = weakref.finalize(self, _Replica._dispose, shard, directory)

    @staticmethod
    def _dispose(shard: Any, directory: Path) -> None:
        with contextlib.suppress(Exception):
            shard.close()
        _remove_tree(directory)

    def close(self) -> None:
        self._finalizer()


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
    ) -> None:
        self.path = Path(path)
        self.collection = _check_collection(collection)
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
        self._replica: _Replica | None = None
        self._dim: int | None = None

    # ---- lifecycle -----------------------------------------------------------------------

    def close(self) -> None:
        """Close the reader replica (and delete its copy). The object stays usable."""
        with self._mutex:
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

    def ensure_collection(self, dim: int) -> None:
        """Create the collection (cosine, payload indexes) or check the existing one's dim."""
        if dim <= 0:
            raise InvalidInputError(f"dim: must be positive, got {dim}")
        qe = _edge()
        with self._mutex, self._file_lock:
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
            for start in range(0, len(points), _UPSERT_BATCH):
                batch = [
                    qe.Point(
                        _check_point_id(p.id), _as_vector(p.vector, self._dim), _plain(p.payload)
                    )
                    for p in points[start : start + _UPSERT_BATCH]
                ]
                self._write_shard.update(qe.UpdateOperation.upsert_points(batch))
                self._write_dirty = True

    def delete(self, ids: Sequence[str]) -> None:
        """Delete points by id (unknown ids are ignored)."""
        if not ids:
            return
        qe = _edge()
        with self.write_session():
            checked = [_check_point_id(i) for i in ids]
            for start in range(0, len(checked), _SCROLL_PAGE):
                chunk = checked[start : start + _SCROLL_PAGE]
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
                shutil.copytree(self._shard_dir, target, symlinks=True, copy_function=_sparse_copy)
                self._dim = self._stored_dim()
            shard = qe.EdgeShard.load(str(target))
        except BaseException:
            _remove_tree(target)
            raise
        old, self._replica = self._replica, _Replica(target, shard, generation)
        if old is not None:
            old.close()

    def _sweep_dead_replicas(self) -> None:
        for entry in self._replicas_dir.iterdir():
            parts = entry.name.rsplit("-", 2)
            if len(parts) == 3 and parts[1].isdigit() and not _pid_alive(int(parts[1])):
                _remove_tree(entry)

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
                        offset=offset, limit=_SCROLL_PAGE, filter=flt, with_payload=False
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
    ) -> list[SearchHit]:
        """Nearest points by cosine similarity, best first, filters ANDed (all ``tags`` needed)."""
        if limit <= 0:
            return []
        qe = _edge()
        flt = _edge_filter(partition_key, min_duration_s, tags)
        with self._mutex:
            shard = self._read_shard()
            request = qe.QueryRequest(
                limit=int(limit),
                query=qe.Query.Nearest(_as_vector(vector, self._dim)),
                filter=flt,
                with_payload=True,
            )
            scored = shard.query(request)
        return [
            SearchHit(id=str(p.id), score=float(p.score), payload=dict(p.payload or {}))
            for p in scored
        ]


# --------------------------------------------------------------------------------------------
# server: qdrant-client


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
        self.collection = _check_collection(collection)
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
    ) -> Any:
        from qdrant_client import models

        must: list[Any] = []
        if partition_key is not None:
            must.append(
                models.FieldCondition(key="partition", match=models.MatchValue(value=partition_key))
            )
        if min_duration_s is not None:
            must.append(
                models.FieldCondition(
                    key="duration_s", range=models.Range(gte=float(min_duration_s))
                )
            )
        for tag in tags or ():
            must.append(models.FieldCondition(key="tags", match=models.MatchValue(value=str(tag))))
        return models.Filter(must=must) if must else None

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
        for start in range(0, len(points), _UPSERT_BATCH):
            batch = [
                models.PointStruct(
                    id=_check_point_id(p.id),
                    vector=_as_vector(p.vector, dim),
                    payload=_plain(p.payload),
                )
                for p in points[start : start + _UPSERT_BATCH]
            ]
            self.client.upsert(self.collection, points=batch, wait=True)

    def delete(self, ids: Sequence[str]) -> None:
        """Delete points by id (unknown ids are ignored)."""
        from qdrant_client import models

        checked = [_check_point_id(i) for i in ids]
        for start in range(0, len(checked), _SCROLL_PAGE):
            self.client.delete(
                self.collection,
                points_selector=models.PointIdsList(points=checked[start : start + _SCROLL_PAGE]),
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
                limit=_SCROLL_PAGE,
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
    ) -> list[SearchHit]:
        """Nearest points by cosine similarity, best first, filters ANDed (all ``tags`` needed)."""
        if limit <= 0:
            return []
        response = self.client.query_points(
            self.collection,
            query=_as_vector(vector, self._collection_dim()),
            query_filter=self._filter(partition_key, min_duration_s, tags),
            limit=int(limit),
            with_payload=True,
        )
        return [
            SearchHit(id=str(p.id), score=float(p.score), payload=dict(p.payload or {}))
            for p in response.points
        ]

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

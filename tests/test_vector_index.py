"""Tests of the shot vector index, over both backends.

``QdrantServerIndex`` is tested through the same qdrant-client API with an injected
``QdrantClient(location=":memory:")``: no Qdrant server binary is available to the test suite.
"""

from __future__ import annotations

import multiprocessing as mp
import uuid
from pathlib import Path

import numpy as np
import pytest

from media_platform.errors import InvalidInputError
from media_platform.search.edge import EmbeddedQdrantIndex
from media_platform.search.index import (
    IndexPoint,
    SearchHit,
    VectorIndex,
    VectorIndexError,
    replace_partition_points,
    shot_point_id,
)
from media_platform.search.qdrant_server import QdrantServerIndex

DIM = 16


def _unit(rng: np.random.Generator, n: int, dim: int = DIM) -> np.ndarray:
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _points(
    partition: str, n: int, seed: int = 0, *, dim: int = DIM, start: int = 0
) -> list[IndexPoint]:
    vectors = _unit(np.random.default_rng(seed), n, dim)
    points = []
    for i in range(n):
        shot = start + i
        points.append(
            IndexPoint(
                id=shot_point_id(partition, shot),
                vector=vectors[i],
                payload={
                    "partition": partition,
                    "title": f"Title of {partition}",
                    "shot": shot,
                    "start_s": float(shot * 2),
                    "end_s": float(shot * 2 + 1 + shot % 4),
                    "duration_s": float(1 + shot % 4),
                    "keyframe_uri": f"s3://bucket/{partition}/{shot}.jpg",
                    "tags": ["face"] if shot % 2 == 0 else [],
                },
            )
        )
    return points


@pytest.fixture(params=["embedded", "server"])
def index(request: pytest.FixtureRequest, tmp_path: Path) -> VectorIndex:
    if request.param == "embedded":
        idx: EmbeddedQdrantIndex | QdrantServerIndex = EmbeddedQdrantIndex(tmp_path / "index")
    else:
        from qdrant_client import QdrantClient

        idx = QdrantServerIndex(client=QdrantClient(location=":memory:"))
    idx.ensure_collection(DIM)
    yield idx
    idx.close()


def test_shot_point_id_is_deterministic_uuid() -> None:
    a = shot_point_id("2024-01-01|video-a", 3)
    assert a == shot_point_id("2024-01-01|video-a", 3)
    assert a != shot_point_id("2024-01-01|video-a", 4)
    assert a != shot_point_id("2024-01-01|video-b", 3)
    assert uuid.UUID(a).version == 5
    with pytest.raises(InvalidInputError):
        shot_point_id("", 0)


def test_both_backends_satisfy_protocol(index: VectorIndex) -> None:
    assert isinstance(index, VectorIndex)


def test_upsert_and_search_nearest_first(index: VectorIndex) -> None:
    points = _points("a", 20)
    index.upsert(points)
    assert index.count() == 20
    target = points[7]
    hits = index.search(target.vector, limit=5)
    assert len(hits) == 5
    assert isinstance(hits[0], SearchHit)
    assert hits[0].id == target.id
    assert hits[0].score == pytest.approx(1.0, abs=1e-4)
    assert hits[0].payload == target.payload
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    # a scaled copy of the vector is the same direction under cosine
    assert index.search(target.vector * 3.0, limit=1)[0].id == target.id


def test_filters(index: VectorIndex) -> None:
    index.upsert(_points("a", 12, seed=1) + _points("b", 12, seed=2))
    query = _unit(np.random.default_rng(9), 1)[0]

    hits = index.search(query, limit=50, partition_key="b")
    assert len(hits) == 12 and {h.payload["partition"] for h in hits} == {"b"}

    hits = index.search(query, limit=50, min_duration_s=3.0)
    assert hits and all(h.payload["duration_s"] >= 3.0 for h in hits)
    assert len(hits) == 12  # durations cycle 1,2,3,4

    hits = index.search(query, limit=50, tags=["face"])
    assert len(hits) == 12 and all("face" in h.payload["tags"] for h in hits)

    hits = index.search(query, limit=50, partition_key="a", min_duration_s=3.0, tags=["face"])
    expected = {
        p.id for p in _points("a", 12, seed=1) if p.payload["duration_s"] >= 3 and p.payload["tags"]
    }
    assert {h.id for h in hits} == expected and expected

    assert index.search(query, limit=5, tags=["nope"]) == []
    assert index.search(query, limit=5, partition_key="zzz") == []


def test_reupsert_does_not_duplicate(index: VectorIndex) -> None:
    points = _points("a", 10)
    index.upsert(points)
    index.upsert(points)
    moved = [IndexPoint(p.id, p.vector, {**p.payload, "title": "new"}) for p in points]
    index.upsert(moved)
    assert index.count() == 10
    assert index.count("a") == 10
    assert index.search(points[0].vector, limit=1)[0].payload["title"] == "new"


def test_count_ids_delete(index: VectorIndex) -> None:
    a, b = _points("a", 6), _points("b", 4)
    index.upsert(a + b)
    assert index.count("a") == 6 and index.count("b") == 4 and index.count("none") == 0
    assert index.ids_for_partition("a") == {p.id for p in a}
    index.delete([a[0].id, a[1].id, str(uuid.uuid4())])
    assert index.count("a") == 4
    assert index.delete_partition("b") == 4
    assert index.count("b") == 0 and index.count() == 4
    assert index.delete_partition("b") == 0


def test_replace_partition_points(index: VectorIndex) -> None:
    index.upsert(_points("a", 10, seed=1) + _points("b", 5, seed=2))
    new_a = _points("a", 6, seed=3)  # shots 0..5 re-detected with new vectors; 6..9 vanished
    assert replace_partition_points(index, "a", new_a) == (6, 4)
    assert index.ids_for_partition("a") == {p.id for p in new_a}
    assert index.count("b") == 5
    assert index.search(new_a[2].vector, limit=1)[0].id == new_a[2].id
    # idempotent
    assert replace_partition_points(index, "a", new_a) == (6, 0)
    assert index.count() == 11
    # an empty run empties the partition
    assert replace_partition_points(index, "a", []) == (0, 6)
    assert index.count() == 5
    with pytest.raises(InvalidInputError):
        replace_partition_points(index, "a", _points("b", 1))


def test_dim_mismatch(index: VectorIndex) -> None:
    index.ensure_collection(DIM)  # same dim: fine, idempotent
    with pytest.raises(VectorIndexError, match="dimension"):
        index.ensure_collection(DIM + 1)
    with pytest.raises(VectorIndexError, match="dimension"):
        index.upsert(_points("a", 1, dim=DIM + 1))


def test_embedded_persistence(tmp_path: Path) -> None:
    path = tmp_path / "idx"
    points = _points("a", 30)
    with EmbeddedQdrantIndex(path) as first:
        first.ensure_collection(DIM)
        first.upsert(points)
        assert first.count() == 30
    with EmbeddedQdrantIndex(path) as second:
        second.ensure_collection(DIM)
        assert second.count() == 30
        assert second.search(points[4].vector, limit=1)[0].id == points[4].id
        assert second.search(points[4].vector, limit=3, tags=["face"])[0].payload["tags"] == [
            "face"
        ]
        with pytest.raises(VectorIndexError, match="dimension"):
            second.ensure_collection(DIM * 2)
    assert not any((path / ".replicas").iterdir())  # readers cleaned their copies


def test_embedded_reader_refreshes_after_other_writer(tmp_path: Path) -> None:
    path = tmp_path / "idx"
    writer, reader = EmbeddedQdrantIndex(path), EmbeddedQdrantIndex(path)
    writer.ensure_collection(DIM)
    writer.upsert(_points("a", 5))
    assert reader.count() == 5
    writer.upsert(_points("b", 7, seed=5))
    assert reader.count() == 12  # the reader notices the new generation
    writer.delete_partition("a")
    assert reader.count() == 7
    reader.close()
    writer.close()


def test_embedded_missing_collection(tmp_path: Path) -> None:
    idx = EmbeddedQdrantIndex(tmp_path / "idx")
    with pytest.raises(VectorIndexError, match="ensure_collection"):
        idx.upsert(_points("a", 1))
    with pytest.raises(VectorIndexError, match="ensure_collection"):
        idx.count()
    with pytest.raises(InvalidInputError):
        EmbeddedQdrantIndex(tmp_path / "idx", collection="../evil")


def _concurrent_writer(path: str, worker: int, batches: int, per_batch: int) -> None:
    idx = EmbeddedQdrantIndex(Path(path), optimize_on_write=True)
    idx.ensure_collection(DIM)
    for b in range(batches):
        partition = f"w{worker}"
        idx.upsert(_points(partition, per_batch, seed=worker * 100 + b, start=b * per_batch))
        # interleave reads (a replica refresh each time) with the other writers
        idx.count(partition)
    idx.close()


def test_embedded_concurrent_processes(tmp_path: Path) -> None:
    path = tmp_path / "idx"
    first = EmbeddedQdrantIndex(path)
    first.ensure_collection(DIM)
    ctx = mp.get_context("spawn")
    workers, batches, per_batch = 3, 6, 40
    procs = [
        ctx.Process(target=_concurrent_writer, args=(str(path), w, batches, per_batch))
        for w in range(workers)
    ]
    for p in procs:
        p.start()
    # read while they write: counts only grow, never fail
    seen = []
    while any(p.is_alive() for p in procs):
        seen.append(first.count())
        first.search(_unit(np.random.default_rng(0), 1)[0], limit=3)
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    assert seen == sorted(seen)
    total = workers * batches * per_batch
    assert first.count() == total
    for w in range(workers):
        assert first.count(f"w{w}") == batches * per_batch
    first.close()
    # and the store reopens cleanly in a fresh object
    with EmbeddedQdrantIndex(path) as again:
        assert again.count() == total

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


# ---- the writer lease: one host writes the embedded index ------------------------------------

LEASE = "shots.writer.json"


def _write_lease(folder: Path, host: str, pid: int, *, age_s: float = 0.0, since_age_s: float = 60.0) -> None:
    import time

    from media_platform.search.writer_lease import LeaseRecord

    now = time.time()
    record = LeaseRecord(host, pid, uuid.uuid4().hex, now - since_age_s, now - age_s)
    (folder / LEASE).write_bytes(record.to_bytes())


def _lease(folder: Path) -> dict:
    import json

    return json.loads((folder / LEASE).read_text())


def _dead_pid() -> int:
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_embedded_refuses_a_store_another_host_is_writing(tmp_path: Path) -> None:
    """A live lease of another host: every write is refused with a message naming the host, its
    pid, since when and the Qdrant server setting; nothing is written; readers still read."""
    import socket

    from media_platform.search.writer_lease import IndexWriterBusy

    path = tmp_path / "idx"
    with EmbeddedQdrantIndex(path) as first:
        first.ensure_collection(DIM)
        first.upsert(_points("a", 5))
    assert not (path / LEASE).exists()  # released on close
    _write_lease(path, "gpu-host-7", 4242)
    before = (path / LEASE).read_bytes()
    index = EmbeddedQdrantIndex(path)
    assert socket.gethostname() != "gpu-host-7"
    for write in (lambda: index.upsert(_points("b", 3, seed=2)), lambda: index.ensure_collection(DIM),
                  lambda: index.delete_partition("a"), index.optimize,
                  lambda: replace_partition_points(index, "a", _points("a", 2))):
        with pytest.raises(IndexWriterBusy) as caught:
            write()
        message = str(caught.value)
        assert message.startswith(f"{(path / LEASE).resolve()}: the vector index is being written by host gpu-host-7 (pid 4242) since ")
        assert "MEDIA_PLATFORM_QDRANT_URL" in message and "several hosts" in message
    assert (path / LEASE).read_bytes() == before  # the other host's lease is untouched
    assert index.count() == 5 and index.count("b") == 0  # readers are not blocked
    assert index.search(_points("a", 5)[2].vector, limit=1)[0].id == _points("a", 5)[2].id
    index.close()
    assert (path / LEASE).read_bytes() == before  # closing does not drop another host's lease


def test_embedded_takes_over_a_stale_lease_of_another_host(tmp_path: Path) -> None:
    import os
    import socket

    path = tmp_path / "idx"
    EmbeddedQdrantIndex(path).ensure_collection(DIM)
    _write_lease(path, "gone-host", 4242, age_s=30.0)
    with EmbeddedQdrantIndex(path, lease_stale_after_s=20.0) as index:
        index.upsert(_points("a", 4))
        lease = _lease(path)
        assert (lease["host"], lease["pid"]) == (socket.gethostname(), os.getpid())
        assert index.count() == 4
    assert not (path / LEASE).exists()


def test_embedded_takes_over_the_lease_of_a_dead_process_of_this_host(tmp_path: Path) -> None:
    """Same host, the holder's pid is gone: taken over at once, though its heartbeat is fresh."""
    import os
    import socket

    path = tmp_path / "idx"
    EmbeddedQdrantIndex(path).ensure_collection(DIM)
    dead = _dead_pid()
    _write_lease(path, socket.gethostname(), dead)
    with EmbeddedQdrantIndex(path) as index:
        index.upsert(_points("a", 4))
        lease = _lease(path)
        assert lease["pid"] == os.getpid() and lease["pid"] != dead
        assert lease["since"] > time_now() - 30  # a new tenure, not the dead one's


def time_now() -> float:
    import time

    return time.time()


def test_embedded_shares_the_lease_with_a_live_writer_of_this_host(tmp_path: Path) -> None:
    """Another live writer process of this host: the lock file serializes the two, so both write."""
    import socket
    import subprocess
    import sys

    path = tmp_path / "idx"
    EmbeddedQdrantIndex(path).ensure_collection(DIM)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _write_lease(path, socket.gethostname(), other.pid, since_age_s=100.0)
        since = _lease(path)["since"]
        with EmbeddedQdrantIndex(path) as index:
            index.upsert(_points("a", 3))
            assert index.count() == 3
            assert _lease(path)["since"] == since  # one tenure of this host
    finally:
        other.kill()
        other.wait()


def _hold_as_other_host(folder: str, ready) -> None:
    import time

    from media_platform.search.writer_lease import WriterLease
    from media_platform.storage import LocalStore

    lease = WriterLease(LocalStore(folder), LEASE, stale_after_s=1.0, heartbeat_s=0.2, host="other-host")
    lease.hold()
    ready.set()
    time.sleep(120)
    lease.release()


def test_embedded_lease_is_renewed_while_its_holder_lives_and_goes_stale_when_it_dies(tmp_path: Path) -> None:
    """A real process holding the lease as another host: still refused after the stale time
    (its heartbeat renews it); SIGKILLed, its lease goes stale and is taken over."""
    import time

    from media_platform.search.writer_lease import IndexWriterBusy

    path = tmp_path / "idx"
    EmbeddedQdrantIndex(path).ensure_collection(DIM)
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    holder = ctx.Process(target=_hold_as_other_host, args=(str(path), ready))
    holder.start()
    try:
        assert ready.wait(60)
        index = EmbeddedQdrantIndex(path, lease_stale_after_s=1.0)
        time.sleep(1.4)  # longer than the stale time: only the heartbeat keeps it live
        with pytest.raises(IndexWriterBusy, match="host other-host"):
            index.upsert(_points("a", 2))
        holder.kill()
        holder.join(10)
        time.sleep(1.2)
        index.upsert(_points("a", 2))
        assert index.count() == 2 and _lease(path)["host"] != "other-host"
        index.close()
    finally:
        if holder.is_alive():
            holder.kill()
            holder.join(10)


def test_writer_lease_on_an_s3_store(tmp_path: Path) -> None:
    """The lease works through the Store abstraction on S3 (moto on loopback): two hosts of one
    S3 home, each with its own local index folder, cannot both write."""
    import boto3
    from _moto import start_moto

    from media_platform.search.writer_lease import IndexWriterBusy
    from media_platform.storage import S3Store

    server, endpoint = start_moto()
    try:
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                              aws_access_key_id="test", aws_secret_access_key="test")
        client.create_bucket(Bucket="home")
        store = S3Store(client, "home", "media")
        key = "vector_index/shots.writer.json"
        first = EmbeddedQdrantIndex(tmp_path / "host-a", lease_store=store, lease_key=key)
        first.ensure_collection(DIM)
        first.upsert(_points("a", 3))
        assert store.exists(key)
        from media_platform.search.writer_lease import LeaseRecord

        record = LeaseRecord.parse(store.read_bytes(key))
        # the second host: the same store, another host name
        other = LeaseRecord("host-b", record.pid + 1, "t", 0.0, 0.0)
        assert other.host != record.host
        second = EmbeddedQdrantIndex(tmp_path / "host-b", lease_store=store, lease_key=key)
        second._lease.host = "host-b"
        with pytest.raises(IndexWriterBusy, match=rf"^s3://home/media/{key}: the vector index is being written by host {record.host} \(pid {record.pid}\)"):
            second.ensure_collection(DIM)
        first.close()
        assert not store.exists(key)
        second.ensure_collection(DIM)  # released: the other host may write now
        assert LeaseRecord.parse(store.read_bytes(key)).host == "host-b"
        second.close()
    finally:
        server.stop()

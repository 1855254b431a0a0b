"""Search latency of the shot index: embedded qdrant-edge vs qdrant-client local mode.

    python benchmarks/search_latency.py [--points 100000] [--peer-points 10000] [--queries 300]

Synthetic data: random unit 512-d vectors (CLIP-sized), shots grouped ~500 per partition, with
realistic payloads (title, shot, start/end/duration lognormal around 4 s, keyframe URI, 0-3
tags). Queries are random unit vectors (index latency only: no text embedding), unfiltered and
filtered on partition + min duration (2 s).

Edge (the default backend, ``EmbeddedQdrantIndex``) is measured through the index API:

1. bulk upsert inside one write session (optimizer off), reported as points/s;
2. queries "as written": one unindexed segment, i.e. an exact scan;
3. ``optimize()`` (builds the HNSW graph; the slow part: about 3.5 min for 100,000 512-d
   points on 2 idle cores, over 9 min on 2 busy shared cores; skip it with ``--no-hnsw``, or
   use ``--points 20000`` for a quick run), then queries again. Production writes run the optimizer at the end of each
   write session, so a long-lived store is in the HNSW state plus a small unindexed tail.

The peer is qdrant-client's local mode (``QdrantClient(path=...)``, a pure-Python store), run
through ``QdrantServerIndex`` with fewer points (``--peer-points``) and queries because it is
slow; the point counts are printed beside the figures.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from media_platform.search.edge import EmbeddedQdrantIndex
from media_platform.search.index import IndexPoint, VectorIndex, shot_point_id
from media_platform.search.qdrant_server import QdrantServerIndex

TAGS = ["face", "text", "outdoor", "night", "crowd", "vehicle", "animal", "logo"]


def make_points(
    n: int, dim: int, seed: int = 0, shots_per_partition: int = 500
) -> list[IndexPoint]:
    """``n`` synthetic shots with random unit vectors and realistic payloads."""
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    durations = rng.lognormal(mean=np.log(4.0), sigma=0.8, size=n).round(3)
    n_tags = rng.integers(0, 4, size=n)
    points = []
    start = 0.0
    for i in range(n):
        video, shot = divmod(i, shots_per_partition)
        if shot == 0:
            start = 0.0
        partition = f"2024-{video % 12 + 1:02d}-01|video-{video:05d}"
        duration = float(durations[i])
        tags = sorted(rng.choice(TAGS, size=int(n_tags[i]), replace=False).tolist())
        points.append(
            IndexPoint(
                id=shot_point_id(partition, shot),
                vector=vectors[i],
                payload={
                    "partition": partition,
                    "title": f"Video {video}",
                    "shot": shot,
                    "start_s": round(start, 3),
                    "end_s": round(start + duration, 3),
                    "duration_s": duration,
                    "keyframe_uri": f"s3://media/keyframes/{partition}/{shot:05d}.jpg",
                    "tags": tags,
                },
            )
        )
        start += duration
    return points


def percentiles(samples_s: list[float]) -> tuple[float, float, float]:
    """p50, p95, p99 in milliseconds."""
    p50, p95, p99 = np.percentile(np.asarray(samples_s) * 1000.0, [50, 95, 99])
    return float(p50), float(p95), float(p99)


def time_queries(
    index: VectorIndex, queries: np.ndarray, partitions: list[str], *, filtered: bool
) -> tuple[float, float, float]:
    """Per-query latency percentiles (ms) of ``index.search`` over ``queries``."""
    samples = []
    for i, q in enumerate(queries):
        kwargs = (
            {"partition_key": partitions[i % len(partitions)], "min_duration_s": 2.0}
            if filtered
            else {}
        )
        t0 = time.perf_counter()
        index.search(q, limit=10, **kwargs)
        samples.append(time.perf_counter() - t0)
    return percentiles(samples)


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def fmt(p: tuple[float, float, float]) -> str:
    return f"{p[0]:8.2f} {p[1]:8.2f} {p[2]:8.2f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--points", type=int, default=100_000, help="points for the edge index")
    parser.add_argument(
        "--peer-points", type=int, default=10_000, help="points for qdrant-client local mode"
    )
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--queries", type=int, default=300, help="queries per edge measurement")
    parser.add_argument("--peer-queries", type=int, default=20, help="queries per peer measurement")
    parser.add_argument(
        "--no-hnsw", action="store_true", help="skip the HNSW build (optimize) phase"
    )
    parser.add_argument("--no-peer", action="store_true", help="skip qdrant-client local mode")
    parser.add_argument(
        "--text-model", default="ViT-B-32",
        help="open_clip model whose text tower encodes the queries for the end-to-end "
        "text-to-shot figure (untrained weights: same compute as trained ones); '' to skip",
    )
    parser.add_argument(
        "--workdir", type=Path, default=None, help="where to build the stores (temp dir)"
    )
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="search-bench-", dir=args.workdir))
    rows: list[tuple[str, str, str]] = []
    try:
        t0 = time.perf_counter()
        points = make_points(max(args.points, args.peer_points), args.dim)
        print(f"generated {len(points)} points in {time.perf_counter() - t0:.1f}s", flush=True)
        rng = np.random.default_rng(1)
        queries = rng.standard_normal((args.queries, args.dim)).astype(np.float32)
        queries /= np.linalg.norm(queries, axis=1, keepdims=True)
        partitions = sorted({p.payload["partition"] for p in points[: args.points]})

        # ---- edge ------------------------------------------------------------------------
        n = args.points
        edge = EmbeddedQdrantIndex(workdir / "edge", optimize_on_write=False)
        edge.ensure_collection(args.dim)
        t0 = time.perf_counter()
        with edge.write_session():
            edge.upsert(points[:n])
        upsert_s = time.perf_counter() - t0  # includes flush + close
        rows.append((f"edge  ({n} pts)", "upsert points/s", f"{n / upsert_s:,.0f}"))
        print(f"edge: upserted {n} in {upsert_s:.1f}s", flush=True)
        refresh_s = timed(lambda: edge.count())  # first read: copy + open a reader replica
        rows.append(
            (f"edge  ({n} pts)", "reader refresh (copy+open) ms", f"{refresh_s * 1000:.0f}")
        )
        edge.search(queries[0])  # warm-up
        for label, flt in (("unfiltered", False), ("filtered", True)):
            p = time_queries(edge, queries, partitions, filtered=flt)
            rows.append((f"edge  ({n} pts)", f"exact scan  {label} p50/p95/p99 ms", fmt(p)))
            print(f"edge exact scan {label}: {fmt(p)}", flush=True)
        if not args.no_hnsw:
            print("edge: building HNSW (optimize) ...", flush=True)
            optimize_s = timed(edge.optimize)
            rows.append((f"edge  ({n} pts)", "HNSW build (optimize) s", f"{optimize_s:.1f}"))
            refresh_s = timed(lambda: edge.count())
            rows.append(
                (f"edge  ({n} pts)", "reader refresh after build ms", f"{refresh_s * 1000:.0f}")
            )
            edge.search(queries[0])
            for label, flt in (("unfiltered", False), ("filtered", True)):
                p = time_queries(edge, queries, partitions, filtered=flt)
                rows.append((f"edge  ({n} pts)", f"HNSW        {label} p50/p95/p99 ms", fmt(p)))
                print(f"edge HNSW {label}: {fmt(p)}", flush=True)
        if args.text_model:
            from media_platform.video.clip import ClipEncoder, ClipModelSpec

            encoder = ClipEncoder(ClipModelSpec(args.text_model, "none"), device="cpu")
            texts = [f"{a} {b}" for a in ("a car chasing", "a dog near", "two people talking by", "an explosion over")
                     for b in ("a boat", "the sea", "a city at night", "a red door", "a crowded market")]
            encoder.encode_text(texts[:1])  # warm-up
            encode_ms, total_ms = [], []
            for i in range(min(args.queries, 100)):
                t0 = time.perf_counter()
                vector = encoder.encode_text([texts[i % len(texts)]])[0]
                t1 = time.perf_counter()
                if vector.shape[0] == args.dim:
                    edge.search(vector, limit=10)
                t2 = time.perf_counter()
                encode_ms.append((t1 - t0) * 1000)
                total_ms.append((t2 - t0) * 1000)
            label = f"edge  ({n} pts)"
            rows.append((label, f"text encode ({args.text_model}) p50/p95/p99 ms", fmt(np.percentile(encode_ms, [50, 95, 99]))))
            rows.append((label, "text-to-shot (encode+search) p50/p95/p99 ms", fmt(np.percentile(total_ms, [50, 95, 99]))))
            print(f"text-to-shot end to end: {fmt(np.percentile(total_ms, [50, 95, 99]))}", flush=True)
        assert edge.count() == n
        edge.close()

        # ---- peer: qdrant-client local mode ---------------------------------------------
        if not args.no_peer:
            from qdrant_client import QdrantClient

            m = args.peer_points
            client = QdrantClient(path=str(workdir / "local"))
            peer = QdrantServerIndex(client=client)
            peer.ensure_collection(args.dim)
            upsert_s = timed(lambda: peer.upsert(points[:m]))
            rows.append((f"local ({m} pts)", "upsert points/s", f"{m / upsert_s:,.0f}"))
            print(f"qdrant-client local: upserted {m} in {upsert_s:.1f}s", flush=True)
            peer_parts = sorted({p.payload["partition"] for p in points[:m]})
            pq = queries[: args.peer_queries]
            for label, flt in (("unfiltered", False), ("filtered", True)):
                p = time_queries(peer, pq, peer_parts, filtered=flt)
                rows.append((f"local ({m} pts)", f"brute force {label} p50/p95/p99 ms", fmt(p)))
                print(f"qdrant-client local {label}: {fmt(p)}", flush=True)
            peer.close()

        print()
        print(f"{'store':<20} {'measure':<42} value")
        for store, measure, value in rows:
            print(f"{store:<20} {measure:<42} {value}")
        print(
            f"(edge: {args.queries} queries per row; local mode: {args.peer_queries}; limit=10; "
            "filtered = partition + min_duration_s=2.0)"
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

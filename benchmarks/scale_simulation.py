"""The 5-million-episode design (deploy/SCALE.md) checked where a full run is impossible: a
measured per-shard partition cost, measured storage per minute of media, and a discrete-event
simulation of the backfill built on measured per-episode and per-run costs.

    python benchmarks/scale_simulation.py [--shard-partitions 100000] [--measure-storage]
                                          [--episodes 5000000] [--workers 250,1000]
                                          [--partitions-per-run 1,25] [--shards 64]

1. Shards (measured, unless ``--shard-partitions 0``): on one PostgreSQL Dagster instance
   (``deploy/dagster.yaml`` on a throwaway loopback server), ``--shard-partitions`` episode keys
   are added to a first shard's dynamic partitions definition (``episodes-00``), then as many to
   a second (``episodes-01``): the per-batch add time, ``get_dynamic_partitions`` and
   ``has_dynamic_partition`` of the second shard are compared with the first's, i.e. whether a
   shard's cost depends on the other shards in the same instance; then a third shard of 1,000
   beside them is listed.
2. Storage (measured with ``--measure-storage``): the bundled samples (an 89.7 s podcast and a
   30 s video) are ingested and run end to end with the ``media-platform`` command (every
   episode asset; the tiny test CLIP), and the bytes of every stored output are summed per minute
   of media, with the vector index's points per minute (shots).
3. Simulation (arithmetic plus a discrete-event list schedule, seeded): ``--episodes`` episodes
   with lognormal lengths (median ``--median-min`` minutes; an assumption, printed), grouped into
   runs of ``--partitions-per-run`` partitions (``BackfillPolicy.multi_run``), each run taking
   ``run_overhead_s`` plus ``cpu_s_per_min`` per minute of media on one 2-core worker host, on
   ``--workers`` hosts; printed: the makespan, the worker utilisation, Dagster runs and event-log
   rows, partitions per shard, and the storage and vector index sizes from step 2's rates.

The defaults of the cost inputs are the figures measured on this machine (2 cores, no GPU), with
their sources: ``--cpu-s-per-min`` 2.47 (benchmarks/README.md, "Preview of a 60-minute episode":
148 s for the audio pipeline up to the preview, transcription included, on 2 cores); ``--run-overhead-s``,
``--events-per-run`` and ``--partition-events`` from ``benchmarks/scale_workers.py`` (Celery, 1 worker: the time per
episode run of 6 steps whose media work is negligible, and the event-log rows per run).
"""

from __future__ import annotations

import argparse
import hashlib
import heapq
import json
import math
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

QDRANT_OVERHEAD = 1.5
"""Qdrant's capacity-planning rule: memory = vectors x dimension x 4 bytes x 1.5 (indexes,
versions, optimisation segments)."""


# --- 1. per-shard partition cost, measured ---------------------------------------------------------


def shard_keys(shard: int, count: int) -> list[str]:
    return [f"show-{i % 997:03d}-episode-{shard:02d}{i:07d}-{hashlib.sha256(f'{shard}/{i}'.encode()).hexdigest()[:8]}"
            for i in range(count)]


def measure_shards(count: int, batch: int = 1000) -> list[dict]:
    import dagster as dg
    from _postgres import postgres_server

    rows = []
    root = Path(tempfile.mkdtemp(prefix="scale-shards-"))
    try:
        with postgres_server() as server:
            database = server.create_database()
            os.environ["DAGSTER_POSTGRES_URL"] = database.replace("postgresql+psycopg", "postgresql+psycopg2")
            shutil.copy(REPO / "deploy" / "dagster.yaml", root / "dagster.yaml")
            with dg.DagsterInstance.from_config(str(root)) as instance:
                for shard in (0, 1):
                    name = f"episodes-{shard:02d}"
                    keys = shard_keys(shard, count)
                    batches = []
                    for i in range(0, count, batch):
                        t = time.perf_counter()
                        instance.add_dynamic_partitions(name, keys[i : i + batch])
                        batches.append(time.perf_counter() - t)
                    tenth = max(1, len(batches) // 10)
                    rows.append({
                        "shard": name, "partitions": count, "others_in_instance": shard * count,
                        "add_s": round(sum(batches), 1),
                        "first_10pct_batch_ms": round(statistics.mean(batches[:tenth]) * 1000, 1),
                        "last_10pct_batch_ms": round(statistics.mean(batches[-tenth:]) * 1000, 1),
                    })
                # with both shards in the instance: list and look up each, alternating, 5 times
                lists: dict[int, list[float]] = {0: [], 1: []}
                lookups: dict[int, list[float]] = {0: [], 1: []}
                for _ in range(5):
                    for shard in (0, 1):
                        name = f"episodes-{shard:02d}"
                        t = time.perf_counter()
                        assert len(instance.get_dynamic_partitions(name)) == count
                        lists[shard].append(time.perf_counter() - t)
                        probes = random.Random(len(lookups[shard])).sample(shard_keys(shard, count), 10)
                        t = time.perf_counter()
                        assert all(instance.has_dynamic_partition(name, k) for k in probes)
                        lookups[shard].append((time.perf_counter() - t) / 10)
                for shard, row in enumerate(rows):
                    row["list_ms_median_of_5"] = round(statistics.median(lists[shard]) * 1000, 1)
                    row["has_ms_median"] = round(statistics.median(lookups[shard]) * 1000, 2)
                    print(json.dumps(row), flush=True)
                # a small shard beside the two big ones: its list costs what its own size costs
                instance.add_dynamic_partitions("episodes-02", shard_keys(2, 1000))
                small = []
                for _ in range(5):
                    t = time.perf_counter()
                    assert len(instance.get_dynamic_partitions("episodes-02")) == 1000
                    small.append(time.perf_counter() - t)
                row = {"shard": "episodes-02", "partitions": 1000, "others_in_instance": 2 * count,
                       "list_ms_median_of_5": round(statistics.median(small) * 1000, 1)}
                rows.append(row)
                print(json.dumps(row), flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return rows


# --- 2. storage per minute of media, measured --------------------------------------------------


def _media_seconds(path: Path) -> float:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def measure_storage() -> dict:
    import polars as pl
    from cli_harness import cli, make_cli_env

    from media_platform.layout import SHOTS

    root = Path(tempfile.mkdtemp(prefix="scale-storage-"))
    result = {}
    try:
        env = make_cli_env(root)
        for name, sample, title in (("audio", "samples/podcast_assembled.mp3", "Storage podcast"),
                                    ("video", "samples/big_buck_bunny_0_30.webm", "Storage video")):
            path = REPO / sample
            ingest = cli(env, "ingest", str(path), "--title", title)
            if ingest.returncode != 0:
                raise RuntimeError(ingest.stderr[-2000:])
            found = re.search(r"as partition '([^']+)'", ingest.stdout)
            if found is None:
                raise RuntimeError(f"no partition in: {ingest.stdout[-500:]}")
            key = found.group(1)
            episodes = Path(env["MEDIA_PLATFORM_HOME"]) / "episodes"
            t = time.perf_counter()
            run = subprocess.run(["media-platform", "--no-progress", "run", key], env=env, capture_output=True,
                                 text=True, timeout=1800, check=False)
            if run.returncode != 0:
                raise RuntimeError(run.stdout[-2000:] + run.stderr[-2000:])
            wall = time.perf_counter() - t
            minutes = _media_seconds(path) / 60
            files = {p.relative_to(episodes / key).as_posix(): p.stat().st_size
                     for p in (episodes / key).rglob("*") if p.is_file()}
            files["(master, as ingested)"] = path.stat().st_size
            shots = episodes / key / SHOTS
            result[name] = {"partition": key, "media_min": round(minutes, 3), "run_wall_s": round(wall, 1),
                            "bytes_per_min": round(sum(files.values()) / minutes),
                            "shots_per_min": round(pl.read_parquet(shots).height / minutes, 1) if shots.exists() else 0,
                            "files": dict(sorted(files.items(), key=lambda kv: -kv[1]))}
        index = Path(env["MEDIA_PLATFORM_HOME"]) / "vector_index"
        result["vector_index_bytes"] = sum(p.stat().st_size for p in index.rglob("*") if p.is_file()) if index.exists() else 0
        print(json.dumps(result, indent=1), flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return result


# --- 3. the backfill, simulated ------------------------------------------------------------------


def episode_lengths(n: int, median_min: float, sigma: float, seed: int = 13) -> list[float]:
    rng = random.Random(seed)
    return [median_min * math.exp(rng.gauss(0.0, sigma)) for _ in range(n)]


def simulate(lengths: list[float], workers: int, per_run: int, cpu_s_per_min: float, run_overhead_s: float) -> dict:
    """List-schedule the runs (in partition order, ``per_run`` partitions each) on ``workers``
    identical hosts, each running one run at a time: the makespan and utilisation."""
    free = [0.0] * workers
    heapq.heapify(free)
    busy = 0.0
    runs = 0
    for i in range(0, len(lengths), per_run):
        work = run_overhead_s + cpu_s_per_min * sum(lengths[i : i + per_run])
        start = heapq.heappop(free)
        heapq.heappush(free, start + work)
        busy += work
        runs += 1
    makespan = max(free)
    return {"runs": runs, "makespan_days": makespan / 86_400, "utilisation": busy / (makespan * workers),
            "overhead_share": runs * run_overhead_s / busy}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shard-partitions", type=int, default=100_000)
    parser.add_argument("--measure-storage", action="store_true")
    parser.add_argument("--storage-json", help="reuse a storage measurement printed earlier (a JSON file)")
    parser.add_argument("--episodes", type=int, default=5_000_000)
    parser.add_argument("--median-min", type=float, default=40.0, help="median episode length (assumption)")
    parser.add_argument("--sigma", type=float, default=0.7, help="lognormal spread of lengths (assumption)")
    parser.add_argument("--workers", default="250,1000", help="2-core worker hosts")
    parser.add_argument("--partitions-per-run", default="1,25")
    parser.add_argument("--shards", type=int, default=64)
    parser.add_argument("--cpu-s-per-min", type=float, default=148 / 60)
    parser.add_argument("--run-overhead-s", type=float, required=True,
                        help="seconds of a worker per episode run beyond the media work (scale_workers.py)")
    parser.add_argument("--events-per-run", type=float, required=True,
                        help="event-log rows per one-partition run (scale_workers.py)")
    parser.add_argument("--partition-events", type=float, default=0.0,
                        help="of which written once per partition (materializations, checks): scale_workers.py")
    parser.add_argument("--event-bytes", type=float, default=0.0,
                        help="instance database bytes per run (scale_workers.py), 0: not printed")
    parser.add_argument("--shots-per-min", type=float, default=0.0, help="vector points per minute of video")
    parser.add_argument("--video-share", type=float, default=0.0, help="share of episodes that are video")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f}; {os.cpu_count()} CPUs", flush=True)

    if args.shard_partitions:
        measure_shards(args.shard_partitions)
    storage = None
    if args.measure_storage:
        storage = measure_storage()
    elif args.storage_json:
        storage = json.loads(Path(args.storage_json).read_text())

    lengths = episode_lengths(args.episodes, args.median_min, args.sigma)
    minutes = sum(lengths)
    print(f"\n{args.episodes:,} episodes, median {args.median_min:g} min (lognormal sigma {args.sigma:g}, assumed): "
          f"mean {minutes / len(lengths):.1f} min, {minutes / 60:,.0f} hours of media")
    print(f"per shard ({args.shards} shards): {math.ceil(args.episodes / args.shards):,} partitions "
          f"(Dagster's guidance: at most ~100,000 per asset)")
    for per_run in (int(x) for x in args.partitions_per_run.split(",")):
        for workers in (int(x) for x in args.workers.split(",")):
            t = time.perf_counter()
            sim = simulate(lengths, workers, per_run, args.cpu_s_per_min, args.run_overhead_s)
            rows = sim["runs"] * (args.events_per_run - args.partition_events) + args.episodes * args.partition_events
            line = (f"partitions/run {per_run:3d}, {workers:5d} hosts: {sim['runs']:,} runs, "
                    f"{sim['makespan_days']:.2f} days, utilisation {sim['utilisation']:.3f}, "
                    f"run overhead {sim['overhead_share'] * 100:.1f}% of worker time, "
                    f"{rows / 1e6:,.1f} M event-log rows; the instance must start "
                    f"{sim['runs'] / (sim['makespan_days'] * 86_400):.2f} runs/s and write "
                    f"{rows / (sim['makespan_days'] * 86_400):,.0f} event rows/s")
            if args.event_bytes:
                line += f" (~{rows / args.events_per_run * args.event_bytes / 1e9:,.0f} GB)"
            print(line + f"  [simulated in {time.perf_counter() - t:.1f} s]", flush=True)
    if storage:
        audio, video = storage["audio"]["bytes_per_min"], storage["video"]["bytes_per_min"]
        per_min = (1 - args.video_share) * audio + args.video_share * video
        print(f"file store: {audio / 1e6:.2f} MB per audio minute, {video / 1e6:.2f} MB per video minute "
              f"(measured) -> {minutes * per_min / 1e12:,.1f} TB for {args.episodes:,} episodes "
              f"at {args.video_share:.0%} video")
        lossless = ("audio_normalized.flac", "audio_16k.wav")
        for kind in ("audio", "video"):
            entry = storage[kind]
            share = sum(entry["files"].get(f, 0) for f in lossless) / (entry["bytes_per_min"] * entry["media_min"])
            print(f"  {kind}: {share:.0%} of it is the two lossless audio derivatives ({', '.join(lossless)})")
    if args.shots_per_min and args.video_share:
        points = minutes * args.video_share * args.shots_per_min
        for dim in (512,):
            ram = points * dim * 4 * QDRANT_OVERHEAD
            print(f"vector index: {points / 1e6:,.0f} M shot vectors of {dim} floats -> "
                  f"{ram / 1e9:,.0f} GB RAM by Qdrant's rule (x1.5), {points * dim / 1e9:,.0f} GB with int8 "
                  f"scalar quantization in RAM and the originals on disk")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

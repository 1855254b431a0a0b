"""Backfill throughput through the Celery executor on 1 worker, then on 2, in the same run.

    python benchmarks/scale_workers.py [--episodes 40] [--orchestrators 8] [--warm-up 8] [--seconds 5-9]
                                       [--select master,media_probe,audio,audio_events]

The deployment is step 3 of ``deploy/README.md`` on loopback: a throwaway PostgreSQL server
(``tests/_postgres.py``; Dagster's instance from ``deploy/dagster.yaml`` and the catalogue in
one database), a throwaway Redis (``tests/_redis.py``; broker and result backend),
``MEDIA_PLATFORM_EXECUTOR=celery``, and CPU workers started with ``media-platform worker
--concurrency 1`` (each runs one step at a time: a worker is one CPU slot).

``--episodes`` short spoken episodes (``--seconds`` long, espeak-ng speech made into MP3s by
ffmpeg, each different) are ingested with the platform's ``register_master`` and added as
episode partitions. The backfill is one run per partition launched through the platform's own
Celery path (``definitions.execute_partition_run``, what ``media-platform run`` does with
``MEDIA_PLATFORM_EXECUTOR=celery``), at most ``--orchestrators`` runs at once (8, as the queued
run coordinator of ``deploy/dagster.yaml`` allows), each run orchestrated in its own process and
every step a Celery task on the workers. The selection is the CPU part of an audio episode
(``--select``: download check, probe, loudness-normalised audio and YAMNet audio events, with
their checks: 6 steps a run); GPU steps would need the ``gpu`` queue's worker.

Phase 1 runs the backfill with one worker; phase 2 starts a second worker and runs the same
partitions again. Each phase is preceded by ``--warm-up`` untimed runs (a worker's first step of
each kind loads the job and the models) (the same work: the outputs are overwritten). Printed per phase: wall time,
episodes per minute, how many steps each worker ran (from the runs' Celery engine events), the
mean step time and the summed step time over wall time (the parallelism reached), the
event-log rows per run and the growth of the PostgreSQL database per run; then the
ratio of phase 2 to phase 1 and the load average.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

PER_PARTITION_EVENTS = {"ASSET_MATERIALIZATION_PLANNED", "ASSET_MATERIALIZATION", "ASSET_CHECK_EVALUATION_PLANNED",
                        "ASSET_CHECK_EVALUATION", "ASSET_OBSERVATION", "ASSET_FAILED_TO_MATERIALIZE"}
"""Events written once per asset (or check) and partition: a run of N partitions writes N times
these, and the rest (run and step events) once."""

WORDS = ("river", "city", "music", "tonight", "country", "light", "ready", "again", "market", "garden",
         "history", "science", "weather", "football", "kitchen", "mountain", "station", "window")


def make_episode(folder: Path, number: int, seconds: float) -> Path:
    """A spoken MP3 of about ``seconds`` s, different for every ``number``."""
    words = [WORDS[(number * 7 + i * 3) % len(WORDS)] for i in range(40)]
    text = f"Episode {number}. " + " ".join(words)
    wav, mp3 = folder / f"episode-{number:03d}.wav", folder / f"episode-{number:03d}.mp3"
    subprocess.run(["espeak-ng", "-s", "170", "-w", str(wav), text], check=True, capture_output=True)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(wav), "-t", f"{seconds:.2f}", "-af", "apad",
                    "-ar", "44100", "-ac", "1", "-b:a", "96k", str(mp3)], check=True, capture_output=True)
    wav.unlink()
    return mp3


def start_worker(root: Path, env: dict[str, str], name: str) -> subprocess.Popen:
    log = open(root / f"worker-{name}.log", "wb")
    return subprocess.Popen(
        ["media-platform", "worker", "--name", f"{name}@bench", "--concurrency", "1", "--loglevel", "INFO"],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root,
    )


def wait_ready(root: Path, workers: dict[str, subprocess.Popen], timeout_s: float = 240) -> None:
    deadline = time.monotonic() + timeout_s
    while not all(" ready." in (root / f"worker-{n}.log").read_text(errors="replace") for n in workers):
        for name, process in workers.items():
            if process.poll() is not None:
                raise RuntimeError((root / f"worker-{name}.log").read_text()[-3000:])
        if time.monotonic() > deadline:
            raise RuntimeError("workers did not start")
        time.sleep(0.2)


def stop_worker(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


# --- one run per partition, each orchestrated in its own process --------------------------------

_code = None
_instance = None


def _init_orchestrator() -> None:
    global _code, _instance
    import dagster as dg

    from media_platform.cli.code_location import load_code_location

    _code = load_code_location()
    _instance = dg.DagsterInstance.get()


def _run_partition(key: str, select: list[str]) -> tuple[str, str, bool, float, float]:
    import dagster as dg

    run_id = str(uuid.uuid4())
    started = time.time()
    result = _code.execute_partition_run(_instance, key, [dg.AssetKey(s) for s in select], run_id,
                                         tags={"media_platform/benchmark": "scale_workers"})
    return key, run_id, bool(result.success), started, time.time()


def _ready(_: int) -> int:
    time.sleep(0.5)
    return os.getpid()


def orchestrators_pool(count: int):
    """``count`` orchestrator processes (fresh interpreters), each with the code location loaded
    and the instance open before any run is timed."""
    pool = multiprocessing.get_context("spawn").Pool(count, initializer=_init_orchestrator)
    pids: set[int] = set()
    while len(pids) < count:
        pids.update(pool.map(_ready, range(count * 2), chunksize=1))
    return pool


def backfill(pool, keys: list[str], select: list[str]) -> tuple[float, list[tuple]]:
    t0 = time.time()
    results = pool.starmap(_run_partition, [(key, select) for key in keys], chunksize=1)
    return time.time() - t0, results


def step_report(instance, run_ids: list[str]) -> dict:
    """Steps per Celery worker and step durations (STEP_START to STEP_SUCCESS) of the runs."""
    import dagster as dg

    per_worker: Counter[str] = Counter()
    durations = []
    rows = 0
    per_partition = 0
    for run_id in run_ids:
        starts = {}
        for entry in instance.all_logs(run_id):
            rows += 1
            event = entry.dagster_event
            if event is None:
                continue
            if event.event_type_value in PER_PARTITION_EVENTS:
                per_partition += 1
            if event.event_type == dg.DagsterEventType.ENGINE_EVENT and event.engine_event_data:
                worker = event.engine_event_data.metadata.get("Celery worker")
                if worker is not None:
                    per_worker[worker.value] += 1
            elif event.event_type == dg.DagsterEventType.STEP_START:
                starts[event.step_key] = entry.timestamp
            elif event.event_type == dg.DagsterEventType.STEP_SUCCESS and event.step_key in starts:
                durations.append(entry.timestamp - starts[event.step_key])
    return {"per_worker": dict(per_worker), "steps": len(durations), "step_s": durations,
            "events_per_run": rows / max(1, len(run_ids)),
            "partition_events_per_run": per_partition / max(1, len(run_ids))}


def database_bytes() -> int:
    """Size of the deployment's PostgreSQL database (instance and catalogue)."""
    import sqlalchemy as sa

    engine = sa.create_engine(os.environ["MEDIA_PLATFORM_CATALOGUE_URL"])
    try:
        with engine.connect() as conn:
            return int(conn.exec_driver_sql("SELECT pg_database_size(current_database())").scalar())
    finally:
        engine.dispose()


def phase(name: str, instance, pool, keys: list[str], select: list[str]) -> dict:
    load_before = os.getloadavg()[0]
    size_before = database_bytes()
    wall, results = backfill(pool, keys, select)
    grown = database_bytes() - size_before
    failed = [k for k, _, ok, _, _ in results if not ok]
    if failed:
        raise RuntimeError(f"{name}: runs failed for {failed}")
    report = step_report(instance, [r[1] for r in results])
    busy = sum(report["step_s"])
    out = {
        "phase": name, "episodes": len(keys), "wall_s": round(wall, 1),
        "episodes_per_min": round(len(keys) / wall * 60, 2),
        "steps_per_worker": report["per_worker"], "steps": report["steps"],
        "mean_step_s": round(statistics.mean(report["step_s"]), 2),
        "run_s_median": round(statistics.median(r[4] - r[3] for r in results), 1),
        "parallelism": round(busy / wall, 2),
        "events_per_run": round(report["events_per_run"], 1),
        "of_which_per_partition": round(report["partition_events_per_run"], 1), "db_bytes_per_run": round(grown / len(keys)),
        "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2),
    }
    print(out, flush=True)
    return out


def warm_up(instance, pool, keys: list[str], select: list[str]) -> None:
    """Untimed runs, so that every worker's pool process has loaded the job and the models (a
    worker's first step of each kind pays that) before a phase is timed."""
    wall, results = backfill(pool, keys, select)
    report = step_report(instance, [r[1] for r in results])
    print(f"warm-up: {len(keys)} runs in {wall:.1f} s, steps per worker {report['per_worker']}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=40)
    parser.add_argument("--orchestrators", type=int, default=8, help="runs at once (deploy/dagster.yaml: 8)")
    parser.add_argument("--warm-up", type=int, default=8, help="untimed runs before each phase")
    parser.add_argument("--seconds", default="5-9", help="episode lengths: a range LOW-HIGH in seconds")
    parser.add_argument("--select", default="master,media_probe,audio,audio_events")
    args = parser.parse_args()
    low, high = (float(x) for x in args.seconds.split("-"))
    select = args.select.split(",")

    from _postgres import postgres_server
    from _redis import redis_server
    from cli_harness import make_cli_env

    root = Path(tempfile.mkdtemp(prefix="scale-workers-"))
    workers: dict[str, subprocess.Popen] = {}
    try:
        with postgres_server() as pg, redis_server() as redis:
            database = pg.create_database()
            env = make_cli_env(root)
            env.update({
                "DAGSTER_POSTGRES_URL": database.replace("postgresql+psycopg", "postgresql+psycopg2"),
                "MEDIA_PLATFORM_CATALOGUE_URL": database,
                "MEDIA_PLATFORM_EXECUTOR": "celery",
                "MEDIA_PLATFORM_CELERY_BROKER": redis.url(),
            })
            Path(env["DAGSTER_HOME"]).mkdir(parents=True)
            shutil.copy(REPO / "deploy" / "dagster.yaml", Path(env["DAGSTER_HOME"]) / "dagster.yaml")
            os.environ.update(env)  # this process and its orchestrators open the same deployment

            import dagster as dg

            from media_platform.catalogue import Catalogue
            from media_platform.ingest.register import register_master
            from media_platform.storage import LocalStore
            from resources.partitions import episodes_partitions

            media = root / "media"
            media.mkdir()
            t = time.time()
            store = LocalStore(env["MEDIA_PLATFORM_HOME"])
            catalogue = Catalogue(store)
            keys = []
            for n in range(args.episodes):
                seconds = low + (high - low) * (n % 5) / 4
                path = make_episode(media, n, seconds)
                keys.append(register_master(store, catalogue, path, title=f"Scale episode {n}").episode.partition_key)
            print(f"{len(keys)} episodes of {low:g}-{high:g} s made and ingested in {time.time() - t:.1f} s", flush=True)

            workers["w1"] = start_worker(root, env, "w1")
            wait_ready(root, workers)
            pool = orchestrators_pool(args.orchestrators)
            try:
                with dg.DagsterInstance.get() as instance:
                    instance.add_dynamic_partitions(episodes_partitions.name, keys)
                    print(f"load average at start: {os.getloadavg()}; {os.cpu_count()} CPUs", flush=True)
                    warm_up(instance, pool, keys[: args.warm_up], select)
                    one = phase("1 worker", instance, pool, keys, select)
                    workers["w2"] = start_worker(root, env, "w2")
                    wait_ready(root, workers)
                    warm_up(instance, pool, keys[: args.warm_up], select)
                    two = phase("2 workers", instance, pool, keys, select)
            finally:
                pool.close()
                pool.join()
            print(f"ratio 2 workers / 1 worker: {two['episodes_per_min'] / one['episodes_per_min']:.2f}x "
                  f"({one['episodes_per_min']} -> {two['episodes_per_min']} episodes/min)")
            print(f"load average at end: {os.getloadavg()}")
    finally:
        for process in workers.values():
            with contextlib.suppress(Exception):
                stop_worker(process)
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

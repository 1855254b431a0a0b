"""Episodes run end to end through the Celery executor on a PostgreSQL instance, with real servers
on loopback started and stopped by PID here: PostgreSQL (instance storage and catalogue in one
database), Redis (broker and result backend) and two workers started with
``media-platform worker`` (one on the default queue, one on ``gpu``).

- a video and an audio episode give the same shots, transcript words and preview span as the
  in-process run;
- the GPU steps (CLIP embeddings, Whisper) ran on the ``gpu`` worker and nothing else did,
  read from the run's events;
- the process running a step is killed mid-step: the step is delivered again and the run
  completes;
- a whole worker is lost mid-step (its main process and its pool, as when a host goes down):
  its unacknowledged step goes back to the queue once the visibility timeout has passed, a
  replacement worker runs it, and the run completes.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from _redis import redis_server, require_redis
from cli_harness import make_cli_env
from platform_harness import platform_for_test

from assets import audio as audio_assets
from assets import ingest, previews, tags, video
from media_platform.catalogue import Catalogue
from media_platform.ingest.register import register_master
from media_platform.layout import PREVIEW_SELECTION, SHOTS, TRANSCRIPT
from media_platform.storage import LocalStore
from resources.partitions import episodes_partitions

REPO = Path(__file__).resolve().parent.parent
GPU_STEPS = {"shot_embeddings", "transcript"}
WORKER_START_S = 180
RUN_TIMEOUT_S = 420


@dataclass
class Deployment:
    root: Path
    env: dict[str, str]
    workers: dict[str, subprocess.Popen]
    instance: dg.DagsterInstance
    started_at: float = 0.0

    @property
    def home(self) -> Path:
        return Path(self.env["MEDIA_PLATFORM_HOME"])

    def log(self, queue: str) -> str:
        return (self.root / f"worker-{queue}.log").read_text(errors="replace")

    def wait_ready(self) -> None:
        """Both workers have said `` ready.`` (within ``WORKER_START_S`` of their start). Runs may
        be launched before: their steps wait in Redis, and the workers' start-up overlaps the
        runs' own start-up and the in-process reference runs."""
        while not all(" ready." in self.log(queue) for queue in ("dagster", "gpu")):
            for queue, process in self.workers.items():
                assert process.poll() is None, self.log(queue)[-3000:]
            assert time.monotonic() < self.started_at + WORKER_START_S, "workers did not start"
            time.sleep(0.2)


def _start_worker(root: Path, env: dict[str, str], queue: str, name: str | None = None) -> subprocess.Popen:
    log = open(root / f"worker-{name or queue}.log", "wb")
    return subprocess.Popen(
        ["media-platform", "worker", "--queue", queue, "--name", f"{name or queue}@test", "--loglevel", "INFO",
         "--concurrency", "2" if queue == "dagster" else "1"],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root,
    )


def _stop(*processes: subprocess.Popen) -> None:
    """Warm shutdown by SIGTERM (each worker stops its pool processes), all at once; SIGKILL
    (worker and pool) for any still running after 30 s."""
    running = [p for p in processes if p.poll() is None]
    for process in running:
        process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 30
    for process in running:
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            for child in _children(process.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child, signal.SIGKILL)
            process.kill()
            process.wait(10)


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


@pytest.fixture(scope="module")
def deployment(tmp_path_factory, postgres, shared_media) -> Iterator[Deployment]:
    require_redis()
    root = tmp_path_factory.mktemp("celery-deployment")
    database = postgres.create_database()  # instance storage and catalogue share it
    with redis_server() as redis, pytest.MonkeyPatch.context() as mp:
        env = make_cli_env(root)
        env.update({
            "DAGSTER_POSTGRES_URL": database.replace("postgresql+psycopg", "postgresql+psycopg2"),
            "MEDIA_PLATFORM_CATALOGUE_URL": database,
            "MEDIA_PLATFORM_EXECUTOR": "celery",
            "MEDIA_PLATFORM_CELERY_BROKER": redis.url(),
            "MEDIA_PLATFORM_ALLOW_PRIVATE_URLS": "1",
            # these tests read no metadata: each `media-platform run` skips its dbt build
            "MEDIA_PLATFORM_RUN_BUILDS_METADATA": "0",
        })
        dagster_home = Path(env["DAGSTER_HOME"])
        dagster_home.mkdir(parents=True)
        shutil.copy(REPO / "deploy" / "dagster.yaml", dagster_home / "dagster.yaml")
        started_at = time.monotonic()
        workers = {queue: _start_worker(root, env, queue) for queue in ("dagster", "gpu")}
        try:  # not waiting for them here: see Deployment.wait_ready
            mp.setenv("DAGSTER_POSTGRES_URL", env["DAGSTER_POSTGRES_URL"])
            with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
                yield Deployment(root, env, workers, instance, started_at)
        finally:
            _stop(*workers.values())


EPISODE_ASSETS = dg.AssetSelection.all() - dg.AssetSelection.groups("models")
VIDEO = ("video/pyscenedetect/issue-134-rotate.mp4", "Rotate")
AUDIO = ("audio/whisper_jfk/jfk.flac", "JFK")


@dataclass
class Outcome:
    key: str
    returncode: int
    stdout: str
    stderr: str
    expected: dict
    killed: list[int] | None = None


def _outputs(home: Path, key: str) -> dict:
    folder = home / "episodes" / key
    shots = []
    if (folder / SHOTS).exists():
        shots = [(r["start_frame"], r["end_frame"], round(r["start_s"], 6), round(r["end_s"], 6))
                 for r in pl.read_parquet(folder / SHOTS).sort("shot").iter_rows(named=True)]
    words = [
        (w["word"], round(w["start"], 3), round(w["end"], 3))
        for row in pl.read_parquet(folder / TRANSCRIPT).sort("start").iter_rows(named=True)
        for w in row["words"]
    ]
    choice = json.loads((folder / PREVIEW_SELECTION).read_text())["choice"]
    preview = None if choice is None else (round(choice["start"], 3), round(choice["end"], 3))
    return {"shots": shots, "words": words, "preview": preview}


def _ingest(deployment: Deployment, media: Path, title: str) -> str:
    """Register the master in the deployment's home and PostgreSQL catalogue, as the CLI does."""
    with pytest.MonkeyPatch.context() as mp:
        for name in ("MEDIA_PLATFORM_HOME", "MEDIA_PLATFORM_CATALOGUE_URL"):
            mp.setenv(name, deployment.env[name])
        store = LocalStore(deployment.env["MEDIA_PLATFORM_HOME"])
        key = register_master(store, Catalogue(store), media, title=title).episode.partition_key
    deployment.instance.add_dynamic_partitions(episodes_partitions.name, [key])
    return key


def _run_of(instance: dg.DagsterInstance, key: str) -> dg.DagsterRun | None:
    runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/partition": key}), limit=1)
    return runs[0] if runs else None


def _celery_workers(instance: dg.DagsterInstance, run_id: str) -> list[tuple[str, str]]:
    """(step, Celery worker) of every step execution the workers reported, in order."""
    return _placements(instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT))


def _placements(entries) -> list[tuple[str, str]]:
    out = []
    for entry in entries:
        event = entry.dagster_event
        metadata = event.engine_event_data.metadata if event.engine_event_data else {}
        if "Celery worker" in metadata:
            out.append((event.step_key, metadata["Celery worker"].value))
    return out


class _StepWatch:
    """Whether a step has started on a worker, for the newest run of a partition other than
    ``earlier``: polled often, so each call reads only the engine events since the last call
    (re-reading a run's whole event log many times a second would slow the workers)."""

    def __init__(self, instance: dg.DagsterInstance, key: str, earlier: str | None = None) -> None:
        self.instance, self.key, self.earlier = instance, key, earlier
        self.run_id: str | None = None
        self.cursor: str | None = None
        self.placements: list[tuple[str, str]] = []

    def started(self, step: str, worker: str) -> bool:
        if self.run_id is None:
            run = _run_of(self.instance, self.key)
            if run is None or run.run_id == self.earlier:
                return False
            self.run_id = run.run_id
        page = self.instance.get_records_for_run(self.run_id, cursor=self.cursor,
                                                 of_type=dg.DagsterEventType.ENGINE_EVENT)
        self.cursor = page.cursor
        self.placements += _placements(r.event_log_entry for r in page.records)
        return (step, worker) in self.placements


def _kill_when_transcript_starts(deployment: Deployment, key: str, killed: list[int], stop: threading.Event) -> None:
    """SIGKILL the gpu worker's pool process once it reports running ``transcript`` of ``key``."""
    gpu = deployment.workers["gpu"]
    watch = _StepWatch(deployment.instance, key)
    while not stop.is_set():
        if watch.started("transcript", "gpu@test"):
            for child in _children(gpu.pid):
                os.kill(child, signal.SIGKILL)
                killed.append(child)
            return
        time.sleep(0.05)


@pytest.fixture(scope="module")
def runs(deployment, shared_media, tmp_path_factory) -> dict[str, Outcome]:
    """Both episodes run at once through ``media-platform run`` with the Celery executor, the
    audio one losing its transcript's worker process mid-step; meanwhile (while the workers
    start, too) the same episodes run in this process for reference."""
    keys = {name: _ingest(deployment, shared_media / path, title) for name, (path, title) in
            (("video", VIDEO), ("audio", AUDIO))}
    killed: list[int] = []
    stop = threading.Event()
    killer = threading.Thread(target=_kill_when_transcript_starts, args=(deployment, keys["audio"], killed, stop))
    killer.start()
    runners = {name: subprocess.Popen(["media-platform", "--no-progress", "run", key], env=deployment.env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for name, key in keys.items()}
    expected = {}
    try:
        with platform_for_test(tmp_path_factory.mktemp("in-process"), shared_media,
                               [ingest, video, audio_assets, previews, tags]) as platform:
            for name, (path, title) in (("video", VIDEO), ("audio", AUDIO)):
                key = platform.ingest(shared_media / path, title)
                assert key == keys[name]
                assert platform.run(key, EPISODE_ASSETS).success
                expected[name] = _outputs(Path(platform.root) / "home", key)
        deployment.wait_ready()
        outcomes = {}
        for name, runner in runners.items():
            out, err = runner.communicate(timeout=RUN_TIMEOUT_S)
            outcomes[name] = Outcome(keys[name], runner.returncode, out, err, expected[name])
    finally:
        stop.set()
        killer.join()
        for runner in runners.values():
            if runner.poll() is None:
                runner.kill()
                runner.wait()
    outcomes["audio"].killed = killed
    return outcomes


def _assert_gpu_placement(placements: list[tuple[str, str]], expected_gpu: set[str]) -> None:
    on_gpu = {step for step, worker in placements if worker.startswith("gpu@")}
    on_cpu = {step for step, worker in placements if worker.startswith("dagster@")}
    assert on_gpu == expected_gpu, placements
    assert not on_cpu & GPU_STEPS, placements
    assert on_cpu, placements  # the CPU steps ran too, on the CPU worker
    assert {w for _, w in placements} <= {"gpu@test", "dagster@test"}


def test_video_episode_through_celery_matches_in_process(deployment, runs):
    outcome = runs["video"]
    assert outcome.returncode == 0, outcome.stdout[-2000:] + outcome.stderr[-3000:]
    run = _run_of(deployment.instance, outcome.key)
    assert run is not None and run.status == dg.DagsterRunStatus.SUCCESS
    assert run.run_config.get("execution", {}) == {}  # chosen by the code location, not per run
    got = _outputs(deployment.home, outcome.key)
    assert got == outcome.expected
    assert len(got["shots"]) == 3 and got["words"]
    _assert_gpu_placement(_celery_workers(deployment.instance, run.run_id), GPU_STEPS)
    # MEDIA_PLATFORM_RUN_BUILDS_METADATA=0: the run said so and built no metadata database
    assert "the metadata database is not rebuilt by runs here" in outcome.stderr
    assert "metadata database updated" not in outcome.stdout
    assert not (deployment.home / "metadata" / "metadata.duckdb").exists()


def test_audio_episode_survives_a_killed_worker_process(deployment, runs):
    """The pool process running ``transcript`` on the gpu worker is killed (SIGKILL) as the
    step starts; the worker re-sends the step, and the run completes with the outputs of the
    in-process run."""
    outcome = runs["audio"]
    assert outcome.killed, f"transcript never started on the gpu worker: {outcome.stderr[-3000:]}"
    assert outcome.returncode == 0, outcome.stdout[-2000:] + outcome.stderr[-3000:]
    assert deployment.workers["gpu"].poll() is None  # the worker itself lives on with a new pool process
    log = deployment.log("gpu")
    assert "WorkerLostError" in log or "exited prematurely" in log

    run = _run_of(deployment.instance, outcome.key)
    assert run.status == dg.DagsterRunStatus.SUCCESS
    placements = _celery_workers(deployment.instance, run.run_id)
    assert [w for s, w in placements if s == "transcript"] == ["gpu@test", "gpu@test"], placements
    successes = [e.dagster_event.step_key for e in deployment.instance.all_logs(
        run.run_id, of_type=dg.DagsterEventType.STEP_SUCCESS)]
    assert successes.count("transcript") == 1
    assert _outputs(deployment.home, outcome.key) == outcome.expected
    assert outcome.expected["words"] and outcome.expected["preview"] is not None
    _assert_gpu_placement(placements, {"transcript"})  # audio only: no CLIP embeddings


REPLACEMENT_VISIBILITY_S = 30
"""The replacement worker's visibility timeout: longer than the step takes, short for a test."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def test_a_step_survives_the_loss_of_a_whole_worker(deployment, runs):
    """The whole gpu worker (main process and pool, as when its host goes down) is SIGKILLed
    while it runs ``transcript``. Its step stays unacknowledged in Redis; a replacement gpu worker
    finds it once the visibility timeout has passed, runs it, and the run completes with the
    outputs of the in-process run, the step succeeding once."""
    outcome = runs["audio"]
    assert outcome.returncode == 0
    earlier = _run_of(deployment.instance, outcome.key).run_id
    gpu = deployment.workers["gpu"]
    runner = subprocess.Popen(["media-platform", "--no-progress", "run", outcome.key, "--select", "transcript"],
                              env=deployment.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + RUN_TIMEOUT_S
        watch = _StepWatch(deployment.instance, outcome.key, earlier)
        while True:  # the new run's transcript has started on the gpu worker
            if watch.started("transcript", "gpu@test"):
                break
            assert runner.poll() is None, runner.communicate()
            assert time.monotonic() < deadline, "transcript did not start"
            time.sleep(0.05)
        pool = _children(gpu.pid)
        assert pool
        for pid in (gpu.pid, *pool):  # the host goes down: everything of the worker at once
            os.kill(pid, signal.SIGKILL)
        gpu.wait(10)
        gone = time.monotonic() + 30  # a big process takes a moment to tear down
        while any(_alive(pid) for pid in pool):
            assert time.monotonic() < gone, [pid for pid in pool if _alive(pid)]
            time.sleep(0.1)
        lost_at = time.time()

        env = dict(deployment.env, MEDIA_PLATFORM_CELERY_VISIBILITY_TIMEOUT_S=str(REPLACEMENT_VISIBILITY_S))
        deployment.workers["gpu"] = _start_worker(deployment.root, env, "gpu", name="gpu2")
        out, err = runner.communicate(timeout=RUN_TIMEOUT_S)
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()
    assert runner.returncode == 0, out[-2000:] + err[-3000:]

    run = _run_of(deployment.instance, outcome.key)
    assert run.run_id != earlier and run.status == dg.DagsterRunStatus.SUCCESS
    placements = _celery_workers(deployment.instance, run.run_id)
    assert [w for s, w in placements if s == "transcript"] == ["gpu@test", "gpu2@test"], placements
    starts = [e.timestamp for e in deployment.instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)
              if e.dagster_event.step_key == "transcript" and "Celery worker" in e.dagster_event.engine_event_data.metadata]
    # redelivered by the visibility timeout (not by a worker that rejected it: none was left)
    assert starts[1] - starts[0] >= REPLACEMENT_VISIBILITY_S - 1, starts
    assert starts[1] >= lost_at
    successes = [e.dagster_event.step_key for e in deployment.instance.all_logs(
        run.run_id, of_type=dg.DagsterEventType.STEP_SUCCESS)]
    assert successes.count("transcript") == 1  # (its checks are steps of their own)
    assert _outputs(deployment.home, outcome.key) == outcome.expected
    assert "WorkerLostError" not in deployment.log("gpu2")


@pytest.mark.parametrize("timeout_s, every_s", [(30, 1), (300, 10), (3600, 10), (10, 1)])
def test_workers_sweep_for_lost_steps_often_enough(monkeypatch, timeout_s, every_s):
    """Each worker looks for the steps of vanished workers every 1/30 of the visibility timeout
    (1 to 10 s), every time (kombu's default looks every 100 s)."""
    from media_platform.settings import get_settings
    from resources.executors import celery_app_args

    monkeypatch.setenv("MEDIA_PLATFORM_CELERY_VISIBILITY_TIMEOUT_S", str(timeout_s))
    options = celery_app_args(get_settings())["config_source"].__dict__["broker_transport_options"]
    assert options == {"visibility_timeout": timeout_s, "unacked_restore_interval": every_s,
                       "unacked_restore_throttle": 1}

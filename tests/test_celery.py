"""Episodes run end to end through the Celery executor on a PostgreSQL instance, with real servers
on loopback started and stopped by PID here: PostgreSQL (instance storage and catalogue in one
database), Redis (broker and result backend) and two workers started with
``media-platform worker`` (one on the default queue, one on ``gpu``).

- a video and an audio episode give the same shots, transcript words and preview span as the
  in-process run;
- the GPU steps (CLIP embeddings, Whisper) ran on the ``gpu`` worker and nothing else did,
  read from the run's events;
- the process running a step is killed mid-step: the step is delivered again and the run
  completes.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from _redis import redis_server, require_redis
from cli_harness import cli, make_cli_env
from platform_harness import platform_for_test

from assets import audio as audio_assets
from assets import ingest, previews, tags, video
from media_platform.layout import PREVIEW_SELECTION, SHOTS, TRANSCRIPT

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

    @property
    def home(self) -> Path:
        return Path(self.env["MEDIA_PLATFORM_HOME"])

    def log(self, queue: str) -> str:
        return (self.root / f"worker-{queue}.log").read_text(errors="replace")


def _start_worker(root: Path, env: dict[str, str], queue: str) -> subprocess.Popen:
    log = open(root / f"worker-{queue}.log", "wb")
    return subprocess.Popen(
        ["media-platform", "worker", "--queue", queue, "--name", f"{queue}@test", "--loglevel", "INFO"],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root,
    )


def _stop(process: subprocess.Popen) -> None:
    """Warm shutdown by SIGTERM (the worker stops its pool processes), SIGKILL after 30 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
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
        })
        dagster_home = Path(env["DAGSTER_HOME"])
        dagster_home.mkdir(parents=True)
        shutil.copy(REPO / "deploy" / "dagster.yaml", dagster_home / "dagster.yaml")
        workers = {queue: _start_worker(root, env, queue) for queue in ("dagster", "gpu")}
        try:
            deadline = time.monotonic() + WORKER_START_S
            while not all(" ready." in (root / f"worker-{q}.log").read_text(errors="replace") for q in workers):
                for queue, process in workers.items():
                    assert process.poll() is None, (root / f"worker-{queue}.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "workers did not start"
                time.sleep(0.2)
            mp.setenv("DAGSTER_POSTGRES_URL", env["DAGSTER_POSTGRES_URL"])
            with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
                yield Deployment(root, env, workers, instance)
        finally:
            for process in workers.values():
                _stop(process)


@pytest.fixture(scope="module")
def in_process(tmp_path_factory, shared_media):
    """The reference: the same assets materialized in this process (SQLite instance)."""
    with platform_for_test(tmp_path_factory.mktemp("in-process"), shared_media,
                           [ingest, video, audio_assets, previews, tags]) as platform:
        yield platform


EPISODE_ASSETS = dg.AssetSelection.all() - dg.AssetSelection.groups("models")


def _reference(platform, media: Path, title: str) -> dict:
    key = platform.ingest(media, title)
    result = platform.run(key, EPISODE_ASSETS)
    assert result.success
    return _outputs(Path(platform.root) / "home", key)


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
    done = cli(deployment.env, "ingest", str(media), "--title", title, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])["partition_key"]


def _run_of(instance: dg.DagsterInstance, key: str) -> dg.DagsterRun | None:
    runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/partition": key}), limit=1)
    return runs[0] if runs else None


def _celery_workers(instance: dg.DagsterInstance, run_id: str) -> list[tuple[str, str]]:
    """(step, Celery worker) of every step execution the workers reported, in order."""
    out = []
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        event = entry.dagster_event
        metadata = event.engine_event_data.metadata if event.engine_event_data else {}
        if "Celery worker" in metadata:
            out.append((event.step_key, metadata["Celery worker"].value))
    return out


def _assert_gpu_placement(placements: list[tuple[str, str]], expected_gpu: set[str]) -> None:
    on_gpu = {step for step, worker in placements if worker.startswith("gpu@")}
    on_cpu = {step for step, worker in placements if worker.startswith("dagster@")}
    assert on_gpu == expected_gpu, placements
    assert not on_cpu & GPU_STEPS, placements
    assert on_cpu, placements  # the CPU steps ran too, on the CPU worker
    assert {w for _, w in placements} <= {"gpu@test", "dagster@test"}


def test_video_episode_through_celery_matches_in_process(deployment, in_process, shared_media):
    media = shared_media / "video" / "pyscenedetect" / "issue-134-rotate.mp4"
    expected = _reference(in_process, media, "Rotate")
    key = _ingest(deployment, media, "Rotate")

    done = cli(deployment.env, "run", key)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]

    run = _run_of(deployment.instance, key)
    assert run is not None and run.status == dg.DagsterRunStatus.SUCCESS
    assert run.run_config.get("execution", {}) == {}  # chosen by the code location, not per run
    got = _outputs(deployment.home, key)
    assert got == expected
    assert len(got["shots"]) == 3 and got["words"]
    _assert_gpu_placement(_celery_workers(deployment.instance, run.run_id), GPU_STEPS)


def test_audio_episode_survives_a_killed_worker_process(deployment, in_process, shared_media):
    """The pool process running ``transcript`` on the gpu worker is killed (SIGKILL) as the
    step starts; the worker re-sends the step, and the run completes with the outputs of the
    in-process run."""
    media = shared_media / "audio" / "whisper_jfk" / "jfk.flac"
    expected = _reference(in_process, media, "JFK")
    key = _ingest(deployment, media, "JFK")
    gpu = deployment.workers["gpu"]

    runner = subprocess.Popen(["media-platform", "--no-progress", "run", key], env=deployment.env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed: list[int] = []
    try:
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while not killed and runner.poll() is None and time.monotonic() < deadline:
            run = _run_of(deployment.instance, key)
            if run is not None and ("transcript", "gpu@test") in _celery_workers(deployment.instance, run.run_id):
                for child in _children(gpu.pid):
                    os.kill(child, signal.SIGKILL)
                    killed.append(child)
            time.sleep(0.05)
        out, err = runner.communicate(timeout=max(1, deadline - time.monotonic()))
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()
    assert killed, f"transcript never started on the gpu worker: {err[-3000:]}"
    assert runner.returncode == 0, out[-2000:] + err[-3000:]
    assert gpu.poll() is None  # the worker itself lives on with a new pool process
    assert "WorkerLostError" in deployment.log("gpu") or "exited prematurely" in deployment.log("gpu")

    run = _run_of(deployment.instance, key)
    assert run.status == dg.DagsterRunStatus.SUCCESS
    placements = _celery_workers(deployment.instance, run.run_id)
    assert [w for s, w in placements if s == "transcript"] == ["gpu@test", "gpu@test"], placements
    successes = [e.dagster_event.step_key for e in deployment.instance.all_logs(
        run.run_id, of_type=dg.DagsterEventType.STEP_SUCCESS)]
    assert successes.count("transcript") == 1
    assert _outputs(deployment.home, key) == expected
    assert expected["words"] and expected["preview"] is not None
    _assert_gpu_placement(placements, {"transcript"})  # audio only: no CLIP embeddings

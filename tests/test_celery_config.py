"""The executor is chosen in one place from the settings, GPU steps carry the gpu queue and
pool, and executor and workers build the same Celery app (no servers needed)."""

from __future__ import annotations

import subprocess
import sys

import dagster as dg
import pytest

from assets import audio, video
from media_platform.settings import get_settings
from resources import executors
from resources.executors import (
    CELERY_QUEUE_TAG,
    GPU_POOL,
    GPU_QUEUE,
    celery_app_args,
    celery_executor_config,
    platform_executor,
)

ASSETS = [*dg.load_assets_from_modules([video, audio])]


def _ops() -> dict:
    return {a.op.name: a.op for a in ASSETS if isinstance(a, dg.AssetsDefinition)}


def test_gpu_assets_carry_the_gpu_queue_and_pool_and_no_other_does():
    ops = _ops()
    gpu = {name for name, op in ops.items() if op.tags.get(CELERY_QUEUE_TAG) == GPU_QUEUE}
    pooled = {name for name, op in ops.items() if op.pool == GPU_POOL}
    assert gpu == pooled == {"shot_embeddings", "transcript"}
    assert ops["shots"].tags.get(CELERY_QUEUE_TAG) is None and ops["shots"].pool is None


def test_default_keeps_dagsters_executor(monkeypatch):
    monkeypatch.delenv("MEDIA_PLATFORM_EXECUTOR", raising=False)
    assert platform_executor(get_settings()) is None
    assert not executors.runs_outside_this_process(get_settings())


def test_celery_executor_reads_the_broker_from_the_environment_not_run_config(monkeypatch):
    monkeypatch.setenv("MEDIA_PLATFORM_EXECUTOR", "celery")
    monkeypatch.setenv("MEDIA_PLATFORM_CELERY_BROKER", "redis://:secret@redis.internal:6379/3")
    monkeypatch.delenv("MEDIA_PLATFORM_CELERY_BACKEND", raising=False)
    settings = get_settings()
    config = celery_executor_config(settings)
    assert config["broker"] == {"env": "MEDIA_PLATFORM_CELERY_BROKER"}  # the password stays out of the run
    assert config["backend"] == {"env": "MEDIA_PLATFORM_CELERY_BROKER"}
    executor = platform_executor(settings)
    assert executor.name == "celery"
    assert executors.runs_outside_this_process(settings)


def test_unset_broker_falls_back_to_the_local_default(monkeypatch):
    monkeypatch.delenv("MEDIA_PLATFORM_CELERY_BROKER", raising=False)
    assert celery_executor_config(get_settings())["broker"] == "redis://127.0.0.1:6379/0"


def test_workers_build_the_executors_app_with_late_acks_and_a_visibility_timeout(monkeypatch):
    monkeypatch.setenv("MEDIA_PLATFORM_CELERY_BROKER", "redis://127.0.0.1:6390/0")
    monkeypatch.setenv("MEDIA_PLATFORM_CELERY_VISIBILITY_TIMEOUT_S", "120")
    args = celery_app_args(get_settings())
    assert args["broker"] == args["backend"] == "redis://127.0.0.1:6390/0"
    source = args["config_source"].__dict__
    assert source["task_acks_late"] and source["task_reject_on_worker_lost"]
    assert source["broker_transport_options"]["visibility_timeout"] == 120
    assert source["task_default_queue"] == "dagster"


def test_invalid_executor_setting_is_an_error_naming_the_variable(monkeypatch):
    from media_platform.errors import InvalidInputError

    monkeypatch.setenv("MEDIA_PLATFORM_EXECUTOR", "spark")
    with pytest.raises(InvalidInputError, match="MEDIA_PLATFORM_EXECUTOR"):
        get_settings()


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "media_platform.cli", *args], capture_output=True,
                          text=True, timeout=120, check=False)


def test_worker_command_serves_the_queue_asked_for():
    done = _cli("worker", "--queue", "gpu", "--print-command")
    assert done.returncode == 0, done.stderr
    assert "-A resources.celery_worker worker --queues gpu --hostname gpu@%h --concurrency 1" in done.stdout
    default = _cli("worker", "--concurrency", "3", "--print-command")
    assert "--queues dagster " in default.stdout and "--concurrency 3" in default.stdout


@pytest.mark.parametrize("args, problem", [
    (["--queue", "a b"], "--queue: 'a b' is not a queue name"),
    (["--concurrency", "0"], "--concurrency: 0 must be at least 1"),
    (["--name", "x y"], "--name: 'x y' is not a worker name"),
])
def test_worker_refuses_bad_input(args, problem):
    done = _cli("worker", *args, "--print-command")
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: {problem}"), done.stderr

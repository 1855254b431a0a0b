"""How steps execute, chosen in one place (``MEDIA_PLATFORM_EXECUTOR``) without changing an asset:

- ``default``: Dagster's default (the CLI runs in its own process; the daemon and the UI use the
  multiprocess executor);
- ``in_process``: every step of a run in the run's own process, also for runs the daemon or the
  UI launch: one import of the code location per run instead of one per step (a small host,
  where that import costs more than the steps);
- ``celery``: every step is a Celery task (dagster-celery, Redis broker and result backend).
  Steps tagged ``dagster-celery/queue: gpu`` (CLIP, Whisper: :func:`gpu_op_tags`) go to the
  ``gpu`` queue, which only workers on GPU hosts serve (``media-platform worker --queue gpu``);
  every other step goes to dagster-celery's default queue ``dagster``;
- ``k8s``: every step is a Kubernetes Job (dagster-k8s ``k8s_job_executor``); GPU steps request
  the GPU resource, tolerate the GPU taint and select GPU nodes, all from the settings.

A killed worker loses no step: tasks are acknowledged late, a worker whose pool process dies
mid-step re-sends the step (``celery_step_retries`` times, ``celery_retry_delay_s`` apart), and
a message left unacknowledged by a worker that vanished whole (a lost host) is redelivered to
another worker of its queue once the broker's visibility timeout (``celery_visibility_timeout_s``)
has passed, found by the workers' sweep (:func:`_restore_sweep`). Executor and workers build their
Celery app from the same :func:`celery_app_args`, so they always agree.
"""

from __future__ import annotations

import warnings
from typing import Any

import dagster as dg

from media_platform.errors import InvalidInputError
from media_platform.settings import Settings, get_settings

GPU_QUEUE = "gpu"
"""The Celery queue of GPU steps (served by workers on GPU hosts only)."""
CPU_QUEUE = "dagster"
"""dagster-celery's default queue: every step without a queue tag."""
GPU_POOL = "gpu"
"""The Dagster pool of GPU steps: its limit is the number of GPU steps running at once."""
CELERY_QUEUE_TAG = "dagster-celery/queue"
K8S_CONFIG_TAG = "dagster-k8s/config"


def _node_selector(text: str) -> dict[str, str]:
    """``key=value[,key=value]`` as a dict; an invalid entry is an error naming the variable."""
    selector: dict[str, str] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidInputError(f"environment: MEDIA_PLATFORM_GPU_NODE_SELECTOR: {item!r} is not key=value")
        selector[key.strip()] = value.strip()
    return selector


def gpu_k8s_config(settings: Settings | None = None) -> dict[str, Any]:
    """The ``dagster-k8s/config`` of a GPU step: the GPU resource requested and limited, a
    toleration of the GPU nodes' taint, and the node selector when one is configured."""
    settings = settings or get_settings()
    count = str(settings.gpu_count)
    pod: dict[str, Any] = {
        "tolerations": [{"key": settings.gpu_toleration_key, "operator": "Exists", "effect": "NoSchedule"}]
    }
    selector = _node_selector(settings.gpu_node_selector)
    if selector:
        pod["node_selector"] = selector
    return {
        "container_config": {
            "resources": {"limits": {settings.gpu_resource: count}, "requests": {settings.gpu_resource: count}}
        },
        "pod_spec_config": pod,
    }


def gpu_op_tags(settings: Settings | None = None) -> dict[str, Any]:
    """Op tags of a GPU step: the Celery ``gpu`` queue and the Kubernetes GPU request. (The pool
    is the asset's ``pool=GPU_POOL``.)"""
    return {CELERY_QUEUE_TAG: GPU_QUEUE, K8S_CONFIG_TAG: gpu_k8s_config(settings)}


def _env_or_value(variable: str, value: str) -> Any:
    """A StringSource: ``{"env": variable}`` when it is set, so a URL that may hold a password is
    read by Dagster in the run and never written into the run's config; else the value."""
    return {"env": variable} if dg.EnvVar(variable).get_value() else value


def _restore_sweep(visibility_timeout_s: int) -> dict[str, int]:
    """How often each worker looks for messages of vanished workers whose visibility timeout has
    passed: every ``visibility_timeout / 30`` seconds, between 1 and 10 (kombu's default is
    every 100 s, which would add more than a minute to a short timeout)."""
    return {"unacked_restore_interval": max(1, min(10, visibility_timeout_s // 30)), "unacked_restore_throttle": 1}


def celery_config_source(settings: Settings | None = None) -> dict[str, Any]:
    """Celery settings shared by the executor and the workers."""
    settings = settings or get_settings()
    return {
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_retry_on_worker_lost": True,
        "task_track_started": True,
        "worker_prefetch_multiplier": 1,
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": {
            "visibility_timeout": settings.celery_visibility_timeout_s,
            **_restore_sweep(settings.celery_visibility_timeout_s),
        },
        "result_expires": 7 * 24 * 3600,
    }


def celery_executor_config(settings: Settings | None = None) -> dict[str, Any]:
    """The ``celery_executor`` config of this deployment."""
    settings = settings or get_settings()
    return {
        "broker": _env_or_value("MEDIA_PLATFORM_CELERY_BROKER", settings.celery_broker),
        "backend": _env_or_value(
            "MEDIA_PLATFORM_CELERY_BACKEND" if settings.celery_backend else "MEDIA_PLATFORM_CELERY_BROKER",
            settings.celery_backend or settings.celery_broker,
        ),
        "config_source": celery_config_source(settings),
    }


def celery_app_args(settings: Settings | None = None) -> dict[str, Any]:
    """The arguments of the Celery app, built as the executor builds it (for the workers)."""
    from dagster._core.execution.retries import RetryMode
    from dagster_celery.executor import CeleryExecutor

    settings = settings or get_settings()
    return CeleryExecutor(
        retries=RetryMode(RetryMode.DISABLED),
        broker=settings.celery_broker,
        backend=settings.celery_backend or settings.celery_broker,
        config_source=celery_config_source(settings),
    ).app_args()


def platform_executor(settings: Settings | None = None) -> dg.ExecutorDefinition | None:
    """The executor of every job, from ``MEDIA_PLATFORM_EXECUTOR``; None keeps Dagster's default."""
    settings = settings or get_settings()
    if settings.executor == "in_process":
        return dg.in_process_executor
    if settings.executor == "celery":
        from dagster_celery import celery_executor

        # dagster-celery registers its step task on the app again for every step it sends:
        # Celery warns each time, though the task is the same.
        warnings.filterwarnings("ignore", message="Task name 'execute_plan' is already registered")

        return celery_executor.configured(celery_executor_config(settings), name="celery")
    if settings.executor == "k8s":
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor
    return None


def runs_outside_this_process(settings: Settings | None = None) -> bool:
    """Whether a run launched by the CLI must go through the executor (its steps run elsewhere)
    rather than in the CLI's own process."""
    return (settings or get_settings()).executor not in ("default", "in_process")

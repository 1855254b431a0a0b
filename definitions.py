"""The code location: every asset, check, job, sensor and resource of the media platform.

Loaded by ``workspace.yaml`` (``dagster dev``) and by the ``media-platform`` command-line tool.
"""

from __future__ import annotations

import re
import warnings

import dagster as dg

from assets import ALL_ASSET_MODULES
from resources import initialized, resources_from_env
from resources.executors import platform_executor, runs_outside_this_process
from resources.partitions import (
    EPISODE_JOB_NAME,
    METADATA_JOB_NAME,
    TRAIN_JOB_NAME,
    episodes_partitions,
    labels_partitions,
)
from sensors import ALL_SENSORS

all_assets = dg.load_assets_from_modules(ALL_ASSET_MODULES)
all_asset_checks = dg.load_asset_checks_from_modules(ALL_ASSET_MODULES)

# Everything partitioned by episode; the catalogue, the trained models and the metadata
# database's dbt models are not.
EPISODE_ASSETS = dg.AssetSelection.all() - dg.AssetSelection.groups("models", "catalogue", "metadata")

episode_pipeline = dg.define_asset_job(
    EPISODE_JOB_NAME,
    selection=EPISODE_ASSETS,
    description="Materialize every asset of one episode partition.",
)

train_tag_classifier = dg.define_asset_job(
    TRAIN_JOB_NAME,
    selection=dg.AssetSelection.assets("tag_classifier"),
    description="Train one label's few-shot classifier from the editors' examples (partition = label).",
)

metadata_database = dg.define_asset_job(
    METADATA_JOB_NAME,
    selection=dg.AssetSelection.groups("metadata"),
    description="Build the metadata database (the dbt models and their tests) from every episode's outputs.",
)

defs = dg.Definitions(
    assets=all_assets,
    asset_checks=all_asset_checks,
    jobs=[episode_pipeline, train_tag_classifier, metadata_database],
    sensors=ALL_SENSORS,
    resources=resources_from_env(),
    executor=platform_executor(),  # MEDIA_PLATFORM_EXECUTOR: default, celery or k8s
)


# --- Programmatic interface used by the ``media-platform`` command-line tool -------------------
# (kept here so that the domain package ``media_platform`` never imports the Dagster layer; the
# tool loads this file with Dagster's own loader, like ``workspace.yaml`` does)


def episode_partitions(instance: dg.DagsterInstance) -> list[str]:
    """Partition keys of every episode known to the instance."""
    return list(instance.get_dynamic_partitions(episodes_partitions.name))


def add_episode_partition(instance: dg.DagsterInstance, partition_key: str) -> bool:
    """Add the episode's dynamic partition; returns False if it already existed."""
    if instance.has_dynamic_partition(episodes_partitions.name, partition_key):
        return False
    instance.add_dynamic_partitions(episodes_partitions.name, [partition_key])
    return True


def add_label_partition(instance: dg.DagsterInstance, label: str) -> bool:
    """Add the label's dynamic partition (so the UI can train it); False if it existed."""
    if instance.has_dynamic_partition(labels_partitions.name, label):
        return False
    instance.add_dynamic_partitions(labels_partitions.name, [label])
    return True


def train_label(instance: dg.DagsterInstance, label: str, run_id: str) -> dg.ExecuteInProcessResult:
    """Materialize the label's ``tag_classifier`` partition in this process, recorded in
    ``instance``. The tagged episodes follow through declarative automation."""
    add_label_partition(instance, label)
    return defs.resolve_job_def(TRAIN_JOB_NAME).execute_in_process(
        instance=instance,
        partition_key=label,
        run_id=run_id,
        raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        tags={"media_platform/launched_by": "cli"},
    )


def build_metadata(instance: dg.DagsterInstance, run_id: str) -> dg.ExecuteInProcessResult:
    """Materialize the metadata database's dbt models (and run their tests) in this process."""
    return defs.resolve_job_def(METADATA_JOB_NAME).execute_in_process(
        instance=instance,
        run_id=run_id,
        raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        tags={"media_platform/launched_by": "cli"},
    )


def asset_names() -> list[str]:
    """Names of the episode assets, in dependency order."""
    graph = defs.resolve_asset_graph()
    episode_keys = EPISODE_ASSETS.resolve(graph)
    return [key.to_user_string() for key in graph.toposorted_asset_keys if key in episode_keys]


class SelectionError(ValueError):
    """A ``--select`` string Dagster cannot parse, or one naming no episode asset."""


def resolve_selection(selection: list[str] | None) -> tuple[list[dg.AssetKey] | None, list[dg.AssetKey]]:
    """Parse asset selection strings with Dagster's own parser, as ``dagster asset materialize
    --select`` does (comma-separated clauses, each in the UI's selection syntax: ``*preview``,
    ``+key:preview``, ``preview+``, ``group:video``, ``key:shots or key:keyframes``...).

    Returns the chosen episode assets (None for the whole job) and the selected assets that are
    not part of an episode run (the catalogue, the trained models), left out.

    Raises:
        SelectionError: the selection cannot be parsed, names an unknown asset, or selects no
            episode asset.
    """
    clauses = [c.strip() for item in (selection or []) for c in item.split(",") if c.strip()]
    if not clauses:
        return None, []
    graph = defs.resolve_asset_graph()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", dg.BetaWarning)  # the parser's own use of beta params
            keys = dg.AssetSelection.from_coercible(clauses).resolve(graph)
    except dg.DagsterInvalidSubsetError as exc:
        unknown = re.findall(r"\['([^]]*)'\]", str(exc))
        raise SelectionError(f"unknown asset {', '.join(unknown) or str(exc)}; assets: "
                             f"{', '.join(asset_names())}") from None
    except dg.DagsterError as exc:
        raise SelectionError(str(exc)) from None
    episode = EPISODE_ASSETS.resolve(graph)
    chosen = sorted(keys & episode, key=lambda k: k.to_user_string())
    left_out = sorted(keys - episode, key=lambda k: k.to_user_string())
    if not chosen:
        raise SelectionError(
            f"{', '.join(clauses)!r} selects no episode asset; episode assets: {', '.join(asset_names())}"
        )
    return chosen, left_out


def resource(name: str) -> dg.ConfigurableResource:
    """A resource of the code location with its configuration resolved as in a run (secrets
    read through ``dg.EnvVar``), for the command-line tool."""
    return initialized(defs.resources[name])


def step_count(asset_keys: list[dg.AssetKey] | None) -> int:
    """Steps a run of these assets executes: one per asset and one per asset check."""
    graph = defs.resolve_asset_graph()
    keys = set(asset_keys) if asset_keys is not None else set(EPISODE_ASSETS.resolve(graph))
    checks = [c for c in graph.asset_check_keys if c.asset_key in keys]
    return len(keys) + len(checks)


def materialize_partition(
    instance: dg.DagsterInstance,
    partition_key: str,
    asset_keys: list[dg.AssetKey] | None,
    run_id: str,
    log_level: str = "WARNING",
) -> dg.ExecuteInProcessResult:
    """Run the episode pipeline for one partition in this process, recorded in ``instance``
    (so the run shows in the UI); with a distributed executor (``MEDIA_PLATFORM_EXECUTOR``)
    this process orchestrates and the steps run on the workers."""
    job = defs.resolve_job_def(EPISODE_JOB_NAME)
    if runs_outside_this_process():
        return execute_partition_run(instance, partition_key, asset_keys, run_id, log_level)
    return job.execute_in_process(
        instance=instance,
        partition_key=partition_key,
        asset_selection=asset_keys,
        run_id=run_id,
        raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
        tags={"media_platform/launched_by": "cli"},
    )


def reconstructable_job(name: str = EPISODE_JOB_NAME):
    """The job as a pointer to this file, which executors that run steps in other processes
    (Celery workers, Kubernetes pods) load again."""
    from pathlib import Path

    from dagster._core.definitions.reconstruct import ReconstructableRepository

    here = Path(__file__).resolve()
    repository = ReconstructableRepository.for_file(str(here), "defs", working_directory=str(here.parent))
    return repository.get_reconstructable_job(name)


def execute_partition_run(
    instance: dg.DagsterInstance,
    partition_key: str,
    asset_keys: list[dg.AssetKey] | None,
    run_id: str,
    log_level: str = "WARNING",
    tags: dict[str, str] | None = None,
):
    """Run the episode pipeline for one partition through the job's executor (Celery...): this
    process orchestrates, the steps run where the executor sends them. The instance must be
    one the workers share (PostgreSQL: ``deploy/dagster.yaml``)."""
    from dagster._core.execution.api import execute_run

    recon = reconstructable_job()
    job = defs.resolve_job_def(EPISODE_JOB_NAME)
    if asset_keys is not None:
        recon = recon.get_subset(asset_selection=set(asset_keys))
        job = job.get_subset(asset_selection=set(asset_keys))
    run = instance.create_run_for_job(
        job_def=job,
        run_id=run_id,
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
        tags={"media_platform/launched_by": "cli", "dagster/partition": partition_key, **(tags or {})},
        asset_selection=frozenset(asset_keys) if asset_keys is not None else None,
        job_code_origin=recon.get_python_origin(),
    )
    return execute_run(recon, run, instance)


def run_step_events(instance: dg.DagsterInstance, run_id: str) -> list[tuple[str, str, str]]:
    """(step, event type, message) of the run's finished steps so far."""
    finished = {"STEP_SUCCESS", "STEP_FAILURE", "STEP_SKIPPED"}
    out = []
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is not None and event.event_type_value in finished:
            message = ""
            if event.event_type_value == "STEP_FAILURE" and event.step_failure_data:
                err = event.step_failure_data.error
                user = event.step_failure_data.user_failure_data
                message = (user.description if user and user.description else None) or (err.message.strip() if err else "")
            out.append((event.step_key or "", event.event_type_value, message))
    return out

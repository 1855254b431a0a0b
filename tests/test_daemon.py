"""A sensor's runs launched by ``dagster-daemon`` through the queued run coordinator.

A real ``dagster-daemon run`` on the deployment's instance (``deploy/dagster.yaml`` on a real
PostgreSQL server on loopback, with the catalogue in the same database), started here and
stopped by its process group. The upload sensor watches a temporary landing folder in which two
small masters are dropped complete (``.done`` markers). The daemon's sensor tick registers them
and requests one run each; the run queue launches them through the coordinator under the
instance's limit on runs at once (lowered to 1 here so the test can see it hold): the second
run waits QUEUED until the first has finished, then both succeed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import dagster as dg
import pytest
import yaml
from cli_harness import make_cli_env

REPO = Path(__file__).resolve().parent.parent
SENSOR = "upload_landing"
MASTERS = ("audio/picovoice/test.wav", "audio/whisper_jfk/jfk.flac")
TIMEOUT_S = 240


def _instance_yaml(dagster_home: Path, max_concurrent_runs: int) -> dict:
    """deploy/dagster.yaml with the test's limit on runs at once and a 1 s queue interval."""
    config = yaml.safe_load((REPO / "deploy" / "dagster.yaml").read_text())
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    config["concurrency"]["runs"]["max_concurrent_runs"] = max_concurrent_runs
    config["run_coordinator"]["config"] = {"dequeue_interval_seconds": 1}
    dagster_home.mkdir(parents=True, exist_ok=True)
    (dagster_home / "dagster.yaml").write_text(yaml.safe_dump(config))
    return config


def _stop(daemon: subprocess.Popen) -> None:
    """SIGINT to the daemon (it shuts down its threads and its code server), SIGKILL after 30 s;
    then SIGKILL whatever of its process group is left (a run worker it launched)."""
    if daemon.poll() is None:
        os.killpg(daemon.pid, signal.SIGINT)
        try:
            daemon.wait(30)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait(10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(daemon.pid, signal.SIGKILL)


def _events(instance: dg.DagsterInstance, run_id: str) -> dict[str, float]:
    """Timestamp of the first event of each type of a run."""
    out: dict[str, float] = {}
    for entry in instance.all_logs(run_id):
        if entry.dagster_event is not None:
            out.setdefault(entry.dagster_event.event_type_value, entry.timestamp)
    return out


def _left_the_queue(instance: dg.DagsterInstance, run_id: str) -> bool:
    """Whether the run queue has launched the run (QUEUED -> STARTING: the launcher's event)."""
    return "PIPELINE_STARTING" in _events(instance, run_id)


def test_sensor_runs_are_launched_by_the_daemon_through_the_run_queue(tmp_path, postgres, shared_media):
    database = postgres.create_database()  # instance storage and catalogue share it
    env = make_cli_env(tmp_path)
    landing = tmp_path / "landing"
    landing.mkdir()
    env.update({
        "DAGSTER_POSTGRES_URL": database.replace("postgresql+psycopg", "postgresql+psycopg2"),
        "MEDIA_PLATFORM_CATALOGUE_URL": database,
        "MEDIA_PLATFORM_LANDING": str(landing),  # the upload sensor is on when a landing is set
        # one import of the code location per run (a step process each would triple it)
        "MEDIA_PLATFORM_EXECUTOR": "in_process",
    })
    dagster_home = Path(env["DAGSTER_HOME"])
    config = _instance_yaml(dagster_home, max_concurrent_runs=1)
    assert config["storage"]["postgres"]["postgres_url"] == {"env": "DAGSTER_POSTGRES_URL"}
    for path in MASTERS:
        source = shared_media / path
        shutil.copy(source, landing / source.name)
        (landing / f"{source.name}.done").write_bytes(b"")

    log = open(tmp_path / "daemon.log", "wb")
    daemon = subprocess.Popen(
        ["dagster-daemon", "run", "-w", "workspace.yaml"], cwd=REPO, env=env, stdout=log,
        stderr=subprocess.STDOUT, start_new_session=True,
        # a process started in the background ignores SIGINT: restore it for the daemon's shutdown
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    daemon_log = lambda: (tmp_path / "daemon.log").read_text(errors="replace")[-4000:]  # noqa: E731
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DAGSTER_POSTGRES_URL", env["DAGSTER_POSTGRES_URL"])
        with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
            try:
                overlap = []
                deadline = time.monotonic() + TIMEOUT_S
                while True:
                    runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/sensor_name": SENSOR}))
                    in_flight = [r for r in runs if r.status in (
                        dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED)]
                    if len(in_flight) > 1:
                        overlap.append([r.run_id for r in in_flight])
                    finished = [r for r in runs if r.is_finished]
                    # done once one run has finished and the other has been taken off the queue
                    if len(runs) == len(MASTERS) and finished and all(
                            r.is_finished or _left_the_queue(instance, r.run_id) for r in runs):
                        break
                    assert daemon.poll() is None, daemon_log()
                    assert time.monotonic() < deadline, f"{[r.status for r in runs]}\n{daemon_log()}"
                    time.sleep(0.25)
            finally:
                _stop(daemon)

            assert not overlap, overlap  # never two runs at once: the queue's limit held
            first, second = sorted(runs, key=lambda r: _events(instance, r.run_id)["PIPELINE_STARTING"])
            failures = [e.message for e in instance.all_logs(first.run_id) if e.dagster_event and e.dagster_event.is_failure]
            assert instance.get_run_by_id(first.run_id).status == dg.DagsterRunStatus.SUCCESS, failures

            # the daemon's sensor tick requested both runs
            [state] = [s for s in instance.all_instigator_state() if s.name == SENSOR]
            requested = {run_id for tick in instance.get_ticks(state.instigator_origin_id, state.selector_id)
                         for run_id in tick.run_ids}
            assert {first.run_id, second.run_id} <= requested
            # each went through the coordinator: enqueued, then launched by the daemon's run queue
            one, two = _events(instance, first.run_id), _events(instance, second.run_id)
            assert {"PIPELINE_ENQUEUED", "PIPELINE_STARTING", "PIPELINE_START", "PIPELINE_SUCCESS"} <= set(one), one
            assert {"PIPELINE_ENQUEUED", "PIPELINE_STARTING"} <= set(two), two
            assert "STEP_WORKER_STARTING" not in one  # in_process: no step subprocess
            # the second run was queued while the first ran, and left the queue only after it ended
            assert two["PIPELINE_ENQUEUED"] < one["PIPELINE_START"]
            assert one["PIPELINE_SUCCESS"] <= two["PIPELINE_STARTING"]
            assert "Maximum is 1, won't launch more" in (tmp_path / "daemon.log").read_text(errors="replace")

            for run in (first, second):
                assert run.tags["media_platform/launched_by"] == SENSOR
            records = instance.get_records_for_run(first.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
            done = {r.event_log_entry.dagster_event.asset_key.to_user_string() for r in records.records}
            assert done == {"master", "media_probe"}  # what the landing's default licence allows
            assert len({first.tags["dagster/partition"], second.tags["dagster/partition"]}) == 2

"""The README's S3 configuration end to end, against a real S3-compatible server (moto in server
mode) on 127.0.0.1: ``MEDIA_PLATFORM_HOME=s3://bucket/prefix``, the endpoint URL and the
credentials in the environment. Through the command-line tool (ingest, run, show, search, list)
and through a run queued on the instance and launched by ``dagster-daemon``.

It used to fail at every command: the tool imported the Dagster layer before it could be
imported, and, worked around, handed boto3 the unresolved ``dg.EnvVar`` credentials."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import dagster as dg
import pytest
from clip_fixtures import TINY_CLIP_NAME, write_tiny_clip_checkpoint

from tests._moto import start_moto

REPO = Path(__file__).resolve().parent.parent
BUCKET, PREFIX = "media", "platform"


@pytest.fixture(scope="module")
def s3_env(tmp_path_factory) -> dict[str, str]:
    import boto3

    root = tmp_path_factory.mktemp("s3-cli")
    server, endpoint = start_moto()
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
                 aws_secret_access_key="test").create_bucket(Bucket=BUCKET)
    checkpoint, config = write_tiny_clip_checkpoint(root / "clip")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEDIA_PLATFORM_", "AWS_"))}
    env.update({
        "MEDIA_PLATFORM_HOME": f"s3://{BUCKET}/{PREFIX}",
        "MEDIA_PLATFORM_S3_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "us-east-1",
        "DAGSTER_HOME": str(root / "dagster"),
        "HOME": str(root / "user"),  # the local side of an S3 home (~/.media-platform) stays in here
        "MEDIA_PLATFORM_CLIP_MODEL": TINY_CLIP_NAME,
        "MEDIA_PLATFORM_CLIP_CHECKPOINT": str(checkpoint),
        "MEDIA_PLATFORM_CLIP_MODEL_CONFIG": str(config),
        "MEDIA_PLATFORM_ALLOW_PRIVATE_URLS": "1",
    })
    if "MEDIA_PLATFORM_SHARED_MEDIA" in os.environ:
        env["MEDIA_PLATFORM_SHARED_MEDIA"] = os.environ["MEDIA_PLATFORM_SHARED_MEDIA"]
    yield env
    server.stop()


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["media-platform", "--no-progress", *args], env=env, capture_output=True,
                          text=True, timeout=300, check=False)


def _objects(env: dict[str, str]) -> set[str]:
    import boto3

    client = boto3.client("s3", endpoint_url=env["MEDIA_PLATFORM_S3_ENDPOINT_URL"], region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test")
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=f"{PREFIX}/")
    return {obj["Key"].removeprefix(f"{PREFIX}/") for page in pages for obj in page.get("Contents", [])}


def _json_tail(result: subprocess.CompletedProcess[str]):
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_cli_on_s3(s3_env, shared_media: Path) -> None:
    key = _json_tail(cli(s3_env, "ingest", str(shared_media / "video/pyscenedetect/counter.mp4"),
                         "--title", "Counter", "--json"))["partition_key"]
    assert f"masters/{key}/master.mp4" in _objects(s3_env)
    run = cli(s3_env, "run", key, "--select", "+key:shot_index")
    assert run.returncode == 0, run.stderr
    assert f"episodes/{key}/shots.parquet" in _objects(s3_env)
    assert _json_tail(cli(s3_env, "show", key, "shots", "--json")) == [
        {"shot": 0, "start_frame": 0, "end_frame": 29, "start_s": 0.0, "end_s": 3.0, "confidence": 1.0}
    ]
    [hit] = _json_tail(cli(s3_env, "search", "a counter", "--json"))
    assert hit["partition"] == key and hit["keyframe_uri"] == f"s3://{BUCKET}/{PREFIX}/episodes/{key}/keyframes/shot_00000.jpg"
    assert [r["partition_key"] for r in _json_tail(cli(s3_env, "list", "--json"))] == [key]

    # Every host of an S3 home keeps its own embedded index folder: the writer lease sits in the
    # bucket, so a second host writing at the same time is refused, naming the first.
    import boto3

    client = boto3.client("s3", endpoint_url=s3_env["MEDIA_PLATFORM_S3_ENDPOINT_URL"], region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test")
    lease = f"{PREFIX}/vector_index/shots.writer.json"
    now = time.time()
    client.put_object(Bucket=BUCKET, Key=lease, Body=json.dumps(
        {"host": "indexer-7.example", "pid": 4242, "token": "t", "since": now, "heartbeat": now}).encode())
    try:
        busy = cli(s3_env, "run", key, "--select", "shot_index")
        assert busy.returncode == 1 and "being written by host indexer-7.example" in busy.stderr, busy.stderr
    finally:
        client.delete_object(Bucket=BUCKET, Key=lease)
    assert cli(s3_env, "run", key, "--select", "shot_index").returncode == 0


def test_run_launched_by_the_daemon_on_s3(s3_env, shared_media: Path) -> None:
    """A run queued on the instance (``dagster job launch``) and launched by ``dagster-daemon``:
    the run worker loads the code location and reaches S3 with the credentials it resolves."""
    key = _json_tail(cli(s3_env, "ingest", str(shared_media / "audio/picovoice/test.wav"),
                         "--title", "Daemon Run", "--json"))["partition_key"]
    launch = subprocess.run(
        ["dagster", "job", "launch", "-w", "workspace.yaml", "-j", "episode_pipeline",
         "--tags", json.dumps({"dagster/partition": key}), "--op-selection", "master,media_probe",
         "--config-json", json.dumps({"execution": {"config": {"in_process": {}}}})],
        cwd=REPO, env=s3_env, capture_output=True, text=True, timeout=300, check=False)
    assert launch.returncode == 0, launch.stderr
    with dg.DagsterInstance.from_config(s3_env["DAGSTER_HOME"]) as instance:
        [queued] = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/partition": key}))
        assert queued.status == dg.DagsterRunStatus.QUEUED
        daemon = subprocess.Popen(["dagster-daemon", "run", "-w", "workspace.yaml"], cwd=REPO, env=s3_env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            deadline = time.monotonic() + 240
            status = queued.status
            while time.monotonic() < deadline and status not in (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE):
                time.sleep(1)
                status = instance.get_run_by_id(queued.run_id).status
        finally:
            os.killpg(daemon.pid, signal.SIGTERM)  # the daemon and the code server it started
            try:
                daemon.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(daemon.pid, signal.SIGKILL)
                daemon.wait()
        assert status == dg.DagsterRunStatus.SUCCESS, [
            e.message for e in instance.all_logs(queued.run_id) if e.dagster_event and e.dagster_event.is_failure
        ]
        records = instance.get_records_for_run(queued.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
        done = {r.event_log_entry.dagster_event.asset_key.to_user_string() for r in records.records}
        assert done == {"master", "media_probe"}
    assert f"episodes/{key}/probe.json" in _objects(s3_env)
    [probe] = _json_tail(cli(s3_env, "show", key, "media_probe", "--json"))
    assert probe["duration_s"] > 0

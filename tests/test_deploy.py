"""The files of ``deploy/``: what cannot run here (containers, a cluster) is parsed and checked
against the code it drives; the instance file is opened on a real PostgreSQL server."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import dagster as dg
import pytest
import yaml

from media_platform.cli import build_parser
from media_platform.settings import ENV_PREFIX, Settings

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"
SECRETS = {"MEDIA_PLATFORM_QDRANT_API_KEY"}  # read with dg.EnvVar, never a setting


def _compose() -> dict:
    return yaml.safe_load((DEPLOY / "docker-compose.yaml").read_text())


def _setting_names() -> set[str]:
    return {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}


def test_dagster_yaml_is_a_postgres_instance_with_queued_runs_and_a_gpu_limit(tmp_path, postgres, monkeypatch):
    url = postgres.create_database().replace("postgresql+psycopg", "postgresql+psycopg2")
    monkeypatch.setenv("DAGSTER_POSTGRES_URL", url)
    shutil.copy(DEPLOY / "dagster.yaml", tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        from dagster._core.run_coordinator import QueuedRunCoordinator
        from dagster_postgres import (
            PostgresEventLogStorage,
            PostgresRunStorage,
            PostgresScheduleStorage,
        )

        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        concurrency = instance.get_concurrency_config()  # what the daemon's run queue reads
        assert concurrency.run_queue_config.max_concurrent_runs == 8
        assert [(limit["key"], limit["limit"]) for limit in concurrency.run_queue_config.tag_concurrency_limits] == [
            ("dagster/job", 1)]
        assert concurrency.pool_config.default_pool_limit == 1
        instance.add_dynamic_partitions("episodes", ["a", "b"])
    with dg.DagsterInstance.from_config(str(tmp_path)) as again:  # stored in the server, not the folder
        assert sorted(again.get_dynamic_partitions("episodes")) == ["a", "b"]
    assert not list(tmp_path.glob("**/*.db"))


def test_compose_has_every_service_of_a_distributed_platform():
    services = _compose()["services"]
    assert {"webserver", "daemon", "code-location", "postgres", "redis", "worker-cpu", "worker-gpu",
            "qdrant", "minio"} <= set(services)
    for name in ("webserver", "daemon", "code-location", "worker-cpu", "worker-gpu"):
        env = services[name]["environment"]
        assert env["MEDIA_PLATFORM_EXECUTOR"] == "celery", name
        assert env["MEDIA_PLATFORM_CELERY_BROKER"].startswith("redis://redis:"), name
        assert env["DAGSTER_POSTGRES_URL"].startswith("postgresql+psycopg2://"), name
        assert env["MEDIA_PLATFORM_HOME"].startswith("s3://"), name
        assert env["MEDIA_PLATFORM_QDRANT_URL"] == "http://qdrant:6333", name
    for service in services.values():  # published ports only on loopback
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), port


def test_compose_workers_are_media_platform_workers_on_their_queues():
    services = _compose()["services"]
    parser = build_parser()
    cpu = parser.parse_args(services["worker-cpu"]["command"][1:])
    gpu = parser.parse_args(services["worker-gpu"]["command"][1:])
    assert cpu.command == gpu.command == "worker"
    assert cpu.queue is None and gpu.queue == ["gpu"]
    assert services["worker-gpu"]["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]


def test_compose_files_exist_and_workspace_points_at_the_code_location():
    services = _compose()["services"]
    assert (REPO / services["webserver"]["build"]["dockerfile"]).is_file()
    workspace = yaml.safe_load((DEPLOY / "workspace.yaml").read_text())
    (entry,) = workspace["load_from"]
    assert entry["grpc_server"]["host"] == "code-location"
    code = services["code-location"]["command"]
    assert str(entry["grpc_server"]["port"]) == code[code.index("-p") + 1]
    assert "definitions.py" in code
    for name in ("webserver", "daemon"):
        command = services[name]["command"]
        assert (REPO / command[command.index("-w") + 1]).is_file()


@pytest.mark.parametrize("path", ["docker-compose.yaml", "helm/values.yaml", "README.md"])
def test_deploy_files_name_only_real_settings(path):
    """Every MEDIA_PLATFORM_* variable the deployment files set or mention is a setting (a
    typo would silently fall back to a default)."""
    text = (DEPLOY / path).read_text()
    named = set(re.findall(r"\bMEDIA_PLATFORM_[A-Z0-9_]*[A-Z0-9]\b", text))
    assert named, path
    assert named - _setting_names() - SECRETS == set()


def test_readme_commands_parse():
    """Every `media-platform ...` line of deploy/README.md is a command the tool accepts."""
    parser = build_parser()
    lines = [line.split("#")[0].split(">")[0].strip().rstrip("&").strip()
             for line in (DEPLOY / "README.md").read_text().splitlines()]
    commands = [line for line in lines if line.startswith("media-platform ")]
    assert len(commands) >= 5
    for command in commands:
        args = parser.parse_args(shlex.split(command)[1:])
        assert args.command in {"ingest", "run", "init", "worker"}, command

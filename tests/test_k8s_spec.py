"""Kubernetes without a cluster, tested as dagster-k8s tests itself: the code location is loaded
with the environment of ``deploy/helm/values.yaml`` (in a fresh process, as a step pod loads
it), and each step's Job is built with dagster-k8s's own functions (``K8sContainerContext``,
``get_user_defined_k8s_config`` on the step's tags, ``construct_dagster_k8s_job``), as
``K8sStepHandler.launch_step`` does. GPU steps request the GPU with a toleration and a node
selector taken from the settings; CPU steps request none; image, secrets and environment are
the Helm values'."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
VALUES = REPO / "deploy" / "helm" / "values.yaml"

_BUILD_SPECS = r"""
import json, sys
from dagster._core.execution.api import create_execution_plan
from dagster_k8s.container_context import K8sContainerContext
from dagster_k8s.job import DagsterK8sJobConfig, construct_dagster_k8s_job, get_k8s_job_name, get_user_defined_k8s_config
from kubernetes.client import ApiClient

from definitions import defs
from resources.partitions import EPISODE_JOB_NAME

image, secrets = sys.argv[1], json.loads(sys.argv[2])
job = defs.resolve_job_def(EPISODE_JOB_NAME)
plan = create_execution_plan(job)
base = K8sContainerContext(namespace="media", env_secrets=secrets)
out = {"executor": job.executor_def.name, "steps": {}}
for step in plan.get_all_steps_in_topo_order():
    context = base.merge(K8sContainerContext(run_k8s_config=get_user_defined_k8s_config(step.tags)))
    spec = construct_dagster_k8s_job(
        job_config=DagsterK8sJobConfig(job_image=image, dagster_home="/opt/dagster/dagster_home",
                                       instance_config_map="dagster-instance"),
        args=["dagster", "api", "execute_step"],
        job_name=f"dagster-step-{get_k8s_job_name('run', step.key)}",
        component="step_worker",
        user_defined_k8s_config=context.run_k8s_config,
        labels={"dagster/job": job.name, "dagster/op": step.key},
        env_vars=[{"name": "DAGSTER_RUN_STEP_KEY", "value": step.key}],
    )
    out["steps"][step.key] = ApiClient().sanitize_for_serialization(spec)
print(json.dumps(out))
"""


def _values() -> dict:
    return yaml.safe_load(VALUES.read_text())


def _code_location(values: dict) -> dict:
    return values["dagster-user-deployments"]["deployments"][0]


def _specs(tmp_path: Path, overrides: dict[str, str] | None = None) -> dict:
    location = _code_location(_values())
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIA_PLATFORM_")}
    env.update({e["name"]: e["value"] for e in location["env"]})
    env.update({"MEDIA_PLATFORM_HOME": str(tmp_path / "home"), "DAGSTER_HOME": str(tmp_path / "dagster")})
    env.update(overrides or {})
    image = f"{location['image']['repository']}:{location['image']['tag']}"
    secrets = [s["name"] for s in location["envSecrets"]]
    done = subprocess.run([sys.executable, "-c", _BUILD_SPECS, image, json.dumps(secrets)], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def specs(tmp_path_factory) -> dict:
    return _specs(tmp_path_factory.mktemp("k8s"))


def _pod(spec: dict) -> dict:
    return spec["spec"]["template"]["spec"]


def test_helm_values_select_the_k8s_executor(specs):
    assert specs["executor"] == "k8s"
    values = _values()
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert values["dagsterDaemon"]["runCoordinator"]["type"] == "QueuedRunCoordinator"


def test_gpu_steps_request_the_gpu_tolerate_the_taint_and_select_gpu_nodes(specs):
    gpu = {"shot_embeddings", "transcript"}
    assert gpu <= set(specs["steps"])
    for key, spec in specs["steps"].items():
        pod = _pod(spec)
        (container,) = pod["containers"]
        resources = container.get("resources") or {}
        if key in gpu:
            assert resources["limits"]["nvidia.com/gpu"] == "1", key
            assert resources["requests"]["nvidia.com/gpu"] == "1", key
            assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
            assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
        else:
            assert "nvidia.com/gpu" not in json.dumps(resources), key
            assert not pod.get("tolerations") and not pod.get("nodeSelector"), key


def test_step_jobs_carry_the_image_secrets_and_environment(specs):
    location = _code_location(_values())
    for key, spec in specs["steps"].items():
        (container,) = _pod(spec)["containers"]
        assert container["image"] == "registry.example.com/media-platform:0.1.0"
        assert {"secretRef": {"name": "media-platform-secrets"}} in container["envFrom"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["DAGSTER_HOME"] == "/opt/dagster/dagster_home"
        assert env["DAGSTER_RUN_STEP_KEY"] == key
        assert spec["metadata"]["labels"]["app.kubernetes.io/component"] == "step_worker"
    assert {e["name"] for e in location["env"]} >= {"MEDIA_PLATFORM_EXECUTOR", "MEDIA_PLATFORM_GPU_NODE_SELECTOR"}


def _step_job(tags: dict) -> dict:
    """A step's Job built in this process from its op tags, as K8sStepHandler builds it."""
    from dagster_k8s.container_context import K8sContainerContext
    from dagster_k8s.job import (
        DagsterK8sJobConfig,
        construct_dagster_k8s_job,
        get_user_defined_k8s_config,
    )
    from kubernetes.client import ApiClient

    step_tags = {k: v if isinstance(v, str) else json.dumps(v) for k, v in tags.items()}  # as Dagster stores them
    context = K8sContainerContext(namespace="media").merge(
        K8sContainerContext(run_k8s_config=get_user_defined_k8s_config(step_tags)))
    spec = construct_dagster_k8s_job(
        job_config=DagsterK8sJobConfig(job_image="img:1", dagster_home="/opt/dagster/dagster_home",
                                       instance_config_map="dagster-instance"),
        args=["dagster", "api", "execute_step"], job_name="dagster-step-x", component="step_worker",
        user_defined_k8s_config=context.run_k8s_config)
    return ApiClient().sanitize_for_serialization(spec)


def test_gpu_settings_are_configurable(monkeypatch):
    from media_platform.settings import get_settings
    from resources.executors import gpu_op_tags

    monkeypatch.setenv("MEDIA_PLATFORM_GPU_RESOURCE", "amd.com/gpu")
    monkeypatch.setenv("MEDIA_PLATFORM_GPU_COUNT", "2")
    monkeypatch.setenv("MEDIA_PLATFORM_GPU_TOLERATION_KEY", "dedicated-gpu")
    monkeypatch.setenv("MEDIA_PLATFORM_GPU_NODE_SELECTOR", "cloud.google.com/gke-accelerator=nvidia-l4, pool=gpu")
    tags = gpu_op_tags(get_settings())
    assert tags["dagster-celery/queue"] == "gpu"
    pod = _pod(_step_job(tags))
    (container,) = pod["containers"]
    assert container["resources"]["limits"] == {"amd.com/gpu": "2"}
    assert container["resources"]["requests"] == {"amd.com/gpu": "2"}
    assert pod["tolerations"] == [{"key": "dedicated-gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert pod["nodeSelector"] == {"cloud.google.com/gke-accelerator": "nvidia-l4", "pool": "gpu"}


def test_without_a_node_selector_gpu_steps_select_no_nodes(monkeypatch):
    from media_platform.settings import get_settings
    from resources.executors import gpu_op_tags

    monkeypatch.delenv("MEDIA_PLATFORM_GPU_NODE_SELECTOR", raising=False)
    pod = _pod(_step_job(gpu_op_tags(get_settings())))
    assert not pod.get("nodeSelector")
    assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]


@pytest.mark.parametrize("selector", ["gpu", "=x", "a=b,nokey"])
def test_an_invalid_node_selector_is_an_error_naming_the_variable(monkeypatch, selector):
    from media_platform.errors import InvalidInputError
    from media_platform.settings import get_settings
    from resources.executors import gpu_op_tags

    monkeypatch.setenv("MEDIA_PLATFORM_GPU_NODE_SELECTOR", selector)
    with pytest.raises(InvalidInputError, match="MEDIA_PLATFORM_GPU_NODE_SELECTOR"):
        gpu_op_tags(get_settings())

"""infra/flink/, checked statically (no Kubernetes cluster on the test machines): versions that
agree with each other and with setup.py, the worker image as each TaskManager's SDK harness with
its GPU, artifacts on a volume both sides share, and the deploy script's image overlay. The
submit script itself runs the restore job in tests/infra/test_portable_runners.py."""

from __future__ import annotations

import os
import re
import subprocess

import apache_beam
import pytest
import yaml
from apache_beam.options.pipeline_options import FlinkRunnerOptions

from tests.conftest import REPO

FLINK = REPO / "infra" / "flink"


@pytest.fixture(scope="module")
def manifests() -> dict[tuple[str, str], dict]:
    """Every document the kustomization names, by (kind, name)."""
    kustomization = yaml.safe_load((FLINK / "kustomization.yaml").read_text())
    documents = {}
    for resource in kustomization["resources"]:
        for document in yaml.safe_load_all((FLINK / resource).read_text()):
            documents[(document["kind"], document["metadata"]["name"])] = document
    return documents


def containers_by_name(pod_spec: dict) -> dict[str, dict]:
    return {c["name"]: c for c in pod_spec["containers"]}


def test_flink_and_beam_versions_agree(manifests):
    cluster = manifests[("FlinkDeployment", "talkie-flink")]
    assert cluster["apiVersion"] == "flink.apache.org/v1beta1"
    flink = cluster["spec"]["flinkVersion"].removeprefix("v").replace("_", ".")
    assert re.fullmatch(rf"flink:{re.escape(flink)}\.\d+-scala_2\.12-java\d+", cluster["spec"]["image"])
    assert flink in FlinkRunnerOptions.PUBLISHED_FLINK_VERSIONS
    [server] = manifests[("Deployment", "beam-job-server")]["spec"]["template"]["spec"]["containers"]
    assert server["image"] == f"apache/beam_flink{flink}_job_server:{apache_beam.__version__}"


def test_the_job_server_submits_to_the_clusters_rest_service(manifests):
    [server] = manifests[("Deployment", "beam-job-server")]["spec"]["template"]["spec"]["containers"]
    args = dict(a.removeprefix("--").split("=", 1) for a in server["args"])
    assert args["flink-master"] == "talkie-flink-rest:8081"  # the operator's REST service: <name>-rest
    service = manifests[("Service", "beam-job-server")]
    ports = {p["name"]: p["port"] for p in service["spec"]["ports"]}
    assert (ports["job"], ports["artifact"]) == (int(args["job-port"]), int(args["artifact-port"]))
    submit = (FLINK / "submit.sh").read_text()
    assert f"localhost:{args['job-port']}" in submit


def test_artifacts_are_staged_where_the_taskmanagers_read_them(manifests):
    server_pod = manifests[("Deployment", "beam-job-server")]["spec"]["template"]["spec"]
    [server] = server_pod["containers"]
    artifacts_dir = dict(a.removeprefix("--").split("=", 1) for a in server["args"])["artifacts-dir"]
    task_pod = manifests[("FlinkDeployment", "talkie-flink")]["spec"]["taskManager"]["podTemplate"]["spec"]

    def claim_mounted_at(pod_spec: dict, container: dict, path: str) -> str:
        [mount] = [m for m in container["volumeMounts"] if m["mountPath"] == path]
        [volume] = [v for v in pod_spec["volumes"] if v["name"] == mount["name"]]
        return volume["persistentVolumeClaim"]["claimName"]

    flink_main = containers_by_name(task_pod)["flink-main-container"]
    claim = claim_mounted_at(server_pod, server, artifacts_dir)
    assert claim == claim_mounted_at(task_pod, flink_main, artifacts_dir)
    assert manifests[("PersistentVolumeClaim", claim)]["spec"]["accessModes"] == ["ReadWriteMany"]


def test_each_taskmanager_has_the_worker_image_as_its_sdk_harness_with_one_gpu(manifests):
    task_pod = manifests[("FlinkDeployment", "talkie-flink")]["spec"]["taskManager"]["podTemplate"]["spec"]
    worker = containers_by_name(task_pod)["beam-worker-pool"]
    assert worker["image"] == "talkie-worker" and worker["args"] == ["--worker_pool"]
    assert [p["containerPort"] for p in worker["ports"]] == [50000]
    assert worker["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert "localhost:50000" in (FLINK / "submit.sh").read_text()
    config = yaml.safe_load((FLINK / "kustomizeconfig.yaml").read_text())
    [field] = [f for f in config["images"] if f["kind"] == "FlinkDeployment"]
    assert field["path"] == "spec/taskManager/podTemplate/spec/containers/image"


@pytest.mark.parametrize(
    "image, fields",
    [
        (
            "us-central1-docker.pkg.dev/p/talkie/talkie-worker:0123abcd",
            {"newName": "us-central1-docker.pkg.dev/p/talkie/talkie-worker", "newTag": "0123abcd"},
        ),
        (
            "registry.local:5000/talkie-worker@sha256:" + "a" * 64,
            {"newName": "registry.local:5000/talkie-worker", "digest": "sha256:" + "a" * 64},
        ),
    ],
)
def test_the_deploy_script_sets_the_worker_image(image, fields):
    done = subprocess.run(
        ["bash", str(FLINK / "deploy.sh")],
        env={**os.environ, "WORKER_IMAGE": image, "DRY_RUN": "1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    overlay = yaml.safe_load(done.stdout)
    assert overlay["resources"] == ["base"] and overlay["images"] == [{"name": "talkie-worker", **fields}]


def test_the_deploy_script_refuses_an_unpinned_image():
    done = subprocess.run(
        ["bash", str(FLINK / "deploy.sh")],
        env={**os.environ, "WORKER_IMAGE": "registry.local:5000/talkie-worker", "DRY_RUN": "1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "give a tag or a digest" in done.stderr

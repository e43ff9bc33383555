"""The restore job built for the DataflowRunner offline (its ``dry_run`` option: nothing is staged
or submitted), with the options infra/dataflow/ gives it: the GPU request, the worker image and
the worker pool must reach the job that Dataflow would receive."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import pytest
from apache_beam.portability.api import beam_runner_api_pb2

from infra.dataflow.job import (
    GPU_BATCH_SIZE,
    DataflowSettings,
    build_offline,
    flex_template_argv,
    job_argv,
    job_environment,
)
from pipelines.options import ShardOptions, TalkieIOOptions
from pipelines.restore import RestoreOptions
from tests.conftest import REPO

ACCELERATOR_URN = "beam:resources:accelerator:v1"
L4 = "type:nvidia-l4;count:1;install-nvidia-driver"
IMAGE = "us-central1-docker.pkg.dev/talkie-test/talkie/talkie-worker:0123abcd"
RESTORE_FLAGS = [
    "--input",
    "gs://talkie-test-films/films/*.mp4",
    "--output",
    "gs://talkie-test-films/talkie",
    "--takes",
    "2",
]


def settings(**fields) -> DataflowSettings:
    values = dict(project="talkie-test", region="us-central1", bucket="talkie-test-films", worker_image=IMAGE)
    return DataflowSettings(**{**values, **fields})


@pytest.fixture(scope="module")
def hinted_job():
    return build_offline(job_argv(settings(job_name="talkie-restore-test"), RESTORE_FLAGS))


def worker_environments(job) -> dict[str, beam_runner_api_pb2.Environment]:
    """The environments that the pipeline's leaf transforms run in, by id."""
    components = job.proto_pipeline.components
    used = {
        t.environment_id for t in components.transforms.values() if not t.subtransforms and t.environment_id
    }
    return {env_id: components.environments[env_id] for env_id in used}


def test_the_built_job_runs_every_step_on_the_worker_image_with_the_gpu_hint(hinted_job):
    environments = worker_environments(hinted_job)
    assert environments, "no leaf transform names an environment"
    for env in environments.values():
        assert env.urn == "beam:env:docker:v1"
        assert beam_runner_api_pb2.DockerPayload.FromString(env.payload).container_image == IMAGE
        assert env.resource_hints[ACCELERATOR_URN].decode() == L4
    names = [t.unique_name for t in hinted_job.proto_pipeline.components.transforms.values()]
    assert any(n.startswith("GenerateAudio/RunInference") for n in names)
    assert hinted_job.proto.name == "talkie-restore-test"


def test_the_job_options_reach_the_worker_pool(hinted_job):
    options = hinted_job.options.get_all_options()
    assert options["sdk_location"] == "container" and options["sdk_container_image"] == IMAGE
    assert options["temp_location"].startswith("gs://talkie-test-films/dataflow/tmp/talkie-restore-test.")
    assert options["max_num_workers"] == 8 and options["setup_file"] is None  # the image holds talkie
    assert hinted_job.options.view_as(RestoreOptions).batch_size == GPU_BATCH_SIZE
    assert hinted_job.options.view_as(RestoreOptions).takes == 2
    environment = job_environment(hinted_job)
    [pool] = environment.worker_pools
    assert pool.machine_type == "g2-standard-8" and pool.disk_size_gb == 50
    # The hint is the GPU request: Dataflow's right fitting must not also get worker_accelerator.
    assert not any(o.startswith("worker_accelerator") for o in environment.service_options)


def test_one_model_copy_per_gpu_shared_by_the_vms_sdk_processes(hinted_job, monkeypatch):
    """Dataflow keeps its one-process-per-vCPU default; the handler loads one model per VM on CUDA."""
    import torch

    from transforms.inference import TalkieModelHandler

    experiments = list(job_environment(hinted_job).experiments)
    assert (
        "use_multiple_sdk_containers" in experiments and "no_use_multiple_sdk_containers" not in experiments
    )
    assert (
        ";count:1;" in worker_environments(hinted_job).popitem()[1].resource_hints[ACCELERATOR_URN].decode()
    )
    handler = TalkieModelHandler.__new__(TalkieModelHandler)  # the sharing policy needs no checkpoint
    assert handler.model_copies() == 1
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert handler.share_model_across_processes() is True
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert handler.share_model_across_processes() is False


def test_the_service_option_request_instead_of_the_hint():
    job = build_offline(
        job_argv(
            settings(gpu_request="service_option", machine_type="g2-standard-16"),
            [*RESTORE_FLAGS, "--batch_size", "8"],
        )
    )
    for env in worker_environments(job).values():
        assert ACCELERATOR_URN not in env.resource_hints
    environment = job_environment(job)
    assert f"worker_accelerator={L4}" in list(environment.service_options)
    assert environment.worker_pools[0].machine_type == "g2-standard-16"
    assert job.options.view_as(RestoreOptions).batch_size == 8  # the job's own flag wins


@pytest.mark.parametrize(
    "fields, message",
    [
        (dict(machine_type="n1-standard-8"), "nvidia-l4 attaches to g2-"),
        (dict(accelerator="nvidia-tesla-t4"), "nvidia-tesla-t4 attaches to n1-"),
        (dict(accelerator="tpu-v5"), "--accelerator 'tpu-v5'"),
        (dict(bucket="gs://talkie-test-films"), "--bucket 'gs://talkie-test-films'"),
        (dict(gpu_request="both"), "--gpu_request 'both'"),
        (dict(disk_size_gb=10), "30 GB"),
    ],
)
def test_settings_that_cannot_work_are_refused(fields, message):
    with pytest.raises(ValueError, match=message):
        settings(**fields)


def test_the_submit_script_builds_the_job_offline_with_dry_run():
    environment = {
        **os.environ,
        "PROJECT": "talkie-test",
        "REGION": "europe-west4",
        "BUCKET": "talkie-test-films",
        "WORKER_IMAGE": IMAGE,
        "MAX_WORKERS": "3",
        "DRY_RUN": "1",
        "PYTHON": sys.executable,
    }
    done = subprocess.run(
        ["bash", str(REPO / "infra" / "dataflow" / "submit.sh"), *RESTORE_FLAGS],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"beam:env:docker:v1 {IMAGE}" in done.stdout
    assert f"resource hint {ACCELERATOR_URN} = {L4}" in done.stdout
    assert "machine type g2-standard-8, disk 50 GB" in done.stdout and "dry run" in done.stdout
    refused = subprocess.run(
        ["bash", str(REPO / "infra" / "dataflow" / "submit.sh"), *RESTORE_FLAGS],
        cwd=REPO,
        env={**environment, "MACHINE_TYPE": "n1-standard-4"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert refused.returncode == 2 and "attaches to g2-" in refused.stderr


def test_the_flex_template_entry_adds_the_gpu_defaults_unless_given():
    argv = flex_template_argv(["--input=gs://b/f/*.mp4", "--output=gs://b/o"], IMAGE)
    assert f"--sdk_container_image={IMAGE}" in argv and "--sdk_location=container" in argv
    assert f"--resource_hints=accelerator={L4}" in argv and argv[-2:] == ["--batch_size", str(GPU_BATCH_SIZE)]
    given = [
        "--input=x",
        "--sdk_container_image=other:1",
        "--batch_size=4",
        "--dataflow_service_options=worker_accelerator=type:nvidia-l4;count:1;install-nvidia-driver",
    ]
    assert flex_template_argv(given, IMAGE) == [*given, "--sdk_location=container"]
    with pytest.raises(ValueError, match="no worker image"):
        flex_template_argv(["--input=x"], None)


def test_the_flex_template_parameters_are_restore_flags():
    parser = argparse.ArgumentParser()
    for options in (TalkieIOOptions, ShardOptions, RestoreOptions):
        options._add_argparse_args(parser)
    flags = {action.dest for action in parser._actions}
    metadata = json.loads((REPO / "infra" / "dataflow" / "metadata.json").read_text())
    parameters = {p["name"]: p for p in metadata["parameters"]}
    assert set(parameters) - flags == {"sdk_container_image"}
    assert [name for name, p in parameters.items() if not p["isOptional"]] == ["input", "output"]

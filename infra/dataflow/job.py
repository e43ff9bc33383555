"""The restore job on Dataflow: GPU workers running Talkie's worker image.

    python -m infra.dataflow.job --project P --region R --bucket B --worker_image IMAGE \\
        [--machine_type g2-standard-8] [--accelerator nvidia-l4] [--max_workers 8] [--disk_size_gb 50] \\
        [--gpu_request resource_hint|service_option] [--dry_run] \\
        -- --input 'gs://B/films/*.mp4' --output gs://B/talkie [restore flags, other Beam options]

Everything after ``--`` goes to ``pipelines.restore`` unchanged (and overrides these defaults).
Without ``--dry_run`` the job is submitted and this process waits for it, then writes the runs
row and prints the summary, as ``python -m pipelines.restore`` does. With ``--dry_run`` the job is
built offline (Beam's DataflowRunner ``dry_run`` test option: nothing is staged or submitted) and
what the service would receive is printed: environments, the accelerator, machine type, options.

One model copy per GPU. Dataflow starts one SDK worker process per vCPU on a worker VM (the
default; ``--no_use_multiple_sdk_containers`` is not passed). Talkie's ``ModelHandler`` shares the
model across those processes on CUDA (``share_model_across_processes`` with ``model_copies`` 1):
one process per VM loads the generator on the GPU and the others send it their batches, while
probing, shot detection, decoding, blending, FLAC, muxing and Parquet use every vCPU. So a worker
has exactly one GPU: a second one would sit idle (refused below).
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
from collections.abc import Sequence

DEFAULT_MACHINE_TYPE = "g2-standard-8"  # 8 vCPUs, 32 GB, one NVIDIA L4 (24 GB)
DEFAULT_ACCELERATOR = "nvidia-l4"
GPU_BATCH_SIZE = 32  # windows per generate call on a GPU (README: the tiny preset's rate keeps rising to 32)
GPU_REQUESTS = ("resource_hint", "service_option")
# Dataflow's GPU types and the machine families they attach to.
ACCELERATOR_MACHINES = {
    "nvidia-l4": ("g2-",),
    "nvidia-tesla-t4": ("n1-",),
    "nvidia-tesla-v100": ("n1-",),
    "nvidia-tesla-p100": ("n1-",),
    "nvidia-tesla-p4": ("n1-",),
    "nvidia-tesla-a100": ("a2-highgpu-",),
    "nvidia-a100-80gb": ("a2-ultragpu-",),
    "nvidia-h100-80gb": ("a3-highgpu-",),
}
_BUCKET = re.compile(r"[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]")


@dataclasses.dataclass(frozen=True)
class DataflowSettings:
    """Where and on what the restore job runs on Dataflow."""

    project: str
    region: str
    bucket: str  # staging and temporary files go to gs://BUCKET/dataflow/
    worker_image: str  # infra/Dockerfile's worker target, pushed to Artifact Registry
    machine_type: str = DEFAULT_MACHINE_TYPE
    accelerator: str = DEFAULT_ACCELERATOR
    max_workers: int = 8
    disk_size_gb: int = (
        50  # the image is about 10 GB; Dataflow's batch default of 250 GB per VM is paid for idle
    )
    gpu_request: str = "resource_hint"
    job_name: str | None = None

    def __post_init__(self) -> None:
        for name in ("project", "region", "worker_image"):
            if not getattr(self, name):
                raise ValueError(f"--{name} is required")
        if not _BUCKET.fullmatch(self.bucket):
            raise ValueError(
                f"--bucket {self.bucket!r}: give a bucket name such as my-talkie-bucket (no gs://)"
            )
        if self.gpu_request not in GPU_REQUESTS:
            raise ValueError(f"--gpu_request {self.gpu_request!r}: accepted: {', '.join(GPU_REQUESTS)}")
        families = ACCELERATOR_MACHINES.get(self.accelerator)
        if families is None:
            raise ValueError(
                f"--accelerator {self.accelerator!r}: accepted: {', '.join(ACCELERATOR_MACHINES)}"
            )
        if not self.machine_type.startswith(families):
            raise ValueError(
                f"--machine_type {self.machine_type!r}: {self.accelerator} attaches to "
                f"{' or '.join(f + '*' for f in families)} machines"
            )
        if self.max_workers < 1 or self.disk_size_gb < 30:
            raise ValueError(
                f"--max_workers {self.max_workers}, --disk_size_gb {self.disk_size_gb}: need at least "
                "1 worker and 30 GB of disk (the worker image alone is about 10 GB)"
            )

    @property
    def accelerator_spec(self) -> str:
        # One GPU per worker VM: the model handler keeps one model copy per VM (model_copies 1).
        return f"type:{self.accelerator};count:1;install-nvidia-driver"

    def flags(self) -> list[str]:
        """The Beam options that put the job on GPU workers running the worker image."""
        root = f"gs://{self.bucket}/dataflow"
        flags = [
            "--runner=DataflowRunner",
            f"--project={self.project}",
            f"--region={self.region}",
            f"--temp_location={root}/tmp",
            f"--staging_location={root}/staging",
            # The image holds Beam, the dependencies and talkie itself: stage no SDK and no setup.py.
            f"--sdk_container_image={self.worker_image}",
            "--sdk_location=container",
            "--experiments=use_runner_v2",
            f"--machine_type={self.machine_type}",
            f"--disk_size_gb={self.disk_size_gb}",
            f"--max_num_workers={self.max_workers}",
            "--autoscaling_algorithm=THROUGHPUT_BASED",
        ]
        if self.gpu_request == "resource_hint":
            # Right fitting: the hint travels in the pipeline proto's environment. Dataflow's docs say
            # not to combine it with the worker_accelerator service option.
            flags.append(f"--resource_hints=accelerator={self.accelerator_spec}")
        else:
            flags.append(f"--dataflow_service_options=worker_accelerator={self.accelerator_spec}")
        if self.job_name:
            flags.append(f"--job_name={self.job_name}")
        return flags


def job_argv(settings: DataflowSettings, restore_flags: Sequence[str]) -> list[str]:
    """The restore job's whole command line: Dataflow flags, then the GPU batch size unless the
    restore flags give one, then the restore flags (later flags win in Beam's parser)."""
    argv = settings.flags()
    if not _given(restore_flags, "--batch_size"):
        argv += ["--batch_size", str(GPU_BATCH_SIZE)]
    return argv + list(restore_flags)


def _given(argv: Sequence[str], flag: str, value_prefix: str = "") -> bool:
    """Whether ``argv`` sets ``flag`` (``--flag value`` or ``--flag=value``), with a value
    starting with ``value_prefix`` when one is named."""
    for position, item in enumerate(argv):
        if item == flag and position + 1 < len(argv):
            value = argv[position + 1]
        elif item.startswith(flag + "="):
            value = item[len(flag) + 1 :]
        else:
            continue
        if value.startswith(value_prefix):
            return True
    return False


def flex_template_argv(parameters: Sequence[str], worker_image: str | None) -> list[str]:
    """The restore job's command line inside the flex-template launcher: the template's
    parameters, plus what puts the job on GPU workers running the worker image unless the
    parameters say otherwise (``worker_image`` is the launcher image's TALKIE_WORKER_IMAGE)."""
    argv = list(parameters)
    if not _given(argv, "--sdk_container_image"):
        if not worker_image:
            raise ValueError(
                "no worker image: pass the parameter sdk_container_image=IMAGE, or build the launcher "
                "with --build-arg WORKER_IMAGE=IMAGE"
            )
        argv.append(f"--sdk_container_image={worker_image}")
    if not _given(argv, "--sdk_location"):
        argv.append("--sdk_location=container")
    if not (
        _given(argv, "--resource_hints", "accelerator=")
        or _given(argv, "--dataflow_service_options", "worker_accelerator=")
    ):
        argv.append(f"--resource_hints=accelerator=type:{DEFAULT_ACCELERATOR};count:1;install-nvidia-driver")
    if not _given(argv, "--batch_size"):
        argv += ["--batch_size", str(GPU_BATCH_SIZE)]
    return argv


def build_offline(argv: Sequence[str]):
    """Builds the restore job for the DataflowRunner with ``--dry_run`` (nothing staged or
    submitted) and returns Beam's ``apiclient.Job``: ``.proto_pipeline`` is the pipeline proto the
    service would receive and ``.options`` its options."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipelines import restore

    options = PipelineOptions([*argv, "--dry_run=True"])
    settings = restore.settings_from(options)
    pipeline = beam.Pipeline(options=options)
    restore.build(pipeline, settings)
    # The dry run returns a plain PipelineResult with ``job`` set on it, which Beam's types do not declare.
    return pipeline.run().job  # type: ignore[attr-defined]


def job_environment(job):
    """The job's worker environment as the service would receive it (machine type, service
    options, experiments), built offline from the dry-run ``job``."""
    from apache_beam.runners.dataflow.internal import apiclient

    staged = job.google_cloud_options.staging_location.rstrip("/") + "/pipeline.pb"
    return apiclient.Environment(
        packages=[],
        options=job.options,
        environment_version="",
        proto_pipeline=job.proto_pipeline,
        proto_pipeline_staged_url=staged,
    ).proto


def describe(job) -> str:
    """What a dry run built, for people: environments with their image and resource hints, the
    worker pool and the options that matter for GPUs, memory and cost."""
    from apache_beam.portability.api import beam_runner_api_pb2

    lines = [f"Dataflow job {job.proto.name} (dry run: built, not submitted)"]
    for env_id, env in sorted(job.proto_pipeline.components.environments.items()):
        image = ""
        if env.urn == "beam:env:docker:v1":
            image = beam_runner_api_pb2.DockerPayload.FromString(env.payload).container_image
        lines.append(f"  environment {env_id}: {env.urn} {image}")
        for urn, value in sorted(env.resource_hints.items()):
            lines.append(f"    resource hint {urn} = {value.decode()}")
    environment = job_environment(job)
    for pool in environment.worker_pools:
        lines.append(
            f"  worker pool: machine type {pool.machine_type}, disk {pool.disk_size_gb or 'default'} GB"
        )
    lines.append(f"  service options: {', '.join(environment.service_options) or '(none)'}")
    lines.append(f"  experiments: {', '.join(environment.experiments)}")
    steps = [t.unique_name for t in job.proto_pipeline.components.transforms.values() if not t.subtransforms]
    lines.append(
        f"  {len(steps)} leaf transforms, e.g. "
        f"{next((s for s in steps if 'RunInference' in s), steps[0] if steps else '(none)')}"
    )
    return "\n".join(lines)


def parse(argv: Sequence[str]) -> tuple[DataflowSettings, bool, list[str]]:
    """(settings, dry run?, the restore job's own flags) from this module's command line."""
    argv = list(argv)
    restore_flags: list[str] = []
    if "--" in argv:
        split = argv.index("--")
        argv, restore_flags = argv[:split], argv[split + 1 :]
    parser = argparse.ArgumentParser(prog="python -m infra.dataflow.job", description=__doc__.split("\n")[0])
    parser.add_argument("--project", required=True)
    parser.add_argument("--region", required=True)
    parser.add_argument("--bucket", required=True, help="staging and temp files under gs://BUCKET/dataflow/")
    parser.add_argument(
        "--worker_image", required=True, help="the worker image (infra/Dockerfile, --target worker)"
    )
    parser.add_argument("--machine_type", default=DEFAULT_MACHINE_TYPE)
    parser.add_argument("--accelerator", default=DEFAULT_ACCELERATOR, choices=sorted(ACCELERATOR_MACHINES))
    parser.add_argument("--max_workers", type=int, default=8)
    parser.add_argument("--disk_size_gb", type=int, default=50)
    parser.add_argument(
        "--gpu_request",
        default="resource_hint",
        choices=GPU_REQUESTS,
        help="ask for the GPU by a resource hint (right fitting) or the worker_accelerator service option",
    )
    parser.add_argument("--job_name", default=None)
    parser.add_argument(
        "--dry_run", action="store_true", help="build the job offline and describe it; submit nothing"
    )
    args, unknown = parser.parse_known_args(argv)
    settings = DataflowSettings(
        project=args.project,
        region=args.region,
        bucket=args.bucket,
        worker_image=args.worker_image,
        machine_type=args.machine_type,
        accelerator=args.accelerator,
        max_workers=args.max_workers,
        disk_size_gb=args.disk_size_gb,
        gpu_request=args.gpu_request,
        job_name=args.job_name,
    )
    return settings, args.dry_run, unknown + restore_flags


def main(argv: Sequence[str] | None = None) -> int:
    try:
        settings, dry_run, restore_flags = parse(sys.argv[1:] if argv is None else argv)
    except ValueError as exc:
        print(f"python -m infra.dataflow.job: {exc}", file=sys.stderr)
        return 2
    argv = job_argv(settings, restore_flags)
    if dry_run:
        from pipelines.options import UsageError

        try:
            print(describe(build_offline(argv)))
        except UsageError as exc:
            print(f"python -m infra.dataflow.job: {exc}", file=sys.stderr)
            return 2
        return 0
    from pipelines.restore import main as restore_main

    return restore_main(argv, prog="python -m infra.dataflow.job")


if __name__ == "__main__":
    sys.exit(main())

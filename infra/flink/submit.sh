#!/usr/bin/env bash
# Submits the restore job to Beam's job server (Flink, infra/flink/*.yaml) with PortableRunner and
# waits for it: the runs row and summary come at the end.
#
#   kubectl -n talkie port-forward svc/beam-job-server 8099:8099 8098:8098 &
#   infra/flink/submit.sh --input 'gs://BUCKET/films/*.mp4' --output gs://BUCKET/talkie [restore flags]
#
# JOB_ENDPOINT (localhost:8099): the job server. ENVIRONMENT selects the SDK harness:
#   external (default)  the worker-pool sidecar of each TaskManager, at WORKER_POOL (localhost:50000)
#   docker              Flink starts WORKER_IMAGE itself with Docker (TaskManagers on VMs with Docker)
#   loopback            this process is the harness (a local job service; how the tests run this script)
# PARALLELISM (8: the cluster's task slots), SDK_WORKER_PARALLELISM (4: SDK processes per TaskManager;
# on CUDA they share one model copy), BATCH_SIZE (32 windows per generate call), PYTHON (python3).
# Films and outputs must be where every TaskManager can read and write them (gs://, s3://).
set -euo pipefail
cd "$(dirname "$0")/../.."

environment=()
case "${ENVIRONMENT:-external}" in
  external) environment=(--environment_type=EXTERNAL "--environment_config=${WORKER_POOL:-localhost:50000}") ;;
  docker)
    : "${WORKER_IMAGE:?set WORKER_IMAGE for ENVIRONMENT=docker}"
    environment=(--environment_type=DOCKER "--environment_config=$WORKER_IMAGE")
    ;;
  loopback) environment=(--environment_type=LOOPBACK) ;;
  *) echo "ENVIRONMENT=${ENVIRONMENT}: accepted: external, docker, loopback" >&2; exit 2 ;;
esac

exec "${PYTHON:-python3}" -m pipelines.restore \
  --runner=PortableRunner "--job_endpoint=${JOB_ENDPOINT:-localhost:8099}" "${environment[@]}" \
  "--parallelism=${PARALLELISM:-8}" "--sdk_worker_parallelism=${SDK_WORKER_PARALLELISM:-4}" \
  --batch_size "${BATCH_SIZE:-32}" "$@"

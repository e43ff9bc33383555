#!/usr/bin/env bash
# Submit the restore job to Dataflow on GPU workers (one NVIDIA L4 per g2-standard-8 VM by default)
# running Talkie's worker image, and wait for it: the runs row and summary come at the end.
#
#   PROJECT=my-project REGION=us-central1 BUCKET=my-bucket \
#   WORKER_IMAGE=us-central1-docker.pkg.dev/my-project/talkie/talkie-worker:TAG \
#   infra/dataflow/submit.sh --input 'gs://my-bucket/films/*.mp4' --output gs://my-bucket/talkie [restore flags]
#
# Optional: MACHINE_TYPE (g2-standard-8), ACCELERATOR (nvidia-l4), MAX_WORKERS (8), DISK_SIZE_GB (50),
# GPU_REQUEST (resource_hint | service_option), JOB_NAME, PYTHON (python3), and DRY_RUN=1 to build the
# job offline and print what Dataflow would receive, submitting nothing.
# Every argument goes to the restore job (python -m pipelines.restore --help), Beam options too.
set -euo pipefail
cd "$(dirname "$0")/../.."

: "${PROJECT:?set PROJECT to the Google Cloud project}"
: "${REGION:?set REGION, e.g. us-central1 (one with L4 quota)}"
: "${BUCKET:?set BUCKET to a bucket name for staging and temp files (no gs://)}"
: "${WORKER_IMAGE:?set WORKER_IMAGE to the pushed worker image (infra/Dockerfile --target worker)}"

mode=()
if [ "${DRY_RUN:-0}" = 1 ]; then
  mode=(--dry_run)
fi
job_name=()
if [ -n "${JOB_NAME:-}" ]; then
  job_name=(--job_name "$JOB_NAME")
fi

exec "${PYTHON:-python3}" -m infra.dataflow.job \
  --project "$PROJECT" --region "$REGION" --bucket "$BUCKET" --worker_image "$WORKER_IMAGE" \
  --machine_type "${MACHINE_TYPE:-g2-standard-8}" --accelerator "${ACCELERATOR:-nvidia-l4}" \
  --max_workers "${MAX_WORKERS:-8}" --disk_size_gb "${DISK_SIZE_GB:-50}" \
  --gpu_request "${GPU_REQUEST:-resource_hint}" "${job_name[@]}" "${mode[@]}" \
  -- "$@"

#!/usr/bin/env bash
# The restore job as a Dataflow flex template: build the template spec once, then launch it from
# anywhere (gcloud only, no Python). The launcher runs inside Talkie's image, so a checkpoint baked
# under /opt/talkie/checkpoints/ is hashed by the launcher exactly as the workers load it.
#
#   PROJECT=... REGION=... BUCKET=... LAUNCHER_IMAGE=.../talkie-launcher:TAG infra/dataflow/flex_template.sh build
#   PROJECT=... REGION=... BUCKET=... infra/dataflow/flex_template.sh run \
#       --parameters input='gs://BUCKET/films/*.mp4',output=gs://BUCKET/talkie,takes=2
#
# build: writes the spec to gs://$BUCKET/templates/talkie-restore.json from LAUNCHER_IMAGE
#        (infra/Dockerfile --target flex-launcher --build-arg WORKER_IMAGE=<worker image>) and
#        infra/dataflow/metadata.json (the parameters the template accepts).
# run:   launches it on MACHINE_TYPE (g2-standard-8) workers, at most MAX_WORKERS (8); further
#        arguments go to `gcloud dataflow flex-template run` (e.g. --parameters, --network).
set -euo pipefail
cd "$(dirname "$0")/../.."

: "${PROJECT:?set PROJECT}"
: "${REGION:?set REGION}"
: "${BUCKET:?set BUCKET (no gs://)}"
spec="gs://${BUCKET}/templates/talkie-restore.json"

case "${1:-}" in
  build)
    : "${LAUNCHER_IMAGE:?set LAUNCHER_IMAGE to the pushed flex-launcher image}"
    shift
    gcloud dataflow flex-template build "$spec" --project "$PROJECT" \
      --image "$LAUNCHER_IMAGE" --sdk-language PYTHON \
      --metadata-file infra/dataflow/metadata.json "$@"
    ;;
  run)
    shift
    gcloud dataflow flex-template run "talkie-restore-$(date -u +%Y%m%d-%H%M%S)" --project "$PROJECT" \
      --region "$REGION" --template-file-gcs-location "$spec" \
      --worker-machine-type "${MACHINE_TYPE:-g2-standard-8}" --max-workers "${MAX_WORKERS:-8}" \
      --staging-location "gs://${BUCKET}/dataflow/staging" --temp-location "gs://${BUCKET}/dataflow/tmp" "$@"
    ;;
  *)
    echo "usage: $0 build|run [gcloud flags]" >&2
    exit 2
    ;;
esac

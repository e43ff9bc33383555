#!/usr/bin/env bash
# Deploys infra/flink/ (Flink session cluster, worker-pool sidecars, Beam's job server) with the
# worker image you pushed, into the namespace `talkie`. Needs kubectl, a cluster with GPU nodes,
# the Flink Kubernetes operator installed and a ReadWriteMany storage class for beam-artifacts.
#
#   WORKER_IMAGE=us-central1-docker.pkg.dev/PROJECT/talkie/talkie-worker:TAG infra/flink/deploy.sh
#   kubectl -n talkie port-forward svc/beam-job-server 8099:8099 8098:8098   # then infra/flink/submit.sh
# DRY_RUN=1 prints the kustomize overlay (base + worker image) instead of applying it.
set -euo pipefail
: "${WORKER_IMAGE:?set WORKER_IMAGE to the pushed worker image (infra/Dockerfile --target worker)}"
here="$(cd "$(dirname "$0")" && pwd)"
overlay="$(mktemp -d)"
trap 'rm -rf "$overlay"' EXIT
cp -r "$here" "$overlay/base"
if [[ "$WORKER_IMAGE" == *@* ]]; then  # pinned by digest
  image_fields="    newName: ${WORKER_IMAGE%@*}
    digest: ${WORKER_IMAGE##*@}"
elif [[ "${WORKER_IMAGE##*/}" == *:* ]]; then
  image_fields="    newName: ${WORKER_IMAGE%:*}
    newTag: ${WORKER_IMAGE##*:}"
else
  echo "WORKER_IMAGE=$WORKER_IMAGE: give a tag or a digest (a moving default tag is not pinned)" >&2
  exit 2
fi
cat >"$overlay/kustomization.yaml" <<YAML
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - base
images:
  - name: talkie-worker
$image_fields
YAML
if [ "${DRY_RUN:-0}" = 1 ]; then  # print the overlay instead of applying it
  cat "$overlay/kustomization.yaml"
  exit 0
fi
kubectl apply -k "$overlay"

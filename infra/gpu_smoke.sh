#!/usr/bin/env bash
# GPU smoke test: the restore job on the built-in sample films on CUDA (bf16), checked to have used
# the GPU, with its audio-seconds per wall-second beside the model alone's.
#
#   infra/gpu_smoke.sh [WORKDIR]                        # inside the worker image, or a machine with talkie installed
#   WHEELHOUSE=/path/to/wheels infra/gpu_smoke.sh       # a bare GPU machine: installs from wheels brought along
#
# WORKDIR (default: a new temporary folder) gets samples/, out/, job.log, model.log, gpu.csv.
# Optional: PYTHON (python3), FILMS (6), BATCH_SIZE (32), STEPS (20), PRESET (tiny: the default
# checkpoint's), CHECKPOINT (a .safetensors of that preset). Exits 0 when every unit was generated
# on CUDA, 1 when the evidence says otherwise, 3 when there is no usable NVIDIA GPU here.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="${1:-$(mktemp -d "${TMPDIR:-/tmp}/talkie-gpu-smoke.XXXXXX")}"
mkdir -p "$WORK"
PYTHON="${PYTHON:-python3}"
FILMS="${FILMS:-6}"
BATCH_SIZE="${BATCH_SIZE:-32}"
STEPS="${STEPS:-20}"
PRESET="${PRESET:-tiny}"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "gpu smoke: no NVIDIA GPU here (nvidia-smi is missing or sees no GPU); nothing was run" >&2
  exit 3
fi

if [ -n "${WHEELHOUSE:-}" ]; then
  # torch first (the CUDA build among the wheels), then talkie with the image's lock, all offline.
  "$PYTHON" -m venv "$WORK/venv"
  "$WORK/venv/bin/python" -m pip install -q --no-index --find-links "$WHEELHOUSE" torch
  "$WORK/venv/bin/python" -m pip install -q --no-index --find-links "$WHEELHOUSE" setuptools wheel
  "$WORK/venv/bin/python" -m pip install -q --no-index --find-links "$WHEELHOUSE" --no-build-isolation \
    --constraint "$ROOT/infra/worker-requirements.lock" "$ROOT"
  PYTHON="$WORK/venv/bin/python"
fi

if ! "$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "gpu smoke: nvidia-smi sees a GPU but torch $("$PYTHON" -c 'import torch; print(torch.__version__)') has no CUDA; nothing was run" >&2
  exit 3
fi
nvidia-smi -L

echo "gpu smoke: rendering $FILMS sample films into $WORK/samples"
"$PYTHON" -m model.synth --out "$WORK/samples" --films "$FILMS" --seed 1001 >/dev/null

checkpoint=()
if [ -n "${CHECKPOINT:-}" ]; then
  checkpoint=(--checkpoint "$CHECKPOINT")
fi
baseline_mib="$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i 0 | head -n 1)"
nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader,nounits -i 0 -lms 250 >"$WORK/gpu.csv" &
sampler=$!
trap 'kill "$sampler" 2>/dev/null || true' EXIT

echo "gpu smoke: restore job (FnApiRunner, batch $BATCH_SIZE, $STEPS steps) into $WORK/out"
rm -rf "$WORK/out"
"$PYTHON" -m pipelines.restore --input "$WORK/samples/manifest.jsonl" --output "$WORK/out" \
  --batch_size "$BATCH_SIZE" --steps "$STEPS" "${checkpoint[@]}" --runner=FnApiRunner | tee "$WORK/job.log"
kill "$sampler" 2>/dev/null || true
wait "$sampler" 2>/dev/null || true

echo "gpu smoke: the model alone (bench/model_speed.py, $PRESET, batch $BATCH_SIZE)"
"$PYTHON" "$ROOT/bench/model_speed.py" --presets "$PRESET" --batches "$BATCH_SIZE" --steps "$STEPS" \
  --device cuda | tee "$WORK/model.log"

"$PYTHON" -m infra.gpu_smoke_report --job_log "$WORK/job.log" --model_log "$WORK/model.log" \
  --gpu_samples "$WORK/gpu.csv" --baseline_mib "$baseline_mib" --output "$WORK/out" \
  --preset "$PRESET" --batch "$BATCH_SIZE"

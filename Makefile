# Talkie: the two commands a newcomer needs are `make demo` and `make test`.
# Each creates .venv on first use and installs what it needs (torch's CPU build first).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat setup.py | sha256sum | cut -c1-12)

SAMPLES := samples/collection
DEMO_OUT := out/demo
RUNNER := --runner=DirectRunner --direct_running_mode=in_memory

.PHONY: demo test lint bench sounds vocoder tiny-checkpoint clean

# The score (media/score) renders with FluidSynth and a General MIDI soundfont from Debian.
SCORE_DEBS := libfluidsynth3 fluid-soundfont-gm

$(STAMP): setup.py
	@if ! ldconfig -p 2>/dev/null | grep -q libfluidsynth.so.3 || [ ! -e /usr/share/sounds/sf2/FluidR3_GM.sf2 ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(SCORE_DEBS) >/dev/null) \
	      || echo "make: could not install $(SCORE_DEBS): the score will be unavailable" >&2; \
	  else echo "make: install $(SCORE_DEBS) (apt-get, as root) for the score" >&2; fi; fi
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q "torch==2.13.0"
	$(BIN)/python -m pip install -q -e ".[dev,bigvgan]"
	rm -f $(VENV)/.installed-*
	touch $@

$(SAMPLES)/manifest.jsonl: $(STAMP)
	$(BIN)/python -m model.synth --out $(SAMPLES) --films 6 --seed 1001

# The demo's manifest: the same films, rows 0, 2 and 4 with music in their prompts (piano comedy,
# organ suspense, an orchestral march that catches the action), so those films get a score.
$(SAMPLES)/manifest_music.jsonl: $(SAMPLES)/manifest.jsonl
	$(BIN)/python -c "from model.synth.collection import write_music_manifest; write_music_manifest('$(SAMPLES)')"

# The main job on the built-in sample collection: two takes of every scene, the best one in each
# film's track; FLAC + MKV + a browser preview per film, stems, tables and a review report; the
# films whose prompts ask for music also get a score, and their effects and score stems.
# CHECKPOINT=path/or/uri.safetensors picks a checkpoint (default: the shipped model/weights/tiny.safetensors).
CHECKPOINT ?=
DEMO_FLAGS := --takes 2 $(if $(CHECKPOINT),--checkpoint $(CHECKPOINT))

demo: $(SAMPLES)/manifest_music.jsonl
	$(BIN)/python -m pipelines.restore --input $(SAMPLES)/manifest_music.jsonl --output $(DEMO_OUT) $(DEMO_FLAGS) $(RUNNER)
	@echo "Review it in a browser: $(DEMO_OUT)/report/<run_id>/index.html (the path is printed above);"
	@echo "films: $(DEMO_OUT)/films/<film_id>/<cut_key>.mkv (ffplay, VLC); tables: $(DEMO_OUT)/meta/"
	@echo "scores: $(DEMO_OUT)/films/<film_id>/<cut_key>.effects.flac, .score.flac (the films with music)"

test: $(STAMP)
	$(BIN)/python -m pytest -q tests

# Lint, format and type checks (ruff.toml, mypy.ini); .ci/run runs this before the tests.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The bank of real recordings from Debian packages (model/sounds) in $$TALKIE_SOUNDS
# (default ~/.cache/talkie/sounds); a rerun is a no-op.
sounds: $(STAMP)
	$(BIN)/python -m model.sounds

# Trains model/weights/vocos.safetensors anew (model/vocoders/train_vocos.py): the bank's held-in
# recordings and 40 foley-world renders, 90 minutes on 2 CPU cores. How the shipped file was
# trained: docs/model.md, "Mel and vocoders".
vocoder: sounds
	$(BIN)/python -m model.vocoders.train_vocos --minutes 90 --out model/weights/vocos.safetensors

bench: $(STAMP)
	$(BIN)/python -m bench.decode
	$(BIN)/python -m bench.scenes

# The shipped model/weights/tiny.safetensors: four corpora of single-shot foley films (clean renders;
# training damages and mirrors frames on the fly), cut into 4 s windows every 2 s: 1200 films of
# every class (seeds 7000 and 7600) and 1600 weighted towards sounds with events (seeds 7100 and 7700:
# impacts and footsteps, alone or mixed with rain, wind, fire or water), then 7000 steps of batch 16,
# capped at 85 minutes, then the timing head's event threshold chosen on validation films (seed 7300;
# model/calibrate.py). Timing: README, "The shipped checkpoint".
CORPUS := out/corpus
SYNTH_ALL := --damage 0 --min-shots 1 --max-shots 1 --seconds-per-shot 2 8
SYNTH_EVENTS := $(SYNTH_ALL) --mixed-prob 0.6 --classes impact footsteps rain wind fire water
tiny-checkpoint: $(STAMP)
	$(BIN)/python -m model.synth --out $(CORPUS)/all/films --films 1200 --seed 7000 $(SYNTH_ALL)
	$(BIN)/python -m model.synth --out $(CORPUS)/events/films --films 1600 --seed 7100 $(SYNTH_EVENTS)
	$(BIN)/python -m model.synth --out $(CORPUS)/all2/films --films 1200 --seed 7600 $(SYNTH_ALL)
	$(BIN)/python -m model.synth --out $(CORPUS)/events2/films --films 1600 --seed 7700 $(SYNTH_EVENTS)
	for c in all events all2 events2; do $(BIN)/python -m pipelines.featurize --input $(CORPUS)/$$c/films/manifest.jsonl \
		--output $(CORPUS)/$$c/shards --window_hop_s 2 --runner=FnApiRunner \
		--direct_running_mode=multi_processing --direct_num_workers=2 || exit 1; done
	$(BIN)/python -m model.train --shards "$(CORPUS)/*/shards/shards/*.safetensors" --out out/train/tiny.safetensors \
		--preset tiny --steps 7000 --batch 16 --lr 4e-4 --onset_weight 1.0 --event_flow_weight 4 --t_uniform_prob 0.3 \
		--onset_sigma_frames 0.5 --flip_prob 0.5 --minutes 85 --threads 2
	$(BIN)/python -m model.calibrate --checkpoint out/train/tiny.safetensors --out model/weights/tiny.safetensors

clean:
	rm -rf $(DEMO_OUT) $(SAMPLES)

# ---- Scale-out (infra/, issue 6) ----
.PHONY: test-portable test-infra worker-lock dataflow-dry-run gpu-smoke

# The restore job through PortableRunner against Beam's local job service (LOOPBACK), through
# infra/flink/submit.sh against the same service, and on the FnApiRunner's multi_processing mode
# (2 workers), each compared with the in-process run: same stems, film FLACs and MKVs byte for byte,
# same ledger objects and table rows but for the run id. About 3.5 minutes on 2 cores.
test-portable: $(STAMP)
	$(BIN)/python -m pytest -q -s tests/infra/test_portable_runners.py

# Everything under tests/infra: the above, the Dataflow dry-run build, the Dockerfile and Flink manifests.
test-infra: $(STAMP)
	$(BIN)/python -m pytest -q tests/infra

# infra/worker-requirements.lock (the worker image's pins) from this environment, after setup.py changes.
worker-lock: $(STAMP)
	$(BIN)/python -m infra.pins --write

# The restore job built for Dataflow offline, nothing submitted: PROJECT, REGION, BUCKET, WORKER_IMAGE
# from the environment, INPUT and OUTPUT as gs:// URIs.
dataflow-dry-run: $(STAMP)
	DRY_RUN=1 PYTHON=$(BIN)/python infra/dataflow/submit.sh --input '$(INPUT)' --output '$(OUTPUT)'

# On a machine with an NVIDIA GPU: the restore job on CUDA on the sample films, beside the model alone.
gpu-smoke: $(STAMP)
	PYTHON=$(BIN)/python infra/gpu_smoke.sh

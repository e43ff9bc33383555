# Talkie: the two commands a newcomer needs are `make demo` and `make test`.
# Each creates .venv on first use and installs what it needs (torch's CPU build first).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat setup.py | sha256sum | cut -c1-12)

SAMPLES := samples/collection
DEMO_OUT := out/demo
RUNNER := --runner=DirectRunner --direct_running_mode=in_memory

.PHONY: demo test bench clean

$(STAMP): setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q "torch==2.13.0"
	$(BIN)/python -m pip install -q -e ".[dev]"
	rm -f $(VENV)/.installed-*
	touch $@

$(SAMPLES)/manifest.jsonl: $(STAMP)
	$(BIN)/python -m model.synth --out $(SAMPLES) --films 6 --seed 1001

# The main job on the built-in sample collection (until the restore job lands: the shot list).
demo: $(SAMPLES)/manifest.jsonl
	$(BIN)/python -m pipelines.scenes --input $(SAMPLES)/manifest.jsonl --output $(DEMO_OUT) $(RUNNER)

test: $(STAMP)
	$(BIN)/python -m pytest -q tests

bench: $(STAMP)
	$(BIN)/python bench/decode.py
	$(BIN)/python bench/scenes.py

clean:
	rm -rf $(DEMO_OUT) $(SAMPLES)

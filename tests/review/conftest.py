"""One restore run on a tiny foley-world collection, shared by the review tests.

Two films of two 1-1.5 s shots, 64x48, the first with two takes per scene, plus a zero-byte
file that fails at probe_and_shard; a small untrained checkpoint and 2 sampler steps, so the
run takes seconds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline

from model.synth import SynthConfig, write_collection
from pipelines.restore import RestoreSummary, run
from tests.conftest import IN_PROCESS
from tests.transforms.generation import save_small_checkpoint

PROMPT_WITH_MARKUP = 'a ball <b>bounces</b> & "echoes" on a floor'


@dataclass(frozen=True)
class ReviewRun:
    output: Path
    summary: RestoreSummary
    manifest: Path
    two_takes: str  # the film_id with two takes per scene
    bad: str  # the input that fails


@pytest.fixture(scope="session")
def review_run(tmp_path_factory, odd_films) -> ReviewRun:
    folder = tmp_path_factory.mktemp("review_collection")
    rows = write_collection(
        folder,
        films=2,
        seed=21,
        workers=1,
        config=SynthConfig(
            min_shots=2,
            max_shots=2,
            shot_seconds=(1.0, 1.5),
            width=64,
            height=48,
            classes=("impact", "footsteps"),
            fade_prob=0.0,
        ),
    )
    scenes = [{**rows[0]["scenes"][0], "positive_prompt": PROMPT_WITH_MARKUP}, *rows[0]["scenes"][1:]]
    rows[0] = {**rows[0], "takes": 2, "scenes": scenes}
    rows.append({"video_input": odd_films["zero_bytes"], "film_id": "empty"})
    manifest = folder / "films.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    checkpoint = save_small_checkpoint(tmp_path_factory.mktemp("review_ckpt") / "small.safetensors")
    output = tmp_path_factory.mktemp("review_output")
    summary = run(
        [
            "--input",
            str(manifest),
            "--output",
            str(output),
            "--checkpoint",
            checkpoint,
            "--steps",
            "2",
            "--batch_size",
            "4",
        ],
        test_pipeline=TestPipeline(options=PipelineOptions(IN_PROCESS)),
    )
    return ReviewRun(
        output=output,
        summary=summary,
        manifest=manifest,
        two_takes=rows[0]["film_id"],
        bad=odd_films["zero_bytes"],
    )

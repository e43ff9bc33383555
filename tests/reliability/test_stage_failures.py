"""Every stage of the restore job turns an exception on one element into a failures row with its
own stage name, and the job finishes for the rest (issue 5, "Failure handling").

One run over five one-scene films; a fault is injected into one stage for one film each
(planning, decoding, RunInference's generate call, assembly), and the fifth film must come out
complete. Faults are injected by patching the function each stage calls, in this process
(FnApiRunner runs the pipeline in-process).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline

import media.cut
import media.decode
import model.generate
import transforms.generate
from pipelines.restore import run
from tests.conftest import IN_PROCESS
from tests.films import encode, textured_shots
from tests.transforms.generation import save_small_checkpoint
from transforms.tables import read_table

GENERATE_FAILS_PROMPT = "a prompt the injected fault refuses"


class InjectedFault(RuntimeError):
    pass


@pytest.fixture(scope="module")
def restored(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stage_failures")
    names = ["plan_fails", "decode_fails", "generate_fails", "assemble_fails", "fine"]
    rows = []
    for seed, name in enumerate(names):
        encode(folder / f"{name}.mp4", textured_shots([24], size=(32, 48), seed=seed))
        rows.append(
            {
                "video_input": f"{name}.mp4",
                "film_id": name,
                "positive_prompt": GENERATE_FAILS_PROMPT if name == "generate_fails" else "footsteps",
            }
        )
    manifest = folder / "films.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    checkpoint = save_small_checkpoint(folder / "small.safetensors")

    plan_film, decode_range = transforms.generate.plan_film, media.decode.decode_range
    generate, cut_files = model.generate.Generator.generate, media.cut.cut_files

    def failing_plan(film, settings):
        if film.film_id == "plan_fails":
            raise InjectedFault("injected into planning")
        return plan_film(film, settings)

    def failing_decode(uri, *args, **kwargs):
        if Path(uri).stem == "decode_fails":
            raise InjectedFault("injected into decoding")
        return decode_range(uri, *args, **kwargs)

    def failing_generate(self, frames, positive_prompts, *args, **kwargs):
        if GENERATE_FAILS_PROMPT in positive_prompts:
            raise InjectedFault("injected into generation")
        return generate(self, frames, positive_prompts, *args, **kwargs)

    def failing_cut(audio, video_uri, *args, **kwargs):
        if Path(video_uri).stem == "assemble_fails":
            raise InjectedFault("injected into assembly")
        return cut_files(audio, video_uri, *args, **kwargs)

    output = folder / "out"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(transforms.generate, "plan_film", failing_plan)
        patch.setattr(media.decode, "decode_range", failing_decode)
        patch.setattr(model.generate.Generator, "generate", failing_generate)
        patch.setattr(media.cut, "cut_files", failing_cut)
        # One window per batch: the failing film's units never share a generate call with others.
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
                "1",
            ],
            test_pipeline=TestPipeline(options=PipelineOptions(IN_PROCESS)),
        )
    return folder, output, summary


def test_each_stage_names_itself_in_its_failure_rows(restored):
    folder, output, summary = restored
    failures = {(f["film_id"], f["stage"]): f for f in read_table(str(output), "failures").to_pylist()}
    expected = {
        ("plan_fails", "plan_units"): "injected into planning",
        ("decode_fails", "decode_windows"): "scene 0 (takes 0): injected into decoding",
        ("generate_fails", "generate_audio"): "injected into generation",
        ("assemble_fails", "assemble_films"): "injected into assembly",
    }
    for (film_id, stage), message in expected.items():
        row = failures.pop((film_id, stage), None)
        assert row is not None, (film_id, stage, sorted(failures))
        assert row["error_type"] == "InjectedFault" and message in row["error"], row
        assert row["uri"] == str(folder / f"{film_id}.mp4"), row
    assert not [
        key
        for key in failures
        if key[1]
        in {
            "plan_units",
            "decode_windows",
            "generate_audio",
            "assemble_films",
            "probe_and_shard",
            "read_manifest",
        }
    ]
    for stage in ("plan_units", "decode_windows", "generate_audio", "assemble_films"):
        assert summary.failures_by_stage.get(stage) == 1, summary.failures_by_stage


def test_the_rest_of_the_collection_finishes(restored):
    folder, output, summary = restored
    films = {f["film_id"]: f for f in read_table(str(output), "films").to_pylist()}
    # A film whose plan failed has no units to record; missing units leave a film incomplete;
    # a film whose assembly raised is marked failed. Only the fine one has outputs.
    assert {film_id: f["status"] for film_id, f in films.items()} == {
        "decode_fails": "incomplete",
        "generate_fails": "incomplete",
        "assemble_fails": "failed",
        "fine": "done",
    }
    fine = films["fine"]
    assert Path(fine["flac_uri"]).exists() and Path(fine["video_uri"]).exists()
    assert not (output / "films" / "assemble_fails").exists() or not any(
        (output / "films" / "assemble_fails").iterdir()
    )
    takes = {t["film_id"] for t in read_table(str(output), "takes").to_pylist()}
    assert takes == {"fine", "assemble_fails"}  # the assembly failure comes after its stems were published

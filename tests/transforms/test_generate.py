"""The generation transforms: planning, SkipDone and the ledger, decoding, the model handler."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from media import storage
from media.decode import decode_range
from tests.conftest import IN_PROCESS
from tests.films import encode, textured_shots
from tests.transforms.builders import job
from tests.transforms.generation import real_film, save_small_checkpoint, settings_for
from transforms.generate import (
    PlanUnits,
    SkipDone,
    UnitFrames,
    _DecodeSceneFn,
    _inference_failures,
    blend_unit,
    decode_unit_frames,
    fit_frames,
)
from transforms.inference import TalkieModelHandler
from transforms.layout import ledger_uri, stem_uri
from transforms.ledger import ledger_record, read_ledger, write_ledger
from transforms.shard import ShardedFilm
from transforms.stages import STAGE_GENERATE_AUDIO
from transforms.units import Take, plan_film


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> str:
    return save_small_checkpoint(tmp_path_factory.mktemp("ckpt") / "small.safetensors")


@pytest.fixture(scope="module")
def settings(checkpoint):
    return settings_for(checkpoint)


@pytest.fixture(scope="module")
def film(tmp_path_factory) -> ShardedFilm:
    """2.5 s at 24 fps: a 1.5 s scene (two 1 s windows) then a 1 s scene (one window)."""
    path = encode(
        tmp_path_factory.mktemp("film") / "two.mp4", textured_shots([36, 24], size=(48, 64), seed=3, pan=2)
    )
    return real_film(str(path), [36])


@pytest.fixture(scope="module")
def generator(settings):
    return TalkieModelHandler(settings, 4, device="cpu").load_model()


def test_fit_frames_cuts_to_the_scene_and_pads_with_its_last_frame():
    frames = np.arange(5, dtype=np.uint8)[:, None, None] * np.ones((1, 2, 3), np.uint8)
    fitted = fit_frames(frames, 4, 7)
    assert fitted.shape == (7, 2, 3) and fitted[:, 0, 0].tolist() == [0, 1, 2, 3, 3, 3, 3]
    assert fit_frames(frames, 5, 3).shape == (5, 2, 3)
    with pytest.raises(ValueError, match="shape"):
        fit_frames(frames[:, 0], 4, 4)


def test_decoded_units_match_decode_range_and_cover_their_windows(film, settings):
    plan = plan_film(film, settings)
    first = plan.units[0]
    frames = decode_unit_frames(first, settings)
    assert len(first.windows) == 2 and first.frames == 12
    assert frames.shape == (first.windows[-1].start_frame + 8, 16, 16) and frames.dtype == np.uint8
    direct = decode_range(
        film.job.video_input, first.start_pts, first.end_pts, fps=8, width=16, height=16, gray=True
    )
    assert np.array_equal(frames[:12], direct) and np.array_equal(
        frames[12:], np.repeat(direct[-1:], 2, axis=0)
    )


def test_cuda_decode_falls_back_to_the_cpu_and_gives_the_same_frames(film, settings):
    unit = plan_film(film, settings).units[1]
    fn = _DecodeSceneFn(settings, "cuda")
    fn.setup()
    [out] = list(fn.process(("film/1", [unit])))
    assert isinstance(out, UnitFrames) and np.array_equal(out.frames, decode_unit_frames(unit, settings))
    # Without a usable GPU the worker decodes on the CPU from then on; with one, NVDEC stays on.
    import torch

    assert fn._hwaccel == ("cuda" if torch.cuda.is_available() else None)


def test_a_scene_is_decoded_once_for_all_its_takes(film, settings):
    units = plan_film(film, dataclasses.replace(settings, takes=3)).units[:3]
    fn = _DecodeSceneFn(settings, "cpu")
    fn.setup()
    out = list(fn.process(("film/0", reversed(units))))
    assert [o.unit.take for o in out] == [0, 1, 2] and out[0].frames is out[2].frames


def test_a_scene_that_cannot_decode_fails_each_of_its_takes(film, settings):
    units = plan_film(
        dataclasses.replace(film, job=job("/missing/film.mp4")), dataclasses.replace(settings, takes=2)
    ).units[:2]
    units = [dataclasses.replace(u, uri="/missing/film.mp4") for u in units]
    fn = _DecodeSceneFn(settings, "cpu")
    fn.setup()
    out = list(fn.process(("film/0", units)))
    assert [o.tag for o in out] == ["failures", "failures"]
    assert out[0].value.stage == "decode_windows" and "scene 0 (takes 0, 1)" in out[0].value.error


def test_inference_batches_windows_of_different_units_without_changing_any(film, settings, generator):
    units = plan_film(film, dataclasses.replace(settings, takes=2)).units
    elements = [UnitFrames(u, decode_unit_frames(u, settings)) for u in units]
    together = TalkieModelHandler(settings, 4).run_inference(elements, generator)
    window = round(settings.config.window.window_s * settings.vocoder_rate)  # the vocoder's rate
    assert [r.inference.shape for r in together] == [(len(u.windows), window) for u in units]
    alone = TalkieModelHandler(settings, 1).run_inference(elements[3:], generator)
    assert np.array_equal(alone[0].inference, together[3].inference)
    assert not np.array_equal(together[0].inference, together[1].inference)  # takes differ by seed
    assert TalkieModelHandler(settings, 4).run_inference([], generator) == []


def test_the_handler_refuses_a_checkpoint_that_is_not_the_one_keyed(settings, tmp_path):
    other = save_small_checkpoint(tmp_path / "other.safetensors", seed=1)
    handler = TalkieModelHandler(dataclasses.replace(settings, checkpoint=other), 2, device="cpu")
    with pytest.raises(ValueError, match="the file changed after the job started"):
        handler.load_model()
    with pytest.raises(ValueError, match="batch_size 0"):
        TalkieModelHandler(settings, 0)


def test_blended_units_have_the_scenes_length_at_the_vocoders_rate(film, settings, generator):
    unit = plan_film(film, settings).units[0]
    [result] = TalkieModelHandler(settings, 4).run_inference(
        [UnitFrames(unit, decode_unit_frames(unit, settings))], generator
    )
    audio = blend_unit(unit, result.inference, settings)
    seconds = 1.5  # the scene; windows of 1 s start every 0.75 s
    assert audio.shape == (round(seconds * settings.vocoder_rate),) and audio.dtype == np.float32
    assert unit.samples == round(seconds * settings.config.audio.sample_rate)  # the model's rate
    alone = round(0.75 * settings.vocoder_rate)  # before the first overlap: window 0 alone
    assert np.array_equal(audio[:alone], result.inference[0][:alone])
    with pytest.raises(ValueError, match="expected"):
        blend_unit(unit, result.inference[:1], settings)


def _finish(output: str, take: Take, settings) -> None:
    storage.write_bytes(take.flac_uri, b"flac")
    write_ledger(output, ledger_record(take, settings, run_id="20260101T000000Z-00000000"))


def test_the_ledger_round_trips_and_unusable_objects_mean_not_done(film, settings, tmp_path):
    output = str(tmp_path)
    unit, other = plan_film(film, settings).units
    assert read_ledger(output, unit) is None
    take = Take(unit, stem_uri(output, unit.film_id, unit.key), "f" * 64, 0.25, generated=True)
    _finish(output, take, settings)
    assert read_ledger(output, unit) == dataclasses.replace(take, generated=False)
    record = json.loads(Path(ledger_uri(output, unit.film_id, unit.key)).read_text())
    assert record["flac"] == f"audio/film/{unit.key}.flac" and record["samples"] == unit.output_samples
    Path(ledger_uri(output, other.film_id, other.key)).write_text(json.dumps({**record}))  # another unit's
    assert read_ledger(output, other) is None
    Path(take.flac_uri).unlink()
    assert read_ledger(output, unit) is None  # a ledger object without its stem
    Path(ledger_uri(output, unit.film_id, unit.key)).write_text("{not json")
    assert read_ledger(output, unit) is None


@pytest.mark.parametrize("force", [False, True])
def test_skip_done_passes_only_unfinished_units_unless_forced(film, settings, tmp_path, force):
    output = str(tmp_path)
    done, to_do = plan_film(film, settings).units
    _finish(output, Take(done, stem_uri(output, done.film_id, done.key), "f" * 64, None, True), settings)
    with TestPipeline(options=PipelineOptions(IN_PROCESS)) as p:
        result = p | beam.Create([done, to_do]) | SkipDone(output, force=force)
        assert_that(
            result.to_do | "ToDoKeys" >> beam.Map(lambda u: u.key),
            equal_to([done.key, to_do.key] if force else [to_do.key]),
            label="ToDo",
        )
        assert_that(
            result.done | "DoneKeys" >> beam.Map(lambda t: (t.unit.key, t.generated)),
            equal_to([] if force else [(done.key, False)]),
            label="Done",
        )


def test_plan_units_emits_plans_and_units(film, settings):
    with TestPipeline(options=PipelineOptions(IN_PROCESS)) as p:
        result = p | beam.Create([film]) | PlanUnits(dataclasses.replace(settings, takes=2))
        assert_that(result.plans | beam.Map(lambda plan: len(plan.units)), equal_to([4]), label="Plans")
        assert_that(
            result.units | beam.Map(lambda u: (u.scene_index, u.take)),
            equal_to([(0, 0), (0, 1), (1, 0), (1, 1)]),
            label="Units",
        )
        assert_that(result.failures, equal_to([]), label="Failures")


def test_a_failed_batch_becomes_a_failure_per_unit(film, settings):
    units = plan_film(film, settings).units
    batch = [UnitFrames(u, np.zeros((1, 16, 16), np.uint8)) for u in units]
    failures = list(_inference_failures((batch, (RuntimeError, "RuntimeError('CUDA out of memory')", []))))
    assert [(f.film_id, f.stage, f.error_type) for f in failures] == [
        ("film", STAGE_GENERATE_AUDIO, "RuntimeError")
    ] * 2
    assert "out of memory" in failures[0].error

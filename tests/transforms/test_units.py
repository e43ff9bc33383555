"""Units: keys, seeds, prompt layering, windows and output ranges, on small hand-made films."""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import pytest

from model.config import ModelConfig, NetworkConfig, VideoConfig, WindowConfig
from tests.transforms.builders import SHA_A, SHA_B, probe, sharded, tiling
from transforms.manifest import SceneOverride
from transforms.shard import ShardedFilm
from transforms.units import (
    GenerationSettings,
    choose_override,
    cut_key,
    derive_seed,
    model_frames,
    plan_film,
    window_start_frames,
)

# 1 s windows with 0.25 s overlap at 8 fps: 8 frames a window, a stride of 6 frames
CONFIG = ModelConfig(
    video=VideoConfig(fps=8, height=16, width=16),
    network=NetworkConfig(width=32, depth=2, heads=2, patch_frames=2),
    window=WindowConfig(window_s=1.0, overlap_s=0.25),
)
SETTINGS = GenerationSettings(
    checkpoint="/ckpt/tiny.safetensors",
    checkpoint_sha256="c" * 64,
    config=CONFIG,
    steps=4,
    text_guidance=2.0,
    video_guidance=2.0,
    negative_guidance=2.0,
    sampler="euler",
    vocoder="griffin-lim(test)",
    vocoder_rate=16000,
)


def film(**fields) -> ShardedFilm:
    """48 frames at 24 fps (2 s), cut at frame 24: two 1 s scenes; ``fields`` replace the job's."""
    base = sharded("/films/a.mp4", "film-a")
    return dataclasses.replace(base, job=dataclasses.replace(base.job, **fields))


def override(index=None, start_s=None, end_s=None, positive=None, negative=None) -> SceneOverride:
    return SceneOverride(index, start_s, end_s, positive, negative)


def test_units_are_scene_major_with_the_command_line_takes_unless_the_row_gives_some():
    plan = plan_film(film(), dataclasses.replace(SETTINGS, takes=3))
    assert [(u.scene_index, u.take) for u in plan.units] == [(s, t) for s in (0, 1) for t in range(3)]
    assert plan.takes == 3 and len({u.key for u in plan.units}) == 6
    assert len(plan_film(film(takes=2), dataclasses.replace(SETTINGS, takes=3)).units) == 4


def test_unit_key_changes_with_every_input_that_decides_the_audio():
    base = plan_film(film(), SETTINGS).units[0]
    variants = {
        "steps": dataclasses.replace(SETTINGS, steps=5),
        "text_guidance": dataclasses.replace(SETTINGS, text_guidance=2.5),
        "video_guidance": dataclasses.replace(SETTINGS, video_guidance=3.0),
        "negative_guidance": dataclasses.replace(SETTINGS, negative_guidance=1.0),
        "sampler": dataclasses.replace(SETTINGS, sampler="heun"),
        "vocoder": dataclasses.replace(SETTINGS, vocoder="bigvgan"),
        "checkpoint": dataclasses.replace(SETTINGS, checkpoint_sha256="d" * 64),
        "overlap": dataclasses.replace(
            SETTINGS, config=dataclasses.replace(CONFIG, window=WindowConfig(window_s=1.0, overlap_s=0.5))
        ),
        "default prompt": dataclasses.replace(SETTINGS, positive_prompt="rain"),
    }
    keys = {name: plan_film(film(), s).units[0].key for name, s in variants.items()}
    keys["content"] = plan_film(sharded("/films/a.mp4", "film-a", sha=SHA_B), SETTINGS).units[0].key
    keys["row seed"] = plan_film(film(seed=7), SETTINGS).units[0].key
    keys["row prompt"] = plan_film(film(negative_prompt="rain"), SETTINGS).units[0].key
    keys["take"] = plan_film(film(takes=2), SETTINGS).units[1].key
    moved = dataclasses.replace(film(), scenes=tuple(tiling(48, [23])))
    keys["time range"] = plan_film(moved, SETTINGS).units[0].key
    assert base.key not in keys.values() and len(set(keys.values())) == len(keys)
    assert len(base.key) == 16 and int(base.key, 16) >= 0


def test_unit_key_is_content_addressed_not_named():
    renamed = sharded("/elsewhere/b.mp4", "film-b")
    assert [u.key for u in plan_film(renamed, SETTINGS).units] == [
        u.key for u in plan_film(film(), SETTINGS).units
    ]


def test_a_scene_override_regenerates_only_its_scene():
    plain = plan_film(film(positive_prompt="rain"), SETTINGS).units
    changed = plan_film(
        film(positive_prompt="rain", scenes=(override(index=1, positive="a door slams"),)), SETTINGS
    ).units
    assert plain[0].key == changed[0].key and plain[1].key != changed[1].key
    assert changed[1].positive_prompt == "a door slams" and changed[0].positive_prompt == "rain"


def test_prompts_layer_command_line_then_row_then_scene_override():
    settings = dataclasses.replace(SETTINGS, positive_prompt="cli positive", negative_prompt="cli negative")
    assert plan_film(film(), settings).prompts[0].positive_prompt == "cli positive"
    row = plan_film(film(positive_prompt="row positive"), settings).prompts[0]
    assert (row.positive_prompt, row.negative_prompt) == ("row positive", "cli negative")
    scenes = (override(start_s=0.9, end_s=2.0, negative="scene negative"),)
    layered = plan_film(film(positive_prompt="row positive", scenes=scenes), settings).prompts
    assert layered[1].positive_prompt == "row positive" and layered[1].negative_prompt == "scene negative"
    assert layered[0].negative_prompt == "cli negative"  # the range covers 0.1 s of scene 0, 1 s of scene 1


def test_unset_prompts_are_text_free_and_the_checkpoints_default_negative():
    prompts = plan_film(film(), SETTINGS).prompts[0]
    assert prompts.positive_prompt == "" and prompts.negative_prompt == CONFIG.sampler.negative_prompt
    assert plan_film(film(negative_prompt=""), SETTINGS).prompts[0].negative_prompt == ""


def test_index_override_beats_range_and_ranges_go_to_the_scenes_whose_midpoint_they_hold():
    overrides = (
        override(start_s=0.0, end_s=0.3, positive="first"),
        override(start_s=0.2, end_s=1.6, positive="second"),
        override(index=1, positive="by index"),
    )
    assert (
        choose_override(overrides, 0, 0.0, 1.0).positive_prompt == "second"
    )  # holds the midpoint 0.5; the first does not
    tied = (
        override(start_s=0.0, end_s=0.9, positive="first"),
        override(start_s=0.1, end_s=1.0, positive="second"),
    )
    assert choose_override(tied, 0, 0.0, 1.0).positive_prompt == "first"
    grazing = (override(start_s=0.0, end_s=0.45, positive="grazes"),)
    assert choose_override(grazing, 0, 0.0, 1.0) is None
    assert choose_override(overrides, 1, 1.0, 2.0).positive_prompt == "by index"
    assert choose_override(overrides[:2], 1, 1.0, 2.0).positive_prompt == "second"
    assert choose_override(overrides[:2], 2, 2.0, 3.0) is None


def test_seeds_are_derived_from_content_scene_and_take_unless_the_row_gives_one():
    seeds = {derive_seed(SHA_A, s, t) for s in range(3) for t in range(3)}
    assert len(seeds) == 9 and all(0 <= s < 2**63 for s in seeds)
    assert derive_seed(SHA_A, 0, 0) == derive_seed(SHA_A, 0, 0) != derive_seed(SHA_B, 0, 0)
    assert derive_seed(SHA_A, 0, 0, 7) == derive_seed(SHA_B, 0, 0, 7) != derive_seed(SHA_A, 0, 0, 8)
    units = plan_film(film(takes=2), SETTINGS).units
    assert [u.seed for u in units] == [derive_seed(SHA_A, s, t) for s in (0, 1) for t in (0, 1)]
    assert len({w.seed for u in units for w in u.windows}) == sum(len(u.windows) for u in units)


def test_window_starts_step_by_the_stride_until_a_window_reaches_the_end():
    assert window_start_frames(8, 8, 6) == (0,)
    assert window_start_frames(3, 8, 6) == (0,)
    assert window_start_frames(9, 8, 6) == (0, 6)
    assert window_start_frames(20, 8, 6) == (0, 6, 12)
    assert window_start_frames(21, 8, 6) == (0, 6, 12, 18)
    assert model_frames(Fraction(1), 8) == 8 and model_frames(Fraction(1, 100), 8) == 1
    assert model_frames(Fraction(25, 24), 8) == 9


def test_unit_windows_cover_the_scene_at_model_rate():
    long_scene = ShardedFilm(
        job=film().job,
        film_id="film-a",
        probe=probe("/films/a.mp4", frames=70),
        scenes=tuple(tiling(70, [20])),
    )
    units = plan_film(long_scene, SETTINGS).units
    second = units[1]  # frames 20..70 at 24 fps: 50/24 s -> 17 frames at 8 fps, 33333 samples at 16 kHz
    assert (second.frames, second.samples) == (17, 33333)
    assert [w.start_frame for w in second.windows] == [0, 6, 12]
    assert [w.start_sample for w in second.windows] == [0, 12000, 24000]
    last = second.windows[-1]
    assert last.start_sample + CONFIG.window_samples >= second.samples
    assert second.start_time == Fraction(20, 24) and second.end_time == Fraction(70, 24)


def test_output_ranges_tile_the_film_to_the_sample():
    odd = ShardedFilm(
        job=film().job,
        film_id="film-a",
        probe=probe("/films/a.mp4", frames=47),
        scenes=tuple(tiling(47, [7, 29])),
    )
    units = plan_film(odd, SETTINGS).units
    assert sum(u.output_samples for u in units) == round(Fraction(47, 24) * 48000)


def test_cut_key_changes_with_the_takes_used_and_the_assembly_settings():
    base = cut_key(["a" * 16, "b" * 16], crossfade_samples=480, target_lufs=-23.0, max_true_peak_dbtp=-1.0)
    assert base == cut_key(
        ("a" * 16, "b" * 16), crossfade_samples=480, target_lufs=-23, max_true_peak_dbtp=-1
    )
    others = {
        cut_key(["a" * 16, "c" * 16], crossfade_samples=480, target_lufs=-23.0, max_true_peak_dbtp=-1.0),
        cut_key(["b" * 16, "a" * 16], crossfade_samples=480, target_lufs=-23.0, max_true_peak_dbtp=-1.0),
        cut_key(["a" * 16, "b" * 16], crossfade_samples=240, target_lufs=-23.0, max_true_peak_dbtp=-1.0),
        cut_key(["a" * 16, "b" * 16], crossfade_samples=480, target_lufs=-16.0, max_true_peak_dbtp=-1.0),
        cut_key(["a" * 16, "b" * 16], crossfade_samples=480, target_lufs=-23.0, max_true_peak_dbtp=-2.0),
    }
    assert base not in others and len(others) == 5


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("steps", 0, "steps 0"),
        ("text_guidance", -1.0, "text_guidance -1.0"),
        ("sampler", "ddim", "sampler 'ddim'"),
        ("takes", 0, "takes 0"),
    ],
)
def test_bad_settings_are_named(field, value, message):
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(SETTINGS, **{field: value})

"""media.track: sample ranges from exact times, tiling checks, and crossfaded cuts."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from media.blend import raised_cosine
from media.track import SceneAudio, assemble_film_track, scene_sample_range


def slices(signal: np.ndarray, bounds: list[int], lead: int, tail: int) -> list[SceneAudio]:
    """Scenes cut from one continuous signal, each with up to ``lead``/``tail`` extra samples."""
    scenes = []
    for lo, hi in zip(bounds, bounds[1:]):
        a, b = max(0, lo - lead), min(signal.size, hi + tail)
        scenes.append(SceneAudio(lo, hi, signal[a:b], lead=lo - a, tail=b - hi))
    return scenes


def test_sample_ranges_are_exact_and_round_halves_to_even():
    assert scene_sample_range(Fraction(0), Fraction(1001, 1000)) == (0, 48048)
    assert scene_sample_range(Fraction(1, 96000), Fraction(3, 96000)) == (0, 2)  # 0.5 -> 0, 1.5 -> 2
    assert scene_sample_range(Fraction(5, 96000), Fraction(7, 96000)) == (2, 4)  # 2.5 -> 2, 3.5 -> 4
    assert scene_sample_range(1, 2, rate=16000) == (16000, 32000)
    # Scenes at 24000/1001 fps, with PTS in 1/90000: consecutive scenes share their boundary.
    tb = Fraction(1, 90000)
    cuts = [0, 3754 * 17, 3754 * 40, 3754 * 41, 3754 * 95]
    ranges = [scene_sample_range(a * tb, b * tb) for a, b in zip(cuts, cuts[1:])]
    assert all(r[1] == s[0] for r, s in zip(ranges, ranges[1:]))
    assert ranges[-1][1] == round(Fraction(3754 * 95, 90000) * 48000)


@pytest.mark.parametrize(
    "args", [(0.0, Fraction(1)), (Fraction(1), 2.5), (Fraction(2), Fraction(1)), (Fraction(-1), 1)]
)
def test_sample_ranges_refuse_floats_and_reversed_times(args):
    with pytest.raises(ValueError):
        scene_sample_range(*args)


def test_one_continuous_sound_passes_every_cut_unchanged():
    signal = np.random.default_rng(0).standard_normal(10_000).astype(np.float32)
    bounds = [0, 2000, 2003, 4000, 4900, 10_000]  # a 3-sample scene among them
    out = assemble_film_track(slices(signal, bounds, 240, 240), 10_000, crossfade_samples=480)
    assert out.dtype == np.float32 and out.shape == (10_000,)
    np.testing.assert_array_equal(out, signal)


def test_each_scene_owns_its_samples_outside_the_crossfades():
    total, n = 9000, 400
    scenes = [
        SceneAudio(0, 3000, np.full(3000 + 200, 1.0, np.float32), tail=200),
        SceneAudio(3000, 6000, np.full(200 + 3000 + 200, 2.0, np.float32), lead=200, tail=200),
        SceneAudio(6000, 9000, np.full(200 + 3000, 3.0, np.float32), lead=200),
    ]
    out = assemble_film_track(scenes, total, crossfade_samples=n)
    np.testing.assert_array_equal(out[:2800], 1.0)
    np.testing.assert_array_equal(out[3200:5800], 2.0)
    np.testing.assert_array_equal(out[6200:], 3.0)
    # The cut at 3000 is a raised-cosine crossfade centred on it.
    np.testing.assert_allclose(out[2800:3200], 1.0 + raised_cosine(n), rtol=1e-6)


def test_without_lead_or_tail_cuts_fade_through_silence_without_a_click():
    total = 4000
    scenes = [
        SceneAudio(0, 2000, np.ones(2000, np.float32)),
        SceneAudio(2000, 4000, -np.ones(2000, np.float32)),
    ]
    hard = assemble_film_track(scenes, total, crossfade_samples=0)
    np.testing.assert_array_equal(hard, np.r_[np.ones(2000), -np.ones(2000)])  # a 2.0 jump: a click
    out = assemble_film_track(scenes, total, crossfade_samples=480)
    np.testing.assert_array_equal(out[:1760], 1.0)
    np.testing.assert_array_equal(out[2240:], -1.0)
    assert abs(out[1999]) < 1e-4 and abs(out[2000]) < 1e-4  # both fade to their edge
    assert np.abs(np.diff(out)).max() < 0.01


def test_a_tail_alone_lengthens_only_the_fade_out():
    scenes = [
        SceneAudio(0, 1000, np.ones(1100, np.float32), tail=100),
        SceneAudio(1000, 2000, np.ones(1000, np.float32)),
    ]
    out = assemble_film_track(scenes, 2000, crossfade_samples=200)
    np.testing.assert_allclose(
        out[900:1100], 1 - raised_cosine(200) + np.r_[np.zeros(100), raised_cosine(100)], rtol=1e-6
    )
    assert out.max() <= 1.0


def test_extra_lead_and_tail_beyond_half_the_crossfade_are_not_used():
    signal = np.random.default_rng(1).standard_normal(6000).astype(np.float32)
    generous = assemble_film_track(slices(signal, [0, 3000, 6000], 1000, 1000), 6000, crossfade_samples=100)
    np.testing.assert_array_equal(generous, signal)


@pytest.mark.parametrize(
    "scenes, total, message",
    [
        ([SceneAudio(0, 10, np.zeros(10)), SceneAudio(12, 20, np.zeros(8))], 20, "scene 1 .*gap of 2"),
        ([SceneAudio(0, 10, np.zeros(10)), SceneAudio(8, 20, np.zeros(12))], 20, "scene 1 .*overlaps"),
        ([SceneAudio(2, 10, np.zeros(8))], 10, "scene 0 .*gap"),
        ([SceneAudio(0, 10, np.zeros(10))], 12, "scene 0 ends at sample 10"),
        ([SceneAudio(0, 10, np.zeros(10)), SceneAudio(10, 20, np.zeros(11))], 20, r"scene 1 .*need \(10,\)"),
        (
            [SceneAudio(0, 10, np.zeros(12), lead=1, tail=1), SceneAudio(10, 20, np.zeros(10), lead=-1)],
            20,
            "scene 1",
        ),
        ([SceneAudio(0, 10, np.zeros(10, np.int16))], 10, "scene 0 .*dtype"),
    ],
)
def test_scenes_that_do_not_tile_the_track_are_named(scenes, total, message):
    with pytest.raises(ValueError, match=message):
        assemble_film_track(scenes, total, crossfade_samples=4)


def test_an_empty_film_is_an_empty_track():
    assert assemble_film_track([], 0, crossfade_samples=10).shape == (0,)
    with pytest.raises(ValueError, match="no scenes"):
        assemble_film_track([], 5, crossfade_samples=10)

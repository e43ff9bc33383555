"""media.score.mix and media.cut.render_cut: the score levelled under the effects, ducked under
their events with the documented attack and release, and stems that add up to the mix."""

from __future__ import annotations

import numpy as np
import pytest

from media.cut import render_cut, render_track
from media.loudness import integrated_lufs, true_peak_dbtp
from media.score import mix
from media.track import SceneAudio

SR = 48000


def _bursts(seconds: float, at: list[float], length_s: float = 0.05, floor: float = 0.002) -> np.ndarray:
    """Quiet noise with loud noise bursts starting at ``at`` (s): an effects track with events."""
    rng = np.random.default_rng(1)
    x = floor * rng.standard_normal(int(seconds * SR))
    for start in at:
        a = int(start * SR)
        x[a : a + int(length_s * SR)] += 0.5 * rng.standard_normal(int(length_s * SR))
    return x.astype(np.float32)


def _tone(seconds: float, level: float = 0.1) -> np.ndarray:
    return (level * np.sin(2 * np.pi * 440 * np.arange(int(seconds * SR)) / SR)).astype(np.float32)


def _gain_db(placed: np.ndarray, tone: np.ndarray, at_s: float) -> float:
    """The score's gain (dB) around ``at_s``, from one period-aligned stretch of 10 ms."""
    a = int(at_s * SR)
    window = slice(a, a + 480)
    return 20 * np.log10(np.sqrt(np.mean(placed[window] ** 2)) / np.sqrt(np.mean(tone[window] ** 2)))


def test_the_score_is_ducked_under_effects_events_with_attack_and_release():
    effects, tone = _bursts(4.0, [1.0, 3.0]), _tone(4.0)
    placed = mix.place_score(effects, tone, SR)
    assert placed.shape == tone.shape and placed.dtype == np.float32
    rest = _gain_db(placed, tone, 0.5)  # far from any event: levelled, not ducked
    assert _gain_db(placed, tone, 2.5) == pytest.approx(rest, abs=0.01)
    during = _gain_db(placed, tone, 1.01)
    assert during == pytest.approx(rest - mix.DUCK_DEPTH_DB, abs=0.5)  # down by the full depth
    # look-ahead attack: already on its way down just before the event, untouched well before it
    assert rest - mix.DUCK_DEPTH_DB < _gain_db(placed, tone, 1.0 - mix.ATTACK_S / 2 - 0.005) < rest - 1
    assert _gain_db(placed, tone, 1.0 - 2 * mix.ATTACK_S - 0.01) == pytest.approx(rest, abs=0.01)
    # linear release in dB: half way back after half the release time past the event's end
    end = 1.05
    half = _gain_db(placed, tone, end + mix.RELEASE_S / 2)
    assert half == pytest.approx(rest - mix.DUCK_DEPTH_DB / 2, abs=1.0)
    assert _gain_db(placed, tone, end + mix.RELEASE_S + 0.05) == pytest.approx(rest, abs=0.01)


def test_the_score_is_levelled_below_the_effects_whatever_its_own_level():
    effects = _bursts(4.0, [1.0, 3.0], floor=0.05)
    for level in (0.001, 0.1, 0.5):
        tone = _tone(4.0, level)
        gain = mix.score_gain_db(effects, tone, SR)
        levelled = integrated_lufs(tone * 10 ** (gain / 20), SR)
        assert levelled == pytest.approx(integrated_lufs(effects, SR) - mix.SCORE_BELOW_EFFECTS_LU, abs=0.01)
    silent = np.zeros_like(effects)
    assert mix.score_gain_db(silent, _tone(4.0), SR) == 0.0 and not mix.duck_gain_db(silent, SR).any()
    assert not mix.place_score(effects, silent, SR).any()
    with pytest.raises(ValueError, match="one length"):
        mix.place_score(effects, _tone(3.0), SR)


def test_stems_add_up_to_the_normalised_mix_and_no_score_is_todays_track():
    effects = _bursts(3.0, [0.5, 2.0])
    scenes = [SceneAudio(0, 60000, effects[:60000]), SceneAudio(60000, 144000, effects[60000:])]
    plain, loudness = render_track(
        scenes, 144000, crossfade_samples=480, target_lufs=-23.0, max_true_peak_dbtp=-1.0
    )
    unscored = render_cut(
        scenes, 144000, score=None, crossfade_samples=480, target_lufs=-23.0, max_true_peak_dbtp=-1.0
    )
    assert np.array_equal(unscored.track, plain) and unscored.loudness == loudness
    assert unscored.effects is None and unscored.score is None

    cut = render_cut(
        scenes, 144000, score=_tone(3.0), crossfade_samples=480, target_lufs=-23.0, max_true_peak_dbtp=-1.0
    )
    assert cut.effects is not None and cut.score is not None
    assert cut.track.shape == cut.effects.shape == cut.score.shape == (144000,)
    assert np.abs(cut.effects.astype(np.float64) + cut.score - cut.track).max() < 1e-6
    assert integrated_lufs(cut.track, SR) == pytest.approx(-23.0, abs=0.05)
    assert true_peak_dbtp(cut.track, SR) <= -1.0 + 1e-3
    # the effects stem is today's track at the mix's gain: one ratio everywhere
    ratio = cut.effects[np.abs(plain) > 1e-3] / plain[np.abs(plain) > 1e-3]
    assert np.ptp(ratio) < 1e-4 * np.abs(ratio).mean()
    with pytest.raises(ValueError, match="score has shape"):
        render_cut(
            scenes,
            144000,
            score=_tone(2.0),
            crossfade_samples=480,
            target_lufs=-23.0,
            max_true_peak_dbtp=-1.0,
        )


def test_the_mix_identity_names_its_settings():
    text = mix.mix_identity()
    assert f"{mix.DUCK_DEPTH_DB:g} dB" in text and f"release {mix.RELEASE_S * 1000:g} ms" in text

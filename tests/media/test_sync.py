"""media.sync: motion onsets, audio onsets, and a score that prefers sound on the visible events."""

from __future__ import annotations

import numpy as np
import pytest

from media.sync import audio_onsets, motion_onsets, onset_agreement, sync_score
from tests.films import textured_shots

FPS, RATE = 24, 16000
FRAMES = 96  # 4 s
EVENTS = [10, 27, 41, 60, 83]  # frames where a bright patch jumps to a new place


def jumping_patch(seed: int = 0, *, flicker: float = 0.1, grain: float = 3.0) -> np.ndarray:
    """(FRAMES, 48, 64) uint8: a still textured shot with flicker and grain, and a patch that jumps at
    EVENTS."""
    rng = np.random.default_rng(seed)
    background = rng.integers(0, 200, (48, 64)).astype(np.float32)
    y, x = 5, 5
    frames = []
    for t in range(FRAMES):
        if t in EVENTS:
            y, x = rng.integers(0, 36), rng.integers(0, 52)
        frame = background.copy()
        frame[y : y + 12, x : x + 12] = 255
        frame = frame * (1 + flicker * np.sin(1.7 * t)) + rng.normal(0, grain, frame.shape)
        frames.append(np.clip(frame, 0, 255).astype(np.uint8))
    return np.stack(frames)


def clicks(times_s, seed: int = 1, noise: float = 0.01, seconds: float = FRAMES / FPS) -> np.ndarray:
    """Noise-burst clicks (30 ms, decaying) at ``times_s`` over a quiet noise bed, mono at RATE."""
    rng = np.random.default_rng(seed)
    audio = noise * rng.standard_normal(round(seconds * RATE))
    burst = np.exp(-np.arange(int(0.03 * RATE)) / (0.006 * RATE))
    for t in times_s:
        i = round(t * RATE)
        part = audio[i : i + burst.size]
        part += 0.8 * rng.standard_normal(part.size) * burst[: part.size]
    return audio.astype(np.float32)


EVENT_TIMES = np.array(EVENTS) / FPS


def test_motion_onsets_are_the_frames_of_visible_change_despite_flicker_and_grain():
    onsets = motion_onsets(jumping_patch(), FPS)
    np.testing.assert_allclose(onsets * FPS, EVENTS)


def test_audio_onsets_are_the_clicks():
    onsets = audio_onsets(clicks(EVENT_TIMES), RATE)
    assert onsets.shape == EVENT_TIMES.shape
    assert np.abs(onsets - EVENT_TIMES).max() < 0.015


def test_clicks_on_the_motion_score_higher_than_clicks_300_ms_late_or_early():
    frames = jumping_patch()
    on_time = sync_score(frames, FPS, clicks(EVENT_TIMES), RATE)
    late = sync_score(frames, FPS, clicks(EVENT_TIMES + 0.3), RATE)
    early = sync_score(frames, FPS, clicks(EVENT_TIMES - 0.3), RATE)
    assert on_time > 0.9
    assert on_time > late + 0.5 and on_time > early + 0.5


def test_spurious_and_missing_sounds_cost_but_less_than_being_off():
    frames = jumping_patch(seed=3)
    exact = sync_score(frames, FPS, clicks(EVENT_TIMES), RATE)
    spurious = sync_score(frames, FPS, clicks(np.r_[EVENT_TIMES, 0.2, 1.35, 2.9]), RATE)
    missing = sync_score(frames, FPS, clicks(EVENT_TIMES[:2]), RATE)
    one_frame_late = sync_score(frames, FPS, clicks(EVENT_TIMES + 1 / FPS), RATE)
    late = sync_score(frames, FPS, clicks(EVENT_TIMES + 0.3), RATE)
    assert exact > one_frame_late > 0.7 > late  # one frame off still mostly counts
    assert exact > spurious > late and exact > missing > late


def test_the_score_ignores_level_and_is_repeatable():
    frames, audio = jumping_patch(), clicks(EVENT_TIMES)
    score = sync_score(frames, FPS, audio, RATE)
    assert sync_score(frames, FPS, 0.01 * audio, RATE) == pytest.approx(score, abs=1e-9)
    assert sync_score(frames.copy(), FPS, audio.copy(), RATE) == score


def test_nothing_to_match_scores_zero():
    frames = jumping_patch()
    assert sync_score(frames, FPS, np.zeros(64000, np.float32), RATE) == 0.0
    still = np.repeat(jumping_patch(flicker=0, grain=0)[:1], FRAMES, axis=0)
    assert motion_onsets(still, FPS).size == 0
    assert sync_score(still, FPS, clicks(EVENT_TIMES), RATE) == 0.0
    assert onset_agreement(np.array([1.0]), np.array([])) == 0.0


def test_repeated_frames_of_a_steady_pan_are_not_motion_onsets():
    gray = textured_shots([60], size=(48, 64), seed=2, pan=2).mean(axis=3).astype(np.uint8)
    padded = gray[[i - (i % 5 == 4) for i in range(60)]]  # telecine-like: every 5th frame repeated
    assert motion_onsets(padded, FPS).size <= 2  # reading the repeats as pauses would give ~11
    jump = padded.copy()
    jump[30:] = np.roll(jump[30:], 20, axis=2)
    assert 30 in np.rint(motion_onsets(jump, FPS) * FPS)


@pytest.mark.parametrize(
    "frames, fps, audio, rate",
    [
        (np.zeros((4, 8, 8, 3), np.uint8), FPS, np.zeros(100, np.float32), RATE),
        (np.zeros((4, 8, 8), np.float32), FPS, np.zeros(100, np.float32), RATE),
        (np.zeros((4, 8, 8), np.uint8), 0, np.zeros(100, np.float32), RATE),
        (np.zeros((4, 8, 8), np.uint8), FPS, np.zeros((2, 100), np.float32), RATE),
        (np.zeros((4, 8, 8), np.uint8), FPS, np.zeros(100, np.float32), 0),
    ],
)
def test_bad_arguments_are_refused(frames, fps, audio, rate):
    with pytest.raises(ValueError):
        sync_score(frames, fps, audio, rate)

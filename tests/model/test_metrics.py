"""model.metrics: onsets of clicks in noise, one-to-one matching, F1 counts."""

from __future__ import annotations

import numpy as np
import pytest

from model.metrics import OnsetCounts, detect_onsets, match_onsets

RATE = 16000


def clicks(times: list[float], *, seconds: float = 4.0, noise: float = 0.003, seed: int = 0) -> np.ndarray:
    """Decaying 1.5 kHz bursts at ``times`` over quiet noise."""
    rng = np.random.default_rng(seed)
    audio = noise * rng.standard_normal(int(seconds * RATE))
    burst = np.sin(2 * np.pi * 1500 * np.arange(1600) / RATE) * np.exp(-np.arange(1600) / 200)
    for t in times:
        start = round(t * RATE)
        audio[start : start + burst.size] += 0.5 * burst[: audio.size - start]
    return audio.astype(np.float32)


def test_clicks_are_found_on_time():
    times = [0.31, 0.9, 1.47, 2.2, 3.05, 3.6]
    found = detect_onsets(clicks(times), RATE)
    assert len(found) == len(times)
    assert np.abs(found - np.asarray(times)).max() < 0.015


def test_silence_and_steady_noise_have_no_onsets():
    assert detect_onsets(np.zeros(RATE, np.float32), RATE).size == 0
    assert detect_onsets(clicks([], noise=0.1), RATE).size <= 2


def test_matching_is_one_to_one_and_within_tolerance():
    counts = match_onsets([0.10, 0.12, 0.50, 2.0], [0.11, 0.52, 1.0], 0.05)
    assert counts == OnsetCounts(tp=2, fp=2, fn=1)  # 0.10 or 0.12 takes 0.11, not both; 2.0 and 1.0 unmatched
    assert counts.f1 == pytest.approx(4 / 7)  # 2 TP / (2 TP + FP + FN)
    assert match_onsets([], [], 0.05).f1 == 1.0
    assert match_onsets([0.3], [], 0.05) == OnsetCounts(0, 1, 0)


def test_a_transient_on_every_frame_scores_poorly():
    truth = [0.5, 1.5, 2.5]
    every_frame = list(np.arange(0.0, 4.0, 1 / 16))
    busy = match_onsets(detect_onsets(clicks(every_frame), RATE), truth, 0.05)
    exact = match_onsets(detect_onsets(clicks(truth), RATE), truth, 0.05)
    assert exact.f1 == 1.0 and busy.f1 < 0.3

"""media.loudness: BS.1770 normalisation under a true-peak ceiling, and the short and silent cases."""

from __future__ import annotations

import math

import numpy as np
import pyloudnorm
import pytest

from media.loudness import LoudnessResult, integrated_lufs, normalise_loudness, true_peak_dbtp
from media.resample import resample

RATE = 48000


def noise(seconds: float, amplitude: float, seed: int = 0) -> np.ndarray:
    return (amplitude * np.random.default_rng(seed).standard_normal(round(seconds * RATE))).astype(np.float32)


def meter(x: np.ndarray) -> float:
    return pyloudnorm.Meter(RATE).integrated_loudness(x.astype(np.float64))


def test_steady_audio_reaches_the_target():
    x = noise(2.0, 0.01)
    out, result = normalise_loudness(x, RATE)
    assert out.dtype == np.float32 and out.shape == x.shape
    assert result.method == "bs1770" and not result.peak_limited
    assert result.lufs_before == pytest.approx(meter(x), abs=1e-9)
    assert meter(out) == pytest.approx(-23.0, abs=0.05)
    assert result.lufs_after == pytest.approx(-23.0, abs=0.05)
    assert result.gain_db == pytest.approx(-23.0 - meter(x), abs=1e-9)
    assert result.true_peak_dbtp <= -1.0
    np.testing.assert_allclose(out, x * 10 ** (result.gain_db / 20), rtol=1e-6)  # one gain, nothing else


def test_other_targets_are_honoured():
    out, result = normalise_loudness(noise(1.0, 0.2), RATE, target_lufs=-31.0, max_true_peak_dbtp=-2.0)
    assert meter(out) == pytest.approx(-31.0, abs=0.05) and result.true_peak_dbtp <= -2.0


def test_a_peaky_track_is_held_under_the_ceiling_and_says_so():
    x = noise(3.0, 0.001)
    x[RATE :: RATE // 2] = 0.5  # sparse clicks far above a quiet bed
    out, result = normalise_loudness(x, RATE)
    assert result.method == "bs1770" and result.peak_limited
    assert result.true_peak_dbtp == pytest.approx(-1.0, abs=1e-3)
    assert true_peak_dbtp(out, RATE) <= -1.0 + 1e-3
    assert result.lufs_after < -23.5  # quieter than the target: the peak ruled


def test_true_peak_sees_between_the_samples():
    # A tone at a quarter of the rate, phased so every sample lands at +-0.707 of the crest,
    # faded in and out over 10 ms so that its abrupt ends add no ringing of their own.
    n = np.arange(RATE // 10)
    fade = np.minimum(1.0, np.minimum(n, n[::-1]) / (RATE / 100))
    x = (fade * np.sin(np.pi / 2 * n + np.pi / 4)).astype(np.float32)
    sample_peak_db = 20 * math.log10(np.abs(x).max())
    assert sample_peak_db == pytest.approx(-3.01, abs=0.01)
    assert true_peak_dbtp(x, RATE) == pytest.approx(0.0, abs=0.1)


def test_true_peak_is_the_same_in_chunks_as_whole():
    x = noise(6.0, 0.1, seed=4)  # longer than one oversampling chunk
    x[262_144] = 0.9  # on a chunk boundary
    assert true_peak_dbtp(x, RATE) >= 20 * math.log10(x[262_144])
    whole = np.abs(resample(x, RATE, 4 * RATE)).max()
    assert true_peak_dbtp(x, RATE) == pytest.approx(20 * math.log10(max(whole, 0.9)), abs=1e-4)


def test_short_audio_is_peak_normalised():
    x = noise(0.3, 0.05)
    out, result = normalise_loudness(x, RATE)
    assert result.method == "peak" and result.lufs_before is None and result.lufs_after is None
    assert result.true_peak_dbtp == pytest.approx(-1.0, abs=1e-4)
    assert true_peak_dbtp(out, RATE) == pytest.approx(-1.0, abs=1e-4)


def test_audio_below_the_absolute_gate_is_peak_normalised():
    x = noise(1.0, 1e-5)  # about -95 LUFS: every block gated out
    assert integrated_lufs(x, RATE) is None
    out, result = normalise_loudness(x, RATE)
    assert result.method == "peak" and result.lufs_before is None
    assert result.true_peak_dbtp == pytest.approx(-1.0, abs=1e-4)


def test_all_zero_audio_stays_zero():
    out, result = normalise_loudness(np.zeros(RATE, np.float32), RATE)
    assert not out.any() and out.dtype == np.float32
    assert result == LoudnessResult("silent", None, None, 0.0, None)
    out, result = normalise_loudness(np.zeros(0, np.float32), RATE)
    assert out.shape == (0,) and result.method == "silent"


@pytest.mark.parametrize(
    "audio, rate, kwargs",
    [
        (np.zeros((2, RATE), np.float32), RATE, {}),
        (np.array([0.1, np.nan], np.float32), RATE, {}),
        (np.zeros(10, np.int32), RATE, {}),
        (np.zeros(10, np.float32), 0, {}),
        (np.zeros(10, np.float32), RATE, {"target_lufs": math.inf}),
    ],
)
def test_bad_arguments_are_refused(audio, rate, kwargs):
    with pytest.raises(ValueError):
        normalise_loudness(audio, rate, **kwargs)

"""media.resample: band-limited, aligned, exact-length and bit-identical rate conversion."""

from __future__ import annotations

import numpy as np
import pytest

from media.resample import resample, resampled_length


def tone(freq: float, rate: int, seconds: float = 0.5, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def level_db(x: np.ndarray) -> float:
    inner = x[len(x) // 8 : -len(x) // 8]  # away from the zero-padded edges
    return 20 * np.log10(np.sqrt(np.mean(inner.astype(np.float64) ** 2)) + 1e-20)


@pytest.mark.parametrize("src, dst", [(16000, 48000), (48000, 16000), (44100, 48000), (24000, 16000)])
def test_a_tone_in_the_passband_comes_out_as_the_same_tone(src, dst):
    x = tone(1000.0, src)
    y = resample(x, src, dst)
    assert y.dtype == np.float32 and y.shape == (resampled_length(x.size, src, dst),)
    expected = tone(1000.0, dst)[: y.size]
    inner = slice(y.size // 8, -y.size // 8)
    assert np.abs(y[inner] - expected[inner]).max() < 1e-3


def test_downsampling_keeps_the_passband_and_removes_what_would_alias():
    kept = resample(tone(6000.0, 48000), 48000, 16000)
    assert abs(level_db(kept) - level_db(tone(6000.0, 16000))) < 0.1
    aliased = resample(tone(10000.0, 48000), 48000, 16000)  # would fold to 6 kHz
    assert level_db(aliased) - level_db(tone(10000.0, 48000)) < -80


def test_an_impulse_stays_at_the_same_instant():
    x = np.zeros(1600, np.float32)
    x[400] = 1.0
    y = resample(x, 16000, 48000)
    assert int(np.argmax(y)) == 1200
    np.testing.assert_allclose(y[1200], 1.0, atol=0.06)  # the interpolator passes through the sample
    z = resample(y, 48000, 16000)
    assert int(np.argmax(z)) == 400


def test_length_trims_or_pads_and_default_rounds_half_up():
    x = tone(440.0, 16000, seconds=0.1)
    assert resample(x, 16000, 48000, length=100).shape == (100,)
    padded = resample(x, 16000, 48000, length=10_000)
    assert padded.shape == (10_000,) and not padded[4900:].any()
    assert resampled_length(3, 48000, 16000) == 1
    assert resampled_length(3, 2, 1) == 2  # 1.5 -> 2
    assert resample(np.zeros(3, np.float32), 2, 1).shape == (2,)
    assert resample(np.zeros(0, np.float32), 16000, 48000).shape == (0,)
    assert resample(np.zeros(0, np.float32), 16000, 48000, length=5).tolist() == [0.0] * 5


def test_repeated_calls_are_bit_identical():
    x = np.random.default_rng(3).standard_normal(12_345).astype(np.float32)
    a = resample(x, 44100, 48000)
    b = resample(x.copy(), 44100, 48000)
    assert a.tobytes() == b.tobytes()


def test_equal_rates_give_a_float32_copy():
    x = np.arange(5, dtype=np.float64)
    y = resample(x, 48000, 48000)
    assert y.dtype == np.float32 and y.tolist() == [0, 1, 2, 3, 4]
    y[0] = 9
    assert x[0] == 0


@pytest.mark.parametrize(
    "audio, src, dst, length",
    [
        (np.zeros((2, 10), np.float32), 16000, 48000, None),
        (np.zeros(10, np.int16), 16000, 48000, None),
        (np.zeros(10, np.float32), 0, 48000, None),
        (np.zeros(10, np.float32), 16000, 48000.0, None),
        (np.zeros(10, np.float32), 16000, 48000, -1),
    ],
)
def test_bad_arguments_are_refused(audio, src, dst, length):
    with pytest.raises(ValueError):
        resample(audio, src, dst, length=length)

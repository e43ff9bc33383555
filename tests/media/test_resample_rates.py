"""media.resample over many rate pairs: exact lengths, tones kept sample for sample, ratios refused.

These were the tests of the torch resampler that model/codec.py had, which media.resample replaced.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from media.resample import resample, resampled_length
from tests.media.test_resample import tone


@pytest.mark.parametrize(
    "samples, src, dst",
    [
        (16000, 16000, 48000),
        (64001, 16000, 48000),
        (48001, 48000, 16000),
        (48002, 48000, 16000),
        (44100, 44100, 48000),
        (1234, 24000, 48000),
        (5, 32000, 16000),
        (1, 48000, 16000),
    ],
)
def test_resampled_length_is_round_half_up_exactly(samples: int, src: int, dst: int) -> None:
    expected = math.floor(Fraction(samples * dst, src) + Fraction(1, 2))
    assert resampled_length(samples, src, dst) == expected
    assert resample(np.zeros(samples, np.float32), src, dst).shape == (expected,)


@pytest.mark.parametrize("src, dst", [(16000, 48000), (24000, 48000), (48000, 16000), (16000, 44100)])
def test_a_tone_keeps_every_sample_and_its_frequency(src: int, dst: int) -> None:
    freq = 1000.0
    y = resample(tone(freq, src), src, dst)
    reference = tone(freq, dst)
    assert y.shape == reference.shape
    edge = dst // 100  # the signal is zero outside its samples, so the first and last 10 ms differ
    # a one-sample misalignment at 48 kHz would be ~0.06
    np.testing.assert_allclose(y[edge:-edge], reference[edge:-edge], rtol=0, atol=1e-4)
    spectrum = np.abs(np.fft.rfft(y.astype(np.float64)))
    assert float(spectrum.argmax()) * dst / y.size == pytest.approx(freq, abs=dst / y.size)


def test_rates_whose_filter_would_be_too_long_are_refused() -> None:
    with pytest.raises(ValueError, match=r"the rate ratio 44101/96000 needs a \d+-tap filter, too long"):
        resample(np.zeros(10, np.float32), 96000, 44101)

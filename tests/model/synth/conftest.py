"""Small, fast foley-world films shared by the synth tests (2-3 short shots, 128x96)."""

from __future__ import annotations

import numpy as np
import pytest

from model.synth import SynthConfig, make_film

# short films keep the suite fast; every probability high so that few seeds cover the cases
SMALL = SynthConfig(min_shots=2, max_shots=3, shot_seconds=(1.0, 2.0), cadence_prob=0.5, fade_prob=0.5)


@pytest.fixture(scope="session")
def small_config() -> SynthConfig:
    return SMALL


@pytest.fixture(scope="session")
def clean_films():
    """Undamaged films over a spread of seeds."""
    cfg = SynthConfig(
        min_shots=2, max_shots=3, shot_seconds=(1.0, 2.0), cadence_prob=0.5, fade_prob=0.5, damage=0.0
    )
    return [make_film(s, cfg) for s in range(12)]


BANDS_HZ = ((0, 500), (500, 2000), (2000, 8000), (8000, 24000))


def onset_ratio(audio: np.ndarray, sample: int, window: int = 480) -> float:
    """How sharply the sound rises at ``sample``: the largest ratio, over four frequency bands,
    of the band's energy in the 10 ms after ``sample`` to its energy in the 10 ms before."""
    x = audio.astype(np.float64)
    pre = x[max(0, sample - window) : sample]
    post = x[sample : sample + window]
    if pre.size < window or post.size < window:
        pre = np.pad(pre, (window - pre.size, 0))
        post = np.pad(post, (0, window - post.size))
    f = np.fft.rfftfreq(window, 1 / 48000)
    e_pre, e_post = (
        np.abs(np.fft.rfft(pre * np.hanning(window))) ** 2,
        np.abs(np.fft.rfft(post * np.hanning(window))) ** 2,
    )
    ratios = []
    for lo, hi in BANDS_HZ:
        m = (f >= lo) & (f < hi)
        ratios.append(np.sqrt((e_post[m].sum() + 1e-14) / (e_pre[m].sum() + 1e-14 + 1e-6 * e_post.sum())))
    return float(max(ratios))

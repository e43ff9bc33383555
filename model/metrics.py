"""Weight-free audio measures: onset detection and onset F1 against known event times.

Onsets. A band-energy rise detector (in the spirit of Klapuri 1999, "Sound onset detection by
applying psychoacoustic knowledge"): energies in ``BANDS`` equal-width bands of a ``WINDOW_S``
Hann STFT every ``HOP_S`` seconds, in dB; a frame's rise is, per band, how far its level exceeds
the loudest level of the ``BACK_S`` before it (excluding the last two frames, which share the
attack), averaged over bands. Onsets are rises above ``THRESHOLD_DB`` that are the largest within
+-``PEAK_S``, at least ``MIN_GAP_S`` apart, in frames within ``FLOOR_DB`` of the clip's loudest
frame. Comparing against the recent *maximum* rather than a mean keeps a footstep's softer toe
(40-70 ms after the heel) and the rain's dense little ticks from counting, while a quiet last
bounce still rises out of its bands. Calibrated on the foley world's ground-truth audio (4 s
single-shot clips at 16 kHz): onset F1 at +-50 ms 0.98 on impacts and 0.96 on footsteps; on
mixes with rain, fire or an engine the truth itself scores lower (rain ticks and fire crackles
are transients the event list does not hold), which is why ``bench/quality.py`` reports mixes
apart. The median lag to true attacks was under 2 ms, so times are not shifted.

Onset F1. Detected and true onsets are matched one to one, closest pairs first, within a
tolerance; F1 = 2 TP / (2 TP + FP + FN). Extra transients are false positives, so a model that
sounds an impact on every frame is penalised. Counts add across clips (micro-averaging).

numpy only: the benchmark, the tests and the restore job's checks share it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

HOP_S = 0.005  # frame step
WINDOW_S = 0.016  # analysis window
BANDS = 8
BACK_S = 0.08  # a rise is measured against the loudest level this far back
THRESHOLD_DB = 6.0
PEAK_S = 0.03
MIN_GAP_S = 0.05
FLOOR_DB = 40.0


def band_levels(audio: np.ndarray, rate: int) -> np.ndarray:
    """(samples,) audio -> (frames, BANDS) band energies in dB; frame k is centred on sample k * hop."""
    audio = np.asarray(audio, dtype=np.float64).reshape(-1)
    hop = max(1, round(HOP_S * rate))
    n = max(2 * hop, round(WINDOW_S * rate))
    frames = 1 + len(audio) // hop
    padded = np.pad(audio, (n // 2, n // 2 + hop))
    index = np.arange(n)[None, :] + hop * np.arange(frames)[:, None]
    power = np.abs(np.fft.rfft(padded[index] * np.hanning(n), axis=1)) ** 2  # (frames, bins)
    edges = np.linspace(0, power.shape[1], BANDS + 1).astype(int)
    energy = np.add.reduceat(power, edges[:-1], axis=1)  # (frames, BANDS)
    return 10.0 * np.log10(energy + 1e-10)


def onset_rise(audio: np.ndarray, rate: int) -> tuple[np.ndarray, float]:
    """(rise in dB (frames,), frames per second): see the module docstring."""
    levels = band_levels(audio, rate)
    frames, frame_rate = levels.shape[0], 1.0 / HOP_S
    back = max(3, round(BACK_S / HOP_S))
    # reference[k] = max(levels[k - back : k - 2]); frames with no history get no rise
    history = np.pad(levels, ((back, 0), (0, 0)), constant_values=np.inf)
    windows = np.lib.stride_tricks.sliding_window_view(
        history, back - 2, axis=0
    )  # (frames + 3, BANDS, back - 2)
    reference = windows[:frames].max(axis=-1)
    reference[:back] = np.inf
    rise = np.clip(levels - reference, 0.0, None).mean(axis=1)
    loudness = levels.max(axis=1)
    rise[loudness < loudness.max() - FLOOR_DB] = 0.0
    return rise, frame_rate


def detect_onsets(audio: np.ndarray, rate: int) -> np.ndarray:
    """Onset times in seconds (sorted) of ``audio`` at ``rate`` Hz; see the module docstring."""
    rise, frame_rate = onset_rise(audio, rate)
    if rise.size == 0:
        return np.zeros(0)
    peak = max(1, round(PEAK_S * frame_rate))
    local_max = np.lib.stride_tricks.sliding_window_view(
        np.pad(rise, peak, constant_values=-np.inf), 2 * peak + 1
    ).max(axis=1)
    onsets: list[float] = []
    for k in np.flatnonzero((rise >= local_max) & (rise > THRESHOLD_DB)):
        t = k / frame_rate
        if not onsets or t - onsets[-1] >= MIN_GAP_S:
            onsets.append(t)
    return np.asarray(onsets, dtype=float)


@dataclass(frozen=True)
class OnsetCounts:
    """True positives, false positives and false negatives of one or more clips."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    def __add__(self, other: OnsetCounts) -> OnsetCounts:
        return OnsetCounts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    @property
    def f1(self) -> float:
        """2 TP / (2 TP + FP + FN); 1.0 when there was nothing to find and nothing was found."""
        denominator = 2 * self.tp + self.fp + self.fn
        return 1.0 if denominator == 0 else 2 * self.tp / denominator

    @property
    def precision(self) -> float:
        return 1.0 if self.tp + self.fp == 0 else self.tp / (self.tp + self.fp)

    @property
    def recall(self) -> float:
        return 1.0 if self.tp + self.fn == 0 else self.tp / (self.tp + self.fn)


def match_onsets(
    detected: Sequence[float] | npt.NDArray[np.float64],
    truth: Sequence[float] | npt.NDArray[np.float64],
    tolerance_s: float,
) -> OnsetCounts:
    """One-to-one matching, closest pairs first, of onsets within ``tolerance_s`` seconds."""
    detected, truth = np.asarray(detected, dtype=float), np.asarray(truth, dtype=float)
    if detected.size == 0 or truth.size == 0:
        return OnsetCounts(0, int(detected.size), int(truth.size))
    distance = np.abs(detected[:, None] - truth[None, :])
    pairs = np.argwhere(distance <= tolerance_s)
    order = np.argsort(distance[pairs[:, 0], pairs[:, 1]], kind="stable")
    used_d, used_t = set(), set()
    for i, j in pairs[order]:
        if i not in used_d and j not in used_t:
            used_d.add(int(i))
            used_t.add(int(j))
    tp = len(used_d)
    return OnsetCounts(tp, int(detected.size) - tp, int(truth.size) - tp)


def onset_f1(
    pairs: Iterable[tuple[np.ndarray, Sequence[float]]], rate: int, tolerance_s: float
) -> OnsetCounts:
    """Summed counts over (audio, true onset times) clips."""
    total = OnsetCounts()
    for audio, truth in pairs:
        total = total + match_onsets(detect_onsets(audio, rate), truth, tolerance_s)
    return total

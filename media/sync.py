"""A weight-free measure of how well a sound track lands on the picture, for ranking takes of a scene.

Two lists of onset times (seconds from the scene's first frame) are compared:

* motion onsets, from (T, H, W) uint8 gray frames: each frame standardised to zero mean and unit
  spread (media/cut_features.py, so flicker in brightness and in contrast cancels), then the
  mean |difference| to the previous distinct picture, divided by the frames between them (a
  repeated frame, found by media/cadence.py, is skipped instead of being read as a pause).
  Novelty is that energy minus its median over +-NOVELTY_HALF_S around each frame, floored at 0;
  an onset is a novelty peak of at least PEAK_FRACTION of the scene's largest and at least
  MOTION_FLOOR (in units of the picture's spread), at the time of its frame (index / fps).
* audio onsets: the track scaled to unit RMS, a Hann STFT (about STFT_S long, hop HOP_S),
  spectral flux = mean over bins of the positive rise in log(magnitude + LOG_FLOOR) from one
  frame to the next; the same novelty and peak rule (peaks at least MIN_GAP_S apart, at least
  AUDIO_FLOOR). A rise is dated to the newest quarter of the later STFT frame, where a sound
  that has just begun sits when its rise is largest.

The score is the cosine similarity of the two onset lists drawn as sums of Gaussians of width
SIGMA_S, which in closed form is

    S = sum_ij g(v_i - a_j) / sqrt(sum_ii' g(v_i - v_i') * sum_jj' g(a_j - a_j')),
    g(d) = exp(-d^2 / (4 SIGMA_S^2)),

in [0, 1]. For well-separated onsets it is (onsets matched) / sqrt(#motion * #audio): the
geometric mean of precision and recall, softened so that a sound one frame (42 ms at 24 fps)
off still counts about 0.8 and one 150 ms off counts nothing. Missed motion onsets and spurious
sounds both lower it; a scene with no motion onset or a take with no audio onset scores 0.
Higher is better sync. Everything is numpy and scipy, deterministic for equal inputs.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.ndimage import median_filter
from scipy.signal import find_peaks

from media.cadence import duplicate_mask
from media.cut_features import standardise

SIGMA_S = 0.05  # timing tolerance of a match
NOVELTY_HALF_S = 0.25  # local-median half-window that novelty is measured against
PEAK_FRACTION = 0.2  # onsets are novelty peaks of at least this fraction of the largest
MIN_GAP_S = 0.05  # audio onsets closer than this are one onset
MOTION_FLOOR = 0.01  # mean change in standardised frames below which nothing moved
AUDIO_FLOOR = 0.05  # mean rise in natural-log magnitude, on unit-RMS audio
STFT_S = 0.032
HOP_S = 0.01
LOG_FLOOR = 1e-4  # magnitude floor (-80 dB re unit RMS) below which changes do not count


def motion_onsets(frames: np.ndarray, fps: float) -> np.ndarray:
    """(onsets,) seconds of the motion onsets of (T, H, W) uint8 gray frames shown at ``fps``."""
    x = np.asarray(frames)
    if x.ndim != 3 or x.dtype != np.uint8:
        raise ValueError(f"frames have shape {x.shape} and dtype {x.dtype}: need (T, H, W) uint8 gray frames")
    if not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps={fps!r}: need a positive frame rate")
    count = x.shape[0]
    if count < 2:
        return np.zeros(0)
    flat = x.reshape(count, -1).astype(np.float32)
    raw = np.r_[0.0, np.abs(np.diff(flat, axis=0)).mean(axis=1)]
    repeated = duplicate_mask(raw)
    normalised = np.stack([standardise(frame) for frame in x]).reshape(count, -1)
    energy = np.zeros(count)
    previous = 0
    for t in range(1, count):
        if repeated[t]:
            continue
        energy[t] = float(np.abs(normalised[t] - normalised[previous]).mean()) / (t - previous)
        previous = t
    # A repeated frame carries no new picture: it takes its neighbours' level, not a dip to 0.
    kept = np.flatnonzero(~repeated)
    energy[repeated] = np.interp(np.flatnonzero(repeated), kept, energy[kept]) if kept.size else 0.0
    peaks = _peaks(energy, half=round(NOVELTY_HALF_S * fps), gap=1, floor=MOTION_FLOOR)
    return peaks / float(fps)


def audio_onsets(audio: np.ndarray, rate: int) -> np.ndarray:
    """(onsets,) seconds of the audio onsets (spectral-flux peaks) of mono ``audio`` at ``rate``."""
    y = np.asarray(audio)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.floating):
        raise ValueError(f"audio has shape {y.shape} and dtype {y.dtype}: need mono (samples,) floats")
    if isinstance(rate, bool) or not isinstance(rate, (int, np.integer)) or rate <= 0:
        raise ValueError(f"rate={rate!r}: need a positive whole number of hertz")
    if y.size and not np.isfinite(y).all():
        raise ValueError("audio holds NaN or infinite samples")
    n = 1 << max(4, round(math.log2(STFT_S * rate)))
    hop = max(1, round(HOP_S * rate))
    rms = float(np.sqrt(np.mean(np.square(y, dtype=np.float64)))) if y.size else 0.0
    if y.shape[0] < n + hop or rms == 0.0:
        return np.zeros(0)
    frames = np.lib.stride_tricks.sliding_window_view(y.astype(np.float64) / rms, n)[::hop]
    window = np.hanning(n)
    magnitude = np.abs(np.fft.rfft(frames * window, axis=1)) / window.sum()
    log_mag = np.log(magnitude + LOG_FLOOR)
    flux = np.r_[0.0, np.maximum(np.diff(log_mag, axis=0), 0.0).mean(axis=1)]
    peaks = _peaks(
        flux, half=round(NOVELTY_HALF_S / HOP_S), gap=max(1, round(MIN_GAP_S / HOP_S)), floor=AUDIO_FLOOR
    )
    return (peaks * hop + 0.75 * n) / rate


def onset_agreement(first: np.ndarray, second: np.ndarray, sigma: float = SIGMA_S) -> float:
    """Cosine similarity of two onset lists (seconds) drawn as Gaussians of width ``sigma``; 0 if either
    is empty."""
    a, b = np.asarray(first, np.float64), np.asarray(second, np.float64)
    if a.size == 0 or b.size == 0:
        return 0.0

    def overlap(p: np.ndarray, q: np.ndarray) -> float:
        return float(np.exp(-np.square(p[:, None] - q[None, :]) / (4 * sigma * sigma)).sum())

    return overlap(a, b) / math.sqrt(overlap(a, a) * overlap(b, b))


def sync_score(frames: np.ndarray, fps: float, audio: np.ndarray, rate: int) -> float:
    """How well ``audio``'s onsets land on the motion onsets of ``frames``: 0 (none) to 1 (all, only them).

    ``frames`` are (T, H, W) uint8 gray frames at ``fps``; ``audio`` is mono at ``rate`` starting
    with the first frame. See the module docstring for exactly what is computed.
    """
    return onset_agreement(motion_onsets(frames, fps), audio_onsets(audio, rate))


def _peaks(series: np.ndarray, *, half: int, gap: int, floor: float) -> np.ndarray:
    """Indices of novelty peaks: ``series`` minus its running median over +-``half`` samples."""
    novelty = np.maximum(series - median_filter(series, size=2 * max(1, half) + 1, mode="nearest"), 0.0)
    top = float(novelty.max()) if novelty.size else 0.0
    if top < floor:
        return np.zeros(0, np.int64)
    peaks: np.ndarray
    peaks, _ = find_peaks(novelty, height=max(floor, PEAK_FRACTION * top), distance=gap)
    return peaks

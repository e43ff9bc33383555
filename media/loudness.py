"""Loudness normalisation of a film track: ITU-R BS.1770 integrated loudness under a true-peak ceiling.

Loudness is pyloudnorm's BS.1770-4 meter (K-weighting, 400 ms blocks with 75% overlap, absolute
gate -70 LUFS, relative gate -10 LU), in LUFS. True peak is the largest magnitude of the signal
4x oversampled by media/resample.py's band-limited interpolator (BS.1770-4 Annex 2), in dBTP
(dB relative to full scale, 1.0). One gain is applied to the whole track, so the mix inside it
is untouched:

* ``bs1770``: gain = target - measured loudness, lowered where it would lift the true peak
  above the ceiling (``peak_limited`` then says so and the track ends quieter than the target).
* ``peak``: audio too short for one gating block (under 0.4 s) or with no block above the
  absolute gate (loudness -inf) is scaled so its true peak sits at the ceiling.
* ``silent``: all-zero audio stays zero.

The meter holds a float64 copy of the track (pyloudnorm filters it whole); the true peak is
found in chunks, so oversampling never holds more than a chunk.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyloudnorm
from scipy.signal import resample_poly

from media.resample import ROLLOFF, ZERO_CROSSINGS, lowpass_taps

GATE_BLOCK_S = 0.4  # BS.1770's gating block: shorter audio has no integrated loudness
OVERSAMPLE = 4
_PEAK_CHUNK = 1 << 18  # input samples oversampled at a time
_PEAK_MARGIN = math.ceil(ZERO_CROSSINGS / ROLLOFF) + 2  # filter reach in input samples, each side


@dataclass(frozen=True)
class LoudnessResult:
    """What ``normalise_loudness`` measured and did (loudness in LUFS, gain in dB, peak in dBTP)."""

    method: str  # "bs1770" | "peak" | "silent"
    lufs_before: float | None  # None where BS.1770 gives no value (too short, or all gated out)
    lufs_after: float | None
    gain_db: float  # applied to every sample
    true_peak_dbtp: float | None  # of the output; None for silent audio
    peak_limited: bool = False  # the gain was lowered to keep the true peak under the ceiling


def true_peak_dbtp(audio: np.ndarray, rate: int) -> float:
    """20·log10 of the largest |sample| of ``audio`` 4x oversampled; -inf for silence.

    ``rate`` is accepted for the record: the interpolator depends only on the 4x ratio.
    """
    x = _mono_float(audio)
    _check_rate(rate)
    peak = float(np.abs(x).max()) if x.size else 0.0  # the original samples are among the 4x ones
    for lo in range(0, x.shape[0], _PEAK_CHUNK):
        hi = min(lo + _PEAK_CHUNK, x.shape[0])
        a, b = max(0, lo - _PEAK_MARGIN), min(x.shape[0], hi + _PEAK_MARGIN)
        up = resample_poly(x[a:b].astype(np.float64), OVERSAMPLE, 1, window=lowpass_taps(OVERSAMPLE, 1))
        inner = up[(lo - a) * OVERSAMPLE : (hi - a) * OVERSAMPLE]
        peak = max(peak, float(np.abs(inner).max()))
    return 20 * math.log10(peak) if peak > 0 else -math.inf


def integrated_lufs(audio: np.ndarray, rate: int) -> float | None:
    """BS.1770 integrated loudness in LUFS; None for audio under 0.4 s or with every block gated out."""
    x = _mono_float(audio)
    _check_rate(rate)
    if x.shape[0] < GATE_BLOCK_S * rate:
        return None
    lufs = float(pyloudnorm.Meter(rate).integrated_loudness(x.astype(np.float64)))
    return lufs if math.isfinite(lufs) else None


def normalise_loudness(
    audio: np.ndarray, rate: int, *, target_lufs: float = -23.0, max_true_peak_dbtp: float = -1.0
) -> tuple[np.ndarray, LoudnessResult]:
    """(samples,) mono -> the same samples times one gain, float32, and what was done (module docstring)."""
    x = _mono_float(audio)
    _check_rate(rate)
    for name, value in (("target_lufs", target_lufs), ("max_true_peak_dbtp", max_true_peak_dbtp)):
        if not (isinstance(value, (int, float)) and math.isfinite(value)):
            raise ValueError(f"{name}={value!r}: need a finite number of dB")
    if not x.any():
        return np.zeros(x.shape, np.float32), LoudnessResult("silent", None, None, 0.0, None)

    peak_before = true_peak_dbtp(x, rate)
    lufs_before = integrated_lufs(x, rate)
    limited = False
    if lufs_before is None:
        method, gain_db = "peak", max_true_peak_dbtp - peak_before
    else:
        method, gain_db = "bs1770", target_lufs - lufs_before
        if peak_before + gain_db > max_true_peak_dbtp:
            gain_db, limited = max_true_peak_dbtp - peak_before, True
    out = (x.astype(np.float64) * 10 ** (gain_db / 20)).astype(np.float32)
    result = LoudnessResult(
        method=method,
        lufs_before=lufs_before,
        lufs_after=integrated_lufs(out, rate),
        gain_db=float(gain_db),
        true_peak_dbtp=true_peak_dbtp(out, rate),
        peak_limited=limited,
    )
    return out, result


def _mono_float(audio: np.ndarray) -> np.ndarray:
    x = np.asarray(audio)
    if x.ndim != 1:
        raise ValueError(f"audio has shape {x.shape}: need mono (samples,)")
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"audio has dtype {x.dtype}: need floating-point samples")
    if x.size and not np.isfinite(x).all():
        raise ValueError("audio holds NaN or infinite samples")
    return x


def _check_rate(rate: int) -> None:
    if isinstance(rate, bool) or not isinstance(rate, (int, np.integer)) or rate <= 0:
        raise ValueError(f"rate={rate!r}: need a positive whole number of hertz")

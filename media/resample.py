"""Band-limited sample-rate conversion of mono audio: the project's one resampler, without torch.

The ratio dst/src is reduced to up/down by the gcd and the signal is filtered by a polyphase
FIR bank (scipy.signal.resample_poly, i.e. upfirdn): a Kaiser-windowed sinc low-pass at
ROLLOFF times the lower Nyquist frequency, reaching ZERO_CROSSINGS zeros of the sinc on each
side, with Kaiser beta KAISER_BETA (stopband about -90 dB). Output sample n is the interpolated
signal at input time n * src / dst, so input and output start together; the signal is taken as
zero outside its samples. The filter is designed in float64 from the two rates alone and the
arithmetic is a fixed sequence of float64 operations, so equal inputs give bit-identical output.

Users: the restore job's stems (model rate -> 48 kHz, transforms/generate.py), true-peak
oversampling (media/loudness.py), and the ground truth of bench/quality.py (48 kHz film audio
-> model rate). The model once had a second, torch polyphase resampler of the same design
(Kaiser beta 8), used only by that benchmark and by tests, which need a good band-limited
resampler rather than torch tensors; it was removed so that there is one filter and one
``resampled_length``. Its output differed from this one's by under 1e-4 of full scale. media/
imports no Beam and, at module level, no torch (media/transnet.py imports it inside a function).
"""

from __future__ import annotations

import functools

import numpy as np
from scipy.signal import firwin, resample_poly

ZERO_CROSSINGS = 32
ROLLOFF = 0.95
KAISER_BETA = 9.0
_MAX_TAPS = 1 << 22  # a ratio of two coprime rates near 1e5 would need a filter this long


def resampled_length(samples: int, src_rate: int, dst_rate: int) -> int:
    """round(samples * dst_rate / src_rate), halves rounded up, in exact integer arithmetic."""
    return (2 * samples * dst_rate + src_rate) // (2 * src_rate)


@functools.lru_cache(maxsize=16)
def lowpass_taps(up: int, down: int) -> np.ndarray:
    """(taps,) float64 low-pass for the up-sampled rate, unit gain at DC, odd length, symmetric."""
    factor = max(up, down)
    half = int(np.ceil(ZERO_CROSSINGS * factor / ROLLOFF))  # sinc zeros are factor/ROLLOFF apart
    if 2 * half + 1 > _MAX_TAPS:
        raise ValueError(
            f"the rate ratio {up}/{down} needs a {2 * half + 1}-tap filter, too long; use rates with a "
            "larger common divisor (e.g. 8000, 16000, 22050, 24000, 32000, 44100, 48000 Hz)"
        )
    taps: np.ndarray = firwin(2 * half + 1, ROLLOFF / factor, window=("kaiser", KAISER_BETA))
    taps.setflags(write=False)
    return taps


def _check_rate(name: str, rate: int) -> None:
    if isinstance(rate, bool) or not isinstance(rate, (int, np.integer)) or rate <= 0:
        raise ValueError(f"{name}={rate!r}: need a positive whole number of hertz")


def resample(audio: np.ndarray, src_rate: int, dst_rate: int, *, length: int | None = None) -> np.ndarray:
    """(samples,) mono at ``src_rate`` -> (n,) float32 at ``dst_rate``.

    n is ``length`` when given (the result trimmed or zero-padded at the end), otherwise
    ``resampled_length(samples, src_rate, dst_rate)``. Equal rates return a float32 copy.
    """
    _check_rate("src_rate", src_rate)
    _check_rate("dst_rate", dst_rate)
    x = np.asarray(audio)
    if x.ndim != 1:
        raise ValueError(f"audio has shape {x.shape}: need mono (samples,)")
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"audio has dtype {x.dtype}: need floating-point samples")
    if length is not None and (
        isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 0
    ):
        raise ValueError(f"length={length!r}: need a sample count >= 0, or None")
    n = resampled_length(x.shape[0], src_rate, dst_rate) if length is None else int(length)
    g = np.gcd(int(src_rate), int(dst_rate))
    up, down = int(dst_rate) // g, int(src_rate) // g
    if x.shape[0] == 0:
        y = np.zeros(0, np.float64)
    elif up == down:
        y = x
    else:
        y = resample_poly(x.astype(np.float64), up, down, window=lowpass_taps(up, down))
    out = np.zeros(n, np.float32)
    keep = min(n, y.shape[0])
    out[:keep] = y[:keep]
    return out

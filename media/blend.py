"""Joining a scene's overlapping model windows into one seamless signal.

A scene longer than the model's window is generated as windows of ``L`` samples (model rate)
starting every ``stride`` samples, so neighbours share ``L - stride`` samples. Here they are laid
back on the scene's sample clock and each shared span is crossfaded.

The crossfade is amplitude-complementary: the incoming window's weight rises along a raised
cosine, r(k) = (1 - cos(pi * (k + 1/2) / n)) / 2 for k = 0 .. n-1, and the outgoing window's is
1 - r(k). Both windows were generated from the same frames and prompts, so in the shared span
they are strongly correlated (ideally the same sound); weights that sum to one keep such a
signal at its level, whereas equal-power weights (sin/cos, squares summing to one) lift a
coherent signal by up to 3 dB in the middle of every overlap, a periodic swell that is audible.
The raised cosine has zero slope at both ends, so the gain changes without a corner that would
spread energy across the spectrum (a click). Uncorrelated content dips by at most 3 dB at the
centre of an overlap, gradually, over the whole overlap.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def raised_cosine(n: int) -> np.ndarray:
    """(n,) float64 fade-in weights rising from near 0 to near 1; ``1 - raised_cosine(n)`` fades out.

    Sampled at the centres of the n samples, so the curve is symmetric: r(k) + r(n-1-k) = 1.
    """
    if n < 0:
        raise ValueError(f"n={n}: need a sample count >= 0")
    return 0.5 - 0.5 * np.cos(np.pi * (np.arange(n, dtype=np.float64) + 0.5) / n)


def window_starts(total: int, window: int, stride: int) -> list[int]:
    """Start samples of the model windows that cover ``total`` samples: 0, stride, 2*stride, ...

    The last window is the first whose end reaches ``total``; it may run past the end (the caller
    pads its input and ``blend_windows`` drops the excess). ``total == 0`` needs no window.
    """
    for name, value in (("total", total), ("window", window), ("stride", stride)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"{name}={value!r}: need a whole number of samples")
    if total < 0:
        raise ValueError(f"total={total}: need a sample count >= 0")
    if window <= 0:
        raise ValueError(f"window={window}: need a window of at least one sample")
    if not window <= 2 * stride <= 2 * window:
        raise ValueError(
            f"stride={stride}: need window/2 <= stride <= window (window={window}), so that windows "
            "leave no gap and at most two overlap"
        )
    if total == 0:
        return []
    count = 1 + max(0, -(-(total - window) // stride))  # ceil((total - window) / stride) more
    return [int(i * stride) for i in range(count)]


def blend_windows(
    windows: Sequence[np.ndarray], starts: Sequence[int], total: int, overlap: int
) -> np.ndarray:
    """(total,) float32: the windows laid at ``starts`` with each shared span crossfaded.

    ``windows`` are (L,) float32 mono arrays of one length L; ``starts`` are their sample offsets,
    increasing, the first 0, each window overlapping the next by at most ``overlap`` samples
    (never leaving a gap, and never reaching the window after next), and together covering
    ``total`` samples. Neighbours are crossfaded across their whole shared span (module
    docstring); outside it each sample comes from one window unchanged. Samples past ``total``
    are dropped.
    """
    if isinstance(total, bool) or not isinstance(total, (int, np.integer)) or total < 0:
        raise ValueError(f"total={total!r}: need a sample count >= 0")
    if isinstance(overlap, bool) or not isinstance(overlap, (int, np.integer)) or overlap < 0:
        raise ValueError(f"overlap={overlap!r}: need a sample count >= 0")
    if len(windows) != len(starts):
        raise ValueError(f"{len(windows)} windows but {len(starts)} starts: need one start per window")
    if not windows:
        if total:
            raise ValueError(f"no windows to cover total={total} samples")
        return np.zeros(0, np.float32)
    arrays = [np.asarray(w) for w in windows]
    length = arrays[0].shape
    for i, w in enumerate(arrays):
        if w.ndim != 1 or w.shape != length:
            raise ValueError(f"window {i} has shape {w.shape}: need mono windows of one shape {length}")
    L = length[0]
    starts = [int(s) for s in starts]
    if starts[0] != 0:
        raise ValueError(f"starts[0]={starts[0]}: the first window must start at sample 0")
    if starts[-1] + L < total:
        raise ValueError(f"the windows end at sample {starts[-1] + L}, before total={total}")
    for i in range(len(starts) - 1):
        shared = starts[i] + L - starts[i + 1]
        if starts[i + 1] <= starts[i]:
            raise ValueError(f"starts[{i + 1}]={starts[i + 1]} is not after starts[{i}]={starts[i]}")
        if shared < 0:
            raise ValueError(f"gap of {-shared} samples between window {i} and window {i + 1}")
        if shared > overlap:
            raise ValueError(f"windows {i} and {i + 1} share {shared} samples, more than overlap={overlap}")
        if i + 2 < len(starts) and starts[i + 2] < starts[i] + L:
            raise ValueError(f"window {i + 2} starts inside window {i}: at most two windows may overlap")

    out = np.zeros(total, np.float32)
    for i, (start, w) in enumerate(zip(starts, arrays)):
        if start >= total:
            break
        # Window i owns [own_lo, own_hi): after its predecessor's span, up to its successor's.
        own_lo = starts[i - 1] + L if i > 0 else start
        own_hi = starts[i + 1] if i + 1 < len(starts) else start + L
        lo, hi = min(own_lo, total), min(own_hi, total)
        out[lo:hi] = w[lo - start : hi - start]
        if i + 1 < len(starts):
            a, b = starts[i + 1], start + L  # shared with window i+1
            nxt = arrays[i + 1]
            ramp = raised_cosine(b - a)
            outgoing = w[a - start :].astype(np.float64)
            incoming = nxt[: b - a].astype(np.float64)
            # outgoing + r * (incoming - outgoing): identical inputs give their samples exactly.
            mixed = (outgoing + ramp * (incoming - outgoing)).astype(np.float32)
            end = min(b, total)
            if end > a:
                out[a:end] = mixed[: end - a]
    return out

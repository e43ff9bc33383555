"""Duplicate-frame cadence: telecine padding and frame-rate conversion repeat scanned frames.

A frame is a duplicate when it differs from the one before by no more than compression noise
and by far less than the picture changes around it (its neighbours' 80th-percentile change).
A static shot is not a run of duplicates: its neighbours are just as still.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

ABSOLUTE_LIMIT = 1.5  # mean |Δ luma| (0..255) within which two frames can be one picture
RELATIVE_LIMIT = 0.15  # ... and below this fraction of the local 80th-percentile change
HALF_WINDOW = 12


def duplicate_mask(raw_diffs: np.ndarray) -> np.ndarray:
    """(frames,) bool: frame i repeats frame i-1.

    ``raw_diffs[i]`` is mean |luma_i - luma_{i-1}| on a small gray frame; raw_diffs[0] is ignored
    (the first frame is never a duplicate)."""
    n = raw_diffs.shape[0]
    mask = np.zeros(n, dtype=bool)
    for i in range(1, n):
        lo, hi = max(1, i - HALF_WINDOW), min(n, i + HALF_WINDOW + 1)
        local = np.percentile(raw_diffs[lo:hi], 80)
        mask[i] = raw_diffs[i] < ABSOLUTE_LIMIT and raw_diffs[i] < RELATIVE_LIMIT * local
    return mask


def describe_cadence(mask: np.ndarray) -> str:
    """A human-readable pattern: "none", "occasional (7 of 521)", or "about 1 in 5 repeated (72 of 360)"."""
    count = int(mask.sum())
    if count == 0:
        return "none"
    share = Fraction(count, mask.size).limit_denominator(8)
    if share.numerator == 0:
        return f"occasional ({count} of {mask.size})"
    return f"about {share.numerator} in {share.denominator} repeated ({count} of {mask.size})"

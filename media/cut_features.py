"""Flicker-proof picture-change measures, fed one small gray frame at a time.

Each 64x48 luma frame is standardised (zero mean, unit variance), so global flicker cancels,
then averaged over blocks, so grain cancels:

* ``boundary[i]``: how much frames i, i+1, i+2 differ from frames i-1, i-2, i-3; the minimum
  over all nine cross pairs of a trimmed mean distance on a 16x12 grid. A cut makes every pair
  differ; a flash, a flash held for two frames, a scratch or dust makes at least one pair match.
  A repeated (duplicated) frame scores zero.
* ``transition[m]``: the distance between the average 8x6 layout of frames [m-10, m-5) and of
  [m+5, m+10), over the larger of the two within-side distances (each side against the five
  frames beyond it). A fade or dissolve centred near m raises it; steady motion does not.
* ``raw_diff[i]``: mean |Δ luma| to the previous frame on the 0..255 scale (duplicate cadence).
* ``brightness[i]``, ``contrast[i]``: mean and standard deviation of the raw luma (fades).

Holds the last 30 frames' small grids; everything else is one float per frame.
"""

from __future__ import annotations

from collections import deque

import numpy as np

LUMA_SIZE = (64, 48)  # (width, height) of the analysis frames
BOUNDARY_BLOCK, LAYOUT_BLOCK = 4, 8  # block sizes: 16x12 and 8x6 grids
GAP, SIDE = 5, 5  # transition: windows start GAP frames from m and are SIDE frames long
REACH = GAP + 2 * SIDE  # frames on each side that transition[m] reads


def standardise(luma: np.ndarray) -> np.ndarray:
    """(h, w) uint8 -> float32 with zero mean and unit variance; +4 keeps black frames near 0."""
    x = luma.astype(np.float32)
    z: np.ndarray = (x - x.mean()) / (x.std() + 4.0)
    return z


def block_mean(x: np.ndarray, block: int) -> np.ndarray:
    h, w = x.shape
    means: np.ndarray = x.reshape(h // block, block, w // block, block).mean(axis=(1, 3)).ravel()
    return means


def trimmed_distance(a: np.ndarray, b: np.ndarray, keep: float = 0.9) -> float:
    """Mean |a-b| over the ``keep`` fraction of smallest differences (drops dust and scratches)."""
    d = np.abs(a - b)
    k = max(1, int(d.size * keep))
    return float(np.partition(d, k - 1)[:k].mean())


class LumaChangeScorer:
    """Streaming ``boundary``, ``transition`` and ``raw_diff`` series; see the module docstring."""

    def __init__(self) -> None:
        self.raw_diff: list[float] = []
        self.boundary: list[float] = []
        self.transition: list[float] = []
        self.brightness: list[float] = []
        self.contrast: list[float] = []
        self._prev_raw: np.ndarray | None = None
        self._fine: deque[np.ndarray] = deque(maxlen=6)  # frames n-6 .. n-1
        self._layout: deque[np.ndarray] = deque(maxlen=2 * REACH)  # frames n-30 .. n-1
        self._count = 0

    def add(self, luma: np.ndarray) -> None:
        raw = luma.astype(np.float32)
        self.raw_diff.append(0.0 if self._prev_raw is None else float(np.abs(raw - self._prev_raw).mean()))
        self._prev_raw = raw
        self.brightness.append(float(raw.mean()))
        self.contrast.append(float(raw.std()))
        z = standardise(luma)
        self._fine.append(block_mean(z, BOUNDARY_BLOCK))
        self._layout.append(block_mean(z, LAYOUT_BLOCK))
        self._count += 1
        if self._count >= 3:
            self.boundary.append(self._boundary(self._count - 3, self._count))
        if self._count >= REACH:
            self.transition.append(self._transition(self._count - REACH, self._count))

    def finish(self) -> None:
        """Score the last frames, whose look-ahead runs past the end of the film."""
        n = self._count
        while len(self.boundary) < n:
            self.boundary.append(self._boundary(len(self.boundary), n))
        while len(self.transition) < n:
            self.transition.append(self._transition(len(self.transition), n))

    def _boundary(self, i: int, n: int) -> float:
        if i == 0:
            return 0.0
        first = self._count - len(self._fine)  # absolute index of self._fine[0]

        def fine(k: int) -> np.ndarray:
            return self._fine[k - first]

        pairs = [(a, b) for a in (i - 1, i - 2, i - 3) for b in (i, i + 1, i + 2) if a >= 0 and b < n]
        return min(trimmed_distance(fine(b), fine(a)) for a, b in pairs)

    def _transition(self, m: int, n: int) -> float:
        first = self._count - len(self._layout)

        def mean(lo: int, hi: int) -> np.ndarray:
            lo = min(max(lo, 0), n - 1)
            hi = max(lo + 1, min(hi, n))
            layout: np.ndarray = np.mean([self._layout[k - first] for k in range(lo, hi)], axis=0)
            return layout

        before, further_before = mean(m - GAP - SIDE, m - GAP), mean(m - GAP - 2 * SIDE, m - GAP - SIDE)
        after, further_after = mean(m + GAP, m + GAP + SIDE), mean(m + GAP + SIDE, m + REACH)
        within = max(trimmed_distance(before, further_before), trimmed_distance(after, further_after))
        return trimmed_distance(before, after) / (within + 0.05)

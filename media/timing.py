"""Frame timing from presentation timestamps, per docs/design.md's Contracts ("Time").

A frame's duration is the next frame's PTS minus its own; the last frame's is the median frame
duration. A film's duration is last PTS + that duration - first PTS, exact in the time base.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np


@dataclass(frozen=True)
class Timeline:
    """Presentation timestamps of every frame, in order, with the stream's time base."""

    pts: np.ndarray  # (frames,) int64, increasing
    time_base: Fraction
    last_duration: int  # the median step; a one-frame film's nominal frame duration

    @property
    def frames(self) -> int:
        return int(self.pts.shape[0])

    @property
    def first_pts(self) -> int:
        return int(self.pts[0])

    @property
    def durations(self) -> np.ndarray:
        """(frames,) int64 frame durations in time-base units."""
        return np.append(np.diff(self.pts), self.last_duration).astype(np.int64)

    @property
    def end_pts(self) -> int:
        """The PTS at which the last frame stops showing."""
        return int(self.pts[-1]) + self.last_duration

    @property
    def duration_pts(self) -> int:
        return self.end_pts - self.first_pts

    def seconds(self, pts: int) -> float:
        """Seconds from the first frame to ``pts``."""
        return float((pts - self.first_pts) * self.time_base)

    @property
    def variable_frame_rate(self) -> bool:
        """True when frame durations differ at all (timestamp jitter included)."""
        steps = np.diff(self.pts)
        return bool(steps.size and steps.min() != steps.max())


def timeline_from_pts(pts: list[int], time_base: Fraction, *, fallback_duration: int) -> Timeline:
    """Sort decoder PTS into a Timeline; a one-frame film lasts ``fallback_duration`` ticks.

    Decoders emit frames in presentation order; sorting only guards against streams with
    reordered timestamps.
    """
    arr = np.sort(np.asarray(pts, dtype=np.int64), kind="stable")
    steps = np.diff(arr)
    last = int(np.median(steps)) if steps.size else int(fallback_duration)
    return Timeline(pts=arr, time_base=time_base, last_duration=max(1, last))


def sample_times(start_pts: int, end_pts: int, time_base: Fraction, fps: float) -> list[Fraction]:
    """The exact PTS of each output sample when [start_pts, end_pts) is sampled at ``fps``:
    start + k / fps for k below ceil(span * fps), at least one (``media.decode.decode_range``)."""
    span = Fraction(end_pts - start_pts) * time_base
    count = max(1, int(np.ceil(float(span * Fraction(fps)) - 1e-9)))
    step = 1 / (Fraction(fps) * time_base)
    return [start_pts + k * step for k in range(count)]

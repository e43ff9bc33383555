"""Clocks of a film: pictures (what the camera shot), stream frames (what a decoder emits), samples.

A film whose pictures advance at ``content_fps`` inside a ``fps`` stream shows stream frame ``i``
the picture ``ceil((i + 1) * c / f) - 1``; a picture first appears on frame ``floor(q * f / c)``.
The repeated frames are therefore the last of each group (16 in 20: frames 4, 9, 14, ...).
All arithmetic is on integers, so picture, frame and sample positions are exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import gcd

import numpy as np
import numpy.typing as npt

from .config import SAMPLE_RATE


def picture_of_frame(i: npt.ArrayLike, fps: int, content_fps: int) -> np.ndarray:
    """Picture shown on stream frame(s) ``i``: ceil((i + 1) * c / f) - 1."""
    i = np.asarray(i, dtype=np.int64)
    return ((i + 1) * content_fps + fps - 1) // fps - 1


def frame_of_picture(q: npt.ArrayLike, fps: int, content_fps: int) -> np.ndarray:
    """First stream frame on which picture(s) ``q`` are visible: floor(q * f / c)."""
    return np.asarray(q, dtype=np.int64) * fps // content_fps


@dataclass(frozen=True)
class Timing:
    """Maps pictures to stream frames, seconds and 48 kHz samples for one film."""

    fps: int  # nominal stream rate
    content_fps: int  # picture rate; equal to fps when no frame repeats
    pictures: int
    sample_rate: int = SAMPLE_RATE

    def __post_init__(self) -> None:
        if not 0 < self.content_fps <= self.fps:
            raise ValueError(f"content_fps={self.content_fps} must be in (0, fps={self.fps}]")
        if self.pictures < 1:
            raise ValueError(f"pictures={self.pictures} must be >= 1")

    @property
    def frames(self) -> int:
        """Stream frames that show pictures 0..pictures-1 (frames i with picture_of_frame(i) < pictures)."""
        return self.pictures * self.fps // self.content_fps

    @property
    def samples(self) -> int:
        """round(frames / fps * sample_rate): the audio length that matches the video to the sample."""
        return int(self.sample_of_frame(self.frames))

    @property
    def duration_s(self) -> float:
        return self.frames / self.fps

    def picture_of_frame(self, i: npt.ArrayLike) -> np.ndarray:
        return picture_of_frame(i, self.fps, self.content_fps)

    def frame_of_picture(self, q: npt.ArrayLike) -> np.ndarray:
        return frame_of_picture(q, self.fps, self.content_fps)

    def sample_of_frame(self, i: npt.ArrayLike) -> np.ndarray:
        """round(i / fps * sample_rate), exactly (no half-way cases arise for the allowed rates)."""
        i = np.asarray(i, dtype=np.int64)
        return (2 * i * self.sample_rate + self.fps) // (2 * self.fps)

    def picture_time(self, q: npt.ArrayLike) -> np.ndarray:
        """Seconds (from frame 0) at which picture ``q`` first appears."""
        return self.frame_of_picture(q) / self.fps

    def duplicated_frames(self) -> list[int]:
        """Frames that repeat the picture of the frame before them."""
        p = self.picture_of_frame(np.arange(self.frames))
        return [int(i) for i in np.flatnonzero(np.diff(p) == 0) + 1]

    def cadence(self) -> dict[str, str | int]:
        """A JSON-ready description of the duplicate-frame cadence."""
        f, c = self.fps, self.content_fps
        if c == f:
            return {
                "kind": "none",
                "content_fps": c,
                "stream_fps": f,
                "pattern": "none",
                "description": f"every frame is a new picture at {f} fps",
            }
        g = gcd(f, c)
        pattern = f"{(f - c) // g} in {f // g} repeated"
        return {
            "kind": "duplicate",
            "content_fps": c,
            "stream_fps": f,
            "pattern": pattern,
            "description": f"{c} fps pictures in a {f} fps stream: {pattern}, "
            "each repeat is the last frame of its group",
        }

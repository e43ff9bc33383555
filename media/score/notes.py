"""The note event that the composer writes and the renderer plays."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Note:
    """One note on the film's clock. ``channel`` is a MIDI channel (0..15, never 9) and
    ``program`` the General MIDI program (0..127) it sounds with; ``pitch`` and ``velocity`` are
    MIDI numbers (velocity 1..127). Ordering is by start time, then channel, then pitch."""

    start_s: float
    channel: int
    pitch: int
    duration_s: float
    velocity: int
    program: int

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s

"""The frozen records that media/ hands to the rest of Talkie (see docs/design.md, "The records that flow").

Times follow docs/design.md's Contracts: frames are indexed in presentation order from 0, before any
duplicate-frame removal; PTS values are exact integers in the stream's ``time_base`` (a string
such as ``"1/90000"``); float seconds are for convenience and are measured from the first frame.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FilmProbe:
    """What one streaming pass over a film's video learned about it."""

    uri: str
    content_sha256: str
    container: str  # FFmpeg demuxer name, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
    codec: str  # e.g. "h264"
    width: int  # coded size, before rotation
    height: int
    rotation: int  # display rotation in degrees, counter-clockwise (0, 90, 180, 270)
    time_base: str  # e.g. "1/12288"
    first_pts: int
    duration_pts: int  # last PTS + last frame's duration - first PTS, in time_base units
    duration_s: float
    frames: int  # decoded frames, duplicates included
    nominal_fps: float  # the container's declared rate
    true_fps: float  # distinct pictures per second once duplicated frames are removed
    variable_frame_rate: bool
    duplicate_frames: int  # frames that repeat the picture before them
    cadence: str  # human-readable duplicate pattern, e.g. "none" or "1 in 5 repeated"
    has_audio: bool
    # A frame sequence's frame numbers with no file, each held by the frame before it
    # (media/sequence.py); None for a video file.
    missing_frames: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Scene:
    """One scene of a film: frames [start_frame, end_frame), PTS [start_pts, end_pts)."""

    index: int
    start_frame: int
    end_frame: int  # exclusive
    start_pts: int
    end_pts: int  # exclusive: the next scene's start_pts, or the film's end
    time_base: str
    start_s: float
    end_s: float
    cut_confidence: float  # confidence of the cut that opens this scene; 1.0 for the first scene

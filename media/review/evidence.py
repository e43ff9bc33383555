"""What a scene's review shows, measured from the film and its track.

For scene [t0, t1) of a film: a strip of thumbnails sampled evenly across it, the film track's
samples on the scene's span (a scored film's effects stem: the music's notes are not the sound
that should land on the picture), and the onsets that ``media.sync`` compares (motion onsets of the
picture and audio onsets of the track, seconds from the scene's start) with their agreement,
the same measure as a take's ``sync_score``. The picture is analysed at the film's own frame
rate (at most ``ANALYSIS_MAX_FPS``) in ``ANALYSIS_WIDTH``-pixel-wide gray frames, so the curve
is the picture's evidence, not the model's view of it; a take's ``sync_score`` was measured on
the model's frames and can differ a little.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from media.decode import decode_range, open_video
from media.errors import UnreadableMedia
from media.sync import audio_onsets, motion_onsets, onset_agreement

THUMBNAILS = 8
THUMBNAIL_WIDTH = 96
ANALYSIS_WIDTH = 64
ANALYSIS_MAX_FPS = 24.0


@dataclass(frozen=True)
class SceneEvidence:
    start_s: float  # from the film's first frame
    end_s: float
    thumbnails: np.ndarray  # (N, h, w, 3) uint8, shown at thumbnail_times
    thumbnail_times: np.ndarray  # (N,) seconds from the film's first frame
    track: np.ndarray  # (samples,) float32: the film track on the scene's span
    rate: int
    motion_onsets: np.ndarray  # seconds from the scene's start
    audio_onsets: np.ndarray
    agreement: float  # media.sync.onset_agreement of the two
    track_label: str = "film track"  # what ``track`` is: "film track", or "effects" for a scored film


@dataclass(frozen=True)
class Picture:
    """What the report needs of a video file: its coded size and its clock."""

    width: int
    height: int
    time_base: Fraction
    first_pts: int  # PTS of the first frame shown


def read_picture(uri: str) -> Picture:
    """The size and clock of ``uri``'s video stream (the first frame is decoded for its PTS)."""
    with open_video(uri) as (container, stream):
        first = next((f.pts for f in container.decode(stream) if f.pts is not None), None)
        if first is None:
            raise UnreadableMedia(f"{uri}: no frame to review")
        assert stream.time_base is not None, "FFmpeg gives every demuxed stream a time base"
        return Picture(
            int(stream.codec_context.width),
            int(stream.codec_context.height),
            Fraction(stream.time_base),
            int(first),
        )


def scaled(width: int, height: int, to_width: int) -> tuple[int, int]:
    """(to_width, height kept in proportion), both even and at least 2."""
    return max(2, to_width // 2 * 2), max(2, round(height * to_width / width / 2) * 2)


def scene_evidence(
    video_uri: str,
    picture: Picture,
    *,
    start_s: float,
    end_s: float,
    track: np.ndarray,
    rate: int,
    fps: float,
    track_label: str = "film track",
) -> SceneEvidence:
    """The evidence of the scene [start_s, end_s), in seconds from the film's first frame (module
    docstring); ``video_uri`` is read on its own clock (``picture``), so the published MKV (whose
    packets are the source's, retimed to milliseconds) serves as well as the source; ``track`` is
    the film track's samples on the scene's span (``track_label`` says what it is), ``fps`` the
    film's frame rate."""
    start, span = float(start_s), float(end_s - start_s)
    start_pts = picture.first_pts + round(Fraction(start) / picture.time_base)
    end_pts = picture.first_pts + round(Fraction(float(end_s)) / picture.time_base)
    width, height = picture.width, picture.height
    thumb_fps = THUMBNAILS / span if span > 0 else 1.0
    tw, th = scaled(width, height, THUMBNAIL_WIDTH)
    thumbnails = decode_range(video_uri, start_pts, end_pts, fps=thumb_fps, width=tw, height=th)[:THUMBNAILS]
    times = start + np.arange(thumbnails.shape[0]) / thumb_fps
    analysis_fps = float(min(fps, ANALYSIS_MAX_FPS)) if fps and fps > 0 else ANALYSIS_MAX_FPS
    aw, ah = scaled(width, height, ANALYSIS_WIDTH)
    gray = decode_range(video_uri, start_pts, end_pts, fps=analysis_fps, width=aw, height=ah, gray=True)
    motion = motion_onsets(gray, analysis_fps)
    sound = audio_onsets(np.asarray(track, dtype=np.float32), rate)
    return SceneEvidence(
        start_s=start,
        end_s=start + span,
        thumbnails=thumbnails,
        thumbnail_times=times,
        track=np.asarray(track, dtype=np.float32),
        rate=rate,
        motion_onsets=motion,
        audio_onsets=sound,
        agreement=onset_agreement(motion, sound),
        track_label=track_label,
    )

"""One streaming pass over a film: probe it and cut it into scenes that tile its duration.

Memory is bounded by TransNetV2's window (a few hundred 48x27 frames) and per-frame scalars;
no full-size frame outlives its decode.
"""

from __future__ import annotations

import dataclasses
import hashlib
from fractions import Fraction
from typing import IO, cast

import numpy as np

from media import storage
from media.cadence import describe_cadence, duplicate_mask
from media.cut_features import LUMA_SIZE, LumaChangeScorer
from media.cuts import Cut, FrameScores, candidate_cuts, enforce_min_length
from media.decode import iter_analysis_frames, open_video
from media.errors import UnreadableMedia
from media.records import FilmProbe, Scene
from media.sequence import is_sequence, list_sequence, sequence_content
from media.streaming import HASH_CHUNK, HashingReader, open_stream
from media.timing import Timeline, timeline_from_pts
from media.transnet import INPUT_SIZE as TRANSNET_SIZE
from media.transnet import TransNetScorer


def content_sha256(uri: str) -> tuple[str, int]:
    """SHA-256 of the file's bytes, streamed in 8 MiB chunks, and the byte count; for a frame
    sequence, of its frames' names and sizes, and their total bytes (``media.sequence``)."""
    if is_sequence(uri):
        return sequence_content(uri)
    digest, size = hashlib.sha256(), 0
    with storage.open_input(uri) as f:
        while chunk := f.read(HASH_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def open_film(uri: str) -> tuple[HashingReader | None, str, int]:
    """(reader, SHA-256, bytes) of the film ``shard_film`` decodes. A file is hashed as it is
    decoded, so a master is read once (``media.streaming``): its ``HashingReader`` (for
    ``open_video``, which closes it), with the hash "" until ``reader.finish()``. A frame sequence
    is read frame by frame: None, with the hash of its frames' names and sizes.

    Raises UnreadableMedia for an empty file or sequence and FileNotFoundError for a missing one.
    """
    reader = None if is_sequence(uri) else HashingReader(open_stream(uri))
    sha, size = content_sha256(uri) if reader is None else ("", reader.size)
    if size == 0:
        if reader is not None:
            reader.close()
        raise UnreadableMedia(f"{uri}: the file is empty (0 bytes)")
    return reader, sha, size


def shard_film(
    uri: str, *, min_scene_s: float = 0.5, use_transnet: bool = True, device: str = "cpu"
) -> tuple[FilmProbe, list[Scene]]:
    """Probe ``uri`` and return its scenes, which tile [first frame, end of last frame).

    Raises media.errors.MediaError subclasses for files that are not usable films and
    FileNotFoundError for a path that does not exist.
    """
    reader, sha, size = open_film(uri)
    luma = LumaChangeScorer()
    transnet = TransNetScorer(device=device) if use_transnet else None
    pts: list[int] = []
    with open_video(uri, reader=cast(IO[bytes] | None, reader)) as (container, stream):
        assert stream.time_base is not None, "FFmpeg gives every demuxed stream a time base"
        time_base = Fraction(stream.time_base)
        nominal = stream.guessed_rate or stream.average_rate or stream.base_rate
        rotation = None
        for frame in iter_analysis_frames(
            container, stream, uri, rgb_size=TRANSNET_SIZE, luma_size=LUMA_SIZE
        ):
            pts.append(frame.pts)
            if rotation is None:
                rotation = frame.rotation
            luma.add(frame.luma)
            if transnet is not None:
                transnet.add(frame.rgb)
        nominal_fps = float(nominal) if nominal else 0.0
        fallback = int(round(1 / (nominal_fps * time_base))) if nominal_fps else 1
        timeline = timeline_from_pts(pts, time_base, fallback_duration=fallback)
        missing: tuple[int, ...] | None = None
        if is_sequence(uri):  # numbered frames: the last lasts one number, whatever the gaps
            timeline = dataclasses.replace(timeline, last_duration=1)
            missing = list_sequence(uri, fresh=False).missing
        demuxer = container.format.name
        codec = stream.codec_context.name
        width = stream.codec_context.width
        height = stream.codec_context.height
        has_audio = bool(container.streams.audio)
        if reader is not None:
            sha, size = reader.finish()
    luma.finish()
    duplicate = duplicate_mask(np.asarray(luma.raw_diff))
    scores = FrameScores(
        boundary=np.asarray(luma.boundary),
        transition=np.asarray(luma.transition),
        duplicate=duplicate,
        brightness=np.asarray(luma.brightness),
        contrast=np.asarray(luma.contrast),
        transnet=transnet.finish() if transnet is not None else None,
    )
    cuts = candidate_cuts(scores)
    frame_seconds = (timeline.pts - timeline.first_pts) * float(time_base)
    duration_s = float(timeline.duration_pts * time_base)
    cuts = enforce_min_length(cuts, frame_seconds, duration_s, min_scene_s)
    distinct = timeline.frames - int(duplicate.sum())
    probe = FilmProbe(
        uri=uri,
        content_sha256=sha,
        rotation=int(rotation or 0) % 360,
        time_base=f"{time_base.numerator}/{time_base.denominator}",
        first_pts=timeline.first_pts,
        duration_pts=timeline.duration_pts,
        duration_s=duration_s,
        frames=timeline.frames,
        nominal_fps=nominal_fps,
        true_fps=distinct / duration_s if duration_s > 0 else 0.0,
        variable_frame_rate=timeline.variable_frame_rate,
        duplicate_frames=int(duplicate.sum()),
        cadence=describe_cadence(duplicate),
        container=demuxer,
        codec=codec,
        width=width,
        height=height,
        has_audio=has_audio,
        missing_frames=missing,
    )
    return probe, scenes_from_cuts(timeline, cuts)


def scenes_from_cuts(timeline: Timeline, cuts: list[Cut]) -> list[Scene]:
    """Scenes between consecutive cuts; the last ends where the last frame stops showing."""
    starts = [0] + [c.frame for c in cuts]
    confidences = [1.0] + [c.confidence for c in cuts]
    ends = starts[1:] + [timeline.frames]
    tb = f"{timeline.time_base.numerator}/{timeline.time_base.denominator}"
    scenes = []
    for index, (start, end, conf) in enumerate(zip(starts, ends, confidences)):
        start_pts = int(timeline.pts[start])
        end_pts = int(timeline.pts[end]) if end < timeline.frames else timeline.end_pts
        scenes.append(
            Scene(
                index=index,
                start_frame=start,
                end_frame=end,
                start_pts=start_pts,
                end_pts=end_pts,
                time_base=tb,
                start_s=timeline.seconds(start_pts),
                end_s=timeline.seconds(end_pts),
                cut_confidence=round(conf, 4),
            )
        )
    return scenes

"""What ``talkie plan`` learns about a collection without decoding it: each film's header and work.

The manifest is read and validated as the restore job reads it (``parse_manifest``: bad rows
become the job's ``read_manifest`` failures), and each film's container is opened as the job
opens it, so a missing, empty, unreadable, still or audio-only file becomes the same
``probe_and_shard`` failure; then only the header is read.
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from typing import IO, Any, cast

from pipelines import plan_model
from pipelines.plan_model import FilmWork
from transforms.failures import Failure, failure_from, redact
from transforms.manifest import FilmJob, parse_manifest
from transforms.stages import STAGE_PROBE_AND_SHARD


@dataclasses.dataclass(frozen=True)
class Header:
    """What a container's header says about its video, without decoding."""

    duration_s: float
    frames: int
    fps: float
    width: int
    height: int
    codec: str
    duration_from: str  # "header"; "packets" when the header has none; "listing" for a sequence


def probe_header(uri: str) -> Header:
    """Opens ``uri`` as the restore job's ``media.shard.shard_film`` opens it (so a missing, empty,
    unreadable, still or audio-only file raises the job's error) and reads its video stream's
    header; demuxes packet timestamps (no decoding) only when the header has no duration. A frame
    sequence (``media.sequence``) is counted from its listing: frames, and its frame clock."""
    from media.decode import open_video
    from media.sequence import list_sequence
    from media.shard import open_film

    reader, _, _ = open_film(uri)  # the job's checks and words; the hash is not needed
    with open_video(uri, reader=cast(IO[bytes] | None, reader)) as (container, stream):
        codec = stream.codec_context
        if reader is None:
            listed = list_sequence(uri, fresh=False)
            fps = float(listed.fps)
            frames = len(listed.frames)
            duration = float(listed.end_pts * listed.time_base)  # sequence_timeline: first PTS 0
            source = "listing"
        else:
            fps, frames, duration, source = _header_timing(uri, container, stream)
        return Header(duration, frames, fps, codec.width, codec.height, codec.name, source)


def _header_timing(uri: str, container: Any, stream: Any) -> tuple[float, int, float, str]:
    """(fps, frames, duration_s, where the duration came from) of an opened film's video."""
    import av

    from media.errors import NoDecodableFrames

    rate = stream.guessed_rate or stream.average_rate or stream.base_rate
    fps = float(rate) if rate else 0.0
    time_base = Fraction(stream.time_base) if stream.time_base else None
    source = "header"
    if stream.duration and time_base:
        duration = float(stream.duration * time_base)
    elif container.duration:
        duration = container.duration / av.time_base
    else:
        pts = [int(p.pts) for p in container.demux(stream) if p.pts is not None and p.size > 0]
        if not pts or time_base is None:
            raise NoDecodableFrames(f"{uri}: the video stream holds no frame")
        duration = float((max(pts) - min(pts)) * time_base) + (1 / fps if fps else 0.0)
        source = "packets"
    return fps, int(stream.frames or round(duration * fps)), duration, source


@dataclasses.dataclass(frozen=True)
class PlanSettings:
    """The restore job's settings that change its work, from the plan's flags and the checkpoint."""

    generation: Any  # transforms.units.GenerationSettings
    batch_size: int
    min_scene_s: float
    mean_scene_s: float
    score_mode: str
    score_instrument: str | None


def film_work(job: FilmJob, header: Header, settings: PlanSettings) -> FilmWork:
    """One film's work: its takes, estimated scenes and windows, negative prompt and music."""
    from media.score import score_cue
    from transforms.units import layered_prompts

    generation = settings.generation
    takes = job.takes if job.takes is not None else generation.takes
    scenes = plan_model.estimated_scenes(header.duration_s, settings.mean_scene_s, settings.min_scene_s)
    windows = plan_model.windows_per_scene(
        header.duration_s / scenes,
        generation.config.video.fps,
        generation.window_frames,
        generation.stride_frames,
    )
    # the row's prompts, and each scene override's as the job layers them (transforms.units)
    prompts = [
        layered_prompts(
            override,
            job,
            default_positive=generation.positive_prompt,
            default_negative=generation.negative_prompt,
            checkpoint_negative=generation.config.sampler.negative_prompt,
        )
        for override in (None, *job.scenes)
    ]
    music = any(
        score_cue(
            p.positive_prompt,
            p.negative_prompt,
            mode=settings.score_mode,
            instrument=settings.score_instrument,
        ).sounds
        for p in prompts
    )
    return FilmWork(
        uri=redact(job.video_input),
        film_id=job.film_id,
        duration_s=header.duration_s,
        frames=header.frames,
        fps=header.fps,
        width=header.width,
        height=header.height,
        codec=header.codec,
        duration_from=header.duration_from,
        takes=takes,
        scenes=scenes,
        windows_per_take=scenes * windows,
        negative=any(p.negative_prompt for p in prompts),
        music=music,
    )


def read_collection(spec: str, settings: PlanSettings) -> tuple[list[FilmWork], list[Failure]]:
    """Every film the job would process, and every row or film it would record as a failure."""
    jobs, failures = parse_manifest(spec)
    films: list[FilmWork] = []
    for job in jobs:
        try:
            header = probe_header(job.video_input)
        except Exception as exc:  # the job's probe_and_shard turns any exception into a failure
            failures.append(
                failure_from(exc, uri=job.video_input, film_id=job.film_id, stage=STAGE_PROBE_AND_SHARD)
            )
            continue
        films.append(film_work(job, header, settings))
    return films, failures

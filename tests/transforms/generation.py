"""A small checkpoint, generation settings and hand-cut real films for the restore job's tests."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import torch

from media.records import FilmProbe, Scene
from model.checkpoint import save_checkpoint
from model.config import ModelConfig, NetworkConfig, SamplerConfig, VideoConfig, WindowConfig
from model.networks import build_network
from tests.model.test_dit import wake_up
from tests.transforms.builders import job
from transforms.shard import ShardedFilm
from transforms.units import GenerationSettings, describe_checkpoint, vocoder_fields

# 1 s windows overlapping by 0.25 s (a 2-3 s scene has 3-4 windows to blend), 8 fps 16x16 frames,
# a 32-wide 2-block DiT, 16 kHz audio.
SMALL = ModelConfig(
    video=VideoConfig(fps=8, height=16, width=16),
    network=NetworkConfig(width=32, depth=2, heads=2, patch_frames=2),
    window=WindowConfig(window_s=1.0, overlap_s=0.25),
    sampler=SamplerConfig(steps=2),
)


def save_small_checkpoint(path: Path, seed: int = 0) -> str:
    """An untrained small network with its gates opened (so that frames and text matter); returns the path."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network = build_network(SMALL)
    wake_up(network, seed)
    save_checkpoint(str(path), network.state_dict(), SMALL)
    return str(path)


def settings_for(checkpoint: str, **fields) -> GenerationSettings:
    info = describe_checkpoint(checkpoint)
    values = dict(
        checkpoint=checkpoint,
        checkpoint_sha256=info.sha256,
        config=info.config,
        steps=2,
        text_guidance=2.0,
        video_guidance=2.0,
        negative_guidance=2.0,
        sampler="euler",
        **vocoder_fields(info.config),
    )
    values.update(fields)
    return GenerationSettings(**values)


def real_film(path: str, cuts_at: list[int], fps: int = 24) -> ShardedFilm:
    """A ShardedFilm for an encoded constant-rate film, cut at the given frames (no shot detection)."""
    with av.open(path) as container:
        stream = container.streams.video[0]
        time_base = Fraction(stream.time_base)
        pts = sorted(p.pts for p in container.demux(stream) if p.pts is not None and p.size)
    step = round(1 / (fps * time_base))
    first, frames = pts[0], len(pts)
    end = first + frames * step
    bounds = [0, *cuts_at, frames]
    scenes = tuple(
        Scene(
            index=i,
            start_frame=a,
            end_frame=b,
            start_pts=first + a * step,
            end_pts=first + b * step,
            time_base=f"{time_base.numerator}/{time_base.denominator}",
            start_s=a / fps,
            end_s=b / fps,
            cut_confidence=1.0,
        )
        for i, (a, b) in enumerate(zip(bounds, bounds[1:]))
    )
    probe = FilmProbe(
        uri=path,
        content_sha256="e" * 64,
        container="mov,mp4",
        codec="h264",
        width=64,
        height=48,
        rotation=0,
        time_base=scenes[0].time_base,
        first_pts=first,
        duration_pts=end - first,
        duration_s=float((end - first) * time_base),
        frames=frames,
        nominal_fps=fps,
        true_fps=fps,
        variable_frame_rate=False,
        duplicate_frames=0,
        cadence="none",
        has_audio=False,
    )
    return ShardedFilm(job=job(path), film_id="film", probe=probe, scenes=scenes)

"""Small records for transform tests: jobs, probes, exact tilings, sharded films."""

from __future__ import annotations

from media.records import FilmProbe, Scene
from transforms.manifest import FilmJob
from transforms.shard import ShardedFilm

SHA_A = "a" * 64
SHA_B = "b" * 64


def job(uri: str, film_id: str | None = None, **fields) -> FilmJob:
    return FilmJob(
        video_input=uri,
        film_id=film_id,
        positive_prompt=None,
        negative_prompt=None,
        takes=None,
        seed=None,
        scenes=(),
        extra="{}",
        **fields,
    )


def probe(uri: str, sha: str = SHA_A, frames: int = 48) -> FilmProbe:
    return FilmProbe(
        uri=uri,
        content_sha256=sha,
        container="mov,mp4",
        codec="h264",
        width=64,
        height=48,
        rotation=0,
        time_base="1/12288",
        first_pts=0,
        duration_pts=frames * 512,
        duration_s=frames / 24,
        frames=frames,
        nominal_fps=24.0,
        true_fps=24.0,
        variable_frame_rate=False,
        duplicate_frames=0,
        cadence="none",
        has_audio=False,
    )


def tiling(frames: int, cuts: list[int]) -> list[Scene]:
    bounds = [0, *cuts, frames]
    return [
        Scene(
            index=i,
            start_frame=a,
            end_frame=b,
            start_pts=a * 512,
            end_pts=b * 512,
            time_base="1/12288",
            start_s=a / 24,
            end_s=b / 24,
            cut_confidence=1.0 if i == 0 else 0.8,
        )
        for i, (a, b) in enumerate(zip(bounds, bounds[1:]))
    ]


def sharded(uri: str, film_id: str, sha: str = SHA_A, **fields) -> ShardedFilm:
    return ShardedFilm(
        job=job(uri, film_id, **fields),
        film_id=film_id,
        probe=probe(uri, sha),
        scenes=tuple(tiling(48, [24])),
    )

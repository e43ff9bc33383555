"""ProbeAndShard: per film, one streaming pass gives its probe and the scenes that tile it."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import apache_beam as beam

from media.records import FilmProbe, Scene
from transforms.checks import is_number
from transforms.failures import FAILURES, Failure, FailureGuard, redacted_repr
from transforms.manifest import FilmJob, derive_film_id
from transforms.stages import STAGE_PROBE_AND_SHARD
from transforms.storage_metrics import CountsStorageRetries

# media.shard.shard_film's signature: (uri, *, min_scene_s) -> (probe, scenes)
ShardFn = Callable[..., tuple[FilmProbe, Sequence[Scene]]]


@dataclass(frozen=True)
class ShardedFilm:
    """A film's job, its resolved film_id, what probing learned, and its scenes in order."""

    job: FilmJob
    film_id: str
    probe: FilmProbe
    scenes: tuple[Scene, ...]

    __repr__ = redacted_repr  # the probe's uri, as the job's


class ShardOutputs(NamedTuple):
    films: beam.PCollection[ShardedFilm]
    failures: beam.PCollection[Failure]


def validate_min_scene_s(value: float) -> float:
    """``value`` as float seconds when it is a usable minimum scene length; ValueError otherwise."""
    if not is_number(value) or not 0 < value < float("inf"):
        raise ValueError(f"min_scene_s {value!r} must be a positive number of seconds")
    return float(value)


class SceneTilingError(ValueError):
    """Scenes that do not tile their film exactly, against media.shard's contract."""


def check_scenes_tile(probe: FilmProbe, scenes: Sequence[Scene]) -> None:
    """Raises ``SceneTilingError`` unless ``scenes`` cover the film end to end without gap or overlap.

    The contract (docs/design.md, "Time"): scene 0 starts at frame 0 / first_pts, each scene ends where
    the next starts, the last ends at frame ``frames`` / ``first_pts + duration_pts``.
    """
    if not scenes:
        raise SceneTilingError(f"{probe.uri}: no scenes for a film of {probe.frames} frames")
    expected_frame, expected_pts = 0, probe.first_pts
    for position, scene in enumerate(scenes):
        if scene.index != position or scene.time_base != probe.time_base:
            raise SceneTilingError(
                f"{probe.uri}: scene at position {position} has index {scene.index} and time_base "
                f"{scene.time_base!r}; expected index {position} and {probe.time_base!r}"
            )
        if (scene.start_frame, scene.start_pts) != (expected_frame, expected_pts):
            raise SceneTilingError(
                f"{probe.uri}: scene {position} starts at frame {scene.start_frame} / pts "
                f"{scene.start_pts}; expected frame {expected_frame} / pts {expected_pts}"
            )
        if not (scene.end_frame > scene.start_frame and scene.end_pts > scene.start_pts):
            raise SceneTilingError(f"{probe.uri}: scene {position} is empty or reversed: {scene}")
        expected_frame, expected_pts = scene.end_frame, scene.end_pts
    end_pts = probe.first_pts + probe.duration_pts
    if (expected_frame, expected_pts) != (probe.frames, end_pts):
        raise SceneTilingError(
            f"{probe.uri}: the last scene ends at frame {expected_frame} / pts {expected_pts}; the "
            f"film ends at frame {probe.frames} / pts {end_pts}"
        )


class _ProbeAndShardFn(CountsStorageRetries, beam.DoFn):
    def __init__(self, min_scene_s: float, shard_fn: ShardFn | None) -> None:
        self._min_scene_s = min_scene_s
        self._shard_fn = shard_fn
        self._films: Any = beam.metrics.Metrics.counter("talkie", "films_sharded")
        self._scenes: Any = beam.metrics.Metrics.counter("talkie", "scenes")
        self._guard = FailureGuard(STAGE_PROBE_AND_SHARD, warns=True)

    def setup(self) -> None:
        self._shard: ShardFn
        if self._shard_fn is None:
            # Imported on the worker: media.shard brings torch, which pipelines never import at
            # construction time.
            from media.shard import shard_film

            self._shard = shard_film
        else:
            self._shard = self._shard_fn

    def process(self, job: FilmJob) -> Iterator[Any]:
        with self._guard.catching() as caught:  # one bad film must not stop the others
            probe, shards = self._shard(job.video_input, min_scene_s=self._min_scene_s)
            scenes = tuple(shards)
            check_scenes_tile(probe, scenes)
            film_id = job.film_id or derive_film_id(job.video_input, probe.content_sha256)
        if caught.error is not None:
            yield self._guard.failure(caught.error, uri=job.video_input, film_id=job.film_id)
            return
        self._films.inc()
        self._scenes.inc(len(scenes))
        yield ShardedFilm(job=job, film_id=film_id, probe=probe, scenes=scenes)


class ProbeAndShard(beam.PTransform[Any, Any]):
    """FilmJob -> ``ShardOutputs(films, failures)``: probe each film and cut it into scenes.

    Calls ``media.shard.shard_film`` once per film (``shard_fn`` replaces it in tests). Scenes are
    checked to tile the film; any exception, or scenes that do not tile, make a ``Failure`` with
    stage ``probe_and_shard`` and the other films go on. The film_id is the job's own or, when
    the manifest gave none, derived from the file name and content hash.
    """

    def __init__(self, min_scene_s: float = 0.5, shard_fn: ShardFn | None = None) -> None:
        super().__init__()
        self._min_scene_s = validate_min_scene_s(min_scene_s)
        self._shard_fn = shard_fn

    def expand(self, jobs: beam.PCollection[Any]) -> ShardOutputs:  # FilmJob
        sharded = jobs | "ShardFilms" >> beam.ParDo(
            _ProbeAndShardFn(self._min_scene_s, self._shard_fn)
        ).with_outputs(FAILURES, main="films")
        return ShardOutputs(films=sharded.films, failures=sharded[FAILURES])

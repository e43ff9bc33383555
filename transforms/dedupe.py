"""DeduplicateFilms: at most one film per film_id, so that no two films share an output path."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

import apache_beam as beam

from transforms.failures import FAILURES, Failure, FailureGuard, redact
from transforms.shard import ShardedFilm
from transforms.stages import STAGE_DEDUPLICATE_FILMS

log = logging.getLogger(__name__)


class DedupeOutputs(NamedTuple):
    films: beam.PCollection  # ShardedFilm, one per film_id
    failures: beam.PCollection  # Failure


def _by_film_id(film: ShardedFilm) -> tuple[str, ShardedFilm]:
    return film.film_id, film


class _OnePerFilmIdFn(beam.DoFn):
    def __init__(self) -> None:
        self._repeats = beam.metrics.Metrics.counter("talkie", "repeated_rows_collapsed")
        self._guard = FailureGuard(STAGE_DEDUPLICATE_FILMS)

    def process(self, element: tuple[str, Iterable[ShardedFilm]]) -> Iterator[Any]:
        film_id, group = element
        # Sorted so that every runner keeps the same one, whatever order the group arrives in.
        films = sorted(group, key=lambda f: (f.job.video_input, repr(f.job)))
        contents = sorted({f.probe.content_sha256 for f in films})
        if len(contents) > 1:
            uris = [redact(f.job.video_input) for f in films]
            for film in films:
                yield self._failure(
                    film,
                    "FilmIdConflict",
                    f"film_id {film_id!r} is given to {len(films)} films with different "
                    f"content: {uris}; give each film its own film_id",
                )
            return
        kept = films[0]
        for film in films[1:]:
            if film.job == kept.job:  # the same row listed twice: nothing is lost
                self._repeats.inc()
                log.info(
                    "%s: listed again under film_id %r; processed once", redact(film.job.video_input), film_id
                )
                continue
            yield self._failure(
                film,
                "DuplicateFilm",
                f"same film_id {film_id!r} and content as {redact(kept.job.video_input)!r}, "
                "with other settings; that row was processed and this one was not",
            )
        yield kept

    def _failure(self, film: ShardedFilm, error_type: str, error: str) -> Any:
        """The failures-output element for ``film``'s row (its uri redacted)."""
        return self._guard.output(
            Failure(
                uri=redact(film.job.video_input),
                film_id=film.film_id,
                stage=STAGE_DEDUPLICATE_FILMS,
                error_type=error_type,
                error=error,
            )
        )


class DeduplicateFilms(beam.PTransform):
    """ShardedFilm -> ``DedupeOutputs(films, failures)`` with one film per film_id.

    Rows that name the same content under one film_id collapse to one (identical rows are logged
    and counted; differing rows leave a ``DuplicateFilm`` failure). One film_id given to different
    content fails every such row (``FilmIdConflict``): writing both would mix two films' outputs.
    """

    def expand(self, films: beam.PCollection) -> DedupeOutputs:
        result = (
            films
            | "KeyByFilmId" >> beam.Map(_by_film_id)
            | "GroupByFilmId" >> beam.GroupByKey()
            | "KeepOnePerFilmId" >> beam.ParDo(_OnePerFilmIdFn()).with_outputs(FAILURES, main="films")
        )
        return DedupeOutputs(films=result.films, failures=result[FAILURES])

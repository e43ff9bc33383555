"""The review report: a page per film written by a DoFn, and the run's index page from the tables.

    (films, scenes, takes rows) --ReportFilms--> OUTPUT/report/<run_id>/<film_id>/index.html,
                                                 OUTPUT/films/<film_id>/<cut_key>.preview.mp4; Failure
    write_run_index(output, run_id)         --> OUTPUT/report/<run_id>/index.html

Films are reported one at a time (``media.review.film_report``); only a film's table rows are
grouped, never two films' audio. The index is written after the pipeline has finished, from the
run's tables and its ``runs`` row, so it holds only rows, never a film. A film whose report
cannot be written becomes a ``failures`` row with stage ``report``; its outputs stand.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import apache_beam as beam

from media import storage
from media.review.film_report import FilmReport, failure_entry, write_film_report
from media.review.html import FilmSummary, RunEntry, run_page_html
from transforms import layout
from transforms.failures import FailureGuard
from transforms.stages import STAGE_REPORT
from transforms.storage_metrics import CountsStorageRetries
from transforms.tables import read_table


def _by_film_id(row: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]]:
    return row["film_id"], row


def report_film(
    output: str,
    run_id: str,
    film: Mapping[str, Any],
    scenes: Iterable[Mapping[str, Any]],
    takes: Iterable[Mapping[str, Any]],
    failures: Iterable[Mapping[str, Any]] = (),
) -> FilmReport:
    """Writes one film's preview and page for run ``run_id`` (``media.review.film_report``) where
    the output layout puts them (``transforms.layout.film_page_paths``)."""
    paths = layout.film_page_paths(output, run_id, film["film_id"], film.get("cut_key"))
    return write_film_report(paths, run_id, film, list(scenes), list(takes), list(failures))


class _ReportFilmFn(CountsStorageRetries, beam.DoFn):
    def __init__(self, output: str, run_id: str) -> None:
        self._output = output
        self._run_id = run_id
        self._pages = beam.metrics.Metrics.counter("talkie", "report_pages")
        self._previews = beam.metrics.Metrics.counter("talkie", "previews_written")
        # A film's report must not stop the others' or the tables; its failures are the main output.
        self._guard = FailureGuard(STAGE_REPORT, warns=True, tag=None)

    def process(self, element: tuple[str, dict[str, Iterable[Any]]]) -> Iterator[Any]:
        film_id, groups = element
        films = list(groups["films"])
        if not films:
            return
        film = films[0]
        with self._guard.catching() as caught:
            report = report_film(self._output, self._run_id, film, groups["scenes"], groups["takes"])
        if caught.error is not None:
            yield self._guard.failure(caught.error, uri=film["uri"], film_id=film_id)
            return
        self._pages.inc()
        if report.preview_written:
            self._previews.inc()


class ReportFilms(beam.PTransform):
    """``(films, scenes, takes)`` rows of one run -> each film's preview and page; ``Failure``s out."""

    def __init__(self, output: str, run_id: str) -> None:
        super().__init__()
        self._output = output
        self._run_id = run_id

    def expand(self, rows: tuple[beam.PCollection, beam.PCollection, beam.PCollection]) -> beam.PCollection:
        films, scenes, takes = rows
        return (
            {
                "films": films | "KeyFilms" >> beam.Map(_by_film_id),
                "scenes": scenes | "KeyScenes" >> beam.Map(_by_film_id),
                "takes": takes | "KeyTakes" >> beam.Map(_by_film_id),
            }
            | "GroupByFilm" >> beam.CoGroupByKey()
            | "WritePages" >> beam.ParDo(_ReportFilmFn(self._output, self._run_id))
        )


# ----------------------------------------------------------------------------- the run's index


def write_run_index(output: str, run_id: str, *, config_hash: str | None = None) -> str:
    """Writes ``OUTPUT/report/<run_id>/index.html`` from the run's tables; returns its URI.

    ``config_hash`` is the checkpoint config's hash when the caller knows it; otherwise it is
    read from the checkpoint the run's options name, when that is readable.
    """
    runs = read_table(output, "runs", run_id=run_id).to_pylist()
    run = runs[0] if runs else {}
    options = json.loads(run["options"]) if run.get("options") else {}
    counts = dict(run.get("counts") or [])
    films = read_table(output, "films", run_id=run_id).to_pylist()
    takes = read_table(output, "takes", run_id=run_id).to_pylist()
    failures = read_table(output, "failures", run_id=run_id).to_pylist()
    takes_by_film = Counter(t["film_id"] for t in takes)
    failures_by_film = Counter(f["film_id"] for f in failures if f.get("film_id"))
    summaries = tuple(
        FilmSummary(
            film_id=f["film_id"],
            href=layout.film_page_href(f["film_id"])
            if storage.exists(layout.film_page_uri(output, run_id, f["film_id"]))
            else None,
            status=f["status"],
            duration_s=f["duration_s"],
            scenes=f["scenes"],
            takes=takes_by_film[f["film_id"]],
            loudness_lufs=f["loudness_lufs"],
            failures=failures_by_film[f["film_id"]],
        )
        for f in films
    )
    checkpoints = sorted({f["checkpoint_sha256"] for f in films if f.get("checkpoint_sha256")})
    audio_ms = counts.get("audio_ms_generated", 0)
    totals = (
        ("films", f"{len(films)} ({sum(f['status'] == 'done' for f in films)} done)"),
        ("scenes", str(sum(f["scenes"] or 0 for f in films))),
        ("takes", str(len(takes))),
        ("audio generated", f"{audio_ms / 3_600_000:.4f} h ({audio_ms / 1000:.1f} s)"),
        ("film audio", f"{sum(f['duration_s'] or 0.0 for f in films if f['status'] == 'done') / 3600:.4f} h"),
        ("failures", str(len(failures))),
    )
    settings = (
        ("checkpoint", str(options.get("checkpoint") or "the shipped model/weights/tiny.safetensors")),
        ("checkpoint SHA-256", ", ".join(checkpoints) or "–"),
        ("config hash", config_hash or _config_hash(options.get("checkpoint"), checkpoints)),
        ("steps", _distinct(takes, "steps")),
        ("text guidance", _distinct(takes, "text_guidance")),
        ("video guidance", _distinct(takes, "video_guidance")),
        ("negative guidance", _distinct(takes, "negative_guidance")),
        *(
            (
                name.replace("_", " "),
                json.dumps(options[name]) if not isinstance(options[name], str) else options[name],
            )
            for name in (
                "crossfade_ms",
                "target_lufs",
                "max_true_peak",
                "score",
                "score_instrument",
                "takes",
                "choices",
            )
            if name in options
        ),
    )
    page = RunEntry(
        run_id=run_id,
        job=run.get("job", "?"),
        started_at=str(run.get("started_at", "–")),
        finished_at=str(run.get("finished_at", "–")),
        code_version=run.get("code_version", "–"),
        settings=settings,
        totals=totals,
        films=summaries,
        failures=tuple(failure_entry(f) for f in failures),
    )
    uri = layout.report_index_uri(output, run_id)
    storage.write_bytes(uri, run_page_html(page).encode("utf-8"))
    return uri


def _distinct(rows: list[dict[str, Any]], column: str) -> str:
    values = sorted({r[column] for r in rows if r.get(column) is not None})
    return ", ".join(str(v) for v in values) or "–"


def _config_hash(checkpoint: str | None, expected_sha256: list[str]) -> str:
    """The config hash of the run's checkpoint, or why it is not known."""
    from transforms.units import describe_checkpoint  # brings torch

    try:
        info = describe_checkpoint(checkpoint)
    except (FileNotFoundError, ValueError, OSError) as exc:
        return f"unknown (checkpoint not readable: {exc})"
    if expected_sha256 and info.sha256 not in expected_sha256:
        return f"unknown (the checkpoint at {checkpoint or 'the default path'} has changed since the run)"
    return info.config.config_hash()

"""What every job's launcher does: run the pipeline to completion, write its runs row, and the
command-line entry (``--help``, exit statuses)."""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, cast

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.runner import PipelineState

from media import storage
from pipelines.options import UsageError, use_s3_flags
from pipelines.provenance import code_version, options_json
from transforms.dedupe import DeduplicateFilms
from transforms.manifest import ReadManifest
from transforms.shard import ProbeAndShard
from transforms.tables import write_table_file


class FailureTally:
    """For job summaries (frozen dataclasses) with a ``failures_by_stage`` field."""

    failures_by_stage: dict[str, int]

    @property
    def failures(self) -> int:
        return sum(self.failures_by_stage.values())

    def failure_counts(self) -> dict[str, int]:
        """{"failures": total, "failures_<stage>": n, ...} for the runs row."""
        by_stage = {f"failures_{stage}": n for stage, n in sorted(self.failures_by_stage.items())}
        return {"failures": self.failures, **by_stage}

    def failure_phrase(self) -> str:
        """E.g. "3 failures (probe_and_shard 2, read_manifest 1)"."""
        stages = ", ".join(f"{stage} {n}" for stage, n in sorted(self.failures_by_stage.items()))
        return f"{self.failures} failures" + (f" ({stages})" if stages else "")


def run_job(
    job: str,
    argv: list[str] | None,
    test_pipeline: beam.Pipeline | None,
    *,
    settings_from: Callable[[PipelineOptions], Any],
    build: Callable[[beam.Pipeline, Any], None],
    summarize: Callable[[str, str], Any],
) -> Any:
    """Runs job ``job`` to completion and returns its summary with the runs row's URI.

    ``settings_from`` checks the job's flags (raising UsageError before anything runs) and gives
    settings with ``output`` and ``run_id``; ``summarize(output, run_id)`` gives a frozen
    dataclass with ``counts()``, ``text()`` and a ``runs_uri`` field.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    options = PipelineOptions(argv)
    use_s3_flags(options)
    settings = settings_from(options)
    started_at = dt.datetime.now(dt.UTC)
    # a crashed run's temporaries; those of writes begun since this run started are left alone
    storage.sweep_temporaries(settings.output, before=started_at.timestamp())
    pipeline = test_pipeline or beam.Pipeline(options=options)
    build(pipeline, settings)
    state = pipeline.run().wait_until_finish()
    if state != PipelineState.DONE:
        raise RuntimeError(f"the {job} pipeline for run {settings.run_id} ended in state {state}, not DONE")
    finished_at = dt.datetime.now(dt.UTC)

    # The runs row is written here, by the launcher, after the pipeline has finished: it needs
    # the finish time and the counts of what the run wrote, which only exist once every output
    # is final. Counts are read back from those outputs rather than taken from metrics, whose
    # support differs between runners. A run that fails leaves no runs row.
    summary = summarize(settings.output, settings.run_id)
    runs_uri = write_table_file(
        settings.output,
        "runs",
        settings.run_id,
        [
            {
                "job": job,
                "started_at": started_at,
                "finished_at": finished_at,
                "code_version": code_version(),
                "options": options_json(pipeline.options, options),
                "counts": summary.counts(),
            }
        ],
    )
    summary = dataclasses.replace(summary, runs_uri=runs_uri)
    print(storage.redact(summary.text()))  # --output may carry credentials
    return summary


def job_main(
    argv: list[str] | None,
    *,
    prog: str,
    description: str,
    run: Callable[[list[str]], Any],
    option_classes: Sequence[type[PipelineOptions]],
) -> int:
    """Command-line entry of a job: ``--help``, or run it. Returns the process exit status
    (2 for a flag that is missing or not accepted)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if "-h" in argv or "--help" in argv:
        parser = argparse.ArgumentParser(
            prog=prog,
            description=description,
            epilog="Any Beam pipeline option (--runner, --direct_num_workers, --setup_file, ...) is passed "
            "to Beam.",
        )
        for options_class in option_classes:
            options_class._add_argparse_args(cast(Any, parser))  # Beam's parser type; plain argparse here
        parser.print_help()
        return 0
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        run(argv)
    except UsageError as exc:
        print(f"{prog}: {storage.redact(str(exc))}", file=sys.stderr)
        return 2
    return 0


class ShardedCollection(NamedTuple):
    films: beam.PCollection  # ShardedFilm, one per distinct film
    failures: tuple[beam.PCollection, ...]  # Failure, from reading, probing and deduplicating


def read_and_shard(pipeline: beam.Pipeline, input_spec: str, min_scene_s: float) -> ShardedCollection:
    """The steps every scene-based job starts with: ReadManifest -> SpreadFilms -> ProbeAndShard
    -> DeduplicateFilms (labels at the top level, as each job had them)."""
    manifest = pipeline | "ReadManifest" >> ReadManifest(input_spec)
    sharded = (
        manifest.jobs
        | "SpreadFilms" >> beam.Reshuffle()  # rows come from one reader: spread them before probing
        | "ProbeAndShard" >> ProbeAndShard(min_scene_s)
    )
    films = sharded.films | "DeduplicateFilms" >> DeduplicateFilms()
    return ShardedCollection(films.films, (manifest.failures, sharded.failures, films.failures))

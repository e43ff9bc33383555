"""The featurize job: a paired audio-visual corpus in, training shards out.

    python -m pipelines.featurize --input GLOB_OR_MANIFEST --output DIR_OR_URI [--preset tiny]
        [--windows_per_film N] [--window_hop_s S] [--shard_size 256] [Beam options]

Any video with a sound track works (foley-world renders from ``python -m model.synth``, or a
user's own sound films). For run R it writes:

    OUTPUT/shards/R-NNNNN.safetensors              training windows (format: model/data.py)
    OUTPUT/meta/failures/R-SSSSS-of-NNNNN.parquet  one row per film, window or shard that failed
    OUTPUT/meta/runs/R-00000-of-00001.parquet      written last, once the pipeline has finished
"""

from __future__ import annotations

import dataclasses
import sys
from collections import Counter
from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from model.config import PRESET_NAMES, ModelConfig, preset
from pipelines.launch import FailureTally, job_main, run_job
from pipelines.options import (
    TalkieIOOptions,
    UsageError,
    input_and_output,
    refuse_reused_run_id,
    run_id_flag,
)
from transforms import layout
from transforms.featurize import CutTrainingWindows, FeaturizeWindows, WriteShards
from transforms.files import match_files
from transforms.manifest import ReadManifest
from transforms.rows import failure_row
from transforms.tables import WriteTable, read_table

JOB = "featurize"


class FeaturizeOptions(PipelineOptions):
    """How films are cut into training windows and grouped into shards."""

    @classmethod
    def _add_argparse_args(cls, parser: Any) -> None:
        parser.add_argument(
            "--preset", default="tiny", help=f"Model config preset, one of {PRESET_NAMES} (default tiny)."
        )
        parser.add_argument(
            "--windows_per_film",
            type=int,
            default=None,
            help="Keep this many windows per film, spread evenly (default: every window).",
        )
        parser.add_argument(
            "--window_hop_s",
            type=float,
            default=None,
            help="Seconds between window starts (default: the config's window minus its overlap).",
        )
        parser.add_argument("--shard_size", type=int, default=256, help="Windows per shard (default 256).")


@dataclasses.dataclass(frozen=True)
class FeaturizeSettings:
    """The job's own flags, checked."""

    input_spec: str
    output: str  # absolute path or URI
    run_id: str
    config: ModelConfig
    windows_per_film: int | None
    hop_s: float | None
    shard_size: int


@dataclasses.dataclass(frozen=True)
class FeaturizeSummary(FailureTally):
    """What one run wrote, read back from its shard headers and failures table."""

    run_id: str
    output: str
    shards: tuple[str, ...]
    windows: int
    films: int
    failures_by_stage: dict[str, int] = dataclasses.field(default_factory=dict)
    runs_uri: str = ""

    def counts(self) -> dict[str, int]:
        return {
            "films": self.films,
            "windows": self.windows,
            "shards": len(self.shards),
            **self.failure_counts(),
        }

    def text(self) -> str:
        return "\n".join(
            [
                f"talkie featurize: run {self.run_id}: {self.films} films, {self.windows} windows in "
                f"{len(self.shards)} shards, {self.failure_phrase()}",
                f"  shards:         {layout.shard_glob(self.output, self.run_id)}",
                f"  failures table: {layout.table_glob(self.output, 'failures', self.run_id)}",
                f"  runs row:       {self.runs_uri}",
            ]
        )


def settings_from(options: PipelineOptions) -> FeaturizeSettings:
    """The job's flags from ``options``; raises UsageError naming a bad one. Reads no film."""
    own = options.view_as(FeaturizeOptions)
    input_spec, output = input_and_output(options)
    try:
        config = preset(own.preset)
    except ValueError as exc:
        raise UsageError(f"--preset: {exc}") from exc
    if own.windows_per_film is not None and own.windows_per_film < 1:
        raise UsageError(
            f"--windows_per_film {own.windows_per_film}: need 1 or more (leave it out for every window)"
        )
    if own.window_hop_s is not None and not 0 < own.window_hop_s < float("inf"):
        raise UsageError(f"--window_hop_s {own.window_hop_s}: need a positive number of seconds")
    if own.shard_size < 1:
        raise UsageError(f"--shard_size {own.shard_size}: need 1 or more windows per shard")
    run_id = run_id_flag(options)
    refuse_reused_run_id(options, output, run_id, layout.shard_glob(output, run_id))
    return FeaturizeSettings(
        input_spec=input_spec,
        output=output,
        run_id=run_id,
        config=config,
        windows_per_film=own.windows_per_film,
        hop_s=own.window_hop_s,
        shard_size=own.shard_size,
    )


def build(pipeline: beam.Pipeline, settings: FeaturizeSettings) -> None:
    """Adds the featurize job's steps to ``pipeline``."""
    config = settings.config
    manifest = pipeline | "ReadManifest" >> ReadManifest(settings.input_spec)
    cut = (
        manifest.jobs
        | "SpreadFilms" >> beam.Reshuffle()
        | "CutTrainingWindows"
        >> CutTrainingWindows(config, windows_per_film=settings.windows_per_film, hop_s=settings.hop_s)
    )
    featurized = (
        cut.windows
        | "SpreadWindows" >> beam.Reshuffle()  # a long film's windows decode on many workers
        | "FeaturizeWindows" >> FeaturizeWindows(config)
    )
    shards = featurized.examples | "WriteShards" >> WriteShards(
        settings.output, settings.run_id, config, windows=cut.windows, shard_size=settings.shard_size
    )
    _ = (
        (manifest.failures, cut.failures, featurized.failures, shards.failures)
        | "AllFailures" >> beam.Flatten()
        | "FailureRows" >> beam.Map(failure_row)
        | "WriteFailures" >> WriteTable(settings.output, "failures", settings.run_id)
    )


def run(argv: list[str] | None = None, test_pipeline: beam.Pipeline | None = None) -> FeaturizeSummary:
    """Runs the job to completion with ``argv`` (job flags and Beam options); returns its summary.

    Raises UsageError, before anything runs, when a job flag is missing or not accepted.
    """
    return run_job(JOB, argv, test_pipeline, settings_from=settings_from, build=build, summarize=summarize)


def summarize(output: str, run_id: str) -> FeaturizeSummary:
    """Counts what run ``run_id`` wrote, from its shard headers (not their tensors) and failures table."""
    from model.data import read_shard_metadata  # brings torch: never at import time

    shards = tuple(match_files(layout.shard_glob(output, run_id)))
    films: set[tuple[str, str]] = set()
    windows = 0
    for uri in shards:
        meta = read_shard_metadata(uri)
        windows += len(meta["film_ids"])
        films.update(zip(meta["film_ids"], meta["uris"]))
    failures = read_table(output, "failures", run_id=run_id)
    return FeaturizeSummary(
        run_id=run_id,
        output=output,
        shards=shards,
        windows=windows,
        films=len(films),
        failures_by_stage=dict(Counter(failures["stage"].to_pylist())),
    )


def main(argv: list[str] | None = None, prog: str = "python -m pipelines.featurize") -> int:
    """Command-line entry: ``--help``, or run the job. Returns the process exit status."""
    return job_main(
        argv,
        prog=prog,
        description="Turn films with sound into training shards: frames, log-mel targets, captions, events.",
        run=run,
        option_classes=[TalkieIOOptions, FeaturizeOptions],
    )


if __name__ == "__main__":
    sys.exit(main())

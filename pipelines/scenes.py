"""The shot-list job: films in, scenes, failures and a CSV + EDL shot list per film out.

    python -m pipelines.scenes --input GLOB_OR_MANIFEST --output DIR_OR_URI [--min_scene_s 0.5] [Beam options]

Writes, for run R (docs/design.md, Contracts, "Output layout"):
    OUTPUT/meta/scenes/R-SSSSS-of-NNNNN.parquet     one row per scene of every film that was cut
    OUTPUT/meta/failures/R-SSSSS-of-NNNNN.parquet   one row per manifest row or film that failed
    OUTPUT/shotlists/<film_id>.csv, .edl            the newest shot list of each film
    OUTPUT/meta/runs/R-00000-of-00001.parquet       written last, once the pipeline has finished
"""

from __future__ import annotations

import dataclasses
import sys
from collections import Counter

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.launch import FailureTally, job_main, read_and_shard, run_job
from pipelines.options import (
    ShardOptions,
    TalkieIOOptions,
    input_and_output,
    min_scene_s_flag,
    refuse_reused_run_id,
    run_id_flag,
)
from transforms import layout
from transforms.rows import failure_row, scene_rows
from transforms.shotlist import WriteShotLists
from transforms.tables import WriteTable, read_table

JOB = "scenes"


@dataclasses.dataclass(frozen=True)
class RunSummary(FailureTally):
    """What one run of the job wrote, read back from its own table files."""

    run_id: str
    output: str
    films: int
    scenes: int
    failures_by_stage: dict[str, int] = dataclasses.field(default_factory=dict)
    runs_uri: str = ""

    def counts(self) -> dict[str, int]:
        return {"films": self.films, "scenes": self.scenes, **self.failure_counts()}

    def text(self) -> str:
        return "\n".join(
            [
                f"talkie scenes: run {self.run_id}: {self.films} films, {self.scenes} scenes, "
                f"{self.failure_phrase()}",
                f"  scenes table:   {layout.table_glob(self.output, 'scenes', self.run_id)}",
                f"  failures table: {layout.table_glob(self.output, 'failures', self.run_id)}",
                f"  shot lists:     {layout.shotlists_pattern(self.output)}",
                f"  runs row:       {self.runs_uri}",
            ]
        )


@dataclasses.dataclass(frozen=True)
class ScenesSettings:
    """The job's own flags, checked."""

    input_spec: str  # manifest or glob, as given
    output: str  # absolute path or URI
    run_id: str
    min_scene_s: float


def settings_from(options: PipelineOptions) -> ScenesSettings:
    """The job's flags from ``options``; raises UsageError naming a bad one. Reads no film."""
    input_spec, output = input_and_output(options)
    min_scene_s = min_scene_s_flag(options)
    run_id = run_id_flag(options)
    refuse_reused_run_id(options, output, run_id)
    return ScenesSettings(input_spec=input_spec, output=output, run_id=run_id, min_scene_s=min_scene_s)


def build(pipeline: beam.Pipeline, settings: ScenesSettings) -> None:
    """Adds the shot-list job's steps to ``pipeline``."""
    output, run_id = settings.output, settings.run_id
    collection = read_and_shard(pipeline, settings.input_spec, settings.min_scene_s)
    _ = (
        collection.films
        | "SceneRows" >> beam.FlatMap(scene_rows)
        | "WriteScenes" >> WriteTable(output, "scenes", run_id)
    )
    shotlists = collection.films | "WriteShotLists" >> WriteShotLists(output)
    _ = (
        (*collection.failures, shotlists.failures)
        | "AllFailures" >> beam.Flatten()
        | "FailureRows" >> beam.Map(failure_row)
        | "WriteFailures" >> WriteTable(output, "failures", run_id)
    )


def run(argv: list[str] | None = None, test_pipeline: beam.Pipeline | None = None) -> RunSummary:
    """Runs the job to completion with ``argv`` (job flags and Beam options); returns its summary.

    Raises UsageError, before anything runs, when a job flag is missing or not accepted.
    """
    return run_job(JOB, argv, test_pipeline, settings_from=settings_from, build=build, summarize=summarize)


def summarize(output: str, run_id: str) -> RunSummary:
    """Counts what run ``run_id`` wrote to the scenes and failures tables."""
    scenes = read_table(output, "scenes", run_id=run_id)
    failures = read_table(output, "failures", run_id=run_id)
    return RunSummary(
        run_id=run_id,
        output=output,
        films=len(set(scenes["film_id"].to_pylist())),
        scenes=scenes.num_rows,
        failures_by_stage=dict(Counter(failures["stage"].to_pylist())),
    )


def main(argv: list[str] | None = None, prog: str = "python -m pipelines.scenes") -> int:
    """Command-line entry: ``--help``, or run the job. Returns the process exit status."""
    return job_main(
        argv,
        prog=prog,
        description="Cut films into scenes: a scenes table, a failures table and a CSV + EDL shot list "
        "per film.",
        run=run,
        option_classes=[TalkieIOOptions, ShardOptions],
    )


if __name__ == "__main__":
    sys.exit(main())

"""Pipeline options shared by Talkie's jobs.

Beam gathers the flags of every PipelineOptions subclass it has seen into one parser, so a flag
may be declared by one class only: the jobs share these classes rather than each declaring
``--input``.
"""

from __future__ import annotations

from typing import Any

from apache_beam.options.pipeline_options import PipelineOptions

from media import storage
from transforms import layout
from transforms.files import absolute_uri, match_files
from transforms.manifest import ACCEPTED_INPUTS
from transforms.shard import validate_min_scene_s
from transforms.storage_options import s3_storage_options
from transforms.tables import new_run_id, validate_run_id


class TalkieIOOptions(PipelineOptions):
    """Where a job reads its films and writes its outputs."""

    @classmethod
    def _add_argparse_args(cls, parser: Any) -> None:
        parser.add_argument(
            "--input",
            help="A manifest (.jsonl, .csv, .parquet, .json), or a video file or glob of video "
            "files; local or any fsspec URI.",
        )
        parser.add_argument("--output", help="The output folder, local or a URI such as gs://bucket/talkie.")
        parser.add_argument(
            "--run_id",
            default=None,
            help="This run's id, e.g. 20261126T081710Z-1a2b3c4d; a new one by default.",
        )


class ShardOptions(PipelineOptions):
    """How films are cut into scenes."""

    @classmethod
    def _add_argparse_args(cls, parser: Any) -> None:
        parser.add_argument(
            "--min_scene_s",
            type=float,
            default=0.5,
            help="The shortest scene, in seconds (default 0.5).",
        )


class UsageError(ValueError):
    """A job flag is missing or not accepted; the message names it and what it accepts."""


def require(value: str | None, flag: str, accepted: str) -> str:
    """``value``, or a UsageError naming the missing flag and what it accepts."""
    if not value:
        raise UsageError(f"{flag} is required: {accepted}")
    return value


def input_and_output(options: PipelineOptions) -> tuple[str, str]:
    """(--input as given, --output as an absolute path or URI); UsageError when one is missing."""
    io_options = options.view_as(TalkieIOOptions)
    input_spec = require(io_options.input, "--input", f"it accepts {ACCEPTED_INPUTS}")
    output = absolute_uri(
        require(io_options.output, "--output", "a local folder or a URI such as gs://bucket/out")
    )
    return input_spec, output


def use_s3_flags(options: PipelineOptions) -> None:
    """Beam's --s3_* flags (S3Options) for this process's own s3:// reads and writes too, as for
    Beam's Parquet sinks; without them, the AWS environment (AWS_* variables, profiles) decides.
    Workers follow the flags of the pipeline they run (``transforms.storage_options``)."""
    storage.configure_s3(s3_storage_options(options))


def min_scene_s_flag(options: PipelineOptions) -> float:
    """--min_scene_s checked."""
    try:
        return validate_min_scene_s(options.view_as(ShardOptions).min_scene_s)
    except ValueError as exc:  # the message begins with the flag's name
        raise UsageError(f"--{exc}") from exc


def run_id_flag(options: PipelineOptions) -> str:
    """--run_id checked, or a new run id when it is not given."""
    run_id = options.view_as(TalkieIOOptions).run_id
    try:
        return validate_run_id(run_id) if run_id else new_run_id()
    except ValueError as exc:  # the message begins with the flag's name
        raise UsageError(f"--{exc}") from exc


def refuse_reused_run_id(options: PipelineOptions, output: str, run_id: str, *globs: str) -> None:
    """A UsageError when --run_id was given and ``output`` already holds files of that run: its
    tables, or anything matching ``globs`` (the run's other files, from ``transforms.layout``)."""
    if options.view_as(TalkieIOOptions).run_id:
        refuse_run_id_in_use(output, run_id, *globs)


def refuse_run_id_in_use(output: str, run_id: str, *globs: str) -> None:
    """A UsageError when ``output`` already holds files of run ``run_id`` (see ``refuse_reused_run_id``)."""
    for glob in (*globs, layout.table_glob(output, "*", run_id)):
        used = match_files(glob)
        if used:
            raise UsageError(
                f"--run_id {run_id} was already used in {storage.redact(output)} "
                f"({storage.redact(used[0])}); a run never "
                "rewrites another run's files"
            )

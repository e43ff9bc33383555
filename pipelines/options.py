"""Pipeline options shared by Talkie's jobs.

Beam gathers the flags of every PipelineOptions subclass it has seen into one parser, so a flag
may be declared by one class only: the jobs share these classes rather than each declaring
``--input``.
"""
from __future__ import annotations

from apache_beam.options.pipeline_options import PipelineOptions


class TalkieIOOptions(PipelineOptions):
    """Where a job reads its films and writes its outputs."""

    @classmethod
    def _add_argparse_args(cls, parser) -> None:
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
    def _add_argparse_args(cls, parser) -> None:
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

"""The restore job: silent films in, generated soundtracks, playable videos and metadata out.

    python -m pipelines.restore --input GLOB_OR_MANIFEST_OR_JOB_JSON --output DIR_OR_URI
        [--checkpoint URI] [--takes N] [--steps S] [--positive_prompt ...] [--negative_prompt ...]
        [--text_guidance G] [--video_guidance G] [--negative_guidance G] [--sampler euler|heun]
        [--vocoder auto|vocos|griffin-lim] [--batch_size B] [--force] [--rechoose]
        [--video_decode cpu|cuda] [--crossfade_ms 10] [--target_lufs -23] [--max_true_peak -1]
        [--score auto|on|off] [--score_instrument piano|organ|orchestra]
        [--min_scene_s 0.5] [Beam options]

    ReadManifest -> Reshuffle -> ProbeAndShard -> DeduplicateFilms -> PlanUnits -> SkipDone
      -> DecodeWindows (groups a scene's takes: one decode, spread over workers)
      -> GenerateAudio (RunInference; each unit's stem, then its ledger object, published at once)
      -> AssembleFilms (per scene the curator's chosen take, else the best by sync score;
                        sample-accurate track, the score where a cue asks for music, loudness,
                        FLAC + MKV, and a scored film's two stems)
      -> WriteTable (films, scenes, takes, failures)
      -> ReportFilms (per film: a browser preview and a review page; the run's index once finished)

Writes, for run R (docs/design.md, Contracts, "Output layout"; the paths come from transforms/layout.py):
    OUTPUT/audio/<film_id>/<unit_key>.flac          one 48 kHz stem per take of each scene
    OUTPUT/ledger/<film_id>/<unit_key>.json         one per finished unit: a rerun skips it
    OUTPUT/films/<film_id>/<cut_key>.flac, .mkv     the film's track (the mix) and the video with it
    OUTPUT/films/<film_id>/<cut_key>.effects.flac, .score.flac
                                                    a scored film's stems: the generated sound alone
                                                    and the music alone (films with music only)
    OUTPUT/films/<film_id>/<cut_key>.preview.mp4    a reduced H.264/AAC preview that browsers play
    OUTPUT/report/R/index.html, R/<film_id>/...     the review report (transforms/report.py)
    OUTPUT/meta/{films,scenes,takes,failures}/R-SSSSS-of-NNNNN.parquet
    OUTPUT/meta/runs/R-00000-of-00001.parquet       written last, once the pipeline has finished
"""

from __future__ import annotations

import dataclasses
import logging
import math
import sys
import time
from collections import Counter
from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from media.decode import check_video_decode
from media.storage import redact
from pipelines.launch import FailureTally, job_main, read_and_shard, run_job
from pipelines.options import (
    ShardOptions,
    TalkieIOOptions,
    UsageError,
    input_and_output,
    min_scene_s_flag,
    refuse_reused_run_id,
    run_id_flag,
)
from transforms import layout, progress
from transforms.assemble import STATUS_DONE, AssembleFilms, AssemblySettings
from transforms.generate import DecodeWindows, GenerateAudio, PlanUnits, SkipDone
from transforms.ledger import ledger_object
from transforms.manifest import MAX_TAKES, ManifestError, clean_prompt
from transforms.report import ReportFilms, write_run_index
from transforms.rows import failure_row
from transforms.score import ScoreSettings
from transforms.tables import WriteTable, read_table
from transforms.units import GenerationSettings

log = logging.getLogger(__name__)

JOB = "restore"
DEFAULT_BATCH_SIZE = 8
SHOWN_FILMS = 10  # films whose output paths the summary lists


class RestoreOptions(PipelineOptions):
    """What the restore job generates and how it assembles it."""

    @classmethod
    def _add_argparse_args(cls, parser: Any) -> None:
        parser.add_argument(
            "--checkpoint",
            default=None,
            help="A Talkie .safetensors checkpoint, local or any fsspec URI (default: the shipped "
            "model/weights/tiny.safetensors).",
        )
        parser.add_argument(
            "--takes",
            type=int,
            default=1,
            help=f"Takes per scene, 1 to {MAX_TAKES}, unless a manifest row gives 'takes' (default 1).",
        )
        parser.add_argument(
            "--steps", type=int, default=None, help="Sampler steps (default: the checkpoint's)."
        )
        parser.add_argument(
            "--positive_prompt",
            default=None,
            help="The prompt for films whose manifest row and scene overrides give none.",
        )
        parser.add_argument(
            "--negative_prompt",
            default=None,
            help="The negative prompt where the manifest gives none (default: the "
            "checkpoint's; the shipped one has none; '' for none).",
        )
        parser.add_argument(
            "--text_guidance",
            type=float,
            default=None,
            help="Text guidance scale (default: the checkpoint's).",
        )
        parser.add_argument(
            "--video_guidance",
            type=float,
            default=None,
            help="Video guidance scale (default: the checkpoint's).",
        )
        parser.add_argument(
            "--negative_guidance",
            type=float,
            default=None,
            help="How hard the negative prompt pushes away (default: the checkpoint's; 0 ignores it).",
        )
        parser.add_argument("--sampler", default=None, help="euler or heun (default: the checkpoint's).")
        parser.add_argument(
            "--batch_size",
            type=int,
            default=DEFAULT_BATCH_SIZE,
            help="Model windows per generate call, padded to this fixed shape "
            f"(default {DEFAULT_BATCH_SIZE}).",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            default=False,
            help="Generate and write every unit and film again, even those already finished.",
        )
        parser.add_argument(
            "--rechoose",
            action="store_true",
            default=False,
            help="Pick every scene's take by sync score again, dropping the takes chosen with "
            "talkie choose (kept by default while the scene's prompts and settings are unchanged).",
        )
        parser.add_argument(
            "--video_decode",
            default="cpu",
            help="cpu (FFmpeg threads, the default) or cuda (NVDEC through PyAV, falling back to the CPU).",
        )
        parser.add_argument(
            "--crossfade_ms",
            type=float,
            default=10.0,
            help="Crossfade at each cut, in milliseconds (default 10).",
        )
        parser.add_argument(
            "--target_lufs",
            type=float,
            default=-23.0,
            help="Integrated loudness of each film track (default -23).",
        )
        parser.add_argument(
            "--max_true_peak", type=float, default=-1.0, help="True-peak ceiling in dBTP (default -1)."
        )
        parser.add_argument(
            "--vocoder",
            default="auto",
            help="auto (the default: the shipped Vocos, 24 kHz with the band to 12 kHz, when it reads the "
            "checkpoint's log-mel, else Griffin-Lim), vocos, or griffin-lim (no weights, 8 kHz band).",
        )
        parser.add_argument(
            "--score",
            default="auto",
            help="auto (the default: a scene gets music where its prompt names music, an instrument "
            "or a mood, and its negative prompt does not name music), on (every scene) or off.",
        )
        parser.add_argument(
            "--score_instrument",
            default=None,
            help="piano, organ or orchestra (default: the instrument the prompt names, else piano).",
        )


@dataclasses.dataclass(frozen=True)
class RestoreSettings:
    """The job's own flags, checked, and what was read from the checkpoint."""

    input_spec: str
    output: str  # absolute path or URI
    run_id: str
    min_scene_s: float
    generation: GenerationSettings
    assembly: AssemblySettings
    score: ScoreSettings
    batch_size: int
    force: bool
    video_decode: str
    rechoose: bool = False  # drop the takes curators chose (transforms.assemble.curator_choices)


@dataclasses.dataclass(frozen=True)
class RestoreSummary(FailureTally):
    """What one run wrote, read back from its tables and ledger objects."""

    run_id: str
    output: str
    films: int  # films row written by this run
    films_done: int
    scenes: int
    takes: int
    units_generated: int
    units_skipped: int
    audio_s_generated: float
    film_audio_s: float
    wall_s: float
    failures_by_stage: dict[str, int] = dataclasses.field(default_factory=dict)
    film_outputs: tuple[tuple[str, str, str], ...] = ()  # (film_id, flac_uri, video_uri)
    film_stems: tuple[tuple[str, str, str], ...] = ()  # scored films: (film_id, effects, score FLAC)
    runs_uri: str = ""

    def counts(self) -> dict[str, int]:
        return {
            "films": self.films,
            "films_done": self.films_done,
            "scenes": self.scenes,
            "takes": self.takes,
            "units_generated": self.units_generated,
            "units_skipped": self.units_skipped,
            "audio_ms_generated": round(self.audio_s_generated * 1000),
            "film_audio_ms": round(self.film_audio_s * 1000),
            **self.failure_counts(),
        }

    def text(self) -> str:
        rate = self.audio_s_generated / self.wall_s if self.wall_s > 0 else 0.0
        lines = [
            f"talkie restore: run {self.run_id}: {self.films_done}/{self.films} films assembled, "
            f"{self.scenes} scenes, "
            f"{self.units_generated} units generated and {self.units_skipped} skipped, "
            f"{self.audio_s_generated:.1f} s of audio generated in {self.wall_s:.1f} s "
            f"({rate:.2f} audio-s/s), "
            f"{self.film_audio_s:.1f} s of film tracks, {self.failure_phrase()}",
        ]
        shown = self.film_outputs[:SHOWN_FILMS]
        stems = {film_id: (effects, score) for film_id, effects, score in self.film_stems}
        for film_id, flac, video in shown:
            pad = " " * len(film_id)
            lines += [f"  {film_id}: {flac}", f"  {pad}  {video}"]
            if film_id in stems:
                lines += [f"  {pad}  {stems[film_id][0]}", f"  {pad}  {stems[film_id][1]}"]
        if len(self.film_outputs) > len(shown):
            lines.append(
                f"  ... and {len(self.film_outputs) - len(shown)} more films under "
                f"{layout.films_pattern(self.output)}"
            )
        lines += [
            "  films, scenes, takes tables: "
            f"{layout.table_glob(self.output, '{films,scenes,takes}', self.run_id)}",
            f"  failures table: {layout.table_glob(self.output, 'failures', self.run_id)}",
            f"  stems:          {layout.stems_pattern(self.output)}",
            f"  score stems:    {len(self.film_stems)} films with music: "
            f"{layout.film_stems_pattern(self.output)}",
            f"  runs row:       {self.runs_uri}",
        ]
        return "\n".join(lines)


def settings_from(options: PipelineOptions) -> RestoreSettings:
    """The job's flags from ``options``, and the checkpoint's hash and config; raises UsageError
    naming a bad flag. Reads no film."""
    from transforms.units import describe_checkpoint, vocoder_fields  # brings torch

    own = options.view_as(RestoreOptions)
    input_spec, output = input_and_output(options)
    min_scene_s = min_scene_s_flag(options)
    run_id = run_id_flag(options)
    try:
        check_video_decode(own.video_decode)
    except ValueError as exc:  # the message begins with the flag's name
        raise UsageError(f"--{exc}") from exc
    if own.batch_size < 1:
        raise UsageError(f"--batch_size {own.batch_size}: need 1 or more windows per generate call")
    if not (math.isfinite(own.crossfade_ms) and 0 <= own.crossfade_ms <= 1000):
        raise UsageError(f"--crossfade_ms {own.crossfade_ms}: need 0 to 1000 milliseconds")
    try:
        positive = clean_prompt(own.positive_prompt, "--positive_prompt")
        negative = clean_prompt(own.negative_prompt, "--negative_prompt")
    except ManifestError as exc:
        raise UsageError(str(exc)) from exc
    try:
        checkpoint = describe_checkpoint(own.checkpoint)
    except (FileNotFoundError, ValueError, OSError) as exc:
        raise UsageError(f"--checkpoint {own.checkpoint or '(default)'}: {exc}") from exc
    sampler = checkpoint.config.sampler
    try:
        generation = GenerationSettings(
            checkpoint=own.checkpoint,
            checkpoint_sha256=checkpoint.sha256,
            config=checkpoint.config,
            steps=sampler.steps if own.steps is None else own.steps,
            text_guidance=sampler.text_guidance if own.text_guidance is None else own.text_guidance,
            video_guidance=sampler.video_guidance if own.video_guidance is None else own.video_guidance,
            negative_guidance=sampler.negative_guidance
            if own.negative_guidance is None
            else own.negative_guidance,
            sampler=sampler.sampler if own.sampler is None else own.sampler,
            **vocoder_fields(checkpoint.config, own.vocoder),
            takes=own.takes,
            positive_prompt=positive,
            negative_prompt=negative,
        )
        assembly = AssemblySettings.from_flags(own.crossfade_ms, own.target_lufs, own.max_true_peak)
        score = ScoreSettings(mode=own.score, instrument=own.score_instrument)
    except ValueError as exc:  # the messages begin with the setting's name
        raise UsageError(f"--{exc}") from exc
    check_score_available(score)
    refuse_reused_run_id(options, output, run_id)
    return RestoreSettings(
        input_spec=input_spec,
        output=output,
        run_id=run_id,
        min_scene_s=min_scene_s,
        generation=generation,
        assembly=assembly,
        score=score,
        batch_size=own.batch_size,
        force=bool(own.force),
        video_decode=own.video_decode,
        rechoose=bool(own.rechoose),
    )


def check_score_available(score: ScoreSettings) -> None:
    """With --score on, a UsageError when FluidSynth or the soundfont is missing (naming what to
    install); with auto, a warning (films whose prompts ask for music will fail at assembly, with
    the same message, and the others are made as usual); nothing with off."""
    if score.mode == "off":
        return
    from media.score import ScoreUnavailable, score_identity

    try:
        score_identity()
    except ScoreUnavailable as exc:
        if score.mode == "on":
            raise UsageError(f"--score on: {exc}") from exc
        log.warning("--score auto: %s; films whose prompts ask for music will fail at assembly", exc)


def build(pipeline: beam.Pipeline, settings: RestoreSettings) -> None:
    """Adds the restore job's steps to ``pipeline``."""
    output, run_id, generation = settings.output, settings.run_id, settings.generation
    collection = read_and_shard(pipeline, settings.input_spec, settings.min_scene_s)
    planned = collection.films | "PlanUnits" >> PlanUnits(generation)
    skipped = planned.units | "SkipDone" >> SkipDone(output, force=settings.force)
    decoded = skipped.to_do | "DecodeWindows" >> DecodeWindows(generation, settings.video_decode)
    generated = decoded.frames | "GenerateAudio" >> GenerateAudio(
        generation, output, run_id, batch_size=settings.batch_size
    )
    takes = (skipped.done, generated.takes) | "AllTakes" >> beam.Flatten()
    assembled = (planned.plans, takes) | "AssembleFilms" >> AssembleFilms(
        output,
        generation,
        settings.assembly,
        score=settings.score,
        force=settings.force,
        rechoose=settings.rechoose,
    )
    _ = assembled.films | "WriteFilms" >> WriteTable(output, "films", run_id)
    _ = assembled.scenes | "WriteScenes" >> WriteTable(output, "scenes", run_id)
    _ = assembled.takes | "WriteTakes" >> WriteTable(output, "takes", run_id)
    reported = (assembled.films, assembled.scenes, assembled.takes) | "ReportFilms" >> ReportFilms(
        output, run_id
    )
    _ = (
        (
            *collection.failures,
            planned.failures,
            decoded.failures,
            generated.failures,
            assembled.failures,
            reported,
        )
        | "AllFailures" >> beam.Flatten()
        | "FailureRows" >> beam.Map(failure_row)
        | "WriteFailures" >> WriteTable(output, "failures", run_id)
    )


def run(argv: list[str] | None = None, test_pipeline: beam.Pipeline | None = None) -> RestoreSummary:
    """Runs the job to completion with ``argv`` (job flags and Beam options); returns its summary.

    Raises UsageError, before anything runs, when a job flag is missing or not accepted.
    """
    started = time.monotonic()
    progress.reset()

    checked: list[RestoreSettings] = []

    def summarize_run(output: str, run_id: str) -> RestoreSummary:
        return summarize(output, run_id, wall_s=time.monotonic() - started)

    def settings_kept(options: PipelineOptions) -> RestoreSettings:
        checked.append(settings_from(options))
        return checked[-1]

    summary = run_job(
        JOB, argv, test_pipeline, settings_from=settings_kept, build=build, summarize=summarize_run
    )
    # The run's review index is built from its tables, so it is written once they are final.
    index = write_run_index(
        summary.output, summary.run_id, config_hash=checked[-1].generation.config.config_hash()
    )
    print(f"  review report:  {redact(index)}")  # --output may carry credentials
    return summary


def summarize(output: str, run_id: str, *, wall_s: float = 0.0) -> RestoreSummary:
    """Counts what run ``run_id`` wrote: its table rows, and which of its takes it generated
    (their ledger objects name the run) rather than found finished."""
    films = read_table(output, "films", run_id=run_id).to_pylist()
    scenes = read_table(output, "scenes", run_id=run_id)
    takes = read_table(output, "takes", run_id=run_id).to_pylist()
    failures = read_table(output, "failures", run_id=run_id)
    generated, audio_s = 0, 0.0
    for take in takes:
        record = ledger_object(output, take["film_id"], take["unit_key"]) or {}
        if record.get("run_id") == run_id:
            generated += 1
            audio_s += record["samples"] / record["sample_rate"]
    done = [f for f in films if f["status"] == STATUS_DONE]
    return RestoreSummary(
        run_id=run_id,
        output=output,
        films=len(films),
        films_done=len(done),
        scenes=scenes.num_rows,
        takes=len(takes),
        units_generated=generated,
        units_skipped=len(takes) - generated,
        audio_s_generated=audio_s,
        film_audio_s=sum(f["duration_s"] or 0.0 for f in done),
        wall_s=wall_s,
        failures_by_stage=dict(Counter(failures["stage"].to_pylist())),
        film_outputs=tuple(sorted((f["film_id"], f["flac_uri"], f["video_uri"]) for f in done)),
        film_stems=tuple(
            sorted(
                (f["film_id"], f["effects_flac_uri"], f["score_flac_uri"])
                for f in done
                if f["score_flac_uri"] and f["effects_flac_uri"]
            )
        ),
    )


def main(argv: list[str] | None = None, prog: str = "python -m pipelines.restore") -> int:
    """Command-line entry: ``--help``, or run the job. Returns the process exit status."""
    return job_main(
        argv,
        prog=prog,
        description="Give silent films a generated soundtrack: per-take FLAC stems, a FLAC track and an "
        "MKV per film (with a score where the prompts ask for music, and its effects and score stems), "
        "and films, scenes, takes and failures tables.",
        run=run,
        option_classes=[TalkieIOOptions, ShardOptions, RestoreOptions],
    )


if __name__ == "__main__":
    sys.exit(main())

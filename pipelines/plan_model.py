"""``talkie plan``'s estimate: the restore job's work on a collection, and its wall time and cost.

    FilmWork (per film, from its probe) --totals--> Work --estimate(rates)--> Estimate

Work is counted in the units the restore job's stages scale with (``bench/pipeline.py`` times each):
film-seconds for shot listing, decoding, assembly and the review report; audio-seconds (film
seconds x takes) for generation and stems. A target's rates are those units per wall-second on
one worker; ``fixed_s`` is what a run costs whatever its size (imports, checkpoint hash, model
loads). The job's wall time on ``workers`` workers is

    fixed_s + pipeline_factor * sum(stage work / stage rate) / min(workers, films)

with generation scaled by ``steps / rate_steps`` (the sampler's steps dominate a window) and, on a
CPU, by 4/3 for audio whose prompt has a negative prompt (the guided sampler adds a fourth row
there; on CUDA every batch has all four rows). A target may give generation per generate call
instead (``generate_s_per_batch``: seconds for one call of up to ``--batch_size`` windows, which
the local calibration measures): then generation is ceil(windows / batch size) calls. On 2 CPU
cores a call of the shipped model costs about the same for 1 to 8 windows (5.7-6.0 s at 20 steps,
2026-12-07), so there the cost follows the calls, not the audio-seconds. Rates come from
``pipelines/targets.toml`` (figures
measured in this project, with their dates) or, for ``local``, from a calibration run on this
machine (``pipelines.plan_calibrate``). Pure Python: no torch, no Beam.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TARGETS_FILE = Path(__file__).with_name("targets.toml")
TARGETS_SCHEMA = "talkie.targets/1"
CALIBRATED = "calibration"  # a target whose rates come from the local calibration run

# stage -> (rate key, unit of work); the order is the restore job's
STAGES: dict[str, tuple[str, str]] = {
    "shot listing": ("shots_film_s_per_s", "film_s"),
    "decode": ("decode_film_s_per_s", "film_s"),
    "generation": ("generate_audio_s_per_s", "audio_s"),
    "stems": ("stems_audio_s_per_s", "audio_s"),
    "films": ("films_film_s_per_s", "film_s"),
    "score": ("score_film_s_per_s", "music_film_s"),
    "report": ("report_film_s_per_s", "film_s"),
}
PER_BATCH = "generate_s_per_batch"  # optional: generation per generate call (module docstring)
NEGATIVE_ROW_COST = 4 / 3  # CPU: 3 guidance rows a window, 4 with a negative prompt (docs/design.md)


class TargetsError(ValueError):
    """The targets file, or a target in it, cannot be used; the message names the value."""


@dataclass(frozen=True)
class FilmWork:
    """One film as the restore job would see it, from its container's header (no decoding)."""

    uri: str
    film_id: str | None  # the row's; None: derived from the file's bytes by the job
    duration_s: float
    frames: int
    fps: float
    width: int
    height: int
    codec: str
    duration_from: str  # "header" or "packets" (the header had no duration)
    takes: int
    scenes: float  # estimated: duration / mean scene length, at least 1
    windows_per_take: float  # model windows of one take of every estimated scene
    negative: bool  # its row (or the command line) gives a negative prompt
    music: bool  # its prompt asks for the score (--score auto), or --score on

    @property
    def audio_s(self) -> float:
        return self.duration_s * self.takes


@dataclass(frozen=True)
class Work:
    """A collection's totals."""

    films: int
    film_s: float
    frames: int
    scenes: float
    units: float  # scenes x takes
    windows: float  # units x windows per unit
    audio_s: float  # seconds of audio to generate: film seconds x takes
    negative_audio_s: float
    music_film_s: float
    takes: tuple[int, ...]  # the distinct takes per film

    def amount(self, unit: str) -> float:
        return {"film_s": self.film_s, "audio_s": self.audio_s, "music_film_s": self.music_film_s}[unit]


def totals(films: Sequence[FilmWork]) -> Work:
    return Work(
        films=len(films),
        film_s=sum(f.duration_s for f in films),
        frames=sum(f.frames for f in films),
        scenes=sum(f.scenes for f in films),
        units=sum(f.scenes * f.takes for f in films),
        windows=sum(f.takes * f.windows_per_take for f in films),
        audio_s=sum(f.audio_s for f in films),
        negative_audio_s=sum(f.audio_s for f in films if f.negative),
        music_film_s=sum(f.duration_s for f in films if f.music),
        takes=tuple(sorted({f.takes for f in films})),
    )


def estimated_scenes(duration_s: float, mean_scene_s: float, min_scene_s: float) -> float:
    """Expected scenes of a film: its duration over the mean scene length, at least 1 and at
    most what ``--min_scene_s`` allows."""
    return max(1.0, min(duration_s / mean_scene_s, math.floor(duration_s / min_scene_s)))


def windows_per_scene(scene_s: float, fps: int, window_frames: int, stride_frames: int) -> int:
    """Windows of a scene of ``scene_s`` seconds: ``transforms.units.plan_unit_windows``' count
    (frames = ceil(scene_s * fps); windows every ``stride_frames`` until one reaches the end)."""
    frames = max(1, math.ceil(scene_s * fps))
    if frames <= window_frames:
        return 1
    return 1 + math.ceil((frames - window_frames) / stride_frames)


# ----------------------------------------------------------------------------- targets


@dataclass(frozen=True)
class Target:
    """One row of the targets table: where the job would run, its rates, and what it costs."""

    name: str
    description: str
    device: str  # "cpu" or "cuda": whether a negative prompt costs a fourth row
    workers: int
    price_per_hour: float | None  # per worker, in the file's currency; None: not set
    currency: str
    rates: Mapping[str, Any]  # rate key -> number, or a string naming the figure that includes it
    fixed_s: float | str | None
    pipeline_factor: float
    rate_steps: int | None
    rate_batch_size: int | None
    measured: str | None  # the date(s) of the figures
    source: str | None  # where they were measured (docs/benchmarks.md section)
    note: str | None = None


def load_targets(path: str | Path | None = None) -> tuple[dict[str, Target], dict[str, Any]]:
    """(targets by name, the ``[scenes]`` table) from ``path`` (default: the shipped targets.toml)."""
    file = Path(path) if path is not None else TARGETS_FILE
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TargetsError(f"targets file {str(file)!r} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise TargetsError(f"targets file {str(file)!r} is not valid TOML: {exc}") from exc
    if data.get("schema") != TARGETS_SCHEMA:
        raise TargetsError(
            f"targets file {str(file)!r}: schema {data.get('schema')!r}; expected {TARGETS_SCHEMA!r}"
        )
    scenes = data.get("scenes", {})
    mean = scenes.get("mean_scene_s")
    if not _positive(mean):
        raise TargetsError(
            f"targets file {str(file)!r}: [scenes] mean_scene_s {mean!r} must be a positive number"
        )
    rows = data.get("targets")
    if not isinstance(rows, dict) or not rows:
        raise TargetsError(f"targets file {str(file)!r} has no [targets.NAME] tables")
    return {name: _target(name, row, file) for name, row in rows.items()}, scenes


def _target(name: str, row: Any, file: Path) -> Target:
    where = f"targets file {str(file)!r}, [targets.{name}]"
    if not isinstance(row, dict):
        raise TargetsError(f"{where} must be a table")
    device = row.get("device", "cpu")
    if device not in ("cpu", "cuda"):
        raise TargetsError(f"{where}: device {device!r} must be 'cpu' or 'cuda'")
    workers = row.get("workers", 1)
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise TargetsError(f"{where}: workers {workers!r} must be a whole number >= 1")
    price = row.get("price_per_hour")
    if price is not None and not (_positive(price) or price == 0):
        raise TargetsError(f"{where}: price_per_hour {price!r} must be a number >= 0 (or left out)")
    rates = row.get("rates", {})
    if rates != CALIBRATED:
        if not isinstance(rates, dict):
            raise TargetsError(f"{where}: rates must be {CALIBRATED!r} or a table of rates")
        for key, value in rates.items():
            if key not in {k for k, _ in STAGES.values()}:
                raise TargetsError(
                    f"{where}: unknown rate {key!r}; rates are {[k for k, _ in STAGES.values()]}"
                )
            if not (_positive(value) or isinstance(value, str)):
                raise TargetsError(f"{where}: rate {key} {value!r} must be a positive number or a note")
        rates = dict(rates)
    factor = row.get("pipeline_factor", 1.0)
    if not _positive(factor):
        raise TargetsError(f"{where}: pipeline_factor {factor!r} must be a positive number")
    return Target(
        name=name,
        description=str(row.get("description", "")),
        device=device,
        workers=workers,
        price_per_hour=None if price is None else float(price),
        currency=str(row.get("currency", "")),
        rates=rates if isinstance(rates, dict) else {CALIBRATED: True},
        fixed_s=row.get("fixed_s"),
        pipeline_factor=float(factor),
        rate_steps=row.get("rate_steps"),
        rate_batch_size=row.get("rate_batch_size"),
        measured=row.get("measured"),
        source=row.get("source"),
        note=row.get("note"),
    )


def _positive(value: Any) -> bool:
    return (
        isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    )


# ----------------------------------------------------------------------------- the estimate


@dataclass(frozen=True)
class Estimate:
    """The job's wall time (and cost) on one target, or why there is none (``missing``)."""

    target: str
    stage_s: dict[str, float]  # per stage, on one worker, before the pipeline factor
    fixed_s: float
    wall_s: float | None
    worker_hours: float | None
    cost: float | None
    missing: tuple[str, ...] = ()  # rates the target does not give
    notes: tuple[str, ...] = field(default_factory=tuple)


def estimate(
    work: Work, target: Target, rates: Mapping[str, Any], *, steps: int, batch_size: int
) -> Estimate:
    """``work``'s wall time on ``target`` with ``rates`` (the target's, or the calibration's for
    ``local``): the module docstring's formula. A rate that is a string is included in another
    figure (its stage costs 0 here); a missing rate leaves the estimate out and is named."""
    notes: list[str] = []
    stage_s: dict[str, float] = {}
    missing: list[str] = []
    for stage, (key, unit) in STAGES.items():
        value = rates.get(key)
        amount = work.amount(unit)
        if isinstance(value, str):
            stage_s[stage] = 0.0
            continue
        if value is None:
            if amount > 0:
                missing.append(key)
            continue
        seconds = amount / float(value)
        if stage == "generation":
            per_batch = rates.get(PER_BATCH)
            if isinstance(per_batch, (int, float)):
                seconds = _batched_generation_s(work, float(per_batch), target, steps, batch_size, notes)
            else:
                seconds = _generation_s(work, float(value), target, steps, notes)
        stage_s[stage] = seconds
    fixed = target.fixed_s if not isinstance(target.fixed_s, str) else 0.0
    if fixed is None:
        missing.append("fixed_s")
        fixed = 0.0
    rate_batch = target.rate_batch_size
    if target.device == "cuda" and rate_batch is not None and rate_batch != batch_size:
        notes.append(
            f"{target.name}'s generation rate was measured at --batch_size {rate_batch}, not {batch_size}"
        )
    if missing:
        return Estimate(target.name, stage_s, float(fixed), None, None, None, tuple(missing), tuple(notes))
    parallel = max(1, min(target.workers, work.films))
    wall = float(fixed) + target.pipeline_factor * sum(stage_s.values()) / parallel
    worker_hours = wall * target.workers / 3600
    cost = None if target.price_per_hour is None else worker_hours * target.price_per_hour
    return Estimate(target.name, stage_s, float(fixed), wall, worker_hours, cost, (), tuple(notes))


def _batched_generation_s(
    work: Work, per_batch: float, target: Target, steps: int, batch_size: int, notes: list[str]
) -> float:
    """Generation seconds as ceil(windows / batch_size) generate calls, scaled to ``steps`` and,
    on a CPU, for the share of audio with a negative prompt."""
    calls = math.ceil(work.windows / batch_size) if work.windows > 0 else 0
    seconds = calls * per_batch
    if target.device == "cpu" and work.audio_s > 0:
        seconds *= 1 + (NEGATIVE_ROW_COST - 1) * work.negative_audio_s / work.audio_s
    if target.rate_steps and steps != target.rate_steps:
        seconds *= steps / target.rate_steps
        notes.append(f"generation scaled from {target.rate_steps} to {steps} sampler steps")
    notes.append(f"generation: {calls} generate calls of up to {batch_size} windows, {per_batch:.2f} s each")
    return seconds


def _generation_s(work: Work, audio_s_per_s: float, target: Target, steps: int, notes: list[str]) -> float:
    """Generation seconds: audio over the rate, scaled to ``steps`` and, on a CPU, for negative rows."""
    audio = work.audio_s
    if target.device == "cpu":
        audio += (NEGATIVE_ROW_COST - 1) * work.negative_audio_s
    seconds = audio / audio_s_per_s
    if target.rate_steps and steps != target.rate_steps:
        seconds *= steps / target.rate_steps
        notes.append(f"generation scaled from {target.rate_steps} to {steps} sampler steps")
    return seconds

"""AssembleFilms: a film's finished units -> its track, its FLAC and MKV, and its table rows.

    (FilmPlan, Take) --AssembleFilms--> films, scenes and takes rows; Failure

Only small records are grouped (a film's plan and its ``Take`` records: keys, URIs, hashes,
scores); the audio is read back from the published stems inside the step that uses it
(docs/design.md, "Durable progress"). Per film:

1. every unit of the plan must have a take (generated now or found in the ledger); a film with
   units missing (their failures are in the failures table) gets a films row with status
   ``incomplete`` and no output, and a rerun generates only what is missing;
2. per scene the take a curator chose with ``talkie choose`` is used while it is one of the
   plan's units (``choices``, from the output's newest scenes rows; the restore job's
   --rechoose drops them), else the take with the best ``sync_score`` (motion onsets against
   audio onsets, see ``media.sync``); ties and missing scores go to the lowest take;
3. the chosen stems are read (their SHA-256 checked against the ledger), laid on the film's
   48 kHz clock by ``media.track.assemble_film_track`` (scene s owns samples
   ``round(t0 * 48000)`` to ``round(t1 * 48000)``, t from the first frame, exact fractions, so
   the track has exactly ``round(duration * 48000)`` samples), with short crossfades at cuts;
4. the cut's cue sheet comes from each scene's prompts, the --score flags and the film's pacing
   (``transforms.score``); where a scene's score sounds, the film's score is composed from the
   cues, the chosen takes' seeds and their motion onsets, rendered, levelled against the track
   (now the *effects*) and ducked under its events, and added to it: the *mix*
   (``media.cut.render_cut``, ``media.score.mix``);
5. the track (the mix) is loudness-normalised (``media.loudness``: -23 LUFS integrated, true peak
   at most -1 dBTP; audio too short for BS.1770 gating is peak-normalised and says so in its
   tags); a scored cut's effects and score stems get the same gain;
6. ``OUTPUT/films/<film_id>/<cut_key>.flac`` (24-bit) and ``.mkv`` (the source's streams copied
   untouched plus the FLAC as the default audio, ``media.mux``) are published atomically, and
   for a scored cut ``.effects.flac`` and ``.score.flac`` first (also muxed into the MKV as
   titled tracks). A cut's key covers the takes it uses, these settings and (scored cuts only)
   the score, so a new cut never overwrites an old one; files already there under the same key
   are kept (``force`` rewrites them).

The film's whole track is in memory while it is assembled and normalised (a two-hour film is
about 1.4 GB of float32 at 48 kHz): integrated loudness needs the whole programme.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any, NamedTuple

import apache_beam as beam
import numpy as np

from media import storage
from transforms import progress
from transforms.checks import is_finite, is_whole
from transforms.failures import FAILURES, FailureGuard, redact
from transforms.layout import film_stem_uris, film_uris
from transforms.rows import scene_rows as shot_list_rows
from transforms.score import (
    STEM_TAG,
    FilmScore,
    SceneScoreInput,
    ScoreSettings,
    cue_columns,
    plan_score,
    render_score,
    score_key_part,
    score_tags,
)
from transforms.stages import STAGE_ASSEMBLE_FILMS
from transforms.storage_metrics import CountsStorageRetries
from transforms.tables import read_table
from transforms.units import OUTPUT_RATE, FilmPlan, GenerationSettings, Take, Unit, cut_key

if TYPE_CHECKING:
    from media.cut import Cut
    from media.track import SceneAudio

log = logging.getLogger(__name__)

STATUS_DONE = "done"
STATUS_INCOMPLETE = "incomplete"
STATUS_FAILED = "failed"


@dataclass(frozen=True)
class AssemblySettings:
    """How a film's scenes become its track; all of it enters the cut key."""

    crossfade_samples: int = 480  # 10 ms at 48 kHz, centred on each cut
    target_lufs: float = -23.0
    max_true_peak_dbtp: float = -1.0

    def __post_init__(self) -> None:
        if not is_whole(self.crossfade_samples) or self.crossfade_samples < 0:
            raise ValueError(
                f"crossfade_samples {self.crossfade_samples!r} must be a whole number of samples >= 0"
            )
        for name in ("target_lufs", "max_true_peak_dbtp"):
            value = getattr(self, name)
            if not is_finite(value):
                raise ValueError(f"{name} {value!r} must be a finite number")
            if value > 0:
                raise ValueError(f"{name} {value!r} must be at most 0 (it is a level below full scale)")
            object.__setattr__(self, name, float(value))

    @classmethod
    def from_flags(cls, crossfade_ms: float, target_lufs: float, max_true_peak: float) -> AssemblySettings:
        """From the restore job's --crossfade_ms, --target_lufs and --max_true_peak."""
        return cls(
            crossfade_samples=round(crossfade_ms * OUTPUT_RATE / 1000),
            target_lufs=target_lufs,
            max_true_peak_dbtp=max_true_peak,
        )

    def render(self, scenes: Sequence[SceneAudio], total_samples: int, score: FilmScore) -> Cut:
        """The cut's audio with these settings: ``media.cut.render_cut`` over the scenes' stems and,
        where a scene's score sounds, the film's rendered score (``transforms.score.render_score``)."""
        from media.cut import render_cut

        return render_cut(
            scenes,
            total_samples,
            score=render_score(score, total_samples),
            crossfade_samples=self.crossfade_samples,
            target_lufs=self.target_lufs,
            max_true_peak_dbtp=self.max_true_peak_dbtp,
        )

    def cut_key(self, unit_keys: Sequence[str], score: dict[str, Any] | None = None) -> str:
        """The key of a cut of these units' stems made with these settings and, for a cut with
        music, ``score`` (``transforms.score.score_key_part``) (docs/design.md, "Keys")."""
        return cut_key(
            list(unit_keys),
            crossfade_samples=self.crossfade_samples,
            target_lufs=self.target_lufs,
            max_true_peak_dbtp=self.max_true_peak_dbtp,
            score=score,
        )


class AssembleOutputs(NamedTuple):
    films: beam.PCollection  # films table rows
    scenes: beam.PCollection  # scenes table rows
    takes: beam.PCollection  # takes table rows
    failures: beam.PCollection  # Failure


# ----------------------------------------------------------------------------- pure functions


def best_take(takes: Sequence[Take]) -> Take:
    """The take with the highest sync score; ties, and takes without a score, go to the lowest take."""
    if not takes:
        raise ValueError("a scene without takes has no best take")
    return max(takes, key=lambda t: (-math.inf if t.sync_score is None else t.sync_score, -t.unit.take))


def curator_choices(output: str) -> dict[str, dict[int, str]]:
    """The takes chosen with ``talkie choose`` still in force in ``output``: {film_id: {scene
    index: unit key}}, from each film's newest scenes rows (``chosen_unit_key``; a restore run
    with --rechoose wrote none). An output where no choose run ever ran has none, and its scenes
    table is not read."""
    runs = read_table(output, "runs")
    if "choose" not in set(runs["job"].to_pylist()):
        return {}
    choices: dict[str, dict[int, str]] = {}
    for row in read_table(output, "scenes").to_pylist():
        if row["chosen_unit_key"]:
            choices.setdefault(row["film_id"], {})[row["scene_index"]] = row["chosen_unit_key"]
    return choices


def kept_choices(plan: FilmPlan, choices: Mapping[int, str]) -> dict[int, str]:
    """The curator's choices ({scene index: unit key}) that are still units of ``plan``; a choice
    whose unit the plan no longer has (its prompts or generation settings changed) is dropped
    with a warning, and its scene's take is picked by sync score again."""
    planned = {(u.scene_index, u.key) for u in plan.units}
    kept = {}
    for scene, key in sorted(choices.items()):
        if (scene, key) in planned:
            kept[scene] = key
        else:
            log.warning(
                "%s: scene %d's chosen take (unit %s) is not one of this run's units (its prompts or "
                "settings changed); its take is picked by sync score",
                plan.film_id,
                scene,
                key,
            )
    return kept


def pick_take(takes: Sequence[Take], chosen_key: str | None) -> Take:
    """The take whose unit is ``chosen_key`` (a curator's choice), else ``best_take``."""
    for take in takes:
        if chosen_key is not None and take.unit.key == chosen_key:
            return take
    return best_take(takes)


def film_total_samples(plan: FilmPlan) -> int:
    """round(duration * 48000): the film track's length, from its exact PTS duration."""
    probe = plan.film.probe
    return round(Fraction(probe.duration_pts) * Fraction(probe.time_base) * OUTPUT_RATE)


def read_stem(take: Take) -> np.ndarray:
    """The take's 48 kHz stem, after checking its bytes against the SHA-256 its ledger recorded."""
    from media.cut import read_stem as read_checked_stem

    return read_checked_stem(
        storage.read_bytes(take.flac_uri),
        uri=take.flac_uri,
        sha256=take.flac_sha256,
        samples=take.unit.output_samples,
    )


def score_inputs(chosen: Sequence[Take]) -> list[SceneScoreInput]:
    """What the score needs of each scene of a cut, from the takes it uses (in scene order)."""
    return [
        SceneScoreInput(
            start_s=float(t.unit.start_time),
            end_s=float(t.unit.end_time),
            positive_prompt=t.unit.positive_prompt,
            negative_prompt=t.unit.negative_prompt,
            seed=t.unit.seed,
            motion_onsets_s=t.motion_onsets_s,
        )
        for t in chosen
    ]


def film_tags(
    plan: FilmPlan,
    chosen: Sequence[Take],
    settings: GenerationSettings,
    key: str,
    loudness: Any,
    score: dict[str, Any] | None = None,
) -> dict[str, str]:
    """Provenance for the film's FLAC and MKV: Talkie, the checkpoint, and each scene's prompts,
    take, seed and unit key; for a cut with music, its score (``transforms.score.score_tags``)."""
    from media.cut import loudness_tag

    scenes = [
        {
            "scene": t.unit.scene_index,
            "take": t.unit.take,
            "seed": t.unit.seed,
            "unit_key": t.unit.key,
            "positive_prompt": t.unit.positive_prompt,
            "negative_prompt": t.unit.negative_prompt,
        }
        for t in chosen
    ]
    return {
        "TITLE": plan.film_id,
        "TALKIE_CUT_KEY": key,
        **settings.provenance_tags(),
        "TALKIE_SCENES": json.dumps(scenes, ensure_ascii=False, separators=(",", ":")),
        "TALKIE_LOUDNESS": loudness_tag(loudness),
        **score_tags(score),
    }


def film_row(plan: FilmPlan, settings: GenerationSettings, status: str, **fields: Any) -> dict[str, Any]:
    film, probe = plan.film, plan.film.probe
    return {
        "film_id": film.film_id,
        "uri": redact(film.job.video_input),
        "content_sha256": probe.content_sha256,
        "duration_s": probe.duration_s,
        "nominal_fps": probe.nominal_fps,
        "true_fps": probe.true_fps,
        "frames": probe.frames,
        "missing_frames": None if probe.missing_frames is None else list(probe.missing_frames),
        "scenes": len(film.scenes),
        "cut_key": None,
        "flac_uri": None,
        "video_uri": None,
        "effects_flac_uri": None,
        "score_flac_uri": None,
        "loudness_lufs": None,
        "checkpoint_sha256": settings.checkpoint_sha256,
        "status": status,
        "extra": film.job.extra,
        **fields,
    }


def scene_rows(
    plan: FilmPlan,
    best: dict[int, int],
    score: FilmScore | None = None,
    chosen: Mapping[int, str] | None = None,
) -> list[dict[str, Any]]:
    """The restore job's scenes rows: the shot list plus effective prompts, the take used, the
    curator's choice kept (``chosen``: {scene index: unit key}) and the cue sheet (null without a
    ``score``: a film that got no cut)."""
    chosen = chosen or {}
    cues = score.cues if score is not None else (None,) * len(plan.prompts)
    return [
        {
            **row,
            "positive_prompt": prompts.positive_prompt,
            "negative_prompt": prompts.negative_prompt,
            "best_take": best.get(row["scene_index"]),
            "chosen_unit_key": chosen.get(row["scene_index"]),
            **cue_columns(cue),
        }
        for row, prompts, cue in zip(shot_list_rows(plan.film), plan.prompts, cues)
    ]


def take_row(take: Take, settings: GenerationSettings) -> dict[str, Any]:
    unit = take.unit
    return {
        "film_id": unit.film_id,
        "scene_index": unit.scene_index,
        "take": unit.take,
        "unit_key": unit.key,
        "seed": unit.seed,
        "flac_uri": take.flac_uri,
        "flac_sha256": take.flac_sha256,
        "sync_score": take.sync_score,
        "steps": settings.steps,
        "text_guidance": settings.text_guidance,
        "video_guidance": settings.video_guidance,
        "negative_guidance": settings.negative_guidance,
    }


# ----------------------------------------------------------------------------- the DoFn


def _by_film_id_plan(plan: FilmPlan) -> tuple[str, FilmPlan]:
    return plan.film_id, plan


def _by_film_id_take(take: Take) -> tuple[str, Take]:
    return take.unit.film_id, take


class _AssembleFilmFn(CountsStorageRetries, beam.DoFn):
    def __init__(
        self,
        output: str,
        settings: GenerationSettings,
        assembly: AssemblySettings,
        force: bool,
        score: ScoreSettings | None = None,
    ) -> None:
        self._output = output
        self._settings = settings
        self._assembly = assembly
        self._score = score or ScoreSettings()
        self._force = force
        self._scored = _counter("films_scored")
        self._assembled = _counter("films_assembled")
        self._kept = _counter("films_already_assembled")
        self._incomplete = _counter("films_incomplete")
        self._scenes = _counter("scenes_assembled")
        self._audio_ms = _counter("film_audio_ms")
        self._guard = FailureGuard(STAGE_ASSEMBLE_FILMS, warns=True)

    def process(
        self,
        element: tuple[str, dict[str, Iterable[Any]]],
        choices: Mapping[str, Mapping[int, str]] | None = None,  # curator_choices, a side input
    ) -> Iterator[Any]:
        film_id, groups = element
        plans = list(groups["plans"])
        if not plans:  # takes without a plan cannot happen: plans and units come from one step
            return
        plan = plans[0]
        by_key: dict[str, Take] = {}
        for take in groups["takes"]:
            by_key.setdefault(take.unit.key, take)
        takes = [by_key[u.key] for u in plan.units if u.key in by_key]
        for take in takes:
            yield beam.pvalue.TaggedOutput("takes", take_row(take, self._settings))
        missing = [u for u in plan.units if u.key not in by_key]
        kept = kept_choices(plan, (choices or {}).get(film_id, {}))
        if missing:
            self._incomplete.inc()
            log.warning(
                "%s: %d of %d units are missing (see the failures table); the film is not assembled",
                film_id,
                len(missing),
                len(plan.units),
            )
            yield from self._rows(plan, STATUS_INCOMPLETE, {}, chosen=kept)
            return
        by_scene: dict[int, list[Take]] = {}
        for take in takes:
            by_scene.setdefault(take.unit.scene_index, []).append(take)
        chosen = [pick_take(by_scene[scene.index], kept.get(scene.index)) for scene in plan.film.scenes]
        best = {t.unit.scene_index: t.unit.take for t in chosen}
        score: FilmScore | None = None
        with self._guard.catching() as caught:  # one film's failure must not stop the others
            score = plan_score(score_inputs(chosen), plan.film.probe.duration_s, self._score)
            fields = self._assemble(plan, chosen, score)
        if caught.error is not None:
            yield self._guard.failure(caught.error, uri=plan.film.job.video_input, film_id=film_id)
            yield from self._rows(plan, STATUS_FAILED, best, score, chosen=kept)
            return
        self._scenes.inc(len(chosen))
        progress.assembled(film_id, len(chosen), plan.film.probe.duration_s)
        yield from self._rows(plan, STATUS_DONE, best, score, chosen=kept, **fields)

    def _rows(
        self,
        plan: FilmPlan,
        status: str,
        best: dict[int, int],
        score: FilmScore | None = None,
        *,
        chosen: Mapping[int, str],
        **fields: Any,
    ) -> Iterator[Any]:
        yield film_row(plan, self._settings, status, **fields)
        for row in scene_rows(plan, best, score, chosen):
            yield beam.pvalue.TaggedOutput("scenes", row)

    def _assemble(self, plan: FilmPlan, chosen: Sequence[Take], score: FilmScore) -> dict[str, Any]:
        from media.cut import cut_files
        from media.track import SceneAudio, scene_sample_range

        assembly = self._assembly
        key_part = None
        if score.sounds:
            from media.score import score_identity  # ScoreUnavailable (the film fails) without FluidSynth

            key_part = score_key_part(score, self._score, score_identity())
        key = assembly.cut_key([t.unit.key for t in chosen], key_part)
        flac_uri, video_uri = film_uris(self._output, plan.film_id, key)
        stem_uris = film_stem_uris(self._output, plan.film_id, key) if score.sounds else None
        scenes = []
        for take in chosen:
            unit: Unit = take.unit
            start, end = scene_sample_range(unit.start_time, unit.end_time, OUTPUT_RATE)
            scenes.append(SceneAudio(start_sample=start, end_sample=end, audio=read_stem(take)))
        total = film_total_samples(plan)
        cut = assembly.render(scenes, total, score)
        del scenes
        loudness = cut.loudness
        if not self._force and all(storage.exists(u) for u in (*(stem_uris or ()), flac_uri, video_uri)):
            self._kept.inc()
        else:
            tags = film_tags(plan, chosen, self._settings, key, loudness, key_part)
            files = cut_files(
                cut.track,
                plan.film.job.video_input,
                tags=tags,
                title=plan.film_id,
                effects=cut.effects,
                score=cut.score,
                stem_tags={"effects": {STEM_TAG: "effects"}, "score": {STEM_TAG: "score"}},
            )
            # each file whole, then published in one call; the MKV last, as the others' witness
            if stem_uris and files.effects_flac is not None and files.score_flac is not None:
                storage.write_bytes(stem_uris[0], files.effects_flac)
                storage.write_bytes(stem_uris[1], files.score_flac)
            storage.write_bytes(flac_uri, files.flac)
            storage.write_bytes(video_uri, files.video)
            self._assembled.inc()
        if score.sounds:
            self._scored.inc()
        self._audio_ms.inc(round(total * 1000 / OUTPUT_RATE))
        return {
            "cut_key": key,
            "flac_uri": flac_uri,
            "video_uri": video_uri,
            "effects_flac_uri": stem_uris[0] if stem_uris else None,
            "score_flac_uri": stem_uris[1] if stem_uris else None,
            "loudness_lufs": None if loudness.lufs_after is None else float(loudness.lufs_after),
        }


def _counter(name: str) -> Any:
    return beam.metrics.Metrics.counter("talkie", name)


class AssembleFilms(beam.PTransform):
    """``(plans, takes)`` -> ``AssembleOutputs(films, scenes, takes, failures)`` (module docstring).

    ``plans`` are ``FilmPlan`` records (one per film); ``takes`` are every finished ``Take`` of
    this run, generated now or found in the ledger; ``score`` the --score flags (default: auto,
    the instrument from the prompt). The takes curators chose (``curator_choices``, read from
    ``output`` on a worker when the pipeline runs; none with ``rechoose``) are kept while they
    are units of the film's plan. Rows are for the films,
    scenes and takes tables; a film that cannot be assembled becomes a ``Failure`` with stage
    ``assemble_films`` and a films row with status ``failed``.
    """

    def __init__(
        self,
        output: str,
        settings: GenerationSettings,
        assembly: AssemblySettings | None = None,
        *,
        score: ScoreSettings | None = None,
        force: bool = False,
        rechoose: bool = False,
    ) -> None:
        super().__init__()
        self._output = output
        self._settings = settings
        self._assembly = assembly or AssemblySettings()
        self._score = score or ScoreSettings()
        self._force = force
        self._rechoose = rechoose

    def expand(self, inputs: tuple[beam.PCollection, beam.PCollection]) -> AssembleOutputs:
        plans, takes = inputs
        grouped = {
            "plans": plans | "KeyPlans" >> beam.Map(_by_film_id_plan),
            "takes": takes | "KeyTakes" >> beam.Map(_by_film_id_take),
        } | "GroupByFilm" >> beam.CoGroupByKey()
        # read when the pipeline runs, not when it is built: a Dataflow launcher (or --dry_run)
        # need not reach the output bucket
        output, rechoose = self._output, self._rechoose
        choices = (
            plans.pipeline
            | "Start" >> beam.Create([output])
            | "ReadChoices" >> beam.Map(lambda uri: {} if rechoose else curator_choices(uri))
        )
        result = grouped | "Assemble" >> beam.ParDo(
            _AssembleFilmFn(self._output, self._settings, self._assembly, self._force, self._score),
            choices=beam.pvalue.AsSingleton(choices),
        ).with_outputs("scenes", "takes", FAILURES, main="films")
        return AssembleOutputs(
            films=result.films, scenes=result.scenes, takes=result.takes, failures=result[FAILURES]
        )

"""``talkie choose``: a new cut of a film with the takes a curator chose, from the stems already made.

    talkie choose OUTPUT --film FILM_ID --scene N --take K
    talkie choose OUTPUT --choices FILE        # JSON list / JSON Lines / CSV of film_id, scene, take

No model runs. Per film, the cut the film's newest ``films`` row names is the starting point:
its scenes' ``best_take`` (the takes in that cut) with the chosen scenes' takes replaced. The new
cut is laid, crossfaded, normalised and encoded by the restore job's own assembly path
(``media.cut``) with the assembly settings of the run that made the starting cut (checked: they
must reproduce its cut key), so only the chosen scenes' spans and their crossfade margins change,
apart from the one film-wide loudness gain. Its key is docs/design.md's cut key (the unit keys it uses
plus those settings), so the earlier cut's files stay. A film with music gets its score again
(``transforms.score``, with the --score settings its cut's TALKIE_SCORE tag records): composed
from the chosen takes' seeds, so a chosen scene's music changes with its take, and its
neighbours' transitions with it:

    OUTPUT/films/<film_id>/<new cut_key>.flac, .mkv, .preview.mp4
    OUTPUT/films/<film_id>/<new cut_key>.effects.flac, .score.flac     (films with music)
    OUTPUT/meta/{films,scenes,takes}/<run_id>-00000-of-00001.parquet   the film's rows for this run:
        films.cut_key the new cut; scenes.best_take the take each scene now uses (the choice),
        scenes.chosen_unit_key the chosen take's unit key (earlier choices kept)

A later restore run of the same film keeps the chosen takes (``chosen_unit_key``) while the
scene's units are unchanged; its --rechoose flag picks every take by sync score again.
    OUTPUT/meta/runs/<run_id>-00000-of-00001.parquet   job "choose", the choices in its options
    OUTPUT/report/<run_id>/...                          the review pages of the new cuts
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime as dt
import io
import json
import sys
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

from media import storage
from pipelines.options import UsageError, refuse_run_id_in_use
from pipelines.provenance import code_version
from transforms.assemble import AssemblySettings
from transforms.files import absolute_uri
from transforms.layout import film_stem_uris, film_uris, preview_uri, stem_uri
from transforms.ledger import ledger_object
from transforms.score import (
    SCORE_TAG,
    STEM_TAG,
    SceneScoreInput,
    ScoreSettings,
    cue_columns,
    key_part_of_tags,
    plan_score,
    score_key_part,
    score_tags,
)
from transforms.tables import new_run_id, read_table, validate_run_id, write_table_file
from transforms.units import OUTPUT_RATE

JOB = "choose"


@dataclasses.dataclass(frozen=True)
class Choice:
    film_id: str
    scene: int
    take: int


@dataclasses.dataclass(frozen=True)
class NewCut:
    film_id: str
    previous_cut_key: str
    cut_key: str
    flac_uri: str
    video_uri: str
    preview_uri: str
    changed_scenes: tuple[int, ...]
    settings: AssemblySettings
    score: ScoreSettings
    film_row: dict[str, Any]
    scene_rows: tuple[dict[str, Any], ...]
    take_rows: tuple[dict[str, Any], ...]


@dataclasses.dataclass(frozen=True)
class ChooseResult:
    run_id: str
    output: str
    cuts: tuple[NewCut, ...]
    unchanged: tuple[str, ...]  # films whose choices were already their cut
    report_uri: str | None

    def text(self) -> str:
        lines = [
            f"talkie choose: run {self.run_id}: {len(self.cuts)} new cuts"
            + (
                f", {len(self.unchanged)} films already cut so ({', '.join(self.unchanged)})"
                if self.unchanged
                else ""
            )
        ]
        for cut in self.cuts:
            scenes = ", ".join(map(str, cut.changed_scenes))
            lines += [
                f"  {cut.film_id}: cut {cut.previous_cut_key} -> {cut.cut_key} (scenes {scenes})",
                f"    {cut.flac_uri}",
                f"    {cut.video_uri}",
                f"    {cut.preview_uri}",
            ]
        if self.report_uri:
            lines.append(f"  review report: {self.report_uri}")
        return "\n".join(lines)


# ----------------------------------------------------------------------------- choices


def parse_choices(text: str, name: str) -> list[Choice]:
    """Choices from a JSON list, JSON Lines or CSV (columns film_id, scene, take)."""
    stripped = text.strip()
    if not stripped:
        raise UsageError(f"--choices {name} is empty: it needs rows of film_id, scene, take")
    if name.lower().endswith(".csv"):
        records = list(csv.DictReader(io.StringIO(text)))
    elif stripped.startswith("["):
        records = json.loads(stripped)
    else:
        records = [json.loads(line) for line in stripped.splitlines() if line.strip()]
    return [_choice(record, f"--choices {name} row {i + 1}") for i, record in enumerate(records)]


def _choice(record: Any, where: str) -> Choice:
    if not isinstance(record, Mapping):
        raise UsageError(f"{where}: {record!r} is not an object with film_id, scene and take")
    try:
        return Choice(
            film_id=str(record["film_id"]), scene=_whole(record["scene"]), take=_whole(record["take"])
        )
    except (KeyError, ValueError) as exc:
        raise UsageError(
            f"{where}: {record!r} needs film_id, a scene index and a take number ({exc})"
        ) from exc


def _whole(value: Any) -> int:
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError(f"{value!r} is not a whole number")
    number = int(value)
    if number < 0:
        raise ValueError(f"{number} is negative")
    return number


# ----------------------------------------------------------------------------- one film


def cut_settings_of_run(output: str, run_id: str, film_id: str) -> AssemblySettings:
    """The assembly settings run ``run_id`` used for ``film_id``: its runs row's flags over the defaults."""
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipelines.restore import RestoreOptions

    defaults = PipelineOptions([]).view_as(RestoreOptions)
    runs = read_table(output, "runs", run_id=run_id).to_pylist()
    options = json.loads(runs[0]["options"]) if runs else {}
    options = options.get("cut_settings", {}).get(film_id, options)  # a choose run of films cut differently
    return AssemblySettings.from_flags(
        crossfade_ms=float(options.get("crossfade_ms", defaults.crossfade_ms)),
        target_lufs=float(options.get("target_lufs", defaults.target_lufs)),
        max_true_peak=float(options.get("max_true_peak", defaults.max_true_peak)),
    )


def score_settings_of_run(output: str, run_id: str, film_id: str) -> ScoreSettings:
    """The --score settings run ``run_id`` used for ``film_id``: its runs row's flags over the defaults."""
    runs = read_table(output, "runs", run_id=run_id).to_pylist()
    options = json.loads(runs[0]["options"]) if runs else {}
    options = options.get("cut_settings", {}).get(film_id, options)
    return ScoreSettings(mode=options.get("score") or "auto", instrument=options.get("score_instrument"))


def settings_flags(settings: AssemblySettings, score: ScoreSettings | None = None) -> dict[str, Any]:
    """``settings`` (and ``score``) as the restore job's flags, the form a runs row records and
    ``cut_settings_of_run`` and ``score_settings_of_run`` read."""
    return {
        "crossfade_ms": settings.crossfade_samples * 1000 / OUTPUT_RATE,
        "target_lufs": settings.target_lufs,
        "max_true_peak": settings.max_true_peak_dbtp,
        **(score.flags() if score is not None else {}),
    }


def _score_inputs(
    output: str,
    film_id: str,
    scenes: Sequence[Mapping[str, Any]],
    takes: Mapping[int, Mapping[str, Any]],
) -> list[SceneScoreInput]:
    """What the score needs of each scene (``transforms.score``), from the scenes rows, the takes
    rows the cut uses ({scene index: row}) and their ledger objects (the motion onsets)."""
    first_pts = scenes[0]["start_pts"]
    inputs = []
    for scene in scenes:
        time_base = Fraction(scene["time_base"])
        take = takes[scene["scene_index"]]
        record = ledger_object(output, film_id, take["unit_key"]) or {}
        onsets = record.get("motion_onsets_s")
        inputs.append(
            SceneScoreInput(
                start_s=float(Fraction(scene["start_pts"] - first_pts) * time_base),
                end_s=float(Fraction(scene["end_pts"] - first_pts) * time_base),
                positive_prompt=scene["positive_prompt"] or "",
                negative_prompt=scene["negative_prompt"] or "",
                seed=int(take["seed"]),
                motion_onsets_s=None if onsets is None else tuple(float(t) for t in onsets),
            )
        )
    return inputs


def recut_film(output: str, film_id: str, choices: Mapping[int, int]) -> NewCut | None:
    """Writes the film's new cut with ``choices`` ({scene index: take}); None when it is already
    the film's cut. Raises UsageError for a film, scene or take the output does not hold."""
    from media.cut import read_stem
    from media.flac import decode_flac
    from media.review.film_report import write_preview
    from media.track import SceneAudio, scene_sample_range

    films = [f for f in read_table(output, "films").to_pylist() if f["film_id"] == film_id]
    if not films:
        raise UsageError(f"--film {film_id}: {storage.redact(output)} holds no film of that id")
    film = films[0]
    if film["status"] != "done" or not film["cut_key"]:
        raise UsageError(
            f"--film {film_id}: its newest run ({film['run_id']}) left it {film['status']}, with no cut "
            "to start from; run the restore job until it is done"
        )
    source_run = film["run_id"]
    scenes = [
        s for s in read_table(output, "scenes", run_id=source_run).to_pylist() if s["film_id"] == film_id
    ]
    takes = [t for t in read_table(output, "takes", run_id=source_run).to_pylist() if t["film_id"] == film_id]
    scenes.sort(key=lambda s: s["scene_index"])
    take_of = {(t["scene_index"], t["take"]): t for t in takes}
    for scene, take in sorted(choices.items()):
        if not any(s["scene_index"] == scene for s in scenes):
            raise UsageError(f"--scene {scene}: film {film_id} has scenes 0 to {len(scenes) - 1}")
        if (scene, take) not in take_of:
            have = sorted(t for s, t in take_of if s == scene)
            raise UsageError(f"--take {take}: scene {scene} of film {film_id} has takes {have}")
    current = {s["scene_index"]: s["best_take"] for s in scenes}
    if any(take is None for take in current.values()):
        raise UsageError(
            f"--film {film_id}: run {source_run} recorded no take for some scenes; cannot start from its cut"
        )

    settings = cut_settings_of_run(output, source_run, film_id)
    old_flac = storage.read_bytes(film["flac_uri"])
    old_audio, _, old_tags = decode_flac(old_flac)
    old_score = key_part_of_tags(old_tags)  # the cut's score settings, as its key hashed them
    old_keys = [take_of[(s, current[s])]["unit_key"] for s in sorted(current)]
    if settings.cut_key(old_keys, old_score) != film["cut_key"]:
        raise UsageError(
            f"--film {film_id}: its cut {film['cut_key']} is not reproduced by run {source_run}'s takes and "
            f"settings {settings}; the tables and files disagree"
        )
    score_settings = (
        ScoreSettings(mode=old_score["mode"], instrument=old_score["instrument"])
        if old_score is not None
        else score_settings_of_run(output, source_run, film_id)
    )
    chosen = {**current, **choices}
    new_keys = [take_of[(s, chosen[s])]["unit_key"] for s in sorted(chosen)]
    score = plan_score(
        _score_inputs(output, film_id, scenes, {s: take_of[(s, chosen[s])] for s in chosen}),
        float(film["duration_s"]),
        score_settings,
    )
    new_score = None
    if score.sounds:
        from media.score import score_identity

        new_score = score_key_part(score, score_settings, score_identity())
    key = settings.cut_key(new_keys, new_score)
    if key == film["cut_key"]:
        return None

    first_pts = scenes[0]["start_pts"]
    pieces = []
    for scene in scenes:
        time_base = Fraction(scene["time_base"])
        start, end = scene_sample_range(
            Fraction(scene["start_pts"] - first_pts) * time_base,
            Fraction(scene["end_pts"] - first_pts) * time_base,
            OUTPUT_RATE,
        )
        take = take_of[(scene["scene_index"], chosen[scene["scene_index"]])]
        uri = stem_uri(output, film_id, take["unit_key"])
        audio = read_stem(storage.read_bytes(uri), uri=uri, sha256=take["flac_sha256"], samples=end - start)
        pieces.append(SceneAudio(start_sample=start, end_sample=end, audio=audio))
    total = pieces[-1].end_sample
    if total != old_audio.shape[0]:
        raise UsageError(
            f"--film {film_id}: its scenes cover {total} samples but its cut {film['cut_key']} has "
            f"{old_audio.shape[0]}; the tables and files disagree"
        )
    del old_audio
    cut = settings.render(pieces, total, score)
    del pieces
    loudness = cut.loudness
    tags = _new_cut_tags(old_tags, key, film["cut_key"], chosen, take_of, loudness, new_score)
    flac_uri, video_uri = film_uris(output, film_id, key)
    stem_uris = film_stem_uris(output, film_id, key) if score.sounds else None
    if not all(storage.exists(u) for u in (*(stem_uris or ()), flac_uri, video_uri)):
        from media.cut import cut_files

        files = cut_files(
            cut.track,
            film["uri"],
            tags=tags,
            title=film_id,
            effects=cut.effects,
            score=cut.score,
            stem_tags={"effects": {STEM_TAG: "effects"}, "score": {STEM_TAG: "score"}},
        )
        if stem_uris and files.effects_flac is not None and files.score_flac is not None:
            storage.write_bytes(stem_uris[0], files.effects_flac)
            storage.write_bytes(stem_uris[1], files.score_flac)
        storage.write_bytes(flac_uri, files.flac)
        storage.write_bytes(video_uri, files.video)
        flac = files.flac
    else:
        flac = storage.read_bytes(flac_uri)
    film_row = {k: v for k, v in film.items() if k != "run_id"}
    film_row.update(
        cut_key=key,
        flac_uri=flac_uri,
        video_uri=video_uri,
        effects_flac_uri=stem_uris[0] if stem_uris else None,
        score_flac_uri=stem_uris[1] if stem_uris else None,
        loudness_lufs=None if loudness.lufs_after is None else float(loudness.lufs_after),
    )
    preview = preview_uri(output, film_id, key)
    write_preview(preview, video_uri, flac)
    scene_rows = tuple(
        {
            **{k: v for k, v in s.items() if k != "run_id"},
            "best_take": chosen[s["scene_index"]],
            # a choice sticks: restore reruns keep this take until --rechoose (pipelines.restore)
            "chosen_unit_key": take_of[(s["scene_index"], choices[s["scene_index"]])]["unit_key"]
            if s["scene_index"] in choices
            else s.get("chosen_unit_key"),
            **cue_columns(cue),
        }
        for s, cue in zip(scenes, score.cues)
    )
    take_rows = tuple({k: v for k, v in t.items() if k != "run_id"} for t in takes)
    changed = tuple(s for s in sorted(chosen) if chosen[s] != current[s])
    return NewCut(
        film_id=film_id,
        previous_cut_key=film["cut_key"],
        cut_key=key,
        flac_uri=flac_uri,
        video_uri=video_uri,
        preview_uri=preview,
        changed_scenes=changed,
        settings=settings,
        score=score_settings,
        film_row=film_row,
        scene_rows=scene_rows,
        take_rows=take_rows,
    )


def _new_cut_tags(
    old: Mapping[str, str],
    key: str,
    previous: str,
    chosen: Mapping[int, int],
    take_of: Mapping[tuple[int, int], Mapping[str, Any]],
    loudness: Any,
    score: dict[str, Any] | None,
) -> dict[str, str]:
    """The previous cut's provenance tags with this cut's key, takes, loudness and score."""
    from media.cut import loudness_tag

    tags = {k: v for k, v in old.items() if k not in ("ENCODER", SCORE_TAG, STEM_TAG)}
    scenes = json.loads(tags.get("TALKIE_SCENES", "[]"))
    for entry in scenes:
        take = take_of[(entry["scene"], chosen[entry["scene"]])]
        entry.update(take=take["take"], seed=take["seed"], unit_key=take["unit_key"])
    tags.update(
        TALKIE_CUT_KEY=key,
        TALKIE_PREVIOUS_CUT_KEY=previous,
        TALKIE_LOUDNESS=loudness_tag(loudness),
        TALKIE_SCENES=json.dumps(scenes, ensure_ascii=False, separators=(",", ":")),
        **score_tags(score),
    )
    return tags


# ----------------------------------------------------------------------------- the command


def choose(
    output: str, choices: Sequence[Choice], *, run_id: str | None = None, report: bool = True
) -> ChooseResult:
    """Writes a new cut of every film named in ``choices``, its rows under a new run, the runs
    row, and (``report``) the run's review pages. Raises UsageError for a choice that does not fit."""
    if not choices:
        raise UsageError("no choices: give --film, --scene and --take, or --choices FILE")
    run_id = validate_run_id(run_id) if run_id else new_run_id()
    refuse_run_id_in_use(output, run_id)
    started = dt.datetime.now(dt.UTC)
    by_film: dict[str, dict[int, int]] = {}
    for choice in choices:
        by_film.setdefault(choice.film_id, {})[choice.scene] = choice.take
    cuts, unchanged = [], []
    for film_id, film_choices in by_film.items():
        cut = recut_film(output, film_id, film_choices)
        if cut is None:
            unchanged.append(film_id)
        else:
            cuts.append(cut)
    report_uri = None
    if cuts:
        write_table_file(output, "films", run_id, [c.film_row for c in cuts])
        write_table_file(output, "scenes", run_id, [row for c in cuts for row in c.scene_rows])
        write_table_file(output, "takes", run_id, [row for c in cuts for row in c.take_rows])
        write_table_file(output, "failures", run_id, [])
        options: dict[str, Any] = {"output": output, "choices": [dataclasses.asdict(c) for c in choices]}
        shared = {(c.settings, c.score) for c in cuts}
        if len(shared) == 1:  # each new cut keeps the settings of the cut it started from
            options.update(settings_flags(*shared.pop()))
        else:
            options["cut_settings"] = {c.film_id: settings_flags(c.settings, c.score) for c in cuts}
        write_table_file(
            output,
            "runs",
            run_id,
            [
                {
                    "job": JOB,
                    "started_at": started,
                    "finished_at": dt.datetime.now(dt.UTC),
                    "code_version": code_version(),
                    "options": json.dumps(options, sort_keys=True),
                    "counts": {
                        "films": len(cuts),
                        "scenes_changed": sum(len(c.changed_scenes) for c in cuts),
                        "audio_ms_generated": 0,
                    },
                }
            ],
        )
        if report:
            report_uri = write_report(output, run_id, cuts)
    return ChooseResult(
        run_id=run_id, output=output, cuts=tuple(cuts), unchanged=tuple(unchanged), report_uri=report_uri
    )


def write_report(output: str, run_id: str, cuts: Sequence[NewCut]) -> str:
    from transforms.report import report_film, write_run_index

    for cut in cuts:
        report_film(output, run_id, cut.film_row, cut.scene_rows, cut.take_rows)
    return write_run_index(output, run_id)


def main(argv: list[str] | None = None, prog: str = "python -m pipelines.choose") -> int:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Write a new cut of a film from its existing stems with the takes you choose "
        "(no model runs; the earlier cut stays).",
    )
    parser.add_argument("output", help="The output folder or URI a restore run wrote.")
    parser.add_argument("--film", help="The film_id whose scene gets another take.")
    parser.add_argument(
        "--scene", type=int, help="The scene index (as the report and the scenes table number it)."
    )
    parser.add_argument("--take", type=int, help="The take to use for that scene.")
    parser.add_argument(
        "--choices", help="A file of choices: JSON list, JSON Lines or CSV with film_id, scene, take."
    )
    parser.add_argument("--run_id", default=None, help="This run's id (default: a new one).")
    parser.add_argument(
        "--no_report", action="store_true", help="Do not write the review pages of the new cuts."
    )
    args = parser.parse_args(argv)
    try:
        choices: list[Choice] = []
        single = (args.film, args.scene, args.take)
        if any(v is not None for v in single):
            if any(v is None for v in single):
                raise UsageError("--film, --scene and --take go together")
            choices.append(
                _choice(
                    {"film_id": args.film, "scene": args.scene, "take": args.take}, "--film/--scene/--take"
                )
            )
        if args.choices:
            uri = absolute_uri(args.choices)
            if not storage.exists(uri):
                raise UsageError(f"--choices {args.choices}: no such file")
            choices += parse_choices(storage.read_bytes(uri).decode("utf-8"), args.choices)
        result = choose(absolute_uri(args.output), choices, run_id=args.run_id, report=not args.no_report)
    except ValueError as exc:  # UsageError, or e.g. a run id that is not one
        print(f"{prog}: {storage.redact(str(exc))}", file=sys.stderr)
        return 2
    print(storage.redact(result.text()))  # the output URI may carry credentials
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``talkie plan MANIFEST``: what the restore job would do with a collection, and how long it would take.

    talkie plan MANIFEST [--target local|h200|dataflow-l4|all] [--targets FILE] [--json]
        [--calibrate] [--calibration FILE] [--mean_scene_s S]
        [the restore job's --checkpoint --takes --steps --batch_size --sampler --positive_prompt
         --negative_prompt --score --score_instrument --min_scene_s]

Before anything is generated: the manifest is read and validated as the restore job reads it
(``transforms.manifest.parse_manifest``: bad rows become the failures the job would record), and
each film's container is opened and its header read, without decoding (a film FFmpeg cannot open
fails as the job's ``probe_and_shard`` would fail it). It prints the films, their duration, the
estimated scenes, units (scene x take) and model windows, the audio-hours to generate, and the
wall time and cost on the target (``pipelines.plan_model``). What the plan cannot see: content
hashes (duplicate films the job would skip are counted), a film that stops decoding partway, and
the real scene count (estimated from ``mean_scene_s``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from pipelines import plan_model
from pipelines.plan_model import CALIBRATED, Estimate, FilmWork, Target, TargetsError, Work
from pipelines.plan_probe import PlanSettings, read_collection
from transforms.failures import Failure, redact
from transforms.manifest import ManifestError, clean_prompt, file_name

PLAN_SCHEMA = "talkie.plan/1"
SHOWN_FILMS = 20  # film lines in the text table; --json has them all
JOB_FLAGS = ("checkpoint", "steps", "batch_size", "sampler")  # passed to the calibration's job settings


# ----------------------------------------------------------------------------- output


def plan_report(
    spec: str,
    films: list[FilmWork],
    failures: list[Failure],
    work: Work,
    estimates: list[tuple[Target, Estimate]],
    settings: PlanSettings,
    calibration: dict[str, Any] | None,
) -> dict[str, Any]:
    """The plan as one JSON-ready dict (``--json``); the text table is made from it."""
    generation = settings.generation
    return {
        "schema": PLAN_SCHEMA,
        "manifest": redact(spec),
        "settings": {
            "checkpoint": generation.checkpoint,
            "checkpoint_sha256": generation.checkpoint_sha256,
            "steps": generation.steps,
            "vocoder": generation.vocoder,
            "takes": generation.takes,
            "batch_size": settings.batch_size,
            "min_scene_s": settings.min_scene_s,
            "mean_scene_s": settings.mean_scene_s,
            "window_s": generation.config.window.window_s,
            "overlap_s": generation.config.window.overlap_s,
            "score": settings.score_mode,
        },
        "films": [dataclasses.asdict(f) | {"audio_s": f.audio_s} for f in films],
        "failures": [dataclasses.asdict(f) for f in failures],
        "totals": dataclasses.asdict(work) | {"audio_hours": work.audio_s / 3600, "failures": len(failures)},
        "estimates": [
            {
                "target": target.name,
                "description": target.description,
                "device": target.device,
                "workers": target.workers,
                "measured": target.measured,
                "source": target.source,
                "note": target.note,
                "price_per_hour": target.price_per_hour,
                "currency": target.currency,
                **dataclasses.asdict(result),
            }
            for target, result in estimates
        ],
        "calibration": calibration,
    }


def format_report(report: dict[str, Any]) -> str:
    t = report["totals"]
    lines = [f"talkie plan: {report['manifest']}", ""]
    header = ("film", "duration", "frames", "size", "fps", "codec", "scenes~", "takes", "units~", "windows~")
    rows = [header] + [
        (
            f["film_id"] or f"({file_name(f['uri'])})",
            f"{f['duration_s']:.3f} s" + ("" if f["duration_from"] == "header" else "*"),
            str(f["frames"]),
            f"{f['width']}x{f['height']}",
            f"{f['fps']:.3g}",
            f["codec"],
            f"{f['scenes']:.1f}",
            str(f["takes"]),
            f"{f['scenes'] * f['takes']:.1f}",
            f"{f['windows_per_take'] * f['takes']:.1f}",
        )
        for f in report["films"][:SHOWN_FILMS]
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    if len(report["films"]) > SHOWN_FILMS:
        lines.append(f"... and {len(report['films']) - SHOWN_FILMS} more films (--json lists them all)")
    s = report["settings"]
    lines += [
        "",
        f"films: {t['films']}, {t['film_s']:.1f} s of film ({t['film_s'] / 3600:.3f} h), "
        f"{t['frames']} frames",
        f"estimated: {t['scenes']:.0f} scenes (mean scene {s['mean_scene_s']:g} s), {t['units']:.0f} units, "
        f"{t['windows']:.0f} model windows ({s['window_s']:g} s, overlap {s['overlap_s']:g} s); "
        f"takes {', '.join(map(str, t['takes'])) or '-'}",
        f"audio to generate: {t['audio_s']:.1f} s = {t['audio_hours']:.4f} audio-hours "
        f"({s['steps']} steps, batch {s['batch_size']})",
        f"failures the job would record: {t['failures']}",
    ]
    lines += [
        f"  {f['film_id'] or '-'}  {f['stage']}  {f['error_type']}: {f['error']}  ({f['uri']})"
        for f in report["failures"]
    ]
    for e in report["estimates"]:
        lines += ["", f"target {e['target']}: {e['description']}"]
        if e["source"]:
            lines.append(f"  rates: {e['source']} ({e['measured']})")
        if e["note"]:
            lines.append(f"  note: {e['note']}")
        lines += [f"  note: {n}" for n in e["notes"]]
        if e["wall_s"] is None:
            lines.append(f"  no estimate: the target does not give {', '.join(e['missing'])}")
            continue
        stages = ", ".join(f"{name} {sec:.1f} s" for name, sec in e["stage_s"].items())
        lines.append(f"  fixed {e['fixed_s']:.1f} s; per worker: {stages}")
        lines.append(
            f"  estimated wall time: {_duration(e['wall_s'])} on {e['workers']} worker(s) "
            f"({e['worker_hours']:.3f} worker-hours)"
        )
        if e["cost"] is None:
            lines.append("  cost: not shown (set price_per_hour for this target in a --targets file)")
        else:
            lines.append(f"  estimated cost: {e['cost']:.2f} {e['currency']}".rstrip())
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min ({seconds:.0f} s)"
    return f"{seconds / 3600:.2f} h"


# ----------------------------------------------------------------------------- command line


def plan_settings(args: argparse.Namespace, mean_scene_s: float) -> PlanSettings:
    """The job's settings from the flags and the checkpoint; ValueError naming a bad flag."""
    from transforms.units import GenerationSettings, describe_checkpoint, vocoder_fields

    try:
        checkpoint = describe_checkpoint(args.checkpoint)
    except (FileNotFoundError, OSError) as exc:
        raise ValueError(f"--checkpoint {args.checkpoint or '(default)'}: {exc}") from exc
    try:
        vocoder = vocoder_fields(checkpoint.config, args.vocoder)
    except (FileNotFoundError, OSError) as exc:  # a ValueError's message names the choice
        raise ValueError(f"--vocoder {args.vocoder}: {exc}") from exc
    sampler = checkpoint.config.sampler
    if args.batch_size < 1:
        raise ValueError(f"--batch_size {args.batch_size}: need 1 or more windows per generate call")
    if not (args.mean_scene_s is None or args.mean_scene_s > 0) or not args.min_scene_s > 0:
        raise ValueError("--mean_scene_s and --min_scene_s must be positive numbers of seconds")
    try:
        generation = GenerationSettings(
            checkpoint=args.checkpoint,
            checkpoint_sha256=checkpoint.sha256,
            config=checkpoint.config,
            steps=sampler.steps if args.steps is None else args.steps,
            text_guidance=sampler.text_guidance,
            video_guidance=sampler.video_guidance,
            negative_guidance=sampler.negative_guidance,
            sampler=args.sampler or sampler.sampler,
            **vocoder,
            takes=args.takes,
            positive_prompt=clean_prompt(args.positive_prompt, "--positive_prompt"),
            negative_prompt=clean_prompt(args.negative_prompt, "--negative_prompt"),
        )
        from transforms.score import ScoreSettings

        ScoreSettings(mode=args.score, instrument=args.score_instrument)  # checks both flags
    except ManifestError as exc:
        raise ValueError(str(exc)) from exc
    except ValueError as exc:  # the messages begin with the setting's name
        raise ValueError(f"--{exc}") from exc
    return PlanSettings(
        generation=generation,
        batch_size=args.batch_size,
        min_scene_s=args.min_scene_s,
        mean_scene_s=args.mean_scene_s or mean_scene_s,
        score_mode=args.score,
        score_instrument=args.score_instrument,
    )


def local_calibration(args: argparse.Namespace, settings: PlanSettings) -> dict[str, Any]:
    """The cached calibration for these settings on this machine, or a new one (``--calibrate``)."""
    import contextlib

    from pipelines import plan_calibrate

    generation = settings.generation
    key = plan_calibrate.settings_key(
        generation.checkpoint_sha256,
        generation.steps,
        settings.batch_size,
        generation.sampler,
        generation.vocoder,
    )
    path = Path(args.calibration) if args.calibration else plan_calibrate.default_cache_path()
    record = None if args.calibrate else plan_calibrate.cached(path, key)
    if record is None:
        print(
            "talkie plan: calibrating on this machine (about 30 s on 2 idle cores, longer on busy "
            f"ones; cached in {path})",
            file=sys.stderr,
        )
        flags = ["--steps", str(generation.steps), "--batch_size", str(settings.batch_size)]
        flags += ["--sampler", generation.sampler, "--vocoder", args.vocoder]
        if generation.checkpoint:
            flags += ["--checkpoint", generation.checkpoint]
        with contextlib.redirect_stdout(sys.stderr):  # stdout is the plan's (--json)
            record = plan_calibrate.calibrate(flags, key)
        plan_calibrate.write_cache(path, record)
    return record | {"cache": str(path)}


def with_rates(target: Target, settings: PlanSettings, calibration: dict[str, Any]) -> Target:
    """``local``'s row with the calibration's fixed cost, steps and date."""
    return dataclasses.replace(
        target,
        rates=calibration["rates"],
        fixed_s=calibration["fixed_s"],
        rate_steps=calibration["rate_steps"],
        rate_batch_size=settings.batch_size,
        measured=f"calibrated {calibration['measured_at']}, "
        f"load average {calibration['load_average'][0]:.1f}",
        source=f"{target.source}; cache {calibration['cache']}",
    )


def main(argv: list[str] | None = None, prog: str = "python -m pipelines.plan") -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n")[0].split(": ", 1)[1])
    parser.add_argument(
        "manifest", help="the restore job's --input: a manifest, a job JSON or a glob of videos"
    )
    parser.add_argument(
        "--target", default="local", help="a target of the targets file, or 'all' (default local)"
    )
    parser.add_argument(
        "--targets", default=None, help="a targets file (default: the shipped pipelines/targets.toml)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--calibrate", action="store_true", help="measure this machine's rates again")
    parser.add_argument("--calibration", default=None, help="the calibration cache file")
    parser.add_argument(
        "--mean_scene_s", type=float, default=None, help="mean scene length (default: the file's)"
    )
    parser.add_argument("--checkpoint", default=None, help="as the restore job's (default: the shipped tiny)")
    parser.add_argument(
        "--takes", type=int, default=1, help="takes per scene unless a row gives them (default 1)"
    )
    parser.add_argument("--steps", type=int, default=None, help="sampler steps (default: the checkpoint's)")
    parser.add_argument(
        "--batch_size", type=int, default=8, help="model windows per generate call (default 8)"
    )
    parser.add_argument("--sampler", default=None, help="euler or heun (default: the checkpoint's)")
    parser.add_argument("--vocoder", default="auto", help="auto, vocos or griffin-lim, as the restore job's")
    parser.add_argument("--positive_prompt", default=None, help="as the restore job's")
    parser.add_argument("--negative_prompt", default=None, help="as the restore job's")
    parser.add_argument("--score", default="auto", help="auto, on or off, as the restore job's")
    parser.add_argument("--score_instrument", default=None, help="as the restore job's")
    parser.add_argument("--min_scene_s", type=float, default=0.5, help="the shortest scene (default 0.5)")
    args = parser.parse_args(argv)
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        targets, scenes_table = plan_model.load_targets(args.targets)
        names = list(targets) if args.target == "all" else [args.target]
        for name in names:
            if name not in targets:
                raise TargetsError(f"--target {name!r}: the targets file has {', '.join(targets)} (or 'all')")
        settings = plan_settings(args, float(scenes_table["mean_scene_s"]))
    except ValueError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    try:
        films, failures = read_collection(args.manifest, settings)
    except (FileNotFoundError, ManifestError) as exc:  # the manifest itself: the job refuses it too
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    work = plan_model.totals(films)
    calibration = None
    estimates = []
    for name in names:
        target = targets[name]
        if CALIBRATED in target.rates:
            calibration = calibration or local_calibration(args, settings)
            target = with_rates(target, settings, calibration)
        result = plan_model.estimate(
            work, target, target.rates, steps=settings.generation.steps, batch_size=settings.batch_size
        )
        estimates.append((target, result))
    report = plan_report(args.manifest, films, failures, work, estimates, settings, calibration)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The local calibration of ``talkie plan``: the restore job's stage rates, measured on this machine.

One short foley-world film (``model.synth``, 3 shots, 128x96, rendered untimed into a temporary
folder) goes through what each of the restore job's steps calls, in plain Python, timed stage by
stage as ``bench/pipeline.py`` times them (there against the whole job on the same films):

- fixed: importing the job's modules in a fresh interpreter, the job's settings
  (``pipelines.restore.settings_from``: flags, checkpoint hashed), TransNetV2 and the generator
  loaded (``TalkieModelHandler.load_model``) and one one-step window generated (MiniLM loaded);
- shot listing: ``media.shard.shard_film`` (hash, decode, TransNetV2, cuts), then ``plan_film``;
- decode: ``decode_unit_frames`` once per scene; generation: ``TalkieModelHandler.run_inference``
  on batches of ``--batch_size`` windows, with the run's steps; stems: ``_WriteStemFn._publish``;
- films: ``_AssembleFilmFn._assemble`` with ``--score off``; score: the same with ``--score on``,
  less the first; report: ``report_film`` (preview, scene pictures, page).

Rates are film-seconds (or audio-seconds, for generation and stems) per wall-second, the units of
``pipelines/targets.toml``. Under about 30 s on 2 idle cores; the result is cached as JSON with
its date, the machine and the settings it was measured with, and reused while they match.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CACHE_SCHEMA = "talkie.plan-calibration/1"
FILM_SEED = 20261207  # the calibration film's collection seed (any fixed seed: the film is the same)
FILM_PROMPT = "footsteps on gravel and a wooden crate dropped on concrete, piano music"
JOB_IMPORTS = (
    "import pipelines.restore, transforms.generate, transforms.assemble, transforms.report, "
    "transforms.inference, media.shard, model.generate"
)


def default_cache_path() -> Path:
    """``$XDG_CACHE_HOME/talkie/plan-calibration.json`` (``~/.cache`` when unset)."""
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(root) / "talkie" / "plan-calibration.json"


def machine() -> dict[str, Any]:
    """What the rates depend on besides the settings: the CPU count and torch's threads."""
    import torch

    return {
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "platform": platform.platform(),
    }


def settings_key(
    checkpoint_sha256: str, steps: int, batch_size: int, sampler: str, vocoder: str
) -> dict[str, Any]:
    """The settings a calibration holds for: another checkpoint, steps, batch, sampler or vocoder
    (its name, which spells out its settings) recalibrates."""
    return {
        "checkpoint_sha256": checkpoint_sha256,
        "steps": steps,
        "batch_size": batch_size,
        "sampler": sampler,
        "vocoder": vocoder,
    }


def cached(path: Path, key: dict[str, Any]) -> dict[str, Any] | None:
    """The cached calibration at ``path`` when it was measured with ``key`` on this machine."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    if record.get("schema") != CACHE_SCHEMA or record.get("settings") != key:
        return None
    if record.get("machine") != machine():
        return None
    return record


def write_cache(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


class _Stopwatch:
    """Wall seconds per stage, and CPU seconds (this process's threads and its finished children):
    on a shared machine the CPU seconds say how much of the wall time was waiting for a core."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.cpu_seconds: dict[str, float] = {}

    @contextmanager
    def part(self, name: str) -> Iterator[None]:
        began, cpu = time.perf_counter(), _cpu_s()
        yield
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - began
        self.cpu_seconds[name] = self.cpu_seconds.get(name, 0.0) + _cpu_s() - cpu


def _cpu_s() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def import_seconds() -> float:
    """Wall seconds for a fresh interpreter to import the restore job's modules."""
    began = time.perf_counter()
    subprocess.run([sys.executable, "-c", JOB_IMPORTS], check=True, capture_output=True)
    return time.perf_counter() - began


def calibrate(job_flags: list[str], key: dict[str, Any]) -> dict[str, Any]:
    """Measures the stage rates with the restore job's ``job_flags`` (checkpoint, steps, batch
    size, sampler, vocoder) on one calibration film; returns the cache record."""
    import numpy as np
    from apache_beam.options.pipeline_options import PipelineOptions

    from media.score import ScoreUnavailable
    from media.shard import shard_film
    from media.transnet import load_transnet
    from model.synth.collection import write_collection
    from model.synth.config import SynthConfig
    from pipelines import restore
    from transforms.assemble import (
        STATUS_DONE,
        _AssembleFilmFn,
        best_take,
        film_row,
        scene_rows,
        score_inputs,
        take_row,
    )
    from transforms.generate import UnitFrames, _WriteStemFn, decode_unit_frames
    from transforms.inference import TalkieModelHandler, window_count
    from transforms.manifest import derive_film_id, parse_manifest
    from transforms.report import report_film
    from transforms.score import ScoreSettings, plan_score
    from transforms.shard import ShardedFilm
    from transforms.units import plan_film

    watch = _Stopwatch()
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="talkie-plan-") as work:
        films = Path(work) / "films"
        write_collection(films, 1, FILM_SEED, SynthConfig(min_shots=3, max_shots=3), workers=1)
        row = json.loads((films / "manifest.jsonl").read_text(encoding="utf-8").splitlines()[0])
        manifest = films / "calibration.jsonl"
        manifest.write_text(
            json.dumps({"video_input": row["video_input"], "positive_prompt": FILM_PROMPT}) + "\n",
            encoding="utf-8",
        )
        output = str(Path(work) / "out")
        with watch.part("fixed"):
            import_seconds()
            options = PipelineOptions(
                [*job_flags, "--input", str(manifest), "--output", output, "--takes", "1"]
            )
            settings = restore.settings_from(options)
            generation = settings.generation
            load_transnet("cpu")
            handler = TalkieModelHandler(generation, settings.batch_size)
            model = handler.load_model()
            config = generation.config
            blank = np.zeros((1, config.video_frames, config.video.height, config.video.width), np.uint8)
            model.generate(blank, ["footsteps"], None, seeds=[0], steps=1, batch_size=1)
        with watch.part("shot listing"):
            jobs, _ = parse_manifest(settings.input_spec)
            job = jobs[0]
            probe, scenes = shard_film(job.video_input, min_scene_s=settings.min_scene_s)
            film = ShardedFilm(
                job, derive_film_id(job.video_input, probe.content_sha256), probe, tuple(scenes)
            )
            plan = plan_film(film, generation)
        with watch.part("decode"):
            elements = [UnitFrames(unit=u, frames=decode_unit_frames(u, generation)) for u in plan.units]
        batches = _batches(elements, settings.batch_size, window_count)
        with watch.part("generation"):
            results = []
            for batch in batches:
                results += handler.run_inference(batch, model)
        with watch.part("stems"):
            writer = _WriteStemFn(generation, output, settings.run_id, settings.batch_size, None)
            writer.setup()
            takes = [writer._publish(r.example, np.asarray(r.inference)) for r in results]
        chosen = [best_take([t]) for t in takes]
        best = {t.unit.scene_index: t.unit.take for t in chosen}
        score_note = None
        for mode, stage in (("on", "score"), ("off", "films")):
            with watch.part(stage):
                score_settings = ScoreSettings(mode=mode)
                assembler = _AssembleFilmFn(output, generation, settings.assembly, False, score_settings)
                score = plan_score(score_inputs(chosen), probe.duration_s, score_settings)
                try:
                    fields = assembler._assemble(plan, chosen, score)
                except ScoreUnavailable as exc:  # the job fails such films at assembly
                    score_note = f"not measured: {exc}"
        with watch.part("report"):
            film_record = film_row(plan, generation, STATUS_DONE, **fields)
            take_rows = [take_row(t, generation) for t in takes]
            report_film(output, settings.run_id, film_record, scene_rows(plan, best, score), take_rows)
    seconds = watch.seconds
    film_s, audio_s = probe.duration_s, probe.duration_s  # one take
    score_s = seconds["score"] - seconds["films"]
    return {
        "schema": CACHE_SCHEMA,
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "load_average": list(os.getloadavg()),
        "settings": key,
        "film": {
            "duration_s": film_s,
            "frames": probe.frames,
            "size": [probe.width, probe.height],
            "scenes": len(scenes),
            "windows": sum(len(u.windows) for u in plan.units),
        },
        "stage_s": {k: round(v, 3) for k, v in seconds.items()},
        "stage_cpu_s": {k: round(v, 3) for k, v in watch.cpu_seconds.items()},
        "calibration_s": round(time.perf_counter() - began, 1),
        "fixed_s": round(seconds["fixed"], 3),
        "rates": {
            "shots_film_s_per_s": film_s / seconds["shot listing"],
            "decode_film_s_per_s": film_s / seconds["decode"],
            "generate_audio_s_per_s": audio_s / seconds["generation"],
            # what the estimate uses: one generate call's seconds (plan_model.PER_BATCH)
            "generate_s_per_batch": seconds["generation"] / len(batches),
            "stems_audio_s_per_s": audio_s / seconds["stems"],
            "films_film_s_per_s": film_s / seconds["films"],
            # the score's own cost; a measurement below noise counts as "in films"
            "score_film_s_per_s": score_note
            or (film_s / score_s if score_s > 0 else "in films_film_s_per_s"),
            "report_film_s_per_s": film_s / seconds["report"],
        },
        "rate_steps": key["steps"],
    }


def _batches(elements: list[Any], batch_size: int, weight: Any) -> list[list[Any]]:
    """BatchElements' packing by windows: units in order until the next would pass ``batch_size``."""
    batches: list[list[Any]] = []
    batch: list[Any] = []
    size = 0
    for element in elements:
        if batch and size + weight(element) > batch_size:
            batches.append(batch)
            batch, size = [], 0
        batch.append(element)
        size += weight(element)
    if batch:
        batches.append(batch)
    return batches

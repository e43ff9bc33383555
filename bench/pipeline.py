"""What does the restore job add to its own work? Its audio-seconds per wall-second beside each stage alone.

    python -m bench.pipeline [--films 6] [--seed 4321] [--checkpoint URI] [--steps 20] [--takes 1]
        [--batch_size 8] [--runner in_process|multi_processing] [--workers N] [--keep DIR]
        [--size foley|1080p] [--seconds 12] [--video_decode cpu|cuda]

Renders ``--films`` foley-world films (``model.synth.write_collection``, default settings; not
timed), or with ``--size 1080p`` two films at real resolution made with FFmpeg (``--seconds``
each, three shots of lavfi sources: testsrc2, gradients, life, with temporal noise; not timed):
1920x1080 H.264 in MP4 (yuv420p, CRF 20, preset veryfast, B-frames) and 2048x1080 FFV1 level 3
in Matroska (10-bit 4:2:2, an archive master's usual picture), then, on the same films and in
one run:

1. the whole restore job, ``pipelines.restore.run`` with the FnApiRunner in-process (or the
   DirectRunner's ``multi_processing`` mode with ``--workers`` processes) into a fresh folder,
   timed from the call to its return (settings, pipeline, runs row and summary included);
2. each stage alone into another fresh folder, calling what the job's DoFns call, in plain
   Python with no runner:
   - probe and shot detection: ``transforms.manifest.parse_manifest``, then per film
     ``media.shard.shard_film``, ``check_scenes_tile`` and ``derive_film_id`` (ProbeAndShard),
     ``transforms.units.plan_film`` (PlanUnits) and ``read_ledger`` per unit (SkipDone);
   - decode: ``transforms.generate.decode_unit_frames`` once per scene, containers kept open
     between scenes (DecodeWindows; ``--video_decode cuda`` tries NVDEC first and falls back to
     the CPU as DecodeWindows does);
   - model load: the job's settings (``pipelines.restore.settings_from``: flags, checkpoint
     hashed) and ``TalkieModelHandler.load_model`` (RunInference's setup);
   - generation: ``TalkieModelHandler.run_inference`` (one ``Generator.generate`` call per batch,
     ``bench/model_speed.py``'s code path) on the batches Beam's BatchElements would make from
     one bundle: units packed in (film, scene, take) order until the next would pass
     ``--batch_size`` windows;
   - stems: ``_WriteStemFn._publish`` per unit (blend, sync score, 48 kHz resample, 24-bit FLAC,
     stem then ledger object written);
   - films: per film ``best_take`` per scene, then ``_AssembleFilmFn._assemble`` (read stems,
     film track, loudness, FLAC, MKV mux, both written) and its table rows;
   - tables: the films, scenes, takes and failures rows as Parquet (``write_table_file``);
   - report: per film ``transforms.report.report_film`` (ReportFilms: preview,
     scene pictures, page); the run's index page, written from the tables after the pipeline,
     is counted in the job's time only.

Beside the stages, and not counted in their sum: the analysis decode alone (each film decoded
and scaled to the shot detector's sizes, ``media.decode.iter_analysis_frames``, nothing else),
so that decode's share of shot detection at the films' resolution is known.

Audio-seconds are the films' durations times the takes. The ratio job / sum of stages is the
pipeline's share (the issue's target: at most 1.15). Before anything is timed, a warm-up loads
TransNetV2, MiniLM and the generator once and runs one sampler step, so that neither side pays
for first imports, disk caches, CUDA context or kernel selection the other got for free. On CUDA
the generator runs under bf16 autocast (the job's automatic choice); the film track files of
the stages are compared with the job's (the same unit keys give the same bytes).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import hashlib
import io
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from apache_beam.options.pipeline_options import PipelineOptions

from media import storage
from media.cut_features import LUMA_SIZE
from media.decode import OpenFilms, decode_range, hwaccel_for, iter_analysis_frames, open_video
from media.shard import shard_film
from media.transnet import INPUT_SIZE as TRANSNET_SIZE
from media.transnet import load_transnet
from model.checkpoint import save_checkpoint
from model.config import preset
from model.generate import DEFAULT_CHECKPOINT, load_generator
from model.networks import build_network
from model.synth.collection import write_collection
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
from transforms.ledger import read_ledger
from transforms.manifest import derive_film_id, parse_manifest
from transforms.report import report_film
from transforms.score import plan_score
from transforms.shard import ShardedFilm, check_scenes_tile
from transforms.tables import write_table_file
from transforms.units import plan_film

ROOT = Path(__file__).resolve().parents[1]


TARGET = 1.15
RUNNERS = ("in_process", "multi_processing")
SIZES = ("foley", "1080p")
# --size 1080p: (file, lavfi size, FFmpeg encoder options, pixel format) per film
REAL_FILMS = (
    ("h264-1080p.mp4", "1920x1080", ["-c:v", "libx264", "-preset", "veryfast", "-crf", "20"], "yuv420p"),
    ("ffv1-2k.mkv", "2048x1080", ["-c:v", "ffv1", "-level", "3", "-g", "1", "-slices", "16"], "yuv422p10le"),
)
REAL_SHOTS = ("testsrc2", "gradients=speed=0.05", "life=mold=10:ratio=0.2")


def write_real_films(folder: Path, seconds: float) -> str:
    """The two --size 1080p films (module docstring), made once into ``folder``; returns the manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    shot = seconds / len(REAL_SHOTS)
    for name, size, encoder, pix_fmt in REAL_FILMS:
        path = folder / name
        if not path.exists():
            inputs: list[str] = []
            chains = []
            for index, source in enumerate(REAL_SHOTS):
                kind, _, options = source.partition("=")
                inputs += ["-f", "lavfi", "-i", f"{kind}=s={size}:r=24" + (f":{options}" if options else "")]
                chains.append(f"[{index}]trim=duration={shot},setpts=PTS-STARTPTS[s{index}]")
            joined = "".join(f"[s{i}]" for i in range(len(REAL_SHOTS)))
            graph = ";".join(chains) + (
                f";{joined}concat=n={len(REAL_SHOTS)}:v=1,format={pix_fmt},noise=alls=3:allf=t[v]"
            )
            tmp = path.with_name(f".{name}.tmp{path.suffix}")
            subprocess.run(
                ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *inputs, "-filter_complex", graph]
                + ["-map", "[v]", *encoder, str(tmp)],
                check=True,
            )
            tmp.rename(path)
        rows.append({"video_input": name, "film_id": path.stem, "positive_prompt": "footsteps on gravel"})
    manifest = folder / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(manifest.resolve())


def analysis_decode_alone(manifest: str) -> tuple[float, int]:
    """(seconds, frames) to decode every film and scale it to the shot detector's sizes, as
    ``media.shard.shard_film`` does, and nothing else."""
    jobs, _ = parse_manifest(manifest)
    frames = 0
    began = time.perf_counter()
    for job in jobs:
        with open_video(job.video_input) as (container, stream):
            for _ in iter_analysis_frames(
                container, stream, job.video_input, rgb_size=TRANSNET_SIZE, luma_size=LUMA_SIZE
            ):
                frames += 1
    return time.perf_counter() - began, frames


def checkpoint_for(args, workdir: Path) -> tuple[str, str]:
    """(checkpoint path or URI, how it was chosen)."""
    if args.checkpoint:
        return args.checkpoint, "given"
    if DEFAULT_CHECKPOINT.exists():
        return str(DEFAULT_CHECKPOINT), "the shipped default"
    path = workdir / "untrained-tiny.safetensors"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        network = build_network(preset("tiny"))
    save_checkpoint(str(path), network.state_dict(), preset("tiny"))
    return str(path), (
        f"UNTRAINED tiny preset built here ({DEFAULT_CHECKPOINT.relative_to(ROOT)} does not "
        "exist; speed does not depend on the weights)"
    )


def job_argv(args, manifest: str, output: str, checkpoint: str) -> list[str]:
    argv = [
        "--input",
        manifest,
        "--output",
        output,
        "--checkpoint",
        checkpoint,
        "--steps",
        str(args.steps),
        "--takes",
        str(args.takes),
        "--batch_size",
        str(args.batch_size),
        "--video_decode",
        args.video_decode,
    ]
    if args.runner == "in_process":
        return argv + ["--runner=FnApiRunner"]
    return argv + [
        "--runner=DirectRunner",
        "--direct_running_mode=multi_processing",
        f"--direct_num_workers={args.workers}",
    ]


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def warm_up(manifest: str, checkpoint: str, batch_size: int) -> str:
    """Loads what both sides load (TransNetV2, MiniLM, the generator) and runs every kind of
    work once, untimed; returns the generator's device type."""
    jobs, _ = parse_manifest(manifest)
    load_transnet("cpu")
    probe, scenes = shard_film(jobs[0].video_input)
    generator = load_generator(checkpoint)
    config = generator.config
    decode_range(
        jobs[0].video_input,
        scenes[0].start_pts,
        scenes[0].end_pts,
        fps=config.video.fps,
        width=config.video.width,
        height=config.video.height,
        gray=True,
    )
    frames = np.zeros((batch_size, config.video_frames, config.video.height, config.video.width), np.uint8)
    generator.generate(
        frames,
        ["footsteps"] * batch_size,
        None,
        seeds=list(range(batch_size)),
        steps=1,
        batch_size=batch_size,
    )
    device = generator.device.type
    sync(device)
    del generator
    gc.collect()
    return device


def beam_batches(elements: list[UnitFrames], batch_size: int) -> list[list[UnitFrames]]:
    """BatchElements' packing (min = max = batch_size, sized by windows) over one bundle."""
    batches: list[list[UnitFrames]] = []
    batch: list[UnitFrames] = []
    size = 0
    for element in elements:
        weight = window_count(element)
        if size + weight > batch_size and batch:
            batches.append(batch)
            batch, size = [], 0
        batch.append(element)
        size += weight
    if batch:
        batches.append(batch)
    return batches


class Stopwatch:
    def __init__(self, device: str) -> None:
        self.device = device
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def part(self, name: str):
        sync(self.device)
        began = time.perf_counter()
        yield
        sync(self.device)
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - began


def stages_alone(args, manifest: str, output: str, checkpoint: str, device: str):
    """Each stage on its own, in order, each handing its results to the next in memory."""
    watch = Stopwatch(device)
    with watch.part("model load"):
        settings = restore.settings_from(PipelineOptions(job_argv(args, manifest, output, checkpoint)))
        generation = settings.generation
    with watch.part("probe and shot detection"):
        jobs, failures = parse_manifest(settings.input_spec)
        films = []
        for job in jobs:
            probe, shards = shard_film(job.video_input, min_scene_s=settings.min_scene_s)
            scenes = tuple(shards)
            check_scenes_tile(probe, scenes)
            film_id = job.film_id or derive_film_id(job.video_input, probe.content_sha256)
            films.append(ShardedFilm(job=job, film_id=film_id, probe=probe, scenes=scenes))
        plans = [plan_film(film, generation) for film in films]
        to_do = [u for plan in plans for u in plan.units if read_ledger(output, u) is None]
    with watch.part("decode"), OpenFilms(keep=2) as kept:
        hwaccel = hwaccel_for(args.video_decode)
        by_scene: dict[tuple[str, int], list] = {}
        for unit in to_do:
            by_scene.setdefault(unit.scene_id, []).append(unit)
        elements = []
        for units in by_scene.values():
            units.sort(key=lambda u: (u.take, u.key))
            try:
                frames = decode_unit_frames(units[0], generation, hwaccel, kept)
            except Exception as exc:
                if hwaccel is None:
                    raise
                print(f"NVDEC decoding failed ({type(exc).__name__}: {exc}); decoding on the CPU")
                hwaccel = None
                frames = decode_unit_frames(units[0], generation, None, kept)
            elements += [UnitFrames(unit=u, frames=frames) for u in units]
    handler = TalkieModelHandler(generation, settings.batch_size)
    with watch.part("model load"):
        model = handler.load_model()
    with watch.part("generation"):
        results = []
        for batch in beam_batches(elements, settings.batch_size):
            results += handler.run_inference(batch, model)
    del model
    with watch.part("stems"):
        writer = _WriteStemFn(generation, output, settings.run_id, settings.batch_size, None)
        writer.setup()
        takes = [writer._publish(r.example, np.asarray(r.inference)) for r in results]
    with watch.part("films"):
        assembler = _AssembleFilmFn(output, generation, settings.assembly, force=False, score=settings.score)
        film_rows, scene_table, take_table = [], [], []
        by_key = {t.unit.key: t for t in takes}
        for plan in plans:
            film_takes = [by_key[u.key] for u in plan.units]
            take_table += [take_row(t, generation) for t in film_takes]
            per_scene: dict[int, list] = {}
            for take in film_takes:
                per_scene.setdefault(take.unit.scene_index, []).append(take)
            chosen = [best_take(per_scene[scene.index]) for scene in plan.film.scenes]
            best = {t.unit.scene_index: t.unit.take for t in chosen}
            score = plan_score(score_inputs(chosen), plan.film.probe.duration_s, settings.score)
            fields = assembler._assemble(plan, chosen, score)
            film_rows.append(film_row(plan, generation, STATUS_DONE, **fields))
            scene_table += scene_rows(plan, best, score)
    with watch.part("tables"):
        for table, rows in (
            ("films", film_rows),
            ("scenes", scene_table),
            ("takes", take_table),
            ("failures", []),
        ):
            write_table_file(output, table, settings.run_id, rows)
    with watch.part("report"):
        for row in film_rows:
            report_film(
                output,
                settings.run_id,
                row,
                [r for r in scene_table if r["film_id"] == row["film_id"]],
                [r for r in take_table if r["film_id"] == row["film_id"]],
            )
    audio_s = sum(f.probe.duration_s for f in films) * args.takes
    windows = sum(window_count(e) for e in elements)
    return watch.seconds, film_rows, audio_s, windows, len(to_do), failures


def file_digest(uri: str | None) -> str | None:
    return hashlib.sha256(storage.read_bytes(uri)).hexdigest() if uri and storage.exists(uri) else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pipeline", description=__doc__.split("\n")[0])
    parser.add_argument("--films", type=int, default=6, help="foley-world films (--size foley)")
    parser.add_argument(
        "--size", default="foley", choices=SIZES, help="foley-world films, or 1080p H.264 and 2K FFV1"
    )
    parser.add_argument("--seconds", type=float, default=12.0, help="each --size 1080p film's length")
    parser.add_argument("--video_decode", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--seed", type=int, default=4321, help="foley-world collection seed")
    parser.add_argument(
        "--checkpoint",
        default=None,
        help="default: model/weights/tiny.safetensors, else an untrained tiny checkpoint",
    )
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--takes", type=int, default=1)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--runner", default="in_process", choices=RUNNERS)
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="worker processes with --runner multi_processing (default: the CPU count)",
    )
    parser.add_argument(
        "--keep", help="render the films and write both outputs into this folder and keep them"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("model.device").setLevel(logging.ERROR)  # "no CUDA device" once per load

    workdir = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="talkie-pipeline-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        films_dir, job_out, stages_out = workdir / "films", workdir / "job", workdir / "stages"
        for folder in (job_out, stages_out):
            shutil.rmtree(folder, ignore_errors=True)
        if args.size == "1080p":
            manifest = write_real_films(films_dir, args.seconds)
        else:
            write_collection(films_dir, args.films, args.seed)
            manifest = str((films_dir / "manifest.jsonl").resolve())
        checkpoint, origin = checkpoint_for(args, workdir)
        device = warm_up(manifest, checkpoint, args.batch_size)

        began = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()) as job_text:
            summary = restore.run(job_argv(args, manifest, str(job_out), checkpoint))
        job_s = time.perf_counter() - began
        gc.collect()

        seconds, film_rows, audio_s, windows, units, failures = stages_alone(
            args, manifest, str(stages_out), checkpoint, device
        )
        decode_alone_s, decode_alone_frames = analysis_decode_alone(manifest)

        if device == "cuda":
            where = f"{torch.cuda.get_device_name()} (bf16 autocast)"
        else:
            where = f"CPU, {torch.get_num_threads()} torch threads (float32)"
        runner = (
            "FnApiRunner in-process"
            if args.runner == "in_process"
            else f"DirectRunner multi_processing, {args.workers} workers"
        )
        if args.size == "1080p":
            what = "films at real resolution (" + ", ".join(name for name, *_ in REAL_FILMS) + ")"
        else:
            what = f"foley-world films (seed {args.seed})"
        print(
            f"bench/pipeline.py: {len(film_rows)} {what}, {audio_s:.1f} s of "
            "film "
            f"x {args.takes} take(s), {units} units, {windows} windows; {args.steps} steps, batch "
            f"{args.batch_size} "
            f"windows; on {where}; torch {torch.__version__}"
        )
        print(f"checkpoint: {checkpoint} ({origin})")
        print()
        print("| stage | wall s | audio-s per wall-s |")
        print("|---|---|---|")
        rows = [
            (
                "probe and shot detection (manifest, shard_film, plan, ledger check)",
                "probe and shot detection",
            ),
            ("decode (decode_unit_frames, once per scene)", "decode"),
            ("model load (job settings, checkpoint, generator)", "model load"),
            ("generation (TalkieModelHandler.run_inference -> Generator.generate)", "generation"),
            ("stems (blend, sync score, resample, FLAC, stem + ledger writes)", "stems"),
            ("films (track, loudness, FLAC, MKV mux, writes)", "films"),
            ("tables (films, scenes, takes, failures Parquet)", "tables"),
            ("report (per film: preview MP4, scene pictures, page)", "report"),
        ]
        for label, name in rows:
            s = seconds.get(name, 0.0)
            print(f"| {label} | {s:.2f} | {audio_s / s if s > 0 else float('inf'):.1f} |")
        total = sum(seconds.values())
        ratio = job_s / total if total > 0 else float("inf")
        print(f"| **sum of stages alone** | {total:.2f} | {audio_s / total:.1f} |")
        print(f"| **restore job** ({runner}) | {job_s:.2f} | {audio_s / job_s:.1f} |")
        print()
        detection = seconds.get("probe and shot detection", 0.0)
        decoding = decode_alone_s + seconds.get("decode", 0.0)
        print(
            f"analysis decode alone (decode + scale to the shot detector's sizes, not in the sum): "
            f"{decode_alone_s:.2f} s for {decode_alone_frames} frames "
            f"({decode_alone_frames / decode_alone_s:.1f} frames/s), {decode_alone_s / detection:.0%} of "
            f"probe and shot detection; with the model-size decode, decoding is {decoding / total:.0%} of "
            f"the stages' time (--video_decode {args.video_decode})"
        )
        verdict = "within" if ratio <= TARGET else "OVER"
        print(
            f"job / sum of stages: {ratio:.3f} (target <= {TARGET}: {verdict}); the pipeline adds "
            f"{job_s - total:+.2f} s"
        )

        job_films = {}
        for film_id, flac, _ in summary.film_outputs:
            job_films[film_id] = file_digest(flac)
        same = sum(
            1
            for row in film_rows
            if job_films.get(row["film_id"]) is not None
            and job_films.get(row["film_id"]) == file_digest(row["flac_uri"])
        )
        print(
            f"job: {summary.films_done}/{summary.films} films assembled, {summary.units_generated} units "
            f"generated, {summary.failures} failures; film tracks byte-identical between the job and the "
            f"stages: {same}/{len(film_rows)}"
        )
        if failures:
            print(f"manifest rows that failed in the stages: {len(failures)}")
        if args.keep:
            print(f"films, job output and stage output kept in {workdir}")
        del job_text
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

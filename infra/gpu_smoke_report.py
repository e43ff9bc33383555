"""Reads what infra/gpu_smoke.sh recorded and says whether the restore job really ran on CUDA.

    python -m infra.gpu_smoke_report --job_log RESTORE.LOG --model_log MODEL_SPEED.LOG \\
        --gpu_samples NVIDIA_SMI.CSV --output JOB_OUTPUT [--preset tiny] [--batch 32]

Evidence that CUDA was used, all required:
- every ledger object the run wrote names device "cuda" (``_WriteStemFn`` records the device
  type the job generated on);
- nvidia-smi, sampled during the job, saw the GPU's memory grow above its level before the job
  (some process of the job held CUDA memory: the model server of ``share_model_across_processes``);
- the model-alone benchmark ran under "bf16 autocast" on a named GPU (the same code path,
  ``Generator.generate``, that the job's handler calls on CUDA).

Prints the job's audio-seconds per wall-second beside the model alone's at the same batch size
and sampler steps, and exits 1 (saying why) when any evidence is missing.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
from collections import Counter
from pathlib import Path

_SUMMARY = re.compile(
    r"talkie restore: run (?P<run_id>\S+): (?P<done>\d+)/(?P<films>\d+) films assembled, "
    r"(?P<scenes>\d+) scenes, (?P<generated>\d+) units generated and (?P<skipped>\d+) skipped, "
    r"(?P<audio_s>[\d.]+) s of audio generated "
    r"in (?P<wall_s>[\d.]+) s \((?P<rate>[\d.]+) audio-s/s\)"
)
_MODEL_HEADER = re.compile(r"bench/model_speed\.py on (?P<device>.+?) \((?P<precision>[^,)]+)")
_MODEL_ROW = re.compile(
    r"^\|\s*(?P<preset>\w+)\s*\|\s*[\d.]+M\s*\|\s*[\d.]+\s*\|\s*(?P<batch>\d+)\s*\|\s*(?P<seconds>[\d.]+)\s*\|"
    r"\s*(?P<rate>[\d.]+)",
    re.M,
)
# Growth of GPU memory over its level before the job that counts as the job using the GPU: a
# CUDA context alone takes a few hundred MiB.
MIN_MEMORY_GROWTH_MIB = 100.0


@dataclasses.dataclass(frozen=True)
class JobRun:
    run_id: str
    films_done: int
    films: int
    units_generated: int
    audio_s: float
    wall_s: float

    @property
    def rate(self) -> float:
        return self.audio_s / self.wall_s if self.wall_s > 0 else 0.0


@dataclasses.dataclass(frozen=True)
class ModelAlone:
    device: str
    precision: str
    preset: str
    batch: int
    rate: float


def parse_job_summary(text: str) -> JobRun:
    """The restore job's summary line (``RestoreSummary.text``) from its stdout."""
    found = _SUMMARY.search(text)
    if not found:
        raise ValueError(
            "no 'talkie restore: run ...' summary line in the job's output (did the job finish?)"
        )
    return JobRun(
        run_id=found["run_id"],
        films_done=int(found["done"]),
        films=int(found["films"]),
        units_generated=int(found["generated"]),
        audio_s=float(found["audio_s"]),
        wall_s=float(found["wall_s"]),
    )


def parse_model_speed(text: str, preset: str, batch: int) -> ModelAlone:
    """The row for ``preset`` at ``batch`` of bench/model_speed.py's table, with its device and precision."""
    header = _MODEL_HEADER.search(text)
    if not header:
        raise ValueError("no 'bench/model_speed.py on ...' header in the model benchmark's output")
    for row in _MODEL_ROW.finditer(text):
        if row["preset"] == preset and int(row["batch"]) == batch:
            return ModelAlone(
                device=header["device"],
                precision=header["precision"],
                preset=preset,
                batch=batch,
                rate=float(row["rate"]),
            )
    raise ValueError(f"no row for preset {preset} at batch {batch} in the model benchmark's table")


def parse_gpu_samples(text: str) -> list[tuple[float, float]]:
    """(utilization %, memory used MiB) per line of ``nvidia-smi --query-gpu=utilization.gpu,memory.used
    --format=csv,noheader,nounits`` (first GPU's lines only when several are listed per sample)."""
    samples = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        fields = [f.strip() for f in line.split(",")]
        if len(fields) != 2:
            raise ValueError(f"nvidia-smi sample line {number}: {line!r} is not 'utilization, memory'")
        try:
            samples.append((float(fields[0]), float(fields[1])))
        except ValueError:
            raise ValueError(f"nvidia-smi sample line {number}: {line!r} is not two numbers") from None
    return samples


def ledger_devices(output: Path, run_id: str) -> Counter:
    """How many of run ``run_id``'s ledger objects name each device."""
    devices: Counter = Counter()
    for path in output.glob("ledger/*/*.json"):
        record = json.loads(path.read_text())
        if record.get("run_id") == run_id:
            devices[record.get("device")] += 1
    return devices


def problems_with(
    job: JobRun, model: ModelAlone, devices: Counter, samples: list[tuple[float, float]], baseline_mib: float
) -> list[str]:
    """Why the run does not show the job generating on CUDA with bf16; empty when it does."""
    problems = []
    if job.units_generated == 0:
        problems.append("the job generated no unit (all skipped? run into an empty output folder)")
    if job.films_done != job.films:
        problems.append(f"only {job.films_done} of {job.films} films were assembled")
    if set(devices) != {"cuda"} or sum(devices.values()) != job.units_generated:
        problems.append(
            f"ledger objects of run {job.run_id} by device: {dict(devices)}; expected all "
            f"{job.units_generated} on cuda"
        )
    if not samples:
        problems.append("no nvidia-smi samples were taken during the job")
    elif max(memory for _, memory in samples) - baseline_mib < MIN_MEMORY_GROWTH_MIB:
        problems.append(
            f"GPU memory never rose {MIN_MEMORY_GROWTH_MIB:.0f} MiB above its level before the job "
            f"({baseline_mib:.0f} MiB): the job did not use the GPU"
        )
    if "bf16" not in model.precision or model.device.startswith("CPU"):
        problems.append(f"the model benchmark ran on {model.device} ({model.precision}), not CUDA with bf16")
    return problems


def report(
    job: JobRun, model: ModelAlone, devices: Counter, samples: list[tuple[float, float]], baseline_mib: float
) -> str:
    peak_memory = max((m for _, m in samples), default=float("nan"))
    peak_use = max((u for u, _ in samples), default=float("nan"))
    return "\n".join(
        [
            f"GPU smoke on {model.device}: restore job run {job.run_id}, {job.films_done}/{job.films} films, "
            f"{job.units_generated} units, {job.audio_s:.1f} s of audio in {job.wall_s:.1f} s",
            "| what | audio-s per wall-s |",
            "|---|---|",
            "| restore job (whole job: probe, shots, decode, generation, stems, films, tables) | "
            f"{job.rate:.1f} |",
            f"| model alone ({model.preset}, batch {model.batch}, {model.precision}) | {model.rate:.1f} |",
            f"job / model alone: {job.rate / model.rate if model.rate else float('nan'):.3f}",
            f"ledger devices: {dict(devices)}; GPU memory {baseline_mib:.0f} MiB before, peak "
            f"{peak_memory:.0f} MiB "
            f"during the job; peak utilization {peak_use:.0f}% over {len(samples)} samples",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.gpu_smoke_report", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--job_log", type=Path, required=True, help="the restore job's stdout")
    parser.add_argument("--model_log", type=Path, required=True, help="bench/model_speed.py's stdout")
    parser.add_argument(
        "--gpu_samples", type=Path, required=True, help="nvidia-smi CSV samples taken during the job"
    )
    parser.add_argument(
        "--baseline_mib", type=float, required=True, help="GPU memory used before the job, MiB"
    )
    parser.add_argument("--output", type=Path, required=True, help="the job's output folder")
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args(argv)
    try:
        job = parse_job_summary(args.job_log.read_text())
        model = parse_model_speed(args.model_log.read_text(), args.preset, args.batch)
        samples = parse_gpu_samples(args.gpu_samples.read_text())
    except (OSError, ValueError) as exc:
        print(f"gpu smoke: FAILED: {exc}", file=sys.stderr)
        return 1
    devices = ledger_devices(args.output, job.run_id)
    print(report(job, model, devices, samples, args.baseline_mib))
    problems = problems_with(job, model, devices, samples, args.baseline_mib)
    for problem in problems:
        print(f"gpu smoke: FAILED: {problem}", file=sys.stderr)
    if not problems:
        print("gpu smoke: passed (the job generated every unit on CUDA)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

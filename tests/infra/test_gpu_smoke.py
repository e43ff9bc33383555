"""infra/gpu_smoke.sh's logic that needs no GPU: reading the job's summary, the model benchmark's
table and nvidia-smi samples, deciding whether CUDA was used, and refusing to run without a GPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter

import pytest

from infra.gpu_smoke_report import (
    JobRun,
    ModelAlone,
    ledger_devices,
    parse_gpu_samples,
    parse_job_summary,
    parse_model_speed,
    problems_with,
    report,
)
from pipelines.restore import RestoreSummary
from tests.conftest import REPO

RUN_ID = "20261126T120000Z-0123abcd"


def job(**fields) -> JobRun:
    values = dict(run_id=RUN_ID, films_done=6, films=6, units_generated=24, audio_s=57.0, wall_s=9.5)
    return JobRun(**{**values, **fields})


def h200(**fields) -> ModelAlone:
    values = dict(device="NVIDIA H200", precision="bf16 autocast", preset="tiny", batch=32, rate=566.1)
    return ModelAlone(**{**values, **fields})


def test_the_job_summary_is_read_from_what_the_restore_job_prints():
    summary = RestoreSummary(
        run_id=RUN_ID,
        output="/tmp/out",
        films=6,
        films_done=5,
        scenes=24,
        takes=24,
        units_generated=20,
        units_skipped=4,
        audio_s_generated=47.25,
        film_audio_s=57.0,
        wall_s=12.5,
        failures_by_stage={"probe_and_shard": 1},
    )
    parsed = parse_job_summary("WARNING something\n" + summary.text() + "\n")
    assert parsed == JobRun(
        run_id=RUN_ID, films_done=5, films=6, units_generated=20, audio_s=47.2, wall_s=12.5
    )
    assert parsed.rate == pytest.approx(47.2 / 12.5)
    with pytest.raises(ValueError, match="no 'talkie restore: run"):
        parse_job_summary("Traceback (most recent call last):\n  ...\nRuntimeError: boom\n")


def test_the_model_rate_is_read_from_bench_model_speed_output():
    done = subprocess.run(
        [
            sys.executable,
            "bench/model_speed.py",
            "--presets",
            "tiny",
            "--batches",
            "1",
            "2",
            "--steps",
            "1",
            "--repeats",
            "1",
            "--device",
            "cpu",
            "--threads",
            "1",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    cpu = parse_model_speed(done.stdout, "tiny", 2)
    assert cpu.device.startswith("CPU") and cpu.precision == "float32" and cpu.batch == 2 and cpu.rate > 0
    assert problems_with(job(), cpu, Counter(cuda=24), [(50.0, 3000.0)], 500.0) == [
        "the model benchmark ran on CPU, 1 threads (float32), not CUDA with bf16"
    ]
    with pytest.raises(ValueError, match="no row for preset tiny at batch 32"):
        parse_model_speed(done.stdout, "tiny", 32)
    recorded_on_gpu = (
        "bench/model_speed.py on NVIDIA H200 (bf16 autocast, torch.compile), 20 Euler steps\n"
        "| preset | parameters | window s | batch | s per batch | audio-s per wall-s |\n"
        "|---|---|---|---|---|---|\n"
        "| tiny | 3.4M | 4 | 32 | 0.145 | 883.3 (first call 41.0 s) |\n"
    )
    assert parse_model_speed(recorded_on_gpu, "tiny", 32) == h200(rate=883.3)


def test_nvidia_smi_samples_are_read_and_bad_lines_refused():
    assert parse_gpu_samples("0, 512\n37, 2048\n\n100, 4096\n") == [
        (0.0, 512.0),
        (37.0, 2048.0),
        (100.0, 4096.0),
    ]
    with pytest.raises(ValueError, match="line 2"):
        parse_gpu_samples("0, 512\n[N/A], 600\n")
    with pytest.raises(ValueError, match="line 1"):
        parse_gpu_samples("0, 512, 7\n")


def test_ledger_devices_count_only_this_runs_objects(tmp_path):
    for name, device, run_id in [
        ("a", "cuda", RUN_ID),
        ("b", "cuda", RUN_ID),
        ("c", "cpu", "20261101T000000Z-ffffffff"),
    ]:
        path = tmp_path / "ledger" / "film" / f"{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"device": device, "run_id": run_id}))
    assert ledger_devices(tmp_path, RUN_ID) == Counter(cuda=2)


def test_cuda_is_confirmed_only_when_all_evidence_agrees():
    samples = [(0.0, 500.0), (80.0, 2900.0), (95.0, 3100.0)]
    assert problems_with(job(), h200(), Counter(cuda=24), samples, 480.0) == []
    text = report(job(), h200(), Counter(cuda=24), samples, 480.0)
    assert "| restore job" in text and "| 6.0 |" in text and "| 566.1 |" in text and "0.011" in text
    [cpu_units] = problems_with(job(), h200(), Counter(cuda=20, cpu=4), samples, 480.0)
    assert "expected all 24 on cuda" in cpu_units
    [flat] = problems_with(job(), h200(), Counter(cuda=24), [(0.0, 520.0)], 480.0)
    assert "did not use the GPU" in flat
    [nothing] = problems_with(job(units_generated=0), h200(), Counter(), samples, 480.0)[:1]
    assert "generated no unit" in nothing


def test_the_script_refuses_to_run_without_a_gpu(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "dirname", "mkdir", "mktemp", "head"):  # what runs before the GPU check
        found = subprocess.run(
            ["bash", "-c", f"command -v {tool}"], capture_output=True, text=True
        ).stdout.strip()
        if found:
            (bin_dir / tool).symlink_to(found)
    done = subprocess.run(
        ["bash", str(REPO / "infra" / "gpu_smoke.sh"), str(tmp_path / "work")],
        env={**os.environ, "PATH": str(bin_dir)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 3 and "no NVIDIA GPU here" in done.stderr
    assert not (tmp_path / "work" / "job.log").exists()

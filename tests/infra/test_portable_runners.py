"""The restore job on the portable path gives the same outputs as in-process.

Three runs of the same job on the same films (two short foley-world films, one with two takes
per scene, and a zero-byte file that must fail):

- in-process: the FnApiRunner, one process;
- portable: ``--runner=PortableRunner`` against Beam's local job service
  (``apache_beam.runners.portability.local_job_service_main``) with ``--environment_type=LOOPBACK``:
  the pipeline is sent as a proto, its artifacts are staged, and an SDK harness runs the DoFns,
  as on Flink and Dataflow;
- multi-process: the FnApiRunner in ``multi_processing`` mode with two SDK worker processes;
- the Flink submit script (infra/flink/submit.sh) pointed at the same local job service with
  ``ENVIRONMENT=loopback``: the command line that Flink gets, but for the harness's location.

Stems and film outputs (FLAC and MKV) must be the same bytes; ledger objects and table rows the
same apart from the run id (and the output folder in URIs).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from infra.gpu_smoke_report import parse_job_summary
from model.synth import SynthConfig, write_collection
from pipelines.restore import RestoreSummary, run, summarize
from tests.conftest import REPO
from tests.infra.portable import file_digests, file_names, ledger_records, local_job_service, table_rows
from tests.transforms.generation import save_small_checkpoint
from transforms.tables import read_table


@dataclass(frozen=True)
class Restored:
    output: Path
    summary: RestoreSummary
    wall_s: float


@pytest.fixture(scope="module")
def films(tmp_path_factory, odd_films) -> Path:
    """A 2-shot film (1-1.5 s shots, two takes per scene), a 2 s one-shot film, a zero-byte file."""
    folder = tmp_path_factory.mktemp("portable_films")
    small = dict(width=64, height=48, classes=("impact", "footsteps"), fade_prob=0.0)
    rows = write_collection(
        folder / "two",
        films=1,
        seed=31,
        workers=1,
        config=SynthConfig(min_shots=2, max_shots=2, shot_seconds=(1.0, 1.5), **small),
    )
    rows += write_collection(
        folder / "one",
        films=1,
        seed=32,
        workers=1,
        config=SynthConfig(min_shots=1, max_shots=1, shot_seconds=(2.0, 2.0), **small),
    )
    rows[0] = {**rows[0], "video_input": f"two/{rows[0]['video_input']}", "takes": 2}
    rows[1] = {**rows[1], "video_input": f"one/{rows[1]['video_input']}"}
    rows.append({"video_input": odd_films["zero_bytes"], "film_id": "empty"})
    manifest = folder / "films.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return manifest


@pytest.fixture(scope="module")
def job_flags(films, tmp_path_factory) -> list[str]:
    checkpoint = save_small_checkpoint(tmp_path_factory.mktemp("portable_ckpt") / "small.safetensors")
    return [
        "--input",
        str(films),
        "--checkpoint",
        checkpoint,
        "--steps",
        "2",
        "--batch_size",
        "3",
        "--positive_prompt",
        "a quiet room",
    ]


def _restore(job_flags: list[str], output: Path, runner_flags: list[str]) -> Restored:
    began = time.monotonic()
    summary = run([*job_flags, "--output", str(output), *runner_flags])
    wall_s = time.monotonic() - began
    print(f"restore job with {' '.join(runner_flags)}: {wall_s:.1f} s")  # shown with pytest -s
    return Restored(output, summary, wall_s)


@pytest.fixture(scope="module")
def in_process(job_flags, tmp_path_factory) -> Restored:
    return _restore(job_flags, tmp_path_factory.mktemp("in_process"), ["--runner=FnApiRunner"])


@pytest.fixture(scope="module")
def job_endpoint(tmp_path_factory):
    with local_job_service(tmp_path_factory.mktemp("job_service") / "job_service.log") as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def portable(job_flags, job_endpoint, tmp_path_factory) -> Restored:
    return _restore(
        job_flags,
        tmp_path_factory.mktemp("portable"),
        ["--runner=PortableRunner", f"--job_endpoint={job_endpoint}", "--environment_type=LOOPBACK"],
    )


@pytest.fixture(scope="module")
def flink_submit_script(job_flags, job_endpoint, tmp_path_factory) -> Restored:
    output = tmp_path_factory.mktemp("flink_script")
    environment = {
        **os.environ,
        "JOB_ENDPOINT": job_endpoint,
        "ENVIRONMENT": "loopback",
        "BATCH_SIZE": "3",
        "PYTHON": sys.executable,
    }
    began = time.monotonic()
    done = subprocess.run(
        ["bash", str(REPO / "infra" / "flink" / "submit.sh"), *job_flags, "--output", str(output)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=900,
    )
    wall_s = time.monotonic() - began
    assert done.returncode == 0, done.stderr[-3000:]
    print(f"restore job through infra/flink/submit.sh (loopback): {wall_s:.1f} s")
    return Restored(output, summarize(str(output), parse_job_summary(done.stdout).run_id), wall_s)


@pytest.fixture(scope="module")
def multi_process(job_flags, tmp_path_factory) -> Restored:
    return _restore(
        job_flags,
        tmp_path_factory.mktemp("multi_process"),
        ["--runner=FnApiRunner", "--direct_running_mode=multi_processing", "--direct_num_workers=2"],
    )


OTHER_RUNS = ["portable", "multi_process", "flink_submit_script"]


def test_the_in_process_run_makes_every_kind_of_output(in_process):
    summary = in_process.summary
    assert (summary.films, summary.films_done) == (2, 2)
    assert summary.units_generated == summary.takes == summary.scenes + 2  # the 2-shot film has two takes
    assert summary.failures_by_stage == {"probe_and_shard": 1}
    files = file_digests(in_process.output)
    assert sum(name.startswith("audio/") for name in files) == summary.units_generated
    assert (
        sum(name.endswith(".mkv") for name in files)
        == sum(name.startswith("films/") and name.endswith(".flac") for name in files)
        == 2
    )


@pytest.mark.parametrize("other", OTHER_RUNS)
def test_stems_and_films_are_the_same_bytes(other, in_process, request):
    restored: Restored = request.getfixturevalue(other)
    assert restored.summary.units_generated == in_process.summary.units_generated
    assert file_digests(restored.output) == file_digests(in_process.output)


@pytest.mark.parametrize("other", OTHER_RUNS)
def test_the_same_files_are_written_but_for_run_named_ones(other, in_process, request):
    restored: Restored = request.getfixturevalue(other)
    ours = {n.replace(in_process.summary.run_id, "RUN") for n in file_names(in_process.output)}
    assert {n.replace(restored.summary.run_id, "RUN") for n in file_names(restored.output)} == ours


@pytest.mark.parametrize("other", OTHER_RUNS)
def test_ledger_objects_are_the_same_but_for_the_run_id(other, in_process, request):
    restored: Restored = request.getfixturevalue(other)
    expected = ledger_records(in_process.output, in_process.summary.run_id)
    assert len(expected) == in_process.summary.units_generated
    assert ledger_records(restored.output, restored.summary.run_id) == expected


@pytest.mark.parametrize("other", OTHER_RUNS)
def test_table_rows_are_the_same_but_for_the_run_id(other, in_process, request):
    restored: Restored = request.getfixturevalue(other)
    expected = table_rows(in_process.output, in_process.summary.run_id)
    assert [len(expected[t]) for t in ("films", "failures")] == [2, 1]
    assert table_rows(restored.output, restored.summary.run_id) == expected
    [theirs] = read_table(str(restored.output), "runs", run_id=restored.summary.run_id).to_pylist()
    [ours] = read_table(str(in_process.output), "runs", run_id=in_process.summary.run_id).to_pylist()
    assert dict(theirs["counts"]) == dict(ours["counts"])
    runner = json.loads(theirs["options"]).get("runner")
    assert (
        runner
        == {
            "portable": "PortableRunner",
            "multi_process": "FnApiRunner",
            "flink_submit_script": "PortableRunner",
        }[other]
    )

"""The restore job on the portable path gives the same outputs as in-process.

Three runs of the same job on the same films (two short foley-world films, one with two takes
per scene, and a zero-byte file that must fail):

- in-process: the FnApiRunner, one process;
- portable: ``--runner=PortableRunner`` against Beam's local job service
  (``apache_beam.runners.portability.local_job_service_main``) with ``--environment_type=LOOPBACK``:
  the pipeline is sent as a proto, its artifacts are staged, and an SDK harness runs the DoFns,
  as on Flink and Dataflow;
- multi-process: the FnApiRunner in ``multi_processing`` mode with two SDK worker processes.

Stems and film outputs (FLAC and MKV) must be the same bytes; ledger objects and table rows the
same apart from the run id (and the output folder in URIs).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from model.synth import SynthConfig, write_collection
from pipelines.restore import RestoreSummary, run
from tests.infra.portable import file_digests, ledger_records, local_job_service, table_rows
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
    rows = write_collection(folder / "two", films=1, seed=31, workers=1,
                            config=SynthConfig(min_shots=2, max_shots=2, shot_seconds=(1.0, 1.5), **small))
    rows += write_collection(folder / "one", films=1, seed=32, workers=1,
                             config=SynthConfig(min_shots=1, max_shots=1, shot_seconds=(2.0, 2.0), **small))
    rows[0] = {**rows[0], "video_input": f"two/{rows[0]['video_input']}", "takes": 2}
    rows[1] = {**rows[1], "video_input": f"one/{rows[1]['video_input']}"}
    rows.append({"video_input": odd_films["zero_bytes"], "film_id": "empty"})
    manifest = folder / "films.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return manifest


@pytest.fixture(scope="module")
def job_flags(films, tmp_path_factory) -> list[str]:
    checkpoint = save_small_checkpoint(tmp_path_factory.mktemp("portable_ckpt") / "small.safetensors")
    return ["--input", str(films), "--checkpoint", checkpoint, "--steps", "2", "--batch_size", "3",
            "--positive_prompt", "a quiet room"]


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
def portable(job_flags, tmp_path_factory) -> Restored:
    folder = tmp_path_factory.mktemp("portable")
    with local_job_service(folder / "job_service.log") as endpoint:
        return _restore(job_flags, folder / "out", [
            "--runner=PortableRunner", f"--job_endpoint={endpoint}", "--environment_type=LOOPBACK"])


@pytest.fixture(scope="module")
def multi_process(job_flags, tmp_path_factory) -> Restored:
    return _restore(job_flags, tmp_path_factory.mktemp("multi_process"), [
        "--runner=FnApiRunner", "--direct_running_mode=multi_processing", "--direct_num_workers=2"])


def test_the_in_process_run_makes_every_kind_of_output(in_process):
    summary = in_process.summary
    assert (summary.films, summary.films_done) == (2, 2)
    assert summary.units_generated == summary.takes == summary.scenes + 2  # the 2-shot film has two takes
    assert summary.failures_by_stage == {"probe_and_shard": 1}
    files = file_digests(in_process.output)
    assert sum(name.startswith("audio/") for name in files) == summary.units_generated
    assert sum(name.endswith(".mkv") for name in files) == sum(name.startswith("films/") and name.endswith(".flac")
                                                               for name in files) == 2


@pytest.mark.parametrize("other", ["portable", "multi_process"])
def test_stems_and_films_are_the_same_bytes(other, in_process, request):
    restored: Restored = request.getfixturevalue(other)
    assert restored.summary.units_generated == in_process.summary.units_generated
    assert file_digests(restored.output) == file_digests(in_process.output)


@pytest.mark.parametrize("other", ["portable", "multi_process"])
def test_ledger_objects_are_the_same_but_for_the_run_id(other, in_process, request):
    restored: Restored = request.getfixturevalue(other)
    expected = ledger_records(in_process.output, in_process.summary.run_id)
    assert len(expected) == in_process.summary.units_generated
    assert ledger_records(restored.output, restored.summary.run_id) == expected


@pytest.mark.parametrize("other", ["portable", "multi_process"])
def test_table_rows_are_the_same_but_for_the_run_id(other, in_process, request):
    restored: Restored = request.getfixturevalue(other)
    expected = table_rows(in_process.output, in_process.summary.run_id)
    assert [len(expected[t]) for t in ("films", "failures")] == [2, 1]
    assert table_rows(restored.output, restored.summary.run_id) == expected
    [theirs] = read_table(str(restored.output), "runs", run_id=restored.summary.run_id).to_pylist()
    [ours] = read_table(str(in_process.output), "runs", run_id=in_process.summary.run_id).to_pylist()
    assert dict(theirs["counts"]) == dict(ours["counts"])
    runner = json.loads(theirs["options"]).get("runner")
    assert runner == {"portable": "PortableRunner", "multi_process": "FnApiRunner"}[other]

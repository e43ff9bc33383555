"""The shot-list and restore jobs reading films from a bucket and writing every output to it.

Two tiny foley-world films (2 s, two 1 s shots, 64x48) and their manifest are uploaded to the GCS
emulator; the manifest names the films relative to itself, so every read is a gs:// read. Both
jobs run in-process (FnApiRunner); the restore job uses the small untrained checkpoint of the
pipeline tests and 2 sampler steps. Tables go through Beam's own gs:// file system
(apache_beam.io.gcp.gcsfilesystem); every other object through media.storage (gcsfs).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import av
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline

from media import storage
from media.flac import decode_flac
from model.synth import SynthConfig, write_collection
from tests.conftest import IN_PROCESS, REPO
from tests.transforms.generation import save_small_checkpoint
from transforms.files import match_files
from transforms.tables import read_table


@dataclass(frozen=True)
class BucketFilms:
    manifest: str  # gs://.../films.jsonl
    truth: dict[str, dict]  # truth JSON by film_id
    uris: dict[str, str]  # gs:// URI of each film by film_id
    bad: str  # a zero-byte object named .mp4


def all_objects(fs, prefix: str) -> list[str]:
    fs.invalidate_cache()
    return sorted(fs.unstrip_protocol(p) for p in fs.find(prefix))


@pytest.fixture(scope="module")
def bucket_films(gcs_bucket, gcs_fs, tmp_path_factory) -> BucketFilms:
    local = tmp_path_factory.mktemp("bucket_films")
    config = SynthConfig(
        min_shots=2,
        max_shots=2,
        shot_seconds=(1.0, 1.0),
        width=64,
        height=48,
        classes=("impact", "footsteps"),
        fade_prob=0.0,
    )
    rows = write_collection(local, films=2, seed=21, workers=1, config=config)
    prefix = f"{gcs_bucket}/input"
    truth, uris = {}, {}
    for row in rows:
        path = local / row["video_input"]
        storage.write_bytes(storage.join(prefix, "films", row["video_input"]), path.read_bytes())
        truth[row["film_id"]] = json.loads(path.with_suffix(".json").read_text())
        uris[row["film_id"]] = storage.join(prefix, "films", row["video_input"])
    bad = storage.join(prefix, "films", "empty.mp4")
    storage.write_bytes(bad, b"")
    manifest_rows = [{**row, "video_input": f"films/{row['video_input']}"} for row in rows]
    manifest_rows.append({"video_input": "films/empty.mp4", "film_id": "empty"})
    manifest = storage.join(prefix, "films.jsonl")
    storage.write_bytes(manifest, "".join(json.dumps(r) + "\n" for r in manifest_rows).encode())
    return BucketFilms(manifest=manifest, truth=truth, uris=uris, bad=bad)


# --------------------------------------------------------------------------- the shot-list job


@dataclass(frozen=True)
class ShotListRun:
    output: str
    run_id: str
    printed: str


@pytest.fixture(scope="module")
def shot_lists(bucket_films, gcs_bucket) -> ShotListRun:
    from pipelines.scenes import run

    output = f"{gcs_bucket}/scenes-out"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        summary = run(
            ["--input", bucket_films.manifest, "--output", output],
            test_pipeline=TestPipeline(options=PipelineOptions(IN_PROCESS)),
        )
    assert summary.films == 2 and summary.failures_by_stage == {"probe_and_shard": 1}, summary
    return ShotListRun(output=output, run_id=summary.run_id, printed=printed.getvalue())


def test_shot_list_job_cuts_films_read_from_the_bucket(shot_lists, bucket_films):
    rows = read_table(shot_lists.output, "scenes", run_id=shot_lists.run_id).to_pylist()
    by_film: dict[str, list[dict]] = {}
    for row in rows:
        by_film.setdefault(row["film_id"], []).append(row)
    assert set(by_film) == set(bucket_films.truth)
    for film_id, scenes in by_film.items():
        truth = bucket_films.truth[film_id]
        assert scenes[0]["uri"] == bucket_films.uris[film_id]
        assert [s["scene_index"] for s in scenes] == list(range(len(scenes)))
        assert len(scenes) == len(truth["shots"]), (film_id, scenes)
        assert scenes[-1]["end_s"] == pytest.approx(truth["duration_s"])


def test_shot_list_job_writes_its_tables_and_shot_lists_to_the_bucket(shot_lists, bucket_films, gcs_fs):
    [failure] = read_table(shot_lists.output, "failures", run_id=shot_lists.run_id).to_pylist()
    assert failure["uri"] == bucket_films.bad and failure["stage"] == "probe_and_shard"
    objects = all_objects(gcs_fs, shot_lists.output)
    expected = {
        f"{shot_lists.output}/shotlists/{film_id}{ext}"
        for film_id in bucket_films.truth
        for ext in (".csv", ".edl")
    }
    assert expected <= set(objects)
    tables = [o for o in objects if "/meta/" in o]
    assert {o.split("/meta/")[1].split("/")[0] for o in tables} == {"runs", "scenes", "failures"}
    assert all(o.rsplit("/", 1)[1].startswith(shot_lists.run_id) and o.endswith(".parquet") for o in tables)
    assert set(objects) == expected | set(tables)  # no temporary object left behind
    runs = read_table(shot_lists.output, "runs", run_id=shot_lists.run_id).to_pylist()
    assert len(runs) == 1 and runs[0]["job"] == "scenes"
    assert f"{shot_lists.output}/meta/scenes/{shot_lists.run_id}-" in shot_lists.printed


def test_a_second_run_with_a_given_run_id_reads_back_its_own_tables(shot_lists, bucket_films):
    """The launcher lists OUTPUT/meta/*/ to refuse a reused --run_id, then Beam's sinks write: its
    summary must see those new shards (gcsfs's listing cache must not hide them)."""
    from pipelines.scenes import run
    from transforms.tables import new_run_id

    run_id = new_run_id()
    with contextlib.redirect_stdout(io.StringIO()):
        summary = run(
            ["--input", bucket_films.manifest, "--output", shot_lists.output, "--run_id", run_id],
            test_pipeline=TestPipeline(options=PipelineOptions(IN_PROCESS)),
        )
    assert (
        summary.run_id == run_id
        and summary.films == 2
        and summary.scenes == read_table(shot_lists.output, "scenes", run_id=shot_lists.run_id).num_rows
    )


def test_shot_list_job_on_two_worker_processes_reaches_the_bucket(bucket_films, gcs_bucket):
    """Worker processes find the emulator and anonymous credentials from the environment."""
    from pipelines.scenes import run

    output = f"{gcs_bucket}/scenes-two-workers"
    two_workers = [
        "--runner=DirectRunner",
        "--direct_running_mode=multi_processing",
        "--direct_num_workers=2",
    ]
    with contextlib.redirect_stdout(io.StringIO()):
        summary = run(
            ["--input", bucket_films.manifest, "--output", output],
            test_pipeline=TestPipeline(options=PipelineOptions(two_workers)),
        )
    assert summary.films == 2 and summary.failures_by_stage == {"probe_and_shard": 1}
    assert len(match_files(f"{output}/shotlists/*.edl")) == 2


def test_shot_list_cli_in_a_subprocess_reaches_the_bucket(bucket_films, gcs_bucket, gcs_emulator):
    """``python -m pipelines.scenes``: a fresh interpreter finds the emulator from the environment alone."""
    output = f"{gcs_bucket}/scenes-cli"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipelines.scenes",
            "--input",
            bucket_films.manifest,
            "--output",
            output,
            *IN_PROCESS,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    scenes = read_table(output, "scenes")
    assert set(scenes["film_id"].to_pylist()) == set(bucket_films.truth)
    assert match_files(f"{output}/shotlists/*.csv")


# ------------------------------------------------------------------------------ the restore job


@dataclass(frozen=True)
class Restored:
    output: str
    summary: object  # RestoreSummary
    objects: dict[str, str]  # SHA-256 of every audio, ledger and films object, by URI


def snapshot(fs, output: str) -> dict[str, str]:
    return {
        uri: hashlib.sha256(fs.cat_file(uri)).hexdigest()
        for uri in all_objects(fs, output)
        if uri[len(output) + 1 :].split("/")[0] in ("audio", "ledger", "films")
    }


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, gcs_bucket) -> str:
    """The small untrained checkpoint, read from the bucket like the films."""
    local = Path(save_small_checkpoint(tmp_path_factory.mktemp("gcs_ckpt") / "small.safetensors"))
    uri = f"{gcs_bucket}/models/small.safetensors"
    storage.write_bytes(uri, local.read_bytes())
    return uri


def _restore(bucket_films: BucketFilms, output: str, checkpoint: str, gcs_fs) -> Restored:
    from pipelines.restore import run

    summary = run(
        [
            "--input",
            bucket_films.manifest,
            "--output",
            output,
            "--checkpoint",
            checkpoint,
            "--steps",
            "2",
            "--batch_size",
            "4",
        ],
        test_pipeline=TestPipeline(options=PipelineOptions(IN_PROCESS)),
    )
    return Restored(output=output, summary=summary, objects=snapshot(gcs_fs, output))


@pytest.fixture(scope="module")
def restored(bucket_films, checkpoint, gcs_bucket, gcs_fs) -> Restored:
    return _restore(bucket_films, f"{gcs_bucket}/restored", checkpoint, gcs_fs)


@pytest.fixture(scope="module")
def restored_again(restored, bucket_films, checkpoint, gcs_fs) -> Restored:
    return _restore(bucket_films, restored.output, checkpoint, gcs_fs)


def test_restore_job_writes_film_tracks_and_videos_to_the_bucket(restored, bucket_films):
    summary = restored.summary
    scenes = sum(len(t["shots"]) for t in bucket_films.truth.values())
    assert (summary.films, summary.films_done, summary.scenes) == (2, 2, scenes)
    assert summary.units_generated == summary.takes == scenes and summary.units_skipped == 0
    assert summary.failures_by_stage == {"probe_and_shard": 1}
    films = {f["film_id"]: f for f in read_table(restored.output, "films").to_pylist()}
    assert set(films) == set(bucket_films.truth)
    for film_id, film in films.items():
        truth = bucket_films.truth[film_id]
        assert film["status"] == "done" and film["uri"] == bucket_films.uris[film_id]
        assert film["flac_uri"] == f"{restored.output}/films/{film_id}/{film['cut_key']}.flac"
        assert film["video_uri"] == f"{restored.output}/films/{film_id}/{film['cut_key']}.mkv"
        audio, rate, tags = decode_flac(storage.read_bytes(film["flac_uri"]))
        assert (
            rate == 48000 and audio.shape == (truth["samples"],) and tags["TALKIE_CUT_KEY"] == film["cut_key"]
        )
        with av.open(io.BytesIO(storage.read_bytes(film["video_uri"]))) as mkv:
            assert mkv.streams.video and mkv.streams.audio[0].codec_context.name == "flac"


def test_restore_job_tables_and_ledger_agree_with_the_objects(restored):
    output, run_id = restored.output, restored.summary.run_id
    takes = read_table(output, "takes", run_id=run_id).to_pylist()
    assert takes
    for take in takes:
        assert take["flac_uri"] == f"{output}/audio/{take['film_id']}/{take['unit_key']}.flac"
        assert hashlib.sha256(storage.read_bytes(take["flac_uri"])).hexdigest() == take["flac_sha256"]
        ledger = json.loads(storage.read_bytes(f"{output}/ledger/{take['film_id']}/{take['unit_key']}.json"))
        assert ledger["flac_sha256"] == take["flac_sha256"] and ledger["run_id"] == run_id
    scenes = read_table(output, "scenes", run_id=run_id)
    assert scenes.num_rows == restored.summary.scenes


def test_restore_job_leaves_only_final_objects_in_the_bucket(restored, gcs_fs):
    objects = all_objects(gcs_fs, restored.output)
    kinds = {uri[len(restored.output) + 1 :].split("/")[0] for uri in objects}
    assert kinds == {"audio", "ledger", "films", "meta", "report"}, kinds
    tables = [o for o in objects if "/meta/" in o]
    assert {o.split("/meta/")[1].split("/")[0] for o in tables} == {
        "runs",
        "films",
        "scenes",
        "takes",
        "failures",
    }
    assert not [o for o in objects if "temp" in o or o.endswith(".tmp")], objects


def test_a_rerun_on_the_bucket_skips_every_unit_and_rewrites_nothing(restored, restored_again):
    again = restored_again.summary
    assert again.run_id != restored.summary.run_id
    assert (again.units_generated, again.units_skipped) == (0, restored.summary.takes)
    assert again.films_done == 2
    assert restored_again.objects == restored.objects

"""The restore and shot-list jobs reading films from an S3 bucket and writing every output to it.

The moto server stands in for S3; the fixture points the standard AWS environment at it
(AWS_ENDPOINT_URL and keys), which both clients the jobs use read: s3fs for media.storage and
Beam's own s3:// file system (boto3) for the Parquet sinks. The films, their manifest and the
checkpoint are all s3:// objects.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
from pathlib import Path

import av
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline

from media import storage
from media.flac import decode_flac
from model.synth import SynthConfig, write_collection
from tests.conftest import IN_PROCESS
from tests.transforms.generation import save_small_checkpoint
from transforms.tables import read_table


@pytest.fixture(scope="module")
def s3_films(s3_bucket, tmp_path_factory) -> dict:
    """Two 2 s foley-world films (two 1 s shots, 64x48), a zero-byte .mp4 and a manifest naming
    them relative to itself, and the small checkpoint, all in the bucket."""
    local = tmp_path_factory.mktemp("s3_films")
    config = SynthConfig(
        min_shots=2,
        max_shots=2,
        shot_seconds=(1.0, 1.0),
        width=64,
        height=48,
        classes=("impact", "footsteps"),
        fade_prob=0.0,
    )
    rows = write_collection(local, films=2, seed=23, workers=1, config=config)
    prefix = f"{s3_bucket}/input"
    truth, uris = {}, {}
    for row in rows:
        path = local / row["video_input"]
        uris[row["film_id"]] = storage.join(prefix, "films", row["video_input"])
        storage.write_bytes(uris[row["film_id"]], path.read_bytes())
        truth[row["film_id"]] = json.loads(path.with_suffix(".json").read_text())
    storage.write_bytes(storage.join(prefix, "films", "empty.mp4"), b"")
    manifest_rows = [{**row, "video_input": f"films/{row['video_input']}"} for row in rows]
    manifest_rows.append({"video_input": "films/empty.mp4", "film_id": "empty"})
    manifest = storage.join(prefix, "films.jsonl")
    storage.write_bytes(manifest, "".join(json.dumps(r) + "\n" for r in manifest_rows).encode())
    checkpoint = f"{s3_bucket}/models/small.safetensors"
    storage.write_bytes(checkpoint, Path(save_small_checkpoint(local / "small.safetensors")).read_bytes())
    return {"manifest": manifest, "truth": truth, "uris": uris, "checkpoint": checkpoint}


@pytest.fixture(scope="module")
def restored(s3_films, s3_bucket):
    from pipelines.restore import run

    output = f"{s3_bucket}/restored"
    with contextlib.redirect_stdout(io.StringIO()):
        summary = run(
            [
                "--input",
                s3_films["manifest"],
                "--output",
                output,
                "--checkpoint",
                s3_films["checkpoint"],
                "--steps",
                "2",
                "--batch_size",
                "4",
            ],
            test_pipeline=TestPipeline(options=PipelineOptions(IN_PROCESS)),
        )
    return output, summary


def test_restore_job_reads_films_from_s3_and_writes_tracks_and_videos_there(restored, s3_films):
    output, summary = restored
    scenes = sum(len(t["shots"]) for t in s3_films["truth"].values())
    assert (summary.films, summary.films_done, summary.scenes) == (2, 2, scenes)
    assert (summary.units_generated, summary.units_skipped) == (scenes, 0)
    assert summary.failures_by_stage == {"probe_and_shard": 1}
    films = {f["film_id"]: f for f in read_table(output, "films", run_id=summary.run_id).to_pylist()}
    assert set(films) == set(s3_films["truth"])
    for film_id, film in films.items():
        assert film["uri"] == s3_films["uris"][film_id]
        assert film["flac_uri"] == f"{output}/films/{film_id}/{film['cut_key']}.flac"
        audio, rate, _ = decode_flac(storage.read_bytes(film["flac_uri"]))
        assert rate == 48000 and audio.shape == (s3_films["truth"][film_id]["samples"],)
        with av.open(io.BytesIO(storage.read_bytes(film["video_uri"]))) as mkv:
            assert mkv.streams.video and mkv.streams.audio[0].codec_context.name == "flac"


def test_restore_job_on_s3_writes_stems_ledger_and_tables_and_nothing_else(restored, s3_fs):
    output, summary = restored
    takes = read_table(output, "takes", run_id=summary.run_id).to_pylist()
    assert len(takes) == summary.takes
    for take in takes:
        data = storage.read_bytes(take["flac_uri"])
        assert hashlib.sha256(data).hexdigest() == take["flac_sha256"]
        ledger = json.loads(storage.read_bytes(f"{output}/ledger/{take['film_id']}/{take['unit_key']}.json"))
        assert ledger["run_id"] == summary.run_id and ledger["flac_sha256"] == take["flac_sha256"]
    s3_fs.invalidate_cache()
    objects = [s3_fs.unstrip_protocol(p) for p in s3_fs.find(output)]
    tables = {o.split("/meta/")[1].split("/")[0] for o in objects if "/meta/" in o}
    assert tables == {"runs", "films", "scenes", "takes", "failures"}
    kinds = {o[len(output) + 1 :].split("/")[0] for o in objects}
    assert kinds == {"audio", "ledger", "films", "meta", "report"}
    assert not [o for o in objects if "temp" in o or o.endswith(".tmp")], (
        objects
    )  # Beam's temp shards removed


def test_shot_list_job_on_s3(s3_films, s3_bucket):
    from pipelines.scenes import run

    output = f"{s3_bucket}/scenes-out"
    with contextlib.redirect_stdout(io.StringIO()):
        summary = run(
            ["--input", s3_films["manifest"], "--output", output],
            test_pipeline=TestPipeline(options=PipelineOptions(IN_PROCESS)),
        )
    assert summary.films == 2 and summary.failures_by_stage == {"probe_and_shard": 1}
    scenes = read_table(output, "scenes", run_id=summary.run_id).to_pylist()
    assert {r["film_id"] for r in scenes} == set(s3_films["truth"])
    assert len(scenes) == sum(len(t["shots"]) for t in s3_films["truth"].values())
    assert storage.exists(f"{output}/shotlists/{next(iter(s3_films['truth']))}.edl")

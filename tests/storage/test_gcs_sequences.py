"""A frame sequence in a bucket (the GCS emulator): read frame by frame, never downloaded whole,
and the same film as its local copy; the shot-list job cuts it from a manifest in the bucket."""

from __future__ import annotations

import json

import numpy as np
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline

from media import storage
from media.decode import decode_range
from media.sequence import list_sequence
from media.shard import shard_film
from tests.conftest import IN_PROCESS
from tests.films import textured_shots
from tests.sequences import write_sequence
from transforms.tables import read_table


def test_a_bucket_sequence_is_read_frame_by_frame_once(gcs_prefix, tmp_path, monkeypatch):
    pattern = write_sequence(tmp_path, textured_shots([10, 10], size=(48, 64), seed=31), "dpx16", skip=[15])
    for path in sorted(tmp_path.iterdir()):
        storage.write_bytes(storage.join(gcs_prefix, "reel", path.name), path.read_bytes())
    remote = f"{gcs_prefix}/reel/frame_*.dpx#fps=18"
    read: list[str] = []
    real = storage.read_bytes
    monkeypatch.setattr(storage, "read_bytes", lambda uri: read.append(uri) or real(uri))
    probe, scenes = shard_film(remote, use_transnet=False)
    listed = list_sequence(remote, fresh=False)
    assert sorted(read) == sorted(f.uri for f in listed.frames)  # each frame once, one object at a time
    assert all(uri.startswith(f"{gcs_prefix}/reel/frame_") for uri in read)
    local, _ = shard_film(f"{pattern}#fps=18", use_transnet=False)
    assert probe.content_sha256 == local.content_sha256 and probe.missing_frames == (15,)
    assert (probe.frames, probe.duration_pts, len(scenes)) == (19, 20, 2)
    read.clear()
    window = decode_range(remote, 10, 20, fps=6, width=32, height=24, gray=True)
    same = decode_range(f"{pattern}#fps=18", 10, 20, fps=6, width=32, height=24, gray=True)
    shown = [uri.rsplit("_", 1)[1] for uri in read if uri.startswith("gs://")]
    assert np.array_equal(window, same) and shown == ["0011.dpx", "0014.dpx", "0017.dpx", "0020.dpx"]


def test_the_shot_list_job_cuts_a_sequence_in_the_bucket(gcs_prefix, tmp_path):
    from pipelines.scenes import run

    write_sequence(tmp_path, textured_shots([12, 12], size=(48, 64), seed=32), "tiff16")
    for path in sorted(tmp_path.iterdir()):
        storage.write_bytes(storage.join(gcs_prefix, "scan", path.name), path.read_bytes())
    manifest = storage.join(gcs_prefix, "films.jsonl")
    row = {"video_input": "scan/frame_*.tif", "fps": 24, "film_id": "scan"}
    storage.write_bytes(manifest, (json.dumps(row) + "\n").encode())
    output = storage.join(gcs_prefix, "out")
    summary = run(
        ["--input", manifest, "--output", output],
        test_pipeline=TestPipeline(options=PipelineOptions(IN_PROCESS)),
    )
    assert (summary.films, summary.scenes, summary.failures_by_stage) == (1, 2, {})
    scenes = read_table(output, "scenes").to_pylist()
    assert [s["uri"] for s in scenes] == [f"{gcs_prefix}/scan/frame_*.tif#fps=24"] * 2
    assert [s["start_frame"] for s in scenes] == [0, 12]

"""Frame sequences and archive masters through the restore and shot-list jobs (issue 23, item 1).

One collection, as an archive holds it: a 16-bit DPX scan at 18 fps, a 16-bit TIFF scan, an FFV1
10-bit master in Matroska and a ProRes 422 HQ mezzanine in QuickTime, plus a PNG scan with a
frame missing, a 10-bit DPX scan with a corrupt frame and a sequence row that gives no rate.
One restore run feeds most tests; a second, into another folder, must write the same bytes.
Generation uses the small test checkpoint and 2 sampler steps, as tests/pipelines/test_restore.py.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline

from media import storage
from media.flac import decode_flac
from media.mux import video_packets_digest
from pipelines import scenes as scenes_job
from pipelines.restore import RestoreSummary, run
from tests.conftest import IN_PROCESS
from tests.films import textured_shots
from tests.sequences import write_master, write_sequence
from tests.transforms.generation import save_small_checkpoint
from transforms.tables import read_table

SIZE = (48, 64)


@dataclass(frozen=True)
class Collection:
    manifest: Path
    durations: dict[str, Fraction]  # exact duration by film_id, of the films that must be restored
    sequences: dict[str, str]  # the sequence URI (pattern#fps=N) by film_id
    sources: dict[str, str]  # the video file by film_id
    dpx_first: str  # the DPX scan's first frame file
    corrupt: str  # the sequence URI of the scan with the corrupt frame
    no_rate: str  # the pattern of the row without fps


@dataclass(frozen=True)
class Finished:
    output: Path
    summary: RestoreSummary
    films: dict[str, str]  # SHA-256 of every film FLAC and MKV, by path under output


def film_files(output: Path) -> dict[str, str]:
    return {
        str(p.relative_to(output)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((output / "films").rglob("*"))
        if p.suffix in (".flac", ".mkv") and not p.name.endswith(".preview.mp4")
    }


@pytest.fixture(scope="module")
def collection(tmp_path_factory) -> Collection:
    folder = tmp_path_factory.mktemp("archive")
    dpx = write_sequence(
        folder / "reel-dpx", textured_shots([15, 15], size=SIZE, seed=21), "dpx16", first=1001
    )
    tiff = write_sequence(folder / "reel-tiff", textured_shots([20, 16], size=SIZE, seed=22), "tiff16")
    gap = write_sequence(folder / "reel-gap", textured_shots([24], size=SIZE, seed=23), "png", skip=[12])
    broken = write_sequence(
        folder / "reel-bad", textured_shots([20], size=SIZE, seed=24), "dpx10", corrupt=[7]
    )
    no_rate = write_sequence(folder / "reel-norate", textured_shots([6], size=SIZE, seed=25), "tiff8")
    ffv1 = write_master(folder / "master.mkv", textured_shots([18, 18], size=SIZE, seed=26), codec="ffv1")
    prores = write_master(folder / "mezzanine.mov", textured_shots([30], size=SIZE, seed=27), codec="prores")
    rows = [
        {"video_input": "reel-dpx/frame_*.dpx", "fps": 18, "positive_prompt": "a train"},
        {"video_input": "reel-tiff/frame_*.tif", "fps": 24, "film_id": "tiff-scan"},
        {"video_input": "master.mkv", "film_id": "ffv1-master"},
        {"video_input": "mezzanine.mov", "film_id": "prores-mezzanine"},
        {"video_input": "reel-gap/frame_*.png", "fps": "24", "film_id": "gap-scan"},
        {"video_input": "reel-bad/frame_*.dpx", "fps": 24, "film_id": "bad-scan"},
        {"video_input": "reel-norate/frame_*.tif", "film_id": "no-rate"},
    ]
    manifest = folder / "films.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return Collection(
        manifest=manifest,
        durations={
            "dpx": Fraction(30, 18),
            "tiff-scan": Fraction(36, 24),
            "ffv1-master": Fraction(36, 24),
            "prores-mezzanine": Fraction(30, 24),
            "gap-scan": Fraction(24, 24),  # numbers 1 to 24, 12 held by 11
        },
        sequences={"dpx": f"{dpx}#fps=18", "tiff-scan": f"{tiff}#fps=24", "gap-scan": f"{gap}#fps=24"},
        sources={"ffv1-master": str(ffv1), "prores-mezzanine": str(prores)},
        dpx_first=str(folder / "reel-dpx" / "frame_1001.dpx"),
        corrupt=f"{broken}#fps=24",
        no_rate=no_rate,
    )


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> str:
    return save_small_checkpoint(tmp_path_factory.mktemp("sequence_ckpt") / "small.safetensors")


def _restore(collection: Collection, output: Path, checkpoint: str) -> Finished:
    summary = run(
        [
            "--input",
            str(collection.manifest),
            "--output",
            str(output),
            "--checkpoint",
            checkpoint,
            "--steps",
            "2",
            "--batch_size",
            "4",
        ],
        test_pipeline=TestPipeline(options=PipelineOptions(IN_PROCESS)),
    )
    return Finished(output, summary, film_files(output))


@pytest.fixture(scope="module")
def first(collection, checkpoint, tmp_path_factory) -> Finished:
    return _restore(collection, tmp_path_factory.mktemp("restored"), checkpoint)


@pytest.fixture(scope="module")
def again(collection, checkpoint, tmp_path_factory) -> Finished:
    return _restore(collection, tmp_path_factory.mktemp("restored_again"), checkpoint)


def films_by_id(finished: Finished) -> dict[str, dict]:
    films = {f["film_id"]: f for f in read_table(str(finished.output), "films").to_pylist()}
    [dpx_id] = [f for f in films if f.startswith("reel-dpx-frame-")]  # derived: folder, pattern, hash
    films["dpx"] = films.pop(dpx_id)
    return films


def test_the_collection_restores_completely_but_for_the_broken_rows(first, collection):
    summary = first.summary
    assert (summary.films, summary.films_done) == (5, 5)
    assert summary.failures_by_stage == {"read_manifest": 1, "probe_and_shard": 1}
    films = films_by_id(first)
    assert set(films) == set(collection.durations)
    assert all(f["status"] == "done" for f in films.values())


def test_every_film_track_has_the_films_duration_to_the_sample(first, collection):
    for film_id, film in films_by_id(first).items():
        duration = collection.durations[film_id]
        audio, rate, tags = decode_flac(storage.read_bytes(film["flac_uri"]))
        assert rate == 48000 and audio.shape == (round(duration * 48000),), film_id
        assert film["duration_s"] == pytest.approx(float(duration)), film_id
        assert tags["TALKIE_CUT_KEY"] == film["cut_key"]


def test_sequence_rows_carry_their_uri_rate_and_missing_frames(first, collection):
    films = films_by_id(first)
    for film_id, uri in collection.sequences.items():
        assert films[film_id]["uri"] == uri
    assert films["dpx"]["nominal_fps"] == 18.0 and films["dpx"]["frames"] == 30
    assert films["gap-scan"]["missing_frames"] == [12] and films["gap-scan"]["frames"] == 23
    assert films["dpx"]["missing_frames"] == [] and films["tiff-scan"]["missing_frames"] == []
    assert films["ffv1-master"]["missing_frames"] is None  # a video file has no numbering
    scenes = [
        s for s in read_table(str(first.output), "scenes").to_pylist() if s["film_id"].startswith("reel-dpx")
    ]
    assert [(s["start_pts"], s["end_pts"], s["time_base"]) for s in scenes] == [
        (0, 15, "1/18"),
        (15, 30, "1/18"),
    ]


def test_sequences_get_a_lossless_ffv1_mkv_and_masters_keep_their_packets(first, collection):
    films = films_by_id(first)
    for film_id in collection.sequences:
        with av.open(films[film_id]["video_uri"]) as mkv:
            video, audio = mkv.streams.video[0], mkv.streams.audio
            assert video.codec_context.name == "ffv1", film_id
            assert (
                audio[0].codec_context.name == "flac" and audio[0].disposition & av.stream.Disposition.default
            )
            assert "encoded by Talkie from" in mkv.metadata["TALKIE_VIDEO"]
            assert mkv.metadata["TALKIE_CUT_KEY"] == films[film_id]["cut_key"]
    assert "1 missing frame number" in _tag(films["gap-scan"]["video_uri"], "TALKIE_VIDEO")
    with av.open(films["dpx"]["video_uri"]) as mkv:
        picture = next(mkv.decode(video=0)).reformat(format="rgb48le").to_ndarray()
    scan = av.CodecContext.create("dpx", "r").decode(av.Packet(Path(collection.dpx_first).read_bytes()))[0]
    assert np.array_equal(picture, scan.to_ndarray())  # 16 bits, every one kept
    for film_id, source in collection.sources.items():
        assert video_packets_digest(films[film_id]["video_uri"]) == video_packets_digest(source)


def _tag(path: str, key: str) -> str:
    with av.open(path) as container:
        return container.metadata[key]


def test_a_corrupt_frame_and_a_missing_rate_are_failures_that_say_why(first, collection):
    failures = {f["stage"]: f for f in read_table(str(first.output), "failures").to_pylist()}
    corrupt = failures["probe_and_shard"]
    assert corrupt["uri"] == collection.corrupt and corrupt["film_id"] == "bad-scan"
    assert corrupt["error_type"] == "UnreadableFrame"
    assert "frame 7 (frame_0007.dpx) cannot be decoded as DPX" in corrupt["error"]
    no_rate = failures["read_manifest"]
    assert no_rate["uri"] == collection.no_rate
    assert "is a frame sequence (a glob of frame files) and its row gives no fps" in no_rate["error"]


def test_the_review_report_shows_sequence_films(first):
    run_id = first.summary.run_id
    for film_id in ("tiff-scan", "gap-scan"):
        page = first.output / "report" / run_id / film_id
        assert (page / "index.html").exists() and sorted(page.glob("scene-*.png"))
    previews = sorted((first.output / "films" / "gap-scan").glob("*.preview.mp4"))
    with av.open(str(previews[0])) as mp4:
        assert mp4.streams.video[0].codec_context.name == "h264"


def test_a_second_run_writes_the_same_film_bytes(first, again):
    assert again.summary.films_done == 5 and again.summary.units_generated == first.summary.units_generated
    assert again.films == first.films and len(first.films) == 10  # a FLAC and an MKV per film


def test_the_shot_list_job_cuts_a_sequence(collection, tmp_path):
    manifest = tmp_path / "scans.jsonl"
    rows = [{"video_input": collection.sequences["dpx"].split("#")[0], "fps": 18, "film_id": "scan"}]
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    summary = scenes_job.run(
        ["--input", str(manifest), "--output", str(tmp_path / "out")],
        test_pipeline=TestPipeline(options=PipelineOptions(IN_PROCESS)),
    )
    assert (summary.films, summary.scenes) == (1, 2) and summary.failures_by_stage == {}
    scenes = read_table(str(tmp_path / "out"), "scenes").to_pylist()
    assert [(s["start_frame"], s["end_frame"], s["start_s"]) for s in scenes] == [
        (0, 15, 0.0),
        (15, 30, pytest.approx(15 / 18)),
    ]
    listed = list(csv.DictReader(io.StringIO((tmp_path / "out" / "shotlists" / "scan.csv").read_text())))
    assert len(listed) == 2

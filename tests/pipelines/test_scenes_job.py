"""The shot-list job end to end on a small collection: good films, odd files, unsafe rows, real clips.

One in-process run (FnApiRunner) feeds most tests; one run on two worker processes
(DirectRunner multi_processing) must give the same rows.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import re
import shutil
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pyarrow.parquet as pq
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline

from media import errors
from pipelines.scenes import RunSummary, run
from tests.conftest import IN_PROCESS, REAL_CLIPS
from tests.films import encode, textured_shots
from transforms.manifest import validate_film_id
from transforms.tables import read_table

UNUSABLE = ["zero_bytes", "random_bytes", "truncated", "png_named_mp4", "audio_only", "missing"]
MEDIA_ERRORS = {cls.__name__ for cls in (errors.MediaError, *errors.MediaError.__subclasses__())}
TWO_WORKERS = ["--runner=DirectRunner", "--direct_running_mode=multi_processing", "--direct_num_workers=2"]


@dataclass(frozen=True)
class Collection:
    manifest: Path
    synthetic: str  # three shots, cuts at frames 30 and 50
    odd: dict[str, str]
    real: dict[str, dict]  # clips.json facts by path; empty when the real clips are absent


@dataclass(frozen=True)
class Finished:
    output: Path
    summary: RunSummary
    printed: str


@pytest.fixture(scope="module")
def collection(tmp_path_factory, odd_films) -> Collection:
    folder = tmp_path_factory.mktemp("collection")
    synthetic = str(encode(folder / "Three Shots.mp4", textured_shots([30, 20, 40], seed=1)))
    rows = [
        {"video_input": "Three Shots.mp4", "positive_prompt": "a door\x00 slams", "archive": "test"},
        {"video_input": odd_films["one_frame"], "film_id": "one-frame"},
        *({"video_input": odd_films[kind]} for kind in UNUSABLE),
        {"video_input": "Three Shots.mp4", "film_id": "../../escape"},
    ]
    real: dict[str, dict] = {}
    if (REAL_CLIPS / "clips.json").exists():
        for clip in json.loads((REAL_CLIPS / "clips.json").read_text())["clips"]:
            source = REAL_CLIPS / clip["file"]
            if clip["file"].startswith("roundhay"):  # one clip by a path relative to the manifest
                (folder / "clips").mkdir()
                path = shutil.copy(source, folder / "clips" / clip["file"])
                rows.append({"video_input": f"clips/{clip['file']}", "film_id": "roundhay-1888"})
            else:
                path = source.resolve()
                rows.append({"video_input": str(path)})
            real[str(path)] = clip
    manifest = folder / "films.jsonl"
    manifest.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return Collection(manifest=manifest, synthetic=synthetic, odd=odd_films, real=real)


@pytest.fixture(scope="module")
def finished(collection, tmp_path_factory) -> Finished:
    output = tmp_path_factory.mktemp("output")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        summary = run(
            ["--input", str(collection.manifest), "--output", str(output)],
            test_pipeline=TestPipeline(options=PipelineOptions(IN_PROCESS)),
        )
    return Finished(output=output, summary=summary, printed=printed.getvalue())


def scenes_by_uri(output: Path, run_id: str) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = {}
    for row in read_table(str(output), "scenes", run_id=run_id).to_pylist():
        grouped.setdefault(row["uri"], []).append(row)
    return grouped


def packet_timeline(path: str) -> tuple[int, int, Fraction]:
    """(frames, duration in time-base ticks, time base) from demuxed packets, by the Time contract."""
    with av.open(path) as container:
        stream = container.streams.video[0]
        pts = sorted(p.pts for p in container.demux(stream) if p.pts is not None)
        time_base = Fraction(stream.time_base)
    steps = np.diff(pts)
    assert steps.size, "a one-frame film has no step to measure"
    return len(pts), pts[-1] + int(np.median(steps)) - pts[0], time_base


def assert_tiles_duration(rows: list[dict], path: str) -> None:
    assert [r["scene_index"] for r in rows] == list(range(len(rows)))
    assert rows[0]["start_frame"] == 0 and rows[0]["start_s"] == 0.0
    for a, b in zip(rows, rows[1:]):
        assert (a["end_frame"], a["end_pts"], a["end_s"]) == (b["start_frame"], b["start_pts"], b["start_s"])
    frames, duration, time_base = packet_timeline(path)
    assert rows[-1]["time_base"] == f"{time_base.numerator}/{time_base.denominator}"
    assert rows[-1]["end_frame"] == frames
    assert rows[-1]["end_pts"] - rows[0]["start_pts"] == duration
    assert rows[-1]["end_s"] == pytest.approx(float(duration * time_base), abs=1e-9)


# ------------------------------------------------------------------------------- good films


def test_good_films_have_scenes_that_tile_their_duration(collection, finished):
    scenes = scenes_by_uri(finished.output, finished.summary.run_id)
    synthetic = scenes[collection.synthetic]
    assert [r["start_frame"] for r in synthetic] == [0, 30, 50]
    assert_tiles_duration(synthetic, collection.synthetic)
    [one] = scenes[collection.odd["one_frame"]]
    assert (one["start_frame"], one["end_frame"], one["start_s"]) == (0, 1, 0.0)
    assert one["end_s"] == pytest.approx(1 / 24, rel=1e-6)
    assert all(
        r["positive_prompt"] is None and r["best_take"] is None for rows in scenes.values() for r in rows
    )


def test_real_clips_are_cut_where_their_shots_change(collection, finished):
    if not collection.real:
        pytest.skip(f"real clips are absent ({REAL_CLIPS.resolve()})")
    scenes = scenes_by_uri(finished.output, finished.summary.run_id)
    for path, clip in collection.real.items():
        rows = scenes[path]
        cuts = [r["start_frame"] for r in rows[1:]]
        assert len(cuts) == len(clip["cuts_at_frames"]), (clip["file"], cuts)
        assert all(abs(a - b) <= 1 for a, b in zip(cuts, clip["cuts_at_frames"])), (clip["file"], cuts)
        assert rows[-1]["end_frame"] == clip["frames"]
        assert_tiles_duration(rows, path)


def test_film_ids_are_the_rows_own_or_slug_plus_content_hash(collection, finished):
    scenes = scenes_by_uri(finished.output, finished.summary.run_id)
    ids = {uri: {r["film_id"] for r in rows} for uri, rows in scenes.items()}
    digest = hashlib.sha256(Path(collection.synthetic).read_bytes()).hexdigest()
    assert ids[collection.synthetic] == {f"three-shots-{digest[:12]}"}
    assert ids[collection.odd["one_frame"]] == {"one-frame"}
    for path, clip in collection.real.items():
        if clip["file"].startswith("roundhay"):
            assert ids[path] == {"roundhay-1888"}
    for film_ids in ids.values():
        [film_id] = film_ids
        assert validate_film_id(film_id) == film_id


# ------------------------------------------------------------------------------- bad input


def test_unusable_files_become_failures_with_their_stage(collection, finished):
    failures = read_table(str(finished.output), "failures", run_id=finished.summary.run_id).to_pylist()
    scenes = scenes_by_uri(finished.output, finished.summary.run_id)
    for kind in UNUSABLE:
        path = collection.odd[kind]
        [failure] = [f for f in failures if f["uri"] == path]
        assert failure["stage"] == "probe_and_shard" and failure["film_id"] is None, failure
        assert failure["error_type"] in MEDIA_ERRORS | {"FileNotFoundError"}, failure
        assert failure["error"], failure
        assert path not in scenes


def test_an_unsafe_film_id_fails_its_row_and_writes_nothing_outside_output(collection, finished):
    failures = read_table(str(finished.output), "failures", run_id=finished.summary.run_id).to_pylist()
    [unsafe] = [f for f in failures if f["stage"] == "read_manifest"]
    assert unsafe["uri"] == collection.synthetic and unsafe["film_id"] is None
    assert "'../../escape' is not a safe path segment" in unsafe["error"]
    base = finished.output.parent
    assert not [p for p in base.rglob("*") if "escape" in p.name]


def test_failure_count_is_exact(collection, finished):
    summary = finished.summary
    assert summary.failures_by_stage == {"probe_and_shard": len(UNUSABLE), "read_manifest": 1}
    assert summary.films == 2 + len(collection.real)


# ----------------------------------------------------------------------------------- outputs


def test_shot_lists_match_the_scenes_table(finished):
    rows = read_table(str(finished.output), "scenes", run_id=finished.summary.run_id).to_pylist()
    film_ids = {r["film_id"] for r in rows}
    folder = finished.output / "shotlists"
    assert sorted(os.listdir(folder)) == sorted(f"{f}{ext}" for f in film_ids for ext in (".csv", ".edl"))
    for film_id in film_ids:
        mine = [r for r in rows if r["film_id"] == film_id]
        listed = list(csv.DictReader((folder / f"{film_id}.csv").open()))
        assert [(int(c["scene_index"]), int(c["start_frame"]), int(c["end_frame"])) for c in listed] == [
            (r["scene_index"], r["start_frame"], r["end_frame"]) for r in mine
        ]
        edl = (folder / f"{film_id}.edl").read_text()
        assert edl.startswith(f"TITLE: {film_id}\nFCM: NON-DROP FRAME\n")
        assert len(re.findall(r"^\d{3,}  \S+ +V     C        ", edl, flags=re.M)) == len(mine)


def test_every_file_under_output_is_final_and_complete(finished):
    run_id = r"\d{8}T\d{6}Z-[0-9a-f]{8}"  # the two-worker test adds a second run to this output
    files = [p for p in finished.output.rglob("*") if p.is_file()]
    assert files and not [p for p in finished.output.rglob("*") if p.name.startswith(".") or "temp" in p.name]
    for path in files:
        relative = path.relative_to(finished.output).as_posix()
        if relative.startswith("meta/"):
            assert re.fullmatch(
                rf"meta/(scenes|failures|runs)/{run_id}-\d{{5}}-of-\d{{5}}\.parquet", relative
            )
            pq.read_table(path)  # a whole Parquet file: footer and all
        else:
            assert re.fullmatch(r"shotlists/[A-Za-z0-9][A-Za-z0-9._-]*\.(csv|edl)", relative)
            assert path.read_text().endswith("\n")


def test_runs_row_and_printed_summary(collection, finished):
    summary = finished.summary
    [row] = read_table(str(finished.output), "runs", run_id=summary.run_id).to_pylist()
    assert row["job"] == "scenes" and row["finished_at"] >= row["started_at"] and row["code_version"]
    assert dict(row["counts"]) == summary.counts()
    assert (
        summary.counts()["scenes"]
        == read_table(str(finished.output), "scenes", run_id=summary.run_id).num_rows
    )
    options = json.loads(row["options"])
    assert options["input"] == str(collection.manifest) and options["output"] == str(finished.output)
    assert (
        f"run {summary.run_id}: {summary.films} films, {summary.scenes} scenes, {summary.failures} failures"
        in finished.printed
    )
    assert str(finished.output / "shotlists") in finished.printed


def test_options_that_look_like_credentials_stay_out_of_the_runs_row(tmp_path, collection):
    out = tmp_path / "out"
    run(
        [
            "--input",
            collection.odd["zero_bytes"],
            "--output",
            str(out),
            "--service_account_key=s3cr3t",
            "--hdfs_password",
            "hunter2",
            "--archive_source=https://user:pw@example.com/x?token=abc",
        ],
        test_pipeline=TestPipeline(options=PipelineOptions(IN_PROCESS)),
    )
    [row] = read_table(str(out), "runs").to_pylist()
    assert "s3cr3t" not in row["options"] and "hunter2" not in row["options"] and ":pw@" not in row["options"]
    assert (
        "abc" not in row["options"]
        and json.loads(row["options"])["archive_source"] == "https://***@example.com/x?token=***"
    )
    assert dict(row["counts"]) == {"films": 0, "scenes": 0, "failures": 1, "failures_probe_and_shard": 1}


def test_flags_are_checked_before_anything_runs(tmp_path, finished, collection):
    with pytest.raises(ValueError, match="--input is required"):
        run(["--output", str(tmp_path)])
    with pytest.raises(ValueError, match="--output is required"):
        run(["--input", str(collection.manifest)])
    with pytest.raises(ValueError, match="--min_scene_s 0.0 must be a positive"):
        run(["--input", str(collection.manifest), "--output", str(tmp_path), "--min_scene_s", "0"])
    with pytest.raises(ValueError, match="run ids look like"):
        run(["--input", str(collection.manifest), "--output", str(tmp_path), "--run_id", "../x"])
    with pytest.raises(ValueError, match="already used"):
        run(
            [
                "--input",
                str(collection.manifest),
                "--output",
                str(finished.output),
                "--run_id",
                finished.summary.run_id,
            ]
        )
    assert not list(tmp_path.iterdir())


# ----------------------------------------------------------------------------- two workers


def test_two_worker_processes_write_the_same_rows_and_never_touch_the_earlier_run(collection, finished):
    output = str(finished.output)
    first = finished.summary.run_id
    before = {p: p.read_bytes() for p in (finished.output / "meta").rglob("*.parquet")}
    second = run(["--input", str(collection.manifest), "--output", output, *TWO_WORKERS]).run_id
    assert second > first

    def rows(table: str, run_id: str) -> list[dict]:
        return sorted(
            (
                ({k: v for k, v in r.items() if k != "run_id"})
                for r in read_table(output, table, run_id=run_id).to_pylist()
            ),
            key=lambda r: json.dumps(r, sort_keys=True),
        )

    assert rows("scenes", second) == rows("scenes", first) and rows("scenes", first)
    assert rows("failures", second) == rows("failures", first)
    assert {p: p.read_bytes() for p in before} == before  # a run never rewrites another run's files
    newest = read_table(output, "scenes")
    assert set(newest["run_id"].to_pylist()) == {second}

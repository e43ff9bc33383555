"""Table schemas, run ids, WriteTable's file layout, and read_table's newest-run-wins rule."""

from __future__ import annotations

import datetime as dt
import os
import re

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline

from tests.conftest import IN_PROCESS
from transforms.tables import (
    SCHEMAS,
    WriteTable,
    new_run_id,
    read_table,
    stamp_row,
    validate_run_id,
    write_table_file,
)

RUN_1 = "20260101T000000Z-aaaaaaaa"
RUN_2 = "20260102T000000Z-00000000"


def scene(film_id: str, index: int, **overrides) -> dict:
    row = {
        "film_id": film_id,
        "uri": f"/films/{film_id}.mp4",
        "scene_index": index,
        "start_frame": 10 * index,
        "end_frame": 10 * index + 10,
        "start_pts": 1000 * index,
        "end_pts": 1000 * index + 1000,
        "time_base": "1/24000",
        "start_s": index * 10 / 24,
        "end_s": (index + 1) * 10 / 24,
        "cut_confidence": 0.9,
    }
    return {**row, **overrides}


def test_every_table_leads_with_a_required_run_id():
    assert set(SCHEMAS) == {"runs", "films", "scenes", "takes", "failures"}
    for schema in SCHEMAS.values():
        assert schema.field(0).name == "run_id" and not schema.field(0).nullable


def test_contract_column_names():
    assert SCHEMAS["scenes"].names == [
        "run_id",
        "film_id",
        "uri",
        "scene_index",
        "start_frame",
        "end_frame",
        "start_pts",
        "end_pts",
        "time_base",
        "start_s",
        "end_s",
        "cut_confidence",
        "positive_prompt",
        "negative_prompt",
        "best_take",
        "chosen_unit_key",
        "score_sounds",
        "score_mood",
        "score_tempo_bpm",
        "score_key",
        "score_instrument",
        "score_hits",
    ]
    assert SCHEMAS["failures"].names == ["run_id", "uri", "film_id", "stage", "error_type", "error"]
    assert SCHEMAS["takes"].names == [
        "run_id",
        "film_id",
        "scene_index",
        "take",
        "unit_key",
        "seed",
        "flac_uri",
        "flac_sha256",
        "sync_score",
        "steps",
        "text_guidance",
        "video_guidance",
        "negative_guidance",
    ]
    assert SCHEMAS["films"].names == [
        "run_id",
        "film_id",
        "uri",
        "content_sha256",
        "duration_s",
        "nominal_fps",
        "true_fps",
        "frames",
        "missing_frames",
        "scenes",
        "cut_key",
        "flac_uri",
        "video_uri",
        "effects_flac_uri",
        "score_flac_uri",
        "loudness_lufs",
        "checkpoint_sha256",
        "status",
        "extra",
    ]
    assert SCHEMAS["runs"].names == [
        "run_id",
        "job",
        "started_at",
        "finished_at",
        "code_version",
        "options",
        "counts",
    ]
    scenes = SCHEMAS["scenes"]
    assert [f.name for f in scenes if f.nullable] == [
        "positive_prompt",
        "negative_prompt",
        "best_take",
        "chosen_unit_key",
        *(n for n in scenes.names if n.startswith("score_")),
    ]
    assert SCHEMAS["failures"].field("film_id").nullable


def test_run_ids_sort_by_time_and_are_validated():
    early = new_run_id(dt.datetime(2026, 11, 26, 8, 17, 9, tzinfo=dt.UTC))
    late = new_run_id(dt.datetime(2026, 11, 26, 9, 17, 10, tzinfo=dt.timezone(dt.timedelta(hours=1))))
    assert re.fullmatch(r"20261126T081709Z-[0-9a-f]{8}", early)
    assert late.startswith("20261126T081710Z-") and early < late
    assert new_run_id() != new_run_id()
    assert validate_run_id(early) == early
    for bad in ("../x", "20261126T081709Z", "20261126T081709Z-ABCDEF12", "latest"):
        with pytest.raises(ValueError, match="run ids look like"):
            validate_run_id(bad)


def test_stamp_row_fills_nullable_columns_and_rejects_unknown_or_missing():
    row = stamp_row(scene("a", 0), "scenes", RUN_1)
    assert row["run_id"] == RUN_1 and row["positive_prompt"] is None and list(row) == SCHEMAS["scenes"].names
    with pytest.raises(ValueError, match=r"columns \['colour'\]"):
        stamp_row({**scene("a", 0), "colour": "red"}, "scenes", RUN_1)
    with pytest.raises(ValueError, match=r"columns \['run_id'\]"):
        stamp_row({**scene("a", 0), "run_id": RUN_2}, "scenes", RUN_1)
    with pytest.raises(ValueError, match=r"lacks required columns \['time_base'\]"):
        stamp_row({**scene("a", 0), "time_base": None}, "scenes", RUN_1)
    with pytest.raises(ValueError, match="table 'shots' is not one of"):
        stamp_row({}, "shots", RUN_1)


def test_write_table_publishes_run_named_shards_only(tmp_path):
    out = str(tmp_path)
    with TestPipeline(options=PipelineOptions(IN_PROCESS)) as p:
        rows = p | "Scenes" >> beam.Create([scene("a", 0), scene("a", 1), scene("b", 0)])
        _ = rows | "WriteScenes" >> WriteTable(out, "scenes", RUN_1)
        _ = p | "NoFailures" >> beam.Create([]) | "WriteFailures" >> WriteTable(out, "failures", RUN_1)
    names = sorted(os.listdir(tmp_path / "meta" / "scenes"))
    assert names and all(re.fullmatch(rf"{RUN_1}-\d{{5}}-of-\d{{5}}\.parquet", n) for n in names), names
    written = read_table(out, "scenes", run_id=RUN_1)
    assert written.schema == SCHEMAS["scenes"]
    assert [(r["film_id"], r["scene_index"], r["run_id"]) for r in written.to_pylist()] == [
        ("a", 0, RUN_1),
        ("a", 1, RUN_1),
        ("b", 0, RUN_1),
    ]
    # An empty collection still leaves this run's (empty) file, so readers see the run wrote nothing.
    failures = os.listdir(tmp_path / "meta" / "failures")
    assert len(failures) == 1 and failures[0].startswith(RUN_1)
    assert read_table(out, "failures", run_id=RUN_1).num_rows == 0


def test_read_table_keeps_the_newest_run_per_key(tmp_path):
    out = str(tmp_path)
    write_table_file(out, "scenes", RUN_1, [scene("a", 0), scene("a", 1), scene("a", 2), scene("b", 0)])
    write_table_file(
        out, "scenes", RUN_2, [scene("a", 0, cut_confidence=1.0), scene("a", 1, cut_confidence=1.0)]
    )
    rows = read_table(out, "scenes").to_pylist()
    # Film a was re-cut into two scenes by the newer run: its third scene from run 1 is gone.
    assert [(r["film_id"], r["scene_index"], r["run_id"]) for r in rows] == [
        ("a", 0, RUN_2),
        ("a", 1, RUN_2),
        ("b", 0, RUN_1),
    ]
    assert read_table(out, "scenes", run_id=RUN_1).num_rows == 4

    failure = {
        "uri": "/f/x.mp4",
        "film_id": None,
        "stage": "probe_and_shard",
        "error_type": "E",
        "error": "old",
    }
    write_table_file(out, "failures", RUN_1, [failure, {**failure, "uri": "/f/y.mp4"}])
    write_table_file(out, "failures", RUN_2, [{**failure, "error": "new"}])
    assert [(r["uri"], r["error"]) for r in read_table(out, "failures").to_pylist()] == [
        ("/f/x.mp4", "new"),
        ("/f/y.mp4", "old"),
    ]


def test_read_table_ignores_temporary_files_and_reads_older_schemas(tmp_path):
    out = str(tmp_path)
    folder = tmp_path / "meta" / "scenes"
    (folder / ".temp-beam-123").mkdir(parents=True)
    (folder / ".temp-beam-123" / "partial.parquet").write_bytes(b"PAR1 not finished")
    (folder / f".{RUN_2}-00000-of-00001.parquet.x.tmp").write_bytes(b"partial")
    # A file from before the restore job's columns existed.
    old = pa.schema(
        [
            f
            for f in SCHEMAS["scenes"]
            if f.name not in ("positive_prompt", "negative_prompt", "best_take", "chosen_unit_key")
            and not f.name.startswith("score_")
        ]
    )
    row = {k: v for k, v in stamp_row(scene("a", 0), "scenes", RUN_1).items() if k in old.names}
    pq.write_table(pa.Table.from_pylist([row], schema=old), folder / f"{RUN_1}-00000-of-00001.parquet")
    [row] = read_table(out, "scenes").to_pylist()
    assert row["film_id"] == "a" and row["best_take"] is None and row["positive_prompt"] is None
    assert row["score_mood"] is None and row["score_sounds"] is None and row["chosen_unit_key"] is None
    # takes from before the negative prompt had its own guidance weight
    old = pa.schema([f for f in SCHEMAS["takes"] if f.name != "negative_guidance"])
    take = {
        "film_id": "a",
        "scene_index": 0,
        "take": 0,
        "unit_key": "k" * 16,
        "seed": 1,
        "flac_uri": "/a.flac",
        "flac_sha256": "f" * 64,
        "sync_score": None,
        "steps": 20,
        "text_guidance": 2.0,
        "video_guidance": 2.0,
    }
    (tmp_path / "meta" / "takes").mkdir()
    pq.write_table(
        pa.Table.from_pylist([stamp_row(take, "takes", RUN_1)], schema=old),
        tmp_path / "meta" / "takes" / f"{RUN_1}-00000-of-00001.parquet",
    )
    [row] = read_table(out, "takes").to_pylist()
    assert row["text_guidance"] == 2.0 and row["negative_guidance"] is None


def test_read_table_of_a_table_never_written_is_empty_with_its_schema(tmp_path):
    table = read_table(str(tmp_path), "takes")
    assert table.num_rows == 0 and table.schema == SCHEMAS["takes"]


def test_runs_rows_keep_timestamps_and_counts(tmp_path):
    started = dt.datetime(2026, 11, 26, 8, 17, 10, 123456, tzinfo=dt.UTC)
    uri = write_table_file(
        str(tmp_path),
        "runs",
        RUN_1,
        [
            {
                "job": "scenes",
                "started_at": started,
                "finished_at": started + dt.timedelta(seconds=5),
                "code_version": "0.1.0",
                "options": "{}",
                "counts": {"films": 2, "scenes": 9},
            }
        ],
    )
    assert uri == str(tmp_path / "meta" / "runs" / f"{RUN_1}-00000-of-00001.parquet")
    [row] = read_table(str(tmp_path), "runs").to_pylist()
    assert row["started_at"] == started and dict(row["counts"]) == {"films": 2, "scenes": 9}
    assert not [n for n in os.listdir(tmp_path / "meta" / "runs") if n.startswith(".")]


def test_tables_on_an_fsspec_filesystem():
    out = "memory://talkie-tables-test/out"
    write_table_file(out, "scenes", RUN_1, [scene("a", 0), scene("a", 1)])
    write_table_file(out, "scenes", RUN_2, [scene("a", 0)])
    assert [(r["scene_index"], r["run_id"]) for r in read_table(out, "scenes").to_pylist()] == [(0, RUN_2)]
    assert read_table(out, "scenes", run_id=RUN_1).num_rows == 2

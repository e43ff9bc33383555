"""Manifest rows that name frame sequences: the rate they must give, the URI they become, their film_id."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from transforms.manifest import ManifestError, derive_film_id, film_slug, parse_manifest, read_manifest_rows
from transforms.stages import STAGE_READ_MANIFEST

SHA = "0123456789abcdef" * 4


def write_jsonl(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_a_sequence_row_becomes_a_sequence_uri_with_its_rate(tmp_path):
    spec = write_jsonl(
        tmp_path / "films.jsonl",
        [
            {"video_input": "reel1/frame_*.dpx", "fps": 18, "catalogue": "A-1"},
            {"video_input": "reel2/f_[0-9]*.tif", "fps": "24000/1001"},
            {"video_input": "reel3/f_*.exr#fps=25"},
        ],
    )
    jobs, failures = parse_manifest(spec)
    assert failures == []
    assert [j.video_input for j in jobs] == [
        f"{tmp_path}/reel1/frame_*.dpx#fps=18",
        f"{tmp_path}/reel2/f_[0-9]*.tif#fps=24000/1001",
        f"{tmp_path}/reel3/f_*.exr#fps=25",
    ]
    assert json.loads(jobs[0].extra) == {"catalogue": "A-1"}  # the rate is in the URI, not in extra


def test_a_sequence_row_from_csv_takes_its_rate_as_text(tmp_path):
    (tmp_path / "films.csv").write_text("video_input,fps\nscans/r_*.png,23.976\n")
    [job], failures = parse_manifest(str(tmp_path / "films.csv"))
    assert failures == [] and job.video_input == f"{tmp_path}/scans/r_*.png#fps=2997/125"


def test_a_sequence_row_without_fps_fails_clearly_and_the_others_go_on(tmp_path):
    spec = write_jsonl(
        tmp_path / "films.jsonl",
        [
            {"video_input": "reel1/frame_*.dpx"},
            {"video_input": "reel2/frame_*.dpx", "fps": 0},
            {"video_input": "reel3/frame_*.dpx#fps=18", "fps": 24},
            {"video_input": "reels/*/frame_*.dpx", "fps": 24},
            {"video_input": "film.mp4"},
        ],
    )
    jobs, failures = parse_manifest(spec)
    assert [j.video_input for j in jobs] == [f"{tmp_path}/film.mp4"]
    assert [f.stage for f in failures] == [STAGE_READ_MANIFEST] * 4
    assert all(f.error_type == "ManifestError" for f in failures)
    no_rate, zero, conflict, folders = (f.error for f in failures)
    assert "is a frame sequence (a glob of frame files) and its row gives no fps" in no_rate
    assert failures[0].uri == f"{tmp_path}/reel1/frame_*.dpx"
    assert "fps 0 is not a frame rate" in zero
    assert "differs from the rate in video_input" in conflict
    assert "only a frame sequence's file name may hold wildcards" in folders


def test_a_video_whose_name_holds_brackets_is_a_file_and_keeps_its_fps_column(tmp_path):
    spec = write_jsonl(tmp_path / "films.jsonl", [{"video_input": "Reel [1].mp4", "fps": 18}])
    [job], failures = parse_manifest(spec)
    assert failures == [] and job.video_input == f"{tmp_path}/Reel [1].mp4"
    assert json.loads(job.extra) == {"fps": 18}


def test_an_input_glob_of_frame_files_asks_for_a_manifest_row(tmp_path):
    for number in (1, 2):
        (tmp_path / f"frame_{number}.dpx").write_bytes(b"x")
    with pytest.raises(ManifestError, match='needs its rate: give it as a manifest row.*"fps": 18'):
        list(read_manifest_rows(str(tmp_path / "frame_*.dpx")))


def test_a_sequence_film_id_is_named_after_its_folder_and_pattern():
    assert film_slug("/scans/Reel 1/frame_*.dpx#fps=18") == "reel-1-frame"
    assert film_slug("gs://user:secret@bucket/frame_[0-9]*.tif#fps=24") == "bucket-frame"
    assert derive_film_id("/scans/reel1/frame_*.dpx#fps=18", SHA) == "reel1-frame-0123456789ab"

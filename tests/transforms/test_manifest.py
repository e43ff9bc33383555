"""Manifest parsing: every format, path resolution, prompts, film_id safety, ReadManifest."""

from __future__ import annotations

import json
import re
from pathlib import Path

import apache_beam as beam
import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from tests.conftest import IN_PROCESS
from transforms.failures import Failure, failure_from, redact
from transforms.manifest import (
    MAX_PROMPT_CHARS,
    FilmJob,
    ManifestError,
    ReadManifest,
    SceneOverride,
    clean_prompt,
    derive_film_id,
    film_slug,
    manifest_format,
    parse_manifest,
    validate_film_id,
)
from transforms.stages import STAGE_READ_MANIFEST

SHA = "0123456789abcdef" * 4


def write_jsonl(path: Path, rows: list) -> str:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return str(path)


def only_job(spec: str) -> FilmJob:
    jobs, failures = parse_manifest(spec)
    assert failures == [] and len(jobs) == 1
    return jobs[0]


# ------------------------------------------------------------------------------- formats


def test_jsonl_rows_resolve_paths_and_keep_every_field(tmp_path):
    spec = write_jsonl(
        tmp_path / "films.jsonl",
        [
            {
                "video_input": "reels/a.mp4",
                "film_id": "CAT-0001",
                "positive_prompt": "rain on a tin roof",
                "negative_prompt": "music",
                "takes": 3,
                "seed": 42,
                "archive": "BFI",
                "year": 1931,
                "scenes": [
                    {"index": 2, "positive_prompt": "a door slams"},
                    {"start_s": 1.5, "end_s": 4, "negative_prompt": "speech"},
                ],
            },
            "",
            {"video_input": "/abs/b.mp4"},
            {"video_input": "gs://bucket/c.mp4"},
            {"video_input": "../up/d.mp4"},
        ],
    )
    jobs, failures = parse_manifest(spec)
    assert failures == []
    assert [j.video_input for j in jobs] == [
        str(tmp_path / "reels" / "a.mp4"),
        "/abs/b.mp4",
        "gs://bucket/c.mp4",
        str(tmp_path.parent / "up" / "d.mp4"),
    ]
    first = jobs[0]
    assert (first.film_id, first.positive_prompt, first.negative_prompt, first.takes, first.seed) == (
        "CAT-0001",
        "rain on a tin roof",
        "music",
        3,
        42,
    )
    assert first.scenes == (
        SceneOverride(
            index=2, start_s=None, end_s=None, positive_prompt="a door slams", negative_prompt=None
        ),
        SceneOverride(index=None, start_s=1.5, end_s=4.0, positive_prompt=None, negative_prompt="speech"),
    )
    assert json.loads(first.extra) == {"archive": "BFI", "year": 1931}


def test_fields_not_given_stay_none_so_defaults_can_layer(tmp_path):
    job = only_job(write_jsonl(tmp_path / "m.jsonl", [{"video_input": "a.mp4"}]))
    assert job == FilmJob(
        video_input=str(tmp_path / "a.mp4"),
        film_id=None,
        positive_prompt=None,
        negative_prompt=None,
        takes=None,
        seed=None,
        scenes=(),
        extra="{}",
    )


def test_an_empty_prompt_is_kept_as_given(tmp_path):
    # "" says "no negative prompt", which must override a command-line default; None says "not given".
    job = only_job(write_jsonl(tmp_path / "m.jsonl", [{"video_input": "a.mp4", "negative_prompt": ""}]))
    assert job.negative_prompt == "" and job.positive_prompt is None


def test_csv_rows_with_empty_cells_and_json_scene_overrides(tmp_path):
    path = tmp_path / "films.csv"
    path.write_text(
        "\ufeffvideo_input, film_id ,positive_prompt,takes,seed,scenes,notes\n"
        'a.mp4,,wind in trees,2,7,"[{""index"": 0, ""positive_prompt"": ""birds""}]",first reel\n'
        "b.mp4,reel-2,,,,,\n"
        "c.mp4,x,y,1,2,[],z,surplus\n"
    )
    jobs, failures = parse_manifest(str(path))
    a, b = jobs
    assert (a.video_input, a.film_id, a.positive_prompt, a.takes, a.seed) == (
        str(tmp_path / "a.mp4"),
        None,
        "wind in trees",
        2,
        7,
    )
    assert a.scenes == (SceneOverride(0, None, None, "birds", None),)
    assert json.loads(a.extra) == {"notes": "first reel"}
    assert (b.film_id, b.positive_prompt, b.takes, b.scenes, json.loads(b.extra)) == (
        "reel-2",
        None,
        None,
        (),
        {"notes": None},
    )
    [failure] = failures
    assert failure.uri == str(tmp_path / "films.csv") + "#row=3"
    assert "8 cells" in failure.error and "header has 7" in failure.error


def test_parquet_rows_with_struct_scene_overrides_and_extra_columns(tmp_path):
    table = pa.table(
        {
            "video_input": ["a.mp4", "b.mp4"],
            "film_id": [None, 12345],
            "takes": pa.array([4, None], pa.int64()),
            "seed": pa.array([None, 9.0], pa.float64()),  # ints read back as floats when a column has nulls
            "scenes": pa.array(
                [
                    [
                        {
                            "index": 1,
                            "start_s": None,
                            "end_s": None,
                            "positive_prompt": "hooves",
                            "negative_prompt": None,
                        }
                    ],
                    None,
                ]
            ),
            "score": [float("nan"), 0.5],
        }
    )
    pq.write_table(table, tmp_path / "films.parquet")
    jobs, failures = parse_manifest(str(tmp_path / "films.parquet"))
    assert failures == []
    a, b = jobs
    assert (a.film_id, a.takes, a.seed, a.scenes) == (
        None,
        4,
        None,
        (SceneOverride(1, None, None, "hooves", None),),
    )
    assert (b.film_id, b.takes, b.seed) == ("12345", None, 9)
    assert json.loads(a.extra) == {"score": None} and json.loads(b.extra) == {"score": 0.5}


def test_single_job_json_as_one_object_or_a_list(tmp_path):
    (tmp_path / "one.json").write_text(json.dumps({"video_input": "a.mp4", "positive_prompt": "surf"}))
    assert only_job(str(tmp_path / "one.json")).positive_prompt == "surf"
    (tmp_path / "many.json").write_text(json.dumps([{"video_input": "a.mp4"}, {"video_input": "b.mp4"}, 7]))
    jobs, failures = parse_manifest(str(tmp_path / "many.json"))
    assert [Path(j.video_input).name for j in jobs] == ["a.mp4", "b.mp4"]
    assert [f.uri for f in failures] == [str(tmp_path / "many.json") + "#row=3"]
    assert "JSON object" in failures[0].error


def test_a_bad_jsonl_line_fails_alone(tmp_path):
    spec = write_jsonl(
        tmp_path / "m.jsonl", [{"video_input": "a.mp4"}, "{not json", {"video_input": "b.mp4"}]
    )
    jobs, failures = parse_manifest(spec)
    assert len(jobs) == 2
    [failure] = failures
    assert (failure.uri, failure.stage, failure.error_type) == (
        f"{spec}#line=2",
        STAGE_READ_MANIFEST,
        "ManifestError",
    )


def test_glob_of_video_files_local_and_relative(tmp_path, monkeypatch):
    for name in ("b.mp4", "a.mp4", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub.mp4").mkdir()  # a folder that matches is not a film
    monkeypatch.chdir(tmp_path)
    jobs, failures = parse_manifest("*.mp4")
    assert failures == []
    assert [j.video_input for j in jobs] == [str(tmp_path / "a.mp4"), str(tmp_path / "b.mp4")]
    assert all(j.film_id is None for j in jobs)


def test_glob_and_manifest_on_an_fsspec_filesystem():
    fs = fsspec.filesystem("memory")
    fs.pipe("/talkie-manifest-test/films/x.mp4", b"x")
    fs.pipe("/talkie-manifest-test/films/y.mp4", b"y")
    fs.pipe("/talkie-manifest-test/m.jsonl", b'{"video_input": "films/x.mp4"}\n{"video_input": "../z.mp4"}\n')
    jobs, _ = parse_manifest("memory://talkie-manifest-test/films/*.mp4")
    assert all(j.video_input.startswith("memory://") for j in jobs)
    assert [fs._strip_protocol(j.video_input) for j in jobs] == [
        "/talkie-manifest-test/films/x.mp4",
        "/talkie-manifest-test/films/y.mp4",
    ]
    jobs, _ = parse_manifest("memory://talkie-manifest-test/m.jsonl")
    assert [j.video_input for j in jobs] == ["memory://talkie-manifest-test/films/x.mp4", "memory://z.mp4"]


def test_a_glob_of_manifests_reads_each(tmp_path):
    write_jsonl(tmp_path / "one.jsonl", [{"video_input": "a.mp4"}])
    write_jsonl(tmp_path / "two.jsonl", [{"video_input": "b.mp4"}, {"video_input": "c.mp4"}])
    jobs, _ = parse_manifest(str(tmp_path / "*.jsonl"))
    assert [Path(j.video_input).name for j in jobs] == ["a.mp4", "b.mp4", "c.mp4"]


def test_format_follows_the_extension():
    assert [
        manifest_format(s) for s in ("m.JSONL", "m.csv", "x/m.parquet", "m.json", "films/*.mp4", "f.mkv")
    ] == ["jsonl", "csv", "parquet", "json", "videos", "videos"]


@pytest.mark.parametrize(
    "content,expected",
    [
        ("title,year\nx,1\n", "'video_input' column is required"),
        ("", "'video_input' column is required"),
    ],
)
def test_csv_without_video_input_column_fails_the_whole_manifest(tmp_path, content, expected):
    (tmp_path / "m.csv").write_text(content)
    with pytest.raises(ManifestError, match=expected):
        parse_manifest(str(tmp_path / "m.csv"))


def test_unreadable_manifests_raise_naming_the_input(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "none" / "*.mp4"))):
        parse_manifest(str(tmp_path / "none" / "*.mp4"))
    with pytest.raises(FileNotFoundError):
        parse_manifest(str(tmp_path / "absent.jsonl"))
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ManifestError, match="not valid JSON"):
        parse_manifest(str(tmp_path / "bad.json"))
    (tmp_path / "latin1.jsonl").write_bytes('{"video_input": "caf\xe9.mp4"}'.encode("latin-1"))
    with pytest.raises(ManifestError, match="not UTF-8"):
        parse_manifest(str(tmp_path / "latin1.jsonl"))


# --------------------------------------------------------------------------------- film_id


@pytest.mark.parametrize(
    "film_id",
    [
        "../../escape",
        "/abs",
        "a/b",
        "a\\b",
        "nul\x00id",
        "x" * 300,
        "",
        ".hidden",
        "a..b",
        "tab\tid",
        "-dash-first",
        True,
        1.5,
    ],
)
def test_unsafe_film_id_makes_that_row_a_failure(tmp_path, film_id):
    spec = write_jsonl(
        tmp_path / "m.jsonl",
        [
            {"video_input": "ok.mp4", "film_id": "safe-1"},
            {"video_input": "bad.mp4", "film_id": film_id},
        ],
    )
    jobs, failures = parse_manifest(spec)
    assert [j.film_id for j in jobs] == ["safe-1"]
    [failure] = failures
    assert failure == Failure(
        uri=str(tmp_path / "bad.mp4"),
        film_id=None,
        stage=STAGE_READ_MANIFEST,
        error_type="ManifestError",
        error=failure.error,
    )
    assert "film_id" in failure.error and len(failure.error) < 400


def test_safe_film_ids_are_kept():
    assert validate_film_id("Reel_12.v2-final") == "Reel_12.v2-final"
    assert validate_film_id(12345) == "12345"
    assert validate_film_id("x" * 128) == "x" * 128
    with pytest.raises(ManifestError, match="1 to 128 characters"):
        validate_film_id("x" * 129)


def test_derived_film_id_is_a_bounded_slug_plus_content_hash():
    assert derive_film_id("/films/Café del Mar (1931).MP4", SHA) == "cafe-del-mar-1931-0123456789ab"
    assert derive_film_id("gs://b/x/reel.mp4?generation=3", SHA) == "reel-0123456789ab"
    assert film_slug("/films/....mp4") == "film"
    assert film_slug("/films/.hidden") == "hidden"
    long = derive_film_id("/f/" + "A very long title " * 20 + ".mkv", SHA)
    assert len(long) <= 48 + 13 and long.endswith("-0123456789ab")
    assert validate_film_id(long) == long and not long.startswith("-") and "--" not in long
    with pytest.raises(ValueError, match="64 lowercase hex"):
        derive_film_id("a.mp4", "abc")


# --------------------------------------------------------------------------------- prompts


def test_prompts_lose_control_characters_and_are_bounded(tmp_path):
    assert clean_prompt("rain\x00 on\ttin\n\nroof\x1b[0m\u200b", "p") == "rain on tin roof[0m\u200b"
    assert clean_prompt("   ", "p") == ""
    assert clean_prompt("x" * MAX_PROMPT_CHARS, "p") == "x" * MAX_PROMPT_CHARS
    spec = write_jsonl(
        tmp_path / "m.jsonl",
        [
            {"video_input": "long.mp4", "positive_prompt": "x" * (MAX_PROMPT_CHARS + 1)},
            {"video_input": "num.mp4", "negative_prompt": 5},
        ],
    )
    jobs, failures = parse_manifest(spec)
    assert jobs == []
    assert "1001 characters; at most 1000" in failures[0].error
    assert "negative_prompt 5 must be text" in failures[1].error


@pytest.mark.parametrize(
    "field,value,expected",
    [
        ("takes", 0, "takes 0 must be a whole number from 1 to 100"),
        ("takes", 2.5, "takes 2.5 must be a whole number"),
        ("takes", True, "takes True must be a whole number"),
        ("takes", "three", "takes 'three' must be a whole number"),
        ("seed", -1, "seed -1 must be a whole number from 0"),
        ("video_input", "", "video_input '' is not a path"),
        ("video_input", 3, "video_input 3 is not a path"),
        ("video_input", "a\x00.mp4", "control characters"),
    ],
)
def test_bad_values_name_the_value_and_what_is_accepted(tmp_path, field, value, expected):
    row = {"video_input": "a.mp4", field: value}
    jobs, [failure] = parse_manifest(write_jsonl(tmp_path / "m.jsonl", [row]))
    assert jobs == [] and expected in failure.error


@pytest.mark.parametrize(
    "scenes,expected",
    [
        ([{"index": 1, "start_s": 0, "end_s": 1, "positive_prompt": "x"}], "both index and start_s/end_s"),
        ([{"start_s": 1, "positive_prompt": "x"}], "needs either index or both start_s and end_s"),
        ([{"index": 1}], "neither positive_prompt nor negative_prompt"),
        ([{"index": 1, "prompt": "x"}], "unknown keys ['prompt']"),
        (
            [{"index": 1, "positive_prompt": "x"}, {"index": 1, "negative_prompt": "y"}],
            "index [1] more than once",
        ),
        ([{"start_s": 3, "end_s": 2, "positive_prompt": "x"}], "not before end_s"),
        ([{"index": -1, "positive_prompt": "x"}], "scenes[0].index -1 must be a whole number"),
        ({"index": 1}, "must be a list"),
        ("[oops", "not valid JSON"),
    ],
)
def test_bad_scene_overrides_fail_the_row(tmp_path, scenes, expected):
    jobs, [failure] = parse_manifest(
        write_jsonl(tmp_path / "m.jsonl", [{"video_input": "a.mp4", "scenes": scenes}])
    )
    assert jobs == [] and expected in failure.error


# ---------------------------------------------------------------------------- failures


def test_failure_records_hide_credentials():
    exc = OSError("cannot open https://user:hunter2@host/a.mp4?X-Amz-Signature=abc123&part=1")
    failure = failure_from(
        exc, uri="s3://key:secret@bucket/a.mp4?token=t0k", film_id=None, stage="probe_and_shard"
    )
    assert "hunter2" not in failure.error and "abc123" not in failure.error and "part=1" in failure.error
    assert failure.uri == "s3://***@bucket/a.mp4?token=***"
    assert failure.error_type == "OSError"
    assert redact("gs://bucket/plain.mp4") == "gs://bucket/plain.mp4"
    assert len(failure_from(ValueError("x" * 10_000), uri="u", film_id=None, stage="s").error) == 2000


# ------------------------------------------------------------------------------- transform


def test_read_manifest_reads_at_run_time_and_tags_failures(tmp_path):
    spec = tmp_path / "later.jsonl"  # does not exist while the pipeline is built
    with TestPipeline(options=PipelineOptions(IN_PROCESS)) as p:
        read = p | ReadManifest(str(spec))
        write_jsonl(
            spec, [{"video_input": "a.mp4", "film_id": "a"}, {"video_input": "b.mp4", "film_id": "../b"}]
        )
        assert_that(
            read.jobs | beam.Map(lambda j: (j.video_input, j.film_id)),
            equal_to([(str(tmp_path / "a.mp4"), "a")]),
            label="Jobs",
        )
        assert_that(
            read.failures | beam.Map(lambda f: (f.uri, f.stage, f.film_id)),
            equal_to([(str(tmp_path / "b.mp4"), STAGE_READ_MANIFEST, None)]),
            label="Failures",
        )

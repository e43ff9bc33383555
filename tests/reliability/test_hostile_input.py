"""Hostile input (issue 5): film ids and file names that try to leave OUTPUT, prompts with control
characters, text no UTF-8 writer can store, and credentials in film URIs.

Limits under test (transforms/manifest.py): a manifest's film_id is 1 to 128 characters of
A-Z a-z 0-9 . _ -, starting with a letter or digit, without ".."; a derived film_id is a slug of
at most 48 characters plus "-" and 12 hex digits (61 in all); a prompt is at most 1000 characters
after control characters and bidirectional overrides are removed and whitespace runs collapsed.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import posixpath

import fsspec
import pyarrow.parquet as pq
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline

from pipelines.restore import run
from tests.conftest import IN_PROCESS
from tests.films import encode, textured_shots
from tests.transforms.builders import SHA_A, SHA_B, job, probe, tiling
from tests.transforms.generation import save_small_checkpoint
from transforms.dedupe import _OnePerFilmIdFn
from transforms.failures import failure_from, redact
from transforms.layout import film_uris, ledger_uri, shotlist_uris, stem_uri
from transforms.manifest import (
    MAX_FILM_ID_CHARS,
    MAX_PROMPT_CHARS,
    ManifestError,
    clean_prompt,
    derive_film_id,
    file_name,
    parse_manifest,
    validate_film_id,
)
from transforms.rows import failure_row
from transforms.shard import ShardedFilm
from transforms.tables import read_table

SHA = "0123456789abcdef" * 4
KEY = "0123456789abcdef"

# Beyond tests/transforms/test_manifest.py's ../../escape, /abs, a/b, NUL, 300 chars, ...
HOSTILE_IDS = [
    ".",
    "..",
    "../x",
    "x/..",
    "x\n",
    "\nx",
    "%2e%2e",
    "..%2f..%2fx",
    "a:b",
    "gs:",
    "~root",
    "C:\\x",
    "café",
    "\u202egnp.exe",
    "x\u200by",
    " x",
    "x ",
    "x" * (MAX_FILM_ID_CHARS + 1),
    "x" * 100_000,
    "a\x00",
    "\udcff",
    "*",
    "a?b",
    "a#b",
]


# ----------------------------------------------------------------------------- film ids and paths


@pytest.mark.parametrize("film_id", HOSTILE_IDS)
def test_hostile_film_ids_are_refused_and_name_the_rule(film_id):
    with pytest.raises(
        ManifestError, match="not a safe path segment: it accepts 1 to 128 characters"
    ) as info:
        validate_film_id(film_id)
    assert len(str(info.value)) < 400  # a 100 000-character id is shown bounded


@pytest.mark.parametrize("film_id", HOSTILE_IDS)
def test_no_output_path_is_built_from_a_hostile_film_id_or_key(film_id, tmp_path):
    """Ids and keys read back from tables or ledgers are checked again where paths are built."""
    output = str(tmp_path / "out")
    for build in (
        lambda: stem_uri(output, film_id, KEY),
        lambda: ledger_uri(output, film_id, KEY),
        lambda: film_uris(output, film_id, KEY),
        lambda: shotlist_uris(output, film_id),
        lambda: stem_uri(output, "film", film_id),
        lambda: ledger_uri(output, "film", film_id),
        lambda: film_uris(output, "film", film_id),
    ):
        with pytest.raises(ValueError, match="not a safe path segment"):
            build()


def test_paths_from_safe_ids_stay_under_output(tmp_path):
    output = str(tmp_path / "out")
    longest = "x" * MAX_FILM_ID_CHARS
    for film_id in ("a", "Reel_12.v2-final", longest, "x.", "1.x"):
        for uri in (
            stem_uri(output, film_id, KEY),
            ledger_uri(output, film_id, KEY),
            *film_uris(output, film_id, KEY),
            *shotlist_uris(output, film_id),
        ):
            assert posixpath.normpath(uri).startswith(output + "/"), uri
            assert posixpath.normpath(uri) == uri


HOSTILE_NAMES = [
    "/films/../../../etc/passwd",
    "/films/..",
    "/films/" + "A very long title, " * 500 + ".mp4",
    "/films/\u202eevil\u2066.mp4",
    "/films/名前の無い映画.mp4",
    "/films/\x1b[31mred\x00.mp4",
    "/films/reel\udcff\udcfe.mp4",  # a file name's undecodable bytes, as os.listdir gives them
    "memory://user:hunter2@reel.mp4",
    "https://user:hunter2@host/path/reel%2F..%2F.mp4?X-Goog-Signature=abc123",
    "C:\\films\\..\\..\\x.mp4",
    "/films/.mp4",
    "/films/-.mp4",
]


@pytest.mark.parametrize("uri", HOSTILE_NAMES)
def test_derived_film_ids_are_safe_bounded_and_keep_no_credential(uri):
    film_id = derive_film_id(uri, SHA)
    assert validate_film_id(film_id) == film_id
    assert len(film_id) <= 48 + 1 + 12 and film_id.endswith("-0123456789ab")
    assert "hunter2" not in film_id and "abc123" not in film_id
    assert posixpath.normpath(stem_uri("/out", film_id, KEY)).startswith("/out/audio/")


# ----------------------------------------------------------------------------- prompts and text


def test_prompts_lose_control_characters_and_bidirectional_overrides():
    hostile = "rain\x00 on \x07tin\r\nroof \u202e\u2066reversed\u2069\u202c \x1b]0;title\x07 \x7f\x85end"
    assert clean_prompt(hostile, "p") == "rain on tin roof reversed ]0;title end"
    assert (
        clean_prompt("\u00e9t\u00e9 \u2014 pluie, 雨", "p") == "\u00e9t\u00e9 \u2014 pluie, 雨"
    )  # text is kept


def test_prompts_are_bounded_after_cleaning():
    padded = "x" * MAX_PROMPT_CHARS + "\x00" * 500 + " " * 500  # what is removed does not count
    assert clean_prompt(padded, "p") == "x" * MAX_PROMPT_CHARS
    with pytest.raises(ManifestError, match="positive_prompt has 1001 characters; at most 1000"):
        clean_prompt("x" * (MAX_PROMPT_CHARS + 1), "positive_prompt")
    with pytest.raises(ManifestError, match="at most 1000"):
        clean_prompt("word " * 1_000_000, "positive_prompt")


def test_text_no_utf8_writer_can_store_fails_its_row_not_the_job(tmp_path):
    """A JSON "\\ud800" escape parses into a lone surrogate, which Parquet, FLAC and MKV tags refuse
    (the job crashed in its table writer before)."""
    rows = [
        {"video_input": "a.mp4", "positive_prompt": "x\ud800y"},
        {"video_input": "b.mp4", "scenes": [{"index": 0, "negative_prompt": "\udfff"}]},
        {"video_input": "c.mp4", "note": "\ud800"},
        {"video_input": "d.mp4", "\ud800": "column name"},
        {"video_input": "e.mp4", "nested": {"\udfff": 1}},
        {"video_input": "ok.mp4", "positive_prompt": "rain"},
    ]
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))  # json.dumps writes \ud800 escapes
    jobs, failures = parse_manifest(str(manifest))
    assert [j.video_input for j in jobs] == [str(tmp_path / "ok.mp4")]
    assert len(failures) == 5
    for failure in failures:
        assert "not valid Unicode text (it holds a lone surrogate)" in failure.error
        json.dumps(failure_row(failure), ensure_ascii=False).encode("utf-8")  # storable


def test_an_undecodable_file_name_is_storable_in_every_row():
    uri = "/films/reel\udcff.mp4"
    failure = failure_from(OSError(f"cannot open {uri}"), uri=uri, film_id=None, stage="probe_and_shard")
    assert failure.uri == "/films/reel\\udcff.mp4" and "reel\\udcff.mp4" in failure.error
    assert redact(uri).encode("utf-8")


# ----------------------------------------------------------------------------- credentials


def test_film_id_conflicts_name_their_films_without_credentials():
    uris = ["memory://user:hunter2@bucket/a.mp4", "/films/b.mp4?X-Amz-Signature=abc123"]
    films = [
        ShardedFilm(job(u, film_id="dup"), "dup", probe(u, sha), tuple(tiling(48, [])))
        for u, sha in zip(uris, (SHA_A, SHA_B))
    ]
    failures = [out.value for out in _OnePerFilmIdFn().process(("dup", films))]
    assert [f.error_type for f in failures] == ["FilmIdConflict", "FilmIdConflict"]
    same_content = [
        ShardedFilm(job(uris[0], film_id="dup"), "dup", probe(uris[0]), tuple(tiling(48, []))),
        ShardedFilm(
            dataclasses.replace(job(uris[1], film_id="dup"), takes=2),
            "dup",
            probe(uris[1]),
            tuple(tiling(48, [])),
        ),
    ]
    failures += [
        out.value for out in _OnePerFilmIdFn().process(("dup", same_content)) if hasattr(out, "value")
    ]
    assert [f.error_type for f in failures][-1] == "DuplicateFilm"
    text = json.dumps([failure_row(f) for f in failures])
    assert "hunter2" not in text and "abc123" not in text and "***" in text


SECRETS = (
    "hunter2-pw",
    "SIGSECRET123",
    "CREDSECRET9",
    "hunter3-pw",
    "TOKSECRET7",
    "hunter4-pw",
    "AMZSECRET5",
)


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in _strings(v)]
    return [str(value)]


def test_no_credential_reaches_a_table_ledger_tag_or_log(tmp_path, caplog, capsys):
    """Films named by URIs with user-info and signed-URL tokens: two restored, one unreachable,
    two in a film_id conflict. No secret may appear in any file under OUTPUT (Parquet values,
    ledger JSON, FLAC and MKV tags) or in what the job logs and prints."""
    films = tmp_path / "films"
    films.mkdir()
    checkpoint = save_small_checkpoint(tmp_path / "small.safetensors")

    def film_bytes(seed: int) -> bytes:
        return encode(films / f"f{seed}.mp4", textured_shots([16], size=(32, 48), seed=seed)).read_bytes()

    with_userinfo = f"memory://talkie:{SECRETS[0]}@bucket-{tmp_path.name}/reel_a.mp4"
    signed = films / f"reel_b.mp4?X-Goog-Signature={SECRETS[1]}&X-Goog-Credential={SECRETS[2]}"
    unreachable = f"https://talkie:{SECRETS[3]}@127.0.0.1:9/reel_c.mp4?token={SECRETS[4]}"
    conflict_a = f"memory://talkie:{SECRETS[5]}@bucket-{tmp_path.name}/reel_d.mp4"
    conflict_b = films / f"reel_e.mp4?X-Amz-Signature={SECRETS[6]}"
    with fsspec.open(with_userinfo, "wb") as f:
        f.write(film_bytes(1))
    signed.write_bytes(film_bytes(2))
    with fsspec.open(conflict_a, "wb") as f:
        f.write(film_bytes(3))
    conflict_b.write_bytes(film_bytes(4))
    rows = [
        {"video_input": with_userinfo},
        {"video_input": str(signed)},
        {"video_input": unreachable},
        {"video_input": conflict_a, "film_id": "dup"},
        {"video_input": str(conflict_b), "film_id": "dup"},
    ]
    manifest = films / "m.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))

    output = tmp_path / "out"
    caplog.set_level(logging.DEBUG)
    summary = run(
        [
            "--input",
            str(manifest),
            "--output",
            str(output),
            "--checkpoint",
            checkpoint,
            "--steps",
            "2",
            "--positive_prompt",
            "a quiet room",
        ],
        test_pipeline=TestPipeline(options=PipelineOptions(IN_PROCESS)),
    )
    printed = capsys.readouterr()

    assert summary.films_done == 2
    stages = ("probe_and_shard", "deduplicate_films")
    assert {stage: summary.failures_by_stage.get(stage) for stage in stages} == dict(zip(stages, (1, 2)))
    # The review pages read the published MKVs, not the sources whose URIs the tables redact.
    assert summary.failures_by_stage.get("report") is None
    failures = [f for f in read_table(str(output), "failures").to_pylist() if f["stage"] in stages]
    assert sorted(f["uri"] for f in failures) == sorted(
        [
            "https://***@127.0.0.1:9/reel_c.mp4?token=***",
            f"memory://***@bucket-{tmp_path.name}/reel_d.mp4",
            str(films / "reel_e.mp4?X-Amz-Signature=***"),
        ]
    )
    films_rows = read_table(str(output), "films").to_pylist()
    assert sorted(f["uri"] for f in films_rows) == sorted(
        [
            f"memory://***@bucket-{tmp_path.name}/reel_a.mp4",
            str(films / "reel_b.mp4?X-Goog-Signature=***&X-Goog-Credential=***"),
        ]
    )

    files = [p for p in output.rglob("*") if p.is_file()]
    assert {p.suffix for p in files} >= {".parquet", ".json", ".flac", ".mkv"}
    found = []
    for path in files:
        texts = [path.read_bytes().decode("latin-1")]  # every byte, tags and JSON included
        if path.suffix == ".parquet":  # compressed pages: read the values too
            texts += _strings(pq.read_table(path).to_pylist())
        texts.append(str(path))
        found += [(str(path), s) for s in SECRETS for t in texts if s in t]
    # Every record at INFO and above, and at DEBUG every one but fsspec's own (its HTTP file system
    # logs each URL it fetches at DEBUG; run it at INFO when URLs carry tokens).
    found += [
        (f"log {r.name} {r.levelname}", s)
        for r in caplog.records
        for s in SECRETS
        if s in r.getMessage() and (r.levelno >= logging.INFO or not r.name.startswith("fsspec"))
    ]
    assert any(
        r.name.startswith("apache_beam") and r.levelno == logging.DEBUG and "FilmJob(" in r.getMessage()
        for r in caplog.records
    )  # Beam logged the records that carry the URIs
    found += [("stdout/stderr", s) for s in SECRETS if s in printed.out or s in printed.err]
    assert found == []
    assert any("reel_c.mp4" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)


def test_shot_list_clip_names_keep_no_credential():
    assert file_name("memory://user:hunter2@reel.mp4") == "reel.mp4"
    assert file_name("https://user:hunter2@host/a/reel.mp4?X-Goog-Signature=abc123") == "reel.mp4"
    assert file_name("/films/a@b.mp4") == "a@b.mp4"

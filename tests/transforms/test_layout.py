"""The output layout: every path of the output contract, from one module."""

from __future__ import annotations

import pytest

from transforms import layout

KEY = "0123456789abcdef"
RUN = "20260101T000000Z-00000000"


def test_output_paths_follow_the_contract():
    assert layout.stem_uri("gs://b/out", "f", KEY) == f"gs://b/out/audio/f/{KEY}.flac"
    assert layout.stem_path("f", KEY) == f"audio/f/{KEY}.flac"
    assert layout.ledger_uri("/out", "f", KEY) == f"/out/ledger/f/{KEY}.json"
    assert layout.film_uris("/out", "f", "k") == ("/out/films/f/k.flac", "/out/films/f/k.mkv")
    assert layout.preview_uri("/out/", "f", "k") == "/out/films/f/k.preview.mp4"
    assert layout.film_stem_uris("/out", "f", "k") == (
        "/out/films/f/k.effects.flac",
        "/out/films/f/k.score.flac",
    )
    assert layout.shotlist_uris("/out", "f") == ("/out/shotlists/f.csv", "/out/shotlists/f.edl")
    assert layout.shard_uri("/out", RUN, 7) == f"/out/shards/{RUN}-00007.safetensors"
    assert layout.shard_glob("/out", RUN) == f"/out/shards/{RUN}-*.safetensors"


def test_table_paths_name_the_run():
    assert layout.table_folder("/out", "films") == "/out/meta/films"
    assert layout.table_prefix("/out", "films", RUN) == f"/out/meta/films/{RUN}"
    assert layout.table_file_uri("/out", "runs", RUN) == f"/out/meta/runs/{RUN}-00000-of-00001.parquet"
    assert layout.table_glob("/out", "takes") == "/out/meta/takes/*.parquet"
    assert layout.table_glob("/out", "*", RUN) == f"/out/meta/*/{RUN}-*.parquet"


def test_report_paths_and_the_links_of_a_film_page():
    assert layout.report_index_uri("/out", RUN) == f"/out/report/{RUN}/index.html"
    assert layout.film_page_uri("/out", RUN, "f") == f"/out/report/{RUN}/f/index.html"
    assert layout.film_page_href("f") == "f/index.html"
    paths = layout.film_page_paths("/out", RUN, "f", "k")
    assert (paths.folder, paths.page) == (f"/out/report/{RUN}/f", f"/out/report/{RUN}/f/index.html")
    assert paths.preview == "/out/films/f/k.preview.mp4" and paths.run_href == "../index.html"
    assert (paths.preview_href, paths.flac_href, paths.video_href) == (
        "../../../films/f/k.preview.mp4",
        "../../../films/f/k.flac",
        "../../../films/f/k.mkv",
    )
    assert paths.stem_href.format(KEY) == f"../../../audio/f/{KEY}.flac"
    assert (paths.effects_href, paths.score_href) == (
        "../../../films/f/k.effects.flac",
        "../../../films/f/k.score.flac",
    )
    assert paths.picture_name.format(3) == "scene-00003.png"
    uncut = layout.film_page_paths("/out", RUN, "f", None)
    assert uncut.preview is None and uncut.flac_href is None and uncut.page == paths.page


def test_patterns_for_people_show_the_layout():
    assert layout.stems_pattern("/out") == "/out/audio/<film_id>/<unit_key>.flac"
    assert layout.films_pattern("/out") == "/out/films/<film_id>/<cut_key>.flac, .mkv"
    assert layout.film_stems_pattern("/out") == "/out/films/<film_id>/<cut_key>.effects.flac, .score.flac"
    assert layout.shotlists_pattern("/out") == "/out/shotlists/<film_id>.csv, .edl"


@pytest.mark.parametrize(
    "build",
    [
        lambda: layout.preview_uri("/out", "../x", "k"),
        lambda: layout.preview_uri("/out", "f", "k/.."),
        lambda: layout.film_stem_uris("/out", "f", "../k"),
        lambda: layout.film_page_uri("/out", RUN, "a/b"),
        lambda: layout.film_page_paths("/out", RUN, "f", ".."),
    ],
)
def test_report_paths_refuse_unsafe_segments(build):
    with pytest.raises(ValueError, match="not a safe path segment"):
        build()

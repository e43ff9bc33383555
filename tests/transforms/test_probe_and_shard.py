"""ProbeAndShard and DeduplicateFilms with stand-in shard functions; scene and failure rows."""

from __future__ import annotations

import dataclasses

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from media.errors import UnreadableMedia
from tests.conftest import IN_PROCESS
from tests.transforms.builders import SHA_A, SHA_B, job, probe, sharded, tiling
from transforms.dedupe import DeduplicateFilms
from transforms.failures import FAILURES, Failure
from transforms.rows import failure_row, scene_rows
from transforms.shard import ProbeAndShard, SceneTilingError, _ProbeAndShardFn, check_scenes_tile
from transforms.stages import STAGE_DEDUPLICATE_FILMS, STAGE_PROBE_AND_SHARD


def fake_shard(uri: str, *, min_scene_s: float):
    """Stands in for media.shard.shard_film: 'bad' files raise, 'gap' files break the tiling."""
    if "bad" in uri:
        raise UnreadableMedia(f"{uri}: not a film")
    sha = SHA_B if "other" in uri else SHA_A
    scenes = tiling(48, [24] if min_scene_s < 1 else [])
    if "gap" in uri:
        scenes[1] = dataclasses.replace(scenes[1], start_frame=25, start_pts=25 * 512)
    return probe(uri, sha), scenes


def test_check_scenes_tile_accepts_an_exact_tiling():
    check_scenes_tile(probe("f"), tiling(48, [10, 30]))


@pytest.mark.parametrize(
    "scenes,message",
    [
        ([], "no scenes"),
        (
            [
                tiling(48, [10])[0],
                dataclasses.replace(tiling(48, [10])[1], start_frame=11, start_pts=11 * 512),
            ],
            "scene 1 starts at frame 11",
        ),
        (tiling(47, [10]), "the film ends at frame 48"),
        ([dataclasses.replace(s, index=s.index + 1) for s in tiling(48, [10])], "has index 1"),
        (tiling(48, [10, 10]), "scene 1 is empty"),
    ],
)
def test_check_scenes_tile_rejects_gaps_overlaps_and_short_tilings(scenes, message):
    with pytest.raises(SceneTilingError, match=message):
        check_scenes_tile(probe("f"), scenes)


def test_dofn_derives_or_keeps_film_id_and_turns_exceptions_into_failures():
    fn = _ProbeAndShardFn(0.5, fake_shard)
    fn.setup()
    [derived] = fn.process(job("/films/Good Reel.mp4"))
    assert derived.film_id == "good-reel-aaaaaaaaaaaa" and len(derived.scenes) == 2
    [kept] = fn.process(job("/films/good.mp4", film_id="CAT-7"))
    assert kept.film_id == "CAT-7" and kept.probe.content_sha256 == SHA_A
    [tagged] = fn.process(job("https://u:pw@host/bad.mp4?sig=s3cr3t", film_id="CAT-8"))
    assert tagged.tag == FAILURES
    assert tagged.value == Failure(
        uri="https://***@host/bad.mp4?sig=***",
        film_id="CAT-8",
        stage=STAGE_PROBE_AND_SHARD,
        error_type="UnreadableMedia",
        error="https://***@host/bad.mp4?sig=***: not a film",
    )
    [gap] = fn.process(job("/films/gap.mp4"))
    assert gap.tag == FAILURES and gap.value.error_type == "SceneTilingError" and gap.value.film_id is None


def test_min_scene_s_reaches_the_shard_function_and_is_validated():
    fn = _ProbeAndShardFn(2.0, fake_shard)
    fn.setup()
    [film] = fn.process(job("/films/good.mp4"))
    assert len(film.scenes) == 1
    for bad in (0, -1, float("nan"), float("inf"), "0.5"):
        with pytest.raises(ValueError, match="min_scene_s"):
            ProbeAndShard(bad)


def test_probe_and_shard_transform_splits_films_from_failures():
    jobs = [job("/f/one.mp4"), job("/f/bad.mp4"), job("/f/two.mp4", film_id="two")]
    with TestPipeline(options=PipelineOptions(IN_PROCESS)) as p:
        out = p | beam.Create(jobs) | ProbeAndShard(0.5, shard_fn=fake_shard)
        assert_that(
            out.films | beam.Map(lambda f: (f.film_id, len(f.scenes))),
            equal_to([("one-aaaaaaaaaaaa", 2), ("two", 2)]),
            label="Films",
        )
        assert_that(
            out.failures | beam.Map(lambda f: (f.uri, f.stage)),
            equal_to([("/f/bad.mp4", STAGE_PROBE_AND_SHARD)]),
            label="Failures",
        )


def test_deduplicate_films_keeps_one_film_per_film_id():
    films = [
        sharded("/f/a.mp4", "a"),
        sharded("/f/a.mp4", "a"),  # the same row twice: one survives quietly
        sharded("/f/b.mp4", "b"),
        sharded("/f/b-copy.mp4", "b"),  # same bytes, another row: one kept, one reported
        sharded("/f/c1.mp4", "c", SHA_A),
        sharded("/f/c2.mp4", "c", SHA_B),  # one id, two films: both fail
    ]
    with TestPipeline(options=PipelineOptions(IN_PROCESS)) as p:
        out = p | beam.Create(films) | DeduplicateFilms()
        assert_that(
            out.films | beam.Map(lambda f: (f.film_id, f.job.video_input)),
            equal_to([("a", "/f/a.mp4"), ("b", "/f/b-copy.mp4")]),
            label="Films",
        )
        assert_that(
            out.failures | beam.Map(lambda f: (f.uri, f.film_id, f.stage, f.error_type)),
            equal_to(
                [
                    ("/f/b.mp4", "b", STAGE_DEDUPLICATE_FILMS, "DuplicateFilm"),
                    ("/f/c1.mp4", "c", STAGE_DEDUPLICATE_FILMS, "FilmIdConflict"),
                    ("/f/c2.mp4", "c", STAGE_DEDUPLICATE_FILMS, "FilmIdConflict"),
                ]
            ),
            label="Failures",
        )


def test_scene_and_failure_rows_carry_the_contract_columns():
    film = sharded("/f/a.mp4", "a")
    rows = scene_rows(film)
    assert [
        (r["scene_index"], r["start_frame"], r["end_frame"], r["start_pts"], r["end_pts"]) for r in rows
    ] == [(0, 0, 24, 0, 12288), (1, 24, 48, 12288, 24576)]
    assert rows[1] == {
        "film_id": "a",
        "uri": "/f/a.mp4",
        "scene_index": 1,
        "start_frame": 24,
        "end_frame": 48,
        "start_pts": 12288,
        "end_pts": 24576,
        "time_base": "1/12288",
        "start_s": 1.0,
        "end_s": 2.0,
        "cut_confidence": 0.8,
    }
    failure = Failure(uri="/f/x.mp4", film_id=None, stage="s", error_type="E", error="e")
    assert failure_row(failure) == {
        "uri": "/f/x.mp4",
        "film_id": None,
        "stage": "s",
        "error_type": "E",
        "error": "e",
    }

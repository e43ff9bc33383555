"""Shot lists: timecodes, the CSV and CMX3600 EDL texts, and the step that writes them."""

from __future__ import annotations

import dataclasses
import os

import pytest

from media.records import Scene
from tests.transforms.builders import sharded
from transforms.failures import FAILURES
from transforms.layout import shotlist_uris
from transforms.shotlist import (
    _WriteShotListFn,
    edl_reel_name,
    frames_to_timecode,
    shotlist_csv,
    shotlist_edl,
    timecode_base,
)
from transforms.stages import STAGE_WRITE_SHOTLIST


def two_scenes() -> list[Scene]:
    # 30 fps film, 1/15360 time base: a cut at frame 45 (1.5 s); the film is 100 frames long.
    return [
        Scene(
            index=0,
            start_frame=0,
            end_frame=45,
            start_pts=0,
            end_pts=23040,
            time_base="1/15360",
            start_s=0.0,
            end_s=1.5,
            cut_confidence=1.0,
        ),
        Scene(
            index=1,
            start_frame=45,
            end_frame=100,
            start_pts=23040,
            end_pts=51200,
            time_base="1/15360",
            start_s=1.5,
            end_s=100 / 30,
            cut_confidence=0.87654,
        ),
    ]


@pytest.mark.parametrize(
    "fps,base", [(24, 24), (23.976, 24), (29.97, 30), (74 / 3, 25), (12.5, 13), (0.4, 1)]
)
def test_timecode_base_rounds_the_nominal_rate(fps, base):
    assert timecode_base(fps) == base


@pytest.mark.parametrize("fps", [0, -24, float("nan"), float("inf"), None])
def test_timecode_base_rejects_unusable_rates(fps):
    with pytest.raises(ValueError, match="must be a positive number of frames per second"):
        timecode_base(fps)


@pytest.mark.parametrize(
    "frame,base,timecode",
    [
        (0, 24, "00:00:00:00"),
        (23, 24, "00:00:00:23"),
        (24, 24, "00:00:01:00"),
        (1799, 30, "00:00:59:29"),
        (86399, 24, "00:59:59:23"),
        (86400, 24, "01:00:00:00"),
        (45, 30, "00:00:01:15"),
        (360, 29, "00:00:12:12"),
    ],
)
def test_frames_to_timecode_is_exact(frame, base, timecode):
    assert frames_to_timecode(frame, base) == timecode


def test_csv_text():
    assert shotlist_csv(two_scenes(), 29.97) == (
        "scene_index,start_frame,end_frame,start_timecode,end_timecode,start_s,end_s,duration_s,cut_confidence\n"
        "0,0,45,00:00:00:00,00:00:01:15,0.000000,1.500000,1.500000,1.0000\n"
        "1,45,100,00:00:01:15,00:00:03:10,1.500000,3.333333,1.833333,0.8765\n"
    )


def test_edl_text():
    assert shotlist_edl(two_scenes(), film_id="reel-7.v2_ab", clip_name="Reel 7.mp4", nominal_fps=29.97) == (
        "TITLE: reel-7.v2_ab\n"
        "FCM: NON-DROP FRAME\n"
        "\n"
        "001  REEL7V2_ V     C        00:00:00:00 00:00:01:15 00:00:00:00 00:00:01:15\n"
        "* FROM CLIP NAME: Reel 7.mp4\n"
        "* TALKIE SCENE INDEX: 0\n"
        "\n"
        "002  REEL7V2_ V     C        00:00:01:15 00:00:03:10 00:00:01:15 00:00:03:10\n"
        "* FROM CLIP NAME: Reel 7.mp4\n"
        "* TALKIE SCENE INDEX: 1\n"
    )


def test_edl_record_side_runs_on_from_its_start_and_event_numbers_widen_past_999():
    scenes = [
        Scene(
            index=i,
            start_frame=i,
            end_frame=i + 1,
            start_pts=i,
            end_pts=i + 1,
            time_base="1/24",
            start_s=i / 24,
            end_s=(i + 1) / 24,
            cut_confidence=1.0,
        )
        for i in range(1000)
    ]
    text = shotlist_edl(scenes, film_id="f", clip_name="f.mp4", nominal_fps=24, record_start_frame=86400)
    events = [line for line in text.splitlines() if line[:1].isdigit()]
    assert events[0] == "001  F        V     C        00:00:00:00 00:00:00:01 01:00:00:00 01:00:00:01"
    assert events[-1].startswith("1000  F ") and events[-1].endswith(
        "00:00:41:15 00:00:41:16 01:00:41:15 01:00:41:16"
    )


def test_reel_names_fit_cmx3600():
    assert edl_reel_name("trucks-and-soldiers-e09d803584b7") == "TRUCKSAN"
    assert edl_reel_name("ab") == "AB"
    assert edl_reel_name("...") == "AX"


def test_edl_is_ascii_whatever_the_clip_name():
    text = shotlist_edl(two_scenes()[:1], film_id="f", clip_name="Café\u2014noir\n.mp4", nominal_fps=24)
    assert "* FROM CLIP NAME: Caf__noir_.mp4" in text
    text.encode("ascii")


def test_write_step_publishes_both_files(tmp_path):
    film = dataclasses.replace(sharded("/films/a.mp4", "a"), scenes=tuple(two_scenes()))
    film = dataclasses.replace(film, probe=dataclasses.replace(film.probe, nominal_fps=29.97))
    fn = _WriteShotListFn(str(tmp_path))
    written = list(fn.process(film))
    csv_uri, edl_uri = shotlist_uris(str(tmp_path), "a")
    assert (
        written
        == [csv_uri, edl_uri]
        == [str(tmp_path / "shotlists" / "a.csv"), str(tmp_path / "shotlists" / "a.edl")]
    )
    assert open(csv_uri).read() == shotlist_csv(two_scenes(), 29.97)
    assert open(edl_uri).read().startswith("TITLE: a\n")
    assert sorted(os.listdir(tmp_path / "shotlists")) == ["a.csv", "a.edl"]


def test_a_shot_list_that_cannot_be_built_is_a_failure_and_writes_nothing(tmp_path):
    film = sharded("/films/b.mp4", "b")
    film = dataclasses.replace(film, probe=dataclasses.replace(film.probe, nominal_fps=0.0))
    [tagged] = _WriteShotListFn(str(tmp_path)).process(film)
    assert tagged.tag == FAILURES
    assert (tagged.value.stage, tagged.value.film_id, tagged.value.error_type) == (
        STAGE_WRITE_SHOTLIST,
        "b",
        "ValueError",
    )
    assert "nominal_fps 0.0" in tagged.value.error
    assert not (tmp_path / "shotlists").exists()

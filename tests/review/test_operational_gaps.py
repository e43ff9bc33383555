"""Three operational gaps of issue 23, on the review run's tiny collection: a curator's choice
survives a restore rerun (until --rechoose), a crashed write's temporary is swept by the next run,
and the MKV's Talkie track is titled for what it is, not for the film."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline

from media.cut import EFFECTS_TITLE, MIX_TITLE, SCORE_TITLE
from media.mux import SOUNDTRACK_TITLE
from pipelines.choose import Choice, choose
from tests.conftest import IN_PROCESS, REPO
from transforms.tables import new_run_id, read_table

TALKIE_TITLES = {SOUNDTRACK_TITLE, MIX_TITLE, EFFECTS_TITLE, SCORE_TITLE}


@pytest.fixture()
def output(review_run, tmp_path) -> Path:
    """A copy of the review run's output, so each test starts from the same restore run."""
    copy = tmp_path / "out"
    shutil.copytree(review_run.output, copy)
    return copy


def _later_run_id(output: Path) -> str:
    """A run id a second after the newest in ``output``: run ids order runs by the second, and
    these runs follow one another within one."""
    newest = max(read_table(str(output), "runs")["run_id"].to_pylist())
    started = dt.datetime.strptime(newest[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    return new_run_id(started + dt.timedelta(seconds=1))


def _restore_again(review_run, output: Path, *flags: str):
    """The review run's restore job again, with its own manifest, checkpoint and settings."""
    from pipelines.restore import run

    [first] = read_table(str(output), "runs", run_id=review_run.summary.run_id).to_pylist()
    checkpoint = json.loads(first["options"])["checkpoint"]
    argv = ["--input", str(review_run.manifest), "--output", str(output), "--checkpoint", checkpoint]
    return run(
        [*argv, "--steps", "2", "--batch_size", "4", "--run_id", _later_run_id(output), *flags],
        test_pipeline=TestPipeline(options=PipelineOptions(IN_PROCESS)),
    )


def _film(output: Path, film_id: str) -> dict:
    [film] = [f for f in read_table(str(output), "films").to_pylist() if f["film_id"] == film_id]
    return film


def _scenes(output: Path, film_id: str) -> list[dict]:
    rows = [s for s in read_table(str(output), "scenes").to_pylist() if s["film_id"] == film_id]
    return sorted(rows, key=lambda s: s["scene_index"])


def test_a_chosen_take_survives_a_restore_rerun_until_rechoose(review_run, output):
    film_id = review_run.two_takes
    restored = _film(output, film_id)
    picked = [s["best_take"] for s in _scenes(output, film_id)]
    assert [s["chosen_unit_key"] for s in _scenes(output, film_id)] == [None, None]
    chosen = choose(
        str(output), [Choice(film_id, 1, 1 - picked[1])], run_id=_later_run_id(output), report=False
    )
    [cut] = chosen.cuts
    unit_key = next(
        t["unit_key"]
        for t in read_table(str(output), "takes", run_id=chosen.run_id).to_pylist()
        if (t["film_id"], t["scene_index"], t["take"]) == (film_id, 1, 1 - picked[1])
    )
    assert [s["chosen_unit_key"] for s in _scenes(output, film_id)] == [None, unit_key]

    rerun = _restore_again(review_run, output)

    assert rerun.units_generated == 0  # the same film and settings: nothing to generate
    film = _film(output, film_id)
    assert film["run_id"] == rerun.run_id and film["cut_key"] == cut.cut_key  # the curator's cut stays
    scenes = _scenes(output, film_id)
    assert [s["best_take"] for s in scenes] == [picked[0], 1 - picked[1]]
    assert [s["chosen_unit_key"] for s in scenes] == [None, unit_key]  # and sticks for the next rerun

    rechosen = _restore_again(review_run, output, "--rechoose")

    film = _film(output, film_id)
    assert film["run_id"] == rechosen.run_id and film["cut_key"] == restored["cut_key"]  # by sync score
    assert [s["best_take"] for s in _scenes(output, film_id)] == picked
    assert [s["chosen_unit_key"] for s in _scenes(output, film_id)] == [None, None]
    _restore_again(review_run, output)  # the dropped choice does not come back
    assert _film(output, film_id)["cut_key"] == restored["cut_key"]


def _crash_while_writing(path: Path) -> None:
    """Runs media.storage.write_bytes(path) in a process killed after writing its temporary and
    before renaming it: what a crash (OOM kill, preemption) leaves behind."""
    code = textwrap.dedent(
        f"""
        import os, signal
        from media import storage
        os.fsync = lambda fd: os.kill(os.getpid(), signal.SIGKILL)
        storage.write_bytes({str(path)!r}, b"half a file")
        """
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, check=False)
    assert done.returncode == -signal.SIGKILL


def test_the_next_run_sweeps_temporaries_older_than_its_start(review_run, tmp_path):
    from pipelines.scenes import run

    output = tmp_path / "out"
    target = output / "films" / "reel" / "cut.flac"
    _crash_while_writing(target)
    [leftover] = list(target.parent.iterdir())
    assert leftover.name.startswith(".cut.flac.") and leftover.name.endswith(".tmp") and not target.exists()
    concurrent = target.parent / ".cut.mkv.abcd1234.tmp"  # a write begun after the run started
    concurrent.write_bytes(b"being written")
    later = time.time() + 3600
    os.utime(concurrent, (later, later))
    others = [output / ".notes.tmp", output / "take.tmp", tmp_path / ".cut.flac.abcd1234.tmp"]
    for path in others:  # not write_bytes' name pattern, or outside the output
        path.write_bytes(b"someone else's")
    old = time.time() - 3600
    os.utime(others[-1], (old, old))

    run(
        ["--input", str(review_run.manifest), "--output", str(output)],
        test_pipeline=TestPipeline(options=PipelineOptions(IN_PROCESS)),
    )

    assert not leftover.exists()
    assert concurrent.exists() and all(p.exists() for p in others)
    assert {p.name for p in output.rglob("*.tmp")} == {concurrent.name, ".notes.tmp", "take.tmp"}


def _ffprobe_streams(path: str) -> tuple[list[dict], dict]:
    probed = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", path],
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(probed.stdout)
    return data["streams"], data["format"]


def test_the_mkv_talkie_track_is_titled_for_what_it_is_not_for_the_film(review_run, output):
    """ffprobe on the restore job's MKV and on a choose cut's: the default audio track is titled
    "Talkie soundtrack" (no music in this collection), no track is titled with the film_id, and
    the film_id names the file (the segment title)."""
    film_id = review_run.two_takes
    picked = [s["best_take"] for s in _scenes(output, film_id)]
    [cut] = choose(str(output), [Choice(film_id, 0, 1 - picked[0])], report=False).cuts
    restored = next(f for f in read_table(str(output), "films").to_pylist() if f["film_id"] != film_id)
    for mkv, film in ((restored["video_uri"], restored["film_id"]), (cut.video_uri, film_id)):
        name = Path(mkv).name
        streams, container = _ffprobe_streams(mkv)
        audio = [s for s in streams if s["codec_type"] == "audio"]
        talkie = [s for s in audio if "TALKIE_CUT_KEY" in s.get("tags", {})]  # the source's own are kept too
        assert talkie and talkie[0] is audio[0] and talkie[0]["disposition"]["default"] == 1, name
        assert talkie[0]["tags"]["title"] == SOUNDTRACK_TITLE, (name, talkie[0]["tags"])
        assert all(s.get("tags", {}).get("title") in TALKIE_TITLES for s in talkie), name
        assert not [s for s in streams if film in s.get("tags", {}).values()], name
        assert container["tags"]["title"] == film

"""talkie choose: a new cut from existing stems, changing only the chosen scene's samples."""

from __future__ import annotations

import json
import shutil
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from media.decode import video_timeline
from media.flac import decode_flac
from pipelines import cli
from pipelines.choose import Choice, choose
from transforms.tables import read_table
from transforms.units import cut_key

CROSSFADE = 480  # the restore job's default 10 ms at 48 kHz
LSB = 2.0**-23  # a 24-bit sample step


@pytest.fixture()
def output(review_run, tmp_path) -> Path:
    """A copy of the review run's output, so each test chooses from the same starting cut."""
    copy = tmp_path / "out"
    shutil.copytree(review_run.output, copy)
    return copy


def _film(output: Path, film_id: str) -> dict:
    [film] = [f for f in read_table(str(output), "films").to_pylist() if f["film_id"] == film_id]
    return film


def _rows(output: Path, table: str, run_id: str, film_id: str) -> list[dict]:
    rows = [r for r in read_table(str(output), table, run_id=run_id).to_pylist() if r["film_id"] == film_id]
    return sorted(rows, key=lambda r: (r["scene_index"], r.get("take", 0)))


@pytest.mark.parametrize("scene", [0, 1])
def test_another_take_changes_only_that_scene_and_its_crossfades(review_run, output, scene):
    film_id = review_run.two_takes
    before = _film(output, film_id)
    scenes = _rows(output, "scenes", before["run_id"], film_id)
    takes = _rows(output, "takes", before["run_id"], film_id)
    other = 1 - scenes[scene]["best_take"]

    result = choose(str(output), [Choice(film_id, scene, other)], report=False)

    [cut] = result.cuts
    after = _film(output, film_id)
    assert after["run_id"] == result.run_id and after["cut_key"] == cut.cut_key != before["cut_key"]
    chosen = [other if s["scene_index"] == scene else s["best_take"] for s in scenes]
    unit_keys = [
        next(t["unit_key"] for t in takes if (t["scene_index"], t["take"]) == (s["scene_index"], k))
        for s, k in zip(scenes, chosen)
    ]
    assert cut.cut_key == cut_key(
        unit_keys, crossfade_samples=CROSSFADE, target_lufs=-23.0, max_true_peak_dbtp=-1.0
    )
    assert Path(before["flac_uri"]).exists() and Path(before["video_uri"]).exists()  # the earlier cut stays

    old, rate, _ = decode_flac(Path(before["flac_uri"]).read_bytes())
    new, _, tags = decode_flac(Path(after["flac_uri"]).read_bytes())
    time_base, first, end = video_timeline(before["uri"])
    assert new.shape[0] == old.shape[0] == round(Fraction(end - first) * time_base * rate)  # to the sample

    first_pts = scenes[0]["start_pts"]
    bounds = [round(Fraction(s["start_pts"] - first_pts) * Fraction(s["time_base"]) * rate) for s in scenes]
    bounds.append(new.shape[0])
    start, stop = bounds[scene], bounds[scene + 1]
    changed = np.zeros(new.shape[0], bool)
    changed[max(0, start - CROSSFADE // 2) : stop + CROSSFADE - CROSSFADE // 2] = True
    old64, new64 = old.astype(np.float64), new.astype(np.float64)
    gain = float(np.dot(new64[~changed], old64[~changed]) / np.dot(old64[~changed], old64[~changed]))
    residual = np.abs(new64[~changed] - gain * old64[~changed])
    assert residual.max() <= (1 + gain) * LSB, (
        f"outside scene {scene}: a sample moved by {residual.max():.2e}"
    )
    assert np.abs(new64[start:stop] - gain * old64[start:stop]).max() > 100 * LSB  # the scene did change

    assert [s["best_take"] for s in _rows(output, "scenes", result.run_id, film_id)] == chosen
    assert json.loads(tags["TALKIE_SCENES"])[scene]["take"] == other
    assert tags["TALKIE_CUT_KEY"] == cut.cut_key and tags["TALKIE_PREVIOUS_CUT_KEY"] == before["cut_key"]
    assert Path(cut.preview_uri).exists()
    [run] = read_table(str(output), "runs", run_id=result.run_id).to_pylist()
    assert run["job"] == "choose"
    assert json.loads(run["options"])["choices"] == [{"film_id": film_id, "scene": scene, "take": other}]


def test_a_choices_file_recuts_and_reports_several_films(review_run, output, tmp_path, capsys):
    film_id = review_run.two_takes
    before = _film(output, film_id)
    current = [s["best_take"] for s in _rows(output, "scenes", before["run_id"], film_id)]
    single = next(
        f["film_id"] for f in read_table(str(output), "films").to_pylist() if f["film_id"] != film_id
    )
    rows = [
        {"film_id": film_id, "scene": 0, "take": 1 - current[0]},
        {"film_id": film_id, "scene": 1, "take": 1 - current[1]},
        {"film_id": single, "scene": 0, "take": 0},
    ]
    choices = tmp_path / "choices.jsonl"
    choices.write_text("".join(json.dumps(r) + "\n" for r in rows))

    assert cli.main(["choose", str(output), "--choices", str(choices)]) == 0

    printed = capsys.readouterr().out
    after = _film(output, film_id)
    assert after["cut_key"] != before["cut_key"] and after["cut_key"] in printed
    assert f"already cut so ({single})" in printed  # its only take was already its cut
    assert _film(output, single)["run_id"] == before["run_id"]  # and it got no new row
    page = output / "report" / after["run_id"] / film_id / "index.html"
    assert page.exists() and (output / "report" / after["run_id"] / "index.html").exists()
    assert after["cut_key"] in page.read_text()


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--film", "nope", "--scene", "0", "--take", "0"], "holds no film of that id"),
        (["--scene", "0", "--take", "0"], "go together"),
        ([], "no choices"),
    ],
)
def test_a_choice_that_does_not_fit_is_refused(output, flags, message, capsys):
    assert cli.main(["choose", str(output), *flags]) == 2
    assert message in capsys.readouterr().err


def test_a_take_the_scene_lacks_is_refused_naming_its_takes(review_run, output, capsys):
    assert (
        cli.main(["choose", str(output), "--film", review_run.two_takes, "--scene", "1", "--take", "5"]) == 2
    )
    assert "has takes [0, 1]" in capsys.readouterr().err
    assert not list((output / "meta" / "runs").glob("*")) or all(
        r["job"] == "restore" for r in read_table(str(output), "runs").to_pylist()
    )


def test_choices_files_may_be_json_json_lines_or_csv():
    from pipelines.choose import parse_choices
    from pipelines.options import UsageError

    want = [Choice("a", 0, 1), Choice("b", 2, 0)]
    assert (
        parse_choices(
            '[{"film_id": "a", "scene": 0, "take": 1}, {"film_id": "b", "scene": 2, "take": 0}]', "c.json"
        )
        == want
    )
    assert (
        parse_choices(
            '{"film_id": "a", "scene": 0, "take": 1}\n{"film_id": "b", "scene": 2, "take": 0}\n', "c.jsonl"
        )
        == want
    )
    assert parse_choices("film_id,scene,take\na,0,1\nb,2,0\n", "c.csv") == want
    for bad in (
        '[{"film_id": "a", "scene": -1, "take": 0}]',
        '[{"film_id": "a", "take": 0}]',
        '[{"film_id": "a", "scene": 1.5, "take": 0}]',
        "",
    ):
        with pytest.raises(UsageError):
            parse_choices(bad, "c.json")

"""talkie inspect: films and failures from the tables, as text and JSON."""

from __future__ import annotations

import json

from pipelines import cli
from transforms.tables import read_table


def test_inspect_lists_films_and_the_failure_with_its_stage(review_run, capsys):
    assert cli.main(["inspect", str(review_run.output)]) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["film", "status", "duration"]
    for film in read_table(str(review_run.output), "films").to_pylist():
        [line] = [text for text in lines if text.startswith(film["film_id"] + " ")]
        assert " done " in line and f"{film['duration_s']:.3f} s" in line and film["cut_key"] in line
    [failure] = [text for text in lines if "probe_and_shard" in text]
    assert (
        failure.split()[:2] == ["empty", "probe_and_shard"]
        and "UnreadableMedia" in failure
        and review_run.bad in failure
    )
    assert "2 films, 2 done; 1 failures" in text


def test_inspect_json_is_for_scripts(review_run, capsys):
    assert cli.main(["inspect", str(review_run.output), "--json", "--run_id", review_run.summary.run_id]) == 0
    report = json.loads(capsys.readouterr().out)
    takes = {f["film_id"]: f["takes"] for f in report["films"]}
    assert takes == {review_run.two_takes: 4, next(f for f in takes if f != review_run.two_takes): 2}
    assert all(
        f["status"] == "done" and f["scenes"] == 2 and f["loudness_lufs"] is not None for f in report["films"]
    )
    assert [(f["film_id"], f["stage"], f["uri"]) for f in report["failures"]] == [
        ("empty", "probe_and_shard", review_run.bad)
    ]


def test_inspect_refuses_a_folder_without_tables(tmp_path, capsys):
    assert cli.main(["inspect", str(tmp_path)]) == 1
    assert "holds no films" in capsys.readouterr().err

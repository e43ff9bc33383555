"""talkie report OUTPUT: rebuilds a run's pages and previews from the tables and files alone."""

from __future__ import annotations

import shutil

from pipelines import cli
from transforms.tables import read_table


def test_report_rebuilds_the_pages_and_the_same_previews(review_run, tmp_path, capsys):
    copy = tmp_path / "out"
    shutil.copytree(review_run.output, copy)
    run_id = review_run.summary.run_id
    previews = {p.relative_to(copy): p.read_bytes() for p in copy.glob("films/*/*.preview.mp4")}
    assert len(previews) == 2
    shutil.rmtree(copy / "report")
    for path in previews:
        (copy / path).unlink()

    assert cli.main(["report", str(copy)]) == 0

    assert f"run {run_id}" in capsys.readouterr().out
    assert {p.relative_to(copy): p.read_bytes() for p in copy.glob("films/*/*.preview.mp4")} == previews
    for film in read_table(str(copy), "films", run_id=run_id).to_pylist():
        page = copy / "report" / run_id / film["film_id"] / "index.html"
        assert film["cut_key"] in page.read_text()
        assert len(list(page.parent.glob("scene-*.png"))) == film["scenes"]
    index = (copy / "report" / run_id / "index.html").read_text()
    assert "probe_and_shard" in index and "config hash" in index


def test_report_refuses_an_output_without_runs(tmp_path, capsys):
    assert cli.main(["report", str(tmp_path)]) == 2
    assert "records no restore or choose run" in capsys.readouterr().err
    assert cli.main(["report", str(tmp_path), "--run_id", "yesterday"]) == 2

"""The CLI writes a collection whose manifest follows docs/design.md's manifest contract."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from model.synth.__main__ import main
from model.synth.captions import is_clean

REPO = Path(__file__).resolve().parents[3]
ARGS = [
    "--films",
    "3",
    "--seed",
    "4",
    "--max-shots",
    "2",
    "--seconds-per-shot",
    "1",
    "1.5",
    "--damage",
    "random",
]


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    out = tmp_path_factory.mktemp("collection")
    assert main(["--out", str(out), "--workers", "1", *ARGS]) == 0
    return out


def test_manifest_rows(collection):
    lines = (collection / "manifest.jsonl").read_text().splitlines()
    assert len(lines) == 3
    for i, line in enumerate(lines):
        row = json.loads(line)
        # no negative prompt: the foley world has no speech or music to negate, and a negative
        # prompt for a sound the model never heard pushes away from nothing in particular
        assert set(row) == {"video_input", "positive_prompt", "film_id", "scenes"}
        assert row["film_id"] == f"foley_s4_{i:04d}" and row["video_input"] == f"{row['film_id']}.mp4"
        assert (collection / row["video_input"]).is_file(), "relative to the manifest's folder"
        assert row["positive_prompt"] and is_clean(row["positive_prompt"])
        truth = json.loads((collection / f"{row['film_id']}.json").read_text())
        assert truth["name"] == row["film_id"] and truth["collection_seed"] == 4 and truth["index"] == i
        assert row["scenes"] == [
            {"start_s": s["start_s"], "end_s": s["end_s"], "positive_prompt": s["caption"]}
            for s in truth["shots"]
        ]
        assert row["scenes"][0]["start_s"] == 0.0 and row["scenes"][-1]["end_s"] == truth["duration_s"]
        assert (collection / f"{row['film_id']}.flac").is_file()


def test_truth_schema(collection):
    truth = json.loads((collection / "foley_s4_0000.json").read_text())
    for key in (
        "name",
        "seed",
        "fps",
        "frames",
        "width",
        "height",
        "duration_s",
        "cadence",
        "duplicated_frames",
        "cuts_at_frames",
        "transitions",
        "shots",
        "events",
        "damage",
        "caption",
        "static_frames",
    ):
        assert key in truth, key
    assert truth["fps"] in (16, 18, 20, 24) and (truth["width"], truth["height"]) == (128, 96)
    assert truth["duration_s"] == round(truth["frames"] / truth["fps"], 6)
    for shot in truth["shots"]:
        assert {
            "index",
            "start_frame",
            "end_frame",
            "start_s",
            "end_s",
            "classes",
            "sources",
            "caption",
        } <= set(shot)
    for e in truth["events"]:
        assert {"time_s", "frame", "shot", "class", "fine", "gain"} <= set(e)
    assert {"strength", "grain", "flicker", "scratch_rate", "weave_px", "monochrome", "flash_frames"} <= set(
        truth["damage"]
    )


def test_cli_in_a_subprocess_with_workers_matches(tmp_path, collection):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    res = subprocess.run(
        [sys.executable, "-m", "model.synth", "--out", str(tmp_path), "--workers", "2", *ARGS],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    assert "films/min" in res.stdout
    for name in sorted(p.name for p in collection.iterdir()):
        assert (tmp_path / name).read_bytes() == (collection / name).read_bytes(), name


def test_cli_rejects_bad_values(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path), "--damage", "2"])
    assert main(["--out", str(tmp_path), "--width", "101"]) == 2
    assert "even" in capsys.readouterr().err


@pytest.mark.parametrize("clean_prob, damaged", [("0", True), ("1", False)])
def test_cli_clean_prob_decides_which_random_films_are_damaged(tmp_path, clean_prob, damaged):
    args = [
        "--films",
        "3",
        "--seed",
        "4",
        "--max-shots",
        "1",
        "--min-shots",
        "1",
        "--seconds-per-shot",
        "1",
        "1",
    ]
    assert (
        main(
            [
                "--out",
                str(tmp_path),
                "--workers",
                "1",
                *args,
                "--damage",
                "random",
                "--clean-prob",
                clean_prob,
            ]
        )
        == 0
    )
    strengths = [json.loads(p.read_text())["damage"]["strength"] for p in sorted(tmp_path.glob("*.json"))]
    assert len(strengths) == 3
    if damaged:
        assert all(0.2 <= s <= 1.0 for s in strengths), strengths
    else:
        assert strengths == [0.0, 0.0, 0.0]


def test_cli_rejects_a_clean_prob_outside_0_1(tmp_path, capsys):
    assert main(["--out", str(tmp_path), "--clean-prob", "1.5"]) == 2
    assert "clean_prob" in capsys.readouterr().err


def test_the_demo_music_manifest_asks_for_a_score_in_every_other_film(collection):
    from media.score import score_cue
    from model.synth.collection import MUSIC_PROMPTS, write_music_manifest

    before = (collection / "manifest.jsonl").read_text()
    plain = [json.loads(line) for line in before.splitlines()]
    path = write_music_manifest(collection)
    music = [json.loads(line) for line in path.read_text().splitlines()]
    assert path.name == "manifest_music.jsonl" and len(music) == len(plain) == 3
    assert music[1] == plain[1]  # foley only
    for index in (0, 2):
        words = MUSIC_PROMPTS[index // 2]
        assert music[index]["video_input"] == plain[index]["video_input"]
        prompts = [music[index]["positive_prompt"], *(s["positive_prompt"] for s in music[index]["scenes"])]
        originals = [plain[index]["positive_prompt"], *(s["positive_prompt"] for s in plain[index]["scenes"])]
        assert prompts == [f"{p}, {words}" for p in originals]
        assert all(score_cue(p, None).sounds for p in prompts)
    assert not any(score_cue(s["positive_prompt"], None).sounds for s in music[1]["scenes"])
    assert (collection / "manifest.jsonl").read_text() == before  # the training manifest is untouched

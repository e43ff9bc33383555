"""The restore job with a score (issue 21): a tiny foley-world film of two shots, two takes a scene.

"piano music, a comedy chase, footsteps" gives the film a tonal piano score that sounds through
most of it, an effects stem and a mix, each exactly round(duration * 48000) samples, an MKV with
three titled Talkie tracks and a cue sheet in the scenes table; a run into another folder writes
the same bytes; the negative prompt "music" gives no score; --score_instrument makes a new cut;
``talkie choose`` with another take gives another score. The small untrained checkpoint of the
pipeline tests and 2 sampler steps keep each run to seconds.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline

from media import storage
from media.flac import decode_flac
from media.mux import video_packets_digest
from media.score import ScoreUnavailable, listen, score_identity
from model.synth import SynthConfig, write_collection
from pipelines.choose import Choice, choose
from pipelines.options import UsageError
from pipelines.restore import RestoreSummary, run
from tests.conftest import IN_PROCESS
from tests.transforms.generation import save_small_checkpoint
from transforms.tables import read_table


def _synth_missing() -> str | None:
    try:
        score_identity()
    except ScoreUnavailable as error:
        return str(error)
    return None


pytestmark = pytest.mark.skipif(_synth_missing() is not None, reason=f"no FluidSynth: {_synth_missing()}")

PROMPT = "piano music, a comedy chase, footsteps"
FILM = "chase"


@dataclass(frozen=True)
class Film:
    manifest: Path
    checkpoint: str
    samples: int  # round(duration * 48000)
    video: str


@dataclass(frozen=True)
class Finished:
    output: Path
    summary: RestoreSummary
    film: dict  # the films row of the run


@pytest.fixture(scope="module")
def film(tmp_path_factory) -> Film:
    folder = tmp_path_factory.mktemp("score_film")
    config = SynthConfig(
        min_shots=2,
        max_shots=2,
        shot_seconds=(1.5, 2.0),
        width=64,
        height=48,
        classes=("impact", "footsteps"),
        fade_prob=0.0,
    )
    [row] = write_collection(folder, films=1, seed=41, workers=1, config=config)
    truth = json.loads((folder / row["video_input"]).with_suffix(".json").read_text())
    manifest = folder / "films.jsonl"  # no prompts of its own: the command line's apply
    manifest.write_text(json.dumps({"video_input": row["video_input"], "film_id": FILM, "takes": 2}) + "\n")
    checkpoint = save_small_checkpoint(folder / "small.safetensors")
    return Film(manifest, checkpoint, truth["samples"], str(folder / row["video_input"]))


def _run(film: Film, output: Path, *flags: str) -> Finished:
    summary = run(
        ["--input", str(film.manifest), "--output", str(output), "--checkpoint", film.checkpoint]
        + ["--steps", "2", "--batch_size", "4", *flags],
        test_pipeline=TestPipeline(options=PipelineOptions(IN_PROCESS)),
    )
    [row] = read_table(str(output), "films", run_id=summary.run_id).to_pylist()
    return Finished(output, summary, row)


@pytest.fixture(scope="module")
def scored(film, tmp_path_factory) -> Finished:
    return _run(film, tmp_path_factory.mktemp("scored"), "--positive_prompt", PROMPT, "--negative_prompt", "")


@pytest.fixture(scope="module")
def no_music(film, tmp_path_factory) -> Finished:
    return _run(
        film, tmp_path_factory.mktemp("no_music"), "--positive_prompt", PROMPT, "--negative_prompt", "music"
    )


def _films(output: Path) -> dict[str, str]:
    return {
        str(p.relative_to(output)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((output / "films").rglob("*"))
        if p.is_file() and not p.name.endswith(".preview.mp4")
    }


def _audio(uri: str) -> np.ndarray:
    return decode_flac(storage.read_bytes(uri))[0]


def test_the_prompt_gives_a_tonal_score_that_sounds_through_most_of_the_film(scored, film):
    row = scored.film
    assert row["status"] == "done" and row["score_flac_uri"] and row["effects_flac_uri"]
    folder = scored.output / "films" / FILM
    assert row["score_flac_uri"] == str(folder / f"{row['cut_key']}.score.flac")
    assert row["effects_flac_uri"] == str(folder / f"{row['cut_key']}.effects.flac")
    mix, effects, score = (_audio(row[k]) for k in ("flac_uri", "effects_flac_uri", "score_flac_uri"))
    assert mix.shape == effects.shape == score.shape == (film.samples,)  # round(duration * 48000)
    assert np.abs(effects.astype(np.float64) + score - mix).max() <= 2 / 2**23
    assert row["loudness_lufs"] == pytest.approx(-23.0, abs=0.1)
    # tonal: in most loud frames the top 1% of spectral bins hold at least half the energy
    tonal_share, _ = listen.tonality(score, 48000)
    assert tonal_share > 0.5, tonal_share
    # sounds through most of the film: 100 ms frames above -50 dBFS
    frames = score[: score.size // 4800 * 4800].reshape(-1, 4800).astype(np.float64)
    sounding = np.mean(np.sqrt(np.mean(frames**2, axis=1)) > 10 ** (-50 / 20))
    assert sounding >= 0.8, sounding
    assert str(folder / f"{row['cut_key']}.score.flac") in scored.summary.text()


def test_the_scenes_table_has_the_cue_sheet(scored):
    scenes = read_table(str(scored.output), "scenes", run_id=scored.summary.run_id).to_pylist()
    assert len(scenes) == 2
    for scene in scenes:
        assert scene["positive_prompt"] == PROMPT
        assert (
            scene["score_sounds"],
            scene["score_mood"],
            scene["score_key"],
            scene["score_instrument"],
        ) == (
            True,
            "comedy",
            "F major",
            "piano",
        )
        assert 116 <= scene["score_tempo_bpm"] <= 136 and scene["score_hits"] is False


def test_the_mkv_carries_the_mix_and_both_stems_as_titled_tracks(scored, film):
    video = scored.film["video_uri"]
    assert video_packets_digest(video) == video_packets_digest(film.video)
    with av.open(video) as mkv:
        audio = [
            (s.metadata.get("title"), bool(s.disposition & av.stream.Disposition.default))
            for s in mkv.streams.audio
        ]
    talkie = [("Talkie mix (effects and score)", True), ("Talkie effects", False), ("Talkie score", False)]
    assert audio[:3] == talkie and len(audio) == 4  # the foley film's own sound is kept after them
    with av.open(video) as mkv:  # each track holds its FLAC's packets, as they are
        tracks = [s.index for s in mkv.streams.audio[:3]]
        packets: dict[int, bytes] = {}
        for packet in mkv.demux():
            if packet.size and packet.stream.index in tracks:
                packets[packet.stream.index] = packets.get(packet.stream.index, b"") + bytes(packet)
    for index, column in zip(tracks, ("flac_uri", "effects_flac_uri", "score_flac_uri")):
        with av.open(scored.film[column], format="flac") as flac:
            assert packets[index] == b"".join(bytes(p) for p in flac.demux() if p.size), column
    if shutil.which("ffprobe"):
        probed = subprocess.run(
            ["ffprobe", "-v", "error", "-of", "json", "-show_streams", video],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        streams = json.loads(probed.stdout)["streams"]
        audio_streams = [s for s in streams if s["codec_type"] == "audio"]
        assert [s.get("tags", {}).get("title") for s in audio_streams[:3]] == [t for t, _ in talkie]
        assert [s["codec_name"] for s in audio_streams[:3]] == ["flac"] * 3
        assert [s["disposition"]["default"] for s in audio_streams[:3]] == [1, 0, 0]


def test_a_run_into_another_folder_writes_the_same_stems_and_mix(scored, film, tmp_path):
    again = _run(film, tmp_path / "again", "--positive_prompt", PROMPT, "--negative_prompt", "")
    assert again.film["cut_key"] == scored.film["cut_key"]
    assert _films(again.output) == _films(scored.output) and len(_films(scored.output)) == 4


def test_the_negative_prompt_music_writes_no_score(no_music, film):
    row = no_music.film
    assert row["status"] == "done" and row["score_flac_uri"] is None and row["effects_flac_uri"] is None
    assert sorted(p.name.split(".", 1)[1] for p in (no_music.output / "films" / FILM).iterdir()) == [
        "flac",
        "mkv",
        "preview.mp4",
    ]
    assert _audio(row["flac_uri"]).shape == (film.samples,)
    scenes = read_table(str(no_music.output), "scenes").to_pylist()
    assert {s["score_sounds"] for s in scenes} == {False}
    with av.open(row["video_uri"]) as mkv:
        assert [s.metadata.get("title") for s in mkv.streams.audio][0] == "Talkie soundtrack"


def test_the_film_page_plays_both_stems_and_shows_the_cue_sheet(scored):
    page = (scored.output / "report" / scored.summary.run_id / FILM / "index.html").read_text()
    key = scored.film["cut_key"]
    assert f'src="../../../films/{FILM}/{key}.effects.flac" data-stem="effects"' in page
    assert f'src="../../../films/{FILM}/{key}.score.flac" data-stem="score"' in page
    assert "<h2>Cue sheet</h2>" in page and "music: comedy" in page and "F major" in page


def test_another_instrument_is_a_new_cut_and_choose_gives_another_take_another_score(scored, film):
    before = _films(scored.output)
    organ = _run(
        film,
        scored.output,
        "--positive_prompt",
        PROMPT,
        "--negative_prompt",
        "",
        "--score_instrument",
        "organ",
    )
    assert organ.summary.units_generated == 0 and organ.film["cut_key"] != scored.film["cut_key"]
    assert {k: v for k, v in _films(scored.output).items() if k in before} == before  # the old cut stays
    scenes = read_table(str(scored.output), "scenes", run_id=organ.summary.run_id).to_pylist()
    assert {s["score_instrument"] for s in scenes} == {"organ"}

    current = {s["scene_index"]: s["best_take"] for s in scenes}
    result = choose(str(scored.output), [Choice(FILM, 0, 1 - current[0])], report=False)
    [cut] = result.cuts
    assert cut.cut_key != organ.film["cut_key"] and cut.film_row["score_flac_uri"]
    old, new = _audio(organ.film["score_flac_uri"]), _audio(cut.film_row["score_flac_uri"])
    assert new.shape == old.shape == (film.samples,)
    first = round(scenes[1]["start_s"] * 48000)
    assert not np.array_equal(new[:first], old[:first])  # scene 0's take, so its seed, changed
    assert {s["score_instrument"] for s in cut.scene_rows} == {"organ"}
    mix, effects = _audio(cut.film_row["flac_uri"]), _audio(cut.film_row["effects_flac_uri"])
    assert np.abs(effects.astype(np.float64) + new - mix).max() <= 2 / 2**23


def test_bad_score_flags_are_refused(film, tmp_path):
    base = ["--input", str(film.manifest), "--output", str(tmp_path), "--checkpoint", film.checkpoint]
    for flags, message in [
        (["--score", "loud"], "--score 'loud'"),
        (["--score_instrument", "banjo"], "--score_instrument 'banjo'"),
    ]:
        with pytest.raises(UsageError, match=message):
            run(base + flags)
    assert not any(tmp_path.iterdir())

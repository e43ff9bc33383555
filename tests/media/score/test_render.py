"""media.score.render and score_track: FluidSynth's audio is exact in length, byte-identical on
rerun (here and in a fresh process), tonal, follows the cue sheet, changes at cuts; a missing
synthesizer or soundfont is a clear error. The tests that play notes skip, saying why, only
where libfluidsynth, pyfluidsynth or a soundfont is not installed."""

from __future__ import annotations

import hashlib
import itertools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from media.score import listen, render
from media.score.compose import ScoreScene, compose_film
from media.score.cues import Cue, Pacing, score_cue
from media.score.notes import Note
from media.score.track import score_identity, score_track

SR = render.SAMPLE_RATE
REPO = Path(__file__).resolve().parents[3]


def _missing() -> str | None:
    try:
        render.synth_identity(render.find_soundfont())
    except render.ScoreUnavailable as error:
        return str(error)
    return None


needs_synth = pytest.mark.skipif(
    _missing() is not None, reason=f"FluidSynth or soundfont missing: {_missing()}"
)


def film(cue: Cue, cuts: list[float], seed: int = 1) -> list[ScoreScene]:
    return [ScoreScene(a, b, cue, seed * 100 + i) for i, (a, b) in enumerate(itertools.pairwise(cuts))]


@needs_synth
def test_exactly_the_requested_number_of_samples() -> None:
    notes = compose_film(film(score_cue("comedy piano music", None), [0.0, 2.0, 3.5]))
    for count in (0, 1, 63, 64, 65, 48_001, 3 * SR + 17):
        audio = render.render_notes(notes, count)
        assert audio.shape == (count,) and audio.dtype == np.float32
    assert not np.any(render.render_notes([Note(0.0, 0, 60, 1.0, 90, 0)], SR)[:0])
    with pytest.raises(ValueError):
        render.render_notes(notes, -1)


@needs_synth
def test_same_seed_byte_identical_here_and_in_a_fresh_process_other_seed_differs() -> None:
    cue = score_cue("romantic organ music, mickey-mousing", None)
    scenes = [ScoreScene(0.0, 3.0, cue, 5, (1.1,)), ScoreScene(3.0, 6.0, cue, 6)]
    first = score_track(scenes, 6 * SR)
    assert first is not None and np.all(np.isfinite(first)) and np.abs(first).max() > 0.01
    assert first.tobytes() == score_track(scenes, 6 * SR).tobytes()  # type: ignore[union-attr]
    script = (
        "import hashlib, sys\n"
        "from media.score import ScoreScene, score_cue, score_track\n"
        "cue = score_cue('romantic organ music, mickey-mousing', None)\n"
        "a = score_track([ScoreScene(0.0, 3.0, cue, 5, (1.1,)), ScoreScene(3.0, 6.0, cue, 6)], 6 * 48000)\n"
        "sys.stdout.write(hashlib.sha256(a.tobytes()).hexdigest())\n"
    )
    fresh = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert fresh.stdout == hashlib.sha256(first.tobytes()).hexdigest()
    other = score_track([ScoreScene(0.0, 3.0, cue, 7, (1.1,)), ScoreScene(3.0, 6.0, cue, 6)], 6 * SR)
    assert other is not None and other.tobytes() != first.tobytes()


@needs_synth
def test_a_rendered_piano_phrase_is_tonal() -> None:
    audio = score_track(film(score_cue("neutral piano music", None), [0.0, 5.0, 10.0]), 10 * SR)
    assert audio is not None
    loud_frames, median_share = listen.tonality(audio, SR)
    assert loud_frames > 0.9 and median_share > 0.5
    hiss = (
        audio + np.random.default_rng(1).standard_normal(audio.size).astype(np.float32) * np.abs(audio).max()
    )
    assert listen.tonality(hiss, SR)[0] < 0.5  # the measure can tell


@needs_synth
def test_the_audio_follows_the_cue_sheet() -> None:
    cuts = [0.0, 6.0, 12.0, 18.0]
    heard = {}
    for mood in ("hurry", "sad"):
        cue = score_cue(f"{mood} piano music", None, pacing=Pacing(10, 0.5))
        audio = score_track(film(cue, cuts), 18 * SR)
        assert audio is not None
        heard[mood] = (listen.tempo_bpm(audio, SR), listen.estimate_key(audio, SR)[0], cue)
    assert heard["hurry"][0] > 1.5 * heard["sad"][0]
    for bpm, key, cue in heard.values():
        assert abs(bpm / cue.tempo_bpm - 1) < 0.05
        assert key.split()[1] == cue.key.split()[1]


@needs_synth
def test_the_music_changes_at_a_cut() -> None:
    cue = score_cue("pastoral piano music", None, pacing=Pacing(6, 0.2))
    cut = 9.0
    audio = score_track(film(cue, [0.0, cut, 18.0], seed=3), 18 * SR)
    assert audio is not None
    beat = 60 / cue.tempo_bpm
    points = listen.change_points(audio, SR, beat)
    assert np.any(np.abs(points - cut) <= beat)
    one_scene = score_track([ScoreScene(0.0, 18.0, cue, 300)], 18 * SR)
    assert one_scene is not None
    curve, rate = listen.novelty(audio, SR, beat)
    steady, _ = listen.novelty(one_scene, SR, beat)
    around = slice(int((cut - beat) * rate), int((cut + beat) * rate))
    assert curve[around].max() > 1.5 * steady[around].max()


def test_no_sounding_scene_means_no_stem_and_no_synthesizer_needed() -> None:
    silent = score_cue("footsteps", None)
    assert score_track([ScoreScene(0.0, 4.0, silent, 1)], 4 * SR) is None
    assert score_track([], 4 * SR) is None


def test_a_missing_soundfont_says_what_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(render.SOUNDFONT_ENV, raising=False)
    monkeypatch.setattr(render, "SOUNDFONTS", ((str(tmp_path / "none.sf2"), "fluid-soundfont-gm"),))
    with pytest.raises(render.ScoreUnavailable, match="fluid-soundfont-gm") as error:
        score_track([ScoreScene(0.0, 2.0, score_cue("piano music", None), 1)], 2 * SR)
    assert "apt-get install" in str(error.value)
    monkeypatch.setenv(render.SOUNDFONT_ENV, str(tmp_path / "gone.sf2"))
    with pytest.raises(render.ScoreUnavailable, match=r"gone\.sf2"):
        render.find_soundfont()
    (tmp_path / "mine.sf2").write_bytes(b"RIFF")
    monkeypatch.setenv(render.SOUNDFONT_ENV, str(tmp_path / "mine.sf2"))
    assert render.find_soundfont() == tmp_path / "mine.sf2"


def test_a_missing_synthesizer_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render, "_BINDING", None)
    monkeypatch.setitem(sys.modules, "fluidsynth", None)  # import fluidsynth now raises ImportError
    with pytest.raises(render.ScoreUnavailable, match="pyfluidsynth") as error:
        render.render_notes([Note(0.0, 0, 60, 0.5, 80, 0)], SR, soundfont=Path(__file__))
    assert "libfluidsynth3" in str(error.value)
    with pytest.raises(render.ScoreUnavailable):
        score_identity(Path(__file__))


@needs_synth
def test_a_file_that_is_no_soundfont_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.sf2"
    bogus.write_bytes(b"not a soundfont")
    with pytest.raises(render.ScoreUnavailable, match="could not load"):
        render.render_notes([Note(0.0, 0, 60, 0.5, 80, 0)], SR, soundfont=bogus)

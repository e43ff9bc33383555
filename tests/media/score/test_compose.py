"""media.score.compose: notes stay in their scenes, bars start at cuts, seeds decide the music,
the texture moves at every cut, hits are caught. Pure Python: no synthesizer needed."""

from __future__ import annotations

import itertools
import math

import pytest

from media.score.compose import ScoreScene, compose_film, plan_film
from media.score.cues import MOODS, Cue, Pacing, score_cue
from media.score.harmony import parse_key
from media.score.styles import CHANNEL, REGISTERS

CUTS = [0.0, 4.3, 9.1, 11.0, 17.6, 24.0]


def film(cue: Cue, seed: int = 7, cuts: list[float] = CUTS) -> list[ScoreScene]:
    return [ScoreScene(a, b, cue, seed * 100 + i) for i, (a, b) in enumerate(itertools.pairwise(cuts))]


@pytest.mark.parametrize("mood", MOODS)
def test_every_mood_writes_valid_notes_inside_its_scenes(mood: str) -> None:
    for instrument in ("piano", "organ", "orchestra"):
        cue = score_cue(f"{mood} {instrument} music", None, pacing=Pacing(20, 0.6))
        notes = compose_film(film(cue))
        assert notes and notes == sorted(notes)
        for note in notes:
            assert 0 <= note.pitch <= 127 and 1 <= note.velocity <= 127 and 0 <= note.program <= 127
            assert note.channel in CHANNEL.values() and note.channel != 9
            assert note.duration_s > 0
            scene = next(s for s in film(cue) if s.start_s <= note.start_s < s.end_s)
            assert note.end_s <= scene.end_s + 1e-9  # nothing is held across a cut


def test_same_seed_same_notes_other_seed_other_music() -> None:
    cue = score_cue("comedy piano music", None)
    assert compose_film(film(cue, seed=3)) == compose_film(film(cue, seed=3))
    assert compose_film(film(cue, seed=3)) != compose_film(film(cue, seed=4))
    pitches = [
        [n.pitch for n in compose_film(film(cue, seed=s)) if n.channel == CHANNEL["melody"]] for s in range(6)
    ]
    assert len({tuple(p) for p in pitches}) == 6


def test_bars_start_at_every_cut_with_the_new_scenes_downbeat() -> None:
    cue = score_cue("neutral piano music", None)
    notes = compose_film(film(cue))
    for cut in CUTS[:-1]:
        at_cut = [n for n in notes if abs(n.start_s - cut) < 1e-9]
        assert {CHANNEL["bass"], CHANNEL["harmony"]} <= {n.channel for n in at_cut}


def test_the_register_changes_at_every_cut() -> None:
    cue = score_cue("romantic music", None)
    plans = plan_film(film(cue))
    assert len(plans) == len(CUTS) - 1
    for before, after in itertools.pairwise(plans):
        assert before.texture.register != after.texture.register
    notes = compose_film(film(cue))

    def mean_chord_pitch(a: float, b: float) -> float:
        pitches = [n.pitch for n in notes if a <= n.start_s < b and n.channel == CHANNEL["harmony"]]
        return sum(pitches) / len(pitches)

    for before, after in itertools.pairwise(plans):
        shift = mean_chord_pitch(after.scene.start_s, after.scene.end_s) - mean_chord_pitch(
            before.scene.start_s, before.scene.end_s
        )
        low_to_high = REGISTERS[after.texture.register][1] > REGISTERS[before.texture.register][1]
        assert (shift > 3) if low_to_high else (shift < -3)


def test_the_transition_picks_up_into_the_next_scene() -> None:
    cue = score_cue("neutral piano music", None)
    notes = compose_film(film(cue))
    key = parse_key(cue.key)
    beat = 60 / cue.tempo_bpm
    for cut in CUTS[1:-1]:
        pickup = [
            n for n in notes if n.channel == CHANNEL["melody"] and cut - beat / 2 - 1e-9 <= n.start_s < cut
        ]
        assert len(pickup) == 2
        assert pickup[-1].pitch % 12 == (key.tonic - 1) % 12  # the leading tone resolves at the cut


def test_silent_scenes_get_no_notes_and_the_scene_before_closes_on_the_tonic() -> None:
    on = score_cue("sad music", None)
    off = score_cue("sad music", "music")
    scenes = [ScoreScene(0, 6, on, 1), ScoreScene(6, 10, off, 2), ScoreScene(10, 16, on, 3)]
    notes = compose_film(scenes)
    assert not [n for n in notes if 6 <= n.start_s < 10]
    held_to_the_end = [
        n for n in notes if n.channel == CHANNEL["harmony"] and n.start_s >= 5 and abs(n.end_s - 6) < 1e-9
    ]
    last_chord = {n.pitch % 12 for n in held_to_the_end}
    key = parse_key(on.key)
    assert last_chord == {key.tonic, (key.tonic + 3) % 12, (key.tonic + 7) % 12}
    assert compose_film([ScoreScene(0, 6, off, 1)]) == []


def test_hits_are_accent_chords_at_the_event_times_when_asked() -> None:
    asked = score_cue("comedy piano, mickey-mousing", None)
    scenes = [ScoreScene(0, 5, asked, 1, (1.25, 3.5, 99.0, math.nan)), ScoreScene(5, 9, asked, 2, (6.0,))]
    accents = [n for n in compose_film(scenes) if n.channel == CHANNEL["accent"]]
    assert sorted({n.start_s for n in accents}) == [1.25, 3.5, 6.0]
    assert all(n.velocity >= 110 for n in accents) and len(accents) >= 3 * 4
    plain = score_cue("comedy piano", None)
    assert not [
        n for n in compose_film([ScoreScene(0, 5, plain, 1, (1.25,))]) if n.channel == CHANNEL["accent"]
    ]


def test_odd_scene_lists_do_not_break_it() -> None:
    cue = score_cue("music", None)
    assert compose_film([]) == []
    assert (
        compose_film([ScoreScene(3, 3, cue, 1), ScoreScene(5, 4, cue, 1), ScoreScene(math.nan, 2, cue, 1)])
        == []
    )
    short = compose_film([ScoreScene(0, 0.2, cue, -5), ScoreScene(0.2, 0.3, cue, 10**40)])
    assert short and all(n.end_s <= 0.3 + 1e-9 for n in short)
    shuffled = film(cue)[::-1]
    assert compose_film(shuffled) == compose_film(film(cue))
    assert compose_film([(0.0, 4.0, cue, 1, ())]) == compose_film([ScoreScene(0.0, 4.0, cue, 1)])

"""media.score.cues: which prompts turn the score on or off, which mood and instrument they pick,
and that no prompt can make it raise."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from media.score.cues import INSTRUMENTS, KEY, MOODS, TEMPO_RANGE, Cue, Mood, Pacing, score_cue, tempo_for
from media.score.harmony import parse_key


def test_the_issues_example_prompt_scores_a_comedy_chase_on_piano() -> None:
    cue = score_cue("piano music, a comedy chase, footsteps", None)
    assert cue.sounds and cue.instrument == "piano"
    assert cue.mood in ("comedy", "hurry")


def test_the_readme_prompt_with_music_scores_tension() -> None:
    cue = score_cue("Cinematic, thriller, horror film, music, tension, ambience, footsteps on concrete", None)
    assert cue.sounds and cue.mood == "tension"
    assert cue.key.endswith("minor")


@pytest.mark.parametrize(
    ("prompt", "instrument"),
    [
        ("music", "piano"),
        ("a score", "piano"),
        ("ragtime piano", "piano"),
        ("theatre organ", "organ"),
        ("WURLITZER", "organ"),
        ("small orchestra, strings", "orchestra"),
        ("Orchestral MUSIC", "orchestra"),
    ],
)
def test_music_words_turn_the_score_on(prompt: str, instrument: str) -> None:
    cue = score_cue(prompt, None)
    assert cue.sounds and cue.instrument == instrument


def test_a_strong_mood_word_alone_turns_the_score_on() -> None:
    cue = score_cue("a melancholy farewell at the station", None)
    assert cue.sounds and cue.mood == "sad"


@pytest.mark.parametrize(
    "prompt", ["rain, thunder storm, wind", "footsteps on concrete", "a chase, engines", "", None]
)
def test_sound_words_alone_leave_the_score_off(prompt: str | None) -> None:
    assert not score_cue(prompt, None).sounds


def test_sound_words_pick_the_mood_once_music_is_on() -> None:
    assert score_cue("music, rain, thunder storm", None).mood == "storm"
    assert score_cue("piano, soldiers marching", None).mood == "triumph"


def test_a_negative_prompt_naming_music_turns_it_off() -> None:
    assert not score_cue("piano music, a comedy chase, footsteps", "music").sounds
    assert not score_cue("sad music", "music, dialogue").sounds
    assert not score_cue("footsteps, no music", None).sounds  # a negated phrase of the positive prompt


def test_the_mode_flag_overrides_the_prompts() -> None:
    assert score_cue("footsteps", "music", mode="on").sounds
    assert not score_cue("piano music", None, mode="off").sounds
    off = score_cue("sad piano music", None, mode="off")
    assert off.mood == "sad" and off.instrument == "piano"  # the cue is filled in all the same


def test_a_negative_kind_of_music_excludes_that_mood_only() -> None:
    cue = score_cue("sad comedy music", "sad music")
    assert cue.sounds and cue.mood == "comedy"
    cue = score_cue("comedy music", "upbeat music")
    assert cue.sounds and cue.mood not in ("comedy", "hurry", "triumph")
    assert score_cue("music", "neutral music").mood != "neutral"


def test_excluding_every_mood_turns_the_score_off() -> None:
    everything = ", ".join(f"{mood} music" for mood in MOODS)
    assert not score_cue("music", everything).sounds


def test_instruments_come_from_the_flag_then_the_prompt_minus_exclusions() -> None:
    assert score_cue("organ music", None, instrument="orchestra").instrument == "orchestra"
    assert score_cue("organ music, then piano", None).instrument == "organ"
    assert score_cue("music", "piano").instrument == "organ"
    assert score_cue("music", "piano").sounds
    assert not score_cue("music", "piano, organ, orchestra").sounds


def test_flags_outside_their_choices_are_refused() -> None:
    with pytest.raises(ValueError, match="score mode"):
        score_cue("music", None, mode="loud")
    with pytest.raises(ValueError, match="score instrument"):
        score_cue("music", None, instrument="banjo")


def test_hits_are_asked_for_by_name() -> None:
    assert score_cue("piano music, mickey-mousing", None).hits
    assert score_cue("organ, catch the action", None).hits
    assert not score_cue("piano music, a door slams", None).hits


def _hostile_prompts() -> list[object]:
    rng = random.Random(21)
    prompts: list[object] = [
        None,
        "",
        " ",
        0,
        3.5,
        b"music",
        ["music"],
        "\x00\x01",
        "💥🎹🎻",
        "ß" * 10_000,
        "music" * 200_000,
        "無聲電影\uff0c音樂",
        "music, " * 5000,
        "\u202e cisum",
        "-" * 99,
        "no no no",
    ]
    for _ in range(200):
        size = rng.randrange(0, 60)
        prompts.append(
            "".join(
                chr(rng.choice([rng.randrange(32, 127), rng.randrange(0x80, 0x2FFFF)])) for _ in range(size)
            )
        )
    return prompts


def test_no_prompt_ever_raises() -> None:
    for positive in _hostile_prompts():
        for negative in (None, "", "music", positive):
            cue = score_cue(positive, negative)
            assert isinstance(cue, Cue) and cue.mood in MOODS and cue.instrument in INSTRUMENTS


def test_bytes_or_lists_are_not_prompts() -> None:
    assert not score_cue(b"piano music", None).sounds


def test_tempo_follows_the_pacing_within_the_moods_range() -> None:
    still, busy = Pacing(cuts_per_minute=2, motion=0.0), Pacing(cuts_per_minute=60, motion=1.0)
    for mood in MOODS:
        low, high = TEMPO_RANGE[mood]
        assert tempo_for(mood, still) == low and tempo_for(mood, busy) == high
        assert low <= tempo_for(mood, Pacing()) <= high
    assert tempo_for("neutral", Pacing(math.nan, math.inf)) == tempo_for("neutral", Pacing(22.0, 0.5))


def test_the_cue_sheets_tempo_order_holds_at_any_pacing() -> None:
    chain: tuple[Mood, ...] = ("hurry", "comedy", "neutral", "sad")
    for faster, slower in itertools.pairwise(chain):
        assert TEMPO_RANGE[faster][0] > TEMPO_RANGE[slower][1]


def test_keys_are_minor_for_dark_moods_and_major_for_the_rest() -> None:
    for mood in MOODS:
        assert parse_key(KEY[mood]).minor == (mood in ("tension", "sad", "storm"))
        assert score_cue(f"{mood} music", None).key == KEY[mood]


def test_pacing_of_a_film() -> None:
    assert Pacing.of_film(11, 60.0, 0.25) == Pacing(10.0, 0.25)
    assert Pacing.of_film(1, 0.0).cuts_per_minute == 0.0

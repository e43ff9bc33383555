"""The cue sheet: a scene's prompts and pacing -> a Cue (does music sound, which mood, tempo, key).

Silent-film cue sheets named a mood per scene ("hurry", "misterioso", "agitato"); this module
reads one from the prompt words that Talkie's users already write. Semantics:

* Words. A prompt is casefolded (Unicode NFKC) and split into phrases at , ; . | / and new
  lines, each phrase into word tokens (letters and digits of any script; "mickey-mousing" is the
  two tokens "mickey mousing"). Every word list below is matched against whole tokens or token
  sequences. A word in no list is not a music word and changes nothing.
* Score on or off (``mode="auto"``). The score sounds when the positive prompt names music
  (MUSIC_WORDS, or an instrument of INSTRUMENT_WORDS) or holds a mood word of STRONG_MOOD_WORDS,
  and the negative prompt does not turn it off. A phrase of the positive prompt that holds a
  negator ("no music", "without a score") counts as a negative phrase. A negative phrase that
  names music (MUSIC_WORDS) with no qualifier turns the score off. ``mode="on"`` and
  ``mode="off"`` override all of this (the ``--score`` flag); the cue is filled in either way.
* Mood. Words of STRONG_MOOD_WORDS and WEAK_MOOD_WORDS vote for their mood; the most votes win,
  ties go to the mood named first. Weak words name sounds or actions as well as moods ("storm",
  "chase", "march"): they pick the mood once music is on but never turn it on, so a foley prompt
  "rain, thunder storm" stays unscored. No vote -> "neutral".
* Exclusion. A mood word or a KIND_WORDS adjective in a negative phrase ("upbeat music",
  "sad music", "comedy") excludes the moods it names; the next best mood by votes is taken, then
  neutral, then the first of MOODS that is left. If every mood is excluded the score is off.
  A negative phrase with an instrument ("organ music", "piano") excludes that instrument.
* Instrument. ``instrument=`` (the ``--score_instrument`` flag) wins; else the instrument named
  first in the positive prompt; else "piano". An excluded instrument is replaced by the first of
  INSTRUMENTS left; with all three excluded the score is off.
* Hits. HIT_WORDS ("mickey-mousing", "hits", "catch the action") in the positive prompt ask the
  composer to catch strong visible events with an accent chord.
* Tempo. Each mood has a BPM range (TEMPO_RANGE); the picture's drive, the mean of its cut rate
  mapped from CALM_CPM..BUSY_CPM cuts per minute onto [0, 1] and its motion energy in [0, 1],
  places the tempo in that range (a cut-free, still picture gets the bottom, a busy one the top).
  The ranges of hurry > comedy > neutral > sad do not overlap, so that order holds at any pacing.
* Key. One home key per mood (KEY): major for neutral, hurry, comedy, romance, triumph and
  pastoral, minor for tension, sad and storm.

``score_cue`` never raises on a prompt: any str, None, or very long text gives a Cue (only the
long prompt's first MAX_PROMPT_CHARS characters are read). Unknown ``mode`` or ``instrument``
values are flag errors and raise ValueError.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

Mood = Literal["neutral", "tension", "hurry", "comedy", "romance", "sad", "triumph", "storm", "pastoral"]
Instrument = Literal["piano", "organ", "orchestra"]
ScoreMode = Literal["auto", "on", "off"]

MOODS: tuple[Mood, ...] = (
    "neutral",
    "tension",
    "hurry",
    "comedy",
    "romance",
    "sad",
    "triumph",
    "storm",
    "pastoral",
)
INSTRUMENTS: tuple[Instrument, ...] = ("piano", "organ", "orchestra")
MODES: tuple[ScoreMode, ...] = ("auto", "on", "off")
MAX_PROMPT_CHARS = 4000


def _terms(text: str) -> tuple[str, ...]:
    """ "a, b c" -> ("a", "b c"): a word list written as one comma-separated string."""
    return tuple(term.strip() for term in text.split(",") if term.strip())


# Words that name music itself. In a positive prompt they turn the score on; alone in a
# negative phrase they turn it off. (Each list is one string of comma-separated terms.)
MUSIC_WORDS = _terms(
    "music, musical, musically, score, scored, scoring, accompaniment, accompanied, melody, melodic, "
    "melodies, tune, tunes, cue sheet, soundtrack music, film music, background music, incidental music, "
    "musique, musik, música, musica"
)

# Instrument words: each names music (turns the score on) and picks the instrument.
INSTRUMENT_WORDS: Mapping[Instrument, tuple[str, ...]] = {
    "piano": _terms("piano, pianist, pianola, player piano, upright piano, honky tonk, ragtime"),
    "organ": _terms("organ, organist, theatre organ, theater organ, cinema organ, wurlitzer, pipe organ"),
    "orchestra": _terms(
        "orchestra, orchestral, pit orchestra, small orchestra, salon orchestra, string quartet, strings, "
        "violin, violins, ensemble"
    ),
}

# Mood words that are about music or feeling only: they vote for a mood and turn the score on.
STRONG_MOOD_WORDS: Mapping[Mood, tuple[str, ...]] = {
    "neutral": _terms("neutral, moderato, andante"),
    "tension": _terms(
        "tension, tense, suspense, suspenseful, misterioso, mysterious, mystery, thriller, horror, eerie, "
        "creepy, sinister, ominous, menacing, dread, spooky, uneasy"
    ),
    "hurry": _terms("hurry, galop, frantic, presto, hurried"),
    "comedy": _terms(
        "comedy, comic, comical, funny, slapstick, humorous, playful, whimsical, silly, lighthearted, "
        "light hearted, jaunty, scherzando, cheeky"
    ),
    "romance": _terms("romance, romantic, love, tender, tenderly, amoroso, sentimental, longing, loving"),
    "sad": _terms(
        "sad, sadness, sorrow, sorrowful, melancholy, melancholic, mournful, grief, tragic, tragedy, lament, "
        "elegy, elegiac, somber, sombre, gloomy, doleful, lugubre, lamentoso"
    ),
    "triumph": _terms(
        "triumph, triumphant, heroic, victory, victorious, glorious, majestic, fanfare, maestoso, patriotic, "
        "jubilant"
    ),
    "storm": _terms("agitato, stormy, turbulent, tempestuous, furioso, agitated"),
    "pastoral": _terms("pastoral, idyllic, serene, peaceful, tranquil, bucolic, pastorale, placid"),
}

# Words that also name sounds or actions: they steer the mood but never turn music on.
WEAK_MOOD_WORDS: Mapping[Mood, tuple[str, ...]] = {
    "neutral": (),
    "tension": _terms("danger, villain, lurking, creeping, shadow, shadows, dark"),
    "hurry": _terms("chase, chasing, pursuit, pursued, escape, fleeing, getaway, race"),
    "comedy": _terms("clown, clowns, pratfall, pie fight, cartoon"),
    "romance": _terms("kiss, kissing, wedding, embrace, lovers, moonlight"),
    "sad": _terms("funeral, mourning, weeping, crying, tears, farewell, grave"),
    "triumph": _terms("march, marching, parade, soldiers, celebration, coronation"),
    "storm": _terms("storm, thunder, thunderstorm, lightning, tempest, gale, hurricane, battle"),
    "pastoral": _terms("meadow, countryside, farm, village, birdsong, sheep, pasture, garden"),
}

# Adjectives for a kind of music: in a negative phrase they exclude the moods they name.
KIND_WORDS: Mapping[str, tuple[Mood, ...]] = {
    "upbeat": ("comedy", "hurry", "triumph"),
    "happy": ("comedy", "triumph", "pastoral"),
    "cheerful": ("comedy", "triumph", "pastoral"),
    "joyful": ("comedy", "triumph", "pastoral"),
    "fast": ("hurry", "storm", "comedy"),
    "slow": ("sad", "romance", "pastoral"),
    "scary": ("tension", "storm"),
    "dramatic": ("tension", "storm", "triumph"),
    "loud": ("triumph", "storm", "hurry"),
    "gentle": ("pastoral", "romance"),
    "calm": ("pastoral", "neutral"),
    "depressing": ("sad",),
    "emotional": ("sad", "romance"),
}

HIT_WORDS = _terms(
    "mickey mousing, mickey mouse, mickeymousing, hits, catch the action, catch action, catches the action, "
    "stingers, hit points"
)

NEGATORS = _terms("no, not, without, non, none, never, minus, sans, nothing")

# Beats per minute (low, high) per mood; hurry > comedy > neutral > sad never overlap.
TEMPO_RANGE: Mapping[Mood, tuple[int, int]] = {
    "neutral": (88, 108),
    "tension": (66, 84),
    "hurry": (146, 168),
    "comedy": (116, 136),
    "romance": (66, 80),
    "sad": (52, 66),
    "triumph": (104, 120),
    "storm": (132, 156),
    "pastoral": (80, 96),
}

KEY: Mapping[Mood, str] = {
    "neutral": "C major",
    "tension": "D minor",
    "hurry": "G major",
    "comedy": "F major",
    "romance": "E-flat major",
    "sad": "G minor",
    "triumph": "B-flat major",
    "storm": "C minor",
    "pastoral": "D major",
}

CALM_CPM = 4.0  # cuts per minute that count as a still, slow picture
BUSY_CPM = 40.0  # cuts per minute that count as the busiest


@dataclass(frozen=True)
class Pacing:
    """The picture's pace: cuts per minute around the scene, and motion energy in [0, 1]."""

    cuts_per_minute: float = 12.0
    motion: float = 0.5

    @classmethod
    def of_film(cls, scene_count: int, duration_s: float, motion: float = 0.5) -> Pacing:
        """A film's pacing from its scene count and length (s): cuts = scenes - 1."""
        minutes = duration_s / 60 if _finite(duration_s) and duration_s > 0 else 0.0
        return cls(max(0, scene_count - 1) / minutes if minutes else 0.0, motion)

    def drive(self) -> float:
        """[0, 1]: the mean of the cut rate (CALM_CPM..BUSY_CPM -> 0..1) and the motion energy;
        a non-finite part counts as the middle (0.5)."""
        cpm = self.cuts_per_minute if _finite(self.cuts_per_minute) else (CALM_CPM + BUSY_CPM) / 2
        motion = self.motion if _finite(self.motion) else 0.5
        cut_part = _clip01((cpm - CALM_CPM) / (BUSY_CPM - CALM_CPM))
        return 0.5 * cut_part + 0.5 * _clip01(motion)


@dataclass(frozen=True)
class Cue:
    """One scene's line of the cue sheet.

    ``sounds`` says whether the score plays in the scene; the other fields are filled in either
    way (what would play). ``key`` is "<tonic> major|minor" with the tonic spelled C, C-sharp,
    D-flat, ... (media/score/harmony.py parses it). ``hits``: catch strong visible events."""

    sounds: bool
    mood: Mood
    tempo_bpm: int
    key: str
    instrument: Instrument
    hits: bool


def score_cue(
    positive_prompt: object,
    negative_prompt: object,
    *,
    mode: str = "auto",
    instrument: str | None = None,
    pacing: Pacing | None = None,
) -> Cue:
    """The cue for one scene from its (layered) prompts, the --score mode, the --score_instrument
    flag (None: from the prompt) and the picture's pacing (None: Pacing()). Never raises on a
    prompt; raises ValueError for a mode or instrument outside MODES / INSTRUMENTS."""
    if mode not in MODES:
        raise ValueError(f"score mode {mode!r}: choose one of {', '.join(MODES)}")
    if instrument is not None and instrument not in INSTRUMENTS:
        raise ValueError(f"score instrument {instrument!r}: choose one of {', '.join(INSTRUMENTS)}")
    positive_phrases, negated = _split_negated(_phrases(positive_prompt))
    negative_phrases = _phrases(negative_prompt) + negated

    named_music = any(_count(p, MUSIC_WORDS) or _first_instrument(p) is not None for p in positive_phrases)
    votes: dict[Mood, tuple[int, int]] = {}  # mood -> (votes, first position)
    strong = False
    position = 0
    for phrase in positive_phrases:
        for voted in MOODS:
            for words, is_strong in ((STRONG_MOOD_WORDS[voted], True), (WEAK_MOOD_WORDS[voted], False)):
                found = _positions(phrase, words)
                if found:
                    count, first = votes.get(voted, (0, 1 << 30))
                    votes[voted] = (count + len(found), min(first, position + found[0]))
                    strong = strong or is_strong
        position += len(phrase) + 1

    music_off = False
    excluded_moods: set[Mood] = set()
    excluded_instruments: set[Instrument] = set()
    for phrase in negative_phrases:
        moods_named = [
            m for m in MOODS if _count(phrase, STRONG_MOOD_WORDS[m]) or _count(phrase, WEAK_MOOD_WORDS[m])
        ]
        kinds = [m for word, named in KIND_WORDS.items() if _count(phrase, (word,)) for m in named]
        instruments_named = [i for i in INSTRUMENTS if _count(phrase, INSTRUMENT_WORDS[i])]
        if moods_named or kinds:
            excluded_moods.update(moods_named, kinds)
        elif instruments_named:
            excluded_instruments.update(instruments_named)
        elif _count(phrase, MUSIC_WORDS):
            music_off = True

    ranked = sorted(votes.items(), key=lambda item: (-item[1][0], item[1][1]))
    candidates: list[Mood] = [m for m, _ in ranked]
    candidates += ["neutral", *MOODS]
    mood: Mood | None = next((m for m in candidates if m not in excluded_moods), None)

    chosen: Instrument | None
    if instrument is not None:
        chosen = next(i for i in INSTRUMENTS if i == instrument)
    else:
        chosen = next((i for i in map(_first_instrument, positive_phrases) if i is not None), None)
    if chosen is None or chosen in excluded_instruments:
        chosen = next((i for i in INSTRUMENTS if i not in excluded_instruments), None)

    hits = any(_count(p, HIT_WORDS) for p in positive_phrases)
    sounds = (named_music or strong) and not music_off if mode == "auto" else mode == "on"
    if mood is None or chosen is None:
        sounds = False
    mood = mood or "neutral"
    chosen = chosen or "piano"
    return Cue(
        sounds=sounds,
        mood=mood,
        tempo_bpm=tempo_for(mood, pacing or Pacing()),
        key=KEY[mood],
        instrument=chosen,
        hits=hits,
    )


def tempo_for(mood: Mood, pacing: Pacing) -> int:
    """Whole beats per minute: the mood's TEMPO_RANGE placed by the pacing's drive."""
    low, high = TEMPO_RANGE[mood]
    return round(low + (high - low) * pacing.drive())


# ---- words -------------------------------------------------------------------------------------

_PHRASE_BREAK = re.compile(r"[,;.|/\n\r\t]+")
_WORD = re.compile(r"[^\W_]+")


def _phrases(prompt: object) -> list[tuple[str, ...]]:
    """A prompt -> its phrases, each a tuple of casefolded word tokens; never raises."""
    if not isinstance(prompt, str) or not prompt:
        return []
    text = unicodedata.normalize("NFKC", prompt[:MAX_PROMPT_CHARS]).casefold()
    phrases = (tuple(_WORD.findall(part)) for part in _PHRASE_BREAK.split(text))
    return [p for p in phrases if p]


def _split_negated(phrases: list[tuple[str, ...]]) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
    """(plain phrases, phrases holding a negator: "no music" in a positive prompt)."""
    plain = [p for p in phrases if not any(t in NEGATORS for t in p)]
    negated = [p for p in phrases if any(t in NEGATORS for t in p)]
    return plain, negated


_SPLIT_CACHE: dict[str, tuple[str, ...]] = {}


def _tokens(term: str) -> tuple[str, ...]:
    cached = _SPLIT_CACHE.get(term)
    if cached is None:
        cached = _SPLIT_CACHE[term] = tuple(_WORD.findall(unicodedata.normalize("NFKC", term).casefold()))
    return cached


def _positions(phrase: tuple[str, ...], terms: Iterable[str]) -> list[int]:
    """Sorted token positions in ``phrase`` where one of ``terms`` (one or more words) starts."""
    found: list[int] = []
    for term in terms:
        words = _tokens(term)
        n = len(words)
        found.extend(i for i in range(len(phrase) - n + 1) if phrase[i : i + n] == words)
    return sorted(set(found))


def _count(phrase: tuple[str, ...], terms: Iterable[str]) -> int:
    return len(_positions(phrase, terms))


def _first_instrument(phrase: tuple[str, ...]) -> Instrument | None:
    best: tuple[int, Instrument] | None = None
    for instrument in INSTRUMENTS:
        found = _positions(phrase, INSTRUMENT_WORDS[instrument])
        if found and (best is None or found[0] < best[0]):
            best = (found[0], instrument)
    return None if best is None else best[1]


def _finite(x: object) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def _clip01(x: float) -> float:
    return min(1.0, max(0.0, x))

"""What each mood sounds like: meter, progressions, figures, registers, dynamics, instruments.

A Style is the composer's recipe for one mood of the cue sheet (media/score/cues.py), after the
silent-film photoplay albums' stock types: a galop for hurry (in 4/4, every beat alike, so that
its beat is what one hears), a stride two-step for comedy, a march for triumph, tremolo for
agitato and misterioso, arpeggiated waltzes for romance and pastoral, slow sparse chords for sad.
Everything here is data; media/score/figures.py plays the figures and media/score/compose.py lays
them out on the film's clock.

Progressions are Roman numerals, one chord per bar (media/score/harmony.py). Minor moods keep
the tonic chord on most strong bars so that the key reads as minor; major moods lean on I, IV
and V. Registers are MIDI pitches; velocities are MIDI 1..127.

Programs are General MIDI (0-based): piano 0 Acoustic Grand; theatre organ 16 Drawbar Organ
(17 Percussive Organ for rhythmic chords) over 19 Church Organ (pedal); the small orchestra takes
a melody instrument per mood (40 violin, 71 clarinet, 73 flute, 56 trumpet, 68 oboe), 48 string
ensemble, 44 tremolo strings, 45 pizzicato strings or 61 brass section for the harmony and 43
contrabass, 45 pizzicato or 58 tuba for the bass.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from media.score.cues import Instrument, Mood

Figure = Literal[
    "broken",
    "block",
    "stride",
    "galop",
    "march",
    "tremolo",
    "pulse",
    "octaves",
    "arpeggio",
    "sparse",
    "dirge",
    "waltz",
]
Part = Literal["melody", "harmony", "bass", "accent"]

# MIDI channel per part (channel 9, GM percussion, is never used).
CHANNEL: Mapping[Part, int] = {"melody": 0, "harmony": 1, "bass": 2, "accent": 3}


@dataclass(frozen=True)
class Style:
    meter: int  # beats per bar
    progressions: tuple[tuple[str, ...], ...]  # one chord per bar; the seed picks one per phrase
    figures: tuple[Figure, ...]  # accompaniment figures; the seed picks one per scene
    rhythms: tuple[tuple[float, ...], ...]  # melody rhythm cells, beats per note, each summing to meter
    melody_low: int  # melody range, MIDI
    melody_high: int
    chord_low: int  # lowest pitch of the accompaniment's chords
    bass_low: int  # lowest pitch of the bass line
    velocity: int  # melody's velocity; accompaniment plays softer
    rest_chance: float  # chance that a melody note is left out (breath, sparseness)


STYLES: Mapping[Mood, Style] = {
    "neutral": Style(
        meter=4,
        progressions=(
            ("I", "IV", "V", "I"),
            ("I", "vi", "IV", "V7"),
            ("I", "ii", "V7", "I"),
            ("I", "IV", "I", "V7"),
        ),
        figures=("broken", "block", "stride"),
        rhythms=((1, 1, 1, 1), (2, 1, 1), (1, 1, 2), (1.5, 0.5, 1, 1), (2, 2)),
        melody_low=65,
        melody_high=81,
        chord_low=55,
        bass_low=40,
        velocity=76,
        rest_chance=0.05,
    ),
    "tension": Style(
        meter=4,
        progressions=(
            ("i", "i", "iv", "V7"),
            ("i", "VI", "iv", "V7"),
            ("i", "iv", "i", "V7"),
            ("i", "vii7", "i", "V"),
        ),
        figures=("tremolo", "pulse"),
        rhythms=((2, 2), (3, 1), (1, 1, 2), (4,)),
        melody_low=57,
        melody_high=72,
        chord_low=50,
        bass_low=38,
        velocity=66,
        rest_chance=0.25,
    ),
    "hurry": Style(
        meter=4,
        progressions=(
            ("I", "V7", "I", "V7"),
            ("I", "I", "V7", "I"),
            ("I", "IV", "V7", "I"),
            ("I", "V7", "V7", "I"),
        ),
        figures=("galop",),
        rhythms=((1, 0.5, 0.5, 1, 0.5, 0.5), (0.5, 0.5, 1, 0.5, 0.5, 1), (1, 1, 1, 1), (1.5, 0.5, 1.5, 0.5)),
        melody_low=67,
        melody_high=86,
        chord_low=57,
        bass_low=43,
        velocity=92,
        rest_chance=0.0,
    ),
    "comedy": Style(
        meter=4,
        progressions=(
            ("I", "I", "V7", "I"),
            ("I", "IV", "V7", "I"),
            ("I", "vi", "ii", "V7"),
            ("I", "V7", "I", "V7"),
        ),
        figures=("stride", "march"),
        rhythms=((1, 0.5, 0.5, 1, 1), (0.5, 0.5, 1, 0.5, 0.5, 1), (1, 1, 1, 1), (1.5, 0.5, 2)),
        melody_low=69,
        melody_high=88,
        chord_low=57,
        bass_low=41,
        velocity=86,
        rest_chance=0.1,
    ),
    "romance": Style(
        meter=3,
        progressions=(
            ("I", "vi", "IV", "V7"),
            ("I", "IV", "V7", "I"),
            ("I", "ii", "V7", "I"),
            ("I", "iii", "IV", "V7"),
        ),
        figures=("arpeggio", "waltz"),
        rhythms=((2, 1), (3,), (1, 1, 1), (1.5, 0.5, 1)),
        melody_low=67,
        melody_high=84,
        chord_low=55,
        bass_low=39,
        velocity=70,
        rest_chance=0.05,
    ),
    "sad": Style(
        meter=4,
        progressions=(
            ("i", "iv", "V7", "i"),
            ("i", "VI", "iv", "V7"),
            ("i", "iv", "i", "V7"),
            ("i", "i", "iv", "V"),
        ),
        figures=("sparse", "dirge"),
        rhythms=((2, 2), (3, 1), (4,), (2, 1, 1)),
        melody_low=62,
        melody_high=77,
        chord_low=50,
        bass_low=36,
        velocity=64,
        rest_chance=0.1,
    ),
    "triumph": Style(
        meter=4,
        progressions=(
            ("I", "IV", "V7", "I"),
            ("I", "I", "V", "I"),
            ("I", "vi", "V", "I"),
            ("I", "IV", "I", "V7"),
        ),
        figures=("march", "block"),
        rhythms=((1.5, 0.5, 1, 1), (1, 1, 2), (1.5, 0.5, 2), (1, 1, 1, 1)),
        melody_low=65,
        melody_high=84,
        chord_low=55,
        bass_low=38,
        velocity=96,
        rest_chance=0.0,
    ),
    "storm": Style(
        meter=4,
        progressions=(
            ("i", "iv", "V7", "i"),
            ("i", "VI", "V7", "i"),
            ("i", "i", "iv", "V7"),
            ("i", "vii7", "i", "V7"),
        ),
        figures=("tremolo", "octaves"),
        rhythms=((1, 1, 1, 1), (0.5, 0.5, 1, 2), (2, 1, 1), (1, 1, 2)),
        melody_low=60,
        melody_high=79,
        chord_low=53,
        bass_low=36,
        velocity=98,
        rest_chance=0.05,
    ),
    "pastoral": Style(
        meter=3,
        progressions=(
            ("I", "IV", "I", "V7"),
            ("I", "V7", "IV", "I"),
            ("I", "I", "IV", "I"),
            ("I", "ii", "V7", "I"),
        ),
        figures=("arpeggio", "waltz"),
        rhythms=((2, 1), (1, 1, 1), (3,), (1, 0.5, 0.5, 1)),
        melody_low=69,
        melody_high=86,
        chord_low=57,
        bass_low=38,
        velocity=66,
        rest_chance=0.05,
    ),
}

# A scene's register: (name, chords' shift, melody's shift, bass's shift, velocity change), in
# semitones and MIDI velocity. Back-to-back scenes alternate between the two (low and soft, high
# and bright), so the texture moves at every cut, as a pianist answers one strain an octave away.
REGISTERS: tuple[tuple[str, int, int, int, int], ...] = (
    ("low", -5, -7, 0, -12),
    ("high", 7, 9, 12, 8),
)

# General MIDI program per part for each instrument (the default), and per mood where it differs:
# rhythmic moods give the organ's chords the percussive stop and its pedal the drawbar, and the
# orchestra plucks (pizzicato) or blows (brass) its beat, since bowed strings' slow attack blurs it.
PROGRAMS: Mapping[Instrument, Mapping[Part, int]] = {
    "piano": {"melody": 0, "harmony": 0, "bass": 0, "accent": 0},
    "organ": {"melody": 16, "harmony": 16, "bass": 19, "accent": 19},
    "orchestra": {"melody": 40, "harmony": 48, "bass": 43, "accent": 61},
}
RHYTHMIC: tuple[Mood, ...] = ("neutral", "hurry", "comedy", "triumph")
BY_MOOD: Mapping[tuple[Instrument, Part], Mapping[Mood, int]] = {
    ("organ", "harmony"): dict.fromkeys(RHYTHMIC, 17),
    ("organ", "bass"): dict.fromkeys(RHYTHMIC, 16),
    ("orchestra", "melody"): {
        "neutral": 71,
        "tension": 40,
        "hurry": 56,
        "comedy": 71,
        "romance": 40,
        "sad": 68,
        "triumph": 56,
        "storm": 40,
        "pastoral": 73,
    },
    ("orchestra", "harmony"): {
        "tension": 44,
        "storm": 44,
        "neutral": 45,
        "hurry": 45,
        "comedy": 45,
        "triumph": 61,
    },
    ("orchestra", "bass"): {"neutral": 45, "comedy": 45, "hurry": 45, "triumph": 58},
}


def program(instrument: Instrument, mood: Mood, part: Part) -> int:
    """The General MIDI program (0..127) that plays ``part`` for this instrument and mood."""
    return BY_MOOD.get((instrument, part), {}).get(mood, PROGRAMS[instrument][part])

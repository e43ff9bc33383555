"""One bar of music: the accompaniment figures and the melody's notes over a chord.

A Bar fixes where a bar sits on the film's clock (start, beat length, meter), its key and chord,
the mood's Style and the programs that play each part, and the window its notes must start in.
Notes that would start at or after ``stop_s`` (or before ``from_s``) are left out and the others
are cut short at ``stop_s``, so nothing of one scene sounds past its cut but for the synth's
release.

Figures (styles.Figure), in beats of a 4/4 bar unless noted; R is the chord's root in the bass,
F its fifth, C the close-position chord:
    broken   R, top, middle, top of C (one note a beat: "1-5-3-5")
    block    R with C, C, F with C, C (held, legato)
    stride   R, C, F, C (staccato; 2/4: R, C)                       comedy, two-step
    galop    on every beat R with C, on every off-beat C's top an octave up, softly   hurry
    march    R with its octave, C, F with its octave, C (held)      triumph
    tremolo  R held; C alternates its lowest note with the upper two every sixth of a beat
             (storm: every quarter beat, the bass in octaves)       misterioso, agitato
    pulse    R held; C softly, staccato, on every beat and off-beat misterioso
    octaves  R and its octave on every beat, C on beats 1 and 3     agitato
    arpeggio R held; C broken upwards and back in eighths (3/4)     romance, pastoral
    waltz    R, C, C (3/4)
    sparse   R held; the upper two notes of C softly on the other beats  sad
    dirge    R on beats 1 and 3, C softly on every beat             sad
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from media.score.harmony import Chord, Key, bass_note, voice
from media.score.notes import Note
from media.score.styles import CHANNEL, Figure, Part, Style


class Dice:
    """Seeded choices that stay the same across Python and NumPy versions: Python's Mersenne
    Twister seeded with a string (its SHA-512, random.seed version 2), read only through
    ``random()``, whose stream Python keeps stable."""

    def __init__(self, *seed: object) -> None:
        self._rng = random.Random(":".join(["talkie-score", *map(str, seed)]))

    def uniform(self) -> float:
        return self._rng.random()

    def pick(self, options: Sequence[object]) -> int:
        """An index into ``options`` (non-empty), uniformly."""
        return min(int(self._rng.random() * len(options)), len(options) - 1)

    def chance(self, p: float) -> bool:
        return self._rng.random() < p


@dataclass(frozen=True)
class Bar:
    start_s: float
    beat_s: float
    meter: int
    key: Key
    chord: Chord
    style: Style
    programs: Mapping[Part, int]
    stop_s: float  # no note sounds past this time
    from_s: float = -math.inf  # notes that would start before this time are left out

    def note(self, part: Part, beat: float, beats: float, pitch: int, velocity: int) -> Note | None:
        """A note ``beats`` long at ``beat`` (from the bar's start), clipped to ``stop_s``."""
        start = self.start_s + beat * self.beat_s
        if start >= self.stop_s - 1e-6 or start < self.from_s - 1e-6 or not 0 <= pitch <= 127:
            return None
        duration = min(beats * self.beat_s, self.stop_s - start)
        return Note(start, CHANNEL[part], pitch, duration, max(1, min(127, velocity)), self.programs[part])


def accompaniment(bar: Bar, figure: Figure, velocity: int, stormy: bool = False) -> list[Note]:
    """The harmony and bass of one bar in ``figure`` at about ``velocity``."""
    key, chord, style = bar.key, bar.chord, bar.style
    chord_tones = voice(key, chord, style.chord_low, 3)
    root = bass_note(key, chord, style.bass_low, 0)
    fifth = bass_note(key, chord, style.bass_low, 2)
    if fifth > root + 7:
        fifth -= 12
    soft, bass_vel = velocity - 8, velocity + 4
    events: list[tuple[Part, float, float, int, int]] = []  # part, beat, beats, pitch, velocity

    def chord_at(beat: float, beats: float, vel: int) -> None:
        events.extend(("harmony", beat, beats, p, vel) for p in chord_tones)

    meter = bar.meter
    if figure == "broken":
        events.append(("bass", 0, 1, root, bass_vel))
        for i, tone in zip(range(1, meter), (2, 1, 2, 1, 2), strict=False):
            events.append(("harmony", i, 1, chord_tones[tone], velocity))
    elif figure == "block":
        for i in range(meter):
            if i % 2 == 0:
                events.append(("bass", i, 1.9, root if i % 4 == 0 else fifth, bass_vel))
            chord_at(i, 0.9, soft if i else velocity)
    elif figure == "stride" or figure == "march":
        held = 0.45 if figure == "stride" else 0.75
        for i in range(meter):
            if i % 2 == 0:
                pitch = root if i % 4 == 0 else fifth
                events.append(("bass", i, held, pitch, bass_vel))
                if figure == "march" and pitch - 12 >= 28:
                    events.append(("bass", i, held, pitch - 12, bass_vel - 6))
            else:
                chord_at(i, held, soft)
    elif figure == "galop":
        for i in range(meter):
            events.append(("bass", i, 0.45, root, bass_vel))
            chord_at(i, 0.45, soft)
            events.append(("harmony", i + 0.5, 0.3, chord_tones[-1] + 12, soft - 16))
    elif figure == "tremolo":
        step = 1 / 4 if stormy else 1 / 6
        events.append(("bass", 0, meter, root, bass_vel))
        if stormy and root - 12 >= 28:
            events.append(("bass", 0, meter, root - 12, bass_vel))
        count = round(meter / step)
        for i in range(count):
            beat = i * step
            lift = 6 if abs(beat - round(beat)) < 1e-9 else 0  # the beat is felt inside the tremolo
            tones = chord_tones[:1] if i % 2 == 0 else chord_tones[1:]
            events.extend(("harmony", beat, step, p, soft - 6 + lift) for p in tones)
    elif figure == "pulse":
        events.append(("bass", 0, meter, root, bass_vel))
        for i in range(2 * meter):
            chord_at(i * 0.5, 0.3, soft - (0 if i % 2 == 0 else 8))
    elif figure == "octaves":
        for i in range(meter):
            events.append(("bass", i, 0.9, root, bass_vel))
            if root - 12 >= 28:
                events.append(("bass", i, 0.9, root - 12, bass_vel - 4))
            if i % 2 == 0:
                chord_at(i, 1.8, soft)
    elif figure == "arpeggio":
        events.append(("bass", 0, meter, root, bass_vel))
        pattern = (
            chord_tones[0],
            chord_tones[1],
            chord_tones[2],
            chord_tones[0] + 12,
            chord_tones[2],
            chord_tones[1],
        )
        for i in range(1, 2 * meter):
            events.append(
                ("harmony", i * 0.5, 0.5, pattern[i % len(pattern)], soft - (0 if i % 2 == 0 else 6))
            )
    elif figure == "waltz":
        events.append(("bass", 0, 1, root, bass_vel))
        for i in range(1, meter):
            chord_at(i, 0.8, soft)
    elif figure == "sparse":
        events.append(("bass", 0, meter, root, bass_vel - 6))
        for i in range(1, meter):
            events.extend(("harmony", i, 0.9, p, soft - 8) for p in chord_tones[1:])
    elif figure == "dirge":
        for i in range(meter):
            if i % 2 == 0:
                events.append(("bass", i, 2, root if i % 4 == 0 else fifth, bass_vel - 6))
            chord_at(i, 0.9, soft - (4 if i % 2 == 0 else 10))
    else:
        raise ValueError(f"unknown figure {figure!r}")
    notes = (bar.note(part, beat, beats, pitch, vel) for part, beat, beats, pitch, vel in events)
    return [n for n in notes if n is not None]


def melody(
    bar: Bar, rhythm: Sequence[float], degree: int, dice: Dice, velocity: int, legato: float, cadence: bool
) -> tuple[list[Note], int]:
    """The melody of one bar over ``rhythm`` (beats per note), starting near scale ``degree``
    (harmony.Key.pitch's numbering); returns its notes and the degree it ended on. Notes on a
    strong beat (the bar's first, or its middle in 4/4) are chord tones; the others step by a
    second or a third. A ``cadence`` bar ends on the chord's root."""
    key, style = bar.key, bar.style
    classes = bar.chord.pitch_classes(key)
    low, high = key.degree_near(style.melody_low), key.degree_near(style.melody_high)
    notes: list[Note] = []
    beat = 0.0
    for index, beats in enumerate(rhythm):
        strong = beat == 0 or (bar.meter == 4 and beat == 2)
        last = index == len(rhythm) - 1
        if strong or (cadence and last):
            step = (-2, -1, 0, 1, 2)[dice.pick(range(5))]
            wanted = {classes[0]} if cadence and last else set(classes)
            degree = _nearest(key, degree + step, wanted, low, high)
        else:
            step = (-2, -1, -1, 1, 1, 2)[dice.pick(range(6))]
            degree = min(high, max(low, degree + step))
        if not (dice.chance(bar.style.rest_chance) and not strong):
            accent = 8 if strong else 0
            note = bar.note("melody", beat, beats * legato, key.pitch(degree, 4), velocity + accent)
            if note is not None:
                notes.append(note)
        beat += beats
    return notes, degree


def _nearest(key: Key, degree: int, classes: set[int], low: int, high: int) -> int:
    """The degree nearest ``degree`` within [low, high] whose pitch class is in ``classes``."""
    options = [d for d in range(low, high + 1) if key.pitch(d, 4) % 12 in classes]
    if not options:
        return min(high, max(low, degree))
    return min(options, key=lambda d: (abs(d - degree), d))

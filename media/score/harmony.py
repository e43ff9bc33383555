"""Keys, scales and chords for the composer: pitch arithmetic only, no style.

Pitches are MIDI note numbers (60 = middle C, 69 = A4 = 440 Hz); pitch classes are 0..11 with
C = 0. A minor key uses the harmonic minor scale (raised seventh), so that its V and vii° chords
lead home as in common-practice harmony; melodies over it use the same scale.

Chords are Roman numerals over the key's scale ("I", "vi", "V7", "iv", "VI", "vii7"): the
numeral's degree stacks thirds of the scale (a triad, or a seventh chord with a trailing 7), so
quality comes from the key (V7 in minor is the major-minor seventh, vii7 the diminished seventh).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
HARMONIC_MINOR_SCALE = (0, 2, 3, 5, 7, 8, 11)

_TONICS = {
    "c": 0,
    "c-sharp": 1,
    "d-flat": 1,
    "d": 2,
    "d-sharp": 3,
    "e-flat": 3,
    "e": 4,
    "f": 5,
    "f-sharp": 6,
    "g-flat": 6,
    "g": 7,
    "g-sharp": 8,
    "a-flat": 8,
    "a": 9,
    "a-sharp": 10,
    "b-flat": 10,
    "b": 11,
}
_NAMES = ("C", "C-sharp", "D", "E-flat", "E", "F", "F-sharp", "G", "A-flat", "A", "B-flat", "B")
_NUMERALS = {"i": 0, "ii": 1, "iii": 2, "iv": 3, "v": 4, "vi": 5, "vii": 6}


@dataclass(frozen=True)
class Key:
    tonic: int  # pitch class, 0..11
    minor: bool

    @property
    def scale(self) -> tuple[int, ...]:
        """The 7 degrees as semitones above the tonic."""
        return HARMONIC_MINOR_SCALE if self.minor else MAJOR_SCALE

    @property
    def name(self) -> str:
        return f"{_NAMES[self.tonic]} {'minor' if self.minor else 'major'}"

    def pitch(self, degree: int, octave: int = 4) -> int:
        """MIDI pitch of scale ``degree`` (0 = tonic; any integer, 7 = the tonic an octave up)
        counted from the tonic in MIDI ``octave`` (octave 4 holds middle C)."""
        steps, index = divmod(degree, 7)
        return 12 * (octave + 1 + steps) + self.tonic + self.scale[index]

    def degree_near(self, pitch: int) -> int:
        """The scale degree (as in ``pitch``) whose pitch is nearest ``pitch``, lower on a tie."""
        base = 7 * ((pitch - self.tonic) // 12 - 5)
        candidates = [base + d for d in range(-7, 15)]
        return min(candidates, key=lambda d: (abs(self.pitch(d, 4) - pitch), d))


def parse_key(text: str) -> Key:
    """ "C major", "E-flat major", "F-sharp minor" (also "Eb", "F#") -> Key; ValueError otherwise."""
    parts = text.strip().lower().replace("♭", "b").replace("♯", "#").split()
    if len(parts) != 2 or parts[1] not in ("major", "minor"):
        raise ValueError(f"key {text!r}: need '<tonic> major' or '<tonic> minor'")
    tonic = parts[0].replace("#", "-sharp")
    if len(tonic) == 2 and tonic.endswith("b"):
        tonic = tonic[0] + "-flat"
    if tonic not in _TONICS:
        raise ValueError(f"key {text!r}: unknown tonic {parts[0]!r}")
    return Key(_TONICS[tonic], parts[1] == "minor")


@dataclass(frozen=True)
class Chord:
    degree: int  # root's scale degree, 0..6
    seventh: bool = False

    def degrees(self) -> tuple[int, ...]:
        """Scale degrees of root, third, fifth (and seventh), ascending from the root."""
        count = 4 if self.seventh else 3
        return tuple(self.degree + 2 * i for i in range(count))

    def pitch_classes(self, key: Key) -> tuple[int, ...]:
        return tuple(key.pitch(d, 4) % 12 for d in self.degrees())


def parse_chord(numeral: str) -> Chord:
    """ "I", "vi", "V7", "vii7", "iv" -> Chord (case is ignored: quality comes from the key)."""
    text = numeral.strip().lower()
    seventh = text.endswith("7")
    text = text.rstrip("7")
    if text not in _NUMERALS:
        raise ValueError(f"chord {numeral!r}: need a Roman numeral I..VII, optionally with a 7")
    return Chord(_NUMERALS[text], seventh)


def progression(numerals: Sequence[str]) -> tuple[Chord, ...]:
    return tuple(parse_chord(n) for n in numerals)


def voice(key: Key, chord: Chord, low: int, count: int = 3) -> tuple[int, ...]:
    """``count`` chord tones, ascending, the lowest at or above MIDI ``low`` (close position,
    starting from whichever chord tone comes first above ``low``)."""
    classes = chord.pitch_classes(key)
    out: list[int] = []
    pitch = low
    while len(out) < count:
        if pitch % 12 in classes:
            out.append(pitch)
        pitch += 1
    return tuple(out)


def bass_note(key: Key, chord: Chord, low: int, tone: int = 0) -> int:
    """The chord's ``tone`` (0 root, 1 third, 2 fifth) at the first pitch at or above ``low``."""
    target = chord.pitch_classes(key)[tone]
    return low + (target - low) % 12


def chord_tone_near(key: Key, chord: Chord, pitch: int) -> int:
    """The chord tone nearest ``pitch`` (lower on a tie)."""
    classes = chord.pitch_classes(key)
    return min(
        (p for p in range(pitch - 6, pitch + 7) if p % 12 in classes),
        key=lambda p: (abs(p - pitch), p),
    )

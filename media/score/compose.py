"""The composer: a film's scenes with their cues and seeds -> note events on the film's clock.

For every scene whose cue sounds (media/score/cues.py) it writes a short piece in the cue's
mood, key and tempo (media/score/styles.py says how each mood plays):

* Bars start at the scene's start (beat = 60 / tempo_bpm s), so the music's downbeat is the cut.
* Harmony: one chord a bar, from a progression of the mood that the seed picks per scene; the
  last bar of a 4-bar phrase ends the melody on the chord's root.
* Texture: per scene the seed picks one of the mood's accompaniment figures (stride, galop,
  tremolo, ...) and a register (styles.REGISTERS: low and soft, or high and bright); a scene
  that follows a sounding scene takes the other register and, where the mood has several,
  another figure than that scene's, so the music audibly moves on at every cut.
* Downbeat: a scene's first beat sounds its first chord over its bass in the new register.
* Melody: rhythm cells of the mood, a motif that the phrase's second bar repeats, chord tones on
  strong beats, stepwise motion between. A scene is one strain: its later phrases repeat its
  first, so the music stays put within a scene and moves on at the cut.
* Transition: in the last half beat before a cut into a sounding scene (a quarter beat where
  half a beat is longer than TAIL_MAX_S: TAIL_BEATS) the figure goes on over the next key's
  dominant seventh and the melody plays a two-note pickup
  (the next key's 2nd and 7th degrees) that resolves onto the next scene's downbeat, so the
  texture changes at the cut itself. Before silence or the film's end the tonic chord is held
  instead. A scene shorter than MIN_SCENE_BEATS beats is one held tonic chord (with the pickup).
* Hits: when the cue asks for them, each hit time in the scene gets an accent chord (the bar's
  chord over three octaves, fortissimo, on its own channel).

A scene's notes depend on its span, cue and seed, on the next scene's key (the pickup) and on
the previous scene's register and figure. Everything random is drawn from ``Dice(seed, ...)``,
so equal inputs give equal notes on any machine and different seeds give different music. Pure
Python; the output is sorted (media/score/notes.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import NamedTuple

from media.score.cues import Cue
from media.score.figures import Bar, Dice, accompaniment, melody
from media.score.harmony import Chord, Key, bass_note, parse_key, progression, voice
from media.score.notes import Note
from media.score.styles import CHANNEL, REGISTERS, STYLES, Figure, Part, Style, program

COMPOSER_VERSION = "1"  # bump when equal inputs would give other notes (it joins cut keys)
PHRASE_BARS = 4
HIT_VELOCITY = 120
HIT_BEATS = 0.75
MIN_SCENE_BEATS = 1.0  # shorter scenes hold one chord
TAIL_BEATS = (0.5, 0.25)  # the transition's length in beats: the first that fits TAIL_MAX_S, else the last
TAIL_MAX_S = 0.4
MELODY_TOP = 96  # C7: the melody never goes higher
CUT_EPSILON_S = 1e-3  # scenes closer than this are back to back


class ScoreScene(NamedTuple):
    """One scene to score: its span on the film's clock, its cue, its seed (any int: the take's
    seed) and the times (s, film clock) of strong visible events to catch when ``cue.hits``."""

    start_s: float
    end_s: float
    cue: Cue
    seed: int
    hit_times_s: Sequence[float] = ()


@dataclass(frozen=True)
class Texture:
    figure: Figure
    register: int  # index into styles.REGISTERS


@dataclass(frozen=True)
class ScenePlan:
    """What a sounding scene plays: its key (the cue's), texture, and the key of the sounding
    scene that follows it back to back (None: silence or the end)."""

    scene: ScoreScene
    key: Key
    texture: Texture
    next_key: Key | None


def plan_film(
    scenes: Iterable[ScoreScene | tuple[float, float, Cue, int, Sequence[float]]],
) -> list[ScenePlan]:
    """The sounding scenes' plans in time order: ``scenes`` in any order; unusable spans (end <=
    start, or not finite) and silent scenes are left out."""
    usable = sorted((ScoreScene(*s) for s in scenes), key=lambda s: (s.start_s, s.end_s))
    usable = [
        s for s in usable if math.isfinite(s.start_s) and math.isfinite(s.end_s) and s.end_s > s.start_s
    ]
    drafts: list[tuple[ScoreScene, Key, Texture, bool]] = []  # scene, key, texture, joined to the next
    previous: tuple[ScoreScene, Key, Texture] | None = None
    for index, scene in enumerate(usable):
        if not scene.cue.sounds:
            previous = None
            continue
        dice = Dice(scene.seed, scene.cue.mood, "plan")
        key = parse_key(scene.cue.key)
        texture = _texture(STYLES[scene.cue.mood], dice, previous[2] if previous else None)
        following = usable[index + 1] if index + 1 < len(usable) else None
        joined = (
            following is not None
            and following.cue.sounds
            and abs(following.start_s - scene.end_s) < CUT_EPSILON_S
        )
        drafts.append((scene, key, texture, joined))
        previous = (scene, key, texture) if joined else None
    return [
        ScenePlan(scene, key, texture, drafts[i + 1][1] if joined and i + 1 < len(drafts) else None)
        for i, (scene, key, texture, joined) in enumerate(drafts)
    ]


def compose_film(scenes: Iterable[ScoreScene | tuple[float, float, Cue, int, Sequence[float]]]) -> list[Note]:
    """Note events for the film (``plan_film``'s scenes, each by ``compose_scene``), sorted; of notes
    that one channel starts on one pitch at one time, the loudest (then longest) is kept."""
    best: dict[tuple[float, int, int], Note] = {}
    for scene_plan in plan_film(scenes):
        for note in compose_scene(scene_plan):
            slot = (note.start_s, note.channel, note.pitch)
            kept = best.get(slot)
            if kept is None or (note.velocity, note.duration_s) > (kept.velocity, kept.duration_s):
                best[slot] = note
    return sorted(best.values())


def compose_scene(scene_plan: ScenePlan) -> list[Note]:
    """One sounding scene's notes."""
    scene, key, texture = scene_plan.scene, scene_plan.key, scene_plan.texture
    cue = scene.cue
    dice = Dice(scene.seed, cue.mood)
    _name, chord_shift, melody_shift, bass_shift, loudness = REGISTERS[texture.register]
    base = STYLES[cue.mood]
    style = replace(
        base,
        chord_low=base.chord_low + chord_shift,
        melody_low=min(base.melody_low + melody_shift, MELODY_TOP - 12),
        melody_high=min(base.melody_high + melody_shift, MELODY_TOP),
        bass_low=base.bass_low + bass_shift,
        velocity=base.velocity + loudness,
    )
    beat_s = 60.0 / cue.tempo_bpm
    programs: dict[Part, int] = {part: program(cue.instrument, cue.mood, part) for part in CHANNEL}
    length = scene.end_s - scene.start_s
    held = length < MIN_SCENE_BEATS * beat_s
    tail_s = next((b * beat_s for b in TAIL_BEATS if b * beat_s <= TAIL_MAX_S), TAIL_BEATS[-1] * beat_s)
    tail_start = scene.start_s if held else scene.end_s - tail_s
    next_key = scene_plan.next_key
    notes: list[Note] = []
    chords: list[tuple[float, Chord]] = [(scene.start_s, Chord(0))]  # (bar start, chord), for hits
    if not held:
        figure_until = scene.end_s if next_key is not None else tail_start
        notes += _body(
            scene,
            style,
            texture.figure,
            key,
            beat_s,
            programs,
            dice,
            tail_start,
            figure_until,
            chords,
            next_key,
        )
    notes += _tail(scene, style, key, programs, tail_start, tail_s, next_key, hold=held or next_key is None)
    if cue.hits:
        notes += _hits(scene, style, key, beat_s, programs, chords)
    return notes


def _texture(style: Style, dice: Dice, previous: Texture | None) -> Texture:
    """The scene's figure and register: drawn from the dice, never the previous scene's
    register, and not its figure where the mood has another."""
    figures = [
        f for f in style.figures if previous is None or f != previous.figure or len(style.figures) == 1
    ]
    registers = [r for r in range(len(REGISTERS)) if previous is None or r != previous.register]
    return Texture(figures[dice.pick(figures)], registers[dice.pick(registers)])


def _body(
    scene: ScoreScene,
    style: Style,
    figure: Figure,
    key: Key,
    beat_s: float,
    programs: dict[Part, int],
    dice: Dice,
    tail_start: float,
    figure_until: float,
    chords: list[tuple[float, Chord]],
    next_key: Key | None,
) -> list[Note]:
    """Bars from the scene's start: the melody until ``tail_start``, the accompaniment figure
    until ``figure_until`` (from ``tail_start`` on over the dominant seventh of ``next_key``);
    records each bar's chord in ``chords``."""
    stormy = scene.cue.mood == "storm"
    legato = 0.55 if scene.cue.mood in ("comedy", "hurry") else 0.95
    bar_s = style.meter * beat_s
    count = math.ceil((figure_until - scene.start_s) / bar_s - 1e-9)
    numerals = progression(style.progressions[dice.pick(style.progressions)])
    motif = style.rhythms[dice.pick(style.rhythms)]
    rhythms = [motif, motif, style.rhythms[dice.pick(style.rhythms)], _cadence_rhythm(style.meter)]
    first_degree = key.degree_near((style.melody_low + style.melody_high) // 2)
    melody_dice = Dice(scene.seed, scene.cue.mood, "melody")
    degree = first_degree
    notes: list[Note] = []
    chords.clear()
    for b in range(count):
        in_phrase = b % PHRASE_BARS
        if in_phrase == 0:  # every phrase of the scene repeats its first
            melody_dice = Dice(scene.seed, scene.cue.mood, "melody")
            degree = first_degree
        chord = numerals[in_phrase % len(numerals)]
        start = scene.start_s + b * bar_s
        chords.append((start, chord))
        bar = Bar(start, beat_s, style.meter, key, chord, style, programs, tail_start)
        velocity = style.velocity - 14 + (6 if in_phrase == 0 else 0)
        notes += accompaniment(bar, figure, velocity, stormy=stormy)
        if b == 0:  # the new strain's downbeat: its chord over its bass, once, at the cut
            downbeat: list[tuple[Part, int]] = [("bass", bass_note(key, chord, style.bass_low))]
            downbeat += [("harmony", p) for p in voice(key, chord, style.chord_low, 3)]
            notes += [
                n for part, p in downbeat if (n := bar.note(part, 0, 1, p, style.velocity - 4)) is not None
            ]
        if start + bar_s > tail_start and figure_until > tail_start:
            closing = replace(
                bar, key=next_key or key, chord=Chord(4, seventh=True), from_s=tail_start, stop_s=figure_until
            )
            notes += accompaniment(closing, figure, velocity, stormy=stormy)
        cadence = in_phrase == PHRASE_BARS - 1
        played, degree = melody(bar, rhythms[in_phrase], degree, melody_dice, style.velocity, legato, cadence)
        notes += played
    return notes


def _tail(
    scene: ScoreScene,
    style: Style,
    key: Key,
    programs: dict[Part, int],
    start_s: float,
    pickup_s: float,
    next_key: Key | None,
    hold: bool,
) -> list[Note]:
    """The transition from ``start_s`` to the cut: the tonic chord held when ``hold`` (a closing
    chord, or a scene too short for a bar), and a two-note pickup in the last ``pickup_s`` into
    the next scene's key when a sounding scene follows."""
    length = scene.end_s - start_s
    velocity = style.velocity - 10
    notes: list[Note] = []

    def add(part: Part, at: float, duration: float, pitch: int, vel: int) -> None:
        if 0 <= pitch <= 127 and duration > 0:
            notes.append(Note(at, CHANNEL[part], pitch, duration, max(1, min(127, vel)), programs[part]))

    if hold:
        tonic = Chord(0)
        for p in voice(key, tonic, style.chord_low, 3):
            add("harmony", start_s, length, p, velocity)
        add("bass", start_s, length, bass_note(key, tonic, style.bass_low), velocity + 4)
    if next_key is None:
        home = key.degree_near((style.melody_low + style.melody_high) // 2) // 7 * 7
        add("melody", start_s, length, key.pitch(home, 4), velocity)
        return notes
    home = next_key.degree_near((style.melody_low + style.melody_high) // 2) // 7 * 7
    pickup = min(length, pickup_s) / 2
    first = scene.end_s - 2 * pickup
    add("melody", first, pickup, next_key.pitch(home + 1, 4), velocity + 4)  # the 2nd degree
    add("melody", first + pickup, pickup, next_key.pitch(home - 1, 4), velocity + 8)  # the leading tone
    return notes


def _hits(
    scene: ScoreScene,
    style: Style,
    key: Key,
    beat_s: float,
    programs: dict[Part, int],
    chords: list[tuple[float, Chord]],
) -> list[Note]:
    """An accent chord at each hit time inside the scene (the bar's chord, three octaves)."""
    notes: list[Note] = []
    times = sorted({float(t) for t in scene.hit_times_s if math.isfinite(float(t))})
    for t in times:
        if not scene.start_s <= t < scene.end_s - 0.05:
            continue
        chord = Chord(0)
        for bar_start, bar_chord in chords:
            if bar_start <= t:
                chord = bar_chord
        duration = min(HIT_BEATS * beat_s, scene.end_s - t)
        pitches = (
            bass_note(key, chord, style.bass_low - 5),
            *voice(key, chord, style.chord_low + 5, 3),
            *voice(key, chord, style.melody_low + 5, 2),
        )
        notes += [Note(t, CHANNEL["accent"], p, duration, HIT_VELOCITY, programs["accent"]) for p in pitches]
    return notes


def _cadence_rhythm(meter: int) -> tuple[float, ...]:
    """A phrase's last bar: one note, then a held one (the chord's root) to the bar's end."""
    return (1.0, float(meter - 1)) if meter > 2 else (float(meter),)

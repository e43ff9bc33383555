"""The score generator, heard: tempo, mode, phrasing at cuts, tonality and speed of rendered audio.

    python -m bench.score [--seeds 1 2 3] [--instruments piano] [--moods ...] [--keep DIR]
        [--librosa]

Grid: every mood of the cue sheet x seeds x three synthetic films (lists of cut times, no video):
"slow" (60 s, shots of about 9 s, still picture), "medium" (45 s, about 4.5 s, some motion) and
"fast" (30 s, about 2.2 s, busy). A film's cues come from ``score_cue`` on a prompt naming the
mood and the instrument, with the film's pacing (its cut rate and motion energy); every scene
gets its own seed. Each render is composed and rendered with FluidSynth (media/score), then
measured with media/score/listen.py on the audio alone:

* tempo: onset-envelope autocorrelation with a log-normal tempo prior (``--librosa`` also
  prints librosa's ``beat.tempo`` on the same audio as a cross-check);
* key and mode: Krumhansl-Kessler profiles on the track's chroma;
* change points: Foote novelty peaks; a cut counts when one lies within one beat (the cue's
  tempo) of it. For scale, "mid hit" applies the same test to the middle of every scene longer
  than 4 beats, where nothing is meant to change (how often a change point lands within a beat
  of an arbitrary time), and
  "extra/min" counts the change points further than a beat from every cut;
* tonality: the share of loud frames whose top 1% of bins hold at least half the energy;
* speed: seconds of film per second of compose + render (wall clock, one process; the
  soundfont is opened once before timing starts).

Targets (issue 21): the measured mode is the mood's in >= 90% of renders; the measured tempo
orders hurry > comedy > neutral > sad in >= 90% of pairs (the six pairs of that chain, per film,
seed and instrument); a change point within one beat of >= 90% of cuts; compose + render >= 50x
realtime; and tonality: in most loud frames (> 50%, every render) the top 1% of bins hold half
the energy.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from media.score import listen
from media.score.compose import ScoreScene, compose_film
from media.score.cues import INSTRUMENTS, MOODS, Mood, Pacing, score_cue
from media.score.harmony import parse_key
from media.score.render import SAMPLE_RATE, find_soundfont, render_notes, synth_identity

# A prompt per mood, as a user would write it; the instrument's name is added.
PROMPTS: dict[Mood, str] = {
    "neutral": "music",
    "tension": "misterioso music, suspense",
    "hurry": "hurry music, a chase",
    "comedy": "comedy music, slapstick",
    "romance": "romantic music",
    "sad": "sad music",
    "triumph": "triumphant march music",
    "storm": "agitato music, storm",
    "pastoral": "pastoral music",
}
TEMPO_ORDER: tuple[Mood, ...] = ("hurry", "comedy", "neutral", "sad")


@dataclass(frozen=True)
class Film:
    name: str
    duration_s: float
    mean_shot_s: float
    motion: float
    layout_seed: int

    def cuts(self) -> list[float]:
        """Scene boundaries from 0 to the duration: shots of 0.6..1.4 x the mean length."""
        rng = random.Random(self.layout_seed)
        times = [0.0]
        while times[-1] < self.duration_s:
            times.append(round(times[-1] + self.mean_shot_s * (0.6 + 0.8 * rng.random()), 3))
        if self.duration_s - times[-2] < 0.5 * self.mean_shot_s and len(times) > 2:
            times.pop(-2)
        times[-1] = self.duration_s
        return times


FILMS = (
    Film("slow", 60.0, 9.0, 0.2, 11),
    Film("medium", 45.0, 4.5, 0.5, 12),
    Film("fast", 30.0, 2.2, 0.8, 13),
)


@dataclass(frozen=True)
class Result:
    mood: Mood
    instrument: str
    film: str
    seed: int
    cue_bpm: int
    bpm: float
    librosa_bpm: float
    cue_key: str
    key: str
    cuts_found: int
    cuts: int
    decoys_found: int  # scene middles (in scenes over 4 beats long) with a change point within one beat
    decoys: int
    extra_points: int
    tonal_frames: float
    tonal_share: float
    audio_s: float
    work_s: float

    @property
    def mode_ok(self) -> bool:
        return parse_key(self.cue_key).minor == self.key.endswith("minor")


def run_one(
    film: Film, mood: Mood, instrument: str, seed: int, use_librosa: bool, keep: Path | None
) -> Result:
    cuts = film.cuts()
    pacing = Pacing(cuts_per_minute=60.0 * (len(cuts) - 2) / film.duration_s, motion=film.motion)
    cue = score_cue(f"{PROMPTS[mood]}, {instrument}", None, pacing=pacing)
    if cue.mood != mood or not cue.sounds or cue.instrument != instrument:
        raise AssertionError(f"prompt {PROMPTS[mood]!r} gave {cue}")
    scenes = [ScoreScene(a, b, cue, seed * 1000 + i) for i, (a, b) in enumerate(itertools.pairwise(cuts))]
    samples = round(film.duration_s * SAMPLE_RATE)
    start = time.perf_counter()
    audio = render_notes(compose_film(scenes), samples)
    work = time.perf_counter() - start
    if keep is not None:
        import soundfile

        keep.mkdir(parents=True, exist_ok=True)
        soundfile.write(keep / f"{mood}-{instrument}-{film.name}-{seed}.flac", audio, SAMPLE_RATE)
    beat = 60.0 / cue.tempo_bpm
    points = listen.change_points(audio, SAMPLE_RATE)
    inner = np.array(cuts[1:-1])
    found = sum(bool(np.any(np.abs(points - c) <= beat)) for c in inner)
    middles = [(a + b) / 2 for a, b in itertools.pairwise(cuts) if b - a > 4 * beat]
    decoys = sum(bool(np.any(np.abs(points - c) <= beat)) for c in middles)
    extra = sum(not np.any(np.abs(inner - p) <= beat) for p in points) if inner.size else len(points)
    tonal_frames, tonal_share = listen.tonality(audio, SAMPLE_RATE)
    lib_bpm = float("nan")
    if use_librosa:
        import librosa

        lib_bpm = float(np.atleast_1d(librosa.beat.tempo(y=audio, sr=SAMPLE_RATE))[0])
    return Result(
        mood,
        instrument,
        film.name,
        seed,
        cue.tempo_bpm,
        listen.tempo_bpm(audio, SAMPLE_RATE),
        lib_bpm,
        cue.key,
        listen.estimate_key(audio, SAMPLE_RATE)[0],
        found,
        len(inner),
        decoys,
        len(middles),
        extra,
        tonal_frames,
        tonal_share,
        film.duration_s,
        work,
    )


def ordered_pairs(results: Sequence[Result], attribute: str) -> tuple[int, int]:
    """(pairs in the cue sheet's tempo order, pairs compared) over TEMPO_ORDER's chain."""
    groups: dict[tuple[str, str, int], dict[str, float]] = defaultdict(dict)
    for r in results:
        groups[(r.instrument, r.film, r.seed)][r.mood] = getattr(r, attribute)
    good = total = 0
    for tempos in groups.values():
        for i, fast in enumerate(TEMPO_ORDER):
            for slow in TEMPO_ORDER[i + 1 :]:
                if fast in tempos and slow in tempos:
                    total += 1
                    good += tempos[fast] > tempos[slow]
    return good, total


def table(results: Sequence[Result], use_librosa: bool) -> str:
    head = f"{'mood':<9} {'instrument':<10} {'n':>3} {'cue bpm':>9} {'bpm':>13} "
    head += f"{'librosa':>8} " if use_librosa else ""
    head += f"{'key (most)':<16} {'mode ok':>7} {'cuts hit':>9} {'mid hit':>8} {'extra/min':>9} "
    head += f"{'tonal':>6} {'x rt':>6}"
    lines = [head, "-" * len(head)]
    for instrument in dict.fromkeys(r.instrument for r in results):
        for mood in MOODS:
            rows = [r for r in results if r.mood == mood and r.instrument == instrument]
            if not rows:
                continue
            cue_bpm = f"{min(r.cue_bpm for r in rows)}-{max(r.cue_bpm for r in rows)}"
            bpm = f"{min(r.bpm for r in rows):.0f}-{max(r.bpm for r in rows):.0f}"
            keys = [r.key for r in rows]
            common = max(set(keys), key=keys.count)
            line = f"{mood:<9} {instrument:<10} {len(rows):>3} {cue_bpm:>9} {bpm:>13} "
            if use_librosa:
                line += f"{np.median([r.librosa_bpm for r in rows]):>8.0f} "
            minutes = sum(r.audio_s for r in rows) / 60
            line += (
                f"{common:<16} {np.mean([r.mode_ok for r in rows]):>7.0%} "
                f"{sum(r.cuts_found for r in rows) / max(1, sum(r.cuts for r in rows)):>9.0%} "
                f"{sum(r.decoys_found for r in rows) / max(1, sum(r.decoys for r in rows)):>8.0%} "
                f"{sum(r.extra_points for r in rows) / minutes:>9.1f} "
                f"{np.mean([r.tonal_frames for r in rows]):>6.0%} "
                f"{sum(r.audio_s for r in rows) / sum(r.work_s for r in rows):>6.0f}"
            )
            lines.append(line)
    return "\n".join(lines)


def targets(results: Sequence[Result], use_librosa: bool) -> list[tuple[str, bool]]:
    mode = float(np.mean([r.mode_ok for r in results]))
    good, total = ordered_pairs(results, "bpm")
    cuts = sum(r.cuts_found for r in results) / max(1, sum(r.cuts for r in results))
    middles = sum(r.decoys_found for r in results) / max(1, sum(r.decoys for r in results))
    speed = sum(r.audio_s for r in results) / sum(r.work_s for r in results)
    tonal_min = min(r.tonal_frames for r in results)
    out = [
        (f"mode matches the mood in {mode:.1%} of {len(results)} renders (>= 90%)", mode >= 0.9),
        (
            f"tempo orders hurry > comedy > neutral > sad in {good}/{total} pairs (>= 90%)",
            total > 0 and good >= 0.9 * total,
        ),
        (
            f"a change point within one beat of {cuts:.1%} of cuts (>= 90%; of scene middles: {middles:.0%})",
            cuts >= 0.9,
        ),
        (f"compose + render at {speed:.0f}x realtime (>= 50x)", speed >= 50),
        (
            f"tonal: in every render, {tonal_min:.0%} or more of the loud frames have half their energy "
            "in the top 1% of bins (> 50%)",
            tonal_min > 0.5,
        ),
    ]
    if use_librosa:
        lib_good, lib_total = ordered_pairs(results, "librosa_bpm")
        out.append(
            (
                f"(cross-check) librosa's tempo orders {lib_good}/{lib_total} pairs",
                lib_good >= 0.9 * lib_total,
            )
        )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--instruments", nargs="+", default=["piano"], choices=INSTRUMENTS)
    parser.add_argument("--moods", nargs="+", default=list(MOODS), choices=MOODS)
    parser.add_argument(
        "--films", nargs="+", default=[f.name for f in FILMS], choices=[f.name for f in FILMS]
    )
    parser.add_argument("--keep", type=Path, help="write every render here as FLAC")
    parser.add_argument("--librosa", action="store_true", help="cross-check tempo with librosa")
    args = parser.parse_args(argv)
    films = [f for f in FILMS if f.name in args.films]
    print(
        synth_identity(find_soundfont()), f"| load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    for film in films:
        cuts = film.cuts()
        print(f"film {film.name}: {film.duration_s:.0f} s, {len(cuts) - 2} cuts, motion {film.motion}")
    render_notes(
        compose_film([ScoreScene(0.0, 1.0, score_cue("piano music", None), 0)]), SAMPLE_RATE
    )  # open the soundfont
    results = [
        run_one(film, mood, instrument, seed, args.librosa, args.keep)
        for instrument in args.instruments
        for mood in args.moods
        for film in films
        for seed in args.seeds
    ]
    print(table(results, args.librosa))
    misses = [r for r in results if not r.mode_ok]
    if misses:
        print(
            "mode misses:", ", ".join(f"{r.mood}/{r.instrument}/{r.film}/{r.seed}: {r.key}" for r in misses)
        )
    verdicts = targets(results, args.librosa)
    for text, ok in verdicts:
        print(f"{'PASS' if ok else 'FAIL'}  {text}")
    return 0 if all(ok for _, ok in verdicts) else 1


if __name__ == "__main__":
    raise SystemExit(main())

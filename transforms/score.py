"""The restore job's score: a film cut's cue sheet, its score stem, and its part of the cut key.

Beam-free; ``transforms.assemble`` (the restore job) and ``pipelines.choose`` (a new cut from
existing stems) both call it, so a cut's score is made the same way by either. Per film cut:

1. every scene brings its span on the film's clock, its effective (layered) prompts, the seed of
   the take the cut uses, and the picture's motion onsets that take was scored against
   (``media.sync.motion_onsets`` of the frames it was generated from, kept in ``Take`` and its
   ledger object);
2. pacing is the film's (``media.score.Pacing.of_film``): its cut rate (scenes - 1 per minute) and
   a motion energy, the film's motion onsets per second (over the scenes whose onsets are known)
   divided by BUSY_ONSETS_PER_S, at most 1 (0.5 when no scene's onsets are known);
3. each scene's cue is ``media.score.score_cue`` of its prompts with the --score mode, the
   --score_instrument flag and that pacing;
4. a scene whose cue asks for hits catches its motion onsets (film clock); its score seed is its
   take's seed, so another take gives another score and the same take the same one;
5. ``media.score.score_track`` composes the film as a whole (a scene's music depends on its
   neighbours) and renders it; no scene with music, no score.

The cut key (docs/design.md, "Keys") gains ``score_key_part`` only when one scene's score sounds:
the mode, the instrument flag, ``media.score.score_identity()`` (composer, FluidSynth and
soundfont), the mix's settings (``media.score.mix.mix_identity()``), the cue sheet and a hash of
the hit times. Spans and seeds are in the unit keys already. A cut without music keeps the key it
had before the score existed, and its bytes too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from media.score import INSTRUMENTS, MODES, Cue, Pacing, ScoreScene, score_cue

BUSY_ONSETS_PER_S = 3.0  # motion onsets per second that count as the busiest picture
SCORE_TAG = "TALKIE_SCORE"  # the cut's score_key_part as JSON, in its FLAC and MKV tags
STEM_TAG = "TALKIE_STEM"  # "effects" or "score" on a stem


@dataclass(frozen=True)
class ScoreSettings:
    """The restore job's --score mode and --score_instrument (None: from the prompt, else piano)."""

    mode: str = "auto"
    instrument: str | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"score {self.mode!r}: choose one of {', '.join(MODES)}")
        if self.instrument is not None and self.instrument not in INSTRUMENTS:
            raise ValueError(
                f"score_instrument {self.instrument!r}: choose one of {', '.join(INSTRUMENTS)} "
                "(or leave it out: the prompt's, else piano)"
            )

    def flags(self) -> dict[str, str | None]:
        """As the restore job's flags (the form a runs row records)."""
        return {"score": self.mode, "score_instrument": self.instrument}


@dataclass(frozen=True)
class SceneScoreInput:
    """One scene of a cut, as the score needs it."""

    start_s: float  # film clock, from the first frame
    end_s: float
    positive_prompt: str
    negative_prompt: str
    seed: int  # the seed of the take the cut uses
    motion_onsets_s: tuple[float, ...] | None  # from the scene's start; None: unknown


@dataclass(frozen=True)
class FilmScore:
    """A cut's cue sheet (one cue per scene, in scene order) and its scenes as the composer takes them."""

    pacing: Pacing
    cues: tuple[Cue, ...]
    scenes: tuple[ScoreScene, ...]

    @property
    def sounds(self) -> bool:
        """Whether the score plays in any scene (then the cut has a score and two stems)."""
        return any(cue.sounds for cue in self.cues)


def motion_energy(scenes: Sequence[SceneScoreInput]) -> float:
    """[0, 1]: motion onsets per second over the scenes whose onsets are known, divided by
    BUSY_ONSETS_PER_S; 0.5 when none is known."""
    known = [s for s in scenes if s.motion_onsets_s is not None and s.end_s > s.start_s]
    seconds = sum(s.end_s - s.start_s for s in known)
    if not known or seconds <= 0:
        return 0.5
    onsets = sum(len(s.motion_onsets_s or ()) for s in known)
    return min(1.0, onsets / seconds / BUSY_ONSETS_PER_S)


def plan_score(scenes: Sequence[SceneScoreInput], duration_s: float, settings: ScoreSettings) -> FilmScore:
    """The cut's cue sheet and composer input (module docstring, steps 2-4)."""
    pacing = Pacing.of_film(len(scenes), duration_s, motion_energy(scenes))
    cues, scored = [], []
    for scene in scenes:
        cue = score_cue(
            scene.positive_prompt,
            scene.negative_prompt,
            mode=settings.mode,
            instrument=settings.instrument,
            pacing=pacing,
        )
        cues.append(cue)
        hits: tuple[float, ...] = ()
        if cue.sounds and cue.hits and scene.motion_onsets_s:
            length = scene.end_s - scene.start_s
            hits = tuple(scene.start_s + t for t in scene.motion_onsets_s if 0 <= t < length)
        scored.append(ScoreScene(scene.start_s, scene.end_s, cue, scene.seed, hits))
    return FilmScore(pacing=pacing, cues=tuple(cues), scenes=tuple(scored))


def render_score(score: FilmScore, num_samples: int) -> np.ndarray | None:
    """(num_samples,) float32 score stem at FluidSynth's level, or None when no scene sounds.
    Raises media.score.ScoreUnavailable when FluidSynth or the soundfont is missing."""
    if not score.sounds:
        return None
    from media.score import score_track

    return score_track(score.scenes, num_samples)


def score_key_part(score: FilmScore, settings: ScoreSettings, identity: str) -> dict[str, Any] | None:
    """What of the score enters the cut key (module docstring); None for a cut without music."""
    if not score.sounds:
        return None
    from media.score.mix import mix_identity

    hits = json.dumps([list(s.hit_times_s) for s in score.scenes], separators=(",", ":"))
    return {
        "mode": settings.mode,
        "instrument": settings.instrument,
        "identity": identity,
        "mix": mix_identity(),
        "cues": [[c.sounds, c.mood, c.tempo_bpm, c.key, c.instrument, c.hits] for c in score.cues],
        "hits_sha256": hashlib.sha256(hits.encode("utf-8")).hexdigest(),
    }


def score_tags(key_part: dict[str, Any] | None) -> dict[str, str]:
    """The cut's provenance tags for its score: ``SCORE_TAG`` (the key part as JSON); none without
    music, so a cut without music keeps its bytes."""
    if key_part is None:
        return {}
    return {SCORE_TAG: json.dumps(key_part, sort_keys=True, separators=(",", ":"), ensure_ascii=False)}


def key_part_of_tags(tags: dict[str, str]) -> dict[str, Any] | None:
    """``score_key_part`` back from a cut's FLAC tags; None for a cut without music."""
    text = tags.get(SCORE_TAG)
    if not text:
        return None
    part: dict[str, Any] = json.loads(text)
    return part


def cue_columns(cue: Cue | None) -> dict[str, Any]:
    """A scene's cue-sheet columns of the ``scenes`` table (all null without a cue)."""
    return {
        "score_sounds": None if cue is None else cue.sounds,
        "score_mood": None if cue is None else cue.mood,
        "score_tempo_bpm": None if cue is None else cue.tempo_bpm,
        "score_key": None if cue is None else cue.key,
        "score_instrument": None if cue is None else cue.instrument,
        "score_hits": None if cue is None else cue.hits,
    }

"""A film's score stem in one call, and what identifies it for cache and cut keys."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from media.score.compose import COMPOSER_VERSION, ScoreScene, compose_film
from media.score.cues import Cue
from media.score.render import render_notes, synth_identity


def score_track(
    scenes: Iterable[ScoreScene | tuple[float, float, Cue, int, Sequence[float]]],
    num_samples: int,
    *,
    soundfont: Path | None = None,
) -> np.ndarray | None:
    """(num_samples,) float32 mono at 48 kHz: the film's score, or None when no scene's cue
    sounds (the film gets no score stem). ``scenes`` as ``compose_film`` takes them, on the film's
    clock. Raises render.ScoreUnavailable when FluidSynth or the soundfont is missing."""
    listed = [ScoreScene(*s) for s in scenes]
    if not any(s.cue.sounds for s in listed):
        return None
    return render_notes(compose_film(listed), num_samples, soundfont=soundfont)


def score_identity(soundfont: Path | None = None) -> str:
    """What decides a score's bytes besides the cues, seeds, spans and hit times: the composer's
    version, FluidSynth's version and the soundfont. Hash it into the cut key."""
    return f"composer {COMPOSER_VERSION}; {synth_identity(soundfont)}"

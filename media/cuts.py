"""Scene cuts from fused evidence, robust to archival damage.

Inputs are per-frame series (media/cut_features.py, media/transnet.py):

* hard cuts: the luma ``boundary`` measure, divided by its median over the 8 frames on either
  side (repeated frames left out), is ``boundary_ratio``. A ratio of HARD_ALONE is a cut on its
  own; a smaller one (HARD_CONFIRM) is a cut when TransNetV2 marks the frame or the one before
  (>= TRANSNET_CONFIRM). TransNetV2 alone is not trusted: heavy flicker fools it.
* fades through black: a run of at least FADE_MIN_FRAMES frames whose contrast falls below
  FADE_CONTRAST of the contrast around it (the median over FADE_CONTEXT frames each side), whose
  darkest frame is below FADE_DARK of the brightness around it (a washed-out flash is bright),
  confirmed by the transition measure (GRADUAL_CONFIRM within 6 frames). The cut is the dip's
  middle frame; it wins over any other cut within 6 frames.
* gradual transitions: a local maximum of the luma ``transition`` measure of GRADUAL_ALONE, or
  of GRADUAL_CONFIRM with a TransNetV2 mark within 6 frames. Its cut is the middle of the run of
  frames where the measure stays above PLATEAU of the peak (DESIGN.md: "the cut inside a fade is
  its middle frame"); that run must last GRADUAL_MIN_FRAMES, since a lasting change of layout
  keeps the measure up while the change sits between its two windows (about 2 x GAP frames),
  and a narrower peak is a passing disturbance. A hard cut within 6 frames wins over it.

Thresholds were chosen on two foley-world tuning sets (seeds 4242 and 31337, 30 films each,
damage at full strength) and the real clips; bench/scenes.py measures them on another seed.

Frame convention: a cut "at i" means frame i is the first frame of the new shot.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

HARD_ALONE = 6.0
HARD_CONFIRM = 2.0
TRANSNET_CONFIRM = 0.2
GRADUAL_ALONE = 3.0
GRADUAL_MIN_FRAMES = 4
GRADUAL_CONFIRM = 2.0
PLATEAU = 0.6
FADE_CONTRAST = 0.4
FADE_DARK = 0.5
FADE_MIN_FRAMES = 2
FADE_CONTEXT = 24
NEIGHBOURHOOD = 8  # frames on either side for the boundary median
GRADUAL_RADIUS = 6  # a transition's peak is the largest value within this many frames


@dataclass(frozen=True)
class Cut:
    frame: int  # first frame of the new shot
    confidence: float  # 0..1
    kind: str  # "hard", "gradual" or "fade"


@dataclass(frozen=True)
class FrameScores:
    """Per-frame evidence for one film, each (frames,)."""

    boundary: np.ndarray
    transition: np.ndarray
    duplicate: np.ndarray  # bool: the frame repeats the picture before it
    transnet: np.ndarray | None  # probability that the frame ends a shot
    brightness: np.ndarray  # mean raw luma, 0..255
    contrast: np.ndarray  # standard deviation of raw luma


def boundary_ratio(boundary: np.ndarray, duplicate: np.ndarray) -> np.ndarray:
    """(frames,) boundary over the median boundary of the frames around it (repeats left out)."""
    n = boundary.shape[0]
    out = np.zeros(n, dtype=np.float32)
    for i in range(1, n):
        lo, hi = max(1, i - NEIGHBOURHOOD), min(n, i + NEIGHBOURHOOD + 1)
        around = [k for k in range(lo, hi) if k != i and not duplicate[k]]
        local = float(np.median(boundary[around])) if around else 0.0
        out[i] = boundary[i] / max(local, 0.02)
    return out


def hard_cuts(scores: FrameScores) -> dict[int, Cut]:
    ratio = boundary_ratio(scores.boundary, scores.duplicate)
    marks = np.zeros_like(ratio) if scores.transnet is None else scores.transnet
    near_mark = np.maximum(marks, np.concatenate([[0.0], marks[:-1]]))  # frame i or i-1 marked
    cuts = {}
    for i in np.flatnonzero(
        (ratio >= HARD_ALONE) | ((ratio >= HARD_CONFIRM) & (near_mark >= TRANSNET_CONFIRM))
    ):
        if i > 0:
            conf = max(float(near_mark[i]), min(1.0, float(ratio[i]) / (2 * HARD_ALONE)))
            cuts[int(i)] = Cut(int(i), round(conf, 4), "hard")
    return cuts


def gradual_cuts(scores: FrameScores, hard: dict[int, Cut]) -> dict[int, Cut]:
    g = scores.transition
    n = g.shape[0]
    marks = np.zeros(n) if scores.transnet is None else scores.transnet
    cuts = {}
    for m in range(1, n - 1):
        lo, hi = max(0, m - GRADUAL_RADIUS), min(n, m + GRADUAL_RADIUS + 1)
        if g[m] < g[lo:hi].max() or (m > lo and g[m] == g[m - 1]):
            continue  # not the (first) peak of its neighbourhood
        mark = float(marks[lo:hi].max())
        if not (g[m] >= GRADUAL_ALONE or (g[m] >= GRADUAL_CONFIRM and mark >= TRANSNET_CONFIRM)):
            continue
        if any(abs(k - m) <= GRADUAL_RADIUS for k in hard):
            continue
        a, b = m, m
        while a > 0 and g[a - 1] >= PLATEAU * g[m]:
            a -= 1
        while b < n - 1 and g[b + 1] >= PLATEAU * g[m]:
            b += 1
        if b - a + 1 < GRADUAL_MIN_FRAMES:
            continue
        frame = (a + b + 1) // 2
        if 0 < frame < n:
            conf = max(mark, min(1.0, float(g[m]) / (2 * GRADUAL_ALONE)))
            cuts[frame] = Cut(frame, round(conf, 4), "gradual")
    return cuts


def fade_cuts(scores: FrameScores) -> dict[int, Cut]:
    n = scores.contrast.shape[0]

    def around(series: np.ndarray) -> np.ndarray:
        return np.array(
            [np.median(series[max(0, i - FADE_CONTEXT) : i + FADE_CONTEXT + 1]) for i in range(n)]
        )

    flat = scores.contrast < FADE_CONTRAST * around(scores.contrast)
    usual_brightness = around(scores.brightness)
    cuts = {}
    i = 0
    while i < n:
        if not flat[i]:
            i += 1
            continue
        j = i
        while j + 1 < n and flat[j + 1]:
            j += 1
        frame = (i + j + 1) // 2
        darkest = i + int(np.argmin(scores.brightness[i : j + 1]))
        # A dip inside the film (not its first or last frames) that goes dark.
        if (
            j - i + 1 >= FADE_MIN_FRAMES
            and i > 0
            and j < n - 1
            and (scores.brightness[darkest] < FADE_DARK * usual_brightness[darkest])
        ):
            peak = float(scores.transition[max(0, frame - GRADUAL_RADIUS) : frame + GRADUAL_RADIUS + 1].max())
            if peak >= GRADUAL_CONFIRM:
                cuts[frame] = Cut(frame, round(min(1.0, peak / (2 * GRADUAL_ALONE)), 4), "fade")
        i = j + 1
    return cuts


def candidate_cuts(scores: FrameScores) -> list[Cut]:
    """Every cut the fused evidence supports, before the minimum scene length is applied."""
    hard = hard_cuts(scores)
    cuts = {**gradual_cuts(scores, hard), **hard}
    for frame, fade in fade_cuts(scores).items():
        cuts = {f: c for f, c in cuts.items() if abs(f - frame) > GRADUAL_RADIUS}
        cuts[frame] = fade
    return sorted(cuts.values(), key=lambda c: c.frame)


def enforce_min_length(
    cuts: list[Cut], frame_seconds: np.ndarray, end_s: float, min_scene_s: float
) -> list[Cut]:
    """Keep the most confident cuts such that every scene lasts at least ``min_scene_s``.

    ``frame_seconds[i]`` is frame i's start in seconds from the first frame; the film ends at
    ``end_s``. Cuts are taken in order of confidence; one that would make a scene too short
    (against the film's start and end too) is dropped."""
    kept: list[Cut] = []
    for cut in sorted(cuts, key=lambda c: (-c.confidence, c.frame)):
        t = frame_seconds[cut.frame]
        bounds = [0.0, end_s] + [frame_seconds[k.frame] for k in kept]
        if all(abs(t - b) >= min_scene_s - 1e-9 for b in bounds):
            kept.append(cut)
    return sorted(kept, key=lambda c: c.frame)

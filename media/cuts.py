"""Scene cuts from fused evidence, robust to archival damage.

Inputs are per-frame series (media/cut_features.py, media/transnet.py):

* hard cuts: the luma ``boundary`` measure, divided by its median over the 8 frames on either
  side (repeated frames left out), is ``boundary_ratio``. A ratio of HARD_ALONE is a cut on its
  own; a smaller one (HARD_CONFIRM) is a cut when TransNetV2 marks the frame or the one before
  (>= TRANSNET_CONFIRM). TransNetV2 alone is not trusted: heavy flicker fools it. Candidates
  within HARD_MERGE frames of each other are one cut, on the frame of the highest ratio.
* fades through black: a run of at least FADE_MIN_FRAMES frames whose contrast falls below
  FADE_CONTRAST of the contrast around it (the median over FADE_CONTEXT frames each side), whose
  darkest frame is below FADE_DARK of the brightness around it (a washed-out flash is bright),
  confirmed by the transition measure (GRADUAL_CONFIRM within 6 frames). The cut is the dip's
  middle frame; it wins over any other cut within 6 frames.
* gradual transitions: a local maximum of the luma ``transition`` measure of GRADUAL_ALONE, or
  of GRADUAL_CONFIRM with a TransNetV2 mark within 6 frames. Its cut is the middle of the run of
  frames where the measure stays above PLATEAU of the peak (docs/design.md: "the cut inside a fade is
  its middle frame"); that run must last GRADUAL_MIN_FRAMES, since a lasting change of layout
  keeps the measure up while the change sits between its two windows (about 2 x GAP frames),
  and a narrower peak is a passing disturbance. A hard cut wins over it when the cut lies
  between the peak's two windows (within GAP + SIDE frames of it) or inside its run.

Hard cuts land on their exact frame; see ``gradual_cuts`` and ``hard_cuts`` for the two ways a
drifting periodic texture used to pull one off it. When the minimum scene length makes a hard
cut and a gradual one compete, equal confidence goes to the hard cut.

Thresholds were chosen on two foley-world tuning sets (seeds 4242 and 31337, 30 films each,
damage at full strength) and the real clips; bench/scenes.py measures them on another seed.

Frame convention: a cut "at i" means frame i is the first frame of the new shot.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from media.cut_features import GAP, SIDE

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
HARD_MERGE = 2  # hard candidates this close are one cut (the boundary measure reads i-3 .. i+2)
CUT_SPAN = GAP + SIDE  # transition[m] compares [m-CUT_SPAN, m-GAP) with [m+GAP, m+CUT_SPAN)


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
    """Frames whose boundary ratio makes them a cut, one frame per cut.

    TransNetV2 marks the last frame of a shot, c - 1, and a mark confirms frame i when it sits on
    i or i - 1, so one mark confirms both c - 1 and c. Frame c - 1 passes too when the outgoing
    shot changes fast from frame to frame (a drifting texture) while the incoming one is calm: its
    ratio is taken over a median that the calm frames after the cut pull down. Both then carry the
    mark's confidence, and the minimum scene length, breaking the tie by the earlier frame, kept
    c - 1. So candidates within HARD_MERGE frames are one cut: the frame with the highest ratio
    (the only one whose every frame pair straddles the change), with the best confidence of them.
    """
    ratio = boundary_ratio(scores.boundary, scores.duplicate)
    marks = np.zeros_like(ratio) if scores.transnet is None else scores.transnet
    near_mark = np.maximum(marks, np.concatenate([[0.0], marks[:-1]]))  # frame i or i-1 marked
    found = [
        int(i)
        for i in np.flatnonzero(
            (ratio >= HARD_ALONE) | ((ratio >= HARD_CONFIRM) & (near_mark >= TRANSNET_CONFIRM))
        )
        if i > 0
    ]
    cuts = {}
    start = 0
    while start < len(found):
        end = start + 1
        while end < len(found) and found[end] - found[end - 1] <= HARD_MERGE:
            end += 1
        group = found[start:end]
        frame = max(group, key=lambda i: (float(ratio[i]), -i))
        conf = max(max(float(near_mark[i]), min(1.0, float(ratio[i]) / (2 * HARD_ALONE))) for i in group)
        cuts[frame] = Cut(frame, round(conf, 4), "hard")
        start = end
    return cuts


def gradual_cuts(scores: FrameScores, hard: dict[int, Cut]) -> dict[int, Cut]:
    """Peaks of the transition measure that last, each cut at the middle of its run.

    Why a hard cut used to be reported 7 frames early, inside the outgoing shot, when that shot
    was a drifting periodic texture (stripes, water) under flicker, grain and weave:

    * such a shot holds ``transition`` near 2 all through, on its own: while the texture moves
      less than a stripe, its 8x6 block layout changes in proportion to the distance moved, so
      the two windows around m (15 frames apart) differ about twice as much as each differs from
      the window beyond it (5 frames apart: the "within" term that was to cancel steady motion).
      Weave, and stripes beating against the 8-pixel blocks, add bumps up to 3-7.
      The cut itself raises it little (about 1.1 at the cut in the measured case): two striped
      layouts differ from each other hardly more than one drifting texture from itself;
    * a hard cut silenced only peaks within GRADUAL_RADIUS (6) of it, while any TransNetV2 mark
      within GRADUAL_RADIUS of a peak confirmed it. A peak of the outgoing texture at c - 7 (the
      largest value of c - 13 .. c - 1, since the measure falls as its windows reach the cut)
      was confirmed by the cut's own mark on c - 1, six frames away, yet escaped the cut, seven
      frames away. Its run of frames above PLATEAU of it stayed inside the outgoing shot (c - 12
      .. c - 2), so its cut went to the middle, c - 7;
    * its confidence was that same mark, equal to the hard cut's unless the luma ratio was above
      12 x the mark, and ``enforce_min_length`` gave the tie to the earlier frame: the gradual
      cut stayed, the hard cut went. A bump of GRADUAL_ALONE or more needs no mark, and its
      confidence (value / 6) beats a hard cut's luma ratio below twice the bump's value.

    So a hard cut now explains every peak within CUT_SPAN (10) of it, which covers every m whose
    two windows the cut falls between or inside, and so every peak that could borrow its mark;
    and every run of frames that contains it (the run then holds the cut's own response). At 24
    frames a second a scene of 0.5 s is 12 frames: a real gradual cut this close to a hard one
    could not have been kept beside it anyway.
    """
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
        if any(abs(k - m) < CUT_SPAN for k in hard):
            continue
        a, b = m, m
        while a > 0 and g[a - 1] >= PLATEAU * g[m]:
            a -= 1
        while b < n - 1 and g[b + 1] >= PLATEAU * g[m]:
            b += 1
        if b - a + 1 < GRADUAL_MIN_FRAMES or any(a <= k <= b for k in hard):
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
    ``end_s``. Cuts are taken in order of confidence, a hard cut before a gradual one of equal
    confidence (it is pinned to a frame; the gradual measure reads 15 frames either side); one that
    would make a scene too short (against the film's start and end too) is dropped."""
    kept: list[Cut] = []
    for cut in sorted(cuts, key=lambda c: (-c.confidence, c.kind == "gradual", c.frame)):
        t = frame_seconds[cut.frame]
        bounds = [0.0, end_s] + [frame_seconds[k.frame] for k in kept]
        if all(abs(t - b) >= min_scene_s - 1e-9 for b in bounds):
            kept.append(cut)
    return sorted(kept, key=lambda c: c.frame)

"""Hard cuts between drifting periodic textures (stripes, water) under heavy flicker, grain and weave.

Such a shot keeps the gradual-transition measure near 2 all through (see media/cuts.py,
``gradual_cuts``), and its fast frame-to-frame change lifts the boundary ratio of the frame
before the cut when the incoming shot is calmer (``hard_cuts``). Either used to move a hard cut
off its frame, into the outgoing shot.
"""

from __future__ import annotations

import numpy as np
import pytest

from media.cuts import FrameScores, candidate_cuts, enforce_min_length
from media.shard import shard_film

FPS = 24


def stripes(frames: int, period: float, drift: float, angle: float, phase: float) -> np.ndarray:
    """(frames, 96, 128, 3) float32 sinusoidal stripes drifting ``drift`` pixels a frame across them."""
    yy, xx = np.mgrid[0:96, 0:128].astype(np.float32)
    across = xx * np.cos(angle) + yy * np.sin(angle)
    t = np.arange(frames, dtype=np.float32)[:, None, None]
    wave = np.sin(2 * np.pi * (across[None] - drift * t) / period + phase)
    return np.repeat((60 + 140 * (wave + 1) / 2)[..., None], 3, axis=-1)


def striped_film(
    seed: int,
    drift_before: float,
    drift_after: float,
    cut: int,
    after: int = 48,
    grain: float = 0.04,
    weave: float = 0.7,
    turn: float = np.pi / 2,
) -> np.ndarray:
    """Two shots of drifting stripes, the second at a different angle, joined by a hard cut at
    ``cut``, then damaged: heavy flicker of brightness and contrast, grain and gate weave."""
    from model.synth.damage import DamageParams, apply_damage

    rng = np.random.default_rng(seed)
    before = stripes(
        cut, 32 + 4 * (seed % 3), drift_before, rng.uniform(-0.3, 0.3), rng.uniform(0, 2 * np.pi)
    )
    angle, phase = turn + rng.uniform(-0.3, 0.3), rng.uniform(0, 2 * np.pi)
    after_shot = stripes(after, 28 + 4 * (seed % 2), drift_after, angle, phase)
    frames = np.clip(np.concatenate([before, after_shot]), 0, 255).astype(np.uint8)
    damage = DamageParams(
        strength=1.0, grain=grain, flicker=0.2, contrast=0.2, weave_px=weave, monochrome=True
    )
    return apply_damage(frames, damage, rng)[0]


@pytest.mark.parametrize(
    "seed, drift_before, drift_after, cut, turn",
    [
        # The outgoing stripes drift twice as fast as the incoming ones: the frame before the cut
        # passed as a hard cut too, with the same TransNetV2 mark, and won (one frame early).
        (0, 1.0, 0.5, 50, np.pi / 2),
        (1, 1.0, 0.5, 42, np.pi / 2),
        (6, 1.0, 0.5, 56, np.pi / 2),
        (6, 1.2, 0.4, 56, np.pi / 2),
        # The outgoing stripes' transition measure peaks 7 frames before the cut: a gradual cut
        # there escaped the hard cut's 6 frames and outranked it (five frames early).
        (0, 0.6, 0.3, 37, 0.5),
    ],
    ids=["frame-before-0", "frame-before-1", "frame-before-6", "frame-before-6-fast", "peak-7-early"],
)
def test_hard_cut_between_drifting_stripes_lands_on_its_frame(
    film, seed, drift_before, drift_after, cut, turn
):
    frames = striped_film(seed, drift_before, drift_after, cut, turn=turn)
    _, scenes = shard_film(film(f"stripes_{seed}_{cut}.mp4", frames, fps=FPS))
    found = [s.start_frame for s in scenes[1:]]
    # Scenes last at least 0.5 s (12 frames): any other cut this close would be this one, misplaced.
    # (Drifting stripes can still raise a false gradual cut farther away; that is not asserted here.)
    assert [f for f in found if abs(f - cut) < FPS // 2] == [cut], (found, cut)


def series(n: int, **overrides: np.ndarray) -> FrameScores:
    rng = np.random.default_rng(1)
    fields: dict[str, np.ndarray | None] = dict(
        boundary=rng.uniform(0.9, 1.1, n),
        transition=rng.uniform(0.9, 1.1, n),
        duplicate=np.zeros(n, dtype=bool),
        transnet=np.zeros(n, dtype=np.float32),
        brightness=np.full(n, 120.0),
        contrast=np.full(n, 40.0),
    )
    fields.update(overrides)
    return FrameScores(**fields)  # type: ignore[arg-type]


def cuts_of(scores: FrameScores) -> list[tuple[int, str]]:
    """The cuts shard_film keeps at 24 frames a second with 0.5 s scenes."""
    n = scores.boundary.shape[0]
    kept = enforce_min_length(candidate_cuts(scores), np.arange(n) / FPS, n / FPS, 0.5)
    return [(c.frame, c.kind) for c in kept]


def test_a_drifting_textures_transition_peak_7_frames_early_does_not_take_the_cut():
    """The transition measure around a cut out of drifting stripes, frames cut-20 .. cut+11 as
    measured on ``striped_film(0, 0.6, 0.3, 38)``: near 2 in the outgoing shot, peaking 7 frames
    before the cut, barely raised by the cut itself. The cut's TransNetV2 mark sits on its last
    frame (0.70 there, where the luma ratio of 9.4 outranked it; here the cut is weaker)."""
    n, cut = 80, 40
    s = series(n)
    s.transition[cut - 20 : cut + 12] = [
        1.23, 1.03, 0.87, 0.84, 0.84, 0.90, 1.18, 1.59, 2.19, 2.18, 2.01, 2.43, 2.76, 2.84, 2.45, 2.01,
        1.98, 2.07, 1.77, 1.42, 1.09, 1.02, 0.98, 0.86, 0.86, 0.86, 0.96, 1.16, 1.23, 1.03, 0.90, 1.01,
    ]  # fmt: skip
    s.boundary[cut] = 5.0  # a cut by luma, confirmed by TransNetV2 (as strongly as the peak is)
    s.transnet[cut - 1] = 0.9
    assert cuts_of(s) == [(cut, "hard")]


def test_the_frame_before_a_cut_out_of_a_fast_drifting_shot_is_not_the_cut():
    """A fast-changing outgoing shot lifts the ratio of the frame before the cut over HARD_CONFIRM;
    TransNetV2's mark on that frame confirms it as much as the cut itself."""
    n, cut = 80, 40
    s = series(n)
    s.boundary[:cut] = 1.6  # the outgoing shot changes fast, the incoming one slowly
    s.boundary[cut - 1] = 3.5
    s.boundary[cut] = 6.5
    s.transnet[cut - 1] = 0.9
    assert cuts_of(s) == [(cut, "hard")]

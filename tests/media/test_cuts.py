"""Gradual transitions and the foley world's ground truth."""

from __future__ import annotations

import json

import numpy as np

from media.cuts import FrameScores
from media.shard import shard_film
from tests.films import textured_shots


def layout_shots(lengths: list[int], seed: int) -> np.ndarray:
    """Shots with coarse composition (32-pixel blocks, as sky, walls and figures give a real
    picture); the gradual-transition measure compares compositions, not fine texture."""
    rng = np.random.default_rng(seed)
    shots = []
    for length in lengths:
        layout = np.kron(rng.integers(0, 256, (3, 4, 3)), np.ones((32, 32, 1))).astype(np.uint8)
        shots.append(np.repeat(layout[None], length, axis=0))
    return np.concatenate(shots)


def test_fade_through_black_is_cut_at_its_middle(film):
    a, b = np.split(textured_shots([36, 36], seed=21, pan=1).astype(np.float32), 2)
    ramp = np.linspace(1, 0, 7)[1:, None, None, None]  # six frames down to black, six back up
    frames = np.concatenate([a[:30], a[30:] * ramp, b[:6] * ramp[::-1], b[6:]])
    _, scenes = shard_film(film("fade.mp4", frames.astype(np.uint8)))
    # Fade frames 30..41; the middle frame is 36.
    assert len(scenes) == 2 and abs(scenes[1].start_frame - 36) <= 1, [s.start_frame for s in scenes]


def test_dissolve_is_cut_at_its_middle(film):
    a, b = np.split(layout_shots([40, 40], seed=22).astype(np.float32), 2)
    mix = np.linspace(0, 1, 12)[:, None, None, None]
    frames = np.concatenate([a[:30], a[30:] * (1 - mix[:10]) + b[:10] * mix[:10], b[10:]])
    _, scenes = shard_film(film("dissolve.mp4", frames.astype(np.uint8)))
    assert len(scenes) == 2 and abs(scenes[1].start_frame - 35) <= 1, [s.start_frame for s in scenes]


def test_foley_world_cuts_match_ground_truth(tmp_path):
    from model.synth import write_collection

    write_collection(tmp_path, films=3, seed=77, workers=1)
    for truth_file in sorted(tmp_path.glob("foley_*.json")):
        truth = json.loads(truth_file.read_text())
        _, scenes = shard_film(str(truth_file.with_suffix(".mp4")))
        found = [s.start_frame for s in scenes[1:]]
        assert len(found) == len(truth["cuts_at_frames"]), (truth_file.name, found, truth["cuts_at_frames"])
        assert all(abs(f - t) <= 1 for f, t in zip(found, truth["cuts_at_frames"])), (
            found,
            truth["cuts_at_frames"],
        )


def series(n: int = 60, **overrides) -> FrameScores:
    rng = np.random.default_rng(0)
    fields = dict(
        boundary=rng.uniform(0.9, 1.1, n),
        transition=rng.uniform(0.9, 1.1, n),
        duplicate=np.zeros(n, dtype=bool),
        transnet=np.zeros(n, dtype=np.float32),
        brightness=np.full(n, 120.0),
        contrast=np.full(n, 40.0),
    )
    fields.update(overrides)
    return FrameScores(**fields)


def test_fusion_rules_on_hand_made_evidence():
    from media.cuts import HARD_ALONE, HARD_CONFIRM, candidate_cuts

    strong = series()
    strong.boundary[20] = HARD_ALONE + 1
    assert [(c.frame, c.kind) for c in candidate_cuts(strong)] == [(20, "hard")]

    weak = series()
    weak.boundary[20] = HARD_CONFIRM + 0.5
    assert candidate_cuts(weak) == []  # luma evidence too weak on its own
    weak.transnet[19] = 0.9  # TransNetV2 marks the last frame of the old shot
    assert [c.frame for c in candidate_cuts(weak)] == [20]

    marked_only = series()
    marked_only.transnet[30] = 0.99
    assert candidate_cuts(marked_only) == []  # TransNetV2 alone is not trusted

    fade = series()
    fade.contrast[28:33] = 2.0
    fade.brightness[28:33] = 5.0
    fade.transition[24:37] = 2.5
    assert [(c.frame, c.kind) for c in candidate_cuts(fade)] == [(30, "fade")]

    flash = series()  # a washed-out bright frame has no contrast either, but it is not a fade
    flash.contrast[28:31] = 2.0
    flash.brightness[28:31] = 250.0
    flash.transition[24:37] = 2.5
    assert candidate_cuts(flash) == []


def test_a_gradual_transition_must_last_to_be_a_cut():
    from media.cuts import GRADUAL_ALONE, GRADUAL_MIN_FRAMES, candidate_cuts

    dissolve = series()
    dissolve.transition[26:35] = GRADUAL_ALONE + 0.5  # nine frames above the plateau: the middle is 30
    assert [(c.frame, c.kind) for c in candidate_cuts(dissolve)] == [(30, "gradual")]

    passing = series()  # as high, but narrower than a lasting change of layout can make it
    passing.transition[30 : 30 + GRADUAL_MIN_FRAMES - 1] = GRADUAL_ALONE + 0.5
    assert candidate_cuts(passing) == []

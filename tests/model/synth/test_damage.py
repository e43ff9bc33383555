from __future__ import annotations

import numpy as np
import pytest

from model.synth.damage import DamageParams, apply_damage, degrade, hold_frames


@pytest.fixture(scope="module")
def clip():
    rng = np.random.default_rng(0)
    base = np.linspace(40, 200, 64 * 48 * 3).reshape(48, 64, 3)
    frames = np.stack([np.roll(base, 2 * i, axis=1) for i in range(24)]) + rng.integers(
        0, 10, (24, 48, 64, 3)
    )
    return frames.astype(np.uint8)


@pytest.mark.parametrize("strength", [0.2, 0.6, 1.0])
def test_damage_changes_pixels_and_keeps_shape(clip, strength):
    out = degrade(clip, np.random.default_rng(1), strength)
    assert out.shape == clip.shape and out.dtype == np.uint8
    assert (out != clip).mean() > 0.3


def test_strength_zero_is_identity(clip):
    out = degrade(clip, np.random.default_rng(1), 0.0)
    assert np.array_equal(out, clip) and out is not clip
    assert DamageParams.draw(np.random.default_rng(2), 0.0).is_identity()


def test_damage_is_seeded(clip):
    a = degrade(clip, np.random.default_rng(7), 0.8)
    b = degrade(clip, np.random.default_rng(7), 0.8)
    c = degrade(clip, np.random.default_rng(8), 0.8)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_bad_input_is_refused(clip):
    with pytest.raises(ValueError, match="strength"):
        degrade(clip, np.random.default_rng(0), 1.5)
    with pytest.raises(ValueError, match="uint8"):
        apply_damage(clip.astype(np.float32), DamageParams(grain=0.1), np.random.default_rng(0))


def test_monochrome_and_sepia(clip):
    grey, _ = apply_damage(clip, DamageParams(strength=1.0, monochrome=True), np.random.default_rng(0))
    assert np.array_equal(grey[..., 0], grey[..., 1]) and np.array_equal(grey[..., 1], grey[..., 2])
    sepia, _ = apply_damage(
        clip, DamageParams(strength=1.0, monochrome=True, sepia=1.0), np.random.default_rng(0)
    )
    assert (sepia[..., 0].astype(int) >= sepia[..., 2]).all() and (sepia[..., 0] > sepia[..., 2]).mean() > 0.9


def test_flash_is_a_single_bright_frame(clip):
    out, log = apply_damage(clip, DamageParams(strength=1.0, flash_prob=0.15), np.random.default_rng(3))
    assert log.flash_frames
    lum = out.mean(axis=(1, 2, 3))
    for t in log.flash_frames:
        assert lum[t] > clip[t].mean() + 40


def test_scratches_persist_over_frames():
    flat = np.full((30, 40, 50, 3), 100, np.uint8)
    out, log = apply_damage(flat, DamageParams(strength=1.0, scratch_rate=0.3), np.random.default_rng(4))
    assert log.scratches > 0
    marked = (out != 100).any(axis=(1, 3))  # (frames, columns)
    runs = [marked[t : t + 3].all(axis=0).any() for t in range(28)]
    assert any(runs), "a scratch stays for at least three frames"


def test_gate_weave_moves_the_picture():
    frame = np.zeros((1, 40, 50, 3), np.uint8)
    frame[:, 18:22, 23:27] = 255
    clip = np.repeat(frame, 40, axis=0)
    out, _ = apply_damage(clip, DamageParams(strength=1.0, weave_px=2.0), np.random.default_rng(5))
    centres = {tuple(np.argwhere(out[t, :, :, 0] > 128).mean(axis=0).round()) for t in range(40)}
    assert len(centres) > 3


def test_hold_frames_repeats_pictures():
    clip = np.arange(20, dtype=np.uint8)[:, None, None, None] * np.ones((1, 4, 4, 3), np.uint8)
    out, repeated = hold_frames(clip, 16, 20)
    assert out.shape == clip.shape and repeated == [4, 9, 14, 19]
    for i in repeated:
        assert np.array_equal(out[i], out[i - 1])
    assert len(np.unique(out[:, 0, 0, 0])) == 16
    same, none = hold_frames(clip, 20, 20)
    assert np.array_equal(same, clip) and none == []

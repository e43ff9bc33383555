"""bench/damage_levels.py's measurements on clips whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from bench import damage_levels
from model.synth.damage import DamageParams, apply_damage


def smooth_image(rng: np.random.Generator, size: int = 64) -> np.ndarray:
    """A random picture with detail at several scales (its Fourier amplitudes fall as 1/f)."""
    f = np.fft.fftfreq(size)
    radius = np.hypot(*np.meshgrid(f, f, indexing="ij"))
    spectrum = (rng.standard_normal((size, size)) + 1j * rng.standard_normal((size, size))) / np.maximum(
        radius, 1 / size
    )
    return np.real(np.fft.ifft2(spectrum))


def fourier_shift(image: np.ndarray, dy: float, dx: float) -> np.ndarray:
    fy, fx = np.meshgrid(np.fft.fftfreq(image.shape[0]), np.fft.fftfreq(image.shape[1]), indexing="ij")
    return np.real(np.fft.ifft2(np.fft.fft2(image) * np.exp(-2j * np.pi * (fy * dy + fx * dx))))


@pytest.mark.parametrize("dy, dx", [(2.0, -3.0), (0.5, 0.0), (-0.3, 1.25)])
def test_global_shift_finds_whole_and_fractional_pixel_moves(dy, dx):
    image = smooth_image(np.random.default_rng(0))
    found = damage_levels.global_shift(fourier_shift(image, dy, dx), image)
    np.testing.assert_allclose(found, [dy, dx], atol=0.2)


def still_clip(frames: int = 24) -> np.ndarray:
    """(T, 64, 64) uint8: one still picture and a small square crossing it."""
    picture = smooth_image(np.random.default_rng(1))
    picture = (picture - picture.min()) / (picture.max() - picture.min())
    clip = np.repeat((40 + 170 * picture)[None], frames, axis=0)
    for t in range(frames):
        clip[t, 30:33, 2 * t + 4 : 2 * t + 7] = 250
    return np.rint(clip).astype(np.uint8)


def test_damage_raises_the_noise_floor_and_jitter_and_repeats_are_ignored():
    clip = still_clip()
    clean = damage_levels.damage_statistics(clip)
    assert clean["noise floor"] == pytest.approx(0.0, abs=1e-3)  # the still quarter does not change
    assert clean["jitter p90"] < 0.05
    rgb = np.repeat(clip[..., None], 3, axis=-1)
    grain, _ = apply_damage(rgb, DamageParams(grain=0.05), np.random.default_rng(2))
    grain = grain[..., 0]
    grainy = damage_levels.damage_statistics(grain)
    assert grainy["noise floor"] > 0.05 and grainy["frame change"] > clean["frame change"]
    # every frame twice (a telecine-like cadence): the repeats are dropped before measuring
    assert damage_levels.damage_statistics(np.repeat(grain, 2, axis=0)) == pytest.approx(grainy)
    weave, _ = apply_damage(rgb, DamageParams(weave_px=1.5), np.random.default_rng(3))
    assert damage_levels.damage_statistics(weave[..., 0])["jitter p90"] > 0.5

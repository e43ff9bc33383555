"""media.blend: window starts, exact pass-through of a shared signal, and no measurable seam."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import butter, lfilter

from media.blend import blend_windows, raised_cosine, window_starts

L, OVERLAP = 16000, 4000  # 1 s windows at 16 kHz sharing 0.25 s


def spectral_flux(x: np.ndarray, n: int = 512, hop: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """(frames - 1,) mean positive change of log magnitude between Hann frames, and each value's
    centre sample (the boundary between the two frames it compares)."""
    frames = np.lib.stride_tricks.sliding_window_view(x.astype(np.float64), n)[::hop] * np.hanning(n)
    log_mag = np.log(np.abs(np.fft.rfft(frames, axis=1)) + 1e-6)
    flux = np.maximum(np.diff(log_mag, axis=0), 0).mean(axis=1)
    centres = np.arange(1, flux.shape[0] + 1) * hop + n // 2
    return flux, centres


def red_noise(seed: int, length: int = L) -> np.ndarray:
    """Low-passed noise: little energy above 400 Hz, so a discontinuity would stand out as a click."""
    b, a = butter(4, 0.05)
    y = lfilter(b, a, np.random.default_rng(seed).standard_normal(length))
    return (0.15 * y / y.std()).astype(np.float32)


def boundary_and_elsewhere(signal: np.ndarray, boundary: int, half_width: int) -> tuple[float, float]:
    flux, centres = spectral_flux(signal)
    near = np.abs(centres - boundary) <= half_width + 512
    return float(flux[near].max()), float(flux[~near].max())


def test_window_starts_cover_the_total():
    assert window_starts(0, 100, 75) == []
    assert window_starts(60, 100, 75) == [0]
    assert window_starts(100, 100, 75) == [0]
    assert window_starts(101, 100, 75) == [0, 75]
    assert window_starts(250, 100, 75) == [0, 75, 150]  # the last ends exactly at 250
    assert window_starts(251, 100, 75) == [0, 75, 150, 225]  # ... and now runs past the end
    for total in range(1, 400):
        starts = window_starts(total, 100, 60)
        assert starts[-1] + 100 >= total and (len(starts) == 1 or starts[-2] + 100 < total)


@pytest.mark.parametrize("args", [(10, 0, 5), (10, 8, 9), (10, 8, 3), (-1, 8, 6), (10, 8.0, 6)])
def test_window_starts_rejects_bad_settings(args):
    with pytest.raises(ValueError):
        window_starts(*args)


def test_weights_are_complementary_and_symmetric():
    r = raised_cosine(1000)
    assert 0 < r[0] < 1e-5 and 1 - 1e-5 < r[-1] < 1
    np.testing.assert_allclose(r + r[::-1], 1.0, atol=1e-15)
    assert np.all(np.diff(r) > 0)


def test_a_signal_present_in_both_windows_passes_unchanged():
    total = 40_000
    starts = window_starts(total, L, L - OVERLAP)
    signal = np.random.default_rng(1).standard_normal(starts[-1] + L).astype(np.float32)
    windows = [signal[s : s + L] for s in starts]
    out = blend_windows(windows, starts, total, OVERLAP)
    assert out.dtype == np.float32 and out.shape == (total,)
    np.testing.assert_array_equal(out, signal[:total])  # exactly, not approximately


def test_the_overlap_is_a_raised_cosine_crossfade():
    a, b = np.ones(L, np.float32), np.full(L, 3.0, np.float32)
    out = blend_windows([a, b], [0, L - OVERLAP], 2 * L - OVERLAP, OVERLAP)
    np.testing.assert_array_equal(out[: L - OVERLAP], 1.0)
    np.testing.assert_array_equal(out[L:], 3.0)
    np.testing.assert_allclose(out[L - OVERLAP : L], 1 + 2 * raised_cosine(OVERLAP), rtol=1e-6)


def test_samples_past_total_are_dropped():
    windows = [np.full(100, i + 1.0, np.float32) for i in range(3)]
    out = blend_windows(windows, [0, 80, 160], 200, 20)
    assert out.shape == (200,)
    np.testing.assert_array_equal(out[180:], 3.0)


def test_a_shorter_last_overlap_is_crossfaded_over_what_is_shared():
    windows = [np.full(100, 1.0, np.float32), np.full(100, 2.0, np.float32)]
    out = blend_windows(windows, [0, 90], 190, 20)  # shares 10 of at most 20
    np.testing.assert_array_equal(out[:90], 1.0)
    np.testing.assert_allclose(out[90:100], 1 + raised_cosine(10), rtol=1e-6)
    np.testing.assert_array_equal(out[100:], 2.0)


def test_no_seam_between_independent_noise_windows():
    total = 2 * L - OVERLAP
    boundary = L - OVERLAP // 2
    a, b = red_noise(10), red_noise(11)
    blended = blend_windows([a, b], [0, L - OVERLAP], total, OVERLAP)
    at, elsewhere = boundary_and_elsewhere(blended, boundary, OVERLAP // 2)
    assert at <= 1.1 * elsewhere, (at, elsewhere)

    # The measure does see seams: a butt splice clicks, and a linear crossfade's corners show.
    spliced = np.concatenate([a[:boundary], b[boundary - (L - OVERLAP) :]])
    at_splice, elsewhere = boundary_and_elsewhere(spliced, boundary, OVERLAP // 2)
    assert at_splice > 3 * elsewhere
    ramp = np.linspace(0, 1, OVERLAP, dtype=np.float32)
    linear = np.concatenate(
        [a[: L - OVERLAP], a[L - OVERLAP :] * (1 - ramp) + b[:OVERLAP] * ramp, b[OVERLAP:]]
    )
    at_linear, elsewhere = boundary_and_elsewhere(linear, boundary, OVERLAP // 2)
    assert at_linear > 1.1 * elsewhere


@pytest.mark.parametrize(
    "starts, total, overlap, message",
    [
        ([0, 120], 220, 20, "gap"),
        ([0, 50], 150, 20, "more than overlap"),
        ([5, 85], 185, 20, "start at sample 0"),
        ([0, 80], 200, 20, "before total"),
        ([0, 0], 100, 100, "not after"),
    ],
)
def test_bad_layouts_are_refused(starts, total, overlap, message):
    windows = [np.zeros(100, np.float32)] * 2
    with pytest.raises(ValueError, match=message):
        blend_windows(windows, starts, total, overlap)


def test_three_windows_at_once_and_mismatched_shapes_are_refused():
    with pytest.raises(ValueError, match="at most two"):
        blend_windows([np.zeros(100, np.float32)] * 3, [0, 40, 80], 180, 60)
    with pytest.raises(ValueError, match="shape"):
        blend_windows([np.zeros(100, np.float32), np.zeros(90, np.float32)], [0, 80], 170, 20)
    assert blend_windows([], [], 0, 10).shape == (0,)

"""model.mel: the Slaney mel scale, STFT framing, log-mel and mel inversion, against known answers."""

from __future__ import annotations

import math

import pytest
import torch

from model.config import AudioConfig, preset
from model.mel import (
    MelSpectrogram,
    hz_to_mel,
    istft,
    mel_center_frequencies,
    mel_filterbank,
    mel_to_hz,
    mel_to_linear,
    stft,
)

TINY = preset("tiny").audio  # 16 kHz, n_fft 1024, hop 250, 64 mels to 8 kHz


def tone(freq: float, seconds: float, rate: int, amplitude: float = 0.5) -> torch.Tensor:
    """(1, samples) float32 sine, computed in float64 so the reference itself is exact."""
    t = torch.arange(round(seconds * rate), dtype=torch.float64) / rate
    return (amplitude * torch.sin(2 * math.pi * freq * t)).to(torch.float32)[None]


def scene(seconds: float = 2.0, rate: int = 16000, seed: int = 0) -> torch.Tensor:
    """(1, samples) a real-ish mix: two tones, a rising chirp and three decaying noise bursts."""
    g = torch.Generator().manual_seed(seed)
    n = round(seconds * rate)
    t = torch.arange(n, dtype=torch.float64) / rate
    x = 0.2 * torch.sin(2 * math.pi * 220 * t) + 0.1 * torch.sin(2 * math.pi * 660 * t)
    x += 0.05 * torch.sin(2 * math.pi * (500 * t + 1500 * t**2))
    envelope = torch.zeros(n, dtype=torch.float64)
    for start in (0.15, 0.45, 0.75):
        i = round(start * n)
        envelope[i:] += torch.exp(-torch.arange(n - i, dtype=torch.float64) / (0.05 * rate))
    x += 0.3 * torch.randn(n, generator=g, dtype=torch.float64) * envelope
    return (0.8 * x / x.abs().max()).to(torch.float32)[None]


# ----------------------------------------------------------------------------- mel scale and filters


def test_slaney_mel_scale() -> None:
    hz = torch.tensor([0.0, 200.0, 1000.0, 6400.0])
    torch.testing.assert_close(hz_to_mel(hz), torch.tensor([0.0, 3.0, 15.0, 42.0], dtype=torch.float64))
    grid = torch.linspace(0, 12000, 97, dtype=torch.float64)
    torch.testing.assert_close(mel_to_hz(hz_to_mel(grid)), grid)


def test_filterbank_shape_and_slaney_areas() -> None:
    bank = mel_filterbank(16000, 1024, 64, 0.0, 8000.0)
    assert bank.shape == (64, 513) and bank.dtype == torch.float32
    assert bool((bank >= 0).all()) and bool((bank.sum(dim=1) > 0).all())
    peaks = bank.argmax(dim=1)
    assert bool((peaks[1:] >= peaks[:-1]).all())
    # each triangle has unit area in Hz (height 2 / base): sum * bin width ~ 1
    area = bank.sum(dim=1) * (16000 / 1024)
    assert float(area.min()) > 0.85 and float(area.max()) < 1.15


def test_filterbank_refuses_filters_between_bins() -> None:
    with pytest.raises(ValueError, match="n_mels=200 is too many for n_fft=256"):
        mel_filterbank(16000, 256, 200, 0.0, 8000.0)


@pytest.mark.parametrize("freq", [300.0, 1000.0, 3500.0, 7000.0])
def test_sine_peaks_in_the_mel_bin_centred_nearest_it(freq: float) -> None:
    log_mel = MelSpectrogram(TINY)(tone(freq, 0.5, TINY.sample_rate))
    centres = mel_center_frequencies(TINY.n_mels, TINY.f_min, TINY.f_max)
    expected = int((hz_to_mel(centres) - hz_to_mel(torch.tensor(freq))).abs().argmin())
    assert int(log_mel[0].mean(dim=1).argmax()) == expected


def test_silence_sits_at_the_log_floor() -> None:
    log_mel = MelSpectrogram(TINY)(torch.zeros(1, 1000))
    assert torch.equal(log_mel, torch.full_like(log_mel, math.log(TINY.log_floor)))


# ----------------------------------------------------------------------------- frames


@pytest.mark.parametrize("samples", [1, 100, 249, 250, 251, 512, 513, 1000, 63999, 64000])
def test_frame_count_is_ceil_of_samples_over_hop(samples: int) -> None:
    log_mel = MelSpectrogram(TINY)(0.1 * torch.randn(2, samples, generator=torch.Generator().manual_seed(0)))
    assert log_mel.shape == (2, TINY.n_mels, math.ceil(samples / TINY.hop_length))
    assert TINY.num_frames(samples) == log_mel.shape[-1]


def test_frame_k_is_centred_on_sample_k_times_hop() -> None:
    for k in (0, 7, 30):
        click = torch.zeros(1, 32 * TINY.hop_length)
        click[0, k * TINY.hop_length] = 1.0
        energy = stft(click, TINY).abs().pow(2).sum(dim=1)[0]
        assert int(energy.argmax()) == k


def test_stft_round_trip_is_exact_when_the_hop_divides_the_length() -> None:
    x = scene(1.0)
    assert x.shape[1] % TINY.hop_length == 0
    y = istft(stft(x, TINY), TINY)
    assert y.shape == x.shape
    torch.testing.assert_close(y, x, rtol=0, atol=1e-5)


def test_audio_must_be_batch_by_samples() -> None:
    with pytest.raises(ValueError, match=r"audio has shape \(16000,\)"):
        MelSpectrogram(TINY)(torch.zeros(16000))


# ----------------------------------------------------------------------------- mel -> linear


def test_mel_to_linear_fits_the_mel_and_improves_with_iterations() -> None:
    mel_module = MelSpectrogram(TINY)
    mel = mel_module(scene()).exp()
    errors = []
    for iterations in (0, 8, 32):
        linear = mel_to_linear(mel, mel_module.filterbank, iterations=iterations)
        assert linear.shape == (1, TINY.n_freqs, mel.shape[-1]) and bool((linear >= 0).all())
        errors.append(float((mel_module.filterbank @ linear - mel).norm() / mel.norm()))
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.05  # measured 0.029 on this scene


def test_mel_to_linear_leaves_bins_outside_the_filters_empty() -> None:
    cfg = AudioConfig(f_min=200.0, f_max=4000.0)
    mel_module = MelSpectrogram(cfg)
    linear = mel_to_linear(mel_module(scene()).exp(), mel_module.filterbank)
    freqs = torch.linspace(0, cfg.sample_rate / 2, cfg.n_freqs)
    outside = (freqs <= cfg.f_min) | (freqs >= cfg.f_max)
    assert bool((linear[:, outside] == 0).all()) and bool((linear[:, ~outside] > 0).any())

"""The audio representation: waveform <-> STFT, and the log-mel the model generates, in plain torch.

Shapes. Audio is (B, samples) float32 in [-1, 1]; a spectrogram is (B, n_freqs, frames) with
n_freqs = n_fft // 2 + 1; a log-mel is (B, n_mels, frames).

Frames. Frame k is centred on sample k * hop (the signal is reflect-padded by n_fft // 2 on both
sides, zero-padded when it is too short to reflect), and a signal of L samples has exactly
``frames = ceil(L / hop)`` frames: every sample lies within half a hop of a frame centre, and
inverting F frames gives F * hop samples, so a length that the hop divides round-trips exactly.

Log-mel. Slaney's mel scale and area-normalised triangles (Slaney 1998, Auditory Toolbox, as
BigVGAN uses), applied to the STFT magnitude (not power), then the natural log of
max(mel, log_floor).

Turning a log-mel back into sound is a vocoder's work (``model.vocoders``); ``mel_to_linear``,
the first step of Griffin-Lim, lives here since it inverts this module's filterbank.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from model.config import AudioConfig

# ----------------------------------------------------------------------------- mel scale

# Slaney: linear below 1 kHz (3 mel per 200 Hz), logarithmic above (27 mel per factor 6.4).
_LINEAR_HZ_PER_MEL = 200.0 / 3.0
_BREAK_HZ = 1000.0
_BREAK_MEL = _BREAK_HZ / _LINEAR_HZ_PER_MEL  # 15
_LOG_STEP = math.log(6.4) / 27.0


def hz_to_mel(hz: Tensor | float) -> Tensor:
    """Slaney mel of frequencies in Hz."""
    hz = torch.as_tensor(hz, dtype=torch.float64)
    linear = hz / _LINEAR_HZ_PER_MEL
    logarithmic = _BREAK_MEL + torch.log(torch.clamp(hz, min=_BREAK_HZ) / _BREAK_HZ) / _LOG_STEP
    return torch.where(hz < _BREAK_HZ, linear, logarithmic)


def mel_to_hz(mel: Tensor | float) -> Tensor:
    """Inverse of ``hz_to_mel``."""
    mel = torch.as_tensor(mel, dtype=torch.float64)
    linear = mel * _LINEAR_HZ_PER_MEL
    logarithmic = _BREAK_HZ * torch.exp(_LOG_STEP * (torch.clamp(mel, min=_BREAK_MEL) - _BREAK_MEL))
    return torch.where(mel < _BREAK_MEL, linear, logarithmic)


def mel_center_frequencies(n_mels: int, f_min: float, f_max: float) -> Tensor:
    """(n_mels,) centre frequencies in Hz, equally spaced in mel between f_min and f_max."""
    return _mel_edges(n_mels, f_min, f_max)[1:-1]


def _mel_edges(n_mels: int, f_min: float, f_max: float) -> Tensor:
    """(n_mels + 2,) frequencies in Hz equally spaced in mel from f_min to f_max."""
    lo, hi = float(hz_to_mel(f_min)), float(hz_to_mel(f_max))
    return mel_to_hz(torch.linspace(lo, hi, n_mels + 2, dtype=torch.float64))


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, f_min: float, f_max: float) -> Tensor:
    """(n_mels, n_fft // 2 + 1) float32 triangles over the one-sided STFT bins.

    Filter m rises from edge m to its centre m + 1 and falls to edge m + 2 (n_mels + 2 edges
    equally spaced in Slaney mel), scaled by 2 / (edge m+2 - edge m) Hz so each triangle has the
    same area (Slaney's normalisation: a flat spectrum gives every band the same energy per Hz).
    """
    bins_hz = torch.linspace(0.0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)
    edges = _mel_edges(n_mels, f_min, f_max)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins_hz[None] - lower) / (centre - lower)
    falling = (upper - bins_hz[None]) / (upper - centre)
    triangles = torch.clamp(torch.minimum(rising, falling), min=0.0)
    bank = triangles * (2.0 / (upper - lower))
    empty = torch.nonzero(bank.sum(dim=1) == 0).flatten().tolist()
    if empty:
        raise ValueError(
            f"n_mels={n_mels} is too many for n_fft={n_fft} at {sample_rate} Hz from {f_min} to {f_max} Hz: "
            f"mel filters {empty} fall between STFT bins; use fewer mels or a larger n_fft"
        )
    return bank.to(torch.float32)


# ----------------------------------------------------------------------------- STFT


def _check_audio(audio: Tensor) -> Tensor:
    if audio.ndim != 2 or audio.shape[1] < 1:
        raise ValueError(f"audio has shape {tuple(audio.shape)}: need (batch, samples) with samples >= 1")
    return audio.to(torch.float32)


def _hann(config: AudioConfig, device: torch.device) -> Tensor:
    """The periodic Hann window of ``win_length`` samples that stft and istft share."""
    return torch.hann_window(config.win_length, periodic=True, dtype=torch.float32, device=device)


def stft(audio: Tensor, config: AudioConfig) -> Tensor:
    """(B, samples) -> complex (B, n_freqs, ceil(samples / hop)), frame k centred on sample k * hop."""
    audio = _check_audio(audio)
    samples, pad = audio.shape[1], config.n_fft // 2
    mode = "reflect" if samples > pad else "constant"
    padded = nn.functional.pad(audio[:, None], (pad, pad), mode=mode)[:, 0]
    window = _hann(config, audio.device)
    spec = torch.stft(
        padded,
        n_fft=config.n_fft,
        hop_length=config.hop_length,
        win_length=config.win_length,
        window=window,
        center=False,
        return_complex=True,
    )
    # center=False on the padded signal gives samples // hop + 1 frames; the last one is centred
    # past the end when the hop divides the length.
    return spec[..., : config.num_frames(samples)]


def istft(spec: Tensor, config: AudioConfig) -> Tensor:
    """Complex (B, n_freqs, frames) -> (B, frames * hop), the least-squares inverse of ``stft``."""
    window = _hann(config, spec.device)
    return torch.istft(
        spec,
        n_fft=config.n_fft,
        hop_length=config.hop_length,
        win_length=config.win_length,
        window=window,
        center=True,
        length=spec.shape[-1] * config.hop_length,
    )


class MelSpectrogram(nn.Module):
    """Waveform (B, samples) -> log-mel (B, n_mels, ceil(samples / hop)), as the module docstring says.

    The filterbank is a non-persistent buffer: it follows ``.to(device)`` but stays out of
    checkpoints, since the config rebuilds it.
    """

    filterbank: Tensor  # (n_mels, n_freqs), registered as a buffer

    def __init__(self, config: AudioConfig) -> None:
        super().__init__()
        self.config = config
        bank = mel_filterbank(config.sample_rate, config.n_fft, config.n_mels, config.f_min, config.f_max)
        self.register_buffer("filterbank", bank, persistent=False)

    def magnitude_to_log_mel(self, magnitude: Tensor) -> Tensor:
        """STFT magnitude (B, n_freqs, frames) -> log-mel (B, n_mels, frames)."""
        mel = torch.matmul(self.filterbank, magnitude)
        return torch.log(torch.clamp(mel, min=self.config.log_floor))

    def forward(self, audio: Tensor) -> Tensor:
        return self.magnitude_to_log_mel(stft(audio, self.config).abs())


# ----------------------------------------------------------------------------- mel -> linear


def mel_to_linear(mel: Tensor, filterbank: Tensor, *, iterations: int = 32) -> Tensor:
    """Mel magnitudes (B, n_mels, F) -> non-negative STFT magnitudes (B, n_freqs, F).

    Approximately solves min ||filterbank @ S - mel||^2 over S >= 0 (non-negative least squares)
    with Lee & Seung's (2001) multiplicative updates, S <- S * (A^T mel) / (A^T A S), which keep
    S non-negative and never increase the error. The start spreads each band's magnitude per
    unit of filter area over the bins it covers (exact for a flat spectrum); bins that no filter
    covers (outside f_min..f_max) stay 0.
    """
    if mel.ndim != 3 or mel.shape[1] != filterbank.shape[0]:
        raise ValueError(f"mel has shape {tuple(mel.shape)}: need (batch, {filterbank.shape[0]}, frames)")
    a = filterbank.to(mel.dtype)
    mel = torch.clamp(mel, min=0.0)
    density = mel / a.sum(dim=1)[:, None]  # (B, n_mels, F): magnitude per unit filter weight
    coverage = a.sum(dim=0)[:, None]  # (n_freqs, 1)
    s = torch.matmul(a.T, density) / torch.clamp(coverage, min=torch.finfo(mel.dtype).tiny)
    numerator = torch.matmul(a.T, mel)
    gram = a.T @ a  # (n_freqs, n_freqs)
    eps = torch.finfo(mel.dtype).tiny
    for _ in range(iterations):
        s = s * numerator / (torch.matmul(gram, s) + eps)
    return s

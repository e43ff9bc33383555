"""Waveform <-> log-mel, the Griffin-Lim vocoder, and sample-rate conversion, in plain torch.

Shapes. Audio is (B, samples) float32 in [-1, 1]; a spectrogram is (B, n_freqs, frames) with
n_freqs = n_fft // 2 + 1; a log-mel is (B, n_mels, frames).

Frames. Frame k is centred on sample k * hop (the signal is reflect-padded by n_fft // 2 on both
sides, zero-padded when it is too short to reflect), and a signal of L samples has exactly
``frames = ceil(L / hop)`` frames: every sample lies within half a hop of a frame centre, and
inverting F frames gives F * hop samples, so a length that the hop divides round-trips exactly.

Log-mel. Slaney's mel scale and area-normalised triangles (Slaney 1998, Auditory Toolbox, as
BigVGAN uses), applied to the STFT magnitude (not power), then the natural log of
max(mel, log_floor).
"""

from __future__ import annotations

import math
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from model.config import AudioConfig

# ----------------------------------------------------------------------------- mel scale

# Slaney: linear below 1 kHz (3 mel per 200 Hz), logarithmic above (27 mel per factor 6.4).
_LINEAR_HZ_PER_MEL = 200.0 / 3.0
_BREAK_HZ = 1000.0
_BREAK_MEL = _BREAK_HZ / _LINEAR_HZ_PER_MEL  # 15
_LOG_STEP = math.log(6.4) / 27.0


def hz_to_mel(hz: Tensor) -> Tensor:
    """Slaney mel of frequencies in Hz."""
    hz = torch.as_tensor(hz, dtype=torch.float64)
    linear = hz / _LINEAR_HZ_PER_MEL
    logarithmic = _BREAK_MEL + torch.log(torch.clamp(hz, min=_BREAK_HZ) / _BREAK_HZ) / _LOG_STEP
    return torch.where(hz < _BREAK_HZ, linear, logarithmic)


def mel_to_hz(mel: Tensor) -> Tensor:
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


def stft(audio: Tensor, config: AudioConfig) -> Tensor:
    """(B, samples) -> complex (B, n_freqs, ceil(samples / hop)), frame k centred on sample k * hop."""
    audio = _check_audio(audio)
    samples, pad = audio.shape[1], config.n_fft // 2
    mode = "reflect" if samples > pad else "constant"
    padded = nn.functional.pad(audio[:, None], (pad, pad), mode=mode)[:, 0]
    window = torch.hann_window(config.win_length, periodic=True, dtype=torch.float32, device=audio.device)
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
    window = torch.hann_window(config.win_length, periodic=True, dtype=torch.float32, device=spec.device)
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

    def __init__(self, config: AudioConfig):
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


# ----------------------------------------------------------------------------- vocoders


@runtime_checkable
class Vocoder(Protocol):
    """Log-mel (B, n_mels, frames) -> waveform (B, frames * hop) in [-1, 1] at ``sample_rate``.

    ``name`` describes the vocoder and its settings; it enters every generation unit's key
    (DESIGN.md "Keys"), so two vocoders that can sound different must have different names.
    A weight-based vocoder (BigVGAN, an optional extra) implements the same protocol.
    """

    name: str
    sample_rate: int

    def __call__(self, log_mel: Tensor) -> Tensor: ...


class GriffinLim(nn.Module):
    """The fast Griffin-Lim vocoder (Perraudin, Balazs & Sondergaard 2013), no weights needed.

    Log-mel -> magnitudes by ``mel_to_linear``; the phase starts uniformly random from ``seed``
    (drawn on the CPU, so it is the same on every device; see ``initial_phase``) and is refined
    by ``iterations`` of
        t_n = STFT(ISTFT(|S| * phase(c_{n-1})))          (project: consistent, given magnitude)
        c_n = t_n + momentum * (t_n - t_{n-1})           (their Algorithm 2, momentum alpha)
    and the output is ISTFT(|S| * phase(c_N)), clamped to [-1, 1]. ``momentum=0`` is the
    original Griffin & Lim (1984) algorithm.
    """

    def __init__(
        self, config: AudioConfig, *, iterations: int = 64, momentum: float = 0.99, seed: int = 0,
        nnls_iterations: int = 32,
    ):
        super().__init__()
        if iterations < 0 or nnls_iterations < 0:
            raise ValueError(f"iterations={iterations}, nnls_iterations={nnls_iterations}: need >= 0")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum={momentum}: need 0 <= momentum < 1")
        self.mel = MelSpectrogram(config)
        self.config = config
        self.iterations, self.momentum, self.seed = iterations, momentum, seed
        self.nnls_iterations = nnls_iterations
        self.sample_rate = config.sample_rate
        self.name = (
            f"griffin-lim(iterations={iterations},momentum={momentum},seed={seed},nnls={nnls_iterations})"
        )

    def initial_phase(self, frames: int, device: torch.device) -> Tensor:
        """(n_freqs, frames) unit complex numbers with uniform random angles from ``seed``.

        Every row of a batch starts from the same phase, so a row's output does not depend on
        what it was batched with (DESIGN.md "Determinism"); frames are drawn in time order, so
        frame k's phase is the same whatever the length.
        """
        generator = torch.Generator().manual_seed(self.seed)
        angles = torch.rand((frames, self.config.n_freqs), generator=generator, dtype=torch.float32)
        return torch.polar(torch.ones_like(angles), 2 * math.pi * angles).T.to(device)

    @torch.no_grad()
    def forward(self, log_mel: Tensor) -> Tensor:
        if log_mel.ndim != 3 or log_mel.shape[1] != self.config.n_mels:
            need = f"(batch, {self.config.n_mels}, frames)"
            raise ValueError(f"log_mel has shape {tuple(log_mel.shape)}: need {need}")
        with torch.autocast(log_mel.device.type, enabled=False):  # phase retrieval needs float32
            magnitude = mel_to_linear(
                torch.exp(log_mel.to(torch.float32)), self.mel.filterbank, iterations=self.nnls_iterations
            )  # (B, n_freqs, F)
            c = magnitude * self.initial_phase(magnitude.shape[-1], magnitude.device)
            previous = None
            for _ in range(self.iterations):
                t = stft(istft(c, self.config), self.config)
                c = t if previous is None else t + self.momentum * (t - previous)
                previous = t
                c = torch.polar(magnitude, torch.angle(c))
            return torch.clamp(istft(c, self.config), -1.0, 1.0)


# ----------------------------------------------------------------------------- resampling


_MAX_KERNEL_VALUES = 1 << 22  # polyphase taps in all; 44.1 kHz <-> 48 kHz needs about 35k


def resampled_length(samples: int, in_rate: int, out_rate: int) -> int:
    """round(samples * out_rate / in_rate), halves rounded up, computed exactly in integers."""
    return (2 * samples * out_rate + in_rate) // (2 * in_rate)


def _sinc_kernels(up: int, down: int, zero_crossings: int, rolloff: float, beta: float) -> tuple[Tensor, int]:
    """(up, 1, taps) float64 polyphase kernels and the left padding they assume.

    Output sample n sits at input position n * down / up. With n = q * up + j it is q * down + phase_j,
    phase_j = j * down / up, so kernel j, slid with stride ``down``, serves every output of phase j:
    tap m of kernel j weighs input sample q * down + m - pad at offset m - pad - phase_j from the
    output's position. The interpolator is a Kaiser-windowed sinc low-pass with its cutoff at
    ``rolloff`` times the lower of the two Nyquist frequencies (in input samples: fc cycles per sample),
    reaching ``zero_crossings`` zeros of the sinc each side.
    """
    fc = 0.5 * rolloff * min(1.0, up / down)
    half_width = zero_crossings / (2 * fc)  # in input samples
    pad = math.ceil(half_width)
    phases = torch.arange(up, dtype=torch.float64) * down / up
    taps = pad + math.ceil(half_width + float(phases.max())) + 1
    if up * taps > _MAX_KERNEL_VALUES:
        raise ValueError(
            f"the rate ratio {up}/{down} needs {up} x {taps} filter taps, too many; use rates with a larger "
            "common divisor (e.g. 8000, 16000, 22050, 24000, 32000, 44100, 48000 Hz)"
        )
    offsets = torch.arange(taps, dtype=torch.float64)[None] - pad - phases[:, None]  # (up, taps)
    inside = offsets.abs() <= half_width
    ratio = torch.clamp(offsets / half_width, -1.0, 1.0)
    i0_beta = torch.special.i0(torch.tensor(beta, dtype=torch.float64))
    kaiser = torch.special.i0(beta * torch.sqrt(1.0 - ratio**2)) / i0_beta  # Kaiser window over |offset| <= W
    kernels = 2 * fc * torch.sinc(2 * fc * offsets) * kaiser * inside
    return kernels[:, None], pad


def resample(
    audio: Tensor, in_rate: int, out_rate: int, *, zero_crossings: int = 32, rolloff: float = 0.95,
    beta: float = 8.0,
) -> Tensor:
    """(..., samples) at ``in_rate`` -> (..., resampled_length(samples)) at ``out_rate``.

    Band-limited interpolation (Smith, "Digital Audio Resampling") evaluated as a polyphase
    filter bank with torch's conv1d; output sample n is the interpolated signal at input time
    n * in_rate / out_rate, so both start together. The signal is taken as zero outside its
    samples. Rates are whole numbers of hertz; their ratio is reduced by the gcd, so 16 kHz ->
    48 kHz is 3 phases of about 70 taps each.
    """
    for name, rate in (("in_rate", in_rate), ("out_rate", out_rate)):
        if isinstance(rate, bool) or not isinstance(rate, int) or rate <= 0:
            raise ValueError(f"{name}={rate!r}: need a positive whole number of hertz")
    if not 0.0 < rolloff <= 1.0:
        raise ValueError(f"rolloff={rolloff}: need 0 < rolloff <= 1")
    samples = audio.shape[-1]
    out_len = resampled_length(samples, in_rate, out_rate)
    if in_rate == out_rate:
        return audio.clone()
    if out_len == 0:
        return audio.new_zeros(*audio.shape[:-1], 0)
    g = math.gcd(in_rate, out_rate)
    up, down = out_rate // g, in_rate // g
    try:
        kernels, pad = _sinc_kernels(up, down, zero_crossings, rolloff, beta)
    except ValueError as e:
        raise ValueError(f"in_rate={in_rate}, out_rate={out_rate}: {e}") from None
    taps = kernels.shape[-1]
    per_phase = -(-out_len // up)  # outputs each phase must produce
    needed = max(per_phase - 1, 0) * down + taps  # padded input length those outputs read
    flat = audio.reshape(-1, 1, samples)
    padded = nn.functional.pad(flat, (pad, max(needed - pad - samples, 0)))
    out = nn.functional.conv1d(padded, kernels.to(flat.dtype).to(flat.device), stride=down)  # (N, up, Q)
    out = out[..., :per_phase].transpose(1, 2).reshape(flat.shape[0], -1)[:, :out_len]  # sample q*up + j
    return out.reshape(*audio.shape[:-1], out_len)

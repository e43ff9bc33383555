"""Trains the Vocos vocoder (``model.vocoders.vocos``) on real recordings and foley-world renders.

    python -m model.vocoders.train_vocos [--minutes 60] [--out model/weights/vocos.safetensors]

Data (docs/model.md "Vocoder"):
- the sound bank's held-in recordings (``model.sounds``, split "train"; ``make sounds`` builds it),
- foley-world films rendered from seeds ``RENDER_SEEDS`` (no held-out seed of bench/codec.py).
Each clip at 48 kHz gives the target (resampled to the vocoder's rate, e.g. 24 kHz, full band) and
the input: the model's log-mel of the same clip resampled to the model's rate (16 kHz, so 8 kHz
of band). The vocoder learns to invert the mel and to extend the band above 8 kHz.

Training: random 1 s crops aligned to mel frames, a multi-resolution STFT loss (spectral
convergence + log-magnitude L1 at four resolutions) plus a full-band log-mel L1, AdamW with a
cosine schedule, stopped by wall clock. No adversarial loss: on 2 CPU cores there is no budget for
discriminators. Half the crops have Gaussian noise added to their input log-mel, the grain the
diffusion model's log-mel carries (docs/model.md).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from media.resample import resample
from model.config import AudioConfig
from model.mel import MelSpectrogram, mel_filterbank
from model.vocoders.vocos import DEFAULT_VOCODER, VocosConfig, VocosNetwork, load_vocos, save_vocos

SOURCE_RATE = 48000  # the bank's FLACs and the foley world's audio
RENDER_SEEDS = range(5100, 5140)  # foley-world films for training; bench/codec.py holds out others
CROP_FRAMES = 32  # 0.5 s of model mel frames


@dataclass
class Clip:
    log_mel: Tensor  # (n_mels, F) model log-mel
    target: Tensor  # (F * samples_per_frame,) at the vocoder's rate
    name: str


def clip_from_audio(audio_48k: np.ndarray, name: str, audio: AudioConfig, config: VocosConfig) -> Clip:
    """A 48 kHz clip -> (model log-mel, target at the vocoder's rate), frame-aligned."""
    model_rate = resample(audio_48k.astype(np.float32), SOURCE_RATE, audio.sample_rate)
    log_mel = MelSpectrogram(audio)(torch.from_numpy(model_rate)[None])[0]
    per_frame = config.upsample * config.hop_out
    target = resample(
        audio_48k.astype(np.float32), SOURCE_RATE, config.sample_rate, length=log_mel.shape[1] * per_frame
    )
    return Clip(log_mel, torch.from_numpy(target), name)


def bank_clips(audio: AudioConfig, config: VocosConfig, split: str) -> list[Clip]:
    import soundfile as sf

    from model.sounds.bank import recordings

    clips = []
    for r in recordings(split=split):
        x, rate = sf.read(str(r.file), dtype="float32", always_2d=True)
        if rate != SOURCE_RATE:
            raise ValueError(f"{r.file}: {rate} Hz, the bank holds {SOURCE_RATE} Hz")
        clips.append(clip_from_audio(x.mean(axis=1), f"{r.cls}/{r.path}", audio, config))
    return clips


def render_clips(seeds: range, audio: AudioConfig, config: VocosConfig) -> list[Clip]:
    from model.synth.film import make_film

    return [clip_from_audio(make_film(s).audio, f"foley/{s}", audio, config) for s in seeds]


# ----------------------------------------------------------------------------- losses


class SpectralLosses(nn.Module):
    """Multi-resolution STFT loss (Yamamoto et al. 2020) and full-band log-mel L1 at the output rate."""

    resolutions = ((2048, 512), (1024, 256), (512, 128), (256, 64))

    def __init__(self, sample_rate: int) -> None:
        super().__init__()
        for n_fft, _ in self.resolutions:
            self.register_buffer(f"window_{n_fft}", torch.hann_window(n_fft), persistent=False)
        bank = mel_filterbank(sample_rate, 1024, 100, 0.0, sample_rate / 2)
        self.register_buffer("mel_bank", bank, persistent=False)

    mel_bank: Tensor  # (100, 513), a non-persistent buffer

    def _magnitude(self, x: Tensor, n_fft: int, hop: int) -> Tensor:
        window = getattr(self, f"window_{n_fft}")
        spec = torch.stft(x, n_fft, hop, n_fft, window, center=True, return_complex=True)
        return torch.sqrt(spec.real**2 + spec.imag**2 + 1e-9)

    def stft_loss(self, y: Tensor, target: Tensor) -> Tensor:
        total = y.new_zeros(())
        for n_fft, hop in self.resolutions:
            a, b = self._magnitude(y, n_fft, hop), self._magnitude(target, n_fft, hop)
            convergence = torch.linalg.norm(b - a) / (torch.linalg.norm(b) + 1e-7)
            total = total + convergence + (torch.log(a) - torch.log(b)).abs().mean()
        return total / len(self.resolutions)

    def log_mel(self, x: Tensor) -> Tensor:
        return torch.log(torch.clamp(self.mel_bank @ self._magnitude(x, 1024, 256), min=1e-5))

    def mel_loss(self, y: Tensor, target: Tensor) -> Tensor:
        return (self.log_mel(y) - self.log_mel(target)).abs().mean()


# ----------------------------------------------------------------------------- training


def sample_batch(
    clips: list[Clip], batch: int, per_frame: int, rng: random.Random, noise: float
) -> tuple[Tensor, Tensor]:
    mels: list[Tensor] = []
    targets: list[Tensor] = []
    while len(mels) < batch:
        clip = rng.choice(clips)
        frames = clip.log_mel.shape[1]
        start = rng.randrange(max(1, frames - CROP_FRAMES + 1))
        mel = clip.log_mel[:, start : start + CROP_FRAMES]
        target = clip.target[start * per_frame : (start + CROP_FRAMES) * per_frame]
        if target.abs().max() < 1e-3:  # silence teaches nothing; skip most of it
            if rng.random() < 0.9:
                continue
        pad = CROP_FRAMES - mel.shape[1]
        if pad:
            mel = nn.functional.pad(mel, (0, pad), value=float(mel.min()))
            target = nn.functional.pad(target, (0, pad * per_frame))
        if rng.random() < 0.5:
            mel = mel + noise * rng.random() * torch.randn(mel.shape, generator=None)
        mels.append(mel)
        targets.append(target)
    return torch.stack(mels), torch.stack(targets)


def train(
    clips: list[Clip],
    audio: AudioConfig,
    config: VocosConfig,
    *,
    minutes: float,
    batch: int,
    lr: float,
    seed: int,
    max_steps: int | None = None,
    init: VocosNetwork | None = None,
) -> tuple[VocosNetwork, dict[str, float]]:
    """Trains until ``minutes`` of wall clock (or ``max_steps``) have passed; returns the network
    in eval mode and {"steps", "minutes", "loss" (smoothed)}."""
    torch.manual_seed(seed)
    rng = random.Random(seed)
    network = VocosNetwork(config, audio)
    if init is not None:  # fine-tune: same shape, fresh optimiser and schedule
        network.load_state_dict(init.state_dict(), strict=True)
    losses = SpectralLosses(config.sample_rate)
    optimiser = torch.optim.AdamW(network.parameters(), lr=lr, betas=(0.8, 0.99), weight_decay=0.01)
    per_frame = config.upsample * config.hop_out
    budget = minutes * 60.0
    start, step, smoothed = time.monotonic(), 0, None
    while (elapsed := time.monotonic() - start) < budget and (max_steps is None or step < max_steps):
        for group in optimiser.param_groups:  # cosine over the wall-clock budget, short warm-up
            group["lr"] = lr * min(1.0, (step + 1) / 100) * 0.5 * (1 + math.cos(math.pi * elapsed / budget))
        mel, target = sample_batch(clips, batch, per_frame, rng, noise=0.5)
        y = network(mel)
        loss = losses.stft_loss(y, target) + losses.mel_loss(y, target)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        nn.utils.clip_grad_norm_(network.parameters(), 1.0)
        optimiser.step()
        value = float(loss.detach())
        smoothed = value if smoothed is None else 0.98 * smoothed + 0.02 * value
        step += 1
        if step % 50 == 0:
            print(f"step {step:5d}  {elapsed / 60:5.1f} min  loss {smoothed:.4f}", flush=True)
    return network.eval(), {
        "steps": step,
        "minutes": (time.monotonic() - start) / 60,
        "loss": smoothed or 0.0,
    }


def earlier_runs(metadata: dict[str, str]) -> list[dict[str, object]]:
    """The training runs recorded in an ``--init`` file's metadata (its first run may be recorded
    alone under "training")."""
    if "training_runs" in metadata:
        return list(json.loads(metadata["training_runs"]))
    return [json.loads(metadata["training"])] if "training" in metadata else []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m model.vocoders.train_vocos", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--minutes", type=float, default=60.0, help="wall-clock training budget")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--renders", type=int, default=len(RENDER_SEEDS), help="foley-world films to add")
    parser.add_argument("--init", default=None, help="start from this vocoder file (same config)")
    parser.add_argument("--out", default=str(DEFAULT_VOCODER))
    args = parser.parse_args(argv)
    audio, config = AudioConfig(), VocosConfig()
    init, init_meta = load_vocos(args.init) if args.init else (None, {})
    if init is not None:
        audio, config = init.audio, init.config
    t0 = time.monotonic()
    clips = bank_clips(audio, config, "train")
    if not clips:
        raise SystemExit("the sound bank has no held-in recordings: run `make sounds` first")
    clips += render_clips(RENDER_SEEDS[: args.renders], audio, config)
    seconds = sum(c.target.shape[0] for c in clips) / config.sample_rate
    print(
        f"{len(clips)} clips, {seconds:.0f} s of audio, prepared in {time.monotonic() - t0:.0f} s", flush=True
    )
    network, stats = train(
        clips, audio, config, minutes=args.minutes, batch=args.batch, lr=args.lr, seed=args.seed, init=init
    )
    this_run = {
        **stats,
        "batch": args.batch,
        "lr": args.lr,
        "seed": args.seed,
        "torch_threads": torch.get_num_threads(),
        "init": Path(args.init).name if args.init else None,
    }
    extra = {
        "trained_on": json.dumps(
            {"bank_split": "train", "render_seeds": [RENDER_SEEDS.start, RENDER_SEEDS.start + args.renders]}
        ),
        # every run that shaped these weights, the first one first
        "training_runs": json.dumps([*earlier_runs(init_meta), this_run]),
    }
    save_vocos(network, args.out, extra)
    print(f"wrote {args.out}: {stats['steps']} steps in {stats['minutes']:.1f} min, loss {stats['loss']:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

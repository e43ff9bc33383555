"""Generation: frames + prompts -> audio windows, deterministic per row (docs/design.md "Determinism").

``load_generator(checkpoint)`` builds a ``Generator`` from a safetensors checkpoint (a path or any
fsspec URI); with no argument it loads the shipped ``model/weights/tiny.safetensors``.
``Generator.generate`` samples one window per row:

- each row's noise comes from its own ``torch.Generator`` seeded with its seed;
- rows run in batches of a fixed size, padded with copies of the batch's first row that are
  then dropped, so the network always sees the same shapes and a row's audio does not depend
  on its batch-mates;
- the event track (where sounds start) is marked once per row from the timing head's peaks
  (``DiT.predicted_events``); a dropped video drops it with the picture;
- every sampler step runs one forward over [conditional; null text; no video; negative text]
  (``model.sampling.make_guided_velocity``); an empty negative prompt means no negative term.
  On the CPU that forward runs one row at a time: oneDNN/MKL GEMMs give a row different low bits
  at different positions in a batch (measured: 2e-7 in the velocity), and one-row calls are the
  only shape whose arithmetic is the same for every row; there, the negative-text row is run
  only where a row has a negative prompt (on CUDA, all 4B rows, a fixed shape);
- the log-mel is turned into audio by the vocoder, by default ``model.vocoders.default_vocoder``
  (the shipped Vocos where it reads the checkpoint's log-mel, else smoothed Griffin-Lim).

The network works on a normalised log-mel (``model.latent``), the map training uses too.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from torch import Tensor

from model import sampling
from model.checkpoint import load_checkpoint
from model.conditioning import TextBatch, TextEncoder, TextEncoderLike
from model.config import ModelConfig
from model.device import resolve_device
from model.latent import latent_to_log_mel
from model.networks import build_network
from model.networks.dit import DiT
from model.vocoders import Vocoder, default_vocoder

DEFAULT_CHECKPOINT = Path(__file__).resolve().parent / "weights" / "tiny.safetensors"
DEFAULT_BATCH_SIZE = 8
_MAX_SEED = 2**63 - 1
_Prompt = TypeVar("_Prompt", bound=str | None)  # a prompt, or None where a default applies


# ----------------------------------------------------------------------------- the generator


class Generator:
    """A denoiser with its config, text encoder and vocoder, ready to generate windows of audio."""

    def __init__(
        self,
        config: ModelConfig,
        network: DiT,
        *,
        text_encoder: TextEncoderLike | None = None,
        vocoder: Vocoder | None = None,
        device: str | torch.device | None = None,
        checkpoint_sha256: str | None = None,
    ):
        self.config = config
        self.device = resolve_device(device, task="generating")
        self.network = network.to(self.device).eval()
        self.text_encoder = text_encoder if text_encoder is not None else TextEncoder()
        self.vocoder = vocoder if vocoder is not None else default_vocoder(config.audio)
        if isinstance(self.vocoder, torch.nn.Module):
            self.vocoder = self.vocoder.to(self.device)
        self.checkpoint_sha256 = checkpoint_sha256

    @classmethod
    def from_config(
        cls,
        config: ModelConfig,
        seed: int = 0,
        *,
        text_encoder: TextEncoderLike | None = None,
        vocoder: Vocoder | None = None,
        device: str | torch.device | None = None,
    ) -> Generator:
        """An untrained generator, its weights drawn from ``seed`` (the benchmarks' floor)."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            network = build_network(config)
        return cls(config, network, text_encoder=text_encoder, vocoder=vocoder, device=device)

    # ------------------------------------------------------------------------- generate

    def generate(
        self,
        frames: Tensor | np.ndarray,
        positive_prompts: Sequence[str],
        negative_prompts: Sequence[str | None] | None,
        *,
        seeds: Sequence[int],
        steps: int | None = None,
        text_guidance: float | None = None,
        video_guidance: float | None = None,
        negative_guidance: float | None = None,
        sampler: str | None = None,
        batch_size: int | None = None,
        use_video: bool = True,
    ) -> Tensor:
        """One window of audio per row: (B, window_s * vocoder.sample_rate) float32 on the CPU, at
        the vocoder's rate (the model's for Griffin-Lim, 24 kHz for the shipped Vocos).

        ``frames`` is (B, video_frames, height, width) uint8 grayscale at the config's fps and size.
        A negative prompt of None (or ``negative_prompts=None``) takes the config's default; ""
        means none (plain classifier-free guidance). Settings left None come
        from ``config.sampler``. Rows run ``batch_size`` (default 8) at a time on padded batches.
        ``use_video=False`` replaces the picture by the learned null video in every row (the
        video-dropped control of ``bench/quality.py``; video guidance then has nothing to scale).
        """
        frames = self._check_frames(frames)
        rows = frames.shape[0]
        positive = _check_prompts("positive_prompts", positive_prompts, rows)
        default_negative = self.config.sampler.negative_prompt
        if negative_prompts is None:
            negative_prompts = [None] * rows
        negative = [
            default_negative if p is None else p
            for p in _check_prompts("negative_prompts", negative_prompts, rows, allow_none=True)
        ]
        seeds = _check_seeds(seeds, rows)
        settings = self.config.sampler
        steps = settings.steps if steps is None else steps
        text_guidance = settings.text_guidance if text_guidance is None else text_guidance
        video_guidance = settings.video_guidance if video_guidance is None else video_guidance
        negative_guidance = settings.negative_guidance if negative_guidance is None else negative_guidance
        sample = sampling.get_sampler(settings.sampler if sampler is None else sampler)
        times = sampling.time_grid(steps, shift=settings.shift)
        batch_size = DEFAULT_BATCH_SIZE if batch_size is None else batch_size
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size={batch_size!r}: need an integer >= 1")

        outputs = []
        for start in range(0, rows, batch_size):
            chunk = list(range(start, min(start + batch_size, rows)))
            padded = chunk + [chunk[0]] * (batch_size - len(chunk))  # fixed shape: pad with the first row
            audio = self._generate_batch(
                frames[padded],
                [positive[i] for i in padded],
                [negative[i] for i in padded],
                [seeds[i] for i in padded],
                sample=sample,
                times=times,
                text_guidance=float(text_guidance),
                video_guidance=float(video_guidance),
                negative_guidance=float(negative_guidance),
                use_video=bool(use_video),
            )
            outputs.append(audio[: len(chunk)])
        return torch.cat(outputs, dim=0)

    @torch.inference_mode()
    def _generate_batch(
        self,
        frames: Tensor,
        positive: list[str],
        negative: list[str],
        seeds: list[int],
        *,
        sample: Callable[[sampling.Velocity, Tensor, Tensor], Tensor],
        times: Tensor,
        text_guidance: float,
        video_guidance: float,
        negative_guidance: float,
        use_video: bool = True,
    ) -> Tensor:
        device, batch = self.device, frames.shape[0]
        on_cuda = device.type == "cuda"
        autocast = torch.autocast("cuda", dtype=torch.bfloat16) if on_cuda else contextlib.nullcontext()

        # (B, Tv, H, W) uint8 -> (B, Tv, 1, H, W) in [0, 1]
        pixels = frames.to(device=device, dtype=torch.float32).div(255.0)[:, :, None]
        with autocast:  # (B, Tv, width), once for every step; row by row on the CPU, as in model_fn
            video = (
                self.network.encode_video(pixels)
                if on_cuda
                else torch.cat([self.network.encode_video(pixels[i : i + 1]) for i in range(batch)])
            )
        # (B, F) event track: the timing head's peaks, once for every step (row by row on the CPU)
        mel_frames = self.config.window_frames
        events = torch.cat(
            [self.network.predicted_events(video[i : i + 1], mel_frames) for i in range(batch)]
        )
        no_rows = torch.zeros(batch, dtype=torch.bool, device=device)
        all_rows = torch.ones(batch, dtype=torch.bool, device=device)
        video_dropped = no_rows if use_video else all_rows
        has_negative = torch.tensor([p != "" for p in negative], dtype=torch.bool)
        text = _to(self.text_encoder.encode(positive), device)
        # a row without a negative prompt needs no embedding for it: encode the positive in its place
        negative_text = _to(self.text_encoder.encode([n or p for n, p in zip(negative, positive)]), device)

        def conditioning(text: TextBatch, drop_text: Tensor, drop_video: Tensor) -> dict[str, Tensor]:
            return {
                "text_tokens": text.tokens,
                "text_mask": text.mask,
                "text_pooled": text.pooled,
                "video": video,
                "events": events,
                "drop_text": drop_text,
                "drop_video": drop_video,
            }

        def model_fn(x: Tensor, t: Tensor, cond: Mapping[str, Tensor]) -> Tensor:
            if on_cuda:
                with autocast:
                    v: Tensor = self.network(x, t, cond)
                    return v.float()
            # CPU GEMM kernels treat a batch's remainder tiles differently, so a row's bits can depend
            # on its position in the batch; one row per call gives every row the same arithmetic
            rows = [self.network(x[i : i + 1], t[i : i + 1], _rows(cond, i)) for i in range(x.shape[0])]
            return torch.cat(rows, dim=0)

        velocity = sampling.make_guided_velocity(
            model_fn,
            conditioning(text, no_rows, video_dropped),
            conditioning(text, all_rows, video_dropped),  # the null text: text dropped
            conditioning(text, no_rows, all_rows),
            conditioning(negative_text, no_rows, video_dropped),
            text_scale=text_guidance,
            video_scale=video_guidance,
            negative_scale=negative_guidance,
            has_negative=has_negative,
            fixed_shape=on_cuda,
        )
        shape = (self.config.audio.n_mels, self.config.window_frames)
        noise = torch.stack([torch.randn(shape, generator=torch.Generator().manual_seed(s)) for s in seeds])
        latent = sample(velocity, noise.to(device), times.to(device))  # (B, n_mels, F)
        log_mel = latent_to_log_mel(latent.float(), self.config.audio)
        return self.vocoder(log_mel).float().cpu()

    def _check_frames(self, frames: Tensor | np.ndarray) -> Tensor:
        if isinstance(frames, np.ndarray):
            frames = torch.from_numpy(frames)
        if not isinstance(frames, Tensor):
            raise TypeError(f"frames is a {type(frames).__name__}: need a uint8 tensor or numpy array")
        video = self.config.video
        if not video.grayscale:
            raise ValueError("this config wants colour frames; generate takes grayscale (B, Tv, H, W) only")
        expected = (self.config.video_frames, video.height, video.width)
        if frames.ndim != 4 or tuple(frames.shape[1:]) != expected or frames.shape[0] < 1:
            raise ValueError(
                f"frames have shape {tuple(frames.shape)}: need (batch >= 1, {expected[0]}, {expected[1]}, "
                f"{expected[2]}) ({video.fps} fps x {self.config.window.window_s} s, "
                f"{video.height}x{video.width})"
            )
        if frames.dtype != torch.uint8:
            raise ValueError(f"frames have dtype {frames.dtype}: need uint8 grayscale")
        return frames


def _rows(cond: Mapping[str, Tensor], i: int) -> dict[str, Tensor]:
    return {name: tensor[i : i + 1] for name, tensor in cond.items()}


def _to(text: TextBatch, device: torch.device) -> TextBatch:
    return TextBatch(*(tensor.to(device) for tensor in text))


def _check_prompts(
    name: str, prompts: Sequence[_Prompt], rows: int, *, allow_none: bool = False
) -> list[_Prompt]:
    if isinstance(prompts, str):
        raise TypeError(f"{name}={prompts!r} is one string: need a sequence of {rows} prompts")
    prompts = list(prompts)
    if len(prompts) != rows:
        raise ValueError(f"{name} has {len(prompts)} prompts for {rows} rows of frames")
    for prompt in prompts:
        if not (isinstance(prompt, str) or (allow_none and prompt is None)):
            raise TypeError(f"{name} holds {prompt!r}: need strings{' or None' if allow_none else ''}")
    return prompts


def _check_seeds(seeds: Sequence[int], rows: int) -> list[int]:
    seeds = list(seeds)
    if len(seeds) != rows:
        raise ValueError(f"seeds has {len(seeds)} values for {rows} rows of frames")
    for seed in seeds:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= _MAX_SEED:
            raise ValueError(f"seed {seed!r}: need an integer in [0, 2**63 - 1]")
    return [int(s) for s in seeds]


# ----------------------------------------------------------------------------- loading


def load_generator(
    checkpoint: str | None = None,
    *,
    device: str | torch.device | None = None,
    text_encoder: TextEncoderLike | None = None,
    vocoder: Vocoder | None = None,
) -> Generator:
    """A ``Generator`` from a safetensors checkpoint at a local path or fsspec URI.

    With ``checkpoint=None`` it loads the shipped default, ``model/weights/tiny.safetensors``.
    The network is built from the checkpoint's own config and must match its tensors exactly.
    """
    if checkpoint is None:
        if not DEFAULT_CHECKPOINT.exists():
            raise FileNotFoundError(
                f"the shipped default checkpoint {DEFAULT_CHECKPOINT} does not exist (it is not trained "
                "yet); pass a checkpoint path or URI, e.g. load_generator('gs://bucket/tiny.safetensors')"
            )
        checkpoint = str(DEFAULT_CHECKPOINT)
    loaded = load_checkpoint(checkpoint)
    network = build_network(loaded.config)
    try:
        network.load_state_dict(loaded.state_dict, strict=True)
    except RuntimeError as e:
        raise ValueError(
            f"{checkpoint}: its tensors do not fit the network its config describes: {e}"
        ) from None
    return Generator(
        loaded.config,
        network,
        text_encoder=text_encoder,
        vocoder=vocoder,
        device=device,
        checkpoint_sha256=loaded.sha256,
    )

"""Rectified-flow training of the denoiser over featurize shards (DESIGN.md "Objective").

    python -m model.train --shards DIR_OR_GLOB --out model/weights/tiny.safetensors --preset tiny \
        --steps N [--batch 16] [--minutes M] [--seed 0] [--resume] [--device auto|cpu|cuda] \
        [--text_embeddings FILE] [--init CHECKPOINT] [--damage_workers N]

Objective (Liu et al. 2022, "Flow Straight and Fast", eq. 1): with x1 = ``log_mel_to_latent(mel)``
(the same map ``model.generate`` inverts) and noise x0 ~ N(0, I),

    x_t = (1 - t) x0 + t x1,    v = x1 - x0,    loss = || v_theta(x_t, t, cond) - v ||^2

averaged over the mel frames that lie inside the film (``valid_mel``): past a film's end the
target is replaced by the silence latent (-1) and masked out of the loss, and frames past
``valid_frames`` are zeroed, so whatever a shard stores there changes nothing. t is logit-normal,
t = sigmoid(N(m, s)) (Esser et al. 2024, "Scaling Rectified Flow Transformers", section 3.1), a
share of rows uniform instead (``sample_t``) so the low-noise end is trained too. The flow loss can
weigh the mel frames around each true event more (``event_frame_weights``).
Text and video are each replaced by their learned null with the config's dropout probabilities
(``sample_condition_dropout``), so both guidances work at sampling time. Half of the clips get
archival damage on the fly (``model.synth.damage.degrade`` at a random strength, now and then a
lower picture rate), so the shards can hold clean renders. Each clip's damage is drawn from
(seed, step, row) alone, so ``--damage_workers`` processes (the CUDA default) can damage a batch's
clips side by side without changing a bit of the result.

Timing head. The visual encoder's per-frame features also feed a one-unit head whose logits are
trained (BCE, weighted ``onset_weight``) to mark the frames where the shard's truth events (impacts,
footsteps) land, so the picture path learns contact moments from a direct signal instead of only
through the flow loss (DESIGN.md's calibration, "a timing head"); windows without events teach
it where nothing lands. Its targets are the nearest frame to each event, or with
``onset_sigma_frames`` a Gaussian in frames, which tells the head where between two frames the
event falls (``onset_targets``). The denoiser is conditioned on the true event times as its event track
(``model.networks.dit.event_marks``), which generation fills from this head's peaks: the head
learns *when*, the denoiser learns what a marked event sounds like and to stay quiet elsewhere.
A window whose events are unknown (``None`` in the shard: a sound film without a truth record,
such as an archive's own) teaches the head nothing, and the denoiser gets the head's own marks as
its event track there, as in generation; a window with an empty list is one where nothing lands.

Optimisation: AdamW, linear warmup then cosine decay, gradient clipping, an exponential moving
average of the weights (the EMA is what the model checkpoint holds). CPU runs in float32; CUDA
runs the network under bf16 autocast with float32 weights and loss.

Files beside ``--out`` (``X.safetensors``):

    X.safetensors        the model: EMA weights, ``model.checkpoint.save_checkpoint`` format
    X.train.safetensors  training state: raw weights, EMA, AdamW moments, step, data cursor, RNG
                         states (tensors plus one JSON metadata entry; never pickle)
    X.train.jsonl        the loss log: one JSON object per ``log_every`` steps (step, loss, flow,
                         onset, lr, grad_norm, seconds)

Fine-tuning. ``--init CHECKPOINT`` (any fsspec URI; the shipped ``model/weights/tiny.safetensors``
for instance) starts the weights and their EMA from a model checkpoint instead of from ``seed``,
with a fresh optimizer and LR schedule over ``steps``, and trains that checkpoint's config (its
sampler settings and event threshold carry over until ``model.calibrate`` sets the threshold
again). This is how an archive adapts the model to its own featurized sound films, and how a
checkpoint gets a second stage on more data. Resume a fine-tune with the same ``--init``
(it names the config); the weights then come from the training state, not from ``--init``.

Determinism. Every random draw of step k (condition dropout, t, noise, damage) comes from
generators seeded with (seed, k), and the data order from (seed, epoch) with a saved cursor, so
a run stopped and resumed (``--resume``) gives the same weights, bit for bit on the CPU, as one
that never stopped.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from media import storage
from model.checkpoint import SUFFIX, load_checkpoint, save_checkpoint
from model.conditioning import PrecomputedTextEncoder, TextEncoder, TextEncoderLike
from model.config import PRESET_NAMES, ModelConfig, preset
from model.data import ShardDataset, collate, read_shard_metadata, shard_uris
from model.device import resolve_device
from model.latent import SILENCE_LATENT, log_mel_to_latent
from model.networks import build_network
from model.networks.dit import DiT, event_marks, sample_condition_dropout

logger = logging.getLogger(__name__)

STATE_FORMAT = "talkie-train-state/1"
STATE_KEY = "talkie_train"
_DRAW_NOISE, _DRAW_DAMAGE, _DRAW_FLIP = 0, 1, 2  # stream ids of the per-step seeds


# ----------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class TrainSettings:
    """Hyperparameters of one training run (the model's shape lives in ``ModelConfig``)."""

    steps: int  # the schedule's length: warmup + cosine decay reach their end at this step
    batch_size: int = 16
    seed: int = 0
    lr: float = 3e-4
    min_lr_ratio: float = 0.1  # the cosine decays to lr * min_lr_ratio
    warmup_steps: int | None = None  # None: min(500, steps // 10)
    weight_decay: float = 0.01  # on matrices and conv kernels only
    beta1: float = 0.9
    beta2: float = 0.99
    grad_clip: float = 1.0  # max global gradient norm; 0 turns clipping off
    ema_decay: float = 0.999
    t_mean: float = 0.0  # logit-normal t: sigmoid(N(t_mean, t_std))
    t_std: float = 1.0
    t_uniform_prob: float = 0.0  # chance that a row's t is uniform on (0, 1) instead (``sample_t``)
    damage_prob: float = 0.5  # chance that a clip is damaged
    damage_min: float = 0.1  # damage strength ~ U(damage_min, damage_max)
    damage_max: float = 1.0
    hold_prob: float = 0.25  # chance that a damaged clip also gets a lower picture rate
    flip_prob: float = 0.0  # chance that a clip is mirrored left to right (``mirror_frames``)
    onset_weight: float = 0.5  # weight of the visual encoder's event-frame loss (0: flow loss only)
    onset_pos_weight: float = 8.0  # BCE weight of an event frame (events are sparse)
    onset_sigma_frames: float = 0.0  # > 0: Gaussian onset targets of this width (``onset_targets``)
    event_flow_weight: float = 1.0  # flow-loss weight of the mel frames around a true event (1: uniform)
    save_every: int = 500
    log_every: int = 10

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "save_every", "log_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"TrainSettings.{name}={value!r}: need an integer >= 1")
        if self.warmup_steps is not None and not 0 <= self.warmup_steps <= self.steps:
            raise ValueError(f"TrainSettings.warmup_steps={self.warmup_steps}: need 0..steps={self.steps}")
        if not self.lr > 0 or not 0 <= self.min_lr_ratio <= 1:
            raise ValueError(f"TrainSettings lr={self.lr}, min_lr_ratio={self.min_lr_ratio}: need lr > 0, ratio in [0, 1]")
        for name in ("ema_decay", "beta1", "beta2"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"TrainSettings.{name}={getattr(self, name)}: need a value in [0, 1)")
        for name in ("damage_prob", "hold_prob", "flip_prob", "t_uniform_prob"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"TrainSettings.{name}={getattr(self, name)}: need a probability in [0, 1]")
        if not 0 <= self.damage_min <= self.damage_max <= 1:
            raise ValueError(
                f"TrainSettings damage_min={self.damage_min}, damage_max={self.damage_max}: need 0 <= min <= max <= 1"
            )
        if self.onset_weight < 0 or not self.onset_pos_weight > 0:
            raise ValueError("TrainSettings: onset_weight must be >= 0 and onset_pos_weight > 0")
        if not self.onset_sigma_frames >= 0:
            raise ValueError(f"TrainSettings.onset_sigma_frames={self.onset_sigma_frames}: need >= 0 (0: one frame per event)")
        if not self.event_flow_weight >= 1:
            raise ValueError(f"TrainSettings.event_flow_weight={self.event_flow_weight}: need >= 1 (1 weighs all frames alike)")
        if self.weight_decay < 0 or self.grad_clip < 0 or not self.t_std > 0:
            raise ValueError("TrainSettings: weight_decay and grad_clip must be >= 0 and t_std > 0")

    @property
    def warmup(self) -> int:
        return min(500, self.steps // 10) if self.warmup_steps is None else self.warmup_steps


def learning_rate(step: int, settings: TrainSettings) -> float:
    """The rate for update ``step`` (0-based): linear warmup to ``lr``, then cosine to ``lr * min_lr_ratio``."""
    warmup = settings.warmup
    if step < warmup:
        return settings.lr * (step + 1) / warmup
    span = max(1, settings.steps - warmup)
    progress = min(1.0, (step - warmup) / span)
    floor = settings.lr * settings.min_lr_ratio
    return floor + (settings.lr - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def sample_t(rows: int, settings: TrainSettings, generator: torch.Generator) -> Tensor:
    """(rows,) flow times: logit-normal, sigmoid(N(t_mean, t_std)), each replaced with chance
    ``t_uniform_prob`` by a uniform draw on (0, 1).

    The logit-normal alone puts 1.4% of rows above t = 0.9 and 0.2% above 0.95, and a network
    trained on it leaves the last of the noise in place there: measured on the 7000-step tiny
    checkpoint, its estimate of x1 at t = 0.95 kept 0.72 of the input noise (0.31 at t = 0.5),
    and the sampler's output carried that residue as grain, log-mel frame-to-frame changes 1.6x
    the ground truth's. The uniform share trains the low-noise end that the last steps use.
    With ``t_uniform_prob`` = 0 no extra numbers are drawn.
    """
    t = torch.sigmoid(settings.t_mean + settings.t_std * torch.randn(rows, generator=generator))
    if settings.t_uniform_prob > 0:
        pick = torch.rand(rows, generator=generator) < settings.t_uniform_prob
        t = torch.where(pick, torch.rand(rows, generator=generator).clamp(min=1e-6), t)
    return t


def step_seed(seed: int, step: int, stream: int) -> int:
    """A 63-bit seed for ``stream`` of update ``step``: every draw of a step is a function of (seed, step)."""
    return int(np.random.SeedSequence([seed, step, stream]).generate_state(1, np.uint64)[0] >> np.uint64(1))


# ----------------------------------------------------------------------------- augmentation


def _to_gray(rgb: np.ndarray) -> np.ndarray:
    luma = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return np.clip(np.rint(luma), 0, 255).astype(np.uint8)


def damage_clip(job: tuple[np.ndarray, Sequence[int], float, int | None, int]) -> np.ndarray:
    """One clip's damage, for ``damage_frames`` (a top-level function, so worker processes can run it).

    job: (clip (T, H, W) uint8 grayscale, seed, strength, lowered picture rate or None, fps) ->
    the damaged clip, the same shape and dtype."""
    from model.synth.damage import degrade, hold_frames

    clip, seed, level, held_fps, fps = job
    rng = np.random.default_rng(seed)
    if held_fps is not None:
        clip, _ = hold_frames(clip, held_fps, fps)
    rgb = np.repeat(clip[..., None], 3, axis=-1)  # degrade takes (T, H, W, 3)
    return _to_gray(degrade(rgb, rng, level))


def damage_frames(
    frames: Tensor,
    valid_frames: Tensor,
    seed: int,
    *,
    fps: int,
    prob: float = 0.5,
    strength: tuple[float, float] = (0.1, 1.0),
    hold_prob: float = 0.25,
    map_clips: Callable[..., Iterable[np.ndarray]] = map,
) -> Tensor:
    """Archival damage on a batch of grayscale clips, each with probability ``prob``.

    frames (B, T, H, W) uint8 -> the same shape and dtype. A damaged clip's valid frames go
    through ``degrade`` (grain, flicker, scratches, dust, weave, blur, flashes) at a strength
    drawn from ``strength``, as three equal channels and back to luma; with ``hold_prob`` its
    picture rate also drops to a random lower rate (repeated frames, as a slow camera gives).
    Frames past ``valid_frames`` are left as they are.

    Row r's draws come from ``(seed, r)`` alone, so ``map_clips`` (``map``, or a process pool's
    ``map``: ``damage_workers`` in ``train``) changes where the clips are damaged, not how.
    """
    if frames.ndim != 4 or frames.dtype != torch.uint8:
        raise ValueError(f"frames are {frames.dtype} {tuple(frames.shape)}: need uint8 (batch, time, height, width)")
    out = frames.clone()
    rows, jobs = [], []
    for row in range(frames.shape[0]):
        rng = np.random.default_rng([seed, row])
        damaged, level, hold = rng.random() < prob, rng.uniform(*strength), rng.random() < hold_prob
        held_fps = int(rng.integers(max(1, fps // 2), fps)) if hold and fps > 1 else None
        valid = int(valid_frames[row])
        if damaged and valid > 0:
            rows.append((row, valid))
            jobs.append((frames[row, :valid].numpy(), (seed, row, 1), float(level), held_fps, fps))
    for (row, valid), clip in zip(rows, map_clips(damage_clip, jobs)):
        out[row, :valid] = torch.from_numpy(clip)
    return out


def mirror_frames(frames: Tensor, rng: np.random.Generator, *, prob: float) -> Tensor:
    """Each clip of (B, T, H, W) mirrored left to right with probability ``prob``.

    The sound track is mono and an event happens at the same time in the mirror image, so a
    mirrored clip is another training clip with the same mel, caption and events; that holds
    while captions never say left or right (the foley world's do not).
    """
    flips = torch.from_numpy(rng.random(frames.shape[0]) < prob)
    return torch.where(flips[:, None, None, None], frames.flip(-1), frames)


# ----------------------------------------------------------------------------- the loss


def valid_mask(valid_mel: Tensor, frames: int) -> Tensor:
    """(B,) counts -> (B, frames) bool, True on mel frames inside the film."""
    return torch.arange(frames, device=valid_mel.device)[None, :] < valid_mel[:, None]


EVENT_SPAN = (1, 6)  # mel frames before and after an event's mark that ``event_frame_weights`` raises:
# -16 .. +94 ms at 64 frames/s, the attack, a footstep's toe (40-70 ms later) and the early ring


def event_frame_weights(marks: Tensor, weight: float, span: tuple[int, int] = EVENT_SPAN) -> Tensor:
    """(B, F) 0/1 event marks -> (B, F) flow-loss weights: ``weight`` on the frames from
    ``span[0]`` before to ``span[1]`` after each mark, 1 elsewhere."""
    before, after = span
    near = F.max_pool1d(F.pad(marks[:, None].float(), (after, before)), before + after + 1, stride=1)[:, 0]
    return 1.0 + (weight - 1.0) * near


def rectified_flow_loss(
    network: DiT,
    x1: Tensor,
    valid_mel: Tensor,
    cond: Mapping[str, Tensor],
    t: Tensor,
    noise: Tensor,
    *,
    frame_weights: Tensor | None = None,
    autocast: contextlib.AbstractContextManager | None = None,
) -> Tensor:
    """Masked rectified-flow MSE: x_t = (1 - t) noise + t x1, target x1 - noise.

    x1, noise (B, M, F) float32; t (B,) in (0, 1); valid_mel (B,) mel frames that count;
    frame_weights (B, F) or None (all 1). Returns the weighted mean squared error over the valid
    (mel bin, frame) entries of the batch: sum(w e^2) / sum(w) over them.
    """
    tt = t[:, None, None]
    x_t = (1.0 - tt) * noise + tt * x1
    target = x1 - noise
    with autocast if autocast is not None else contextlib.nullcontext():
        prediction = network(x_t, t, cond)
    mask = valid_mask(valid_mel, x1.shape[-1]).to(torch.float32)  # (B, F)
    if frame_weights is not None:
        mask = mask * frame_weights.to(mask)
    squared = (prediction.float() - target).square() * mask[:, None, :]
    return squared.sum() / (mask.sum() * x1.shape[1]).clamp(min=1.0)


def onset_targets(
    events: Sequence[Sequence[Mapping[str, Any]]], frames: int, fps: int, *, sigma_frames: float = 0.0
) -> Tensor:
    """Per-row event lists ({"offset_s": seconds into the window, ...}) -> (B, frames) float32
    targets of the timing head (frame k shows time k / fps).

    sigma_frames = 0: 1 on the video frame nearest each event, else 0. sigma_frames > 0: frame k
    gets max over events of exp(-(k - fps * time)^2 / (2 sigma^2)), so the two frames around an
    event share it by distance and the head's probabilities say where between them it lands,
    which ``DiT.predicted_events``'s parabola reads back (at sigma 0.5 and the default BCE
    ``onset_pos_weight`` of 8, within 3 ms of the event at 16 fps, for an ideal head).
    """
    if sigma_frames == 0:
        return event_marks(event_offsets(events), frames, fps)
    positions = torch.arange(frames, dtype=torch.float64)
    targets = torch.zeros(len(events), frames, dtype=torch.float64)
    for row, times in enumerate(event_offsets(events)):
        for time_s in times:
            bump = torch.exp(-0.5 * ((positions - time_s * fps) / sigma_frames) ** 2)
            targets[row] = torch.maximum(targets[row], bump)
    return targets.float()


def event_offsets(events: Sequence[Sequence[Mapping[str, Any]] | None]) -> list[list[float]]:
    """Per-row event lists -> per-row event times in seconds from the window's start (none for a
    row whose events are unknown, ``None``)."""
    return [[float(event["offset_s"]) for event in row or ()] for row in events]


def onset_loss(logits: Tensor, targets: Tensor, frame_mask: Tensor, *, pos_weight: float) -> Tensor:
    """Masked BCE of the encoder's per-frame event logits (B, T) against targets in [0, 1] (B, T)."""
    per_frame = nn.functional.binary_cross_entropy_with_logits(
        logits.float(), targets, pos_weight=torch.tensor(pos_weight, device=logits.device), reduction="none"
    )
    mask = frame_mask.to(per_frame.dtype)
    return (per_frame * mask).sum() / mask.sum().clamp(min=1.0)


class StepInputs(NamedTuple):
    """Everything one step's losses need, drawn from (seed, step)."""

    x1: Tensor  # (B, n_mels, F) target latents
    valid_mel: Tensor  # (B,)
    cond: dict[str, Tensor]  # the network's conditioning, cond["video"] as frames (B, T, 1, H, W)
    t: Tensor  # (B,)
    noise: Tensor  # (B, n_mels, F)
    onsets: Tensor  # (B, T) 0/1 event frames
    frame_mask: Tensor  # (B, T) bool, frames inside the film
    events_known: Tensor  # (B,) bool, False where the shard says the events are unknown (None)


class StepStats(NamedTuple):
    loss: float  # flow + onset_weight * onset
    flow: float
    onset: float
    lr: float
    grad_norm: float


class StepPrefetcher:
    """Prepares step k + 1's inputs while step k trains: ``prepare(step)`` runs on one worker
    thread when ``overlap`` (the CUDA default: the numpy damage of a batch of 16 takes about as
    long as an H200 step, and the GPU would wait for it), inline otherwise (on the CPU it would
    compete with torch's own threads: 0.61 against 0.58 s a step on 2 cores, measured). Steps are
    prepared in order either way, and every draw is seeded by its step, so results are the same."""

    def __init__(self, prepare, *, overlap: bool):
        self._prepare = prepare
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="talkie-prefetch") if overlap else None
        self._pending: Future | None = None

    def _submit(self, step: int) -> Future:
        if self._pool is not None:
            return self._pool.submit(self._prepare, step)
        done: Future = Future()
        done.set_result(self._prepare(step))
        return done

    def start(self, step: int) -> None:
        self._pending = self._submit(step)

    def take(self, next_step: int | None):
        """The pending step's inputs; starts preparing ``next_step`` (None: nothing more)."""
        if self._pending is None:
            raise RuntimeError("StepPrefetcher.take before start")
        result = self._pending.result()
        self._pending = self._submit(next_step) if next_step is not None else None
        return result

    def close(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
        if self._pool is not None:
            self._pool.shutdown(wait=True)


def default_damage_workers(batch_size: int) -> int:
    """Damage processes for a GPU run: one a clip of the batch, at most the cores left beside the
    training process and its prefetch thread (a step waits for its slowest clip, so clips that
    queue behind others cost a second round)."""
    return max(0, min(batch_size, (os.cpu_count() or 1) - 2))


# ----------------------------------------------------------------------------- the trainer


class Trainer:
    """The network, its EMA, AdamW and the per-step recipe; ``train`` drives it over shards."""

    def __init__(
        self,
        config: ModelConfig,
        settings: TrainSettings,
        *,
        text_encoder: TextEncoderLike,
        device: str | torch.device = "cpu",
    ):
        self.config, self.settings = config, settings
        self.device = torch.device(device)
        self.text_encoder = text_encoder
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(settings.seed)
            self.network = build_network(config).to(self.device).train()
        self._reset_ema()
        decay, no_decay = [], []
        for p in self.network.parameters():
            (decay if p.ndim >= 2 else no_decay).append(p)
        self.optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": settings.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=settings.lr,
            betas=(settings.beta1, settings.beta2),
        )
        self.step = 0  # updates done
        self._damage_pool: ProcessPoolExecutor | None = None  # start_damage_workers
        on_cuda = self.device.type == "cuda"
        self.autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if on_cuda else contextlib.nullcontext

    # ------------------------------------------------------------------------- one batch

    def inputs(self, batch: Mapping[str, Any], step: int, *, augment: bool = True) -> StepInputs:
        """One collated batch's step inputs; every draw seeded by (seed, step)."""
        config, s = self.config, self.settings
        frames, valid_frames = batch["frames"], batch["valid_frames"]
        mel, valid_mel = batch["mel"], batch["valid_mel"]
        rows, _, mel_frames = mel.shape
        expected_mel = (config.audio.n_mels, config.window_frames)
        expected_frames = (config.video_frames, config.video.height, config.video.width)
        if tuple(mel.shape[1:]) != expected_mel or tuple(frames.shape[1:]) != expected_frames:
            raise ValueError(
                f"batch has mel {tuple(mel.shape)} and frames {tuple(frames.shape)}: this config needs "
                f"(B, {expected_mel[0]}, {expected_mel[1]}) and (B, {', '.join(map(str, expected_frames))})"
            )
        frame_mask = torch.arange(frames.shape[1])[None, :] < valid_frames[:, None]  # (B, T)
        frames = frames * frame_mask[:, :, None, None].to(frames.dtype)
        if augment and s.flip_prob > 0:
            frames = mirror_frames(frames, np.random.default_rng(step_seed(s.seed, step, _DRAW_FLIP)), prob=s.flip_prob)
        if augment and s.damage_prob > 0:
            frames = damage_frames(
                frames, valid_frames, step_seed(s.seed, step, _DRAW_DAMAGE), fps=config.video.fps,
                prob=s.damage_prob, strength=(s.damage_min, s.damage_max), hold_prob=s.hold_prob,
                map_clips=self._damage_pool.map if self._damage_pool is not None else map,
            )
        generator = torch.Generator().manual_seed(step_seed(s.seed, step, _DRAW_NOISE))
        drop_text, drop_video = sample_condition_dropout(rows, config, generator=generator)
        t = sample_t(rows, s, generator)
        noise = torch.randn(rows, *expected_mel, generator=generator)

        x1 = log_mel_to_latent(mel.float(), config.audio)
        x1 = torch.where(valid_mask(valid_mel, mel_frames)[:, None, :], x1, SILENCE_LATENT)
        text = self.text_encoder.encode(list(batch["captions"]))
        device = self.device
        cond = {
            "text_tokens": text.tokens.to(device),
            "text_mask": text.mask.to(device),
            "text_pooled": text.pooled.to(device),
            "video": frames.to(device=device, dtype=torch.float32).div(255.0)[:, :, None],  # (B, T, 1, H, W)
            "drop_text": drop_text.to(device),
            "drop_video": drop_video.to(device),
            # the true event times as the event track (the timing head marks it in generation; it
            # marks it here too where the events are unknown: ``losses``)
            "events": event_marks(event_offsets(batch["events"]), mel_frames, config.audio.frame_rate).to(device),
        }
        onsets = onset_targets(batch["events"], frames.shape[1], config.video.fps, sigma_frames=s.onset_sigma_frames)
        known = torch.tensor([row is not None for row in batch["events"]], dtype=torch.bool)
        return StepInputs(
            x1.to(device), valid_mel.to(device), cond, t.to(device), noise.to(device),
            onsets.to(device), frame_mask.to(device), known.to(device),
        )

    def losses(self, inputs: StepInputs) -> tuple[Tensor, Tensor]:
        """(flow loss, onset loss) of one step: the frames are encoded once and the features feed
        both the denoiser (through cond["video"]) and the encoder's event-frame head."""
        with self.autocast():
            features = self.network.encode_video(inputs.cond["video"])
        known = inputs.events_known
        cond = {**inputs.cond, "video": features}
        if not bool(known.all()):  # unknown events: the head's marks, as generation would have them
            with torch.no_grad():
                marks = self.network.predicted_events(features.detach(), inputs.x1.shape[-1])
            cond["events"] = torch.where(known[:, None], inputs.cond["events"], marks.to(inputs.cond["events"].dtype))
        weights = None
        if self.settings.event_flow_weight != 1.0:  # only around true events
            weights = event_frame_weights(inputs.cond["events"], self.settings.event_flow_weight)
        flow = rectified_flow_loss(
            self.network, inputs.x1, inputs.valid_mel, cond, inputs.t, inputs.noise,
            frame_weights=weights, autocast=self.autocast(),
        )
        with self.autocast():  # on CUDA the features are bf16, and so must the head's input be
            logits = self.network.visual.onset_logits(features)
        onset_mask = inputs.frame_mask & known[:, None]
        onset = onset_loss(logits, inputs.onsets, onset_mask, pos_weight=self.settings.onset_pos_weight)
        return flow, onset

    def loss(self, batch: Mapping[str, Any], step: int, *, augment: bool = True) -> Tensor:
        """The batch's training loss under the draws of ``step``, without updating anything."""
        with torch.no_grad():
            flow, onset = self.losses(self.inputs(batch, step, augment=augment))
            return flow + self.settings.onset_weight * onset

    def train_step(self, batch: Mapping[str, Any]) -> StepStats:
        """One AdamW update on ``batch``; returns its losses, learning rate and pre-clip gradient norm."""
        return self.apply(self.inputs(batch, self.step))

    def apply(self, inputs: StepInputs) -> StepStats:
        """One AdamW update from inputs drawn for this step (``inputs(batch, self.step)``)."""
        step, s = self.step, self.settings
        lr = learning_rate(step, s)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.zero_grad(set_to_none=True)
        flow, onset = self.losses(inputs)
        loss = flow + s.onset_weight * onset
        if not torch.isfinite(loss):
            raise FloatingPointError(f"step {step}: the loss is {loss.item()}; lower --lr (now {s.lr}) or check the shards")
        loss.backward()
        max_norm = s.grad_clip if s.grad_clip > 0 else float("inf")
        grad_norm = torch.nn.utils.clip_grad_norm_(self.network.parameters(), max_norm)
        self.optimizer.step()
        self._update_ema()
        self.step += 1
        return StepStats(float(loss.detach()), float(flow.detach()), float(onset.detach()), lr, float(grad_norm))

    @torch.no_grad()
    def _update_ema(self) -> None:
        # the decay ramps up ((1 + n) / (10 + n), as in TensorFlow's ExponentialMovingAverage with
        # num_updates), so early EMA weights are not dominated by the random initialisation
        decay = min(self.settings.ema_decay, (1 + self.step) / (10 + self.step))
        for name, p in self.network.named_parameters():
            self.ema[name].lerp_(p.detach(), 1.0 - decay)

    # ------------------------------------------------------------------------- state

    def start_damage_workers(self, workers: int | None = None) -> int:
        """Damage the clips of later batches in ``workers`` processes (None: none on the CPU, where
        torch's threads have the cores; on CUDA ``default_damage_workers``); the damage is the same
        either way. Returns how many run: 0 when there are none or nothing to damage."""
        if workers is not None and workers < 0:
            raise ValueError(f"damage_workers={workers}: need 0 or more")
        if workers is None:
            workers = default_damage_workers(self.settings.batch_size) if self.device.type == "cuda" else 0
        self.stop_damage_workers()
        if workers == 0 or self.settings.damage_prob == 0:
            return 0
        self._damage_pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
        return workers

    def stop_damage_workers(self) -> None:
        """Back to damaging clips in the calling thread."""
        if self._damage_pool is not None:
            self._damage_pool.shutdown(wait=True, cancel_futures=True)
            self._damage_pool = None

    def start_from(self, state_dict: Mapping[str, Tensor]) -> None:
        """Weights and EMA from a model checkpoint's state_dict (fine-tuning); step 0, fresh AdamW.

        Strict: every tensor the network has, of the same shape, and nothing else."""
        self.network.load_state_dict(state_dict, strict=True)
        self._reset_ema()

    def _reset_ema(self) -> None:
        """The EMA as a copy of the current weights (a new run's start, random or from --init)."""
        self.ema = {name: p.detach().clone() for name, p in self.network.named_parameters()}

    def ema_state_dict(self) -> dict[str, Tensor]:
        """The network's state_dict with the EMA in place of each parameter (what the model file holds)."""
        return {name: self.ema.get(name, tensor).detach().cpu() for name, tensor in self.network.state_dict().items()}

    def state_tensors(self) -> dict[str, Tensor]:
        """Raw weights, EMA, AdamW moments and global RNG states, flat for safetensors."""
        tensors = {f"model.{k}": v.detach().cpu() for k, v in self.network.state_dict().items()}
        tensors.update({f"ema.{k}": v.detach().cpu() for k, v in self.ema.items()})
        names = {id(p): name for name, p in self.network.named_parameters()}
        for p, state in self.optimizer.state.items():
            for key, value in state.items():
                tensors[f"optim.{names[id(p)]}.{key}"] = torch.as_tensor(value).detach().cpu()
        tensors["rng.torch_cpu"] = torch.get_rng_state()
        if self.device.type == "cuda":
            tensors["rng.torch_cuda"] = torch.cuda.get_rng_state(self.device)
        return tensors

    def load_state_tensors(self, tensors: Mapping[str, Tensor], step: int) -> None:
        """The inverse of ``state_tensors``, for a network of the same config."""
        model = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
        self.network.load_state_dict(model, strict=True)
        params = dict(self.network.named_parameters())
        missing = [n for n in params if f"ema.{n}" not in tensors]
        if missing:
            raise ValueError(f"training state lacks EMA tensors for {missing[:3]}")
        self.ema = {n: tensors[f"ema.{n}"].to(self.device).clone() for n in params}
        index = {id(p): i for i, p in enumerate(q for g in self.optimizer.param_groups for q in g["params"])}
        optim_state: dict[int, dict[str, Tensor]] = {}
        for key, value in tensors.items():
            if key.startswith("optim."):
                name, slot = key[len("optim."):].rsplit(".", 1)
                if name not in params:
                    raise ValueError(f"training state has optimizer moments for unknown parameter {name!r}")
                optim_state.setdefault(index[id(params[name])], {})[slot] = value.clone()
        saved = self.optimizer.state_dict()
        self.optimizer.load_state_dict({"state": optim_state, "param_groups": saved["param_groups"]})
        torch.set_rng_state(tensors["rng.torch_cpu"])
        if self.device.type == "cuda" and "rng.torch_cuda" in tensors:
            torch.cuda.set_rng_state(tensors["rng.torch_cuda"], self.device)
        self.step = step


# ----------------------------------------------------------------------------- data


class BatchStream:
    """Endless batches over shuffled epochs of the shards, with a resumable cursor (epoch, position).

    The order of epoch e is ``ShardDataset(shuffle=True, seed)``'s; batches run across epoch
    boundaries, so every batch has ``batch_size`` rows even when the corpus is smaller.
    """

    def __init__(self, uris: Sequence[str], batch_size: int, *, seed: int, epoch: int = 0, position: int = 0):
        self.dataset = ShardDataset(list(uris), shuffle=True, seed=seed)
        self.batch_size = batch_size
        self.epoch, self.position = epoch, position
        self._examples = self._iterate()

    def _iterate(self) -> Iterator[dict[str, Any]]:
        while True:
            self.dataset.set_epoch(self.epoch)
            seen = 0
            for index, example in enumerate(self.dataset):
                seen += 1
                if index < self.position:
                    continue
                self.position = index + 1
                yield example
            if seen == 0:
                raise ValueError(f"the shards {self.dataset.uris[:3]} hold no training windows")
            self.epoch, self.position = self.epoch + 1, 0

    def next_batch(self) -> dict[str, Any]:
        return collate([next(self._examples) for _ in range(self.batch_size)])

    @property
    def cursor(self) -> dict[str, int]:
        return {"epoch": self.epoch, "position": self.position}


def _data_fields(config: ModelConfig) -> dict[str, Any]:
    return {"audio": asdict(config.audio), "video": asdict(config.video), "window": asdict(config.window)}


def check_shards(uris: Sequence[str], config: ModelConfig) -> tuple[int, list[str]]:
    """(windows, distinct captions) of the shards, after checking that each was featurized with
    this config's audio, video and window settings (the network's shape may differ)."""
    windows, captions = 0, {}
    wanted = _data_fields(config)
    for uri in uris:
        meta = read_shard_metadata(uri)
        try:
            # shards featurized by earlier code carry an earlier config; only its data fields matter
            theirs = _data_fields(ModelConfig.from_json(meta.get("config", ""), upgrade=True))
        except (TypeError, ValueError) as e:
            raise ValueError(f"{uri}: the shard's config is unreadable ({e})") from None
        if theirs != wanted:
            differ = [
                f"{group}.{key}={theirs[group][key]!r} (model: {value!r})"
                for group, values in wanted.items()
                for key, value in values.items()
                if theirs[group][key] != value
            ]
            raise ValueError(
                f"{uri} was featurized for other audio/video/window settings: {', '.join(differ)}; "
                "featurize again with this model's preset"
            )
        windows += len(meta["captions"])
        captions.update(dict.fromkeys(meta["captions"]))
    return windows, list(captions)


# ----------------------------------------------------------------------------- files


def sibling_paths(out: str) -> tuple[str, str]:
    """(training state, loss log) beside the model checkpoint ``out`` (``X.safetensors``)."""
    if not out.endswith(SUFFIX):
        raise ValueError(f"--out {out!r} must end in {SUFFIX!r} (the model is a safetensors checkpoint)")
    stem = out[: -len(SUFFIX)]
    return stem + ".train" + SUFFIX, stem + ".train.jsonl"


def save_training_state(uri: str, trainer: Trainer, meta: Mapping[str, Any]) -> None:
    from safetensors.torch import save

    text = json.dumps({"format": STATE_FORMAT, **meta}, sort_keys=True)
    tensors = {k: v.contiguous() for k, v in trainer.state_tensors().items()}
    storage.write_bytes(uri, save(tensors, metadata={STATE_KEY: text}))


def load_training_state(uri: str) -> tuple[dict[str, Tensor], dict[str, Any]]:
    from safetensors.torch import load

    data = storage.read_bytes(uri)
    length = int.from_bytes(data[:8], "little")
    try:
        header = json.loads(data[8 : 8 + length])
        meta = json.loads((header.get("__metadata__") or {})[STATE_KEY])
    except (ValueError, KeyError, UnicodeDecodeError):
        raise ValueError(f"{uri} is not a Talkie training state (no {STATE_KEY!r} metadata)") from None
    if meta.get("format") != STATE_FORMAT:
        raise ValueError(f"{uri}: training state format {meta.get('format')!r}; this trainer reads {STATE_FORMAT!r}")
    return load(data), meta


class LossLog:
    """JSON Lines of (step, loss, lr, seconds, grad_norm): appended as it goes on local disk,
    published whole at every save for object stores."""

    def __init__(self, uri: str, *, keep_through: int | None):
        self.uri, self.lines = uri, []
        if keep_through is not None and storage.exists(uri):  # resuming: drop steps that will be redone
            for line in storage.read_bytes(uri).decode("utf-8").splitlines():
                if line.strip() and json.loads(line)["step"] <= keep_through:
                    self.lines.append(line)
        if storage.is_local(uri):
            storage.write_bytes(uri, "".join(l + "\n" for l in self.lines).encode("utf-8"))
            self._file = open(storage.local_path(uri), "a", encoding="utf-8")
        else:
            self._file = None

    def add(self, record: Mapping[str, Any]) -> None:
        line = json.dumps(record, sort_keys=True)
        self.lines.append(line)
        if self._file is not None:
            self._file.write(line + "\n")
            self._file.flush()

    def publish(self) -> None:
        if self._file is None:
            storage.write_bytes(self.uri, "".join(l + "\n" for l in self.lines).encode("utf-8"))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


# ----------------------------------------------------------------------------- train


@dataclass(frozen=True)
class TrainResult:
    """What one ``train`` call did."""

    checkpoint: str  # the model (EMA weights)
    state: str  # the training state, for --resume
    log: str  # the loss log (JSON Lines)
    step: int  # updates done in total (this call and any it resumed)
    steps_this_run: int
    stopped_by: str  # "steps", "minutes", "session_steps" or "interrupted"
    device: str
    seconds: float  # this call's training loop
    seconds_per_step: float
    losses: tuple[float, ...] = field(repr=False)  # this call's per-step losses
    checkpoint_sha256: str = ""

    @property
    def first_loss(self) -> float:
        return self.losses[0] if self.losses else float("nan")

    @property
    def last_loss(self) -> float:
        return self.losses[-1] if self.losses else float("nan")


def _progress(total: int, initial: int, enabled: bool):
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True)


def train(
    config: ModelConfig,
    shards: str | Sequence[str],
    out: str,
    *,
    steps: int,
    batch_size: int = 16,
    minutes: float | None = None,
    seed: int = 0,
    resume: bool = False,
    overwrite: bool = False,
    device: str | torch.device = "auto",
    text_embeddings: str | None = None,
    text_encoder: TextEncoderLike | None = None,
    session_steps: int | None = None,
    progress: bool = True,
    init: str | None = None,
    damage_workers: int | None = None,
    **hyperparameters: Any,
) -> TrainResult:
    """Train the denoiser of ``config`` on featurize ``shards`` and save its EMA weights to ``out``.

    ``steps`` is the total number of updates (and the schedule's length); with ``resume`` the run
    continues from ``out``'s training state, else it starts from ``seed`` (refusing to replace an
    earlier run's files unless ``overwrite``). ``minutes`` and ``session_steps`` stop this call
    early, cleanly: the model and training state are saved, and a later ``resume`` goes on.
    Text comes from ``text_encoder``, else the embeddings file ``text_embeddings``, else MiniLM.
    ``init``: a model checkpoint (path or URI) whose weights a new run starts from instead of
    ``seed``'s; its config must be ``config`` (the CLI trains the checkpoint's own config).
    ``damage_workers``: processes that damage the clips of the next batch
    (``Trainer.start_damage_workers``; None: its default). The weights are the same for any number.
    Other keyword arguments are ``TrainSettings`` fields (lr, warmup_steps, ema_decay, ...).
    """
    known = {f.name for f in fields(TrainSettings)} - {"steps", "batch_size", "seed"}
    unknown = sorted(set(hyperparameters) - known)
    if unknown:
        raise TypeError(f"train() got unknown settings {unknown}; accepted: {sorted(known)}")
    settings = TrainSettings(steps=steps, batch_size=batch_size, seed=seed, **hyperparameters)
    if minutes is not None and not minutes > 0:
        raise ValueError(f"minutes={minutes}: need a positive budget")
    if session_steps is not None and session_steps < 1:
        raise ValueError(f"session_steps={session_steps}: need 1 or more")
    if damage_workers is not None and damage_workers < 0:  # before any file is written
        raise ValueError(f"damage_workers={damage_workers}: need 0 or more")
    state_uri, log_uri = sibling_paths(out)
    uris = shard_uris(shards)
    windows, captions = check_shards(uris, config)
    logger.info("%d training windows in %d shards, %d distinct captions", windows, len(uris), len(captions))

    device = resolve_device(device, task="training")
    if text_encoder is None:
        text_encoder = PrecomputedTextEncoder.load(text_embeddings) if text_embeddings else TextEncoder()
    for start in range(0, len(captions), 256):  # fills TextEncoder's cache; checks precomputed coverage
        text_encoder.encode(captions[start : start + 256])

    initial = None
    if init is not None:
        initial = load_checkpoint(init)
        if initial.config.config_hash() != config.config_hash():
            raise ValueError(
                f"--init {init} holds config {initial.config.config_hash()}, not the {config.config_hash()} being "
                "trained: fine-tune a checkpoint with its own config (the CLI does so when --init is given)"
            )
    trainer = Trainer(config, settings, text_encoder=text_encoder, device=device)
    cursor, elapsed_before, resumed_from = {"epoch": 0, "position": 0}, 0.0, None
    if resume and storage.exists(state_uri):
        tensors, meta = load_training_state(state_uri)
        if meta["config_hash"] != config.config_hash():
            raise ValueError(
                f"{state_uri} trains config {meta['config_hash']}, not {config.config_hash()}: resume with the "
                "same preset, or start a new --out"
            )
        for name in ("seed", "batch_size"):
            if meta["settings"][name] != getattr(settings, name):
                raise ValueError(
                    f"{state_uri} was trained with {name}={meta['settings'][name]}, not {getattr(settings, name)}: "
                    "a resumed run must keep them"
                )
        if meta["settings"]["steps"] != settings.steps:
            logger.warning("resuming with steps=%d (was %d): the LR schedule changes", settings.steps, meta["settings"]["steps"])
        trainer.load_state_tensors(tensors, int(meta["step"]))
        cursor, elapsed_before, resumed_from = meta["cursor"], float(meta["seconds"]), int(meta["step"])
        logger.info("resumed from %s at step %d", state_uri, resumed_from)
    else:
        if resume:
            logger.warning("--resume: no training state at %s, so training starts from step 0", state_uri)
        if not overwrite and (storage.exists(state_uri) or storage.exists(out)):
            raise FileExistsError(
                f"{out if storage.exists(out) else state_uri} exists"
                + (" without a training state to resume from" if resume else "")
                + ": pass resume=True (--resume) to continue its run, or overwrite=True (--overwrite) to "
                "start a new one over it"
            )
        if initial is not None:
            trainer.start_from(initial.state_dict)
            logger.info("weights and EMA from %s", init)
    stream = BatchStream(uris, settings.batch_size, seed=settings.seed, **cursor)
    applied_cursor = dict(stream.cursor)  # the data cursor after the last batch actually trained on
    log = LossLog(log_uri, keep_through=resumed_from)

    def prepare(step: int) -> tuple[StepInputs, dict[str, int]]:
        # the next batch and its augmentation (numpy damage, text, the copy to the device)
        inputs = trainer.inputs(stream.next_batch(), step)
        return inputs, dict(stream.cursor)

    def save() -> str:
        meta = {
            "step": trainer.step,
            "seconds": elapsed_before + (time.perf_counter() - began),
            "cursor": applied_cursor,
            "config_hash": config.config_hash(),
            "settings": asdict(settings),
            "shards": uris,
        }
        digest = save_checkpoint(
            out,
            trainer.ema_state_dict(),
            config,
            extra_metadata={
                "train_step": str(trainer.step),
                "train_seconds": f"{meta['seconds']:.1f}",
                "train_settings": json.dumps(asdict(settings), sort_keys=True),
                "train_windows": str(windows),
                **({"train_init": init} if init is not None else {}),
            },
        )
        save_training_state(state_uri, trainer, meta)
        log.publish()
        return digest

    losses: list[float] = []
    window_losses: list[float] = []
    stopped_by, digest = "steps", ""
    bar = _progress(settings.steps, trainer.step, progress)
    began = time.perf_counter()
    workers = trainer.start_damage_workers(damage_workers)
    if workers:
        logger.info("damaging clips in %d worker processes", workers)
    prefetch = StepPrefetcher(prepare, overlap=trainer.device.type == "cuda")
    if trainer.step < settings.steps:
        prefetch.start(trainer.step)
    try:
        while trainer.step < settings.steps:
            if session_steps is not None and len(losses) >= session_steps:
                stopped_by = "session_steps"
                break
            if minutes is not None and time.perf_counter() - began >= minutes * 60:
                stopped_by = "minutes"
                break
            inputs, cursor_after = prefetch.take(trainer.step + 1 if trainer.step + 1 < settings.steps else None)
            stats = trainer.apply(inputs)
            applied_cursor = cursor_after
            lr, grad_norm = stats.lr, stats.grad_norm
            losses.append(stats.loss)
            window_losses.append(stats)
            step = trainer.step
            if step % settings.log_every == 0 or step == settings.steps:
                seconds = time.perf_counter() - began
                record = {
                    "step": step,
                    "loss": sum(w.loss for w in window_losses) / len(window_losses),
                    "flow": sum(w.flow for w in window_losses) / len(window_losses),
                    "onset": sum(w.onset for w in window_losses) / len(window_losses),
                    "lr": lr,
                    "grad_norm": grad_norm,
                    "seconds": round(elapsed_before + seconds, 3),
                }
                log.add(record)
                window_losses = []
                if bar is not None:
                    bar.set_postfix(flow=f"{record['flow']:.4f}", onset=f"{record['onset']:.4f}", lr=f"{lr:.2e}")
                elif progress:
                    logger.info(
                        "step %d/%d loss %.4f (flow %.4f, onset %.4f) lr %.2e %.3f s/step",
                        step, settings.steps, record["loss"], record["flow"], record["onset"], lr,
                        seconds / len(losses),
                    )
            if bar is not None:
                bar.update(1)
            if step % settings.save_every == 0 and step < settings.steps:
                save()
    except KeyboardInterrupt:
        stopped_by = "interrupted"
        logger.warning("interrupted at step %d: saving", trainer.step)
    finally:
        prefetch.close()
        trainer.stop_damage_workers()
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - began
    digest = save()
    log.close()
    done = len(losses)
    logger.info(
        "stopped by %s at step %d: %d steps in %.1f s (%.3f s/step); model %s",
        stopped_by, trainer.step, done, seconds, seconds / max(done, 1), out,
    )
    return TrainResult(
        checkpoint=out,
        state=state_uri,
        log=log_uri,
        step=trainer.step,
        steps_this_run=done,
        stopped_by=stopped_by,
        device=str(device),
        seconds=seconds,
        seconds_per_step=seconds / max(done, 1),
        losses=tuple(losses),
        checkpoint_sha256=digest,
    )


# ----------------------------------------------------------------------------- CLI


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m model.train", description="Rectified-flow training of Talkie's denoiser over featurize shards."
    )
    parser.add_argument("--shards", required=True, help="featurize --output folder, a glob, or one shard file")
    parser.add_argument("--out", required=True, help="model checkpoint to write (X.safetensors; state and log go beside it)")
    parser.add_argument("--preset", default="tiny", choices=PRESET_NAMES, help="model config preset (default tiny)")
    parser.add_argument("--steps", type=int, required=True, help="total updates (the LR schedule's length)")
    parser.add_argument("--batch", type=int, default=16, help="windows per update (default 16)")
    parser.add_argument("--minutes", type=float, default=None, help="stop cleanly and save after this many minutes")
    parser.add_argument("--session_steps", type=int, default=None, help="stop cleanly and save after this many updates")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", action="store_true", help="continue from --out's training state")
    parser.add_argument("--init", default=None, metavar="CHECKPOINT",
                        help="fine-tune: start from this model checkpoint's weights and train its config (--preset is ignored)")
    parser.add_argument("--overwrite", action="store_true", help="start afresh over an earlier run's files")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--text_embeddings", default=None, help="precomputed MiniLM embeddings (safetensors) of every caption")
    parser.add_argument("--lr", type=float, default=TrainSettings.lr)
    parser.add_argument("--warmup_steps", type=int, default=None, help="default min(500, steps // 10)")
    parser.add_argument("--ema_decay", type=float, default=TrainSettings.ema_decay)
    parser.add_argument("--onset_weight", type=float, default=TrainSettings.onset_weight,
                        help="weight of the timing head's event-frame loss beside the flow loss")
    parser.add_argument("--t_uniform_prob", type=float, default=TrainSettings.t_uniform_prob,
                        help="chance that a row's flow time is uniform on (0, 1) instead of logit-normal")
    parser.add_argument("--event_flow_weight", type=float, default=TrainSettings.event_flow_weight,
                        help="flow-loss weight of the mel frames around each true event (1: uniform)")
    parser.add_argument("--onset_sigma_frames", type=float, default=TrainSettings.onset_sigma_frames,
                        help="width in video frames of the timing head's Gaussian targets (0: the nearest frame only)")
    parser.add_argument("--damage_prob", type=float, default=TrainSettings.damage_prob,
                        help="chance that a clip gets archival damage on the fly")
    parser.add_argument("--flip_prob", type=float, default=TrainSettings.flip_prob,
                        help="chance that a clip is mirrored left to right (not for captions that say left or right)")
    parser.add_argument("--damage_min", type=float, default=TrainSettings.damage_min,
                        help="damage strength is drawn from [damage_min, 1]")
    parser.add_argument("--save_every", type=int, default=TrainSettings.save_every)
    parser.add_argument("--log_every", type=int, default=TrainSettings.log_every)
    parser.add_argument(
        "--damage_workers", type=int, default=None,
        help="processes that damage the next batch's clips (default: none on the CPU; on CUDA one a clip, "
        "at most the cores left over); the weights do not depend on it",
    )
    parser.add_argument(
        "--threads", type=int, default=None,
        help="CPU intra-op threads (default: torch's choice); 1 can be much faster on a busy machine",
    )
    parser.add_argument("--no_progress", action="store_true", help="no progress bar or progress lines")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    if args.threads is not None:
        if args.threads < 1:
            print(f"python -m model.train: --threads {args.threads}: need 1 or more", file=sys.stderr)
            return 2
        torch.set_num_threads(args.threads)
    logger.info("%d CPU threads", torch.get_num_threads())
    try:
        config = load_checkpoint(args.init).config if args.init else preset(args.preset)
        result = train(
            config,
            args.shards,
            args.out,
            steps=args.steps,
            batch_size=args.batch,
            minutes=args.minutes,
            seed=args.seed,
            resume=args.resume,
            overwrite=args.overwrite,
            device=args.device,
            text_embeddings=args.text_embeddings,
            session_steps=args.session_steps,
            progress=not args.no_progress,
            init=args.init,
            damage_workers=args.damage_workers,
            lr=args.lr,
            warmup_steps=args.warmup_steps,
            ema_decay=args.ema_decay,
            onset_weight=args.onset_weight,
            event_flow_weight=args.event_flow_weight,
            onset_sigma_frames=args.onset_sigma_frames,
            t_uniform_prob=args.t_uniform_prob,
            damage_prob=args.damage_prob,
            damage_min=args.damage_min,
            flip_prob=args.flip_prob,
            save_every=args.save_every,
            log_every=args.log_every,
        )
    except (ValueError, FileExistsError, FileNotFoundError, TypeError) as e:
        print(f"python -m model.train: {e}", file=sys.stderr)
        return 2
    print(
        f"trained to step {result.step} ({result.steps_this_run} steps this run, stopped by {result.stopped_by}) "
        f"on {result.device}: {result.seconds_per_step:.3f} s/step, loss {result.first_loss:.4f} -> "
        f"{result.last_loss:.4f}\n  model: {result.checkpoint}\n  state: {result.state}\n  log:   {result.log}"
    )
    return 130 if result.stopped_by == "interrupted" else 0


if __name__ == "__main__":
    sys.exit(main())

"""The training recipe of one step: settings, draws, the ``Trainer`` (docs/design.md "Objective").

The losses are ``model.losses``'s: rectified flow on x1 = ``log_mel_to_latent(mel)`` and the
timing head's BCE, summed as flow + ``onset_weight`` * onset. t is logit-normal,
t = sigmoid(N(m, s)) (Esser et al. 2024, "Scaling Rectified Flow Transformers", section 3.1), a
share of rows uniform instead (``sample_t``) so the low-noise end is trained too.
Text and video are each replaced by their learned null with the config's dropout probabilities
(``sample_condition_dropout``), so both guidances work at sampling time. Clips are damaged and
mirrored on the fly (``model.augment``).

Timing head. The visual encoder's per-frame features also feed a one-unit head whose logits are
trained (BCE, weighted ``onset_weight``) to mark the frames where the shard's truth events (impacts,
footsteps) land, so the picture path learns contact moments from a direct signal instead of only
through the flow loss (docs/design.md's calibration, "a timing head"); windows without events teach
it where nothing lands. The denoiser is conditioned on the true event times as its event track
(``model.networks.dit.event_marks``), which generation fills from this head's peaks: the head
learns *when*, the denoiser learns what a marked event sounds like and to stay quiet elsewhere.
A window whose events are unknown (``None`` in the shard: a sound film without a truth record,
such as an archive's own) teaches the head nothing, and the denoiser gets the head's own marks as
its event track there, as in generation; a window with an empty list is one where nothing lands.

Optimisation: AdamW, linear warmup then cosine decay (``learning_rate``), gradient clipping, an
exponential moving average of the weights (the EMA is what the model checkpoint holds). CPU runs
in float32; CUDA runs the network under bf16 autocast with float32 weights and loss.

Determinism. Every random draw of step k (condition dropout, t, noise, damage, mirroring) comes
from generators seeded with (seed, k) (``step_seed``), so a step's inputs do not depend on where
or when they are prepared (``model.train_loop.StepPrefetcher``, damage worker processes).
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar

import numpy as np
import torch
from torch import Tensor

from model.augment import damage_frames, mirror_frames
from model.conditioning import TextEncoderLike
from model.config import ModelConfig
from model.latent import SILENCE_LATENT, log_mel_to_latent
from model.losses import (
    event_frame_weights,
    event_offsets,
    onset_loss,
    onset_targets,
    rectified_flow_loss,
    valid_mask,
)
from model.networks import build_network
from model.networks.dit import event_marks, sample_condition_dropout

_DRAW_NOISE, _DRAW_DAMAGE, _DRAW_FLIP = 0, 1, 2  # stream ids of the per-step seeds

# ----------------------------------------------------------------------------- settings


Value = TypeVar("Value")


def _setting(default: Value, help_text: str, *, flags: tuple[str, ...] = ()) -> Value:
    """A ``TrainSettings`` field: its default, and its command-line help and flags (``--<name>``
    unless ``flags`` names them) for ``model.train``."""
    return field(default=default, metadata={"help": help_text, **({"flags": flags} if flags else {})})


@dataclass(frozen=True)
class TrainSettings:
    """Hyperparameters of one training run (the model's shape lives in ``ModelConfig``).

    Each field is also an option of ``python -m model.train``, with the help in its metadata."""

    steps: int = field(metadata={"help": "total updates: warmup + cosine decay reach their end at this step"})
    batch_size: int = _setting(16, "windows per update", flags=("--batch", "--batch_size"))
    seed: int = _setting(0, "seed of the initial weights and of every draw")
    lr: float = _setting(3e-4, "peak learning rate (AdamW)")
    min_lr_ratio: float = _setting(0.1, "the cosine decays to lr * min_lr_ratio")
    warmup_steps: int | None = _setting(None, "linear warmup steps (default min(500, steps // 10))")
    weight_decay: float = _setting(0.01, "AdamW weight decay, on matrices and conv kernels only")
    beta1: float = _setting(0.9, "AdamW beta1")
    beta2: float = _setting(0.99, "AdamW beta2")
    grad_clip: float = _setting(1.0, "max global gradient norm; 0 turns clipping off")
    ema_decay: float = _setting(0.999, "decay of the weights' EMA, which the model checkpoint holds")
    t_mean: float = _setting(0.0, "logit-normal flow time t: sigmoid(N(t_mean, t_std))")
    t_std: float = _setting(1.0, "logit-normal flow time t: sigmoid(N(t_mean, t_std))")
    t_uniform_prob: float = _setting(0.0, "chance that a row's t is uniform on (0, 1) instead (sample_t)")
    damage_prob: float = _setting(0.5, "chance that a clip gets archival damage on the fly")
    damage_min: float = _setting(0.1, "damage strength ~ U(damage_min, damage_max)")
    damage_max: float = _setting(1.0, "damage strength ~ U(damage_min, damage_max)")
    hold_prob: float = _setting(0.25, "chance that a damaged clip also gets a lower picture rate")
    flip_prob: float = _setting(
        0.0, "chance that a clip is mirrored left to right (not for captions that say left or right)"
    )
    onset_weight: float = _setting(0.5, "weight of the timing head's event-frame loss (0: flow loss only)")
    onset_pos_weight: float = _setting(8.0, "BCE weight of an event frame (events are sparse)")
    onset_sigma_frames: float = _setting(
        0.0, "> 0: Gaussian onset targets of this width in video frames (0: the nearest frame only)"
    )
    event_flow_weight: float = _setting(
        1.0, "flow-loss weight of the mel frames around each true event (1: uniform)"
    )
    save_every: int = _setting(500, "save the model and training state every N steps")
    log_every: int = _setting(10, "one loss-log line every N steps")

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "save_every", "log_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"TrainSettings.{name}={value!r}: need an integer >= 1")
        if self.warmup_steps is not None and not 0 <= self.warmup_steps <= self.steps:
            raise ValueError(f"TrainSettings.warmup_steps={self.warmup_steps}: need 0..steps={self.steps}")
        if not self.lr > 0 or not 0 <= self.min_lr_ratio <= 1:
            raise ValueError(
                f"TrainSettings lr={self.lr}, min_lr_ratio={self.min_lr_ratio}: need lr > 0, ratio in [0, 1]"
            )
        for name in ("ema_decay", "beta1", "beta2"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"TrainSettings.{name}={getattr(self, name)}: need a value in [0, 1)")
        for name in ("damage_prob", "hold_prob", "flip_prob", "t_uniform_prob"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"TrainSettings.{name}={getattr(self, name)}: need a probability in [0, 1]")
        if not 0 <= self.damage_min <= self.damage_max <= 1:
            raise ValueError(
                f"TrainSettings damage_min={self.damage_min}, damage_max={self.damage_max}: "
                "need 0 <= min <= max <= 1"
            )
        if self.onset_weight < 0 or not self.onset_pos_weight > 0:
            raise ValueError("TrainSettings: onset_weight must be >= 0 and onset_pos_weight > 0")
        if not self.onset_sigma_frames >= 0:
            raise ValueError(
                f"TrainSettings.onset_sigma_frames={self.onset_sigma_frames}: "
                "need >= 0 (0: one frame per event)"
            )
        if not self.event_flow_weight >= 1:
            raise ValueError(
                f"TrainSettings.event_flow_weight={self.event_flow_weight}: "
                "need >= 1 (1 weighs all frames alike)"
            )
        if self.weight_decay < 0 or self.grad_clip < 0 or not self.t_std > 0:
            raise ValueError("TrainSettings: weight_decay and grad_clip must be >= 0 and t_std > 0")

    @property
    def warmup(self) -> int:
        return min(500, self.steps // 10) if self.warmup_steps is None else self.warmup_steps


def learning_rate(step: int, settings: TrainSettings) -> float:
    """The rate for update ``step`` (0-based): linear warmup to ``lr``, then cosine to
    ``lr * min_lr_ratio``."""
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


# ----------------------------------------------------------------------------- one step


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


def default_damage_workers(batch_size: int) -> int:
    """Damage processes for a GPU run: one a clip of the batch, at most the cores left beside the
    training process and its prefetch thread (a step waits for its slowest clip, so clips that
    queue behind others cost a second round)."""
    return max(0, min(batch_size, (os.cpu_count() or 1) - 2))


# ----------------------------------------------------------------------------- the trainer


class Trainer:
    """The network, its EMA, AdamW and the per-step recipe; ``model.train_loop.train`` drives it
    over shards."""

    ema: dict[str, Tensor]  # parameter name -> its exponential moving average

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
        decay: list[torch.nn.Parameter] = []
        no_decay: list[torch.nn.Parameter] = []
        for p in self.network.parameters():
            (decay if p.ndim >= 2 else no_decay).append(p)
        self.optimizer = torch.optim.AdamW(
            [
                {"params": decay, "weight_decay": settings.weight_decay},
                {"params": no_decay, "weight_decay": 0.0},
            ],
            lr=settings.lr,
            betas=(settings.beta1, settings.beta2),
        )
        self.step = 0  # updates done
        self._damage_pool: ProcessPoolExecutor | None = None  # start_damage_workers
        on_cuda = self.device.type == "cuda"
        self.autocast: Callable[[], contextlib.AbstractContextManager[Any]] = (
            (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if on_cuda else contextlib.nullcontext
        )

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
            flip_rng = np.random.default_rng(step_seed(s.seed, step, _DRAW_FLIP))
            frames = mirror_frames(frames, flip_rng, prob=s.flip_prob)
        if augment and s.damage_prob > 0:
            frames = damage_frames(
                frames,
                valid_frames,
                step_seed(s.seed, step, _DRAW_DAMAGE),
                fps=config.video.fps,
                prob=s.damage_prob,
                strength=(s.damage_min, s.damage_max),
                hold_prob=s.hold_prob,
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
        # the true event times as the event track (the timing head marks it in generation; it
        # marks it here too where the events are unknown: ``losses``)
        events = event_marks(event_offsets(batch["events"]), mel_frames, config.audio.frame_rate)
        cond = {
            "text_tokens": text.tokens.to(device),
            "text_mask": text.mask.to(device),
            "text_pooled": text.pooled.to(device),
            "video": frames.to(device=device, dtype=torch.float32).div(255.0)[:, :, None],  # (B, T, 1, H, W)
            "drop_text": drop_text.to(device),
            "drop_video": drop_video.to(device),
            "events": events.to(device),
        }
        onsets = onset_targets(
            batch["events"], frames.shape[1], config.video.fps, sigma_frames=s.onset_sigma_frames
        )
        known = torch.tensor([row is not None for row in batch["events"]], dtype=torch.bool)
        return StepInputs(
            x1.to(device),
            valid_mel.to(device),
            cond,
            t.to(device),
            noise.to(device),
            onsets.to(device),
            frame_mask.to(device),
            known.to(device),
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
            true_marks = inputs.cond["events"]
            cond["events"] = torch.where(known[:, None], true_marks, marks.to(true_marks.dtype))
        weights = None
        if self.settings.event_flow_weight != 1.0:  # only around true events
            weights = event_frame_weights(inputs.cond["events"], self.settings.event_flow_weight)
        flow = rectified_flow_loss(
            self.network,
            inputs.x1,
            inputs.valid_mel,
            cond,
            inputs.t,
            inputs.noise,
            frame_weights=weights,
            autocast=self.autocast(),
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
            raise FloatingPointError(
                f"step {step}: the loss is {loss.item()}; lower --lr (now {s.lr}) or check the shards"
            )
        torch.autograd.backward(loss)  # loss.backward(), typed
        max_norm = s.grad_clip if s.grad_clip > 0 else float("inf")
        grad_norm = torch.nn.utils.clip_grad_norm_(self.network.parameters(), max_norm)
        self.optimizer.step()
        self._update_ema()
        self.step += 1
        return StepStats(
            float(loss.detach()), float(flow.detach()), float(onset.detach()), lr, float(grad_norm)
        )

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
        state = self.network.state_dict()
        return {name: self.ema.get(name, tensor).detach().cpu() for name, tensor in state.items()}

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
        model = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
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
                name, slot = key[len("optim.") :].rsplit(".", 1)
                if name not in params:
                    raise ValueError(f"training state has optimizer moments for unknown parameter {name!r}")
                optim_state.setdefault(index[id(params[name])], {})[slot] = value.clone()
        saved = self.optimizer.state_dict()
        self.optimizer.load_state_dict({"state": optim_state, "param_groups": saved["param_groups"]})
        torch.set_rng_state(tensors["rng.torch_cpu"])
        if self.device.type == "cuda" and "rng.torch_cuda" in tensors:
            torch.cuda.set_rng_state(tensors["rng.torch_cuda"], self.device)
        self.step = step

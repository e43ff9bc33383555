"""The training losses (docs/design.md "Objective"): rectified flow on the latents, BCE on the timing head.

Flow (Liu et al. 2022, "Flow Straight and Fast", eq. 1): with x1 = ``log_mel_to_latent(mel)``
(the same map ``model.generate`` inverts) and noise x0 ~ N(0, I),

    x_t = (1 - t) x0 + t x1,    v = x1 - x0,    loss = || v_theta(x_t, t, cond) - v ||^2

averaged over the mel frames that lie inside the film (``valid_mask``): past a film's end the
target is replaced by the silence latent (-1) and masked out of the loss, and frames past
``valid_frames`` are zeroed, so whatever a shard stores there changes nothing. The flow loss can
weigh the mel frames around each true event more (``event_frame_weights``). The flow times t come
from ``model.trainer.sample_t``.

Timing head. The visual encoder's per-frame logits are trained (BCE, ``onset_loss``) to mark the
frames where the shard's truth events land. Its targets are the nearest frame to each event, or
with ``sigma_frames`` a Gaussian in frames, which tells the head where between two frames the event
falls (``onset_targets``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from model.networks.dit import DiT, event_marks


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
    autocast: contextlib.AbstractContextManager[Any] | None = None,
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
    loss: Tensor = squared.sum() / (mask.sum() * x1.shape[1]).clamp(min=1.0)
    return loss


def onset_targets(
    events: Sequence[Sequence[Mapping[str, Any]] | None], frames: int, fps: int, *, sigma_frames: float = 0.0
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

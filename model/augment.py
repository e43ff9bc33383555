"""On-the-fly augmentation of training clips (``model.trainer.Trainer.inputs`` applies it).

Half of the clips get archival damage on the fly (``model.synth.damage.degrade`` at a random
strength, now and then a lower picture rate), so the shards can hold clean renders. Each clip's
damage is drawn from (seed, step, row) alone, so ``--damage_workers`` processes (the CUDA default)
can damage a batch's clips side by side without changing a bit of the result. A share of the clips
can also be mirrored left to right (``mirror_frames``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

# one clip's damage job: (clip (T, H, W) uint8 grayscale, seed, strength, lowered picture rate or None, fps)
DamageJob = tuple[NDArray[np.uint8], Sequence[int], float, int | None, int]


def _to_gray(rgb: NDArray[np.generic]) -> NDArray[np.uint8]:
    luma = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return np.clip(np.rint(luma), 0, 255).astype(np.uint8)


def damage_clip(job: DamageJob) -> NDArray[np.uint8]:
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
    map_clips: Callable[..., Iterable[NDArray[np.uint8]]] = map,
) -> Tensor:
    """Archival damage on a batch of grayscale clips, each with probability ``prob``.

    frames (B, T, H, W) uint8 -> the same shape and dtype. A damaged clip's valid frames go
    through ``degrade`` (grain, flicker, scratches, dust, weave, blur, flashes) at a strength
    drawn from ``strength``, as three equal channels and back to luma; with ``hold_prob`` its
    picture rate also drops to a random lower rate (repeated frames, as a slow camera gives).
    Frames past ``valid_frames`` are left as they are.

    Row r's draws come from ``(seed, r)`` alone, so ``map_clips`` (``map``, or a process pool's
    ``map``: ``damage_workers`` in ``model.train_loop.train``) changes where the clips are damaged,
    not how.
    """
    if frames.ndim != 4 or frames.dtype != torch.uint8:
        raise ValueError(
            f"frames are {frames.dtype} {tuple(frames.shape)}: need uint8 (batch, time, height, width)"
        )
    out = frames.clone()
    rows: list[tuple[int, int]] = []
    jobs: list[DamageJob] = []
    for row in range(frames.shape[0]):
        rng = np.random.default_rng([seed, row])
        damaged, level, hold = rng.random() < prob, rng.uniform(*strength), rng.random() < hold_prob
        held_fps = int(rng.integers(max(1, fps // 2), fps)) if hold and fps > 1 else None
        valid = int(valid_frames[row])
        if damaged and valid > 0:
            rows.append((row, valid))
            jobs.append((frames[row, :valid].numpy(), (seed, row, 1), float(level), held_fps, fps))
    for (row, valid), clip in zip(rows, map_clips(damage_clip, jobs), strict=True):
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

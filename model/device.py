"""Choosing the torch device for a job, with the choice logged either way."""

from __future__ import annotations

import logging

import torch

logger = logging.getLogger(__name__)


def resolve_device(device: str | torch.device | None, *, task: str) -> torch.device:
    """``None`` or "auto" -> CUDA when there is one, else the CPU (logged as a warning);
    "cuda" without CUDA, or a device other than cpu/cuda, is an error. ``task`` names the work
    in the log ("generating", "training")."""
    if device is None or str(device) == "auto":
        if torch.cuda.is_available():
            device = "cuda"
        else:
            logger.warning("no CUDA device: %s on the CPU in float32", task)
            device = "cpu"
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={str(device)!r} was asked for but CUDA is not available (accepted: auto, cpu)"
        )
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"device={str(device)!r}: accepted devices are auto, cpu, cuda")
    logger.info("%s on %s (%s)", task, device, "bf16 autocast" if device.type == "cuda" else "float32")
    return device

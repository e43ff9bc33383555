"""The network's working space: a log-mel mapped onto the scale of the flow's unit noise.

The range from the silence floor log(log_floor) to log(1) = 0 is mapped onto [-1, 1]. Training
(``model.trainer``) maps its targets with ``log_mel_to_latent``; generation (``model.generate``)
maps the sampler's output back with ``latent_to_log_mel``. Both must use this one map.
"""

from __future__ import annotations

import math

from torch import Tensor

from model.config import AudioConfig

SILENCE_LATENT = -1.0  # log_mel_to_latent(log(log_floor)): the silence level


def log_mel_to_latent(log_mel: Tensor, audio: AudioConfig) -> Tensor:
    """Log-mel -> the network's space: log(log_floor) (silence) -> -1, log(1) = 0 -> +1."""
    half_range = -math.log(audio.log_floor) / 2.0
    return (log_mel + half_range) / half_range


def latent_to_log_mel(latent: Tensor, audio: AudioConfig) -> Tensor:
    """The inverse of ``log_mel_to_latent``, floored at the silence level log(log_floor)."""
    half_range = -math.log(audio.log_floor) / 2.0
    return (latent * half_range - half_range).clamp(min=math.log(audio.log_floor))

"""Denoiser networks, one family per module; ``build_network`` picks the one a config describes."""

from __future__ import annotations

from model.config import ModelConfig
from model.networks.dit import DiT


def build_network(config: ModelConfig) -> DiT:
    """The denoiser for ``config`` (a DiT; the only family so far), freshly initialised."""
    return DiT(config)


__all__ = ["DiT", "build_network"]

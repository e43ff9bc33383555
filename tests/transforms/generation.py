"""A small checkpoint and generation settings for the restore job's tests (seconds on a CPU)."""
from __future__ import annotations

from pathlib import Path

import torch

from model.checkpoint import save_checkpoint
from model.config import ModelConfig, NetworkConfig, SamplerConfig, VideoConfig, WindowConfig
from model.networks import build_network
from tests.model.test_dit import wake_up
from transforms.units import GenerationSettings, default_vocoder_name, describe_checkpoint

# 1 s windows overlapping by 0.25 s (a 2-3 s scene has 3-4 windows to blend), 8 fps 16x16 frames,
# a 32-wide 2-block DiT, 16 kHz audio.
SMALL = ModelConfig(
    video=VideoConfig(fps=8, height=16, width=16),
    network=NetworkConfig(width=32, depth=2, heads=2, patch_frames=2),
    window=WindowConfig(window_s=1.0, overlap_s=0.25),
    sampler=SamplerConfig(steps=2),
)


def save_small_checkpoint(path: Path, seed: int = 0) -> str:
    """An untrained small network with its gates opened (so that frames and text matter); returns the path."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network = build_network(SMALL)
    wake_up(network, seed)
    save_checkpoint(str(path), network.state_dict(), SMALL)
    return str(path)


def settings_for(checkpoint: str, **fields) -> GenerationSettings:
    info = describe_checkpoint(checkpoint)
    values = dict(checkpoint=checkpoint, checkpoint_sha256=info.sha256, config=info.config, steps=2,
                  text_guidance=2.0, video_guidance=2.0, sampler="euler", vocoder=default_vocoder_name(info.config))
    values.update(fields)
    return GenerationSettings(**values)

"""Seconds per training step of each preset on this device (``model.trainer.Trainer.train_step``).

    python -m bench.train_speed [--presets tiny base] [--batch 16] [--steps 20] [--device auto]
        [--text_embeddings FILE]

Random frames, log-mels and captions of the preset's shapes (speed does not depend on the
data); on-the-fly archival damage is off here (``--damage`` turns it on: numpy on the CPU,
prepared for the next step while this one trains on CUDA, as ``model.train_loop`` does, its clips
spread over ``--damage_workers`` processes: by default none on the CPU, on CUDA one a clip, at
most the cores left over). CUDA runs
under bf16 autocast as training does.
"""

from __future__ import annotations

import argparse
import functools
import sys
import time

import torch

from model.conditioning import PrecomputedTextEncoder, TextEncoder
from model.config import PRESET_NAMES, preset
from model.device import resolve_device
from model.train_loop import StepPrefetcher
from model.trainer import Trainer, TrainSettings

CAPTION = "footsteps on gravel and a wooden crate dropped on concrete"


def random_batch(config, batch: int, generator: torch.Generator) -> dict:
    v = config.video
    return {
        "frames": torch.randint(
            0, 256, (batch, config.video_frames, v.height, v.width), generator=generator, dtype=torch.uint8
        ),
        "mel": (
            torch.randn(batch, config.audio.n_mels, config.window_frames, generator=generator) - 4
        ).half(),
        "valid_frames": torch.full((batch,), config.video_frames),
        "valid_mel": torch.full((batch,), config.window_frames),
        "captions": [CAPTION] * batch,
        "events": [[{"offset_s": 0.5}, {"offset_s": 1.25}]] * batch,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.train_speed", description=__doc__.split("\n")[0])
    parser.add_argument("--presets", nargs="+", default=list(PRESET_NAMES), choices=PRESET_NAMES)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument(
        "--damage", action="store_true", help="apply archival damage on the fly, as training does"
    )
    parser.add_argument(
        "--damage_workers", type=int, default=None, help="processes that damage clips (with --damage)"
    )
    parser.add_argument("--text_embeddings", default=None)
    args = parser.parse_args(argv)
    device = resolve_device(None if args.device == "auto" else args.device, task="benchmarking")
    text_encoder = (
        PrecomputedTextEncoder.load(args.text_embeddings) if args.text_embeddings else TextEncoder()
    )
    where = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"CPU, {torch.get_num_threads()} threads"
    )
    print(f"bench/train_speed.py on {where}, batch {args.batch}, damage {'on' if args.damage else 'off'}")
    print("| preset | parameters | damaged in | s per step | windows per s |")
    print("|---|---|---|---|---|")
    for name in args.presets:
        config = preset(name)
        settings = TrainSettings(steps=10_000, batch_size=args.batch, damage_prob=0.5 if args.damage else 0.0)
        trainer = Trainer(config, settings, text_encoder=text_encoder, device=device)
        workers = trainer.start_damage_workers(args.damage_workers)
        where_damaged = f"{workers} processes" if workers else "the prefetch thread" if args.damage else "-"
        batch = random_batch(config, args.batch, torch.Generator().manual_seed(0))
        for _ in range(3):  # warm-up: allocator, kernels, autotuning
            trainer.train_step(batch)
        prefetch = StepPrefetcher(functools.partial(trainer.inputs, batch), overlap=device.type == "cuda")
        prefetch.start(trainer.step)
        if device.type == "cuda":
            torch.cuda.synchronize()
        began = time.perf_counter()
        for k in range(args.steps):
            trainer.apply(prefetch.take(trainer.step + 1 if k + 1 < args.steps else None))
        if device.type == "cuda":
            torch.cuda.synchronize()
        prefetch.close()
        seconds = (time.perf_counter() - began) / args.steps
        trainer.stop_damage_workers()
        parameters = sum(p.numel() for p in trainer.network.parameters())
        row = [
            name,
            f"{parameters / 1e6:.1f}M",
            where_damaged,
            f"{seconds:.3f}",
            f"{args.batch / seconds:.1f}",
        ]
        print(f"| {' | '.join(row)} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

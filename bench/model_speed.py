"""How fast does the model alone make sound? Audio-seconds generated per wall-second.

    python -m bench.model_speed [--presets tiny base] [--batches 1 8 32] [--steps 20]
        [--device auto|cpu|cuda] [--compile] [--text_embeddings FILE] [--repeats 3]

For each preset and batch size: ``Generator.generate`` (the restore job's code path: guided
sampler with conditional, null-text, no-video and negative-prompt rows, every row given a
negative prompt, then the Griffin-Lim vocoder) on one padded batch of random frames, timed
after a warm-up call, the best of ``--repeats``. On
CUDA the network runs under bf16 autocast; ``--compile`` wraps it in ``torch.compile`` first
(compile time is reported apart and not in the rate). Weights are random: speed does not depend
on them. On the CPU, ``generate`` runs one row per network call (bit-identical rows whatever the
batch), so batching buys little there; on a GPU it is the main lever.

``--text_embeddings`` serves prompts from a precomputed file (``model.conditioning``), for
machines without the MiniLM package; by default MiniLM encodes them.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

from model.conditioning import PrecomputedTextEncoder, TextEncoder
from model.config import PRESET_NAMES, preset
from model.device import resolve_device
from model.generate import Generator

PROMPT = "footsteps on gravel and a wooden crate dropped on concrete"
NEGATIVE = "speech, talking, music"


def timed(fn, repeats: int, device: torch.device) -> float:
    best = float("inf")
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        began = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - began)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.model_speed", description=__doc__.split("\n")[0])
    parser.add_argument("--presets", nargs="+", default=list(PRESET_NAMES), choices=PRESET_NAMES)
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8, 32])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--compile", action="store_true", help="torch.compile the network (CUDA)")
    parser.add_argument("--text_embeddings", default=None, help="precomputed prompt embeddings (safetensors)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(None if args.device == "auto" else args.device, task="benchmarking")
    text_encoder = (
        PrecomputedTextEncoder.load(args.text_embeddings) if args.text_embeddings else TextEncoder()
    )
    where = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"CPU, {torch.get_num_threads()} threads"
    )
    precision = "bf16 autocast" if device.type == "cuda" else "float32"
    print(
        f"bench/model_speed.py on {where} ({precision}{', torch.compile' if args.compile else ''}), "
        f"{args.steps} Euler steps, text, video and negative guidance, Griffin-Lim; torch {torch.__version__}"
    )
    print("| preset | parameters | window s | batch | s per batch | audio-s per wall-s |")
    print("|---|---|---|---|---|---|")
    for name in args.presets:
        config = preset(name)
        generator = Generator.from_config(config, seed=0, text_encoder=text_encoder, device=device)
        parameters = sum(p.numel() for p in generator.network.parameters())
        if args.compile:
            # torch.compile wraps the DiT in an OptimizedModule that forwards its attributes; torch's
            # stubs type the result as a bare callable.
            generator.network = torch.compile(generator.network)  # type: ignore[assignment]
        for batch in args.batches:
            rng = np.random.default_rng(batch)
            frames = rng.integers(
                0, 256, (batch, config.video_frames, config.video.height, config.video.width), np.uint8
            )

            def run(
                generator: Generator = generator, frames: np.ndarray = frames, batch: int = batch
            ) -> None:
                generator.generate(
                    frames,
                    [PROMPT] * batch,
                    [NEGATIVE] * batch,
                    seeds=list(range(batch)),
                    steps=args.steps,
                    batch_size=batch,
                )

            warm = time.perf_counter()
            run()
            warm_s = time.perf_counter() - warm
            seconds = timed(run, args.repeats, device)
            rate = batch * config.window.window_s / seconds
            note = f" (first call {warm_s:.1f} s)" if args.compile else ""
            print(
                f"| {name} | {parameters / 1e6:.1f}M | {config.window.window_s:g} | {batch} | {seconds:.3f} "
                "| "
                f"{rate:.1f}{note} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Calibrate the timing head's event threshold on a validation foley world.

    python -m model.calibrate --checkpoint IN.safetensors --out OUT.safetensors [--films 48] [--seed 7300]

The event track that generation hands the denoiser marks the video frames where the timing head's
probability peaks at or above ``network.event_threshold`` (``DiT.predicted_events``). Training
fixes the head but not where to cut it, so this step renders single-shot 4 s validation films
(``--films`` each of impacts, footsteps and mixes of one of them with a texture), each clean and
again with full archival damage, decodes them through an MP4 as the pipeline does, and sweeps
the threshold: the one with the best onset F1 (+-50 ms, ``model.metrics``), averaged over clean
and damaged, goes into OUT's config. The weights are copied unchanged.

The validation seed must differ from the training corpora's (7000, 7100) and from
``bench/quality.py``'s held-out seeds (880000, 880001), so that the benchmark stays held out.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from model.checkpoint import RESERVED_KEYS, load_checkpoint, save_checkpoint
from model.config import ModelConfig
from model.metrics import OnsetCounts, match_onsets
from model.networks import build_network
from model.networks.dit import DiT

if TYPE_CHECKING:
    from model.synth.film import Film

THRESHOLDS = tuple(round(0.2 + 0.05 * k, 2) for k in range(15))  # 0.20 .. 0.90
EVENT_CLASSES = ("impact", "footsteps")
TOLERANCE_S = 0.05


def validation_films(films: int, seed: int) -> list[tuple[tuple[str, ...], int]]:
    """(classes, film seed) of the validation set: impacts, footsteps, and event-texture mixes."""
    from model.synth.film import film_seed
    from model.synth.world import MIXES

    mixes = [m for m in MIXES if m[0] in EVENT_CLASSES]
    plan = [(c,) for c in EVENT_CLASSES for _ in range(films)] + [mixes[i % len(mixes)] for i in range(films)]
    return [(classes, film_seed(seed, index)) for index, classes in enumerate(plan)]


def model_frames(film: Film, config: ModelConfig, folder: Path) -> tuple[np.ndarray, str]:
    """A foley-world film's MP4 (kept in ``folder``), decoded as the pipeline does: ((video_frames,
    H, W) uint8 at the model's fps and size, zero past the film's end; the MP4's path)."""
    from media.decode import decode_range, video_timeline
    from model.synth.encode import encode_mp4

    path = folder / f"{film.name}.mp4"
    path.write_bytes(encode_mp4(film))
    _, first, end = video_timeline(str(path))
    v = config.video
    frames = decode_range(str(path), first, end, fps=v.fps, width=v.width, height=v.height, gray=True)
    out = np.zeros((config.video_frames, v.height, v.width), np.uint8)
    out[: min(len(frames), config.video_frames)] = frames[: config.video_frames]
    return out, str(path)


def decoded_frames(
    classes: tuple[str, ...], seed: int, damage: float, config: ModelConfig, folder: Path
) -> tuple[np.ndarray, list[float]]:
    """((video_frames, H, W) uint8 frames as the pipeline decodes them, event times in seconds)."""
    from model.synth import SynthConfig, make_film

    synth = SynthConfig.single_shot(classes, config.window.window_s, damage)
    film = make_film(seed, synth, name=f"validation_{seed}_{damage}")
    frames, _ = model_frames(film, config, folder)
    events = [float(e["time_s"]) for e in film.truth["events"] if e["class"] in EVENT_CLASSES]
    return frames, events


@torch.inference_mode()
def threshold_sweep(
    network: DiT, clips: Sequence[tuple[np.ndarray, list[float]]], *, thresholds: Sequence[float] = THRESHOLDS
) -> dict[float, OnsetCounts]:
    """Onset counts (+-50 ms) of the timing head's marks against each clip's event times, per
    threshold; ``clips`` are ((video_frames, H, W) uint8 frames, event seconds)."""
    config = network.config
    device = next(network.parameters()).device
    totals = {threshold: OnsetCounts() for threshold in thresholds}
    for frames, events in clips:
        pixels = torch.from_numpy(frames).to(device).float().div(255.0)[None, :, None]
        features = network.encode_video(pixels)
        for threshold in thresholds:
            marks = network.predicted_events(features, config.window_frames, threshold=threshold)[0]
            times = marks.nonzero().flatten().double().cpu().numpy() / config.audio.frame_rate
            totals[threshold] = totals[threshold] + match_onsets(times, events, TOLERANCE_S)
    return totals


def calibrate(checkpoint: str, out: str, *, films: int, seed: int) -> float:
    loaded = load_checkpoint(checkpoint)
    network = build_network(loaded.config)
    network.load_state_dict(loaded.state_dict, strict=True)
    network.eval()
    clean, damaged = [], []
    with tempfile.TemporaryDirectory(prefix="talkie-calibrate-") as folder:
        for classes, film_seed in validation_films(films, seed):
            clean.append(decoded_frames(classes, film_seed, 0.0, loaded.config, Path(folder)))
            damaged.append(decoded_frames(classes, film_seed, 1.0, loaded.config, Path(folder)))
    on_clean, on_damaged = threshold_sweep(network, clean), threshold_sweep(network, damaged)
    print("threshold | F1 clean | F1 damaged | mean")
    scores = {}
    for threshold in THRESHOLDS:
        scores[threshold] = (on_clean[threshold].f1 + on_damaged[threshold].f1) / 2
        print(
            f"{threshold:.2f} | {on_clean[threshold].f1:.3f} | {on_damaged[threshold].f1:.3f} | "
            f"{scores[threshold]:.3f}"
        )
    best = max(THRESHOLDS, key=lambda t: (scores[t], -abs(t - 0.5)))
    config = dataclasses.replace(
        loaded.config, network=dataclasses.replace(loaded.config.network, event_threshold=best)
    )
    extra = {k: v for k, v in loaded.metadata.items() if k not in RESERVED_KEYS}
    extra["event_threshold_calibration"] = f"seed {seed}, {len(clean)} clean + {len(damaged)} damaged films"
    save_checkpoint(out, loaded.state_dict, config, extra_metadata=extra)
    print(
        f"event_threshold {loaded.config.network.event_threshold} -> {best} (mean F1 {scores[best]:.3f}); "
        f"wrote {out}"
    )
    return best


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model.calibrate", description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--out", required=True, help="the calibrated checkpoint (may be --checkpoint itself)")
    parser.add_argument("--films", type=int, default=48, help="validation films per group (default 48)")
    parser.add_argument("--seed", type=int, default=7300)
    args = parser.parse_args(argv)
    if args.films < 1:
        print("python -m model.calibrate: --films must be >= 1", file=sys.stderr)
        return 2
    calibrate(args.checkpoint, args.out, films=args.films, seed=args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())

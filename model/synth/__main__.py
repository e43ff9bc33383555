"""python -m model.synth --out DIR --films N --seed S [options]: write a foley-world collection."""

from __future__ import annotations

import argparse
import os
import sys
import time

from .collection import write_collection
from .config import CLASSES, FPS_CHOICES, SynthConfig


def _damage(text: str) -> float | None:
    if text == "random":
        return None
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--damage {text!r}: expected 'random' or a number in [0, 1]"
        ) from None
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"--damage {text!r}: expected 'random' or a number in [0, 1]")
    return v


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m model.synth", description=__doc__)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--films", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--height", type=int, default=96)
    p.add_argument("--damage", type=_damage, default=None, help="'random' (default) or a strength in [0, 1]")
    p.add_argument(
        "--clean-prob",
        type=float,
        default=SynthConfig.clean_prob,
        help="with --damage random: the chance that a film is left undamaged (default 1/3); "
        "the others get a strength drawn from [0.2, 1]",
    )
    p.add_argument("--min-shots", type=int, default=2)
    p.add_argument("--max-shots", type=int, default=6)
    p.add_argument("--seconds-per-shot", type=float, nargs=2, metavar=("MIN", "MAX"), default=(1.0, 4.0))
    p.add_argument("--fps", type=int, nargs="+", choices=FPS_CHOICES, default=list(FPS_CHOICES))
    p.add_argument("--classes", nargs="+", choices=CLASSES, default=list(CLASSES))
    p.add_argument("--cadence-prob", type=float, default=0.35)
    p.add_argument("--fade-prob", type=float, default=0.3)
    p.add_argument("--mixed-prob", type=float, default=0.3)
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    try:
        cfg = SynthConfig(
            width=a.width,
            height=a.height,
            min_shots=a.min_shots,
            max_shots=a.max_shots,
            shot_seconds=tuple(a.seconds_per_shot),
            fps_choices=tuple(a.fps),
            classes=tuple(a.classes),
            cadence_prob=a.cadence_prob,
            fade_prob=a.fade_prob,
            mixed_prob=a.mixed_prob,
            damage=a.damage,
            clean_prob=a.clean_prob,
        )
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    rows = write_collection(a.out, a.films, a.seed, cfg, workers=a.workers)
    dt = time.perf_counter() - t0
    seconds = sum(r["scenes"][-1]["end_s"] for r in rows) if rows else 0.0
    print(
        f"wrote {len(rows)} films ({seconds:.1f} s of video) to {a.out} in {dt:.1f} s "
        f"({60 * len(rows) / max(dt, 1e-9):.0f} films/min, {a.workers} workers)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

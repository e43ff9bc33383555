"""How strong is the foley world's archival damage beside real archival film, as the model sees it?

    python -m bench.damage_levels [--real ../shared/testdata/real] [--films 8] [--seed 991000]
        [--strengths 0 0.25 0.5 0.75 1]

Every clip is decoded as the pipeline decodes it (``media.decode.decode_range`` at the tiny
preset's 64x64 gray, 16 fps), its repeated frames dropped (the pipeline removes duplicate-frame
cadence) and each frame normalised as the visual encoder does (zero mean, unit std). Columns:

- noise floor: for each pair of frames, the 25th percentile over pixels of |frame t - frame t-1|
  (the stillest quarter of the picture: grain, dust, weave and flicker left over, little motion);
  the median over pairs;
- frame change: the median of |frame t - frame t-1| over all pixels and pairs;
- jitter: the frame-to-frame global shift (phase correlation, refined to a fraction of a pixel)
  minus its running median over 5 pairs (a camera move is smooth, gate weave is not); the 90th
  percentile, in model pixels.

Real rows: the clips listed in ``clips.json`` under ``--real``. Foley-world rows: ``--films``
single-shot 4 s films of impacts and footsteps (bench/quality.py's event scenes) at each damage
strength, the median over films.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from media.decode import decode_range, video_timeline
from model.calibrate import EVENT_CLASSES, decoded_frames
from model.config import ModelConfig, preset
from model.synth.film import film_seed

REAL_DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "real"


def global_shift(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(H, W) frames -> (dy, dx) that moves b onto a: the phase correlation peak, refined by the
    parabola through it and its neighbours along each axis."""
    spectrum = np.fft.fft2(a - a.mean()) * np.conj(np.fft.fft2(b - b.mean()))
    surface = np.real(np.fft.ifft2(spectrum / (np.abs(spectrum) + 1e-9)))
    peak = np.unravel_index(np.argmax(surface), surface.shape)
    shift = np.zeros(2)
    for axis, size in enumerate(surface.shape):
        step = np.eye(2, dtype=int)[axis]
        below = surface[tuple((np.array(peak) - step) % surface.shape)]
        above = surface[tuple((np.array(peak) + step) % surface.shape)]
        curvature = below - 2 * surface[peak] + above
        k = peak[axis] + (0.5 * (below - above) / curvature if curvature < 0 else 0.0)
        shift[axis] = k - size if k > size / 2 else k
    return shift


def damage_statistics(frames: np.ndarray) -> dict[str, float]:
    """(T, H, W) uint8 frames as the model gets them -> noise floor, frame change, jitter."""
    f = frames.astype(np.float32) / 255.0
    keep = [0] + [t for t in range(1, len(f)) if np.abs(f[t] - f[t - 1]).mean() > 1e-3]
    f = f[keep]
    f = (f - f.mean(axis=(1, 2), keepdims=True)) / (f.std(axis=(1, 2), keepdims=True) + 1e-6)
    change = np.abs(f[1:] - f[:-1]).reshape(len(f) - 1, -1)  # (pairs, pixels)
    shifts = np.array([global_shift(f[t], f[t - 1]) for t in range(1, len(f))])
    smooth = np.array([np.median(shifts[max(0, t - 2) : t + 3], axis=0) for t in range(len(shifts))])
    jitter = np.hypot(*(shifts - smooth).T)
    return {
        "noise floor": float(np.median(np.percentile(change, 25, axis=1))),
        "frame change": float(np.median(change)),
        "jitter p90": float(np.percentile(jitter, 90)),
    }


def real_rows(folder: Path, config: ModelConfig) -> list[tuple[str, dict[str, float]]]:
    v = config.video
    rows = []
    for clip in json.loads((folder / "clips.json").read_text())["clips"]:
        path = str(folder / clip["file"])
        _, first, end = video_timeline(path)
        frames = np.asarray(
            decode_range(path, first, end, fps=v.fps, width=v.width, height=v.height, gray=True)
        )
        rows.append((f"real: {clip['file']}", damage_statistics(frames)))
    return rows


def synth_rows(
    strengths: list[float], films: int, seed: int, config: ModelConfig
) -> list[tuple[str, dict[str, float]]]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="talkie-damage-") as folder:
        for strength in strengths:
            stats = [
                damage_statistics(
                    decoded_frames(
                        (EVENT_CLASSES[i % 2],), film_seed(seed, i), strength, config, Path(folder)
                    )[0]
                )
                for i in range(films)
            ]
            rows.append(
                (
                    f"foley world, damage {strength:g}",
                    {k: float(np.median([s[k] for s in stats])) for k in stats[0]},
                )
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.damage_levels", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--real", type=Path, default=REAL_DEFAULT, help="a folder with clips.json and its clips"
    )
    parser.add_argument("--films", type=int, default=8, help="foley-world films per strength")
    parser.add_argument("--seed", type=int, default=991000)
    parser.add_argument("--strengths", type=float, nargs="+", default=[0.0, 0.25, 0.5, 0.75, 1.0])
    args = parser.parse_args(argv)
    config = preset("tiny")
    rows = []
    if (args.real / "clips.json").exists():
        rows += real_rows(args.real, config)
    else:
        print(f"no real clips at {args.real} (clips.json missing): foley-world rows only", file=sys.stderr)
    rows += synth_rows(args.strengths, args.films, args.seed, config)
    print(
        f"bench/damage_levels.py: {config.video.width}x{config.video.height} gray at {config.video.fps} fps, "
        "normalised frames, repeated frames dropped"
    )
    names = list(rows[0][1])
    print("| clip | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for label, stats in rows:
        print(f"| {label} | " + " | ".join(f"{stats[n]:.3f}" for n in names) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Scene-cut quality and speed: Talkie's detector beside PySceneDetect, on the same clips.

Clips: the real archival clips in ../shared/testdata/real (when present) and a foley-world
collection rendered with archival damage at full strength, from seeds that no test uses.
For each detector it prints cut precision, recall and F1 at ±1 frame, and frames per second
(wall clock, decode included). PySceneDetect runs with its defaults (ContentDetector,
AdaptiveDetector), as a user would call it.

It then reports the frame error (found minus true frame) of every hard cut each detector finds,
matched within ±HARD_WINDOW frames so that a cut placed a few frames off shows as an error
rather than as a miss plus a false cut: Talkie's must all be 0. Hard cuts are the foley world's
``transitions`` of kind "hard" and every cut of the real clips (their cuts are all hard).

Last, speed: frames per second, decode included, on one longer damaged foley film at 320x240
(``--speed-seconds``, H.264 as the synth writes it) and on its first 20 s scaled to 1920x1080
(H.264, CRF 18), for Talkie (``shard_film``: probe, hash, decode, both detectors, cuts),
TransNetV2 alone (the package's reference ``predict_frames``, one window of 100 frames at a time,
on frames decoded by PyAV straight to 48x27) and PySceneDetect's two detectors. Each runs
``--repeats`` times, interleaved; best and median are printed with the load average, since the
machine may be shared. Talkie's target is 150 frames/s at 320x240 on 2 cores.

    python -m bench.scenes [--films 20] [--seed 90210] [--damage 1.0] [--keep DIR]
        [--speed-seconds 60] [--repeats 3] [--skip-accuracy | --skip-speed]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from media.shard import shard_film

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "testdata" / "real"
HARD_WINDOW = 12  # frames either side of a true hard cut in which a found cut counts as its placement
SPEED_SEED = 515  # the speed film's foley-world seed
HD_SECONDS = 20  # the 1080p speed film: the first seconds of the 320x240 one, scaled up


def match_cuts(found: list[int], truth: list[int], tolerance: int = 1) -> int:
    """Number of one-to-one matches within ``tolerance`` frames (greedy by distance)."""
    pairs = sorted(
        (abs(f - t), i, j)
        for i, f in enumerate(found)
        for j, t in enumerate(truth)
        if abs(f - t) <= tolerance
    )
    used_f, used_t, hits = set(), set(), 0
    for _, i, j in pairs:
        if i not in used_f and j not in used_t:
            used_f.add(i)
            used_t.add(j)
            hits += 1
    return hits


def hard_cut_errors(found: list[int], hard: list[int], window: int = HARD_WINDOW) -> list[int | None]:
    """For each true hard cut, the nearest found cut's offset from it (found - true) when one lies
    within ``window`` frames, else None (missed)."""
    errors: list[int | None] = []
    for t in hard:
        near = [f - t for f in found if abs(f - t) <= window]
        errors.append(min(near, key=lambda e: (abs(e), e)) if near else None)
    return errors


def talkie(path: str) -> list[int]:
    _, scenes = shard_film(path)
    return [s.start_frame for s in scenes[1:]]


def pyscenedetect(kind: str):
    from scenedetect import AdaptiveDetector, ContentDetector, detect

    factory = {"ContentDetector": ContentDetector, "AdaptiveDetector": AdaptiveDetector}[kind]

    def run(path: str) -> list[int]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return [scene[0].frame_num for scene in detect(path, factory())[1:]]

    return run


def transnet_alone(path: str) -> int:
    """TransNetV2 as its package runs it: every frame decoded to 48x27 RGB, then ``predict_frames``
    (windows of 100, one at a time). Returns the number of frames scored."""
    import av
    import numpy as np
    import torch

    from media.transnet import INPUT_SIZE, load_transnet

    width, height = INPUT_SIZE
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        frames = np.stack(
            [
                f.to_ndarray(width=width, height=height, format="rgb24", interpolation="AREA")
                for f in container.decode(stream)
            ]
        )
    with torch.no_grad():
        single, _ = load_transnet("cpu").predict_frames(torch.from_numpy(frames), quiet=True)
    return int(single.shape[0])


def speed_films(args, workdir: Path) -> list[tuple[str, str, int]]:
    """(label, path, frames) of the 320x240 speed film and its 1080p version, rendered when missing."""
    import av

    out = workdir / "speed"
    small = out / f"foley_s{SPEED_SEED}_0000.mp4"
    if not small.exists():
        seconds = str(args.speed_seconds / 12)
        subprocess.run(
            [sys.executable, "-m", "model.synth", "--out", str(out), "--films", "1"]
            + [
                "--seed",
                str(SPEED_SEED),
                "--width",
                "320",
                "--height",
                "240",
                "--damage",
                str(args.damage),
                "--fps",
                "24",
            ]
            + ["--min-shots", "12", "--max-shots", "12", "--seconds-per-shot", seconds, seconds],
            check=True,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )
    hd = out / "speed_1080p.mp4"
    if not hd.exists():
        subprocess.run(
            ["ffmpeg", "-v", "error", "-nostdin", "-y", "-i", str(small), "-t", str(HD_SECONDS), "-an"]
            + ["-vf", "scale=1920:1080:flags=bicubic", "-c:v", "libx264", "-preset", "veryfast", "-crf", "18"]
            + ["-pix_fmt", "yuv420p", str(hd)],
            check=True,
        )
    films = []
    for label, path in (("320x240", small), ("1920x1080", hd)):
        with av.open(str(path)) as container:
            frames = sum(1 for _ in container.demux(container.streams.video[0]) if _.size)
        films.append((label, str(path), frames))
    return films


def speed(args, workdir: Path) -> None:
    """Frames per second of each detector on the speed films, ``--repeats`` runs each, interleaved."""
    films = speed_films(args, workdir)
    runners: dict[str, Callable[[str], object]] = {
        "talkie": talkie,
        "TransNetV2 alone": transnet_alone,
        "ContentDetector": pyscenedetect("ContentDetector"),
        "AdaptiveDetector": pyscenedetect("AdaptiveDetector"),
    }
    if args.only:
        runners = {k: v for k, v in runners.items() if k in args.only or k == "TransNetV2 alone"}
    print(
        f"\nspeed: frames/s, decode included, {args.repeats} runs each on {os.cpu_count()} cores "
        f"(load average before: {os.getloadavg()[0]:.1f})"
    )
    print(f"{'detector':<18} {'film':<10} {'frames':>6} {'best':>7} {'median':>7}")
    for label, path, frames in films:
        rates: dict[str, list[float]] = {name: [] for name in runners}
        for _ in range(args.repeats):
            for name, run in runners.items():
                start = time.perf_counter()
                run(path)
                rates[name].append(frames / (time.perf_counter() - start))
        for name, got in rates.items():
            print(f"{name:<18} {label:<10} {frames:>6} {max(got):>7.0f} {statistics.median(got):>7.0f}")
    print(f"(load average after: {os.getloadavg()[0]:.1f})")


def collection(args, workdir: Path) -> list[dict]:
    clips = []
    if (REAL / "clips.json").exists():
        for clip in json.loads((REAL / "clips.json").read_text())["clips"]:
            clips.append(
                {
                    "name": clip["file"],
                    "path": str(REAL / clip["file"]),
                    "cuts": clip["cuts_at_frames"],
                    "hard": clip["cuts_at_frames"],
                    "frames": clip["frames"],
                    "set": "real",
                }
            )
    out = workdir / "foley"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "model.synth",
            "--out",
            str(out),
            "--films",
            str(args.films),
            "--seed",
            str(args.seed),
            "--damage",
            str(args.damage),
        ],
        check=True,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    for truth_file in sorted(out.glob("*.json")):
        truth = json.loads(truth_file.read_text())
        clips.append(
            {
                "name": truth_file.stem,
                "path": str(truth_file.with_suffix(".mp4")),
                "cuts": truth["cuts_at_frames"],
                "hard": [t["cut_frame"] for t in truth["transitions"] if t["kind"] == "hard"],
                "frames": truth["frames"],
                "set": "foley",
            }
        )
    return clips


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--films", type=int, default=20)
    parser.add_argument("--seed", type=int, default=90210, help="foley-world seed (tests use others)")
    parser.add_argument("--damage", default="1.0")
    parser.add_argument("--keep", help="render the foley films into this folder and keep them")
    parser.add_argument("--verbose", action="store_true", help="print each clip's misses")
    parser.add_argument("--only", nargs="+", help="detectors to run (default: all)")
    parser.add_argument("--speed-seconds", type=float, default=60.0, help="length of the 320x240 speed film")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per detector and film")
    skip = parser.add_mutually_exclusive_group()
    skip.add_argument("--skip-accuracy", action="store_true", help="only the speed table")
    skip.add_argument("--skip-speed", action="store_true", help="only the accuracy tables")
    args = parser.parse_args()
    workdir = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="talkie-scenes-"))
    if not args.skip_accuracy:
        accuracy(args, workdir)
    if not args.skip_speed:
        speed(args, workdir)


def accuracy(args, workdir: Path) -> None:
    """Precision, recall and F1 of each detector, then the frame error of every hard cut."""
    clips = collection(args, workdir)
    detectors = {
        "talkie": talkie,
        "ContentDetector": pyscenedetect("ContentDetector"),
        "AdaptiveDetector": pyscenedetect("AdaptiveDetector"),
    }
    if args.only:
        detectors = {k: v for k, v in detectors.items() if k in args.only}
    talkie(clips[0]["path"])  # load TransNetV2 once before timing (these frames/s are short films')
    print(
        f"{len(clips)} clips: "
        + ", ".join(f"{s} {sum(c['set'] == s for c in clips)}" for s in ("real", "foley"))
    )
    print(
        f"{'detector':<18} {'set':<6} {'cuts':>5} {'found':>6} {'hits':>5} {'P':>6} {'R':>6} {'F1 ±1':>6} "
        f"{'fps':>7}"
    )
    results: dict[str, dict[str, tuple[list[int], float]]] = {}  # detector -> clip -> (cuts, seconds)
    for name, detect in detectors.items():
        results[name] = {}
        for clip in clips:
            start = time.perf_counter()
            got = detect(clip["path"])
            results[name][clip["name"]] = (got, time.perf_counter() - start)
    for name in detectors:
        for subset in ("real", "foley", "all"):
            chosen = [c for c in clips if subset == "all" or c["set"] == subset]
            if not chosen:
                continue
            cuts = found = hits = frames = 0
            seconds = 0.0
            for clip in chosen:
                got, took = results[name][clip["name"]]
                seconds += took
                h = match_cuts(got, clip["cuts"])
                cuts, found, hits, frames = (
                    cuts + len(clip["cuts"]),
                    found + len(got),
                    hits + h,
                    frames + clip["frames"],
                )
                if args.verbose and subset != "all" and (h != len(got) or h != len(clip["cuts"])):
                    print(f"    {name} {clip['name']}: truth {clip['cuts']} found {got}")
            p = hits / found if found else 1.0
            r = hits / cuts if cuts else 1.0
            f1 = 2 * p * r / (p + r) if p + r else 0.0
            print(
                f"{name:<18} {subset:<6} {cuts:>5} {found:>6} {hits:>5} {p:>6.3f} {r:>6.3f} {f1:>6.3f} "
                f"{frames / seconds:>7.0f}"
            )
    print(f"\nhard cuts: frame error (found - true) of each one found within ±{HARD_WINDOW} frames")
    for name in detectors:
        errors = {
            c["name"]: hard_cut_errors(results[name][c["name"]][0], c["hard"]) for c in clips if c["hard"]
        }
        placed = [e for errs in errors.values() for e in errs if e is not None]
        total = sum(len(errs) for errs in errors.values())
        off = sorted(e for e in placed if e != 0)
        print(
            f"{name:<18} {total} hard cuts, {len(placed)} found, {placed.count(0)} exact"
            + (f", off by {off}" if off else "")
        )
        if name == "talkie":  # every hard cut Talkie finds, clip by clip ("-" marks a miss)
            for clip_name, errs in errors.items():
                shown = ", ".join("-" if e is None else f"{e:+d}" if e else "0" for e in errs)
                print(f"    {clip_name:<34} [{shown}]")


if __name__ == "__main__":
    main()

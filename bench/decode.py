"""Decode rate at analysis size: Talkie's streaming decode against the ffmpeg CLI.

Both decode with libavcodec and scale with swscale (PyAV's wheel bundles its own FFmpeg build,
the CLI is the system's: the script prints both versions), decode with the same thread count, and
scale every frame to the two analysis sizes (48x27 RGB for TransNetV2, 64x48 gray for the luma detector)
with area interpolation. The ratio Talkie/ffmpeg should be >= 0.9: Talkie adds no overhead.

    python -m bench.decode [FILE ...] [--threads N] [--repeats R]

With no FILE it measures a real clip from ../shared/testdata/real (when present) and a 720p
H.264 film it renders once into a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from media.cut_features import LUMA_SIZE
from media.decode import iter_analysis_frames, open_video
from media.transnet import INPUT_SIZE as TRANSNET_SIZE

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "testdata" / "real"


def render_test_film(path: str, width: int = 1280, height: int = 720, frames: int = 480) -> None:
    """A moving noise texture with a few cuts, H.264 yuv420p at 24 fps (hard to compress)."""
    rng = np.random.default_rng(0)
    textures = [rng.integers(0, 256, (height // 8, width // 8 + 64), dtype=np.uint8) for _ in range(4)]
    with av.open(path, "w") as out:
        stream = out.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "23"}
        for i in range(frames):
            tex = textures[(i // 120) % len(textures)]
            small = np.roll(tex, i, axis=1)[:, : width // 8]
            gray = np.kron(small, np.ones((8, 8), dtype=np.uint8))
            frame = av.VideoFrame.from_ndarray(np.repeat(gray[..., None], 3, axis=2), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def talkie_rate(path: str, threads: int) -> tuple[float, int]:
    start = time.perf_counter()
    count = 0
    with open_video(path, threads=threads) as (container, stream):
        for _ in iter_analysis_frames(container, stream, path, rgb_size=TRANSNET_SIZE, luma_size=LUMA_SIZE):
            count += 1
    return count / (time.perf_counter() - start), count


def ffmpeg_rate(path: str, threads: int, frames: int) -> float:
    (rw, rh), (lw, lh) = TRANSNET_SIZE, LUMA_SIZE
    graph = (
        f"[0:v]split=2[a][b];[a]scale={rw}:{rh}:flags=area,format=rgb24[rgb];"
        f"[b]scale={lw}:{lh}:flags=area,format=gray[luma]"
    )
    cmd = [
        "ffmpeg",
        "-v",
        "error",
        "-nostdin",
        "-threads",
        str(threads),
        "-i",
        path,
        "-filter_complex",
        graph,
        "-filter_threads",
        "1",
        "-map",
        "[rgb]",
        "-f",
        "rawvideo",
        "-y",
        os.devnull,
        "-map",
        "[luma]",
        "-f",
        "rawvideo",
        "-y",
        os.devnull,
    ]
    start = time.perf_counter()
    subprocess.run(cmd, check=True)
    return frames / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("ffmpeg") is None:
        sys.exit("bench/decode.py needs the ffmpeg CLI (Debian: apt-get install ffmpeg)")
    files = list(args.files)
    tmp = tempfile.mkdtemp(prefix="talkie-bench-")
    if not files:
        if (REAL / "street_comedy_single_take.mp4").exists():
            files.append(str(REAL / "street_comedy_single_take.mp4"))
        synthetic = os.path.join(tmp, "noise_720p.mp4")
        render_test_film(synthetic)
        files.append(synthetic)
    cli = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout.split("\n")[0]
    print(f"PyAV {av.__version__} with FFmpeg {av.ffmpeg_version_info}; CLI: {cli}")
    print(f"threads={args.threads}, best of {args.repeats}")
    print(f"{'file':<34} {'frames':>6} {'talkie fps':>10} {'ffmpeg fps':>10} {'ratio':>6}")
    for path in files:
        talkie, frames = max(talkie_rate(path, args.threads) for _ in range(args.repeats))
        ffmpeg = max(ffmpeg_rate(path, args.threads, frames) for _ in range(args.repeats))
        print(f"{Path(path).name:<34} {frames:>6} {talkie:>10.0f} {ffmpeg:>10.0f} {talkie / ffmpeg:>6.2f}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Tiny films made on the fly for tests: H.264 in MP4 from numpy frames."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np


def encode(path: Path, frames: np.ndarray, fps: int = 24, *, rotation: int = 0) -> Path:
    """Write (T, H, W, 3) uint8 frames as H.264 in MP4, with a display rotation when given."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.options = {"threads": "1", "crf": "18"}
        if rotation:
            stream.set_display_rotation(rotation)
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def textured_shots(lengths: list[int], size=(96, 128), seed: int = 0, pan: int = 0) -> np.ndarray:
    """Shots of distinct random textures (each drifting by ``pan`` pixels a frame), concatenated."""
    rng = np.random.default_rng(seed)
    h, w = size
    out = []
    for length in lengths:
        base = rng.integers(0, 256, (h // 8, w // 8 + 64, 3)).astype(np.uint8)
        base = np.kron(base, np.ones((8, 8, 1), dtype=np.uint8))
        for t in range(length):
            out.append(np.roll(base, -t * pan, axis=1)[:, :w])
    return np.stack(out)

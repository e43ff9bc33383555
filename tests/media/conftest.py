"""Fixtures for media tests: tiny films encoded on the fly and the shared real clips."""
from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "testdata" / "real"


def encode(path: Path, frames: np.ndarray, fps: int = 24, *, rotation: int = 0, audio: bool = False) -> Path:
    """Write (T, H, W, 3) uint8 frames as H.264 in MP4, optionally with a FLAC tone."""
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


@pytest.fixture(scope="session")
def real_clips() -> dict:
    if not (REAL / "clips.json").exists():
        pytest.skip("shared real clips are absent")
    clips = json.loads((REAL / "clips.json").read_text())["clips"]
    return {c["file"]: dict(c, path=str(REAL / c["file"])) for c in clips}


@pytest.fixture
def film(tmp_path):
    """film(name, frames, fps=24, rotation=0) -> path of an encoded MP4 under tmp_path."""

    def make(name: str, frames: np.ndarray, fps: int = 24, **kwargs) -> str:
        return str(encode(tmp_path / name, frames, fps, **kwargs))

    return make

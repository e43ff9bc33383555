"""Tiny frame sequences and archive masters made on the fly for tests: DPX, TIFF, PNG and EXR
frames from numpy pictures, FFV1 10-bit in Matroska and ProRes in QuickTime."""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

# (encoder, pixel format the file stores, extension) by the names the tests use
FORMATS = {
    "dpx16": ("dpx", "rgb48le", "dpx"),
    "dpx10": ("dpx", "gbrp10le", "dpx"),
    "tiff16": ("tiff", "rgb48le", "tif"),
    "tiff16_gray": ("tiff", "gray16le", "tiff"),
    "tiff8": ("tiff", "rgb24", "tif"),
    "tiff8_gray": ("tiff", "gray", "tif"),
    "png": ("png", "rgb24", "png"),
    "png16": ("png", "rgb48be", "png"),
    "exr": ("exr", "gbrpf32le", "exr"),
}


def frame_bytes(picture: np.ndarray, kind: str) -> bytes:
    """One (H, W, 3) uint8 picture as a frame file of ``kind`` (``FORMATS``), 16-bit formats
    holding it scaled to 16 bits (x 257) so that every bit is used."""
    codec, pix_fmt, _ = FORMATS[kind]
    context = av.CodecContext.create(codec, "w")
    context.width, context.height, context.pix_fmt = picture.shape[1], picture.shape[0], pix_fmt
    context.time_base = Fraction(1, 24)
    deep = av.VideoFrame.from_ndarray(picture.astype(np.uint16) * 257, format="rgb48le")
    frame = deep.reformat(format=pix_fmt)
    return b"".join(bytes(p) for p in [*context.encode(frame), *context.encode(None)])


def write_sequence(
    folder: Path,
    pictures: np.ndarray,
    kind: str,
    *,
    name: str = "frame_",
    first: int = 1,
    digits: int = 4,
    skip: Iterable[int] = (),
    corrupt: Iterable[int] = (),
) -> str:
    """Writes ``pictures`` (T, H, W, 3) uint8 as numbered frame files ``<name>NNNN.<ext>`` from
    ``first``, leaving out the numbers in ``skip`` (their pictures too: the numbering has a gap) and
    writing random bytes for those in ``corrupt``. Returns the glob of the files."""
    folder.mkdir(parents=True, exist_ok=True)
    _, _, extension = FORMATS[kind]
    skipped, broken = set(skip), set(corrupt)
    rng = np.random.default_rng(5)
    for offset, picture in enumerate(pictures):
        number = first + offset
        if number in skipped:
            continue
        path = folder / f"{name}{number:0{digits}d}.{extension}"
        path.write_bytes(rng.bytes(4000) if number in broken else frame_bytes(picture, kind))
    return str(folder / f"{name}*.{extension}")


def write_master(path: Path, pictures: np.ndarray, *, codec: str, fps: int = 24) -> Path:
    """``pictures`` as an archive master: "ffv1" (10-bit 4:2:2 in Matroska) or "prores"
    (ProRes 422 HQ, 10-bit, in QuickTime)."""
    pix_fmt = "yuv422p10le"
    options = {"level": "3", "g": "1"} if codec == "ffv1" else {"profile": "3"}
    encoder = "ffv1" if codec == "ffv1" else "prores_ks"
    with av.open(str(path), "w") as out:
        stream = out.add_stream(encoder, rate=fps, options=options)
        stream.width, stream.height, stream.pix_fmt = pictures.shape[2], pictures.shape[1], pix_fmt
        for picture in pictures:
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24").reformat(format=pix_fmt)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path

"""Writing a film: <name>.mp4 (H.264 + FLAC), <name>.flac (24-bit) and <name>.json.

Encoding is deterministic: libx264 on one thread with fixed options and no B-frames, and the
muxer and encoders run with FFmpeg's bitexact flags, so the same film gives the same bytes.
Each file is written under a temporary name and renamed into place.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import av
import numpy as np
import soundfile as sf

from .film import Film

X264_OPTIONS = {
    "threads": "1",
    "preset": "veryfast",
    "crf": "17",
    "bframes": "0",
    "g": "48",
    "flags": "+bitexact",
    "x264-params": "scenecut=0:rc-lookahead=0:sliced-threads=0",
}
AUDIO_BLOCK = 4608  # samples per FLAC frame fed to the encoder


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def encode_mp4(film: Film) -> bytes:
    """MP4 bytes: H.264 yuv420p at the film's nominal rate and its audio as 48 kHz mono FLAC."""
    buf = io.BytesIO()
    n, h, w = film.frames.shape[:3]
    sr = film.truth["sample_rate"]
    with av.open(buf, "w", format="mp4", options={"fflags": "+bitexact"}) as out:
        out.metadata.clear()
        v = out.add_stream("libx264", rate=film.fps, options=dict(X264_OPTIONS))
        v.width, v.height, v.pix_fmt = w, h, "yuv420p"
        v.codec_context.thread_count = 1
        a = out.add_stream("flac", rate=sr, options={"flags": "+bitexact"})
        a.layout, a.format = "mono", "s32"
        for i in range(n):
            frame = av.VideoFrame.from_ndarray(film.frames[i], format="rgb24")
            frame.pts = i
            out.mux(v.encode(frame))
        out.mux(v.encode(None))
        pcm = film.pcm.astype(np.int32) << 8  # 24-bit values, left-justified in s32
        for s in range(0, pcm.size, AUDIO_BLOCK):
            chunk = np.ascontiguousarray(pcm[None, s : s + AUDIO_BLOCK])
            af = av.AudioFrame.from_ndarray(chunk, format="s32", layout="mono")
            af.sample_rate, af.pts = sr, s
            out.mux(a.encode(af))
        out.mux(a.encode(None))
    return buf.getvalue()


def encode_flac(film: Film) -> bytes:
    """24-bit 48 kHz mono FLAC bytes of the film's audio."""
    buf = io.BytesIO()
    sf.write(
        buf,
        (film.pcm.astype(np.int32) << 8)[:, None],
        film.truth["sample_rate"],
        format="FLAC",
        subtype="PCM_24",
    )
    return buf.getvalue()


def truth_json(film: Film) -> str:
    return json.dumps(film.truth, indent=1, ensure_ascii=False) + "\n"


def write_film(film: Film, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write <name>.mp4, <name>.flac and <name>.json into out_dir; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "video": out / f"{film.name}.mp4",
        "audio": out / f"{film.name}.flac",
        "truth": out / f"{film.name}.json",
    }
    _atomic_write(paths["video"], encode_mp4(film))
    _atomic_write(paths["audio"], encode_flac(film))
    _atomic_write(paths["truth"], truth_json(film).encode())
    return paths


def manifest_row(film: Film) -> dict[str, Any]:
    """One manifest row (docs/design.md Contracts): a path relative to the manifest's folder."""
    t = film.truth
    return {
        "video_input": f"{film.name}.mp4",
        "positive_prompt": t["caption"],
        "film_id": film.name,
        "scenes": [
            {"start_s": s["start_s"], "end_s": s["end_s"], "positive_prompt": s["caption"]}
            for s in t["shots"]
        ],
    }

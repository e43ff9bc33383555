"""One recording's bytes -> the bank's form: checked whole, 48 kHz mono, peak -1 dBFS, 16-bit FLAC.

libsndfile decodes a WAVE or an Ogg Vorbis file cut short without complaint, returning what is
there, so both are checked first: a WAVE's ``data`` chunk must hold the bytes its header declares,
and an Ogg stream's last page must be whole and flagged end-of-stream (RFC 3533, section 6). FLAC
reports lost sync itself; a FLAC or any other file must also decode to the frame count that its
header gives. Channels are averaged; the rate is converted by media.resample (the project's one
resampler); the gain that brings the peak to -1 dBFS is kept in the manifest, so the original level
can be recovered.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

import numpy as np
import soundfile as sf

from media.resample import resample

SAMPLE_RATE = 48_000
PEAK_DBFS = -1.0
SILENT_PEAK = 1e-4  # -80 dBFS: an empty placeholder, not a recording
MIN_SECONDS = 0.05
ONSET_DB = -30.0  # onset: the first sample within 30 dB of the peak


class UnreadableAudio(Exception):
    """A file that cannot be decoded whole: truncated, corrupt, or in a format libsndfile lacks."""


class NotARecording(Exception):
    """A file that decodes but holds nothing to use: silent or shorter than MIN_SECONDS."""


@dataclass(frozen=True)
class Converted:
    flac: bytes
    duration_s: float
    source_rate: int
    source_channels: int
    gain_db: float  # applied to reach PEAK_DBFS
    onset_s: float


def _check_wave(data: bytes) -> None:
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise UnreadableAudio("not a RIFF WAVE file")
    pos = 12
    while pos + 8 <= len(data):
        chunk, size = data[pos : pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        if chunk == b"data":
            if pos + 8 + size > len(data):
                raise UnreadableAudio(
                    f"truncated: data chunk declares {size} bytes, {len(data) - pos - 8} present"
                )
            return
        pos += 8 + size + (size & 1)  # chunks are padded to even length
    raise UnreadableAudio("truncated: no data chunk")


def _check_ogg(data: bytes) -> None:
    last = data.rfind(b"OggS")
    if last < 0 or len(data) - last < 27:
        raise UnreadableAudio("truncated: no whole Ogg page")
    segments = data[last + 26]
    if len(data) - last < 27 + segments:
        raise UnreadableAudio("truncated: last Ogg page cut short")
    body = sum(data[last + 27 : last + 27 + segments])
    if last + 27 + segments + body != len(data):
        raise UnreadableAudio("truncated: last Ogg page cut short")
    if not data[last + 5] & 0x04:
        raise UnreadableAudio("truncated: the Ogg stream has no end-of-stream page")


def decode(data: bytes, suffix: str) -> tuple[np.ndarray, int, int]:
    """(mono float64 samples, rate, source channels); UnreadableAudio when not whole."""
    if suffix == ".wav":
        _check_wave(data)
    elif suffix == ".ogg":
        _check_ogg(data)
    try:
        info = sf.info(io.BytesIO(data))
        x, rate = sf.read(io.BytesIO(data), dtype="float64", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError) as e:
        raise UnreadableAudio(str(e).splitlines()[0]) from None
    if x.shape[0] != info.frames:
        raise UnreadableAudio(f"truncated: decoded {x.shape[0]} of {info.frames} frames")
    if not np.isfinite(x).all():
        raise UnreadableAudio("decodes to non-finite samples")
    return x.mean(axis=1), int(rate), int(x.shape[1])


def convert(data: bytes, suffix: str) -> Converted:
    """Decode, check, downmix, resample to SAMPLE_RATE, peak-normalise and encode as FLAC."""
    x, rate, channels = decode(data, suffix)
    if x.shape[0] < MIN_SECONDS * rate:
        raise NotARecording(f"{x.shape[0] / rate:.3f} s long")
    if np.abs(x).max() < SILENT_PEAK:
        raise NotARecording("silent")
    y = resample(x, rate, SAMPLE_RATE).astype(np.float64)
    peak = float(np.abs(y).max())
    gain = 10.0 ** (PEAK_DBFS / 20.0) / peak
    y *= gain
    onset = int(np.argmax(np.abs(y) >= 10.0 ** ((PEAK_DBFS + ONSET_DB) / 20.0)))
    out = io.BytesIO()
    sf.write(out, y.astype(np.float32), SAMPLE_RATE, format="FLAC", subtype="PCM_16")
    return Converted(
        flac=out.getvalue(),
        duration_s=round(y.shape[0] / SAMPLE_RATE, 4),
        source_rate=rate,
        source_channels=channels,
        gain_db=round(20.0 * float(np.log10(gain)), 2),
        onset_s=round(onset / SAMPLE_RATE, 4),
    )

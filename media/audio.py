"""Decoding a film's sound track with PyAV: mono float32 at a chosen rate, for any time range.

Time is the container's presentation timeline (a frame's PTS times its time base), the same
clock that video PTS use, so ``start_s = video_pts * video_time_base`` gives the sound that plays
with that frame. Only the requested range (plus a short lead-in for the resampler's filter) is
decoded: the container is seeked close to ``start_s`` and decoding stops once the range is full,
so memory is bounded by the range, not by the film.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import av
import numpy as np
from av.audio.resampler import AudioResampler
from av.audio.stream import AudioStream
from av.container import InputContainer

from media.container import open_container, stream_kinds
from media.errors import NoAudioStream, UnreadableMedia

# Seek this far before the range so the resampler's filter has real history at the first sample.
SEEK_LEAD_S = 0.25


@contextlib.contextmanager
def _open_audio(uri: str) -> Iterator[tuple[InputContainer, AudioStream]]:
    """Yields (container, first audio stream); raises FileNotFoundError, UnreadableMedia or
    NoAudioStream."""
    with open_container(uri) as container:
        if not container.streams.audio:
            raise NoAudioStream(f"{uri}: container has no audio stream (found: {stream_kinds(container)})")
        yield container, container.streams.audio[0]


def has_audio(uri: str) -> bool:
    """True when ``uri`` opens and holds at least one audio stream (no sample is decoded)."""
    try:
        with _open_audio(uri):
            return True
    except NoAudioStream:
        return False


def _resampled(
    container: InputContainer, stream: AudioStream, resampler: AudioResampler, uri: str
) -> Iterator[tuple[float, np.ndarray]]:
    """(start seconds of the first input frame, samples) chunks of mono float32 at the output rate.

    The first element's time anchors the output clock: the resampler's output is continuous from
    there. A decode error after some audio ends the stream (a truncated tail keeps what decoded).
    """
    anchor: float | None = None
    decoded = 0
    try:
        for frame in container.decode(stream):
            if anchor is None:
                time = frame.time  # None exactly when the frame has no PTS
                anchor = float(time) if time is not None else 0.0
            decoded += 1
            for out in resampler.resample(frame):
                yield anchor, out.to_ndarray().reshape(-1)  # packed flt mono: (1, n) -> (n,)
    except av.FFmpegError as e:
        if decoded == 0:
            raise UnreadableMedia(f"{uri}: no audio could be decoded ({e})") from e
    if anchor is None:
        return
    for out in resampler.resample(None):  # flush the filter's tail
        yield anchor, out.to_ndarray().reshape(-1)


def decode_audio(
    uri: str, *, sample_rate: int, start_s: float = 0.0, duration_s: float | None = None
) -> np.ndarray:
    """The first audio stream of ``uri`` as (samples,) float32 mono at ``sample_rate``.

    Channels are down-mixed and the rate converted by FFmpeg's swresample (PyAV's
    ``AudioResampler``). The result starts at ``start_s`` seconds of the container timeline.
    With ``duration_s`` it has exactly ``round(duration_s * sample_rate)`` samples, zero-padded
    where the stream starts later or ends sooner; without it, it runs to the end of the stream.
    Raises NoAudioStream for a container without audio and UnreadableMedia for a file that
    cannot be opened or decoded.
    """
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate <= 0:
        raise ValueError(f"sample_rate={sample_rate!r}: need a positive whole number of hertz")
    if not (math.isfinite(start_s) and start_s >= 0):
        raise ValueError(f"start_s={start_s!r}: need a finite number of seconds >= 0")
    if duration_s is not None and not (math.isfinite(duration_s) and duration_s >= 0):
        raise ValueError(f"duration_s={duration_s!r}: need a finite number of seconds >= 0, or None")

    first = round(start_s * sample_rate)  # output sample index of the range, on the timeline
    count = None if duration_s is None else round(duration_s * sample_rate)
    end = None if count is None else first + count
    pieces: list[np.ndarray] = []
    filled = first  # the timeline sample that the next piece starts at
    if count == 0:
        return np.zeros(0, np.float32)

    with _open_audio(uri) as (container, stream):
        if start_s > SEEK_LEAD_S:
            time_base = stream.time_base
            assert time_base is not None, "FFmpeg gives every demuxed stream a time base"
            target = int((start_s - SEEK_LEAD_S) / time_base)
            container.seek(target, stream=stream, backward=True, any_frame=False)
        resampler = AudioResampler(format="flt", layout="mono", rate=sample_rate)
        position: int | None = None  # timeline index of the next resampled sample
        for anchor, chunk in _resampled(container, stream, resampler, uri):
            if position is None:
                position = round(anchor * sample_rate)
            lo, hi = position, position + chunk.shape[0]
            position = hi
            a = max(lo, filled)
            b = hi if end is None else min(hi, end)
            if b > a:
                if a > filled:  # the stream starts after the range does: silence before it
                    pieces.append(np.zeros(a - filled, np.float32))
                pieces.append(chunk[a - lo : b - lo].astype(np.float32, copy=False))
                filled = b
            if end is not None and filled >= end:
                break
    if end is not None and filled < end:  # the stream ends before the range does
        pieces.append(np.zeros(end - filled, np.float32))
    return np.concatenate(pieces) if pieces else np.zeros(0, np.float32)

"""Streaming video decode with PyAV: low-resolution frames for analysis, exact ranges for the model.

Frames come out in presentation order (the order the decoder emits them), which is the frame
index of docs/design.md's Contracts. Nothing here holds more than the frames a caller asks for.
"""

from __future__ import annotations

import bisect
import contextlib
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import IO, Any, cast

import av
import numpy as np
from av.container import InputContainer
from av.video.reformatter import VideoReformatter
from av.video.stream import VideoStream

from media import storage
from media.container import open_container, stream_kinds
from media.errors import CorruptVideo, NoDecodableFrames, NoVideoStream, StillImage, UnreadableMedia
from media.sequence import SequenceContainer, is_sequence, open_sequence, sequence_timeline
from media.sequence import decode_range as decode_sequence_range
from media.streaming import open_stream
from media.timing import sample_times

# How a job decodes the frames it generates from (its --video_decode): FFmpeg's threads on the
# CPU, or NVDEC (``decode_range``'s ``hwaccel="cuda"``) falling back to the CPU.
VIDEO_DECODE_MODES = ("cpu", "cuda")
HWACCELS = ("cuda",)  # decode_range's hardware decoders


def check_video_decode(mode: str) -> str:
    """``mode`` when it is one of ``VIDEO_DECODE_MODES``; ValueError naming what is accepted otherwise."""
    if mode not in VIDEO_DECODE_MODES:
        raise ValueError(f"video_decode {mode!r} is not accepted; accepted: {', '.join(VIDEO_DECODE_MODES)}")
    return mode


def hwaccel_for(video_decode: str) -> str | None:
    """``decode_range``'s ``hwaccel`` for a --video_decode mode: None for "cpu"."""
    return None if check_video_decode(video_decode) == "cpu" else video_decode


def check_hwaccel(hwaccel: str) -> str:
    """``hwaccel`` when ``decode_range`` has it; ValueError naming what is accepted otherwise."""
    if hwaccel not in HWACCELS:
        accepted = ", ".join(HWACCELS)
        raise ValueError(f"hwaccel {hwaccel!r} is not accepted; accepted: {accepted} (or None: the CPU)")
    return hwaccel


@dataclass(frozen=True)
class AnalysisFrame:
    """One decoded frame at analysis sizes: (H, W, 3) uint8 RGB and (h, w) uint8 luma."""

    pts: int
    rgb: np.ndarray
    luma: np.ndarray
    rotation: int  # display rotation, degrees counter-clockwise


@contextlib.contextmanager
def open_video(
    uri: str, *, threads: int = 0, reader: IO[bytes] | None = None
) -> Iterator[tuple[InputContainer, VideoStream]]:
    """Open a film's container; yields (container, video_stream). ``reader``: as
    ``media.container.open_container`` takes it (the caller's reader of the file, closed here).

    Raises UnreadableMedia for an empty or undecodable file, StillImage for a picture,
    NoVideoStream for a container without video, and FileNotFoundError for a missing path.
    ``threads=0`` lets FFmpeg pick (frame and slice threads). A frame sequence's URI
    (``media.sequence``) gives that module's stand-ins for the container and stream.
    """
    if is_sequence(uri):  # a glob of frame files: a film, not a still
        with open_sequence(uri) as (sequence, video):
            yield cast(InputContainer, sequence), cast(VideoStream, video)
        return
    with open_container(uri, reader=reader) as container:
        if not container.streams.video:
            raise NoVideoStream(f"{uri}: container has no video stream (found: {stream_kinds(container)})")
        # FFmpeg's image demuxers (png_pipe, jpeg_pipe, image2, ...) open a picture as a
        # one-frame video; a picture is not a film.
        demuxer = container.format.name
        if demuxer == "image2" or demuxer.endswith("_pipe"):
            raise StillImage(f"{uri}: a still image ({demuxer}), not a film")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = threads
        yield container, stream


def _decoded(
    container: InputContainer, stream: VideoStream, uri: str, shown: Callable[[int, int], bool] | None = None
) -> Iterator[av.VideoFrame]:
    """Decode every frame of ``stream``; with ``shown``, skip the packets no one will see.

    ``shown(pts, next_pts)`` says whether the frame at ``pts``, on screen until ``next_pts``, is
    wanted. A packet is skipped, never decoded, only when it and the packet after it are both
    keyframes (nothing decodes from it: FFV1, ProRes, DPX-like intra-only streams) and ``shown``
    says no, so the frames that come out are exactly those a full decode gives for the times wanted.

    Raises UnreadableMedia when no frame decodes and CorruptVideo when decoding fails partway or
    the demuxer marks a packet corrupt (a packet cut short by the end of a truncated file): such a
    film's packets outlast its decodable frames (frame threads silently drop the few in flight),
    so any length chosen for it would not match what a player shows.
    """
    if isinstance(container, SequenceContainer):  # frames, not packets (media.sequence)
        yield from container.decode(stream)
        return
    emitted = 0
    try:
        for packet, following in _with_next(container.demux(stream)):
            if packet.is_corrupt:
                raise CorruptVideo(
                    f"{uri}: cannot decode the video past frame {emitted}: the file is truncated or damaged "
                    f"(the packet at PTS {packet.pts} is incomplete)"
                )
            if (
                shown is not None
                and following is not None
                and packet.is_keyframe
                and following.is_keyframe
                and packet.pts is not None
                and following.pts is not None
                and following.pts > packet.pts
                and not shown(packet.pts, following.pts)
            ):
                emitted += 1  # a frame of the stream all the same (error messages count frames)
                continue
            for frame in packet.decode():
                if frame.pts is None:
                    continue
                emitted += 1
                yield frame
    except av.FFmpegError as e:
        if emitted == 0:
            raise UnreadableMedia(f"{uri}: no frame could be decoded ({e})") from e
        raise CorruptVideo(
            f"{uri}: cannot decode the video past frame {emitted}: the file is truncated or damaged ({e})"
        ) from e
    if emitted == 0:
        raise NoDecodableFrames(f"{uri}: the video stream holds no decodable frame")


def _with_next(
    packets: Iterator[av.Packet[Any]],
) -> Iterator[tuple[av.Packet[Any], av.Packet[Any] | None]]:
    """Each packet with the one after it (None after the last)."""
    previous = next(packets, None)
    for packet in packets:
        if previous is not None:
            yield previous, packet
        previous = packet
    if previous is not None:
        yield previous, None


def _time_base(stream: VideoStream) -> Fraction:
    """The stream's time base: FFmpeg gives every demuxed stream one."""
    return Fraction(cast(Fraction, stream.time_base))


def _pts(frame: av.VideoFrame) -> int:
    """A frame's PTS: ``_decoded`` yields only frames that have one."""
    return cast(int, frame.pts)


def iter_analysis_frames(
    container: InputContainer,
    stream: VideoStream,
    uri: str,
    *,
    rgb_size: tuple[int, int],
    luma_size: tuple[int, int],
) -> Iterator[AnalysisFrame]:
    """Stream frames scaled by FFmpeg's swscale to ``rgb_size`` (RGB) and ``luma_size`` (gray).

    Sizes are (width, height). Area interpolation averages pixels, which suppresses grain. One
    reformatter per output keeps its swscale context alive across frames (building a context
    per frame costs more than the scaling itself).
    """
    (rw, rh), (lw, lh) = rgb_size, luma_size
    to_rgb, to_luma = VideoReformatter(), VideoReformatter()
    for frame in _decoded(container, stream, uri):
        rgb = to_rgb.reformat(frame, rw, rh, "rgb24", interpolation="AREA").to_ndarray()
        luma = to_luma.reformat(frame, lw, lh, "gray", interpolation="AREA").to_ndarray()
        yield AnalysisFrame(pts=_pts(frame), rgb=rgb, luma=luma, rotation=int(frame.rotation))


def decode_range(
    uri: str,
    start_pts: int,
    end_pts: int,
    *,
    fps: float,
    width: int,
    height: int,
    gray: bool = False,
    hwaccel: str | None = None,
    films: OpenFilms | None = None,
) -> np.ndarray:
    """Frames shown in [start_pts, end_pts), sampled at ``fps`` and scaled to width x height.

    Output sample k is the frame on screen at time start + k/fps (the last frame whose PTS is at
    or before it), so duplicated or dropped frames in the source keep their true timing.
    Returns (K, height, width, 3) uint8 RGB, or (K, height, width) when ``gray``.

    ``hwaccel="cuda"`` decodes with FFmpeg's CUDA decoder (NVDEC) through PyAV's ``hwaccel``, with
    PyAV's software fallback off: it raises when no CUDA device or NVDEC decoder can be used, and
    the caller decides whether to decode on the CPU instead (``transforms.generate`` does, and
    says why). The sampling is the same. Measured on an H200 (a 29 fps H.264 clip, 25 to 190
    output frames): the same frames as the CPU, bit for bit; about 0.45 s a call, almost all of it
    opening the CUDA decoder, against 0.02-0.05 s on the CPU, so NVDEC pays off only where CPU
    cores are scarce and scenes long.

    A frame sequence (``media.sequence``) is sampled the same way, on the CPU whatever
    ``hwaccel`` says (NVDEC decodes no DPX, TIFF, PNG or EXR), reading only the frames shown.

    ``films`` keeps the container open for the next call on the same film (``OpenFilms``), so a
    worker decoding many scenes of one film reads its header and index (a Matroska file's cues
    grow with its length) once, not once a scene. The frames are the same either way.
    """
    if is_sequence(uri):
        return decode_sequence_range(uri, start_pts, end_pts, fps=fps, width=width, height=height, gray=gray)
    if films is None:
        with _open_for_range(uri, hwaccel) as (container, stream):
            return _sample_range(container, stream, uri, start_pts, end_pts, fps, width, height, gray)
    container, stream = films.open(uri, hwaccel)
    try:
        return _sample_range(container, stream, uri, start_pts, end_pts, fps, width, height, gray)
    except BaseException:
        films.discard(uri, hwaccel)  # a decoder that failed partway is not reused
        raise


def _sample_range(
    container: InputContainer,
    stream: VideoStream,
    uri: str,
    start_pts: int,
    end_pts: int,
    fps: float,
    width: int,
    height: int,
    gray: bool,
) -> np.ndarray:
    """``decode_range``'s sampling on an open container: it seeks first, so any range in any order."""
    wanted = sample_times(start_pts, end_pts, _time_base(stream), fps)  # exact PTS, start + k / fps
    count = len(wanted)
    container.seek(int(start_pts), stream=stream, backward=True, any_frame=False)
    fmt = "gray" if gray else "rgb24"
    scaler = VideoReformatter()

    def convert(frame: av.VideoFrame) -> np.ndarray:
        return scaler.reformat(frame, width, height, fmt, interpolation="AREA").to_ndarray()

    out = np.empty((count, height, width) + (() if gray else (3,)), dtype=np.uint8)
    k = 0
    held: av.VideoFrame | None = None  # the most recent frame at or before wanted[k]
    held_array: np.ndarray | None = None  # converted lazily: frames before the range are skipped

    def shown(pts: int, next_pts: int) -> bool:
        """Is some wanted time in [pts, next_pts)? Frames past the range are decoded: the first
        of them ends the loop below."""
        return pts > wanted[-1] or bisect.bisect_left(wanted, pts) < bisect.bisect_left(wanted, next_pts)

    for frame in _decoded(container, stream, uri, shown):
        while k < count and _pts(frame) > wanted[k]:
            if held is None:  # the range starts before the first frame: show the first
                held = frame
            if held_array is None:
                held_array = convert(held)
            out[k] = held_array
            k += 1
        if k >= count:
            break
        held, held_array = frame, None
    while k < count:  # the range runs to the end of the stream
        if held is None:
            raise NoDecodableFrames(f"{uri}: no frame at or after PTS {start_pts}")
        if held_array is None:
            held_array = convert(held)
        out[k] = held_array
        k += 1
    return out


@contextlib.contextmanager
def _open_for_range(uri: str, hwaccel: str | None) -> Iterator[tuple[InputContainer, VideoStream]]:
    """(container, video stream) for ``decode_range``: ``open_video`` on the CPU; with ``hwaccel``,
    the container opened with PyAV's ``HWAccel`` of that device type and no software fallback
    (FFmpeg picks its own threading for a hardware decoder)."""
    if hwaccel is None:
        with open_video(uri) as opened:
            yield opened
        return
    check_hwaccel(hwaccel)
    from av.codec.hwaccel import HWAccel

    accel = HWAccel(device_type=hwaccel, allow_software_fallback=False)
    with contextlib.ExitStack() as stack:
        local = storage.is_local(uri)
        source = storage.local_path(uri) if local else stack.enter_context(open_stream(uri))
        container = stack.enter_context(av.open(source, mode="r", hwaccel=accel))
        yield container, container.streams.video[0]


_Kept = tuple[contextlib.ExitStack, InputContainer, VideoStream]


class OpenFilms:
    """Films' containers kept open between ``decode_range`` calls: the ``keep`` most recently
    used, each with its hardware decoder choice. Close it (or use it as a context manager) when
    done; a container whose decode failed is closed and opened afresh next time."""

    def __init__(self, keep: int = 2) -> None:
        if keep < 1:
            raise ValueError(f"keep {keep} must be at least 1")
        self._keep = keep
        # (uri, hwaccel) -> (what closes it, container, video stream), least recently used first
        self._open: OrderedDict[tuple[str, str | None], _Kept] = OrderedDict()

    def open(self, uri: str, hwaccel: str | None) -> tuple[InputContainer, VideoStream]:
        """(container, video stream) of ``uri``, opened now or kept from an earlier call."""
        key = (uri, hwaccel)
        if key in self._open:
            self._open.move_to_end(key)
        else:
            stack = contextlib.ExitStack()
            with stack:
                container, stream = stack.enter_context(_open_for_range(uri, hwaccel))
                self._open[key] = (stack.pop_all(), container, stream)
            while len(self._open) > self._keep:
                _, (oldest, _, _) = self._open.popitem(last=False)
                oldest.close()
        _, container, stream = self._open[key]
        return container, stream

    def discard(self, uri: str, hwaccel: str | None) -> None:
        kept = self._open.pop((uri, hwaccel), None)
        if kept is not None:
            kept[0].close()

    def close(self) -> None:
        while self._open:
            _, (stack, _, _) = self._open.popitem()
            stack.close()

    def __enter__(self) -> OpenFilms:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def video_timeline(uri: str) -> tuple[Fraction, int, int]:
    """(time_base, first_pts, end_pts) of the film's video, from packet timestamps (no decoding).

    Durations follow docs/design.md's "Time" via ``media.timing``.
    """
    from media.timing import timeline_from_pts

    if is_sequence(uri):  # the frame numbers are the clock (media.sequence)
        return sequence_timeline(uri)
    with open_video(uri) as (container, stream):
        time_base = _time_base(stream)
        pts = [int(p.pts) for p in container.demux(stream) if p.pts is not None and p.size > 0]
        nominal = stream.guessed_rate or stream.average_rate or stream.base_rate
    if not pts:
        raise NoDecodableFrames(f"{uri}: the video stream holds no frame")
    fallback = int(round(1 / (float(nominal) * time_base))) if nominal else 1
    timeline = timeline_from_pts(pts, time_base, fallback_duration=fallback)
    return time_base, timeline.first_pts, timeline.end_pts

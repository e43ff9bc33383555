"""A reduced-size preview of a film with its new sound track, in a format browsers play.

The archival outputs are the FLAC and the MKV (the source's video copied untouched); neither
plays in a browser. The preview re-encodes the picture, scaled down to at most
``MAX_HEIGHT`` lines, as H.264 (NVIDIA's NVENC where FFmpeg has ``h264_nvenc`` and it opens on a
CUDA device, libx264 otherwise) and the FLAC track as AAC-LC, in an MP4 with its index at the
front (``+faststart``) so a page can start playing it before it has all of it.

It is for review only: AAC pads the track with encoder delay (the MP4's edit list hides it from
players) and rounds it lossily; the FLAC and MKV stay the exact outputs.

Time: a frame is shown at its PTS minus the first frame's, in the source's time base, so the
picture keeps its own timing (variable frame rate and held frames included) and the track
starts with the first frame, as in the MKV. A display rotation of the source is kept.

Determinism: the same film and FLAC give the same bytes. libx264 runs with a fixed thread count
(its output depends on the count, not on timing) and without macroblock-tree rate control (with
it, this build's output varied between runs), FFmpeg's encoders and the MP4 muxer with
``+bitexact`` (no version strings, no creation time), and packets are muxed in one order:
audio up to each video frame's time, then that frame. NVENC's bytes differ from libx264's, so
previews are byte-identical only between machines that use the same encoder.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np
from av.audio.stream import AudioStream
from av.container import OutputContainer
from av.video.stream import VideoStream

from media.decode import open_video
from media.errors import UnreadableMedia
from media.flac import decode_flac

log = logging.getLogger(__name__)

MAX_HEIGHT = 360
AUDIO_BITRATE = 96_000
AAC_FRAME = 1024  # samples per AAC-LC frame
X264_THREADS = "2"  # fixed: libx264's output depends on its thread count
# mbtree off: with it, this libx264 gave different bytes for the same frames from run to run
# (measured: 2-3 distinct outputs in 3 encodes of one film, even with one thread).
X264_OPTIONS = {
    "preset": "veryfast",
    "crf": "28",
    "threads": X264_THREADS,
    "x264-params": "mbtree=0",
    "flags": "+bitexact",
}
NVENC_OPTIONS = {"preset": "p4", "rc": "vbr", "cq": "30", "flags": "+bitexact"}
MUX_OPTIONS = {"movflags": "+faststart", "fflags": "+bitexact"}


@dataclass(frozen=True)
class Preview:
    """A preview's MP4 bytes and how its picture was encoded."""

    data: bytes
    video_codec: str  # "h264_nvenc" or "libx264"
    width: int
    height: int


def preview_size(width: int, height: int, max_height: int = MAX_HEIGHT) -> tuple[int, int]:
    """(width, height) scaled to at most ``max_height`` lines, aspect kept, both even (4:2:0 chroma)."""
    if width < 1 or height < 1:
        raise ValueError(f"a {width}x{height} picture has no pixels")
    scale = min(1.0, max_height / height)

    def even(x: int) -> int:
        return max(2, int(round(x * scale / 2)) * 2)

    return even(width), even(height)


def nvenc_unavailable_reason() -> str | None:
    """None when FFmpeg's ``h264_nvenc`` opens on this machine; otherwise why it does not."""
    if "h264_nvenc" not in av.codecs_available:
        return "this FFmpeg build has no h264_nvenc encoder"
    try:
        context = av.CodecContext.create("h264_nvenc", "w")
        context.width, context.height, context.pix_fmt = 256, 144, "yuv420p"
        context.time_base = Fraction(1, 25)
        context.open()
    except av.FFmpegError as exc:  # no NVIDIA GPU, driver or CUDA device
        return f"h264_nvenc does not open ({exc})"
    return None


def choose_video_codec(prefer_gpu: bool = True) -> str:
    """``h264_nvenc`` when wanted and usable, else ``libx264``; a fallback is logged with its reason."""
    if not prefer_gpu:
        return "libx264"
    reason = nvenc_unavailable_reason()
    if reason is None:
        return "h264_nvenc"
    log.info("preview: encoding with libx264: %s", reason)
    return "libx264"


def encode_preview(
    video_uri: str, flac: bytes, *, max_height: int = MAX_HEIGHT, video_codec: str | None = None
) -> Preview:
    """MP4 bytes (H.264 + AAC) of ``video_uri``'s picture with ``flac`` as its sound (module docstring).

    ``video_codec`` is "libx264" or "h264_nvenc" (default: ``choose_video_codec()``). Raises
    UnreadableMedia when the film or the FLAC cannot be read.
    """
    codec = video_codec or choose_video_codec()
    if codec not in ("libx264", "h264_nvenc"):
        raise ValueError(f"video_codec={codec!r}: accepted are 'libx264' and 'h264_nvenc'")
    audio, rate, _ = decode_flac(flac)
    fd, path = tempfile.mkstemp(suffix=".mp4")  # +faststart rewrites the file: it needs a real one
    os.close(fd)
    try:
        width, height = _write_preview(path, video_uri, audio, rate, codec, max_height)
        with open(path, "rb") as f:
            data = f.read()
    finally:
        os.unlink(path)
    return Preview(data=data, video_codec=codec, width=width, height=height)


def _write_preview(
    path: str, video_uri: str, audio: np.ndarray, rate: int, codec: str, max_height: int
) -> tuple[int, int]:
    with (
        open_video(video_uri) as (source, stream),
        av.open(path, "w", format="mp4", options=dict(MUX_OPTIONS)) as out,
    ):
        out.metadata.clear()
        assert stream.time_base is not None, "FFmpeg gives every demuxed stream a time base"
        time_base = Fraction(stream.time_base)
        width, height = preview_size(stream.codec_context.width, stream.codec_context.height, max_height)
        rate_guess = stream.guessed_rate or stream.average_rate or Fraction(24)
        video = out.add_stream(
            codec, rate=rate_guess, options=dict(X264_OPTIONS if codec == "libx264" else NVENC_OPTIONS)
        )
        assert isinstance(video, VideoStream), f"{codec} is a video encoder"
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.time_base = time_base
        video.codec_context.time_base = time_base
        sound = out.add_stream("aac", rate=rate, options={"flags": "+bitexact"})
        sound.layout, sound.format = "mono", "fltp"
        sound.bit_rate = AUDIO_BITRATE
        sound.time_base = Fraction(1, rate)
        track = _AudioFeed(out, sound, audio, rate)

        first_pts: int | None = None
        try:
            for frame in source.decode(stream):
                if frame.pts is None:
                    continue
                if first_pts is None:
                    first_pts = frame.pts
                    if frame.rotation:  # shown as the source is, before anything is muxed
                        video.set_display_rotation(frame.rotation)
                shown_at = frame.pts - first_pts
                picture = frame.reformat(width=width, height=height, format="yuv420p", interpolation="AREA")
                picture.pts, picture.time_base = shown_at, time_base
                track.feed_until(Fraction(shown_at) * time_base)
                for packet in video.encode(picture):
                    out.mux(packet)
        except av.FFmpegError as exc:
            raise UnreadableMedia(f"{video_uri}: decoding for the preview failed ({exc})") from exc
        if first_pts is None:
            raise UnreadableMedia(f"{video_uri}: no frame to preview")
        track.feed_until(None)
        for packet in video.encode(None):
            out.mux(packet)
        for packet in sound.encode(None):
            out.mux(packet)
    return width, height


class _AudioFeed:
    """Encodes the track in AAC frames as the picture advances, so packets interleave by time."""

    def __init__(self, out: OutputContainer, stream: AudioStream, audio: np.ndarray, rate: int) -> None:
        self._out, self._stream, self._audio, self._rate = out, stream, audio.astype(np.float32), rate
        self._next = 0

    def feed_until(self, seconds: Fraction | None) -> None:
        """Encode every frame that starts at or before ``seconds`` (None: the rest of the track)."""
        total = self._audio.shape[0]
        stop = total if seconds is None else min(total, int(seconds * self._rate) + 1)
        while self._next < stop:
            chunk = self._audio[self._next : self._next + AAC_FRAME]
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(chunk[None, :]), format="fltp", layout="mono"
            )
            frame.sample_rate, frame.pts = self._rate, self._next
            frame.time_base = Fraction(1, self._rate)
            for packet in self._stream.encode(frame):
                self._out.mux(packet)
            self._next += chunk.shape[0]

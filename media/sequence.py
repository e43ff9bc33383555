"""Frame sequences as films: a glob of numbered frame files at the rate its manifest row gives.

Archives keep scans as one file per frame (DPX, TIFF, PNG, EXR). A manifest row whose
``video_input`` is a glob of such files and that gives an ``fps`` is one film (docs/design.md,
Contracts, "Manifest", "film_id" and "Time"):

* Its *sequence URI* is the pattern with the rate after it: ``<pattern>#fps=<rate>``, e.g.
  ``gs://bucket/reel1/frame_*.dpx#fps=18`` or ``...#fps=24000/1001``. Every stage is handed the
  rate with the URI, as a stage reads a video file's rate from its container.
* Only the pattern's file name holds wildcards (``*``, ``?``, ``[...]``), and it ends in a frame
  format's extension (``FRAME_CODECS``). The files it matches (names starting with ``.``, such
  as unfinished uploads, left out) are the frames, in natural sort order; a name's last run of
  digits is its frame number, and numbers must increase in that order.
* Its clock: time base ``1/fps``; a frame's PTS is its number minus the first frame's; the last
  frame lasts one number. So the film lasts ``(last - first + 1) / fps``. A gap in the numbering
  (a frame missing from the scan) holds the frame before it over the missing numbers, as a video
  holds a frame until the next PTS; the gap is reported (``FrameSequence.missing``).
* Its content hash is the SHA-256 of the frames' names and byte sizes in order
  (``talkie.sequence/1``), not of the gigabytes of pictures.
* A frame is read whole through fsspec (``media.storage``) when it is decoded, a few frames ahead
  on a small thread pool, and decoded by FFmpeg's decoder for its format (PyAV's codec by name,
  one thread each). The sequence is never downloaded whole. A frame that does not decode raises
  ``UnreadableFrame`` naming its number.

``media.decode`` and ``media.container`` dispatch here for sequence URIs, so Talkie's readers
(probe and scene cuts, window decoding, the review's pictures, the preview) take a sequence as
they take a video file: ``open_sequence`` gives stand-ins for PyAV's container and stream with
the part of their API those readers use. ``encode_ffv1`` writes the sequence as lossless FFV1
video in Matroska, the picture of the film's MKV (``media.mux``): a sequence has no stream to copy.
"""

from __future__ import annotations

import bisect
import collections
import contextlib
import glob
import hashlib
import json
import math
import os
import posixpath
import re
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, cast

import av
import numpy as np
from av.video.codeccontext import VideoCodecContext
from av.video.reformatter import VideoReformatter

from media import storage
from media.errors import CorruptVideo, UnreadableMedia
from media.timing import sample_times

# A frame file's extension -> FFmpeg's decoder for it.
FRAME_CODECS = {".dpx": "dpx", ".tif": "tiff", ".tiff": "tiff", ".png": "png", ".exr": "exr"}
FRAME_FORMATS = "DPX (.dpx), TIFF (.tif, .tiff), PNG (.png) or OpenEXR (.exr)"
RATE_MARK = "#fps="
MAX_FPS = Fraction(1000)  # Matroska keeps milliseconds: faster frames would share a timestamp
HASH_SCHEMA = "talkie.sequence/1"
CONTAINER_NAME = "image2"  # FFmpeg's name for a sequence of pictures: a FilmProbe's ``container``
READ_AHEAD = 4  # frames read and decoded ahead of the one in use (and threads doing it)
_LISTINGS_KEPT = 16
_WILDCARD = re.compile(r"[*?\[]")
_DIGIT_RUNS = re.compile(r"(\d+)")
_NOT_LISTABLE = ("http://", "https://")

# FFV1 (level 3, what FFmpeg encodes without "experimental") holds most decoded formats as they
# are; these are stored in the nearest format it holds without loss, except float (EXR), which it
# holds only at level 4: floats become 16-bit integers, values clipped to 0..1.
_FFV1_FORMS = {
    "rgb24": "bgr0",
    "bgr24": "bgr0",
    "rgba": "bgra",
    "abgr": "bgra",
    "argb": "bgra",
    "pal8": "bgra",
    "rgb48be": "rgb48le",
    "rgba64be": "rgba64le",
    "gray16be": "gray16le",
    "ya16be": "rgba64le",
    "ya16le": "rgba64le",
    "monob": "gray",
    "monow": "gray",
    "gbrpf32le": "gbrp16le",
    "gbrpf32be": "gbrp16le",
    "gbrapf32le": "gbrap16le",
    "gbrapf32be": "gbrap16le",
    "grayf32le": "gray16le",
    "grayf32be": "gray16le",
}
FFV1_OPTIONS = {"level": "3", "g": "1", "slicecrc": "1", "flags": "+bitexact"}


class SequenceError(UnreadableMedia):
    """A sequence URI that names no usable frames: nothing matches, a name has no frame number,
    numbers do not increase in name order, or the pattern is not a frame sequence's."""


class UnreadableFrame(CorruptVideo):
    """One frame of a sequence cannot be read or decoded, or does not match the first frame's size."""

    def __init__(self, message: str, number: int) -> None:
        super().__init__(message)
        self.number = number


# ------------------------------------------------------------------------------ sequence URIs


def split_sequence_uri(uri: str) -> tuple[str, str | None]:
    """(pattern, rate text or None): ``uri`` split at its ``#fps=`` mark."""
    head, mark, rate = uri.rpartition(RATE_MARK)
    if mark and re.fullmatch(r"[0-9./]+", rate):
        return head, rate
    return uri, None


def _file_part(pattern: str) -> str:
    return pattern.rstrip("/").rsplit("/", 1)[-1]


def is_sequence_pattern(pattern: str) -> bool:
    """True when ``pattern`` (without a rate) globs frame files: its file name holds a wildcard and
    ends in a frame format's extension, at a listable location (not http or https, whose ``?``
    starts a query). A video file whose name holds ``[``, ``*`` or ``?`` is not one."""
    if not isinstance(pattern, str) or pattern.lower().startswith(_NOT_LISTABLE):
        return False
    return bool(_WILDCARD.search(_file_part(pattern))) and frame_codec(pattern) is not None


def is_sequence(uri: str) -> bool:
    """True when ``uri`` is a sequence URI: a frame files' pattern with its rate (``#fps=N``)."""
    if not isinstance(uri, str):
        return False
    pattern, rate = split_sequence_uri(uri)
    return rate is not None and is_sequence_pattern(pattern)


def parse_fps(value: Any) -> Fraction:
    """A frame rate as an exact fraction: a number (18, 23.976), or text ("18", "23.976",
    "24000/1001"); raises ValueError naming what is accepted."""
    accepted = f"a number of frames per second above 0 and at most {MAX_FPS}, e.g. 18, 23.976 or 24000/1001"
    rate: Fraction | None = None
    if isinstance(value, bool):
        rate = None
    elif isinstance(value, int):
        rate = Fraction(value)
    elif isinstance(value, float):
        rate = Fraction(repr(value)) if math.isfinite(value) else None
    elif isinstance(value, str) and re.fullmatch(r"\s*(\d+(\.\d+)?|\d+\s*/\s*\d+)\s*", value):
        text = value.replace(" ", "")
        if "/" in text:
            numerator, denominator = (int(x) for x in text.split("/"))
            rate = Fraction(numerator, denominator) if denominator else None
        else:
            rate = Fraction(text)
    elif value is not None and hasattr(value, "as_integer_ratio") and not isinstance(value, str):
        try:  # decimal.Decimal from Parquet, numpy numbers
            rate = Fraction(*value.as_integer_ratio())
        except (ValueError, OverflowError, TypeError):
            rate = None
    if rate is None or not 0 < rate <= MAX_FPS:
        raise ValueError(f"fps {value!r} is not a frame rate; it accepts {accepted}")
    return rate


def format_fps(fps: Fraction) -> str:
    """``fps`` as the URI writes it: "18", "24000/1001"."""
    return str(fps.numerator) if fps.denominator == 1 else f"{fps.numerator}/{fps.denominator}"


def sequence_uri(pattern: str, fps: Fraction) -> str:
    """The sequence URI of ``pattern`` at ``fps`` frames per second."""
    return f"{pattern}{RATE_MARK}{format_fps(fps)}"


def check_pattern(pattern: str) -> str:
    """``pattern`` when it can name a frame sequence; SequenceError saying why not otherwise."""
    name = _file_part(pattern)
    folder = pattern[: len(pattern) - len(name)]
    if pattern.lower().startswith(_NOT_LISTABLE):
        raise SequenceError(
            f"{pattern}: a frame sequence must be where its files can be listed: local disk or an "
            "object store (gs://, s3://, ...), not http(s)"
        )
    if not _WILDCARD.search(name):
        raise SequenceError(f"{pattern}: a frame sequence's file name is a glob (*, ?, [...])")
    if _WILDCARD.search(folder.split("://", 1)[-1]):
        raise SequenceError(
            f"{pattern}: only a frame sequence's file name may hold wildcards (*, ?, [...]); "
            "its folder is one folder"
        )
    if frame_codec(pattern) is None:
        raise SequenceError(f"{pattern}: a frame sequence's file names end in {FRAME_FORMATS}")
    return pattern


def frame_codec(pattern: str) -> str | None:
    """FFmpeg's decoder for the frames ``pattern`` names, from its extension; None when unknown."""
    _, extension = posixpath.splitext(_file_part(pattern).lower())
    return FRAME_CODECS.get(extension)


def sequence_slug_name(uri: str) -> str:
    """What a sequence's film_id slug is made from: its folder's name and the pattern's file name
    with its wildcards and extension left out ("gs://b/reel1/frame_*.dpx" -> "reel1 frame")."""
    pattern, _ = split_sequence_uri(uri)
    scheme, found, rest = pattern.partition("://")
    if found:  # no user-info (a host's "user:password@") in a film_id
        rest = re.sub(r"^[^/@]*@", "", rest)
    parts = (rest if found else scheme).rstrip("/").split("/")
    stem = posixpath.splitext(parts[-1])[0]
    stem = re.sub(r"\[[^\]]*\]|[*?]", " ", stem)
    folder = parts[-2] if len(parts) > 1 else ""
    return f"{folder} {stem}".strip()


# ---------------------------------------------------------------------------------- listing


@dataclass(frozen=True)
class FrameFile:
    number: int  # the last run of digits in its name
    name: str  # file name, no folder
    uri: str
    size: int  # bytes


@dataclass(frozen=True)
class FrameSequence:
    """A sequence URI's frames, listed: ``frames`` in order, on the clock of the module docstring."""

    uri: str  # the sequence URI (pattern and rate)
    pattern: str
    fps: Fraction
    codec: str  # FFmpeg decoder name: "dpx", "tiff", "png", "exr"
    frames: tuple[FrameFile, ...]
    _pts: tuple[int, ...] = field(default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        first = self.frames[0].number
        object.__setattr__(self, "_pts", tuple(f.number - first for f in self.frames))

    @property
    def time_base(self) -> Fraction:
        return 1 / self.fps

    @property
    def pts(self) -> tuple[int, ...]:
        """Each frame's PTS: its number minus the first frame's."""
        return self._pts

    @property
    def first_number(self) -> int:
        return self.frames[0].number

    @property
    def last_number(self) -> int:
        return self.frames[-1].number

    @property
    def end_pts(self) -> int:
        """Where the last frame stops showing: it lasts one number."""
        return self._pts[-1] + 1

    @property
    def missing(self) -> tuple[int, ...]:
        """Frame numbers between the first and the last that have no file, ascending."""
        out: list[int] = []
        for before, after in zip(self.frames, self.frames[1:]):
            out.extend(range(before.number + 1, after.number))
        return tuple(out)

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.frames)

    def content_sha256(self) -> str:
        """SHA-256 (hex) of the canonical JSON of the frames' names and sizes, in order."""
        body = {"schema": HASH_SCHEMA, "frames": [[f.name, f.size] for f in self.frames]}
        text = json.dumps(body, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
        return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()

    def index_at(self, pts: Fraction | int) -> int:
        """The frame on screen at ``pts``: the last frame at or before it (the first before any)."""
        return max(0, bisect.bisect_right(self._pts, pts) - 1)

    def describe(self) -> str:
        """Provenance text: what the sequence was (no URI: tags carry none)."""
        missing = self.missing
        plural = "s" if len(missing) > 1 else ""
        held = (
            f"; {len(missing)} missing frame number{plural}, each gap held by the frame before it"
            if missing
            else ""
        )
        return (
            f"a {self.codec.upper()} frame sequence: frames {self.first_number} to {self.last_number} "
            f"({len(self.frames)} files) at {format_fps(self.fps)} fps{held}"
        )


_listings: collections.OrderedDict[str, FrameSequence] = collections.OrderedDict()
_listings_lock = threading.Lock()


def natural_key(name: str) -> list[Any]:
    """Sort key: runs of digits compare as numbers ("f2" before "f10")."""
    return [int(part) if part.isdigit() else part for part in _DIGIT_RUNS.split(name)]


def frame_number(name: str) -> int | None:
    """The last run of digits in ``name`` without its extension; None when it has none."""
    runs = _DIGIT_RUNS.findall(posixpath.splitext(name)[0])
    return int(runs[-1]) if runs else None


def list_sequence(uri: str, *, fresh: bool = True) -> FrameSequence:
    """The frames ``uri`` names (module docstring). Lists the store when ``fresh`` (or when this
    process has not listed ``uri`` yet); otherwise reuses this process's latest listing, so that
    each window of a film does not list a reel of a hundred thousand objects again.

    Raises SequenceError when the URI is not a sequence's, has no rate, matches nothing or names
    frames that cannot be numbered in order.
    """
    pattern, rate = split_sequence_uri(uri)
    check_pattern(pattern)
    if rate is None:
        raise SequenceError(
            f"{uri}: a frame sequence needs its rate: {pattern}{RATE_MARK}N (frames per second)"
        )
    try:
        fps = parse_fps(rate)
    except ValueError as exc:
        raise SequenceError(f"{uri}: {exc}") from exc
    if not fresh:
        with _listings_lock:
            if uri in _listings:
                _listings.move_to_end(uri)
                return _listings[uri]
    found = storage.with_retries(lambda: _matching_files(pattern), f"list {pattern}")
    if not found:
        raise SequenceError(f"{uri}: no frame file matches {pattern!r}")
    found.sort(key=lambda item: natural_key(item[1]))
    frames: list[FrameFile] = []
    for file_uri, name, size in found:
        number = frame_number(name)
        if number is None:
            raise SequenceError(f"{uri}: frame file {name!r} has no frame number (no digits in its name)")
        if frames and number <= frames[-1].number:
            raise SequenceError(
                f"{uri}: frame files {frames[-1].name!r} and {name!r} carry frame numbers "
                f"{frames[-1].number} and {number}; numbers must increase in name order"
            )
        frames.append(FrameFile(number=number, name=name, uri=file_uri, size=size))
    codec = frame_codec(pattern)
    assert codec is not None, "check_pattern accepted the extension"
    listed = FrameSequence(uri=uri, pattern=pattern, fps=fps, codec=codec, frames=tuple(frames))
    with _listings_lock:
        _listings[uri] = listed
        _listings.move_to_end(uri)
        while len(_listings) > _LISTINGS_KEPT:
            _listings.popitem(last=False)
    return listed


def _matching_files(pattern: str) -> list[tuple[str, str, int]]:
    """(uri, name, size) of every file ``pattern`` matches, hidden names left out."""
    out: list[tuple[str, str, int]] = []
    if storage.is_local(pattern):
        prefix = "file://" if pattern.startswith("file://") else ""
        for path in glob.glob(storage.local_path(pattern)):
            name = os.path.basename(path)
            if not name.startswith(".") and os.path.isfile(path):
                out.append((prefix + path, name, os.path.getsize(path)))
        return out
    fs, path = storage.filesystem(pattern)  # with the process's S3 options, as frames are read
    fs.invalidate_cache(posixpath.dirname(path))
    for found, info in fs.glob(path, detail=True).items():
        name = posixpath.basename(found.rstrip("/"))
        if not name.startswith(".") and info.get("type", "file") == "file":
            out.append((fs.unstrip_protocol(found), name, int(info.get("size") or 0)))
    return out


def sequence_content(uri: str) -> tuple[str, int]:
    """(content SHA-256, total bytes) of the sequence, from a fresh listing: ``media.shard``'s
    ``content_sha256`` for a sequence."""
    listed = list_sequence(uri, fresh=True)
    return listed.content_sha256(), listed.total_bytes


def sequence_timeline(uri: str) -> tuple[Fraction, int, int]:
    """(time_base, first_pts, end_pts), as ``media.decode.video_timeline`` gives a video's."""
    listed = list_sequence(uri, fresh=False)
    return listed.time_base, 0, listed.end_pts


# --------------------------------------------------------------------------------- decoding


def decode_frame(listed: FrameSequence, index: int) -> av.VideoFrame:
    """Frame ``index`` of ``listed``, decoded, with its PTS and time base set.

    Raises UnreadableFrame (naming the frame's number and file) when the file is gone, empty or
    does not decode.
    """
    frame_file = listed.frames[index]
    where = f"{listed.uri}: frame {frame_file.number} ({frame_file.name})"
    try:
        data = storage.read_bytes(frame_file.uri)
    except FileNotFoundError as exc:
        raise UnreadableFrame(f"{where} is gone: {exc}", frame_file.number) from exc
    if not data:
        raise UnreadableFrame(f"{where} is empty (0 bytes)", frame_file.number)
    try:
        decoder = cast(VideoCodecContext, av.CodecContext.create(listed.codec, "r"))
        decoder.thread_count = 1  # frames are decoded in parallel, one per thread (``iter_frames``)
        pictures = decoder.decode(av.Packet(data))
        if not pictures:
            pictures = decoder.decode(None)
    except (av.FFmpegError, ValueError) as exc:
        raise UnreadableFrame(
            f"{where} cannot be decoded as {listed.codec.upper()}: {exc}", frame_file.number
        ) from exc
    if not pictures:
        raise UnreadableFrame(
            f"{where} cannot be decoded as {listed.codec.upper()}: no picture in it", frame_file.number
        )
    picture = pictures[0]
    assert isinstance(picture, av.VideoFrame), "an image decoder gives pictures"
    picture.pts = listed.pts[index]
    picture.time_base = listed.time_base
    return picture


def iter_frames(listed: FrameSequence, indexes: Iterable[int]) -> Iterator[av.VideoFrame]:
    """The frames at ``indexes``, in that order, read and decoded ``READ_AHEAD`` ahead on as many
    threads (fewer at first: a caller that wants one frame reads about one)."""
    wanted = iter(indexes)
    pool = ThreadPoolExecutor(max_workers=READ_AHEAD, thread_name_prefix="talkie-frames")
    pending: collections.deque[Future[av.VideoFrame]] = collections.deque()
    given = 0
    try:
        while True:
            while len(pending) < min(READ_AHEAD, given + 1):
                index = next(wanted, None)
                if index is None:
                    break
                pending.append(pool.submit(decode_frame, listed, index))
            if not pending:
                return
            frame = pending.popleft().result()
            given += 1
            yield frame
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=False, cancel_futures=True)


def decode_range(
    uri: str,
    start_pts: int,
    end_pts: int,
    *,
    fps: float,
    width: int,
    height: int,
    gray: bool = False,
) -> np.ndarray:
    """``media.decode.decode_range`` for a sequence: the same samples (sample k is the frame on
    screen at start + k/fps), but only the frames some sample shows are read and decoded."""
    listed = list_sequence(uri, fresh=False)
    shown = [listed.index_at(t) for t in sample_times(start_pts, end_pts, listed.time_base, fps)]
    count = len(shown)
    fmt = "gray" if gray else "rgb24"
    scaler = VideoReformatter()
    out = np.empty((count, height, width) + (() if gray else (3,)), dtype=np.uint8)
    distinct = sorted(set(shown))
    first_sample = {index: shown.index(index) for index in distinct}
    for index, frame in zip(distinct, iter_frames(listed, distinct)):
        picture = scaler.reformat(frame, width, height, fmt, interpolation="AREA").to_ndarray()
        k = first_sample[index]
        while k < count and shown[k] == index:
            out[k] = picture
            k += 1
    return out


# ----------------------------------------------------------- PyAV stand-ins for media.decode


class _Format:
    name = CONTAINER_NAME
    long_name = "frame sequence"


class SequenceCodecContext:
    """What readers ask of a stream's codec context: the decoder's name, the size, the format."""

    type = "video"

    def __init__(self, name: str, width: int, height: int, pix_fmt: str) -> None:
        self.name = name
        self.width = width
        self.height = height
        self.pix_fmt = pix_fmt
        self.thread_count = 0
        self.options: dict[str, str] = {}


class SequenceStream:
    """A sequence as a video stream: its clock (time base 1/fps, rates fps) and its first frame's
    size and pixel format."""

    type = "video"
    index = 0

    def __init__(self, listed: FrameSequence, first: av.VideoFrame) -> None:
        self.time_base = listed.time_base
        self.average_rate = self.guessed_rate = self.base_rate = listed.fps
        self.start_time = 0
        self.duration = listed.end_pts
        self.frames = len(listed.frames)
        self.codec_context = SequenceCodecContext(listed.codec, first.width, first.height, first.format.name)
        self.thread_type = "AUTO"
        self.metadata: dict[str, str] = {}
        self.disposition = 0


class _Streams:
    def __init__(self, video: SequenceStream) -> None:
        self.video = (video,)
        self.audio: tuple[Any, ...] = ()
        self.subtitles: tuple[Any, ...] = ()
        self.data: tuple[Any, ...] = ()
        self.attachments: tuple[Any, ...] = ()
        self.other: tuple[Any, ...] = ()

    def __iter__(self) -> Iterator[SequenceStream]:
        return iter(self.video)

    def __len__(self) -> int:
        return 1

    def __getitem__(self, index: int) -> SequenceStream:
        return self.video[index]


class SequenceContainer:
    """A sequence as an input container: one video stream, no audio, ``decode`` and ``seek``.

    ``decode`` yields every frame from the sought one on (from the first without a seek) and
    raises UnreadableFrame for a frame that does not decode or whose size is not the first
    frame's (one film has one picture size).
    """

    format = _Format()

    def __init__(self, listed: FrameSequence, first: av.VideoFrame) -> None:
        self.sequence = listed
        self.name = listed.uri
        self.metadata: dict[str, str] = {}
        self.streams = _Streams(SequenceStream(listed, first))
        self.duration = round(listed.end_pts * listed.time_base * 1_000_000)  # AV_TIME_BASE units
        self.start_time = 0
        self._start = 0
        self._first = first  # decoded by ``open_sequence``: not read twice

    def seek(
        self, offset: int, *, backward: bool = True, any_frame: bool = False, stream: Any = None
    ) -> None:
        """Start decoding at the frame on screen at ``offset`` (the stream's time base with
        ``stream``, microseconds without, as PyAV's seek)."""
        at = Fraction(offset) if stream is not None else Fraction(offset, 1_000_000) / self.sequence.time_base
        self._start = self.sequence.index_at(at)

    def decode(self, *args: Any, **kwargs: Any) -> Iterator[av.VideoFrame]:
        listed, stream = self.sequence, self.streams.video[0]
        size = (stream.codec_context.width, stream.codec_context.height)
        start = self._start
        if start == 0:
            yield self._first
            start = 1
        for index, frame in enumerate(iter_frames(listed, range(start, len(listed.frames))), start):
            if (frame.width, frame.height) != size:
                number = listed.frames[index].number
                raise UnreadableFrame(
                    f"{listed.uri}: frame {number} ({listed.frames[index].name}) is "
                    f"{frame.width}x{frame.height}; the sequence's first frame is {size[0]}x{size[1]}",
                    number,
                )
            yield frame

    def demux(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        raise UnreadableMedia(f"{self.name}: a frame sequence has no packets to copy; decode it")

    def close(self) -> None:
        return None


@contextlib.contextmanager
def open_sequence(uri: str) -> Iterator[tuple[SequenceContainer, SequenceStream]]:
    """(container, video stream) stand-ins for the sequence ``uri`` (the first frame is decoded for
    the picture's size and format). Raises SequenceError or UnreadableFrame."""
    listed = list_sequence(uri, fresh=False)
    [first] = iter_frames(listed, [0])
    container = SequenceContainer(listed, first)
    yield container, container.streams.video[0]


# ------------------------------------------------------------------------------ FFV1 output


def ffv1_pixel_format(decoded: str) -> str:
    """The pixel format FFV1 stores frames decoded as ``decoded`` in (``_FFV1_FORMS``)."""
    if decoded in _FFV1_FORMS:  # floats first: FFV1 lists them, but holds them only at level 4
        return _FFV1_FORMS[decoded]
    form = av.VideoFormat(decoded)
    held = {f.name for f in av.codec.Codec("ffv1", "w").video_formats or ()}
    if decoded in held and not re.search(r"f(16|32)(le|be)$", decoded):
        return decoded
    deep = max(c.bits for c in form.components) > 8
    alpha = any(c.is_alpha for c in form.components)
    if len(form.components) - alpha <= 1:
        return "gray16le" if deep else "gray"
    if alpha:
        return "rgba64le" if deep else "bgra"
    return "rgb48le" if deep else "bgr0"


def ffv1_slices(width: int, height: int) -> int:
    """FFV1 slices for a picture size: fixed by the size alone, so the bytes are too."""
    return 16 if width * height >= 1280 * 720 else 4


def encode_ffv1(uri: str, path: str) -> None:
    """Writes the sequence ``uri`` to local ``path`` as FFV1 video (lossless, intra-only) in
    Matroska: one frame per file at its PTS on the sequence's clock (a gap is held by the frame
    before it), the video track titled and the container tagged ``TALKIE_VIDEO`` with what it is.

    Muxed bit-exactly, so the same frames give the same bytes. Raises UnreadableFrame as decoding does.
    """
    with open_sequence(uri) as (container, stream):
        listed = container.sequence
        context = stream.codec_context
        target = ffv1_pixel_format(context.pix_fmt)
        options = {**FFV1_OPTIONS, "slices": str(ffv1_slices(context.width, context.height))}
        with av.open(path, "w", format="matroska", options={"fflags": "+bitexact"}) as out:
            out.metadata["TALKIE_VIDEO"] = ffv1_description(listed)
            video = out.add_stream("ffv1", rate=listed.fps, options=options)
            video.width, video.height, video.pix_fmt = context.width, context.height, target
            video.time_base = listed.time_base
            video.codec_context.time_base = listed.time_base
            video.thread_type = "SLICE"  # slices are coded on their own: the bytes do not depend on threads
            video.metadata["title"] = f"FFV1 (lossless), encoded by Talkie from {listed.codec.upper()} frames"
            for frame in container.decode(stream):
                picture = frame if frame.format.name == target else frame.reformat(format=target)
                picture.pts, picture.time_base = frame.pts, listed.time_base
                for packet in video.encode(picture):
                    out.mux(packet)
            for packet in video.encode(None):
                out.mux(packet)


def ffv1_description(listed: FrameSequence) -> str:
    """The MKV's ``TALKIE_VIDEO`` tag for a sequence's picture."""
    return f"FFV1 (lossless) in Matroska, encoded by Talkie from {listed.describe()}"

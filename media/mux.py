"""A playable Matroska file: the film's own streams, copied untouched, plus Talkie's FLAC sound track.

Nothing is decoded or re-encoded. Packets are moved from the source container and from the FLAC
bytes into a new Matroska container built in memory (the caller publishes the bytes atomically
with ``media.storage.write_bytes``). Stream order in the output:

1. the source's video streams, in source order, dispositions kept;
2. Talkie's FLAC, the default audio stream (Matroska FlagDefault), titled and tagged;
3. Talkie's further FLAC tracks (``stems``: a scored film's effects and score stems), in the
   order given, each titled and tagged, not default;
4. the source's other streams (an existing score, commentary, subtitles, attachments) in source
   order, their ``default`` flag cleared so players pick Talkie's track.

Streams Matroska cannot hold (data streams such as MP4 timecode tracks, or a codec it has no
mapping for, such as MP4's mov_text subtitles) cannot be copied without conversion; they are
left out and logged with a warning naming each one (``streams_left_out`` lists them in advance).

Muxing is bit-exact: with FFmpeg's ``fflags=+bitexact`` the Matroska muxer draws no random
segment or track UID, writes no wall-clock date and names itself "Lavf" without a version; the
packets are fed in one deterministic order (all inputs merged by decode time, packets of equal
time in stream order). So the same source and FLACs give the same bytes. Only packets with no
data (``size == 0``, demuxer flush markers) are skipped: a keyframe without a DTS is still copied.

Time: Talkie's tracks start with the film's first frame (docs/design.md, Contracts, "Time"), so the
FLACs' timestamps are offset by the video stream's start time (the first frame's PTS; FFmpeg's
``start_time``), rounded to the FLAC's sample clock; video timestamps are copied as they are.
Matroska stores times in milliseconds, so every timestamp is kept to the nearest millisecond.

Provenance ``tags`` go into the container's global tags and every Talkie track's tags (a stem's
own ``tags`` added), upper-cased as Matroska recommends; ``title`` becomes the segment title.
The source's global metadata is kept, except MP4 bookkeeping keys (brands, encoder) that
describe the old container.

A frame sequence (``media.sequence``) has no stream to copy: its frames are first encoded
losslessly as FFV1 in a temporary Matroska file (``media.sequence.encode_ffv1``, bit-exact), whose
video track, titled as such, is then copied as above; the container's ``TALKIE_VIDEO`` tag says
that Talkie encoded it, and from what.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import heapq
import io
import logging
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from fractions import Fraction
from typing import Any, NamedTuple

import av

from media.container import open_container, stream_kinds
from media.decode import open_video
from media.errors import NoVideoStream, UnreadableMedia
from media.sequence import encode_ffv1, is_sequence

log = logging.getLogger(__name__)

MUX_OPTIONS = {"fflags": "+bitexact"}
SOUNDTRACK_TITLE = "Talkie soundtrack"
_DROPPED_GLOBAL_KEYS = {"major_brand", "minor_version", "compatible_brands", "encoder"}
_FORMAT = "matroska"

Timed = tuple[Fraction, "av.Packet[Any]", Any]  # (decode time in s, packet, target stream)


class Stem(NamedTuple):
    """A further Talkie audio track: FLAC bytes, its title, and tags of its own."""

    flac: bytes
    title: str
    tags: Mapping[str, str] = {}


def video_packets_digest(uri: str) -> str:
    """SHA-256 (hex) over the bytes of the first video stream's packets, in demux order.

    Empty flush packets are skipped. Two files with the same digest hold the same coded video.
    """
    digest = hashlib.sha256()
    with open_video(uri) as (container, stream):
        for packet in container.demux(stream):
            if packet.size:
                digest.update(memoryview(packet))
    return digest.hexdigest()


def streams_left_out(video_uri: str) -> list[str]:
    """The source's streams that Matroska cannot hold, e.g. ["#2 data (tmcd)"]: ``mux_with_soundtrack``
    leaves these out."""
    with open_container(video_uri) as source:
        return [_describe(s) for s in source.streams if not _copyable(s)]


def mux_with_soundtrack(
    video_uri: str,
    flac: bytes,
    *,
    tags: Mapping[str, str] = {},
    title: str | None = None,
    soundtrack_title: str = SOUNDTRACK_TITLE,
    stems: Sequence[Stem] = (),
) -> bytes:
    """Matroska bytes: ``video_uri``'s streams copied untouched plus ``flac`` as the default audio,
    titled ``soundtrack_title``, and each of ``stems`` as a further audio track after it.

    Raises NoVideoStream for a source without video, UnreadableMedia for a source or FLAC that
    FFmpeg cannot read, and ValueError for tags or titles that are not strings. A frame
    sequence's frames are encoded as FFV1 first (module docstring).
    """
    if is_sequence(video_uri):
        with _encoded_sequence(video_uri) as encoded:
            return mux_with_soundtrack(
                encoded, flac, tags=tags, title=title, soundtrack_title=soundtrack_title, stems=stems
            )
    for stem in stems:
        _check_tags(stem.tags)
        if not isinstance(stem.title, str) or not stem.title:
            raise ValueError(f"stem title {stem.title!r}: need a non-empty string")
    _check_tags(tags)
    if title is not None and not isinstance(title, str):
        raise ValueError(f"title={title!r}: need a string or None")
    if not isinstance(soundtrack_title, str) or not soundtrack_title:
        raise ValueError(f"soundtrack_title={soundtrack_title!r}: need a non-empty string")
    provenance = {key.upper(): value for key, value in tags.items()}
    # a track keeps its own title: a TITLE tag names the film (the segment), not the track
    track_tags = {key: value for key, value in provenance.items() if key != "TITLE"}
    buf = io.BytesIO()
    with contextlib.ExitStack() as opened:
        source = opened.enter_context(open_container(video_uri))
        tracks: list[tuple[av.container.InputContainer, str, Mapping[str, str]]] = [
            (opened.enter_context(_open_flac(flac)), soundtrack_title, {})
        ]
        tracks += [(opened.enter_context(_open_flac(s.flac)), s.title, dict(s.tags)) for s in stems]
        if not source.streams.video:
            raise NoVideoStream(f"{video_uri}: container has no video stream (found: {stream_kinds(source)})")
        with av.open(buf, "w", format=_FORMAT, options=dict(MUX_OPTIONS)) as out:
            out.metadata.clear()
            out.metadata.update(
                {k: v for k, v in source.metadata.items() if k.lower() not in _DROPPED_GLOBAL_KEYS}
            )
            out.metadata.update(provenance)
            if title is not None:
                out.metadata["title"] = title

            mapping: dict[int, Any] = {}
            videos = [s for s in source.streams if s.type == "video"]
            others = [s for s in source.streams if s.type != "video"]
            for stream in videos:
                mapping[stream.index] = _copy_stream(out, stream, keep_default=True)
            talkie: list[tuple[Any, Any, Any]] = []  # (input container, its stream, output stream)
            for number, (container, track_title, own_tags) in enumerate(tracks):
                flac_in = container.streams.audio[0]
                flac_out = out.add_stream_from_template(flac_in)
                default = av.stream.Disposition.default if number == 0 else av.stream.Disposition(0)
                flac_out.disposition = default
                flac_out.metadata.update(
                    {**track_tags, **{k.upper(): v for k, v in own_tags.items()}, "title": track_title}
                )
                talkie.append((container, flac_in, flac_out))
            for stream in others:
                if _copyable(stream):
                    mapping[stream.index] = _copy_stream(out, stream, keep_default=False)
                else:
                    log.warning(
                        "%s: Matroska cannot hold stream %s; it is left out", video_uri, _describe(stream)
                    )

            source_packets = (
                (p, mapping[p.stream.index]) for p in source.demux() if p.stream.index in mapping
            )
            flows = [_timed(source_packets)]
            for container, flac_in, flac_out in talkie:
                shift = _start_ticks(source.streams.video[0], flac_in)
                flows.append(_timed(_retargeted(container.demux(flac_in), shift, flac_out)))
            try:
                # heapq.merge is stable: packets of equal time go in the order of ``flows``
                for _, packet, target in heapq.merge(*flows, key=_key):
                    packet.stream = target
                    out.mux(packet)
            except av.FFmpegError as e:
                raise UnreadableMedia(f"{video_uri}: remuxing failed ({e})") from e
    return buf.getvalue()


@contextlib.contextmanager
def _encoded_sequence(video_uri: str) -> Iterator[str]:
    """A local temporary FFV1 Matroska file of the frame sequence ``video_uri``, removed afterwards."""
    fd, path = tempfile.mkstemp(prefix="talkie-sequence-", suffix=".mkv")
    os.close(fd)
    try:
        encode_ffv1(video_uri, path)
        yield path
    finally:
        os.unlink(path)


def _check_tags(tags: Mapping[str, str]) -> None:
    for key, value in tags.items():
        if not isinstance(key, str) or not key or not isinstance(value, str):
            raise ValueError(f"tag {key!r}={value!r}: need non-empty string names and string values")


def _open_flac(flac: bytes) -> av.container.InputContainer:
    if not isinstance(flac, (bytes, bytearray)) or not bytes(flac[:4]) == b"fLaC":
        raise UnreadableMedia("the soundtrack is not FLAC bytes (they do not start with 'fLaC')")
    try:
        return av.open(io.BytesIO(bytes(flac)), "r", format="flac")
    except av.FFmpegError as e:
        raise UnreadableMedia(f"FFmpeg cannot open the soundtrack FLAC ({e})") from e


def _start_ticks(video: Any, flac_stream: Any) -> int:
    """The first video frame's presentation time in the FLAC stream's time base (0 when unknown)."""
    if video.start_time is None or video.time_base is None:
        return 0
    return round(int(video.start_time) * Fraction(video.time_base) / Fraction(flac_stream.time_base))


def _retargeted(
    packets: Iterable[av.Packet[Any]], ticks: int, target: Any
) -> Iterator[tuple[av.Packet[Any], Any]]:
    """(packet shifted by ``ticks``, ``target``) for each of ``packets`` (a function, so that each
    track's generator keeps its own shift and target)."""
    for packet in packets:
        yield _shifted(packet, ticks), target


def _shifted(packet: av.Packet[Any], ticks: int) -> av.Packet[Any]:
    if ticks:
        if packet.pts is not None:
            packet.pts += ticks
        if packet.dts is not None:
            packet.dts += ticks
    return packet


def _copyable(stream: Any) -> bool:
    """True for streams Matroska can take as they are: codecs it maps, and attachments."""
    if stream.type == "attachment":
        return True
    if stream.type not in ("video", "audio", "subtitle") or stream.codec_context is None:
        return False
    return bool(stream.codec_context.name in _matroska_codecs())


@functools.cache
def _matroska_codecs() -> frozenset[str]:
    """Names of every FFmpeg codec implementation (decoders included) whose codec id Matroska takes."""
    with av.open(io.BytesIO(), "w", format=_FORMAT) as probe:
        return frozenset(probe.supported_codecs)


def _copy_stream(out: Any, stream: Any, *, keep_default: bool) -> Any:
    copied = out.add_stream_from_template(stream)
    disposition = stream.disposition
    if not keep_default:
        disposition &= ~av.stream.Disposition.default
    copied.disposition = disposition
    copied.metadata.update(dict(stream.metadata))
    return copied


def _describe(stream: Any) -> str:
    codec = stream.codec_context.name if stream.codec_context is not None else "no codec"
    return f"#{stream.index} {stream.type} ({codec})"


def _timed(packets: Iterable[tuple[av.Packet[Any], Any]]) -> Iterator[Timed]:
    """(decode time in seconds, packet, target stream), non-empty packets only; a packet with no
    timestamp takes the time of the packet before it."""
    last = Fraction(-(10**9))
    for packet, target in packets:
        if packet.size == 0:
            continue
        stamp = packet.dts if packet.dts is not None else packet.pts
        if stamp is not None and packet.time_base is not None:
            last = stamp * Fraction(packet.time_base)
        yield last, packet, target


def _key(item: Timed) -> Fraction:
    return item[0]

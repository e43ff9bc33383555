"""Films streamed from a bucket: ranged reads close to what the decoder asks for, the content hash
taken in the decoding pass, and containers kept open between scene decodes giving the same frames."""

from __future__ import annotations

import hashlib
import io
import random
from fractions import Fraction

import av
import fsspec
import numpy as np
import pytest

from media import streaming
from media.decode import OpenFilms, decode_range
from media.shard import shard_film
from media.streaming import GROWTH, HashingReader, RangeReader, open_stream
from tests.films import encode, textured_shots


class CountingFile(io.BytesIO):
    """An object's bytes whose every read is counted as one ranged request."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.requests: list[tuple[int, int]] = []

    def read(self, size: int | None = -1) -> bytes:
        at = self.tell()
        data = super().read(size)
        self.requests.append((at, len(data)))
        return data


def test_range_reader_fetches_what_is_asked_after_a_jump_and_grows_on_a_run():
    data = bytes(random.Random(1).randbytes(8 << 20))
    raw = CountingFile(data)
    reader = RangeReader(raw, len(data))
    reader.seek(5_000_000)
    assert reader.read(1000) == data[5_000_000:5_001_000]
    assert raw.requests == [(5_000_000, 1000)]  # a jump: only what was asked
    # A sequential run of 32 KiB reads (FFmpeg's) from the start: every byte right, few requests,
    # and what is fetched past the run's end is a small share of the run.
    raw.requests.clear()
    reader.seek(0)
    run = 4 << 20
    got = b"".join(reader.read(32 << 10) for _ in range(run // (32 << 10)))
    assert got == data[:run]
    fetched = sum(n for _, n in raw.requests)
    assert run <= fetched <= run * (1 + 1 / GROWTH) + (32 << 10)
    assert len(raw.requests) < run // (32 << 10)
    # Reads at the end stop there.
    reader.seek(len(data) - 10)
    assert reader.read(100) == data[-10:] and reader.read(100) == b""


def test_hashing_reader_hashes_the_file_whatever_order_it_is_read_in():
    data = bytes(random.Random(2).randbytes(300_000))
    reader = HashingReader(io.BytesIO(data))
    assert reader.size == len(data)
    reader.seek(len(data) - 5000)  # a demuxer reading the index at the end first
    reader.read(5000)
    reader.seek(0)
    for _ in range(10):
        reader.read(17_000)
    reader.seek(150_000)  # jumps ahead, leaving a gap
    reader.read(1000)
    digest, size = reader.finish()
    assert (digest, size) == (hashlib.sha256(data).hexdigest(), len(data))


@pytest.fixture
def memory_film(tmp_path):
    """A film published under memory:// (an fsspec object store that is not local disk)."""
    path = encode(tmp_path / "shots.mp4", textured_shots([20, 16, 24], seed=3), fps=24)
    uri = "memory://talkie-streaming-test/shots.mp4"
    fs = fsspec.filesystem("memory")
    fs.pipe(uri, path.read_bytes())
    yield uri, path
    fs.rm(uri)


def test_a_film_in_a_bucket_is_probed_in_one_pass_with_its_content_hash(memory_film, monkeypatch):
    uri, path = memory_film
    opened: list[RangeReader] = []
    real_open = streaming.open_stream

    def counting_open(u):
        reader = real_open(u)
        opened.append(reader)
        return reader

    monkeypatch.setattr("media.shard.open_stream", counting_open)
    probe, scenes = shard_film(uri, use_transnet=False)
    local, local_scenes = shard_film(str(path), use_transnet=False)
    assert probe.content_sha256 == hashlib.sha256(path.read_bytes()).hexdigest() == local.content_sha256
    assert [(s.start_pts, s.end_pts) for s in scenes] == [(s.start_pts, s.end_pts) for s in local_scenes]
    # One reader, and it fetched each byte of the film about once (the decode and the hash together).
    remote = [r for r in opened if isinstance(r, RangeReader)]
    assert len(remote) == 1
    size = path.stat().st_size
    assert size <= remote[0].fetched <= 1.05 * size


def test_open_stream_reads_an_object_by_ranges(memory_film):
    uri, path = memory_film
    with open_stream(uri) as reader:
        assert isinstance(reader, RangeReader)
        reader.seek(100)
        assert reader.read(50) == path.read_bytes()[100:150]


def test_scenes_decoded_from_kept_containers_in_any_order_are_the_same_frames(film, tmp_path):
    # H.264 with B-frames (seeks land on keyframes before a scene) and intra-only FFV1.
    frames = textured_shots([30, 25, 35], seed=4, pan=3)
    h264 = film("kept.mp4", frames, fps=24)
    ffv1 = _ffv1(tmp_path / "kept.mkv", frames)
    for path in (h264, ffv1):
        with av.open(path) as c:
            tb = Fraction(c.streams.video[0].time_base)
            first = c.streams.video[0].start_time or 0
        step = int(Fraction(1, 24) / tb)
        spans = [
            (first + a * step, first + b * step) for a, b in ((0, 30), (30, 55), (55, 90), (10, 40), (70, 90))
        ]
        alone = [decode_range(path, a, b, fps=16, width=32, height=24, gray=True) for a, b in spans]
        order = list(range(len(spans))) * 2
        random.Random(5).shuffle(order)
        with OpenFilms(keep=1) as films:
            for index in order:
                a, b = spans[index]
                kept = decode_range(path, a, b, fps=16, width=32, height=24, gray=True, films=films)
                assert np.array_equal(kept, alone[index]), (path, index)


def test_kept_containers_are_bounded_and_a_failed_one_is_dropped(film, tmp_path):
    one = film("one.mp4", textured_shots([12], seed=6), fps=24)
    two = film("two.mp4", textured_shots([12], seed=7), fps=24)
    with OpenFilms(keep=1) as films:
        c1, _ = films.open(one, None)
        assert films.open(one, None)[0] is c1  # kept
        films.open(two, None)  # evicts the least recently used
        assert films.open(one, None)[0] is not c1
        kept = films.open(one, None)[0]
        with pytest.raises(ZeroDivisionError):
            decode_range(one, 0, 10, fps=0, width=32, height=24, gray=True, films=films)
        assert films.open(one, None)[0] is not kept  # reopened after the failure


def _ffv1(path, frames, fps=24):
    with av.open(str(path), "w") as out:
        stream = out.add_stream("ffv1", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.codec_context.gop_size = 1  # every frame a keyframe, as archives write FFV1
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return str(path)


def test_an_intra_only_film_decodes_only_the_frames_shown_and_gives_the_same_frames(tmp_path, monkeypatch):
    path = _ffv1(tmp_path / "intra.mkv", textured_shots([30, 18], seed=8, pan=2))
    with av.open(path) as c:
        stream = c.streams.video[0]
        tb = Fraction(stream.time_base)
        pts = [int(f.pts) for f in c.decode(stream)]
    with av.open(path) as c:
        reference = [
            f.to_ndarray(width=32, height=24, format="gray", interpolation="AREA") for f in c.decode(video=0)
        ]
    decoded: list[int] = []
    real_decode = av.Packet.decode

    def counting_decode(packet):
        frames = real_decode(packet)
        decoded.extend(int(f.pts) for f in frames if f.pts is not None)
        return frames

    monkeypatch.setattr(av.Packet, "decode", counting_decode, raising=False)
    start, end = pts[5], pts[41]
    got = decode_range(path, start, end, fps=16, width=32, height=24, gray=True)
    # At 16 fps from 24, sample k is the frame on screen at start + k/16 s.
    times = [start + Fraction(k, 16) / tb for k in range(got.shape[0])]
    expected = [reference[max(i for i, p in enumerate(pts) if p <= t)] for t in times]
    assert got.shape[0] == 24 and all(np.array_equal(g, e) for g, e in zip(got, expected))
    # Frames never on screen at those times were not decoded (a third of them at 24 -> 16 fps), and
    # decoding stopped just past the range (frame threads may have a few more in flight).
    assert len(decoded) < 0.75 * (41 - 5 + 1)
    assert max(decoded) <= pts[41 + 4]

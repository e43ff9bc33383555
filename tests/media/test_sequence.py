"""media.sequence: frame sequences as films, and the readers that take them through media.decode."""

from __future__ import annotations

import io
import shutil
from fractions import Fraction

import av
import fsspec
import numpy as np
import pytest

from media import sequence, storage
from media.audio import has_audio
from media.decode import decode_range, open_video, video_timeline
from media.errors import CorruptVideo, MediaError
from media.flac import encode_flac
from media.mux import mux_with_soundtrack
from media.preview import encode_preview
from media.review.evidence import read_picture
from media.sequence import (
    SequenceError,
    UnreadableFrame,
    encode_ffv1,
    frame_number,
    is_sequence,
    is_sequence_pattern,
    list_sequence,
    natural_key,
    parse_fps,
    sequence_uri,
    split_sequence_uri,
)
from media.shard import content_sha256, shard_film
from tests.films import textured_shots
from tests.sequences import FORMATS, frame_bytes, write_sequence

SIZE = (48, 64)  # (height, width)


def pictures(frames: int = 12, seed: int = 3) -> np.ndarray:
    return textured_shots([frames], size=SIZE, seed=seed)


def decoded(path: str, codec: str) -> av.VideoFrame:
    """The frame file at ``path``, decoded as it is stored."""
    context = av.CodecContext.create(codec, "r")
    with open(path, "rb") as f:
        return context.decode(av.Packet(f.read()))[0]


# ------------------------------------------------------------------------------------- URIs


def test_a_sequence_uri_is_a_frame_glob_with_its_rate():
    assert is_sequence("/scans/reel1/frame_*.dpx#fps=18")
    assert is_sequence("gs://bucket/reel1/f_[0-9]*.TIFF#fps=24000/1001")
    assert not is_sequence("/scans/reel1/frame_*.dpx")  # no rate yet: a pattern, not a film
    assert is_sequence_pattern("/scans/reel1/frame_*.dpx")
    assert not is_sequence_pattern("/films/Reel [1].mp4")  # a video file's name may hold brackets
    assert not is_sequence_pattern("/films/what?.mov")
    assert not is_sequence_pattern("https://host/frame_*.dpx")  # not listable
    assert not is_sequence_pattern("/scans/frame_0001.dpx")  # one picture, no wildcard
    assert split_sequence_uri("/a/f_*.exr#fps=23.976") == ("/a/f_*.exr", "23.976")
    assert split_sequence_uri("/a/b.mp4") == ("/a/b.mp4", None)
    assert sequence_uri("/a/f_*.png", Fraction(24000, 1001)) == "/a/f_*.png#fps=24000/1001"
    assert sequence_uri("/a/f_*.png", Fraction(18)) == "/a/f_*.png#fps=18"


@pytest.mark.parametrize(
    "value, rate",
    [(18, Fraction(18)), ("24000/1001", Fraction(24000, 1001)), (23.976, Fraction(2997, 125)), ("16", 16)],
)
def test_rates_are_exact_fractions(value, rate):
    assert parse_fps(value) == rate


@pytest.mark.parametrize("value", [0, -24, "fast", True, float("nan"), float("inf"), "24/0", 5000, None])
def test_a_bad_rate_names_what_is_accepted(value):
    with pytest.raises(ValueError, match="frames per second"):
        parse_fps(value)


def test_frames_sort_naturally_and_are_numbered_by_their_last_digits():
    names = ["f10.dpx", "f9.dpx", "f100.dpx", "f1.dpx"]
    assert sorted(names, key=natural_key) == ["f1.dpx", "f9.dpx", "f10.dpx", "f100.dpx"]
    assert frame_number("reel2_take3_000123.dpx") == 123
    assert frame_number("title.dpx") is None


def test_a_listing_that_cannot_be_numbered_fails_with_a_reason(tmp_path):
    for name in ("a_1.png", "a_01.png"):
        (tmp_path / name).write_bytes(b"x")
    with pytest.raises(SequenceError, match="numbers must increase"):
        list_sequence(f"{tmp_path}/a_*.png#fps=24")
    (tmp_path / "b_x.png").write_bytes(b"x")
    with pytest.raises(SequenceError, match="no frame number"):
        list_sequence(f"{tmp_path}/b_*.png#fps=24")
    with pytest.raises(SequenceError, match="no frame file matches"):
        list_sequence(f"{tmp_path}/none_*.png#fps=24")
    with pytest.raises(SequenceError, match="only a frame sequence's file name"):
        list_sequence(f"{tmp_path}/*/a_*.png#fps=24")


def test_hidden_files_beside_the_frames_are_not_frames(tmp_path):
    pattern = write_sequence(tmp_path, pictures(3), "png")
    (tmp_path / ".frame_0004.png.tmp").write_bytes(b"an upload in progress")
    (tmp_path / ".frame_0004.png").write_bytes(b"an upload in progress")
    assert [f.number for f in list_sequence(f"{pattern}#fps=24").frames] == [1, 2, 3]


# ---------------------------------------------------------------------------------- formats


@pytest.mark.parametrize("kind", sorted(FORMATS))
def test_every_format_decodes_and_encodes_to_ffv1_without_loss(kind, tmp_path):
    codec, _, _ = FORMATS[kind]
    source = pictures(4)
    pattern = write_sequence(tmp_path / kind, source, kind)
    uri = f"{pattern}#fps=24"
    got = decode_range(uri, 0, 4, fps=24, width=64, height=48)
    gray = "gray" in kind
    luma = np.round(source @ np.array([0.299, 0.587, 0.114]))[..., None].repeat(3, axis=3)
    want = luma if gray else source  # a gray file holds the picture's luma
    tolerance = 2 if kind in ("dpx10", "exr") or gray else 1  # 10 bits; floats; rounding
    assert got.shape == (4, 48, 64, 3)
    assert np.abs(got.astype(int) - want.astype(int)).max() <= tolerance, kind
    mkv = tmp_path / f"{kind}.mkv"
    encode_ffv1(uri, str(mkv))
    with av.open(str(mkv)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "ffv1"
        assert "encoded by Talkie from" in container.metadata["TALKIE_VIDEO"]
        frames = list(container.decode(stream))
    assert len(frames) == 4
    for number, frame in enumerate(frames, start=1):
        original = decoded(pattern.replace("*", f"{number:04d}"), codec)
        form = sequence.ffv1_pixel_format(original.format.name)
        if original.format.name.startswith(("gbrpf", "grayf")):  # EXR: floats held as 16 bits
            assert form in ("gbrp16le", "gray16le")
            continue
        assert frame.format.name in (form, "gbrp16le")  # FFV1 decodes rgb48le as planar gbrp16le
        deep = max(c.bits for c in original.format.components) > 8
        common = ("gray16le" if deep else "gray") if "gray" in kind else ("rgb48le" if deep else "rgb24")
        reference = original.reformat(format=common).to_ndarray()
        assert np.array_equal(frame.reformat(format=common).to_ndarray(), reference), (kind, number)


def test_a_ten_bit_dpx_keeps_its_ten_bits_in_ffv1(tmp_path):
    pattern = write_sequence(tmp_path, pictures(2), "dpx10")
    mkv = tmp_path / "out.mkv"
    encode_ffv1(f"{pattern}#fps=18", str(mkv))
    with av.open(str(mkv)) as container:
        assert container.streams.video[0].codec_context.pix_fmt == "gbrp10le"


def test_ffv1_bytes_are_the_same_every_time(tmp_path):
    pattern = write_sequence(tmp_path, pictures(6), "tiff16")
    a, b = tmp_path / "a.mkv", tmp_path / "b.mkv"
    encode_ffv1(f"{pattern}#fps=24", str(a))
    encode_ffv1(f"{pattern}#fps=24", str(b))
    assert a.read_bytes() == b.read_bytes()


# ------------------------------------------------------------------------------ clock, gaps


def test_a_gap_is_reported_and_held_by_the_frame_before_it(tmp_path):
    source = pictures(10)
    pattern = write_sequence(tmp_path, source, "png", first=101, skip=[105, 106])
    uri = f"{pattern}#fps=10"
    listed = list_sequence(uri)
    assert listed.missing == (105, 106) and len(listed.frames) == 8
    assert video_timeline(uri) == (Fraction(1, 10), 0, 10)  # (last - first + 1) frames
    shown = decode_range(uri, 0, 10, fps=10, width=64, height=48)
    held = [0, 1, 2, 3, 3, 3, 6, 7, 8, 9]  # numbers 105 and 106 show number 104
    assert np.abs(shown.astype(int) - source[held].astype(int)).max() <= 1
    probe, scenes = shard_film(uri, use_transnet=False)
    assert probe.missing_frames == (105, 106) and probe.frames == 8
    assert (probe.duration_pts, probe.time_base, probe.duration_s) == (10, "1/10", 1.0)
    assert scenes[-1].end_pts == 10 and probe.container == "image2" and probe.codec == "png"


def test_the_last_frame_lasts_one_number_however_many_gaps(tmp_path):
    pattern = write_sequence(tmp_path, pictures(7), "png", skip=[2, 4, 6])  # steps of 2: median 2
    probe, _ = shard_film(f"{pattern}#fps=24", use_transnet=False)
    assert probe.duration_pts == 7 and probe.missing_frames == (2, 4, 6)


def test_decoding_a_range_reads_only_the_frames_it_shows(tmp_path, monkeypatch):
    pattern = write_sequence(tmp_path, pictures(24), "dpx16")
    uri = f"{pattern}#fps=24"
    list_sequence(uri)
    read: list[str] = []
    real = storage.read_bytes
    monkeypatch.setattr(storage, "read_bytes", lambda u: read.append(u) or real(u))
    frames = decode_range(uri, 0, 24, fps=8, width=32, height=24, gray=True)
    assert frames.shape == (8, 24, 32)
    assert sorted(u.rsplit("_", 1)[1] for u in read) == [f"{n:04d}.dpx" for n in range(1, 25, 3)]


# --------------------------------------------------------------------------- bad frames


def test_a_corrupt_frame_fails_with_its_number(tmp_path):
    pattern = write_sequence(tmp_path, pictures(8), "dpx16", corrupt=[5])
    uri = f"{pattern}#fps=18"
    with pytest.raises(UnreadableFrame, match=r"frame 5 \(frame_0005.dpx\)") as caught:
        shard_film(uri, use_transnet=False)
    assert caught.value.number == 5 and isinstance(caught.value, CorruptVideo)


def test_an_empty_or_differently_sized_frame_fails_with_its_number(tmp_path):
    pattern = write_sequence(tmp_path, pictures(4), "png")
    (tmp_path / "frame_0003.png").write_bytes(b"")
    with pytest.raises(UnreadableFrame, match=r"frame 3 \(frame_0003.png\) is empty"):
        shard_film(f"{pattern}#fps=24", use_transnet=False)
    (tmp_path / "frame_0003.png").write_bytes(frame_bytes(pictures(1)[0, :24, :32], "png"))
    with pytest.raises(UnreadableFrame, match=r"frame 3 .* is 32x24; the sequence's first frame is 64x48"):
        shard_film(f"{pattern}#fps=24", use_transnet=False)


# ------------------------------------------------------------------------ identity, storage


def test_the_content_hash_is_of_names_and_sizes_wherever_the_frames_are(tmp_path):
    pattern = write_sequence(tmp_path / "a", pictures(5), "tiff8")
    copy = shutil.copytree(tmp_path / "a", tmp_path / "b")
    sha, size = content_sha256(f"{pattern}#fps=24")
    assert size == sum(p.stat().st_size for p in (tmp_path / "a").iterdir())
    assert content_sha256(f"{copy}/frame_*.tif#fps=24")[0] == sha  # moved: the same film
    (tmp_path / "b" / "frame_0005.tif").unlink()
    assert content_sha256(f"{copy}/frame_*.tif#fps=24")[0] != sha


def test_a_sequence_in_an_fsspec_store_reads_frame_by_frame(tmp_path):
    pattern = write_sequence(tmp_path, pictures(6), "dpx16")
    fs = fsspec.filesystem("memory")
    folder = f"/seq-{tmp_path.name}"
    for path in sorted(tmp_path.iterdir()):
        fs.pipe(f"{folder}/{path.name}", path.read_bytes())
    remote = f"memory://{folder}/frame_*.dpx#fps=18"
    local = f"{pattern}#fps=18"
    assert content_sha256(remote) == content_sha256(local)
    assert np.array_equal(
        decode_range(remote, 0, 6, fps=18, width=64, height=48),
        decode_range(local, 0, 6, fps=18, width=64, height=48),
    )
    probe, _ = shard_film(remote, use_transnet=False)
    assert probe.frames == 6 and probe.duration_pts == 6


# -------------------------------------------------------------------------------- readers


def test_readers_take_a_sequence_as_a_film(tmp_path):
    source = pictures(9)
    pattern = write_sequence(tmp_path, source, "tiff16_gray", first=0, skip=[4])
    uri = f"{pattern}#fps=18"
    assert not has_audio(uri)
    with open_video(uri) as (container, stream):
        assert (stream.codec_context.width, stream.codec_context.height) == (64, 48)
        assert stream.time_base == Fraction(1, 18) and container.format.name == "image2"
    picture = read_picture(uri)
    assert (picture.width, picture.height, picture.time_base, picture.first_pts) == (
        64,
        48,
        Fraction(1, 18),
        0,
    )
    flac = encode_flac(np.zeros(round(Fraction(9, 18) * 48000), np.float32), 48000, bits=24, tags={})
    preview = encode_preview(uri, flac, video_codec="libx264")
    with av.open(io.BytesIO(preview.data)) as mp4:
        assert len(list(mp4.decode(video=0))) == 8


def test_the_mkv_of_a_sequence_holds_its_frames_losslessly_and_the_soundtrack(tmp_path):
    source = pictures(10)
    pattern = write_sequence(tmp_path, source, "dpx16", skip=[6])
    uri = f"{pattern}#fps=18"
    samples = round(Fraction(10, 18) * 48000)
    flac = encode_flac(np.zeros(samples, np.float32), 48000, bits=24, tags={})
    mkv = mux_with_soundtrack(uri, flac, tags={"TALKIE_CUT_KEY": "abc"}, title="reel")
    assert mkv == mux_with_soundtrack(uri, flac, tags={"TALKIE_CUT_KEY": "abc"}, title="reel")
    with av.open(io.BytesIO(mkv)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert video.codec_context.name == "ffv1" and audio.codec_context.name == "flac"
        assert "missing frame number" in container.metadata["TALKIE_VIDEO"]
        assert container.metadata["TALKIE_CUT_KEY"] == "abc"
        frames = list(container.decode(video))
    assert [round(float(f.pts * f.time_base) * 18) for f in frames] == [0, 1, 2, 3, 4, 6, 7, 8, 9]
    first = decoded(str(tmp_path / "frame_0001.dpx"), "dpx")
    assert np.array_equal(frames[0].reformat(format="rgb48le").to_ndarray(), first.to_ndarray())


def test_a_sequence_without_frames_is_a_media_error(tmp_path):
    with pytest.raises(MediaError):
        shard_film(f"{tmp_path}/nothing_*.dpx#fps=24", use_transnet=False)

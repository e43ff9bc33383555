"""media.mux: the source's streams copied untouched, the FLAC as default audio, bit-exact bytes."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from media.audio import decode_audio
from media.errors import NoVideoStream, UnreadableMedia
from media.flac import decode_flac, encode_flac
from media.mux import SOUNDTRACK_TITLE, Stem, mux_with_soundtrack, streams_left_out, video_packets_digest
from tests.films import encode, textured_shots

RATE = 48000
TAGS = {"TALKIE_SEED": "42", "talkie_prompt": "a door slams", "TALKIE_CHECKPOINT": "c0ffee"}


def packet_digests(path: str) -> dict[str, str]:
    """sha256 of each stream's packet bytes, keyed "type:codec" (packets with data only)."""
    digests: dict[str, hashlib._Hash] = {}
    with av.open(path) as container:
        for packet in container.demux():
            if packet.size:
                key = f"{packet.stream.type}:{packet.stream.codec_context.name}"
                digests.setdefault(key, hashlib.sha256()).update(bytes(packet))
    return {k: v.hexdigest() for k, v in digests.items()}


def remux(out_path: Path, sources: list[tuple[str, float]], *, score_default: bool = True) -> str:
    """An MKV from the first stream of each (path, shift seconds), plus a default PCM score."""
    with av.open(str(out_path), "w") as out:
        inputs = [(av.open(p), shift) for p, shift in sources]
        try:
            copies = [(c, c.streams[0], out.add_stream_from_template(c.streams[0]), s) for c, s in inputs]
            score = out.add_stream("pcm_s16le", rate=RATE, layout="mono")
            score.metadata["title"] = "original score"
            if score_default:
                score.disposition = av.stream.Disposition.default
            for container, stream, target, shift in copies:
                ticks = round(Fraction(shift) / Fraction(stream.time_base))
                for packet in container.demux(stream):
                    if packet.size:
                        packet.pts = None if packet.pts is None else packet.pts + ticks
                        packet.dts = None if packet.dts is None else packet.dts + ticks
                        packet.stream = target
                        out.mux(packet)
            tone = (3000 * np.sin(np.arange(RATE) / 10)).astype(np.int16)[None]
            frame = av.AudioFrame.from_ndarray(tone, format="s16", layout="mono")
            frame.sample_rate, frame.pts = RATE, 0
            out.mux(score.encode(frame))
            out.mux(score.encode(None))
        finally:
            for container, _ in inputs:
                container.close()
    return str(out_path)


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("mux")
    mp4 = str(encode(folder / "film.mp4", textured_shots([20, 16], size=(48, 64), seed=3, pan=2)))
    srt = folder / "captions.srt"
    srt.write_text(
        "1\n00:00:00,100 --> 00:00:00,900\nA door opens.\n\n2\n00:00:01,000 --> 00:00:01,400\nIt shuts.\n\n"
    )
    (folder / "score_only.flac").write_bytes(encode_flac(np.zeros(100, np.float32), RATE))
    return {
        "mp4": mp4,
        "with_extras": remux(folder / "extras.mkv", [(mp4, 0.0), (str(srt), 0.0)]),
        "late_start": remux(folder / "late.mkv", [(mp4, 0.5)], score_default=False),
        "audio_only": str(folder / "score_only.flac"),
    }


@pytest.fixture(scope="module")
def flac() -> bytes:
    audio = (0.2 * np.random.default_rng(9).standard_normal(RATE * 3 // 2)).astype(np.float32)
    return encode_flac(audio, RATE, tags={"TALKIE_SEED": "42"})


def test_a_title_tag_names_the_film_and_the_track_keeps_its_own_title(sources, flac, tmp_path):
    out = tmp_path / "film.mkv"
    out.write_bytes(
        mux_with_soundtrack(sources["mp4"], flac, tags={**TAGS, "TITLE": "reel_7"}, title="reel_7")
    )
    with av.open(str(out)) as container:
        assert container.metadata["title"] == "reel_7"
        audio = container.streams.audio[0]
        assert audio.metadata["title"] == SOUNDTRACK_TITLE
        assert audio.metadata["TALKIE_SEED"] == "42"


def test_video_is_untouched_and_the_flac_is_the_default_audio(sources, flac, tmp_path):
    out = tmp_path / "film.mkv"
    out.write_bytes(mux_with_soundtrack(sources["mp4"], flac, tags=TAGS, title="The Door"))
    assert video_packets_digest(str(out)) == video_packets_digest(sources["mp4"])
    with av.open(str(out)) as container:
        assert container.format.name.startswith("matroska")
        assert [(s.type, s.codec_context.name) for s in container.streams] == [
            ("video", "h264"),
            ("audio", "flac"),
        ]
        video, audio = container.streams
        assert audio.disposition & av.stream.Disposition.default
        assert video.disposition & av.stream.Disposition.default  # kept from the source
        assert container.metadata["title"] == "The Door"
        assert container.metadata["TALKIE_PROMPT"] == "a door slams"
        assert container.metadata["TALKIE_SEED"] == "42"
        assert audio.metadata["TALKIE_CHECKPOINT"] == "c0ffee"
    samples, _, _ = decode_flac(flac)
    np.testing.assert_array_equal(decode_audio(str(out), sample_rate=RATE), samples)  # lossless, aligned


def test_muxing_twice_gives_identical_bytes(sources, flac):
    first = mux_with_soundtrack(sources["with_extras"], flac, tags=TAGS, title="The Door")
    assert mux_with_soundtrack(sources["with_extras"], flac, tags=TAGS, title="The Door") == first
    assert mux_with_soundtrack(sources["with_extras"], flac, tags={**TAGS, "TALKIE_SEED": "43"}) != first


def test_existing_score_and_subtitles_are_kept_but_not_default(sources, flac, tmp_path):
    with av.open(sources["with_extras"]) as source:
        assert source.streams.audio[0].disposition & av.stream.Disposition.default
    out = tmp_path / "extras.mkv"
    out.write_bytes(mux_with_soundtrack(sources["with_extras"], flac, tags=TAGS))
    with av.open(str(out)) as container:
        kinds = [(s.type, s.codec_context.name) for s in container.streams]
        # Source order after the FLAC: the source holds video, subtitles, score. (PyAV names the
        # SubRip codec by its decoder, "srt"; ffprobe says "subrip".)
        assert kinds == [("video", "h264"), ("audio", "flac"), ("subtitle", "srt"), ("audio", "pcm_s16le")]
        default = [bool(s.disposition & av.stream.Disposition.default) for s in container.streams]
        assert default[1:] == [True, False, False]
        assert container.streams[3].metadata["title"] == "original score"
    before, after = packet_digests(sources["with_extras"]), packet_digests(str(out))
    for key in ("video:h264", "audio:pcm_s16le", "subtitle:srt"):
        assert after[key] == before[key], key
    assert streams_left_out(sources["with_extras"]) == []


def test_stems_follow_the_default_track_titled_tagged_lossless_and_not_default(sources, flac, tmp_path):
    rng = np.random.default_rng(4)
    effects, score = (
        encode_flac((0.1 * rng.standard_normal(RATE * 3 // 2)).astype(np.float32), RATE) for _ in "ab"
    )
    stems = [Stem(effects, "Talkie effects", {"talkie_stem": "effects"}), Stem(score, "Talkie score")]
    made = mux_with_soundtrack(
        sources["with_extras"], flac, tags=TAGS, title="The Door", soundtrack_title="Talkie mix", stems=stems
    )
    assert made == mux_with_soundtrack(
        sources["with_extras"], flac, tags=TAGS, title="The Door", soundtrack_title="Talkie mix", stems=stems
    )
    out = tmp_path / "stems.mkv"
    out.write_bytes(made)
    with av.open(str(out)) as container:
        streams = list(container.streams)
        assert [(s.type, s.codec_context.name) for s in streams] == [
            ("video", "h264"),
            ("audio", "flac"),
            ("audio", "flac"),
            ("audio", "flac"),
            ("subtitle", "srt"),
            ("audio", "pcm_s16le"),
        ]
        titles = [s.metadata.get("title") for s in streams[1:4]]
        assert titles == ["Talkie mix", "Talkie effects", "Talkie score"]
        assert [bool(s.disposition & av.stream.Disposition.default) for s in streams[1:]] == [
            True,
            False,
            False,
            False,
            False,
        ]
        assert streams[2].metadata["TALKIE_STEM"] == "effects" and "TALKIE_STEM" not in streams[3].metadata
        assert all(s.metadata["TALKIE_SEED"] == "42" for s in streams[1:4])
    with av.open(str(out)) as container:
        packets: dict[int, bytes] = {}
        for packet in container.demux():
            if packet.size:
                packets[packet.stream.index] = packets.get(packet.stream.index, b"") + bytes(packet)
    for index, data in ((1, flac), (2, effects), (3, score)):  # each track's packets copied as they are
        with av.open(io.BytesIO(data), format="flac") as original:
            assert packets[index] == b"".join(bytes(p) for p in original.demux() if p.size), index
    assert video_packets_digest(str(out)) == video_packets_digest(sources["mp4"])
    with pytest.raises(ValueError, match="stem title"):
        mux_with_soundtrack(sources["mp4"], flac, stems=[Stem(effects, "")])
    with pytest.raises(UnreadableMedia, match="not FLAC"):
        mux_with_soundtrack(sources["mp4"], flac, stems=[Stem(b"RIFF", "Talkie score")])


def test_the_soundtrack_starts_with_the_first_frame(sources, flac, tmp_path):
    out = tmp_path / "late.mkv"
    out.write_bytes(mux_with_soundtrack(sources["late_start"], flac))
    with av.open(str(out)) as container:
        video, soundtrack = container.streams.video[0], container.streams.audio[0]
        assert soundtrack.codec_context.name == "flac"
        assert float(video.start_time * video.time_base) == pytest.approx(0.5, abs=1e-3)
        first = next(p for p in container.demux(soundtrack) if p.size)
        assert float(first.pts * first.time_base) == pytest.approx(0.5, abs=1e-3)
    assert video_packets_digest(str(out)) == video_packets_digest(sources["mp4"])


@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="Debian's ffprobe is not installed")
def test_ffprobe_reads_one_video_and_one_flac_stream(sources, flac, tmp_path):
    out = tmp_path / "film.mkv"
    out.write_bytes(mux_with_soundtrack(sources["mp4"], flac, tags=TAGS, title="The Door"))
    probe = json.loads(
        subprocess.run(
            [
                "ffprobe",
                "-v",
                "error",
                "-of",
                "json",
                "-count_packets",
                "-show_streams",
                "-show_format",
                str(out),
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    video, audio = probe["streams"]
    assert (video["codec_type"], video["codec_name"]) == ("video", "h264")
    assert (audio["codec_type"], audio["codec_name"], audio["disposition"]["default"]) == ("audio", "flac", 1)
    assert int(audio["sample_rate"]) == RATE and audio["bits_per_raw_sample"] == "24"
    with av.open(sources["mp4"]) as src:
        assert int(video["nb_read_packets"]) == sum(1 for p in src.demux(src.streams.video[0]) if p.size)
    assert probe["format"]["tags"]["TALKIE_SEED"] == "42"
    assert float(probe["format"]["duration"]) == pytest.approx(1.5, abs=0.05)


def test_bad_inputs_raise_media_errors(sources, flac, tmp_path):
    with pytest.raises(NoVideoStream):
        mux_with_soundtrack(sources["audio_only"], flac)
    with pytest.raises(UnreadableMedia, match="not FLAC"):
        mux_with_soundtrack(sources["mp4"], b"RIFF0000WAVE")
    with pytest.raises(FileNotFoundError):
        mux_with_soundtrack(str(tmp_path / "missing.mp4"), flac)
    with pytest.raises(ValueError):
        mux_with_soundtrack(sources["mp4"], flac, tags={"TALKIE_SEED": 42})


def test_attachments_are_carried(sources, flac, tmp_path):
    source = tmp_path / "fonts.mkv"
    with av.open(sources["mp4"]) as video, av.open(str(source), "w") as out:
        copy = out.add_stream_from_template(video.streams.video[0])
        out.add_attachment("subtitles.ttf", "font/ttf", b"\x00\x01\x00\x00 not really a font")
        for packet in video.demux(video.streams.video[0]):
            if packet.size:
                packet.stream = copy
                out.mux(packet)
    muxed = tmp_path / "fonts_out.mkv"
    muxed.write_bytes(mux_with_soundtrack(str(source), flac))
    with av.open(str(muxed)) as container:
        assert [s.type for s in container.streams] == ["video", "audio", "attachment"]
        assert container.streams[2].metadata["filename"] == "subtitles.ttf"


def test_real_clips_keep_their_video_packets(real_clips, flac, tmp_path):
    for name, clip in real_clips.items():
        muxed = tmp_path / f"{name}.mkv"
        muxed.write_bytes(mux_with_soundtrack(clip["path"], flac, tags=TAGS))
        assert video_packets_digest(str(muxed)) == video_packets_digest(clip["path"]), name
        with av.open(str(muxed)) as container:
            assert container.streams.audio[0].codec_context.name == "flac", name

"""media/preview.py: an H.264/AAC MP4 a browser plays, with the film's timing, byte-deterministic."""

from __future__ import annotations

import io
from fractions import Fraction

import av
import numpy as np
import pytest

from media.decode import video_timeline
from media.flac import encode_flac
from media.preview import choose_video_codec, encode_preview, nvenc_unavailable_reason, preview_size
from tests.films import encode, textured_shots


@pytest.fixture(scope="module")
def film(tmp_path_factory):
    """A 2 s, 20 fps, 96x64 film and a FLAC track of exactly its samples."""
    path = encode(
        tmp_path_factory.mktemp("preview") / "film.mp4",
        textured_shots([22, 18], size=(64, 96), pan=2),
        fps=20,
    )
    time_base, first, end = video_timeline(str(path))
    samples = round(Fraction(end - first) * time_base * 48000)
    t = np.arange(samples) / 48000
    flac = encode_flac((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 48000)
    return str(path), flac, samples


def test_the_preview_is_h264_and_aac_with_the_films_frames_and_duration(film):
    path, flac, samples = film
    preview = encode_preview(path, flac, video_codec="libx264")
    with av.open(io.BytesIO(preview.data)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert (video.codec_context.name, audio.codec_context.name) == ("h264", "aac")
        assert (
            (video.codec_context.width, video.codec_context.height)
            == (96, 64)
            == (preview.width, preview.height)
        )
        assert float(video.duration * video.time_base) == pytest.approx(samples / 48000, abs=1e-6)
        frames = sum(1 for _ in container.decode(video))
    assert frames == 40
    with av.open(io.BytesIO(preview.data)) as container:
        decoded = sum(f.samples for f in container.decode(audio=0))
    assert abs(decoded - samples) < 1024  # AAC's padding, trimmed by the edit list, is under one frame


def test_the_same_film_and_track_give_the_same_bytes(film):
    path, flac, _ = film
    first = encode_preview(path, flac, video_codec="libx264").data
    # Three encodes: with x264's macroblock tree on, two of three differed.
    assert all(encode_preview(path, flac, video_codec="libx264").data == first for _ in range(2))
    other = encode_flac(np.zeros(film[2], np.float32), 48000)
    assert encode_preview(path, other, video_codec="libx264").data != first


def test_large_pictures_are_scaled_to_at_most_360_even_lines():
    assert preview_size(1920, 1080) == (640, 360)
    assert preview_size(720, 576) == (450, 360)
    assert preview_size(81, 61) == (80, 60)
    with pytest.raises(ValueError, match="no pixels"):
        preview_size(0, 10)


def test_nvenc_is_used_only_where_it_opens():
    reason = nvenc_unavailable_reason()
    assert choose_video_codec() == ("h264_nvenc" if reason is None else "libx264")
    assert choose_video_codec(prefer_gpu=False) == "libx264"
    with pytest.raises(ValueError, match="accepted are"):
        encode_preview("unused.mp4", b"fLaC", video_codec="vp9")


def test_a_rotated_film_previews_rotated(tmp_path, film):
    path = encode(tmp_path / "rotated.mp4", textured_shots([10], size=(64, 96)), fps=20, rotation=90)
    preview = encode_preview(str(path), film[1], video_codec="libx264")
    with av.open(io.BytesIO(preview.data)) as container:
        assert next(container.decode(video=0)).rotation == 90

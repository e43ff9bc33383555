"""Exact range decode, timing contract and cadence description."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest

from media.cadence import describe_cadence, duplicate_mask
from media.decode import VIDEO_DECODE_MODES, check_video_decode, decode_range, hwaccel_for
from media.errors import CorruptVideo
from media.shard import shard_film
from media.timing import timeline_from_pts
from tests.films import textured_shots


def gray_frames(path: str, width: int, height: int) -> list[np.ndarray]:
    with av.open(path) as c:
        return [
            f.to_ndarray(width=width, height=height, format="gray", interpolation="AREA")
            for f in c.decode(video=0)
        ]


def test_decode_range_returns_the_frames_on_screen(film):
    path = film("range.mp4", textured_shots([48], seed=11, pan=4), fps=24)
    reference = gray_frames(path, 32, 24)
    with av.open(path) as c:
        tb = Fraction(c.streams.video[0].time_base)
    step = int(Fraction(1, 24) / tb)
    got = decode_range(path, 10 * step, 20 * step, fps=24, width=32, height=24, gray=True)
    assert got.shape == (10, 24, 32)
    assert all(np.array_equal(got[k], reference[10 + k]) for k in range(10))
    # At 12 fps every other frame; at 48 fps every frame twice.
    half = decode_range(path, 0, 48 * step, fps=12, width=32, height=24, gray=True)
    assert half.shape[0] == 24 and all(np.array_equal(half[k], reference[2 * k]) for k in range(24))
    double = decode_range(path, 0, 4 * step, fps=48, width=32, height=24, gray=True)
    assert [int(np.argmin([np.abs(d.astype(int) - r).sum() for r in reference[:4]])) for d in double] == [
        0,
        0,
        1,
        1,
        2,
        2,
        3,
        3,
    ]


def test_decode_range_rgb_shape_and_end_of_stream(film):
    path = film("end.mp4", textured_shots([12], seed=12), fps=24)
    with av.open(path) as c:
        tb = Fraction(c.streams.video[0].time_base)
    step = int(Fraction(1, 24) / tb)
    got = decode_range(path, 8 * step, 16 * step, fps=24, width=16, height=12)
    assert got.shape == (8, 12, 16, 3)
    assert np.array_equal(got[4], got[7])  # past the last frame, the last frame stays on screen


def test_cuda_decoding_gives_the_cpu_frames_or_raises(film):
    """hwaccel="cuda" samples as the CPU does; without a usable NVDEC it raises (PyAV's software
    fallback is off), so that the caller can fall back and say why."""
    path = film("nvdec.mp4", textured_shots([24], seed=13, pan=2), fps=24)
    cpu = decode_range(path, 0, 20_000, fps=8, width=16, height=16, gray=True)
    try:
        cuda = decode_range(path, 0, 20_000, fps=8, width=16, height=16, gray=True, hwaccel="cuda")
    except Exception:  # no CUDA device or no NVDEC decoder here
        import torch

        assert not torch.cuda.is_available()
        return
    assert np.array_equal(cuda, cpu)


def test_video_decode_modes_are_checked_in_one_place():
    assert VIDEO_DECODE_MODES == ("cpu", "cuda")
    assert [hwaccel_for(mode) for mode in VIDEO_DECODE_MODES] == [None, "cuda"]
    with pytest.raises(ValueError, match="video_decode 'vaapi' is not accepted; accepted: cpu, cuda"):
        check_video_decode("vaapi")
    with pytest.raises(ValueError, match="hwaccel 'vaapi' is not accepted"):
        decode_range("/no/such/film.mp4", 0, 1, fps=8, width=16, height=16, hwaccel="vaapi")


def test_timeline_follows_the_time_contract():
    tl = timeline_from_pts([0, 3652, 7304, 10955, 14607], Fraction(1, 90000), fallback_duration=3750)
    assert tl.durations.tolist() == [3652, 3652, 3651, 3652, 3652]
    assert tl.duration_pts == 14607 + 3652
    assert tl.variable_frame_rate
    single = timeline_from_pts([100], Fraction(1, 12288), fallback_duration=512)
    assert single.duration_pts == 512 and not single.variable_frame_rate


def test_duplicate_mask_ignores_static_shots_and_finds_padding():
    rng = np.random.default_rng(0)
    moving = rng.uniform(5, 15, 60)
    moving[4::5] = rng.uniform(0, 0.4, 12)  # every fifth frame repeats
    mask = duplicate_mask(moving)
    assert mask[4::5].all() and mask.sum() == 12
    assert describe_cadence(mask) == "about 1 in 5 repeated (12 of 60)"
    still = rng.uniform(0.2, 0.4, 60)
    assert not duplicate_mask(still).any()
    assert describe_cadence(duplicate_mask(still)) == "none"


def test_a_video_cut_short_is_refused_not_shortened(tmp_path):
    """An MP4 with its index first, cut after two thirds of its bytes: the demuxer still lists every
    frame, the last packet is incomplete and frame threads drop the frames in flight, so keeping
    what decoded would give a film shorter than the packets an MKV copies."""
    whole = tmp_path / "whole.mp4"
    frames = np.random.default_rng(3).integers(0, 256, (24, 32, 48, 3)).astype(np.uint8)
    with av.open(str(whole), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 48, 32, "yuv420p"
        for image in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        out.mux(stream.encode())
    data = whole.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(
        CorruptVideo, match=r"cannot decode the video past frame \d+: the file is truncated or damaged"
    ):
        shard_film(str(cut))
    with av.open(str(cut)) as container:
        time_base = Fraction(container.streams.video[0].time_base)
    end_pts = int(Fraction(1) / time_base)
    with pytest.raises(CorruptVideo):
        decode_range(str(cut), 0, end_pts, fps=24, width=16, height=16, gray=True)
    assert decode_range(str(cut), 0, end_pts // 4, fps=24, width=16, height=16, gray=True).shape == (
        6,
        16,
        16,
    )

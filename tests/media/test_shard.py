"""Probe and scene sharding on synthetic films, traps, bad input and the real clips."""

from __future__ import annotations

import os
from fractions import Fraction

import av
import numpy as np
import pytest

from media.errors import NoVideoStream, StillImage, UnreadableMedia
from media.shard import shard_film
from tests.films import textured_shots


def assert_tiles(probe, scenes):
    assert scenes[0].start_frame == 0 and scenes[0].start_pts == probe.first_pts
    for a, b in zip(scenes, scenes[1:]):
        assert a.end_frame == b.start_frame and a.end_pts == b.start_pts and a.end_s == b.start_s
    assert scenes[-1].end_frame == probe.frames
    assert scenes[-1].end_pts == probe.first_pts + probe.duration_pts
    assert scenes[-1].end_s == pytest.approx(probe.duration_s, abs=1e-9)


def test_hard_cuts_found_exactly_and_scenes_tile(film):
    path = film("cuts.mp4", textured_shots([30, 20, 40], seed=1))
    probe, scenes = shard_film(path)
    assert [s.start_frame for s in scenes] == [0, 30, 50]
    assert probe.frames == 90 and probe.nominal_fps == 24
    assert_tiles(probe, scenes)
    tb = Fraction(probe.time_base)
    assert probe.duration_pts * tb == Fraction(90, 24)


def test_flicker_flash_and_pan_are_not_cuts(film):
    frames = textured_shots([72], seed=2, pan=3).astype(np.int16)
    rng = np.random.default_rng(3)
    frames = frames * rng.uniform(0.6, 1.3, (72, 1, 1, 1)) + rng.uniform(-30, 30, (72, 1, 1, 1))  # flicker
    frames[40] = frames[40] * 0.3 + 200  # a single bright flash
    path = film("traps.mp4", np.clip(frames, 0, 255).astype(np.uint8))
    probe, scenes = shard_film(path)
    assert len(scenes) == 1, [s.start_frame for s in scenes]


def test_minimum_scene_length_merges_short_shots(film):
    path = film("short.mp4", textured_shots([24, 6, 30], seed=4))
    _, scenes = shard_film(path, min_scene_s=0.5)
    assert len(scenes) == 2  # the 0.25 s shot cannot stand alone
    _, scenes = shard_film(path, min_scene_s=0.2)
    assert [s.start_frame for s in scenes] == [0, 24, 30]


def test_one_frame_video_is_one_scene(film):
    path = film("one.mp4", textured_shots([1], seed=5))
    probe, scenes = shard_film(path)
    assert probe.frames == 1 and len(scenes) == 1
    assert probe.duration_s == pytest.approx(1 / 24, rel=1e-3)
    assert_tiles(probe, scenes)


def test_duplicate_cadence_is_measured(film):
    distinct = textured_shots([40], seed=6, pan=2)
    repeated = np.concatenate([[f, f] if i % 4 == 3 else [f] for i, f in enumerate(distinct)])
    probe, scenes = shard_film(film("cadence.mp4", repeated))
    assert probe.duplicate_frames == 10
    assert probe.true_fps == pytest.approx(24 * 40 / 50, rel=0.01)
    assert "1 in 5" in probe.cadence
    assert len(scenes) == 1


def test_rotation_is_reported(film):
    probe, _ = shard_film(film("rot.mp4", textured_shots([12], seed=7), rotation=90))
    assert probe.rotation == 90


def test_memory_uri_is_read_through_fsspec(film):
    import fsspec

    data = open(film("mem.mp4", textured_shots([20, 20], seed=8)), "rb").read()
    with fsspec.open("memory://talkie-tests/mem.mp4", "wb") as f:
        f.write(data)
    probe, scenes = shard_film("memory://talkie-tests/mem.mp4")
    assert probe.frames == 40 and [s.start_frame for s in scenes] == [0, 20]


@pytest.mark.parametrize(
    "name,payload,error",
    [
        ("empty.mp4", b"", UnreadableMedia),
        ("random.mp4", np.random.default_rng(0).bytes(50_000), UnreadableMedia),
        ("image.mp4", None, StillImage),
        ("audio.mkv", None, NoVideoStream),
    ],
)
def test_bad_input_raises_a_clear_media_error(tmp_path, name, payload, error):
    path = tmp_path / name
    if name == "image.mp4":
        with av.open(str(tmp_path / "x.png"), "w") as out:
            s = out.add_stream("png")
            s.width, s.height, s.pix_fmt = 16, 16, "rgb24"
            for p in s.encode(av.VideoFrame.from_ndarray(np.zeros((16, 16, 3), np.uint8), format="rgb24")):
                out.mux(p)
        os.rename(tmp_path / "x.png", path)
    elif name == "audio.mkv":
        with av.open(str(path), "w") as out:
            s = out.add_stream("flac", rate=48000, layout="mono")
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 4608), np.int16), format="s16", layout="mono")
            frame.sample_rate, frame.pts = 48000, 0
            for p in s.encode(frame):
                out.mux(p)
            for p in s.encode():
                out.mux(p)
    else:
        path.write_bytes(payload)
    with pytest.raises(error) as info:
        shard_film(str(path))
    assert name in str(info.value)


def test_truncated_file_fails_or_keeps_the_decodable_part(film, tmp_path):
    data = open(film("whole.mp4", textured_shots([30, 30], seed=9)), "rb").read()
    head = tmp_path / "head.mp4"
    head.write_bytes(data[:200])  # cut inside the header: nothing to decode
    with pytest.raises(UnreadableMedia):
        shard_film(str(head))


def test_missing_path_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        shard_film(str(tmp_path / "nope.mp4"))


def test_real_clips_cuts_within_one_frame_and_no_false_cuts(real_clips):
    for name, clip in real_clips.items():
        probe, scenes = shard_film(clip["path"])
        found = [s.start_frame for s in scenes[1:]]
        truth = clip["cuts_at_frames"]
        assert len(found) == len(truth), (name, found, truth)
        assert all(abs(f - t) <= 1 for f, t in zip(found, truth)), (name, found, truth)
        assert probe.frames == clip["frames"], name
        assert_tiles(probe, scenes)

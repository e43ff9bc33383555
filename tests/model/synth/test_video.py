"""The written files decode to exactly what the truth says."""

from __future__ import annotations

import json

import av
import numpy as np
import pytest
import soundfile as sf

from model.synth import SynthConfig, make_film, write_film


@pytest.fixture(
    scope="module", params=[(20, 16), (18, 18), (24, 18), (16, 12)], ids=lambda p: f"{p[0]}fps_{p[1]}pictures"
)
def written(request, tmp_path_factory):
    fps, content = request.param
    cfg = SynthConfig(
        min_shots=2,
        max_shots=2,
        shot_seconds=(1.0, 1.6),
        fps_choices=(fps,),
        cadence_prob=1.0 if content != fps else 0.0,
        damage=0.5,
    )
    seed = 0
    film = make_film(seed, cfg)
    while (
        film.truth["cadence"]["content_fps"] != content
    ):  # the cadence rate is drawn; find a seed with this one
        seed += 1
        film = make_film(seed, cfg)
    paths = write_film(film, tmp_path_factory.mktemp("films"))
    return film, paths


def _decode(path):
    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        vs.thread_type = "AUTO"
        rate, size = vs.average_rate, (vs.codec_context.width, vs.codec_context.height)
        frames = [f for f in c.decode(video=0)]
        pts = [f.pts for f in frames]
        tb = vs.time_base
        pix = np.stack([f.to_ndarray(format="rgb24") for f in frames])
    with av.open(str(path)) as c:
        audio = c.streams.audio[0]
        codec, sr = audio.codec_context.name, audio.codec_context.sample_rate
        pcm = np.concatenate([f.to_ndarray()[0] for f in c.decode(audio=0)])
    return rate, size, pts, tb, pix, codec, sr, pcm


def test_video_stream_matches_truth(written):
    film, paths = written
    t = film.truth
    rate, size, pts, tb, pix, *_ = _decode(paths["video"])
    assert len(pts) == t["frames"] == film.frames.shape[0]
    assert rate == t["fps"]
    assert size == (t["width"], t["height"]) == (128, 96)
    # presentation times are exactly i / fps
    assert [float(p * tb) for p in pts] == pytest.approx([i / t["fps"] for i in range(t["frames"])], abs=1e-6)
    # lossy but close to the frames we encoded
    assert np.abs(pix.astype(int) - film.frames.astype(int)).mean() < 6.0


def test_audio_stream_is_exact_flac_with_matching_length(written):
    film, paths = written
    t = film.truth
    *_, codec, sr, pcm = _decode(paths["video"])
    assert codec == "flac" and sr == 48000
    assert pcm.size == round(t["frames"] / t["fps"] * 48000) == t["samples"]
    assert np.array_equal(pcm >> 8, film.pcm), "FLAC in MP4 is lossless"


def test_flac_file_is_24_bit_and_exact(written):
    film, paths = written
    info = sf.info(str(paths["audio"]))
    assert (info.samplerate, info.channels, info.subtype, info.format) == (48000, 1, "PCM_24", "FLAC")
    data, _ = sf.read(str(paths["audio"]), dtype="int32")
    assert np.array_equal(data >> 8, film.pcm)
    assert json.loads(paths["truth"].read_text()) == film.truth


def test_repeated_frames_are_identical(written):
    film, paths = written
    t = film.truth
    dups = t["duplicated_frames"]
    if t["cadence"]["kind"] == "none":
        assert dups == []
        return
    fps, c = t["fps"], t["cadence"]["content_fps"]
    assert len(dups) == t["frames"] - t["pictures"] and len(dups) >= (fps - c)
    for i in dups:
        assert np.array_equal(film.clean_frames[i], film.clean_frames[i - 1])
        assert np.array_equal(film.frames[i], film.frames[i - 1]), (
            "damage is on the print, so repeats stay repeats"
        )
    others = [i for i in range(1, t["frames"]) if i not in set(dups)]
    unchanged = [i for i in others if np.array_equal(film.clean_frames[i], film.clean_frames[i - 1])]
    assert unchanged == t["static_frames"], "every other repeat is a still scene, and the truth says so"
    _, _, _, _, pix, *_ = _decode(paths["video"])
    diff = [np.abs(pix[i].astype(int) - pix[i - 1].astype(int)).mean() for i in dups]
    assert max(diff) < 0.5, "a repeated picture decodes (almost) identically"

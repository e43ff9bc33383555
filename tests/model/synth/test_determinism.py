from __future__ import annotations

import numpy as np

from model.synth import SynthConfig, make_film, write_film


def test_same_seed_gives_same_film(small_config):
    a, b = make_film(11, small_config), make_film(11, small_config)
    assert np.array_equal(a.frames, b.frames)
    assert np.array_equal(a.clean_frames, b.clean_frames)
    assert np.array_equal(a.pcm, b.pcm)
    assert a.truth == b.truth


def test_same_seed_gives_same_file_bytes(tmp_path, small_config):
    pa = write_film(make_film(5, small_config), tmp_path / "a")
    pb = write_film(make_film(5, small_config), tmp_path / "b")
    for kind in ("video", "audio", "truth"):
        assert pa[kind].read_bytes() == pb[kind].read_bytes(), kind


def test_different_seeds_differ(small_config):
    a, b = make_film(1, small_config), make_film(2, small_config)
    assert a.truth != b.truth
    assert a.frames.shape != b.frames.shape or not np.array_equal(a.frames, b.frames)
    assert a.pcm.shape != b.pcm.shape or not np.array_equal(a.pcm, b.pcm)


def test_fixed_damage_leaves_the_scene_unchanged():
    clean = make_film(3, SynthConfig(max_shots=2, shot_seconds=(1.0, 1.5), damage=0.0))
    worn = make_film(3, SynthConfig(max_shots=2, shot_seconds=(1.0, 1.5), damage=1.0))
    assert np.array_equal(clean.clean_frames, worn.clean_frames)
    assert np.array_equal(clean.pcm, worn.pcm)
    assert np.array_equal(clean.frames, clean.clean_frames)
    assert not np.array_equal(worn.frames, worn.clean_frames)
    assert worn.truth["damage"]["strength"] == 1.0 and clean.truth["damage"]["strength"] == 0.0

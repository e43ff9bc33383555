"""Model config: presets, parameter budgets, strict JSON, a stable hash, validation."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from model.config import (
    PRESET_NAMES,
    AudioConfig,
    ModelConfig,
    NetworkConfig,
    SamplerConfig,
    VideoConfig,
    WindowConfig,
    estimated_parameters,
    preset,
)

REPO = Path(__file__).resolve().parents[2]


def test_presets_build_with_their_documented_sizes():
    tiny, base = preset("tiny"), preset("base")
    assert (tiny.audio.sample_rate, tiny.audio.n_mels, tiny.window.window_s) == (16000, 64, 4.0)
    assert (tiny.video.fps, tiny.video.height, tiny.video.width) == (16, 64, 64)
    sizes = (tiny.window_samples, tiny.window_frames, tiny.window_tokens, tiny.video_frames)
    assert sizes == (64000, 256, 128, 64)
    assert tiny.audio.num_frames(tiny.window_samples) == tiny.window_frames
    assert (base.audio.sample_rate, base.window.window_s) == (24000, 8.0)
    assert 80 <= base.audio.n_mels <= 100
    assert (base.window_frames, base.window_tokens, base.video_frames) == (768, 384, 192)
    assert PRESET_NAMES == ("tiny", "base")


def test_presets_are_within_their_parameter_budgets():
    assert 2_000_000 <= estimated_parameters(preset("tiny")) <= 4_000_000
    assert 100_000_000 <= estimated_parameters(preset("base")) <= 150_000_000


def test_parameter_formula_by_hand():
    cfg = dataclasses.replace(
        preset("tiny"), network=NetworkConfig(width=8, depth=1, heads=2, mlp_ratio=2.0, text_dim=3)
    )
    w, m, p = 8, 16, 2 * 64
    block = 2 * (4 * w * w + 4 * w) + (2 * w * m + m + w) + (6 * w * w + 6 * w)
    outside = (2 * p * w + p + w) + (2 * w * w + 2 * w) + (256 * w + w + w * w + w) + 2 * (3 * w + w)
    assert estimated_parameters(cfg) == block + outside
    deeper = dataclasses.replace(cfg, network=dataclasses.replace(cfg.network, depth=3))
    assert estimated_parameters(deeper) - estimated_parameters(cfg) == 2 * block


def test_unknown_preset_lists_the_accepted_ones():
    with pytest.raises(ValueError, match=r"'huge'.*\('tiny', 'base'\)"):
        preset("huge")


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_json_round_trip(name):
    cfg = preset(name)
    again = ModelConfig.from_json(cfg.to_json())
    assert again == cfg
    assert again.to_json() == cfg.to_json()
    assert ModelConfig.from_json(cfg.to_json(indent=2)) == cfg


def test_unknown_key_is_refused_by_name():
    data = preset("tiny").to_dict()
    data["network"]["widht"] = 128
    with pytest.raises(ValueError, match=r"unknown keys config\.network\.widht"):
        ModelConfig.from_dict(data)
    data = preset("tiny").to_dict()
    data["scheduler"] = {}
    with pytest.raises(ValueError, match=r"unknown keys config\.scheduler"):
        ModelConfig.from_json(json.dumps(data))


def test_missing_key_is_refused_by_name():
    data = preset("tiny").to_dict()
    del data["audio"]["n_mels"]
    with pytest.raises(ValueError, match=r"missing keys config\.audio\.n_mels"):
        ModelConfig.from_dict(data)
    del data["video"]
    with pytest.raises(ValueError, match=r"missing keys config\.video"):
        ModelConfig.from_dict(data)


def test_wrong_types_are_refused():
    data = preset("tiny").to_dict()
    data["network"]["depth"] = "8"
    with pytest.raises(TypeError, match="NetworkConfig.depth='8'"):
        ModelConfig.from_dict(data)
    data = preset("tiny").to_dict()
    data["audio"] = [1, 2]
    with pytest.raises(ValueError, match="config.audio: expected a JSON object"):
        ModelConfig.from_dict(data)
    with pytest.raises(ValueError, match="not valid JSON"):
        ModelConfig.from_json("{audio:")
    with pytest.raises(TypeError, match="VideoConfig.grayscale=1"):
        VideoConfig(grayscale=1)


def test_hash_is_stable_and_sensitive():
    cfg = preset("tiny")
    h = cfg.config_hash()
    assert len(h) == 16 and int(h, 16) >= 0
    assert ModelConfig.from_json(cfg.to_json(indent=2)).config_hash() == h
    # the same numbers given as ints hash the same as floats
    as_ints = dataclasses.replace(cfg, window=WindowConfig(window_s=4, overlap_s=1))
    assert as_ints == cfg and as_ints.config_hash() == h
    # key order of the input does not matter
    shuffled = {k: dict(reversed(list(v.items()))) for k, v in reversed(list(cfg.to_dict().items()))}
    assert ModelConfig.from_dict(shuffled).config_hash() == h
    # any change does
    changed = dataclasses.replace(cfg, sampler=dataclasses.replace(cfg.sampler, steps=21))
    assert changed.config_hash() != h
    assert preset("base").config_hash() != h


def test_hash_is_the_same_in_another_process():
    code = "from model.config import preset; print(preset('tiny').config_hash())"
    env_seed = {"PYTHONHASHSEED": "12345"}
    res = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60, env=env_seed
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == preset("tiny").config_hash()


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: AudioConfig(sample_rate=0), "sample_rate=0"),
        (lambda: AudioConfig(n_fft=1023, win_length=1000), "n_fft=1023"),
        (lambda: AudioConfig(win_length=2048), "win_length=2048"),
        (lambda: AudioConfig(hop_length=513), "hop_length=513"),
        (lambda: AudioConfig(f_max=9000.0), "f_max=9000.0"),
        (lambda: AudioConfig(f_min=8000.0), "f_min=8000.0"),
        (lambda: AudioConfig(n_mels=600), "n_mels=600"),
        (lambda: AudioConfig(log_floor=0.0), "log_floor=0.0"),
        (lambda: AudioConfig(f_min=float("nan")), "f_min=nan"),
        (lambda: VideoConfig(height=-64), "height=-64"),
        (lambda: NetworkConfig(width=130, heads=4), "heads=4"),
        (lambda: NetworkConfig(text_dropout=1.0), "text_dropout=1.0"),
        (lambda: NetworkConfig(depth=0), "depth=0"),
        (lambda: NetworkConfig(width=128.0), "width=128.0"),
        (lambda: WindowConfig(window_s=4.0, overlap_s=4.0), "overlap_s=4.0"),
        (lambda: WindowConfig(window_s=0.0), "window_s=0.0"),
        (lambda: SamplerConfig(sampler="dpm"), "sampler='dpm'"),
        (lambda: SamplerConfig(steps=0), "steps=0"),
        (lambda: SamplerConfig(text_guidance=-1.0), "text_guidance=-1.0"),
        # cross-group: windows must hold whole hops, whole patches and whole video frames
        (lambda: ModelConfig(window=WindowConfig(overlap_s=0.5 + 1 / 32000)), "overlap_s=0.50003125 x 16000"),
        (lambda: ModelConfig(window=WindowConfig(overlap_s=0.51)), "multiples of hop_length=250"),
        (lambda: ModelConfig(network=NetworkConfig(patch_frames=3)), "patch_frames=3"),
        (lambda: ModelConfig(window=WindowConfig(window_s=4 + 2 / 64)), "window_s=4.03125 x fps=16"),
    ],
)
def test_bad_values_are_named(build, message):
    with pytest.raises((ValueError, TypeError), match=message.replace(".", r"\.").replace("(", r"\(")):
        build()


def test_configs_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        preset("tiny").audio.n_mels = 80

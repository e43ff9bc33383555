"""The trained vocoder: its output grid, its file format, its name in the keys, and its training."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import model.vocoders as vocoders
from model.config import AudioConfig
from model.vocoders import build_vocoder, vocoder_named
from model.vocoders.train_vocos import SpectralLosses, clip_from_audio, train
from model.vocoders.vocos import VocosConfig, VocosNetwork, VocosVocoder, load_vocos, save_vocos

AUDIO = AudioConfig()  # the shipped model's: 16 kHz, hop 250, 64 mels to 8 kHz
SMALL = VocosConfig(dim=16, hidden=32, low_blocks=1, high_blocks=1)


def small_network(seed: int = 0) -> VocosNetwork:
    torch.manual_seed(seed)
    return VocosNetwork(SMALL, AUDIO)


def test_a_mel_frame_becomes_375_samples_at_24_khz() -> None:
    vocoder = VocosVocoder(small_network())
    out = vocoder(torch.randn(2, 64, 20) - 4)
    assert vocoder.sample_rate == 24000
    assert out.shape == (2, 20 * 375)  # 250 model samples at 16 kHz = 375 at 24 kHz
    assert float(out.abs().max()) <= 1.0


def test_a_grid_that_does_not_line_up_with_the_mel_frames_is_refused() -> None:
    with pytest.raises(ValueError, match="does not match"):
        VocosNetwork(VocosConfig(hop_out=100), AUDIO)


def test_a_row_sounds_the_same_whatever_it_is_batched_with() -> None:
    vocoder = VocosVocoder(small_network())
    log_mel = torch.randn(3, 64, 16) - 4
    assert torch.equal(vocoder(log_mel)[1:2], vocoder(log_mel[1:2]))


def test_files_round_trip_and_the_name_follows_the_weights(tmp_path) -> None:
    path = tmp_path / "v.safetensors"
    save_vocos(small_network(0), path, {"note": "test"})
    network, metadata = load_vocos(path)
    assert metadata["note"] == "test" and network.config == SMALL and network.audio == AUDIO
    assert VocosVocoder(network).name == VocosVocoder(small_network(0)).name
    assert VocosVocoder(network).name != VocosVocoder(small_network(1)).name
    log_mel = torch.randn(1, 64, 8) - 4
    assert torch.equal(VocosVocoder(network)(log_mel), VocosVocoder(small_network(0))(log_mel))


def test_a_file_of_another_format_is_refused(tmp_path) -> None:
    from safetensors.torch import save_file

    path = tmp_path / "other.safetensors"
    save_file({"x": torch.zeros(1)}, str(path), metadata={"format": "talkie-checkpoint"})
    with pytest.raises(ValueError, match="not a Talkie Vocos file"):
        load_vocos(path)
    with pytest.raises(FileNotFoundError, match="make vocoder"):
        load_vocos(tmp_path / "missing.safetensors")


def test_auto_takes_vocos_for_its_mel_layout_and_griffin_lim_for_others(tmp_path, monkeypatch) -> None:
    path = tmp_path / "vocos.safetensors"
    save_vocos(small_network(), path)
    monkeypatch.setattr(vocoders, "DEFAULT_VOCODER", path)
    assert build_vocoder("auto", AUDIO).name.startswith("vocos(sha256=")
    other = AudioConfig(n_mels=80)
    assert build_vocoder("auto", other).name.startswith("griffin-lim(")
    with pytest.raises(ValueError, match="use --vocoder griffin-lim"):
        build_vocoder("vocos", other)
    with pytest.raises(ValueError, match="choose one of"):
        build_vocoder("hifigan", AUDIO)
    for choice in ("vocos", "griffin-lim"):  # a worker rebuilds the vocoder a job's keys name
        name = build_vocoder(choice, AUDIO).name
        assert vocoder_named(name, AUDIO).name == name
    with pytest.raises(ValueError, match="the job's unit keys name"):
        vocoder_named("vocos(sha256=0000000000000000)", AUDIO)


def test_without_shipped_weights_vocos_is_an_error_and_auto_is_griffin_lim(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(vocoders, "DEFAULT_VOCODER", tmp_path / "absent.safetensors")
    assert build_vocoder("auto", AUDIO).name.startswith("griffin-lim(")
    with pytest.raises(FileNotFoundError, match="--vocoder griffin-lim"):
        build_vocoder("vocos", AUDIO)


def test_training_lowers_the_spectral_loss_on_a_held_clip() -> None:
    rng = np.random.default_rng(0)
    t = np.arange(48000) / 48000
    # a decaying 1 kHz tone with a noise burst above 8 kHz: band the model's mel cannot see
    burst = np.convolve(rng.standard_normal(48000), np.array([1.0, -1.0]), mode="same") * (t > 0.5) * 0.05
    audio = (0.3 * np.sin(2 * np.pi * 1000 * t) * np.exp(-3 * t) + burst).astype(np.float32)
    clip = clip_from_audio(audio, "tone", AUDIO, SMALL)
    assert clip.log_mel.shape == (64, 64) and clip.target.shape == (64 * 375,)
    losses = SpectralLosses(SMALL.sample_rate)

    def loss_of(network: VocosNetwork) -> float:
        with torch.no_grad():
            y = network(clip.log_mel[None])
            return float(losses.stft_loss(y, clip.target[None]) + losses.mel_loss(y, clip.target[None]))

    torch.manual_seed(0)
    before = loss_of(VocosNetwork(SMALL, AUDIO))
    network, stats = train([clip], AUDIO, SMALL, minutes=60.0, batch=2, lr=3e-3, seed=0, max_steps=40)
    assert stats["steps"] == 40
    assert loss_of(network) < 0.8 * before

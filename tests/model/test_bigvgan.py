"""BigVGAN as a Vocoder (the optional extra ``talkie[bigvgan]``), with randomly initialised weights.

Every test here is skipped where the ``bigvgan`` package is not importable.
"""

from __future__ import annotations

import json
import math
import sys
import warnings
from pathlib import Path

import pytest
import torch

pytest.importorskip("bigvgan")

from model.config import AudioConfig, preset  # noqa: E402
from model.mel import MelSpectrogram, mel_filterbank  # noqa: E402
from model.vocoders import Vocoder  # noqa: E402
from model.vocoders.bigvgan import BigVGANVocoder, bigvgan_hparams  # noqa: E402
from tests.model.test_mel import scene  # noqa: E402

TINY = preset("tiny").audio  # 16 kHz, n_fft 1024, hop 250, 64 mels to 8 kHz
SMALL = {"channels": 32, "resblock_kernel_sizes": (3,), "resblock_dilation_sizes": ((1, 3),)}  # fast on a CPU


def small_vocoder(seed: int = 0, **kwargs) -> BigVGANVocoder:
    return BigVGANVocoder.from_config(TINY, seed=seed, device="cpu", **SMALL, **kwargs)


def some_log_mel(batch: int = 2, frames: int = 12) -> torch.Tensor:
    return (
        MelSpectrogram(TINY)(scene(frames * TINY.hop_length / TINY.sample_rate)).expand(batch, -1, -1).clone()
    )


def save_folder(folder: Path, hparams: dict, state_dict: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(hparams, indent=2))
    torch.save(state_dict, folder / "bigvgan_generator.pt")
    return folder


def _tripwire(path: str) -> None:
    Path(path).write_text("unpickled")


class Payload:
    """Unpickling this calls ``_tripwire``: a stand-in for any object a weights file should not carry."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return (_tripwire, (self.path,))


# ----------------------------------------------------------------------------- hyperparameters


@pytest.mark.parametrize(
    "hop, rates", [(250, [5, 5, 5, 2]), (256, [4, 4, 4, 4]), (240, [5, 4, 4, 3]), (200, [5, 5, 4, 2])]
)
def test_upsample_rates_multiply_to_the_hop(hop, rates):
    config = AudioConfig(hop_length=hop)
    h = bigvgan_hparams(config, channels=64)
    assert h["upsample_rates"] == rates and math.prod(rates) == hop
    assert all((k - u) % 2 == 0 and k >= 2 * u for u, k in zip(rates, h["upsample_kernel_sizes"]))
    assert (h["sampling_rate"], h["num_mels"], h["hop_size"], h["n_fft"], h["win_size"], h["fmax"]) == (
        16000,
        64,
        hop,
        1024,
        1024,
        8000.0,
    )
    with pytest.raises(ValueError, match="channels=24: must be a positive multiple of 2\\*\\*4"):
        bigvgan_hparams(config, channels=24)


# ----------------------------------------------------------------------------- random weights


def test_random_vocoder_maps_log_mel_to_audio():
    vocoder = small_vocoder()
    log_mel = some_log_mel(batch=2, frames=12)
    audio = vocoder(log_mel)
    assert isinstance(vocoder, Vocoder)
    assert vocoder.sample_rate == TINY.sample_rate
    assert vocoder.name.startswith("bigvgan(sha256=") and vocoder.name.endswith(",align_frames=True)")
    assert audio.shape == (2, 12 * TINY.hop_length) and audio.dtype == torch.float32
    assert bool(torch.isfinite(audio).all()) and float(audio.abs().max()) <= 1.0
    assert float(audio.abs().max()) > 0  # random weights, but not a dead network
    state = vocoder.state_dict()
    assert not any(k.endswith(("weight_g", "weight_v")) for k in state)  # weight norm removed


def test_random_vocoder_is_deterministic_for_a_seed_and_leaves_the_global_rng_alone():
    log_mel = some_log_mel(batch=1, frames=8)
    torch.manual_seed(123)
    before = torch.rand(4)
    torch.manual_seed(123)
    first = small_vocoder(seed=7)
    assert torch.equal(torch.rand(4), before)
    again = small_vocoder(seed=7)
    other = small_vocoder(seed=8)
    assert torch.equal(first(log_mel), again(log_mel)) and first.name == again.name
    assert not torch.equal(first(log_mel), other(log_mel)) and first.name != other.name


def test_aligned_output_is_the_raw_output_moved_half_a_hop_earlier():
    aligned, raw = small_vocoder(), small_vocoder(align_frames=False)
    assert aligned.name != raw.name
    offset = math.ceil(TINY.hop_length / 2)
    assert aligned.offset == offset == 125
    log_mel = some_log_mel(batch=1, frames=10)
    padded = torch.cat([log_mel, log_mel[..., -1:]], dim=-1)
    expected = raw(padded)[:, offset : offset + 10 * TINY.hop_length]
    torch.testing.assert_close(aligned(log_mel), expected, rtol=0, atol=1e-6)


def test_vocoder_refuses_a_mel_of_the_wrong_size():
    with pytest.raises(ValueError, match=r"log_mel has shape \(1, 80, 10\): need \(batch, 64, frames >= 1\)"):
        small_vocoder()(torch.zeros(1, 80, 10))


# ----------------------------------------------------------------------------- checkpoint folders


@pytest.mark.parametrize("layout", ["bare state dict", "generator with weight norm"])
def test_a_saved_folder_loads_and_sounds_the_same(tmp_path, layout):
    vocoder = small_vocoder(seed=3)
    if layout == "bare state dict":  # the inference weights, weight norm already removed
        state = {k.removeprefix("generator."): v for k, v in vocoder.state_dict().items()}
    else:  # as the bigvgan package saves a generator it trained: {"generator": ...} with weight_g/weight_v
        from bigvgan.bigvgan import BigVGAN
        from bigvgan.env import AttrDict

        torch.manual_seed(3)  # the same draw as from_config(seed=3)
        with warnings.catch_warnings():  # torch's old weight_norm, which the package uses, is deprecated
            warnings.simplefilter("ignore", FutureWarning)
            trained = BigVGAN(AttrDict(dict(vocoder.hparams)))
        state = {"generator": trained.state_dict(), "steps": 1000}
        assert any(k.endswith("weight_g") for k in state["generator"])
    folder = save_folder(tmp_path / "ckpt", vocoder.hparams, state)
    loaded = BigVGANVocoder.from_folder(folder, TINY, device="cpu")
    log_mel = some_log_mel(batch=2, frames=8)
    assert torch.equal(loaded(log_mel), vocoder(log_mel))
    assert loaded.name == vocoder.name
    assert set(loaded.state_dict()) == set(vocoder.state_dict())


def test_a_folder_for_other_audio_settings_is_refused(tmp_path):
    vocoder = small_vocoder()
    hparams = dict(vocoder.hparams, sampling_rate=22050, num_mels=80)
    folder = save_folder(tmp_path / "ckpt", hparams, vocoder.state_dict())
    with pytest.raises(ValueError, match="does not match the AudioConfig") as refused:
        BigVGANVocoder.from_folder(folder, TINY, device="cpu")
    message = str(refused.value)
    assert "sampling_rate=22050 (AudioConfig.sample_rate=16000)" in message
    assert "num_mels=80 (AudioConfig.n_mels=64)" in message
    assert "hop_size" not in message


def test_a_weights_file_holding_a_pickled_object_is_refused_without_running_it(tmp_path):
    vocoder = small_vocoder()
    marker = tmp_path / "was_unpickled"
    state = {"generator": vocoder.state_dict(), "extra": Payload(marker)}
    folder = save_folder(tmp_path / "ckpt", vocoder.hparams, state)
    with pytest.raises(ValueError, match=r"refused; torch.load\(weights_only=True\)"):
        BigVGANVocoder.from_folder(folder, TINY, device="cpu")
    assert not marker.exists()


def test_a_folder_without_weights_says_what_it_holds(tmp_path):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(small_vocoder().hparams))
    (folder / "g_00001000").write_bytes(b"")
    expected = r"no weights file 'bigvgan_generator.pt' \(files there: \['g_00001000'\]\); pass weights=NAME"
    with pytest.raises(FileNotFoundError, match=expected):
        BigVGANVocoder.from_folder(folder, TINY, device="cpu")


def test_without_the_package_the_error_names_the_extra(monkeypatch):
    for name in [m for m in sys.modules if m == "bigvgan" or m.startswith("bigvgan.")]:
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match=r'pip install "talkie\[bigvgan\]"'):
        small_vocoder()


# ----------------------------------------------------------------------------- mel conventions


def test_talkie_log_mel_is_bigvgans_half_a_hop_earlier():
    """The findings in ``BigVGANVocoder``'s docstring, against ``bigvgan.meldataset``."""
    from bigvgan.meldataset import mel_spectrogram
    from librosa.filters import mel as librosa_mel

    a = TINY
    librosa_bank = librosa_mel(sr=a.sample_rate, n_fft=a.n_fft, n_mels=a.n_mels, fmin=a.f_min, fmax=a.f_max)
    ours = mel_filterbank(a.sample_rate, a.n_fft, a.n_mels, a.f_min, a.f_max)
    torch.testing.assert_close(
        ours, torch.from_numpy(librosa_bank).float(), rtol=0, atol=1e-7
    )  # measured 1.9e-9

    x = scene(1.0, a.sample_rate)
    talkie = MelSpectrogram(a)(x)
    offset = small_vocoder().offset
    # BigVGAN's frame k is centred on sample k * hop + offset: delaying its input by offset lines them up
    bigvgan = mel_spectrogram(
        torch.nn.functional.pad(x, (offset, 0)),
        a.n_fft,
        a.n_mels,
        a.sample_rate,
        a.hop_length,
        a.win_length,
        a.f_min,
        a.f_max,
    )
    inner = slice(8, talkie.shape[-1] - 8)  # the edge frames see different padding
    loud = talkie[..., inner] > math.log(1e-3)  # below, BigVGAN's sqrt(|X|^2 + 1e-9) lifts the bins
    difference = (bigvgan[..., inner] - talkie[..., inner]).abs()
    assert float(difference[loud].max()) < 1e-3  # measured 4.7e-5
    assert float(difference.max()) < 0.1  # measured 0.031, all of it the epsilon

"""BigVGAN as a ``Vocoder`` (the optional extra ``pip install "talkie[bigvgan]"``).

``BigVGANVocoder`` runs a BigVGAN generator from a local checkpoint folder (or a randomly
initialised one, for tests and as the start for training one's own); its docstring says how
BigVGAN's log-mel differs from ``model.mel``'s and how the vocoder lines the two up. The
``bigvgan`` package is imported only when a vocoder is made, so importing this module needs
only torch.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import json
import math
import pickle
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from model.config import AudioConfig
from model.device import resolve_device

BIGVGAN_EXTRA = 'pip install "talkie[bigvgan]"'
BIGVGAN_WEIGHTS = "bigvgan_generator.pt"  # the file name the bigvgan package saves and loads
# BigVGAN's log(clamp(mel, 1e-5)) (bigvgan.meldataset.dynamic_range_compression_torch)
BIGVGAN_LOG_FLOOR = 1e-5

# BigVGAN config.json keys that must agree with AudioConfig, and the AudioConfig field each one is.
_BIGVGAN_AUDIO_FIELDS = (
    ("sampling_rate", "sample_rate"),
    ("num_mels", "n_mels"),
    ("hop_size", "hop_length"),
    ("n_fft", "n_fft"),
    ("win_size", "win_length"),
    ("fmin", "f_min"),
    ("fmax", "f_max"),
)


def _import_bigvgan() -> tuple[type[nn.Module], type]:
    """(bigvgan.bigvgan.BigVGAN, bigvgan.env.AttrDict), imported only when a BigVGAN vocoder is made."""
    try:
        from bigvgan.bigvgan import BigVGAN
        from bigvgan.env import AttrDict
    except ImportError as e:
        raise ImportError(
            f"the BigVGAN vocoder needs the optional bigvgan package, which could not be imported ({e}); "
            f"install it with: {BIGVGAN_EXTRA}"
        ) from e
    return BigVGAN, AttrDict


def _upsample_rates(hop_length: int, max_stages: int) -> list[int]:
    """Factors of ``hop_length``, largest first, in at most ``max_stages`` stages.

    Starts from the prime factors and merges the two smallest while there are too many stages:
    250 -> [5, 5, 5, 2], 256 -> [4, 4, 4, 4], 240 -> [5, 4, 4, 3].
    """
    factors: list[int] = []
    n, p = hop_length, 2
    while p * p <= n:
        while n % p == 0:
            factors.append(p)
            n //= p
        p += 1
    if n > 1:
        factors.append(n)
    factors = factors or [1]
    while len(factors) > max_stages:
        factors.sort()
        factors = [factors[0] * factors[1], *factors[2:]]
    return sorted(factors, reverse=True)


def bigvgan_hparams(
    config: AudioConfig,
    *,
    channels: int = 512,
    resblock_kernel_sizes: tuple[int, ...] = (3, 7, 11),
    resblock_dilation_sizes: tuple[tuple[int, ...], ...] = ((1, 3, 5), (1, 3, 5), (1, 3, 5)),
    max_stages: int = 4,
) -> dict[str, Any]:
    """A BigVGAN hyperparameter dict (the package's config.json) for Talkie's ``config``.

    The audio fields are ``config``'s; the upsampling stages multiply to ``hop_length``
    (``_upsample_rates``), each with a transposed-convolution kernel of 2u (u even) or 2u + 1
    (u odd), so that kernel - u is even and every stage outputs exactly u samples per input
    sample; ``channels`` (the package's ``upsample_initial_channel``) halves at every stage. The
    rest follows the published BigVGAN-v2 configs (AMP block "1", snakebeta with log-scale
    parameters, no tanh and no bias at the end). For ``BigVGANVocoder.from_config`` and for
    training a generator of one's own: ``bigvgan.bigvgan.BigVGAN(bigvgan.env.AttrDict(h))``.
    """
    if len(resblock_kernel_sizes) != len(resblock_dilation_sizes) or not resblock_kernel_sizes:
        raise ValueError(
            f"resblock_kernel_sizes={resblock_kernel_sizes} and "
            f"resblock_dilation_sizes={resblock_dilation_sizes}: "
            "need one dilation tuple per kernel size, at least one"
        )
    if max_stages < 1:
        raise ValueError(f"max_stages={max_stages}: need >= 1")
    rates = _upsample_rates(config.hop_length, max_stages)
    if channels < 2 ** len(rates) or channels % 2 ** len(rates):
        raise ValueError(
            f"channels={channels}: must be a positive multiple of 2**{len(rates)} = {2 ** len(rates)}, "
            f"since it halves at each of the {len(rates)} upsampling stages {rates} "
            f"(product {config.hop_length} = hop_length)"
        )
    return {
        "resblock": "1",
        "upsample_rates": rates,
        "upsample_kernel_sizes": [2 * u + u % 2 for u in rates],
        "upsample_initial_channel": channels,
        "resblock_kernel_sizes": list(resblock_kernel_sizes),
        "resblock_dilation_sizes": [list(d) for d in resblock_dilation_sizes],
        "activation": "snakebeta",
        "snake_logscale": True,
        "use_tanh_at_final": False,
        "use_bias_at_final": False,
        "sampling_rate": config.sample_rate,
        "num_mels": config.n_mels,
        "n_fft": config.n_fft,
        "num_freq": config.n_freqs,
        "hop_size": config.hop_length,
        "win_size": config.win_length,
        "fmin": config.f_min,
        "fmax": config.f_max,
    }


def _hparam_mismatches(hparams: dict[str, Any], config: AudioConfig) -> list[str]:
    """What in a BigVGAN hyperparameter dict disagrees with ``config``, one phrase each."""
    problems: list[str] = []
    for key, field in _BIGVGAN_AUDIO_FIELDS:
        ours = getattr(config, field)
        if key not in hparams:
            problems.append(f"{key} is missing (AudioConfig.{field}={ours})")
            continue
        theirs = hparams[key]
        if key == "fmax" and theirs is None:  # librosa's default: the Nyquist frequency
            theirs = hparams.get("sampling_rate", config.sample_rate) / 2
        try:
            same = float(theirs) == float(ours)
        except (TypeError, ValueError):
            same = False
        if not same:
            problems.append(f"{key}={hparams[key]!r} (AudioConfig.{field}={ours})")
    rates = hparams.get("upsample_rates")
    if not isinstance(rates, list) or not all(isinstance(u, int) and u > 0 for u in rates):
        problems.append(f"upsample_rates={rates!r} (need a list of positive integers)")
    elif math.prod(rates) != config.hop_length:
        problems.append(
            f"upsample_rates={rates} multiply to {math.prod(rates)} "
            f"(AudioConfig.hop_length={config.hop_length})"
        )
    return problems


def _fingerprint(hparams: dict[str, Any], state_dict: dict[str, Tensor]) -> str:
    """SHA-256 of the hyperparameters (canonical JSON) and every tensor's name, dtype, shape and bytes."""
    digest = hashlib.sha256()
    settings = {k: v for k, v in hparams.items() if k != "use_cuda_kernel"}
    digest.update(json.dumps(settings, sort_keys=True, separators=(",", ":")).encode("utf-8"))
    for key in sorted(state_dict):
        tensor = state_dict[key].detach().to("cpu").contiguous()
        digest.update(f"\n{key}:{tensor.dtype}:{tuple(tensor.shape)}\n".encode())
        # an ndarray is a buffer; numpy's stubs say so only from Python 3.12
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy())  # type: ignore[arg-type]
    return digest.hexdigest()


@contextlib.contextmanager
def _quiet_bigvgan() -> Iterator[None]:
    """The bigvgan package prints as it removes weight norm, and builds its layers with torch's
    old ``weight_norm``, whose deprecation warning a Talkie user can do nothing about: hide both."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.filterwarnings(
            "ignore", message=r".*torch\.nn\.utils\.weight_norm.* is deprecated", category=FutureWarning
        )
        yield


def _remove_weight_norm(generator: nn.Module) -> None:
    """The package's own ``remove_weight_norm``; a no-op (it says so, silenced) when already removed."""
    with _quiet_bigvgan():
        # the package's method, which Module.__getattr__ types as Tensor | Module
        remove: Callable[[], None] = generator.remove_weight_norm  # type: ignore[assignment]
        remove()


def _has_weight_norm_keys(state_dict: dict[str, Tensor]) -> bool:
    return any(k.endswith(("weight_g", "weight_v")) or ".parametrizations." in k for k in state_dict)


def _load_tensors(path: Path) -> dict[str, Tensor]:
    """A generator state dict from ``path``, unpickling nothing but tensors and plain containers.

    The file is either the state dict itself or, as the bigvgan package saves it, a dict with the
    state dict under "generator" (other entries, such as a training step, are ignored).
    """
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(
            f"{path}: refused; torch.load(weights_only=True) found more than tensors in it ({first_line}). "
            "Only state dicts of tensors are loaded, never arbitrary pickled objects"
        ) from None
    except (RuntimeError, EOFError, OSError) as e:
        raise ValueError(
            f"{path}: not a torch checkpoint that can be read ({type(e).__name__}: {e})"
        ) from None
    if isinstance(loaded, dict) and isinstance(loaded.get("generator"), dict):
        loaded = loaded["generator"]
    if not isinstance(loaded, dict) or not loaded:
        raise ValueError(
            f"{path}: expected a state dict of tensors (or a dict holding one under 'generator')"
        )
    bad = [repr(k) for k, v in loaded.items() if not (isinstance(k, str) and isinstance(v, Tensor))]
    if bad:
        raise ValueError(
            f"{path}: the state dict has entries that are not named tensors: {', '.join(bad[:5])}"
        )
    return loaded


class BigVGANVocoder(nn.Module):
    """BigVGAN (Lee et al. 2023, "BigVGAN: A Universal Neural Vocoder with Large-Scale Training") as a
    ``Vocoder``: log-mel (B, n_mels, F) -> waveform (B, F * hop) in [-1, 1] at ``sample_rate``.

    Needs the optional extra, ``pip install "talkie[bigvgan]"`` (the ``bigvgan`` package, imported
    only when one of these is made). Two ways to make one:

    - ``BigVGANVocoder.from_folder(folder, audio_config)``: a local checkpoint folder as the package
      lays it out, ``config.json`` (the generator's hyperparameters) beside ``bigvgan_generator.pt``
      (or ``weights="g_00500000"`` for a training checkpoint). The folder's sampling_rate, num_mels,
      hop_size, n_fft, win_size, fmin and fmax must equal the AudioConfig's, and its upsample rates
      must multiply to the hop (a ValueError lists every mismatch). Weights are read with
      ``torch.load(weights_only=True)``: tensors only, a file holding any other pickled object is
      refused. Nothing is downloaded.
    - ``BigVGANVocoder.from_config(audio_config, seed=0, channels=512)``: a randomly initialised
      generator shaped by ``bigvgan_hparams`` (for tests, and as the start for training one's own).

    Both remove weight normalisation (the package's ``remove_weight_norm``) for inference; a
    checkpoint saved with or without it loads. To generate with it:
    ``load_generator(ckpt, vocoder=BigVGANVocoder.from_folder(folder, cfg.audio))`` with ``cfg`` the
    checkpoint's ``ModelConfig`` (``Generator`` moves the vocoder to its own device). ``name`` is
    "bigvgan(sha256=...,align_frames=...)", the hash covering the hyperparameters and every weight,
    so two vocoders that can sound different never share a name (unit keys, docs/design.md "Keys").

    Log-mel conventions, Talkie's ``MelSpectrogram`` against ``bigvgan.meldataset.mel_spectrogram``
    (read from both, measured on the tiny and base presets):

    - the same: librosa's mel filterbank with its defaults is Slaney's scale with Slaney's area
      normalisation, as ``mel_filterbank`` builds it (largest difference 1.9e-9, float32
      rounding); both apply it to the STFT magnitude, not the power, of a periodic Hann window
      of ``win_length``; both take the natural log of clamp(mel, 1e-5) when ``log_floor`` is 1e-5
      (the default and both presets); both give F = L / hop frames when the hop divides L.
    - framing: BigVGAN reflect-pads (n_fft - hop) // 2 samples and runs the STFT uncentred, so its
      frame k is centred on sample k * hop + ceil(hop / 2) (125 at hop 250), Talkie's on k * hop.
      Fed Talkie's mel as it is, BigVGAN would put everything ceil(hop / 2) samples late (7.8 ms at
      16 kHz). With ``align_frames=True`` (the default) the vocoder appends a copy of the last frame,
      runs F + 1 frames and keeps samples ceil(hop / 2) .. ceil(hop / 2) + F * hop, so frame k's
      sound is centred on sample k * hop again. Measured on a test scene: the two log-mels of the
      same audio differ by up to 7.2 nats frame for frame, and by 0.03 once aligned;
    - the magnitude: BigVGAN's is sqrt(re^2 + im^2 + 1e-9), which lifts bins near the floor. That
      is all of the remaining 0.03, in mel bins below 1e-3 (5e-5 above); with it added to Talkie's
      the two agree to 1e-6. A mel does not tell what the epsilon would have added, so it is left;
    - the edges: the first and last few frames see different padding (reflect by n_fft / 2 here);
    - the floor: the input is clamped at log(1e-5). With ``log_floor`` below 1e-5 that is exactly
      BigVGAN's floor; with it above, Talkie's silence log(log_floor) reaches BigVGAN as a quiet
      but non-silent level (no preset does this).
    """

    def __init__(
        self, generator: nn.Module, hparams: dict[str, Any], config: AudioConfig, *, align_frames: bool = True
    ) -> None:
        """Wrap an already built ``bigvgan.bigvgan.BigVGAN``, used as it is (the factories remove its
        weight normalisation first); ``hparams`` are its hyperparameters, checked against ``config``."""
        super().__init__()
        problems = _hparam_mismatches(hparams, config)
        if problems:
            raise ValueError("BigVGAN hyperparameters do not match the AudioConfig: " + "; ".join(problems))
        self.generator = generator.eval().requires_grad_(False)
        self.hparams = copy.deepcopy({k: v for k, v in hparams.items() if k != "use_cuda_kernel"})
        self.config = config
        self.align_frames = bool(align_frames)
        # BigVGAN's frame k is centred on sample k * hop + offset (see the class docstring)
        self.offset = config.n_fft // 2 - (config.n_fft - config.hop_length) // 2
        self.sample_rate = config.sample_rate
        digest = _fingerprint(self.hparams, self.generator.state_dict())
        self.name = f"bigvgan(sha256={digest[:16]},align_frames={self.align_frames})"

    # ------------------------------------------------------------------------- factories

    @classmethod
    def from_config(
        cls,
        config: AudioConfig,
        *,
        seed: int = 0,
        channels: int = 512,
        resblock_kernel_sizes: tuple[int, ...] = (3, 7, 11),
        resblock_dilation_sizes: tuple[tuple[int, ...], ...] = ((1, 3, 5), (1, 3, 5), (1, 3, 5)),
        align_frames: bool = True,
        device: str | torch.device | None = None,
    ) -> BigVGANVocoder:
        """A randomly initialised generator for ``config`` (``bigvgan_hparams``), its weights drawn
        from ``seed`` on the CPU without touching the global random state; weight norm removed."""
        hparams = bigvgan_hparams(
            config,
            channels=channels,
            resblock_kernel_sizes=resblock_kernel_sizes,
            resblock_dilation_sizes=resblock_dilation_sizes,
        )
        generator = _build_generator(hparams, seed=seed)
        _remove_weight_norm(generator)
        vocoder = cls(generator, hparams, config, align_frames=align_frames)
        return vocoder.to(resolve_device(device, task="vocoding"))

    @classmethod
    def from_folder(
        cls,
        path: str | Path,
        config: AudioConfig,
        *,
        weights: str = BIGVGAN_WEIGHTS,
        align_frames: bool = True,
        device: str | torch.device | None = None,
    ) -> BigVGANVocoder:
        """The generator in a local checkpoint folder: ``config.json`` and the weights file ``weights``.

        Checks the folder's audio settings against ``config`` before reading any weights; loads
        tensors only (``torch.load(weights_only=True)``), on the CPU, then moves the vocoder to
        ``device`` (None: CUDA when there is one, as ``model.device.resolve_device`` decides).
        """
        folder = Path(path)
        config_file, weights_file = folder / "config.json", folder / weights
        if not config_file.is_file():
            raise FileNotFoundError(
                f"{folder}: no config.json (a BigVGAN checkpoint folder holds config.json and {weights})"
            )
        try:
            hparams = json.loads(config_file.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f"{config_file}: not valid JSON: {e}") from None
        if not isinstance(hparams, dict):
            raise ValueError(f"{config_file}: expected a JSON object of BigVGAN hyperparameters")
        problems = _hparam_mismatches(hparams, config)
        if problems:
            raise ValueError(f"{config_file} does not match the AudioConfig: " + "; ".join(problems))
        if not weights_file.is_file():
            present = sorted(p.name for p in folder.iterdir() if p.is_file() and p.name != "config.json")
            raise FileNotFoundError(
                f"{folder}: no weights file {weights!r} (files there: {present or 'none'}); pass weights=NAME"
            )
        state_dict = _load_tensors(weights_file)
        generator = _build_generator(hparams, seed=0)
        if not _has_weight_norm_keys(state_dict):  # saved after remove_weight_norm, as from_config's are
            _remove_weight_norm(generator)
        try:
            generator.load_state_dict(state_dict, strict=True)
        except RuntimeError as e:
            raise ValueError(
                f"{weights_file}: its tensors do not fit the generator {config_file} describes: {e}"
            ) from None
        _remove_weight_norm(generator)  # a no-op when already removed
        vocoder = cls(generator, hparams, config, align_frames=align_frames)
        return vocoder.to(resolve_device(device, task="vocoding"))

    # ------------------------------------------------------------------------- vocoding

    def to_bigvgan_log_mel(self, log_mel: Tensor) -> Tensor:
        """Talkie's log-mel -> BigVGAN's: floored at log(1e-5) (the class docstring has the rest)."""
        return torch.clamp(log_mel, min=math.log(BIGVGAN_LOG_FLOOR))

    @torch.no_grad()
    def forward(self, log_mel: Tensor) -> Tensor:
        if log_mel.ndim != 3 or log_mel.shape[1] != self.config.n_mels or log_mel.shape[2] < 1:
            need = f"(batch, {self.config.n_mels}, frames >= 1)"
            raise ValueError(f"log_mel has shape {tuple(log_mel.shape)}: need {need}")
        parameter = next(self.generator.parameters())
        mel = self.to_bigvgan_log_mel(log_mel.to(device=parameter.device, dtype=parameter.dtype))
        frames = mel.shape[-1]
        start = self.offset if self.align_frames else 0
        if start:
            mel = torch.cat([mel, mel[..., -1:]], dim=-1)
        with torch.autocast(mel.device.type, enabled=False):
            audio = self.generator(mel)[:, 0]  # (B, mel frames * hop)
        audio = audio[:, start : start + frames * self.config.hop_length]
        return torch.clamp(audio.to(torch.float32), -1.0, 1.0)


def _build_generator(hparams: dict[str, Any], *, seed: int) -> nn.Module:
    """``bigvgan.bigvgan.BigVGAN`` for ``hparams`` with weight norm, initialised from ``seed``."""
    big_vgan, attr_dict = _import_bigvgan()
    with torch.random.fork_rng(devices=[]), _quiet_bigvgan():
        torch.manual_seed(seed)
        try:
            return big_vgan(attr_dict(copy.deepcopy(hparams)), use_cuda_kernel=False)
        except (KeyError, AttributeError, TypeError, ValueError, NotImplementedError) as e:
            raise ValueError(
                f"BigVGAN could not be built from these hyperparameters: {type(e).__name__}: {e}"
            ) from None

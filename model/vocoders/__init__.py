"""Vocoders: what turns the log-mel the model generates back into a waveform.

A vocoder is anything that satisfies ``Vocoder``: called on a log-mel (B, n_mels, frames) of the
model's ``AudioConfig`` (``model.mel``), it returns the waveform (B, frames * hop * sample_rate /
model rate) in [-1, 1] at its own ``sample_rate``, which may be above the model's rate when it
extends the band (Vocos: 24 kHz from the model's 16 kHz log-mel). Generation
(``model.generate.Generator``) runs one after the sampler; the restore job blends windows at the
vocoder's rate (``transforms.units.GenerationSettings.audio_rate``).

Its ``name`` describes the vocoder and every setting that changes its output. The name enters
every generation unit's key (``transforms.units``; docs/design.md "Keys"), so changing the vocoder
or its settings re-generates the units it would sound different in, and two vocoders that can
sound different must never share a name.

- ``vocos``: ``VocosVocoder``, the project's trained vocoder (``model/weights/vocos.safetensors``,
  ``python -m model.vocoders.train_vocos``): 24 kHz output, band to 12 kHz. The default.
- ``griffin_lim``: ``GriffinLim``, no weights needed: Griffin-Lim after a light smoothing of the
  log-mel along time, for checkpoints whose mel layout the shipped Vocos does not read, or asked
  for by name (``--vocoder griffin-lim``).
- ``bigvgan``: ``BigVGANVocoder``, a BigVGAN generator from a local checkpoint folder (the
  optional extra ``pip install "talkie[bigvgan]"``).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Protocol, runtime_checkable

from torch import Tensor

from model.config import AudioConfig
from model.vocoders.griffin_lim import GriffinLim, smoothed_griffin_lim
from model.vocoders.vocos import DEFAULT_VOCODER, VocosVocoder, load_vocos

# --vocoder: "auto" is Vocos when the shipped file reads the checkpoint's mel layout, else Griffin-Lim
VOCODER_CHOICES = ("auto", "vocos", "griffin-lim")


@runtime_checkable
class Vocoder(Protocol):
    """Log-mel (B, n_mels, frames) -> waveform (B, frames * hop) in [-1, 1] at ``sample_rate``.

    ``name`` describes the vocoder and its settings; it enters every generation unit's key
    (docs/design.md "Keys"), so two vocoders that can sound different must have different names.
    A weight-based vocoder (BigVGAN, an optional extra) implements the same protocol.
    """

    name: str
    sample_rate: int

    def __call__(self, log_mel: Tensor) -> Tensor: ...


@functools.lru_cache(maxsize=4)
def _shipped_vocos(path: Path, mtime_ns: int) -> VocosVocoder:
    return VocosVocoder(load_vocos(path)[0])


def shipped_vocos(path: Path | None = None) -> VocosVocoder:
    """The Vocos vocoder of ``path`` (default: the shipped one), loaded once per file version."""
    path = DEFAULT_VOCODER if path is None else path
    if not path.exists():
        raise FileNotFoundError(
            f"vocoder weights {path} do not exist: they ship with Talkie (train them anew with "
            "`make vocoder`), or pass --vocoder griffin-lim"
        )
    return _shipped_vocos(path, path.stat().st_mtime_ns)


def build_vocoder(choice: str, audio: AudioConfig) -> Vocoder:
    """The vocoder ``choice`` (one of ``VOCODER_CHOICES``) names for a model with ``audio``'s mel layout.

    "vocos" raises ValueError when the shipped Vocos was trained on another mel layout, or
    FileNotFoundError when its weights are missing; "auto" then takes Griffin-Lim (the vocoder's
    ``name``, part of every unit key and of every file's provenance tags, says which).
    """
    if choice == "griffin-lim":
        return smoothed_griffin_lim(audio)
    if choice not in ("vocos", "auto"):
        raise ValueError(f"vocoder {choice!r}: choose one of {', '.join(VOCODER_CHOICES)}")
    if choice == "auto" and not DEFAULT_VOCODER.exists():
        return smoothed_griffin_lim(audio)
    vocos = shipped_vocos()
    if vocos.network.audio == audio:
        return vocos
    if choice == "auto":
        return smoothed_griffin_lim(audio)
    raise ValueError(
        f"vocoder 'vocos' reads the log-mel of {vocos.network.audio}, not this checkpoint's {audio}; "
        "use --vocoder griffin-lim"
    )


def default_vocoder(audio: AudioConfig) -> Vocoder:
    """The vocoder generation uses unless given another: ``build_vocoder("auto", audio)``."""
    return build_vocoder("auto", audio)


def vocoder_named(name: str, audio: AudioConfig) -> Vocoder:
    """The vocoder whose ``name`` is ``name`` (as a job's unit keys record it); ValueError when this
    machine's cannot be it (e.g. the shipped Vocos file changed after the job started)."""
    choice = "vocos" if name.startswith("vocos(") else "griffin-lim"
    vocoder = build_vocoder(choice, audio)
    if vocoder.name != name:
        raise ValueError(
            f"this worker's {choice} vocoder is {vocoder.name!r}; the job's unit keys name {name!r}"
        )
    return vocoder


__all__ = [
    "VOCODER_CHOICES",
    "GriffinLim",
    "Vocoder",
    "VocosVocoder",
    "build_vocoder",
    "default_vocoder",
    "shipped_vocos",
    "vocoder_named",
]

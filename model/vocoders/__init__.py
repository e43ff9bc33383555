"""Vocoders: what turns the log-mel the model generates back into a waveform.

A vocoder is anything that satisfies ``Vocoder``: called on a log-mel (B, n_mels, frames) of the
model's ``AudioConfig`` (``model.mel``), it returns the waveform (B, frames * hop) in [-1, 1] at
``sample_rate``. Generation (``model.generate.Generator``) runs one after the sampler.

Its ``name`` describes the vocoder and every setting that changes its output. The name enters
every generation unit's key (``transforms.units``; docs/design.md "Keys"), so changing the vocoder
or its settings re-generates the units it would sound different in, and two vocoders that can
sound different must never share a name.

- ``griffin_lim``: ``GriffinLim``, no weights needed; ``default_vocoder``, the one generation
  uses unless given another, is Griffin-Lim after a light smoothing of the log-mel along time.
- ``bigvgan``: ``BigVGANVocoder``, a BigVGAN generator from a local checkpoint folder (the
  optional extra ``pip install "talkie[bigvgan]"``).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from torch import Tensor

from model.vocoders.griffin_lim import default_vocoder


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


__all__ = ["Vocoder", "default_vocoder"]

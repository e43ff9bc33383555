"""A small audio classifier that judges generated sound: which foley-world classes it holds.

Trained only on ground-truth foley-world audio (never on generated audio), then fed the
model's output (docs/design.md "Quality, measured without downloaded weights"). Multi-label: one
sigmoid per label, so a mixed scene (rain with falling objects) can hold two classes and the
negative-prompt benchmark can read the probability of each.

Labels. The eight coarse classes (``model.synth.config.CLASSES``) and the fine ones the issue
asks to tell apart: impact materials (``impact:wood``, ``impact:metal``, ``impact:glass``) and
footstep surfaces (``footsteps:gravel`` ...). ``fine_prediction`` picks the most probable fine
label among those of a scene's coarse class.

Input: mono audio -> log-mel (``model.mel.MelSpectrogram`` of the model's audio config) ->
per mel band, over time: mean, standard deviation, 95th percentile and mean rise (the positive
frame-to-frame change: how percussive the band is), with the clip's overall mean level taken off
so the judge hears spectral shape and texture, not loudness -> (4 n_mels) features, standardised
with the training set's statistics -> a two-layer MLP. Summary statistics rather than a conv net
over the spectrogram: the classes differ in spectrum and texture, and the judge trains in
seconds on two CPU cores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from model.config import AudioConfig
from model.mel import MelSpectrogram

COARSE = ("impact", "footsteps", "rain", "wind", "engine", "water", "fire", "crowd")
MATERIALS = ("wood", "metal", "glass")
SURFACES = ("gravel", "wood", "concrete", "grass")  # model.synth.world.FOOTSTEP_SURFACES
FINE = tuple(f"impact:{m}" for m in MATERIALS) + tuple(f"footsteps:{s}" for s in SURFACES)
LABELS = COARSE + FINE


def labels_of(sources: Sequence[tuple[str, str]]) -> set[str]:
    """(class, fine) pairs of a scene's sources -> its label set (fine labels for impacts and
    footsteps only; other classes' fine names are not judged)."""
    out = set()
    for cls, fine in sources:
        out.add(cls)
        if f"{cls}:{fine}" in FINE:
            out.add(f"{cls}:{fine}")
    return out


def target_vector(labels: set[str]) -> np.ndarray:
    unknown = labels - set(LABELS)
    if unknown:
        raise ValueError(f"unknown judge labels {sorted(unknown)}; known: {LABELS}")
    return np.array([1.0 if name in labels else 0.0 for name in LABELS], dtype=np.float32)


class Judge(nn.Module):
    """(B, samples) audio at the audio config's rate -> (B, len(LABELS)) logits."""

    feature_mean: Tensor  # buffers registered in __init__
    feature_std: Tensor

    def __init__(self, audio: AudioConfig, hidden: int = 128):
        super().__init__()
        self.audio = audio
        self.mel = MelSpectrogram(audio)
        features = 4 * audio.n_mels
        self.register_buffer("feature_mean", torch.zeros(features))
        self.register_buffer("feature_std", torch.ones(features))
        self.mlp = nn.Sequential(
            nn.Linear(features, hidden), nn.GELU(), nn.Dropout(0.1), nn.Linear(hidden, len(LABELS))
        )

    def features(self, audio: Tensor) -> Tensor:
        """(B, samples) -> (B, 4 n_mels) summary statistics of the log-mel, before standardising."""
        log_mel = self.mel(audio.float())  # (B, n_mels, frames)
        level = log_mel.mean(dim=(1, 2), keepdim=True)
        centred = log_mel - level
        rise = (log_mel[..., 1:] - log_mel[..., :-1]).clamp(min=0).mean(dim=-1)
        return torch.cat(
            [centred.mean(dim=-1), log_mel.std(dim=-1), torch.quantile(centred, 0.95, dim=-1), rise], dim=1
        )

    def forward(self, audio: Tensor) -> Tensor:
        logits: Tensor = self.mlp((self.features(audio) - self.feature_mean) / self.feature_std)
        return logits

    @torch.no_grad()
    def probabilities(self, audio: Tensor, *, batch_size: int = 64) -> Tensor:
        """(B, samples) -> (B, len(LABELS)) sigmoid probabilities, in eval mode."""
        was_training = self.training
        self.eval()
        out = torch.cat(
            [torch.sigmoid(self(audio[i : i + batch_size])) for i in range(0, len(audio), batch_size)]
        )
        self.train(was_training)
        return out


@dataclass(frozen=True)
class JudgeTraining:
    epochs: int = 200
    batch_size: int = 64
    lr: float = 3e-3
    seed: int = 0


def train_judge(
    audio: Tensor, targets: Tensor, config: AudioConfig, settings: JudgeTraining = JudgeTraining()
) -> Judge:
    """Fit a ``Judge`` on (N, samples) ground-truth audio and (N, len(LABELS)) 0/1 targets."""
    if audio.ndim != 2 or targets.shape != (audio.shape[0], len(LABELS)):
        raise ValueError(
            f"audio {tuple(audio.shape)} and targets {tuple(targets.shape)}: need (N, samples), (N, "
            f"{len(LABELS)})"
        )
    generator = torch.Generator().manual_seed(settings.seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)
        judge = Judge(config)
        with torch.no_grad():
            features = torch.cat([judge.features(audio[i : i + 64]) for i in range(0, len(audio), 64)])
            judge.feature_mean.copy_(features.mean(dim=0))
            judge.feature_std.copy_(features.std(dim=0).clamp(min=1e-3))
        optimizer = torch.optim.AdamW(judge.mlp.parameters(), lr=settings.lr, weight_decay=1e-3)
        normalised = (features - judge.feature_mean) / judge.feature_std
        judge.train()
        for _ in range(settings.epochs):
            order = torch.randperm(len(audio), generator=generator)
            for start in range(0, len(audio), settings.batch_size):
                rows = order[start : start + settings.batch_size]
                loss = nn.functional.binary_cross_entropy_with_logits(
                    judge.mlp(normalised[rows]), targets[rows]
                )
                optimizer.zero_grad(set_to_none=True)
                torch.autograd.backward(loss)  # loss.backward(), typed
                optimizer.step()
    judge.eval()
    return judge


def fine_prediction(probabilities: Tensor, coarse: str) -> str:
    """The most probable fine label of class ``coarse`` (impact or footsteps) for one clip."""
    names = [name for name in FINE if name.startswith(coarse + ":")]
    if not names:
        raise ValueError(f"class {coarse!r} has no fine labels; classes with them: impact, footsteps")
    index = [LABELS.index(name) for name in names]
    return names[int(torch.argmax(probabilities[index]))]

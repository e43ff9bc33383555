"""Settings of the foley world: one frozen dataclass, validated on construction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SAMPLE_RATE = 48000  # docs/design.md Contracts: output audio is 48 kHz mono 24-bit

# Sound classes; every one has a visible cause drawn in the picture.
DISCRETE_CLASSES = ("impact", "footsteps")
CONTINUOUS_CLASSES = ("rain", "wind", "engine", "water", "fire", "crowd")
CLASSES = DISCRETE_CLASSES + CONTINUOUS_CLASSES

FPS_CHOICES = (16, 18, 20, 24)

# Picture (content) rates that can sit inside each stream rate by repeating frames.
CADENCES: dict[int, tuple[int, ...]] = {16: (12,), 18: (15, 12), 20: (16, 15), 24: (18, 20, 16)}


@dataclass(frozen=True)
class SynthConfig:
    """How the foley world draws films. ``damage=None`` draws a strength per film."""

    width: int = 128
    height: int = 96
    min_shots: int = 2
    max_shots: int = 6
    shot_seconds: tuple[float, float] = (1.0, 4.0)
    fps_choices: tuple[int, ...] = FPS_CHOICES
    cadence_prob: float = 0.35  # chance that a film's pictures advance slower than its stream
    fade_prob: float = 0.3  # chance that a transition is a fade through black or a dissolve
    mixed_prob: float = 0.3  # chance that a shot has two sources at once
    classes: tuple[str, ...] = CLASSES
    damage: float | None = None  # fixed strength in [0, 1], or None for a random one per film
    clean_prob: float = 1 / 3  # with random damage: chance that a film is left undamaged

    def __post_init__(self) -> None:
        if self.width < 32 or self.height < 32 or self.width % 2 or self.height % 2:
            raise ValueError(
                f"frame size {self.width}x{self.height} is not allowed: width and height must be even and "
                ">= 32"
            )
        if not 1 <= self.min_shots <= self.max_shots:
            raise ValueError(
                f"min_shots={self.min_shots}, max_shots={self.max_shots}: need 1 <= min_shots <= max_shots"
            )
        lo, hi = self.shot_seconds
        if not 0.5 <= lo <= hi <= 60:
            raise ValueError(f"shot_seconds={self.shot_seconds}: need 0.5 <= min <= max <= 60")
        bad = [f for f in self.fps_choices if f not in CADENCES]
        if bad or not self.fps_choices:
            raise ValueError(f"fps_choices={self.fps_choices}: each must be one of {sorted(CADENCES)}")
        unknown = [c for c in self.classes if c not in CLASSES]
        if unknown or not self.classes:
            raise ValueError(f"classes={self.classes}: each must be one of {CLASSES}")
        for name in ("cadence_prob", "fade_prob", "mixed_prob", "clean_prob"):
            p = getattr(self, name)
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name}={p} is not a probability in [0, 1]")
        if self.damage is not None and not 0.0 <= self.damage <= 1.0:
            raise ValueError(f"damage={self.damage}: need a strength in [0, 1] or None for random")

    @classmethod
    def single_shot(
        cls, classes: tuple[str, ...], seconds: float, damage: float | None, **fields: Any
    ) -> SynthConfig:
        """Films of one shot of exactly ``seconds``, no fades: the benchmark's and the calibration's
        scenes. Two classes make every film a mixed scene of both; ``fields`` sets the rest."""
        return cls(
            classes=tuple(classes),
            mixed_prob=1.0 if len(classes) == 2 else 0.0,
            min_shots=1,
            max_shots=1,
            shot_seconds=(seconds, seconds),
            fade_prob=0.0,
            damage=damage,
            **fields,
        )

"""The seeded plan of a film: clocks, shots, transitions, backgrounds and their sound sources.

Everything here is "what is where, when": picture indices, positions and sound controls, drawn
from one numpy Generator. Pixels are drawn by render.py and samples by sound.py from this plan,
so the picture and the sound cannot disagree about when something happens.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .config import CADENCES, SynthConfig
from .timing import Timing

LAYOUTS = ("horizon", "wall", "interior", "texture")
FOOTSTEP_SURFACES = ("gravel", "wood", "concrete", "grass")

# Where each class can plausibly happen.
CLASS_LAYOUTS: dict[str, tuple[str, ...]] = {
    "impact": ("horizon", "wall", "interior", "texture"),
    "footsteps": ("horizon", "wall", "interior"),
    "rain": ("horizon", "wall"),
    "wind": ("horizon",),
    "engine": ("horizon", "wall"),
    "water": ("horizon",),
    "fire": ("horizon", "interior"),
    "crowd": ("horizon", "wall"),
}
LAYOUT_SURFACES: dict[str, tuple[str, ...]] = {
    "horizon": ("grass", "gravel", "concrete", "dirt"),
    "wall": ("concrete", "gravel", "wood"),
    "interior": ("wood", "concrete"),
    "texture": ("dirt", "concrete"),
}
# Two sources at once: (primary, secondary); both must be in the config's classes.
MIXES: tuple[tuple[str, str], ...] = (
    ("impact", "rain"),
    ("footsteps", "rain"),
    ("footsteps", "engine"),
    ("impact", "wind"),
    ("footsteps", "wind"),
    ("impact", "fire"),
    ("footsteps", "water"),
    ("engine", "rain"),
    ("crowd", "engine"),
    ("footsteps", "crowd"),
    ("impact", "water"),
)
TRANSITION_KINDS = ("hard", "fade_black", "dissolve")


@dataclass(frozen=True)
class Hit:
    """A sound onset with a visible cause: ``picture`` is the first picture that shows it."""

    picture: int
    strength: float  # 0..1, scales the onset's loudness
    x: float  # where it happens, in pixels
    y: float


@dataclass(frozen=True)
class Source:
    """One sound source in a shot and the moving thing that causes it.

    ``state`` holds per-picture arrays over the shot's rendered span (index 0 is
    ``ShotPlan.span_start``); ``control`` is the per-picture loudness driver of a texture.
    """

    cls: str
    fine: str
    visual: str
    gain: float
    layer: int  # drawing order, back to front
    seed: int  # the render and sound generators of this source
    params: dict[str, Any] = field(default_factory=dict)  # mixed settings: numbers, names, arrays
    state: dict[str, np.ndarray] = field(default_factory=dict)
    hits: tuple[Hit, ...] = ()
    control: np.ndarray | None = None


@dataclass(frozen=True)
class Background:
    layout: str
    surface: str  # what the ground is made of; "water" regions are drawn by the water source
    ground_y: float  # horizon or floor line, pixels from the top
    floor_top: float  # top of the walkable ground (below water, when there is water)
    brightness: float  # mean tone in [0, 1]; neighbouring shots differ
    hue: tuple[float, float, float]
    seed: int


@dataclass(frozen=True)
class Transition:
    """Pictures [start, end) blend two shots; a hard cut has start == end."""

    kind: str
    start: int
    end: int


@dataclass(frozen=True)
class ShotPlan:
    index: int
    start: int  # first picture of the shot (the cut picture)
    end: int  # exclusive
    span_start: int  # pictures drawn, transitions included
    span_end: int
    clean_start: int  # pictures outside any transition: discrete onsets live here
    clean_end: int
    background: Background
    sources: tuple[Source, ...]
    gain: np.ndarray  # (span,) picture weight of this shot; 1 outside transitions
    recipe: tuple[str, ...]  # the classes in the order the caption names them


@dataclass(frozen=True)
class FilmPlan:
    timing: Timing
    width: int
    height: int
    shots: tuple[ShotPlan, ...]
    transitions: tuple[Transition, ...]


@dataclass(frozen=True)
class ShotContext:
    """What a source planner may know about its shot."""

    width: int
    height: int
    content_fps: int
    span_start: int
    span_end: int
    clean_start: int
    clean_end: int
    background: Background

    @property
    def n(self) -> int:
        return self.span_end - self.span_start

    def pictures(self) -> np.ndarray:
        return np.arange(self.span_start, self.span_end)


def transition_gains(kind: str, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Weights of the outgoing and incoming shot over an m-picture transition.

    The incoming shot first dominates at picture m // 2, the cut named in docs/design.md.
    """
    k = np.arange(m, dtype=np.float64)
    h = m // 2
    if kind == "dissolve":
        w_in = (k + 1) / (m + 1)
        return 1 - w_in, w_in
    if kind == "fade_black":
        if m % 2:  # odd: a black middle picture
            out = np.where(k < h, (h - k) / (h + 1), 0.0)
            inn = np.where(k > h, (k - h) / (h + 1), 0.0)
        else:
            out = np.where(k < h, (h - k) / (h + 1), 0.0)
            inn = np.where(k >= h, (k - h + 1) / (h + 1), 0.0)
        return out, inn
    raise ValueError(f"transition kind {kind!r} has no gains; expected 'dissolve' or 'fade_black'")


def _timeline(
    rng: np.random.Generator, cfg: SynthConfig, fps: int, c: int
) -> tuple[np.ndarray, list[Transition], list[int], list[int]]:
    """Shot lengths and transitions in pictures."""
    n_shots = int(rng.integers(cfg.min_shots, cfg.max_shots + 1))
    lo, hi = cfg.shot_seconds
    lengths = [max(int(round(rng.uniform(lo, hi) * c)), 6) for _ in range(n_shots)]
    starts = np.concatenate([[0], np.cumsum(lengths)]).astype(int)
    min_clean = int(np.ceil(0.5 * c))
    transitions: list[Transition] = []
    clean_start = [0] * n_shots
    clean_end = [int(starts[k + 1]) for k in range(n_shots)]
    for k in range(n_shots - 1):
        cut = int(starts[k + 1])
        kind = "hard"
        if rng.random() < cfg.fade_prob:
            kind = str(rng.choice(["fade_black", "dissolve"]))
        if kind != "hard":
            m = max(4, int(round(rng.integers(6, 13) * c / fps)))
            s, e = cut - m // 2, cut - m // 2 + m
            fits = s - clean_start[k] >= min_clean and clean_end[k + 1] - e >= min_clean
            if fits:
                transitions.append(Transition(kind, s, e))
                clean_end[k] = s
                clean_start[k + 1] = e
                continue
        transitions.append(Transition("hard", cut, cut))
        clean_start[k + 1] = cut
    return starts, transitions, clean_start, clean_end


def _background(
    rng: np.random.Generator, cfg: SynthConfig, recipe: tuple[str, ...], prev: Background | None
) -> Background:
    layouts = set(LAYOUTS)
    for cls in recipe:
        layouts &= set(CLASS_LAYOUTS[cls])
    if prev is not None and len(layouts) > 1:
        layouts.discard(prev.layout)
    layout = str(rng.choice(sorted(layouts)))
    surfaces = LAYOUT_SURFACES[layout]
    if "footsteps" in recipe:
        surfaces = tuple(s for s in surfaces if s in FOOTSTEP_SURFACES)
    surface = str(rng.choice(surfaces))
    h = cfg.height
    ground_y = (
        h
        * {
            "horizon": rng.uniform(0.38, 0.6),
            "wall": rng.uniform(0.55, 0.72),
            "interior": rng.uniform(0.5, 0.68),
            "texture": rng.uniform(0.6, 0.75),
        }[layout]
    )
    floor_top = ground_y
    if "water" in recipe:
        # water fills the ground; a bank below it when something must stand or land
        floor_top = ground_y + (h - ground_y) * (rng.uniform(0.45, 0.6) if len(recipe) > 1 else 1.0)
    # a cut must be a real change of picture: keep the mean tone away from the last shot's
    while True:
        brightness = float(rng.uniform(0.22, 0.78))
        if prev is None or abs(brightness - prev.brightness) >= 0.2:
            break
    r, g, b = (float(v) for v in rng.uniform(0.75, 1.25, 3))
    hue = (r, g, b)
    return Background(
        layout, surface, float(ground_y), float(floor_top), brightness, hue, int(rng.integers(2**32))
    )


def _recipe(rng: np.random.Generator, cfg: SynthConfig) -> tuple[str, ...]:
    mixes = [m for m in MIXES if m[0] in cfg.classes and m[1] in cfg.classes]
    if mixes and rng.random() < cfg.mixed_prob:
        return mixes[int(rng.integers(len(mixes)))]
    return (str(rng.choice(cfg.classes)),)


def plan_film(rng: np.random.Generator, cfg: SynthConfig) -> FilmPlan:
    """Draw a whole film: rates, cadence, shots, transitions and every source's motion."""
    from .sources import PLANNERS  # planners need the dataclasses above

    fps = int(rng.choice(cfg.fps_choices))
    c = fps
    if rng.random() < cfg.cadence_prob:
        c = int(rng.choice(CADENCES[fps]))
    starts, transitions, clean_start, clean_end = _timeline(rng, cfg, fps, c)
    n_pictures = int(starts[-1])
    shots: list[ShotPlan] = []
    prev_bg = None
    for k in range(len(starts) - 1):
        t_in = transitions[k - 1] if k > 0 else None
        t_out = transitions[k] if k < len(transitions) else None
        span_start = t_in.start if t_in else 0
        span_end = t_out.end if t_out else n_pictures
        gain = np.ones(span_end - span_start)
        if t_in and t_in.kind != "hard":
            gain[: t_in.end - t_in.start] = transition_gains(t_in.kind, t_in.end - t_in.start)[1]
        if t_out and t_out.kind != "hard":
            gain[t_out.start - span_start :] = transition_gains(t_out.kind, t_out.end - t_out.start)[0]
        recipe = _recipe(rng, cfg)
        bg = _background(rng, cfg, recipe, prev_bg)
        ctx = ShotContext(cfg.width, cfg.height, c, span_start, span_end, clean_start[k], clean_end[k], bg)
        sources: list[Source] = []
        for cls in recipe:
            sources.extend(PLANNERS[cls](rng, ctx))
        sources.sort(key=lambda s: s.layer)
        shots.append(
            ShotPlan(
                k,
                int(starts[k]),
                int(starts[k + 1]),
                span_start,
                span_end,
                clean_start[k],
                clean_end[k],
                bg,
                tuple(sources),
                gain,
                recipe,
            )
        )
        prev_bg = bg
    timing = Timing(fps=fps, content_fps=c, pictures=n_pictures)
    return FilmPlan(timing, cfg.width, cfg.height, tuple(shots), tuple(transitions))

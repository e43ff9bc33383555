"""Assembly of one foley-world film: plan -> pictures -> damage -> stream frames, audio, truth."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from . import captions
from .config import SynthConfig
from .damage import DamageParams, apply_damage
from .render import render_pictures
from .sound import engine_pitch, render_audio
from .timing import Timing
from .world import FilmPlan, ShotPlan, Source, plan_film

PEAK = 0.89  # -1 dBFS: every film is peak-normalised to this
FULL_SCALE = 1 << 23  # 24-bit PCM
SCHEMA = "talkie.foley/1"


@dataclass(frozen=True)
class Film:
    """A generated film: exactly what write_film stores, plus the frames before damage."""

    name: str
    seed: int
    fps: int
    frames: np.ndarray  # (N, H, W, 3) uint8: the stream frames as encoded
    clean_frames: np.ndarray  # (N, H, W, 3) uint8: the same frames before archival damage
    pcm: np.ndarray  # (samples,) int32 holding 24-bit values in [-2**23, 2**23)
    truth: dict[str, Any]  # the JSON record write_film stores
    plan: FilmPlan  # the world it was drawn from (not written; for tests and debugging)

    @property
    def audio(self) -> np.ndarray:
        """(samples,) float32 in [-1, 1): pcm / 2**23, what a 24-bit decoder returns."""
        return (self.pcm / FULL_SCALE).astype(np.float32)


def film_seed(collection_seed: int, index: int) -> int:
    """The seed of film ``index`` of a collection: independent streams per film."""
    if collection_seed < 0 or index < 0:
        raise ValueError(f"collection seed {collection_seed} and index {index} must be >= 0")
    return int(np.random.SeedSequence([int(collection_seed), int(index)]).generate_state(1)[0])


def film_name(collection_seed: int, index: int) -> str:
    return f"foley_s{int(collection_seed)}_{int(index):04d}"


def _cut_frames(plan: FilmPlan) -> list[int]:
    """The frame that opens each shot after the first: a hard cut's first frame, a fade's middle."""
    t = plan.timing
    cuts = []
    for tr in plan.transitions:
        s, e = int(t.frame_of_picture(tr.start)), int(t.frame_of_picture(tr.end))
        cuts.append(s if tr.kind == "hard" else s + (e - s) // 2)
    return cuts


def _per_frame(
    values: np.ndarray, shot: ShotPlan, t: Timing, f0: int, f1: int, ndigits: int = 3
) -> list[float]:
    """Per-picture span values sampled on the stream frames [f0, f1)."""
    pics = t.picture_of_frame(np.arange(f0, f1)) - shot.span_start
    return [round(float(v), ndigits) for v in values[pics]]


def _source_truth(src: Source, shot: ShotPlan, t: Timing, f0: int, f1: int, scale: float) -> dict[str, Any]:
    d: dict[str, Any] = {
        "class": src.cls,
        "fine": src.fine,
        "visual": src.visual,
        "kind": "onsets" if src.cls in ("impact", "footsteps") else "texture",
        "gain": round(src.gain * scale, 6),
    }
    if src.control is not None:
        d["level_per_frame"] = _per_frame(src.control, shot, t, f0, f1)
    if src.cls == "engine":
        d["pitch_hz_per_frame"] = _per_frame(engine_pitch(src), shot, t, f0, f1, 2)
    if src.cls == "fire":
        d["crackle_frames"] = sorted({int(t.frame_of_picture(h.picture)) for h in src.hits})
    if src.cls == "footsteps":
        d["step_s"] = round(src.params["step_s"], 4)
    return d


def build_truth(
    name: str,
    seed: int,
    plan: FilmPlan,
    scale: float,
    damage: DamageParams,
    flash_frames: list[int],
    caption_rng: np.random.Generator,
) -> dict[str, Any]:
    """The ground-truth record of a film (see README/the report for the schema)."""
    t = plan.timing
    N = t.frames
    cuts = _cut_frames(plan)
    bounds = [0] + cuts + [N]
    shots, events, shot_caps = [], [], []
    for k, shot in enumerate(plan.shots):
        f0, f1 = bounds[k], bounds[k + 1]
        cap = captions.caption_shot(caption_rng, shot)
        shot_caps.append(cap)
        shots.append(
            {
                "index": k,
                "start_frame": f0,
                "end_frame": f1,
                "start_s": round(f0 / t.fps, 6),
                "end_s": round(f1 / t.fps, 6),
                "classes": list(shot.recipe),
                "layout": shot.background.layout,
                "surface": shot.background.surface,
                "sources": [_source_truth(s, shot, t, f0, f1, scale) for s in shot.sources],
                "caption": cap,
            }
        )
        for src in shot.sources:
            if src.cls not in ("impact", "footsteps"):
                continue
            for h in src.hits:
                fr = int(t.frame_of_picture(h.picture))
                ev = {
                    "time_s": round(fr / t.fps, 6),
                    "frame": fr,
                    "sample": int(t.sample_of_frame(fr)),
                    "shot": k,
                    "class": src.cls,
                    "fine": src.fine,
                    "gain": round(src.gain * h.strength * scale, 6),
                    "x": round(h.x, 2),
                    "y": round(h.y, 2),
                }
                if src.cls == "impact":
                    ev["object"] = src.visual
                events.append(ev)
    events.sort(key=lambda e: (e["frame"], e["class"], e["x"]))
    transitions = []
    for tr, cut in zip(plan.transitions, cuts):
        s, e = int(t.frame_of_picture(tr.start)), int(t.frame_of_picture(tr.end))
        transitions.append({"kind": tr.kind, "start_frame": s, "end_frame": e, "cut_frame": cut})
    dup_pictures = t.picture_of_frame(np.arange(N))
    flash_stream = sorted(int(i) for i in np.flatnonzero(np.isin(dup_pictures, flash_frames)))
    return {
        "schema": SCHEMA,
        "name": name,
        "seed": int(seed),
        "fps": t.fps,
        "frames": N,
        "width": plan.width,
        "height": plan.height,
        "duration_s": round(N / t.fps, 6),
        "sample_rate": t.sample_rate,
        "samples": t.samples,
        "pictures": t.pictures,
        "cadence": t.cadence(),
        "duplicated_frames": t.duplicated_frames(),
        "cuts_at_frames": cuts,
        "transitions": transitions,
        "shots": shots,
        "events": events,
        "damage": {
            **damage.to_dict(),
            "flash_frames": flash_stream,
            "applied_to": "pictures before cadence duplication (repeated frames stay identical)",
        },
        "caption": captions.caption_film(shot_caps),
        "audio_scale": round(scale, 9),
    }


def make_film(seed: int, config: SynthConfig | None = None, name: str | None = None) -> Film:
    """Generate one film from ``seed``: same seed and config give the same frames, audio and truth.

    The world, the damage and the captions draw from separate streams of the seed, so fixing the
    damage strength leaves the scene itself unchanged.
    """
    cfg = config or SynthConfig()
    seed = int(seed)
    if seed < 0:
        raise ValueError(f"seed={seed}: need an integer >= 0")
    world_rng = np.random.default_rng([seed, 0])
    damage_rng = np.random.default_rng([seed, 1])
    caption_rng = np.random.default_rng([seed, 2])
    plan = plan_film(world_rng, cfg)
    pictures = render_pictures(plan)  # (P, H, W, 3) uint8
    if cfg.damage is None:
        strength = 0.0 if damage_rng.random() < cfg.clean_prob else float(damage_rng.uniform(0.2, 1.0))
    else:
        strength = float(cfg.damage)
    params = DamageParams.draw(damage_rng, strength)
    damaged, log = apply_damage(pictures, params, damage_rng)
    t = plan.timing
    which = t.picture_of_frame(np.arange(t.frames))
    mix = render_audio(plan)
    peak = float(np.abs(mix).max())
    scale = PEAK / peak if peak > 0 else 1.0
    pcm = np.clip(np.rint(mix * scale * FULL_SCALE), -FULL_SCALE, FULL_SCALE - 1).astype(np.int32)
    name = name or f"foley_{seed}"
    truth = build_truth(name, seed, plan, scale, params, list(log.flash_frames), caption_rng)
    # pictures that repeat the one before because nothing in view moved (not the cadence)
    same = np.flatnonzero((pictures[1:] == pictures[:-1]).all(axis=(1, 2, 3))) + 1
    truth["static_frames"] = [int(i) for i in t.frame_of_picture(same)]
    return Film(name, seed, t.fps, damaged[which], pictures[which], pcm, truth, plan)

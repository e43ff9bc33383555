"""Generation units: one take of one scene, its windows, its seed, its prompts and its key.

    ShardedFilm --plan_film--> FilmPlan(film, units, scene prompts)

A ``Unit`` is the restore job's unit of durable progress (docs/design.md, "Durable progress"):
its windows are generated together and blended, its 48 kHz stem is written to
``OUTPUT/audio/<film_id>/<unit_key>.flac`` and then its ledger object to
``OUTPUT/ledger/<film_id>/<unit_key>.json`` (``transforms.layout``, ``transforms.ledger``). Only
these small records travel between stages; frames and audio exist only in the step that needs them.

Keys (docs/design.md, Contracts, "Keys"). A unit's key is the first 16 hex digits of the SHA-256 of a
canonical JSON of everything that decides its audio: the film's content hash, its exact time
range (PTS and time base), its effective prompts, take and seed, the checkpoint's SHA-256,
steps, text and video guidance, sampler, vocoder, window and overlap. A film cut's key hashes
the unit keys of the takes it uses with the assembly settings, and the film's score settings and
cue sheet when the score sounds in one of its scenes (``transforms.score``).

Seeds. Take ``k`` of scene ``i`` draws from a seed derived from (film content hash, i, k); a row
that gives ``seed`` replaces the content hash as the source, so a re-encoded copy of a film can
reproduce the same noise. Window ``w`` of a unit draws its noise from a seed derived from the
unit's seed and ``w``, so a window's audio never depends on what it was batched with.

Prompts layer: command-line defaults < manifest row < per-scene override. An override names its
scene by ``index`` or by a time range; a range override applies to the scenes whose midpoint it
holds (several such ranges: the one overlapping the scene most, then the first in the row), and
an index override beats a range override. A positive
prompt left unset everywhere is "" (text-free); an unset negative prompt is the checkpoint's
default (``SamplerConfig.negative_prompt``); "" means none.

Windows. A scene of duration D is sampled at the model's ``fps`` from its first frame
(``K = ceil(D * fps)`` frames, as ``media.decode.decode_range`` samples) and cut into windows of
``video_frames`` frames every ``stride`` frames (window minus overlap) until a window reaches the
scene's end (``media.blend.window_starts``); frames past the end are padded and audio past it is
dropped. Window starts are whole model frames, so each window's audio starts at an exact
model-rate sample and neighbours share exactly the overlap.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from model.config import SAMPLERS, ModelConfig
from transforms.checks import is_number, is_whole
from transforms.failures import redacted_repr
from transforms.manifest import MAX_SEED, MAX_TAKES, FilmJob, SceneOverride
from transforms.shard import ShardedFilm

OUTPUT_RATE = 48000  # docs/design.md, "Time": output audio is 48 kHz mono 24-bit FLAC
KEY_HEX = 16
UNIT_KEY_VERSION = "talkie.unit/1"
CUT_KEY_VERSION = "talkie.cut/1"
SEED_VERSION = "talkie.seed/1"


# ----------------------------------------------------------------------------- run settings


@dataclass(frozen=True)
class GenerationSettings:
    """Run-wide generation settings: what enters every unit key beside the unit's own fields.

    ``checkpoint`` is the URI the workers load (None: the shipped default); ``checkpoint_sha256``
    and ``config`` were read from it when the job started, and the model handler checks that
    the checkpoint it loads has the same SHA-256.
    """

    checkpoint: str | None
    checkpoint_sha256: str
    config: ModelConfig
    steps: int
    text_guidance: float
    video_guidance: float
    negative_guidance: float
    sampler: str
    vocoder: str  # the vocoder's ``name``, e.g. "vocos(sha256=...)" or "griffin-lim(iterations=64,...)"
    vocoder_rate: int  # the vocoder's output rate: generated windows are blended at this rate
    takes: int = 1  # the command-line default; a row's ``takes`` wins
    positive_prompt: str | None = None  # command-line defaults; a row's prompts win
    negative_prompt: str | None = None

    def __post_init__(self) -> None:
        if not is_whole(self.steps) or self.steps < 1:
            raise ValueError(f"steps {self.steps!r} must be a whole number >= 1")
        for name in ("text_guidance", "video_guidance", "negative_guidance"):
            value = getattr(self, name)
            if not is_number(value) or not 0 <= value < math.inf:
                raise ValueError(f"{name} {value!r} must be a finite number >= 0")
            object.__setattr__(self, name, float(value))
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler {self.sampler!r} is not accepted; accepted samplers are {SAMPLERS}")
        if not is_whole(self.vocoder_rate) or self.vocoder_rate < 1:
            raise ValueError(f"vocoder_rate {self.vocoder_rate!r} must be a whole number of Hz >= 1")
        if not is_whole(self.takes) or not 1 <= self.takes <= MAX_TAKES:
            raise ValueError(f"takes {self.takes!r} must be a whole number from 1 to {MAX_TAKES}")

    @property
    def window_frames(self) -> int:
        """Video frames per window at the model's fps."""
        return self.config.video_frames

    @property
    def stride_frames(self) -> int:
        """Video frames from one window's start to the next's (window minus overlap), at least 1."""
        return max(1, math.floor(Fraction(str(self.config.window.stride_s)) * self.config.video.fps))

    def provenance_tags(self) -> dict[str, str]:
        """The run-wide settings as FLAC/MKV tags, for stems and film tracks alike."""
        return {
            "TALKIE_CHECKPOINT_SHA256": self.checkpoint_sha256,
            "TALKIE_STEPS": str(self.steps),
            "TALKIE_TEXT_GUIDANCE": repr(self.text_guidance),
            "TALKIE_VIDEO_GUIDANCE": repr(self.video_guidance),
            "TALKIE_NEGATIVE_GUIDANCE": repr(self.negative_guidance),
            "TALKIE_SAMPLER": self.sampler,
            "TALKIE_VOCODER": self.vocoder,
        }

    def key_fields(self) -> dict[str, Any]:
        """The run-wide part of every unit key (docs/design.md "Keys"), also recorded in each ledger
        object."""
        window = self.config.window
        return {
            "checkpoint_sha256": self.checkpoint_sha256,
            "steps": self.steps,
            "text_guidance": self.text_guidance,
            "video_guidance": self.video_guidance,
            "negative_guidance": self.negative_guidance,
            "sampler": self.sampler,
            "vocoder": self.vocoder,
            "window_s": window.window_s,
            "overlap_s": window.overlap_s,
        }


@dataclass(frozen=True)
class CheckpointInfo:
    """What the launcher reads from a checkpoint before building the pipeline."""

    uri: str | None  # None: the shipped default
    path: str  # what was read (the default's local path when ``uri`` is None)
    sha256: str
    config: ModelConfig


def describe_checkpoint(uri: str | None) -> CheckpointInfo:
    """Reads and checks a checkpoint (``model.checkpoint.load_checkpoint``): its SHA-256 and config.

    ``uri=None`` names the shipped default, ``model/weights/tiny.safetensors``; raises
    FileNotFoundError when it (or ``uri``) does not exist, ValueError when it is not a Talkie
    checkpoint. Imports torch (through model.checkpoint) on first use only.
    """
    from model.checkpoint import load_checkpoint
    from model.generate import DEFAULT_CHECKPOINT

    path = str(DEFAULT_CHECKPOINT) if uri is None else uri
    if uri is None and not DEFAULT_CHECKPOINT.exists():
        raise FileNotFoundError(
            f"the shipped default checkpoint {DEFAULT_CHECKPOINT} does not exist (it is not trained "
            "yet); pass --checkpoint PATH_OR_URI of a .safetensors checkpoint"
        )
    loaded = load_checkpoint(path)
    return CheckpointInfo(uri=uri, path=path, sha256=loaded.sha256, config=loaded.config)


def vocoder_fields(config: ModelConfig, choice: str = "auto") -> dict[str, Any]:
    """``GenerationSettings``' ``vocoder`` (name) and ``vocoder_rate`` for the vocoder ``choice``
    (``model.vocoders.VOCODER_CHOICES``) builds for ``config``; ValueError for a bad choice."""
    from model.vocoders import build_vocoder

    vocoder = build_vocoder(choice, config.audio)
    return {"vocoder": vocoder.name, "vocoder_rate": vocoder.sample_rate}


# ----------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Window:
    """One model window of a unit: frames ``[start_frame, start_frame + window_frames)`` of the
    scene at the model's fps, audio from model-rate sample ``start_sample`` of the scene."""

    index: int
    start_frame: int
    start_sample: int
    seed: int


@dataclass(frozen=True)
class Unit:
    """One take of one scene: what to generate, where its output goes, and its key."""

    key: str
    film_id: str
    uri: str  # the film's video, absolute path or URI
    content_sha256: str
    scene_index: int
    take: int  # 0-based
    seed: int
    time_base: str  # e.g. "1/12288"
    first_pts: int  # the film's first frame: time 0 of docs/design.md's "Time"
    start_pts: int
    end_pts: int  # exclusive
    start_s: float  # convenience; the exact times are ``start_time`` and ``end_time``
    end_s: float
    positive_prompt: str
    negative_prompt: str  # concrete: "" means none
    frames: int  # K: the scene's frames at the model's fps
    samples: int  # the scene's length in model-rate samples
    windows: tuple[Window, ...]

    __repr__ = redacted_repr  # uri may carry user-info or a signed URL's token

    @property
    def start_time(self) -> Fraction:
        """Seconds from the film's first frame to the scene's, exact."""
        return Fraction(self.start_pts - self.first_pts) * Fraction(self.time_base)

    @property
    def end_time(self) -> Fraction:
        return Fraction(self.end_pts - self.first_pts) * Fraction(self.time_base)

    @property
    def scene_id(self) -> tuple[str, int]:
        return (self.film_id, self.scene_index)

    @property
    def output_samples(self) -> int:
        """The scene's 48 kHz samples: round(t1 * 48000) - round(t0 * 48000)."""
        start, end = output_sample_range(self.start_time, self.end_time)
        return end - start


@dataclass(frozen=True)
class ScenePrompts:
    """The effective prompts of one scene after layering."""

    positive_prompt: str
    negative_prompt: str


@dataclass(frozen=True)
class FilmPlan:
    """A film as the restore job will generate it: its scenes' prompts and every unit, in
    (scene, take) order."""

    film: ShardedFilm
    prompts: tuple[ScenePrompts, ...]  # one per scene
    units: tuple[Unit, ...]

    @property
    def film_id(self) -> str:
        return self.film.film_id

    @property
    def takes(self) -> int:
        return len(self.units) // max(1, len(self.film.scenes))


@dataclass(frozen=True)
class Take:
    """A finished unit: its published 48 kHz stem and what its ledger object records."""

    unit: Unit
    flac_uri: str
    flac_sha256: str
    sync_score: float | None
    generated: bool  # True: generated by this run; False: found in the ledger and skipped
    # The picture's motion onsets (seconds from the scene's start, ``media.sync.motion_onsets`` of
    # the frames the unit was generated from); None where the ledger object predates them.
    motion_onsets_s: tuple[float, ...] | None = None


# ----------------------------------------------------------------------------- pure functions


def output_sample_range(start: Fraction, end: Fraction, rate: int = OUTPUT_RATE) -> tuple[int, int]:
    """``(round(start * rate), round(end * rate))`` from exact seconds (Python's round: half to even)."""
    return round(Fraction(start) * rate), round(Fraction(end) * rate)


def choose_override(
    overrides: Sequence[SceneOverride], index: int, start_s: float, end_s: float
) -> SceneOverride | None:
    """The override for scene ``index`` spanning ``[start_s, end_s)``: the one naming its index,
    else, among the time-range overrides whose ``[start_s, end_s)`` holds the scene's midpoint,
    the one that overlaps the scene the most (the first of equals), else None.

    The midpoint rule keeps a range that only grazes a scene (a cut found a frame away from
    where the manifest put it) from claiming that scene.
    """
    for override in overrides:
        if override.index == index:
            return override
    middle = (start_s + end_s) / 2
    best, best_overlap = None, 0.0
    for override in overrides:
        if override.index is not None or override.start_s is None or override.end_s is None:
            continue
        if not override.start_s <= middle < override.end_s:
            continue
        overlap = min(end_s, override.end_s) - max(start_s, override.start_s)
        if overlap > best_overlap:
            best, best_overlap = override, overlap
    return best


def effective_prompts(
    job: FilmJob,
    index: int,
    start_s: float,
    end_s: float,
    *,
    default_positive: str | None,
    default_negative: str | None,
    checkpoint_negative: str,
) -> ScenePrompts:
    """Scene ``index``'s prompts: override > row > command line > ("" / the checkpoint's default)."""
    return layered_prompts(
        choose_override(job.scenes, index, start_s, end_s),
        job,
        default_positive=default_positive,
        default_negative=default_negative,
        checkpoint_negative=checkpoint_negative,
    )


def layered_prompts(
    override: SceneOverride | None,
    job: FilmJob,
    *,
    default_positive: str | None,
    default_negative: str | None,
    checkpoint_negative: str,
) -> ScenePrompts:
    """The prompts of a scene that ``override`` (or None) applies to: override > row > command line
    > ("" / the checkpoint's default). ``talkie plan`` layers every override of a row this way."""
    positive = _first_given(
        override.positive_prompt if override else None, job.positive_prompt, default_positive
    )
    negative = _first_given(
        override.negative_prompt if override else None, job.negative_prompt, default_negative
    )
    return ScenePrompts(
        positive_prompt="" if positive is None else positive,
        negative_prompt=checkpoint_negative if negative is None else negative,
    )


def _first_given(*values: str | None) -> str | None:
    for value in values:
        if value is not None:
            return value
    return None


def _hash_int(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big") & MAX_SEED


def derive_seed(content_sha256: str, scene_index: int, take: int, row_seed: int | None = None) -> int:
    """The seed of take ``take`` of scene ``scene_index``, in [0, 2**63 - 1].

    From (film content hash, scene, take); a row's ``seed`` replaces the content hash.
    """
    source = f"content={content_sha256}" if row_seed is None else f"seed={int(row_seed)}"
    return _hash_int(f"{SEED_VERSION}:{source}:scene={scene_index}:take={take}")


def window_seed(unit_seed: int, window: int) -> int:
    """The noise seed of window ``window`` of a unit whose seed is ``unit_seed``."""
    return _hash_int(f"{SEED_VERSION}:unit={unit_seed}:window={window}")


def model_frames(duration: Fraction, fps: int) -> int:
    """Frames of a span of ``duration`` seconds sampled at ``fps`` from its start: ceil, at least 1."""
    return max(1, math.ceil(Fraction(duration) * fps))


def window_start_frames(frames: int, window: int, stride: int) -> tuple[int, ...]:
    """Start frames of the windows over ``frames`` frames: 0, stride, 2*stride, ... until one
    reaches the end (``media.blend.window_starts``); the last may run past it (its frames are
    padded, its audio past the scene dropped)."""
    from media.blend import window_starts

    if frames < 1:
        raise ValueError(f"frames={frames}: a scene has at least one frame")
    return tuple(window_starts(frames, window, stride))


def samples_at(duration: Fraction, rate: int) -> int:
    """A scene's length in samples at ``rate``: round(duration * rate), at least 1."""
    return max(1, round(Fraction(duration) * rate))


def window_start_sample(start_frame: int, fps: int, rate: int) -> int:
    """The sample at ``rate`` where a window starting at model frame ``start_frame`` begins."""
    return round(Fraction(start_frame * rate, fps))


def plan_unit_windows(
    unit_seed: int, duration: Fraction, config: ModelConfig, stride_frames: int
) -> tuple[int, int, tuple[Window, ...]]:
    """(frames K, model-rate samples, windows) of a scene of ``duration`` seconds."""
    fps, rate = config.video.fps, config.audio.sample_rate
    frames = model_frames(duration, fps)
    samples = samples_at(duration, rate)
    starts = window_start_frames(frames, config.video_frames, stride_frames)
    windows = tuple(
        Window(
            index=i,
            start_frame=f,
            start_sample=window_start_sample(f, fps, rate),
            seed=window_seed(unit_seed, i),
        )
        for i, f in enumerate(starts)
    )
    return frames, samples, windows


def _key(payload: dict[str, Any]) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:KEY_HEX]


def unit_key(
    *,
    content_sha256: str,
    time_base: str,
    start_pts: int,
    end_pts: int,
    positive_prompt: str,
    negative_prompt: str,
    take: int,
    seed: int,
    settings: GenerationSettings,
) -> str:
    """docs/design.md's unit key: SHA-256 (first 16 hex) of the canonical JSON of the unit's inputs."""
    return _key(
        {
            "version": UNIT_KEY_VERSION,
            "content_sha256": content_sha256,
            "time_base": time_base,
            "start_pts": int(start_pts),
            "end_pts": int(end_pts),
            "positive_prompt": positive_prompt,
            "negative_prompt": negative_prompt,
            "take": int(take),
            "seed": int(seed),
            **settings.key_fields(),
        }
    )


def cut_key(
    unit_keys: Sequence[str],
    *,
    crossfade_samples: int,
    target_lufs: float,
    max_true_peak_dbtp: float,
    score: dict[str, Any] | None = None,
) -> str:
    """docs/design.md's cut key: the unit keys of the takes a film cut uses (in scene order) and the
    assembly settings, plus the film's score (``transforms.score.score_key_part``) when one of its
    scenes has music. A cut without music keeps the key it had before the score existed."""
    payload: dict[str, Any] = {
        "version": CUT_KEY_VERSION,
        "units": list(unit_keys),
        "crossfade_samples": int(crossfade_samples),
        "target_lufs": float(target_lufs),
        "max_true_peak_dbtp": float(max_true_peak_dbtp),
    }
    if score is not None:
        payload["score"] = score
    return _key(payload)


def plan_film(film: ShardedFilm, settings: GenerationSettings) -> FilmPlan:
    """Every unit of ``film``: ``takes`` (the row's, else the command line's) per scene."""
    job, probe = film.job, film.probe
    takes = job.takes if job.takes is not None else settings.takes
    time_base = Fraction(probe.time_base)
    prompts, units = [], []
    for scene in film.scenes:
        scene_prompts = effective_prompts(
            job,
            scene.index,
            scene.start_s,
            scene.end_s,
            default_positive=settings.positive_prompt,
            default_negative=settings.negative_prompt,
            checkpoint_negative=settings.config.sampler.negative_prompt,
        )
        prompts.append(scene_prompts)
        duration = Fraction(scene.end_pts - scene.start_pts) * time_base
        for take in range(takes):
            seed = derive_seed(probe.content_sha256, scene.index, take, job.seed)
            frames, samples, windows = plan_unit_windows(
                seed, duration, settings.config, settings.stride_frames
            )
            key = unit_key(
                content_sha256=probe.content_sha256,
                time_base=probe.time_base,
                start_pts=scene.start_pts,
                end_pts=scene.end_pts,
                positive_prompt=scene_prompts.positive_prompt,
                negative_prompt=scene_prompts.negative_prompt,
                take=take,
                seed=seed,
                settings=settings,
            )
            units.append(
                Unit(
                    key=key,
                    film_id=film.film_id,
                    uri=job.video_input,
                    content_sha256=probe.content_sha256,
                    scene_index=scene.index,
                    take=take,
                    seed=seed,
                    time_base=probe.time_base,
                    first_pts=probe.first_pts,
                    start_pts=scene.start_pts,
                    end_pts=scene.end_pts,
                    start_s=scene.start_s,
                    end_s=scene.end_s,
                    positive_prompt=scene_prompts.positive_prompt,
                    negative_prompt=scene_prompts.negative_prompt,
                    frames=frames,
                    samples=samples,
                    windows=windows,
                )
            )
    return FilmPlan(film=film, prompts=tuple(prompts), units=tuple(units))

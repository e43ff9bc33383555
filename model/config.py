"""The model's configuration: frozen dataclasses, named presets, strict JSON, a stable hash.

A checkpoint carries its ``ModelConfig`` (docs/design.md, "The checkpoint owns"): sample rate, mel
settings, window and overlap, video fps and frame size all come from it, never from globals.

Time grids. Audio frame k of a window is the STFT frame centred on sample ``k * hop_length``
(see ``model.mel``), so a window of ``window_samples`` samples has exactly
``window_samples // hop_length`` mel frames when the hop divides it, which ``ModelConfig``
requires; the overlap is hop-aligned too, so neighbouring windows share whole mel frames.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import typing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

SAMPLERS = ("euler", "heun")
TEXT_EMBEDDING_DIM = 384  # all-MiniLM-L6-v2 sentence and token embeddings
_D = TypeVar("_D", bound="DataclassInstance")  # a config dataclass built by _strict_build


# ----------------------------------------------------------------------------- field checks


def _normalise_fields(obj: Any) -> None:
    """Check each field's type against its annotation; turn ints given for floats into floats.

    Normalising 0 -> 0.0 keeps ``to_json`` (and so ``config_hash``) identical for equal configs.
    """
    hints = typing.get_type_hints(type(obj))
    for field in dataclasses.fields(obj):
        value, kind = getattr(obj, field.name), hints[field.name]
        where = f"{type(obj).__name__}.{field.name}={value!r}"
        if kind is bool:
            if not isinstance(value, bool):
                raise TypeError(f"{where}: expected true or false")
        elif kind is int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{where}: expected an integer")
        elif kind is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"{where}: expected a number")
            if not math.isfinite(value):
                raise ValueError(f"{where}: expected a finite number")
            object.__setattr__(obj, field.name, float(value))
        elif kind is str:
            if not isinstance(value, str):
                raise TypeError(f"{where}: expected a string")
        elif isinstance(kind, type) and dataclasses.is_dataclass(kind):
            if not isinstance(value, kind):
                raise TypeError(f"{where}: expected a {kind.__name__}")
        else:  # a field type this module does not know how to check or serialise
            raise TypeError(f"{where}: unsupported field type {kind!r}")


def _require_positive(obj: Any, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if not value > 0:
            raise ValueError(f"{type(obj).__name__}.{name}={value!r}: must be > 0")


def _require_probability(obj: Any, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if not 0.0 <= value < 1.0:
            raise ValueError(f"{type(obj).__name__}.{name}={value!r}: must be a probability in [0, 1)")


def _whole(value: float, what: str) -> int:
    """``value`` as an int when it is one (to 1e-9), else an error naming ``what``."""
    rounded = round(value)
    if abs(value - rounded) > 1e-9:
        raise ValueError(f"{what} is {value!r}, not a whole number")
    return int(rounded)


# ----------------------------------------------------------------------------- the groups


@dataclass(frozen=True)
class AudioConfig:
    """Model-rate audio and its log-mel representation (see ``model.mel``)."""

    sample_rate: int = 16000
    n_fft: int = 1024
    hop_length: int = 250
    win_length: int = 1024
    n_mels: int = 64
    f_min: float = 0.0
    f_max: float = 8000.0
    log_floor: float = 1e-5  # log(max(magnitude, floor)): the floor is the silence level

    def __post_init__(self) -> None:
        _normalise_fields(self)
        _require_positive(self, "sample_rate", "n_fft", "hop_length", "win_length", "n_mels", "log_floor")
        if self.win_length > self.n_fft:
            raise ValueError(f"AudioConfig.win_length={self.win_length}: must be <= n_fft={self.n_fft}")
        if self.n_fft % 2:
            raise ValueError(f"AudioConfig.n_fft={self.n_fft}: must be even")
        if 2 * self.hop_length > self.win_length:
            raise ValueError(
                f"AudioConfig.hop_length={self.hop_length}: must be <= win_length // 2 = "
                f"{self.win_length // 2} (windows overlapping by half or more), or the inverse STFT has gaps"
            )
        nyquist = self.sample_rate / 2
        if not 0.0 <= self.f_min < self.f_max <= nyquist:
            raise ValueError(
                f"AudioConfig f_min={self.f_min}, f_max={self.f_max}: need 0 <= f_min < f_max <= {nyquist} "
                f"(Nyquist at {self.sample_rate} Hz)"
            )
        if self.n_mels > self.n_fft // 2 + 1:
            raise ValueError(
                f"AudioConfig.n_mels={self.n_mels}: must be <= n_fft // 2 + 1 = {self.n_fft // 2 + 1}"
            )

    @property
    def n_freqs(self) -> int:
        """Rows of the one-sided STFT."""
        return self.n_fft // 2 + 1

    @property
    def frame_rate(self) -> float:
        """Mel frames per second."""
        return self.sample_rate / self.hop_length

    def num_frames(self, samples: int) -> int:
        """Mel frames of ``samples`` samples: ceil(samples / hop), frame k centred on sample k * hop."""
        return -(-samples // self.hop_length)


@dataclass(frozen=True)
class VideoConfig:
    """Frames as the visual encoder sees them, resampled to ``fps`` and resized to height x width."""

    fps: int = 16
    height: int = 64
    width: int = 64
    grayscale: bool = True
    frame_differences: bool = True  # add the signed changes from the previous and to the next frame

    def __post_init__(self) -> None:
        _normalise_fields(self)
        _require_positive(self, "fps", "height", "width")

    @property
    def channels(self) -> int:
        """Input channels per frame: 1 or 3, tripled when the two frame differences are stacked on."""
        return (1 if self.grayscale else 3) * (3 if self.frame_differences else 1)


@dataclass(frozen=True)
class NetworkConfig:
    """Shape of the denoiser (a DiT over mel patches, docs/design.md "Conditioning")."""

    width: int = 128
    depth: int = 8
    heads: int = 4
    mlp_ratio: float = 4.0
    patch_frames: int = 2  # mel frames per audio token
    text_dim: int = TEXT_EMBEDDING_DIM
    text_dropout: float = 0.1  # training drops text and video separately so both guidances work
    video_dropout: float = 0.1
    event_threshold: float = 0.5  # the timing head marks an event where its probability peaks above this

    def __post_init__(self) -> None:
        _normalise_fields(self)
        _require_positive(self, "width", "depth", "heads", "mlp_ratio", "patch_frames", "text_dim")
        _require_probability(self, "text_dropout", "video_dropout")
        if not 0.0 < self.event_threshold < 1.0:
            raise ValueError(f"NetworkConfig.event_threshold={self.event_threshold}: must be in (0, 1)")
        if self.width % self.heads:
            raise ValueError(f"NetworkConfig.heads={self.heads}: must divide width={self.width}")


@dataclass(frozen=True)
class WindowConfig:
    """How a scene is cut into model windows; neighbouring windows share ``overlap_s`` seconds."""

    window_s: float = 4.0
    overlap_s: float = 1.0

    def __post_init__(self) -> None:
        _normalise_fields(self)
        _require_positive(self, "window_s")
        if not 0.0 <= self.overlap_s < self.window_s:
            raise ValueError(
                f"WindowConfig.overlap_s={self.overlap_s}: need 0 <= overlap_s < window_s={self.window_s}"
            )

    @property
    def stride_s(self) -> float:
        return self.window_s - self.overlap_s


@dataclass(frozen=True)
class SamplerConfig:
    """Default generation settings; a run may override each (they are part of every unit key)."""

    sampler: str = "euler"
    steps: int = 20
    shift: float = 1.0  # timestep shift of ``model.sampling.time_grid``; 1 is a uniform grid
    text_guidance: float = 2.0  # 1 means no guidance (``model.sampling.guided_velocity``)
    video_guidance: float = 2.0
    negative_guidance: float = 2.0  # the negative prompt's own weight; 0 turns it off
    negative_prompt: str = ""  # a run's default negative prompt; "" means none

    def __post_init__(self) -> None:
        _normalise_fields(self)
        if self.sampler not in SAMPLERS:
            raise ValueError(f"SamplerConfig.sampler={self.sampler!r}: must be one of {SAMPLERS}")
        _require_positive(self, "steps", "shift")
        for name in ("text_guidance", "video_guidance", "negative_guidance"):
            if getattr(self, name) < 0:
                raise ValueError(f"SamplerConfig.{name}={getattr(self, name)}: must be >= 0")


@dataclass(frozen=True)
class ModelConfig:
    """Everything a checkpoint needs to be used: audio, video, network, windows, sampler defaults."""

    audio: AudioConfig = AudioConfig()
    video: VideoConfig = VideoConfig()
    network: NetworkConfig = NetworkConfig()
    window: WindowConfig = WindowConfig()
    sampler: SamplerConfig = SamplerConfig()

    def __post_init__(self) -> None:
        _normalise_fields(self)
        a, w = self.audio, self.window
        hop = a.hop_length
        window_samples = _whole(w.window_s * a.sample_rate, f"window_s={w.window_s} x {a.sample_rate} Hz")
        overlap_samples = _whole(w.overlap_s * a.sample_rate, f"overlap_s={w.overlap_s} x {a.sample_rate} Hz")
        if window_samples % hop or overlap_samples % hop:
            raise ValueError(
                f"window_s={w.window_s} ({window_samples} samples) and overlap_s={w.overlap_s} "
                f"({overlap_samples} samples) must both be multiples of hop_length={hop} samples"
            )
        if (window_samples // hop) % self.network.patch_frames:
            raise ValueError(
                f"a window has {window_samples // hop} mel frames, not a multiple of "
                f"patch_frames={self.network.patch_frames}"
            )
        _whole(w.window_s * self.video.fps, f"window_s={w.window_s} x fps={self.video.fps} (video frames)")

    # derived sizes ---------------------------------------------------------------------------

    @property
    def window_samples(self) -> int:
        return round(self.window.window_s * self.audio.sample_rate)

    @property
    def overlap_samples(self) -> int:
        return round(self.window.overlap_s * self.audio.sample_rate)

    @property
    def window_frames(self) -> int:
        """Mel frames per window."""
        return self.window_samples // self.audio.hop_length

    @property
    def window_tokens(self) -> int:
        """Audio tokens per window."""
        return self.window_frames // self.network.patch_frames

    @property
    def video_frames(self) -> int:
        """Video frames per window."""
        return round(self.window.window_s * self.video.fps)

    # JSON and hash ---------------------------------------------------------------------------

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return dataclasses.asdict(self)

    def to_json(self, *, indent: int | None = None) -> str:
        """Canonical JSON: keys sorted, so equal configs give equal text."""
        separators = (",", ": ") if indent else (",", ":")
        return json.dumps(self.to_dict(), sort_keys=True, indent=indent, separators=separators)

    @classmethod
    def from_dict(cls, data: Any) -> ModelConfig:
        """Strict: every group and field must be present, and nothing else."""
        return _strict_build(cls, data, "config")

    @classmethod
    def from_json(cls, text: str, *, upgrade: bool = False) -> ModelConfig:
        """``upgrade``: text written by earlier code gets the fields added since (``upgrade_config_dict``)."""
        data = config_dict_from_json(text)
        return cls.from_dict(upgrade_config_dict(data) if upgrade else data)

    def config_hash(self) -> str:
        """First 16 hex digits of the SHA-256 of the canonical JSON: stable across processes."""
        return config_dict_hash(self.to_dict())


def config_dict_from_json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"model config is not valid JSON: {e}") from None


def config_dict_hash(data: Any) -> str:
    """``ModelConfig.config_hash`` of a config as a JSON value, whatever code wrote it."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def upgrade_config_dict(data: Any) -> Any:
    """A config dict written by earlier code, with the fields added since filled in (in place).

    ``sampler.negative_guidance`` (added when the negative prompt got its own guidance weight)
    becomes ``text_guidance - 1``, the weight the negative prompt had when it replaced the null
    text, so an old checkpoint generates as it did. Anything else is left for ``from_dict`` to judge.
    """
    sampler = data.get("sampler") if isinstance(data, dict) else None
    if isinstance(sampler, dict) and "negative_guidance" not in sampler:
        text_guidance = sampler.get("text_guidance")
        if isinstance(text_guidance, (int, float)) and not isinstance(text_guidance, bool):
            sampler["negative_guidance"] = max(0.0, float(text_guidance) - 1.0)
    return data


def _strict_build(cls: type[_D], data: Any, where: str) -> _D:
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a JSON object for {cls.__name__}, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(names))
    missing = [n for n in names if n not in data]
    if unknown or missing:
        parts = []
        if unknown:
            parts.append("unknown keys " + ", ".join(f"{where}.{k}" for k in unknown))
        if missing:
            parts.append("missing keys " + ", ".join(f"{where}.{k}" for k in missing))
        raise ValueError(
            f"model config does not match {cls.__name__}: {'; '.join(parts)} (accepted: {names})"
        )
    kwargs = {}
    for name in names:
        kind, value = hints[name], data[name]
        nested = dataclasses.is_dataclass(kind)
        kwargs[name] = _strict_build(kind, value, f"{where}.{name}") if nested else value
    return cls(**kwargs)


# ----------------------------------------------------------------------------- presets


def _tiny() -> ModelConfig:
    # docs/design.md's calibration: width 128, 8 blocks, 64-bin log-mel at 16 kHz, patches of 2 frames,
    # 4 s windows, 64x64 frames. Hop 250 gives 64 mel frames a second: 4 per video frame at 16 fps.
    return ModelConfig(
        audio=AudioConfig(
            sample_rate=16000, n_fft=1024, hop_length=250, win_length=1024, n_mels=64, f_max=8000.0
        ),
        video=VideoConfig(fps=16, height=64, width=64),
        network=NetworkConfig(width=128, depth=8, heads=4, patch_frames=2),
        window=WindowConfig(window_s=4.0, overlap_s=1.0),
    )


def _base() -> ModelConfig:
    # For GPU training: 24 kHz, 100 mels to 12 kHz, 96 mel frames a second (4 per frame at 24 fps),
    # 8 s windows of 384 tokens, a 640-wide DiT of 14 blocks (about 128M parameters).
    return ModelConfig(
        audio=AudioConfig(
            sample_rate=24000, n_fft=1024, hop_length=250, win_length=1024, n_mels=100, f_max=12000.0
        ),
        video=VideoConfig(fps=24, height=96, width=96),
        network=NetworkConfig(width=640, depth=14, heads=10, patch_frames=2),
        window=WindowConfig(window_s=8.0, overlap_s=2.0),
    )


_PRESETS = {"tiny": _tiny, "base": _base}
PRESET_NAMES = tuple(_PRESETS)


def preset(name: str) -> ModelConfig:
    """The named preset: ``tiny`` (CPU-trainable, ~3M parameters) or ``base`` (GPU, ~128M)."""
    try:
        return _PRESETS[name]()
    except KeyError:
        raise ValueError(f"unknown model preset {name!r}: accepted presets are {PRESET_NAMES}") from None


# ----------------------------------------------------------------------------- parameter budget

TIMESTEP_FEATURES = 256  # sinusoidal timestep features fed to the timestep MLP


def estimated_parameters(config: ModelConfig) -> int:
    """The denoiser's parameter budget for this config, by formula (the visual encoder excluded).

    With width w, MLP hidden m = mlp_ratio * w, tokens of p = patch_frames * n_mels values:
    each block has self-attention (q, k, v, out: 4w^2 + 4w), cross-attention to text and video
    tokens (4w^2 + 4w), an MLP (2wm + m + w) and adaLN-Zero modulation from the conditioning
    vector (w -> 6w: 6w^2 + 6w, DiT, Peebles & Xie 2023, section 3.2). Around the blocks: patch
    in and out (2pw + p + w), the final adaLN (w -> 2w), the timestep MLP (256 -> w -> w), and the
    text projections for tokens and the pooled vector (2 (text_dim w + w)). Norms carry no
    parameters (adaLN provides scale and shift). The network issue owns the real count; this is
    the budget the presets are sized against.
    """
    n = config.network
    w, m = n.width, round(n.mlp_ratio * n.width)
    p = n.patch_frames * config.audio.n_mels
    block = (4 * w * w + 4 * w) * 2 + (2 * w * m + m + w) + (6 * w * w + 6 * w)
    outside = (
        (2 * p * w + p + w)
        + (w * 2 * w + 2 * w)
        + (TIMESTEP_FEATURES * w + w + w * w + w)
        + 2 * (n.text_dim * w + w)
    )
    return n.depth * block + outside

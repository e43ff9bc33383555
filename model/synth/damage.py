"""Archival damage for clips of frames: a pure numpy function of (frames, rng, strength).

    frames = degrade(frames, rng, strength)          # (T, H, W, 3) uint8 -> same shape/dtype
    params = DamageParams.draw(rng, strength)        # or fix the parameters yourself
    frames, log = apply_damage(frames, params, rng)  # log.flash_frames: the false-cut traps
    frames, repeated = hold_frames(frames, 16, 20)   # a lower picture rate by repeating frames

Strength 0 is the identity. Nothing here knows about the foley world, so the same code serves
on-the-fly training augmentation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from . import draw
from .timing import frame_of_picture, picture_of_frame

SEPIA = np.array([1.07, 0.94, 0.74], dtype=np.float32)


@dataclass(frozen=True)
class DamageParams:
    """Per-clip damage settings; amounts are fractions of full scale unless named in pixels."""

    strength: float = 0.0
    grain: float = 0.0  # std of per-pixel film grain
    flicker: float = 0.0  # std of per-frame brightness gain
    contrast: float = 0.0  # std of per-frame contrast gain
    scratch_rate: float = 0.0  # new vertical scratches per frame; each lasts several frames
    dust_rate: float = 0.0  # specks (and the odd hair) per frame, each on one frame only
    weave_px: float = 0.0  # std of the per-frame gate-weave translation, px
    vignette: float = 0.0  # darkening at the corners
    blur_px: float = 0.0  # Gaussian blur sigma, px
    monochrome: bool = False
    sepia: float = 0.0  # toning of a monochrome print, 0..1
    flash_prob: float = 0.0  # chance that a frame is a single bright flash (a false cut)

    @classmethod
    def draw(cls, rng: np.random.Generator, strength: float) -> DamageParams:
        """Random settings whose severity scales with ``strength`` in [0, 1]."""
        if not 0.0 <= strength <= 1.0:
            raise ValueError(f"damage strength {strength} is outside [0, 1]")
        s = float(strength)
        draws = rng.uniform(size=12)
        mono = bool(s > 0 and draws[9] < 0.35 + 0.65 * s)
        u = [float(v) for v in draws]
        return cls(
            strength=s,
            grain=s * (0.02 + 0.05 * u[0]),
            flicker=s * (0.02 + 0.08 * u[1]),
            contrast=s * 0.12 * u[2],
            scratch_rate=s * 0.35 * u[3],
            dust_rate=s * (0.2 + 2.8 * u[4]),
            weave_px=s * (0.2 + 1.3 * u[5]),
            vignette=s * (0.1 + 0.5 * u[6]),
            blur_px=s * 1.2 * u[7],
            monochrome=mono,
            sepia=0.3 + 0.7 * u[8] if mono and u[10] < 0.4 else 0.0,
            flash_prob=s * (0.002 + 0.013 * u[11]),
        )

    def is_identity(self) -> bool:
        return not self.monochrome and not any(
            getattr(self, k) > 0
            for k in (
                "grain",
                "flicker",
                "contrast",
                "scratch_rate",
                "dust_rate",
                "weave_px",
                "vignette",
                "blur_px",
                "flash_prob",
            )
        )

    def to_dict(self) -> dict[str, float | bool]:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class DamageLog:
    """What a damage pass did that a detector could mistake for content."""

    flash_frames: tuple[int, ...] = ()
    scratches: int = 0


def _ar1(rng: np.random.Generator, n: int, rho: float) -> np.ndarray:
    """(n,) unit-variance AR(1) noise: x_t = rho x_{t-1} + sqrt(1 - rho^2) e_t."""
    e = rng.standard_normal(n)
    x = np.empty(n)
    x[0] = e[0]
    k = np.sqrt(1 - rho * rho)
    for i in range(1, n):
        x[i] = rho * x[i - 1] + k * e[i]
    return x


def _blur(x: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur over H and W of (T, H, W, C); edges repeat."""
    r = int(np.ceil(2.5 * sigma))
    if r < 1:
        return x
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2).astype(np.float32)
    k /= k.sum()
    T, H, W = x.shape[:3]
    xp = np.pad(x, ((0, 0), (r, r), (0, 0), (0, 0)), mode="edge")
    y = k[0] * xp[:, 0:H]
    for j in range(1, k.size):
        y += k[j] * xp[:, j : j + H]
    yp = np.pad(y, ((0, 0), (0, 0), (r, r), (0, 0)), mode="edge")
    out: np.ndarray = k[0] * yp[:, :, 0:W]
    for j in range(1, k.size):
        out += k[j] * yp[:, :, j : j + W]
    return out


def _weave(x: np.ndarray, rng: np.random.Generator, px: float) -> np.ndarray:
    """Shift each frame by a small, slowly wandering whole-pixel offset; edges repeat."""
    T, H, W = x.shape[:3]
    dx = np.rint(px * _ar1(rng, T, 0.6)).astype(int)
    dy = np.rint(px * _ar1(rng, T, 0.6) * 0.7).astype(int)
    p = int(max(np.abs(dx).max(), np.abs(dy).max()))
    if p == 0:
        return x
    xp = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)), mode="edge")
    out = np.empty_like(x)
    for t in range(T):
        out[t] = xp[t, p - dy[t] : p - dy[t] + H, p - dx[t] : p - dx[t] + W]
    return out


def _scratches(x: np.ndarray, rng: np.random.Generator, rate: float) -> int:
    T, H, W = x.shape[:3]
    births = rng.poisson(rate, int(T))
    count = 0
    for t0 in np.flatnonzero(births):
        for _ in range(births[t0]):
            life = int(rng.integers(3, 16))
            xc = rng.uniform(0, W) + np.cumsum(rng.normal(0, 0.3, life))
            bright = rng.random() < 0.7
            a = rng.uniform(0.15, 0.5)
            y0 = 0 if rng.random() < 0.6 else int(rng.integers(0, H // 2))
            y1 = H if rng.random() < 0.6 else int(rng.integers(H // 2, H + 1))
            tone = 1.0 if bright else 0.05
            for k in range(min(life, T - t0)):
                col = int(xc[k])
                if 0 <= col < W:
                    seg = x[t0 + k, y0:y1, col]
                    seg += (tone - seg) * a * rng.uniform(0.7, 1.0)
            count += 1
    return count


def _dust(x: np.ndarray, rng: np.random.Generator, rate: float) -> None:
    T, H, W = x.shape[:3]
    n = rng.poisson(rate, T)
    t = np.repeat(np.arange(T), n)
    k = t.size
    if k == 0:
        return
    dark = rng.random(k) < 0.75
    tone = np.where(dark, 0.03, 0.97)[:, None] * np.ones(x.shape[3])
    r = rng.uniform(0.4, 2.0, k)
    draw.ellipses(
        x,
        t,
        rng.uniform(0, W, k),
        rng.uniform(0, H, k),
        r,
        r * rng.uniform(0.6, 1.4, k),
        tone,
        rng.uniform(0.5, 1.0, k),
    )
    hairs = rng.random(k) < 0.08  # now and then a hair: two short joined strokes
    if hairs.any():
        th, hx, hy = t[hairs], rng.uniform(0, W, hairs.sum()), rng.uniform(0, H, hairs.sum())
        ang = rng.uniform(0, np.pi, hairs.sum())
        L = rng.uniform(4, 12, hairs.sum())
        mx, my = hx + np.cos(ang) * L, hy + np.sin(ang) * L
        draw.segments(x, th, hx, hy, mx, my, 0.7, tone[hairs], 0.8)
        draw.segments(
            x, th, mx, my, mx + np.cos(ang + 0.8) * L, my + np.sin(ang + 0.8) * L, 0.7, tone[hairs], 0.8
        )


def apply_damage(
    frames: np.ndarray, params: DamageParams, rng: np.random.Generator
) -> tuple[np.ndarray, DamageLog]:
    """Damage a clip (T, H, W, 3) uint8 with fixed ``params``; returns new frames and a log."""
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be (T, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
    if params.is_identity() or frames.shape[0] == 0:
        return frames.copy(), DamageLog()
    T, H, W = frames.shape[:3]
    if params.monochrome:  # (T, H, W, 1) luma; toned back to RGB at the end
        x: np.ndarray = (frames @ np.array([0.299, 0.587, 0.114], dtype=np.float32))[..., None] / 255.0
    else:
        x = frames.astype(np.float32) / 255.0
    if params.blur_px > 0:
        x = _blur(x, params.blur_px)
    if params.weave_px > 0:
        x = _weave(x, rng, params.weave_px)
    scratches = _scratches(x, rng, params.scratch_rate) if params.scratch_rate > 0 else 0
    if params.dust_rate > 0:
        _dust(x, rng, params.dust_rate)
    if params.flicker > 0 or params.contrast > 0:
        gain = 1 + params.flicker * (0.5 * _ar1(rng, T, 0.5) + 0.87 * rng.standard_normal(T))
        con = 1 + params.contrast * _ar1(rng, T, 0.7)
        x = (x - 0.5) * con[:, None, None, None].astype(np.float32) + 0.5
        x *= gain[:, None, None, None].astype(np.float32)
    if params.vignette > 0:
        yy = (np.arange(H) + 0.5) / H - 0.5
        xx = (np.arange(W) + 0.5) / W - 0.5
        r2 = (yy[:, None] ** 2 + xx[None, :] ** 2) / 0.5
        x *= (1 - params.vignette * r2**1.5).astype(np.float32)[None, :, :, None]
    if params.grain > 0:
        g = rng.standard_normal((T, H, W), dtype=np.float32)
        lum = x[..., 0] if x.shape[3] == 1 else x.mean(axis=3)
        x += (params.grain * (0.5 + 2 * lum * (1 - lum)) * g)[..., None]
    flashes = np.flatnonzero(rng.random(T) < params.flash_prob)
    for t in flashes:
        f = rng.uniform(0.5, 0.9)
        x[t] = x[t] * (1 - f) + f
    if params.monochrome:
        x = x * (1 + params.sepia * (SEPIA - 1))
    out = np.clip(np.rint(x * 255), 0, 255).astype(np.uint8)
    return out, DamageLog(tuple(int(t) for t in flashes), scratches)


def degrade(frames: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Archival damage of a random kind and the given strength in [0, 1]; 0 returns a copy."""
    return apply_damage(frames, DamageParams.draw(rng, strength), rng)[0]


def hold_frames(frames: np.ndarray, content_fps: int, stream_fps: int) -> tuple[np.ndarray, list[int]]:
    """Lower a clip's picture rate to ``content_fps`` inside its ``stream_fps`` stream.

    Frame i becomes the first frame of its picture group, so every repeated frame is
    pixel-identical to the one before it. Returns (frames, indices of the repeated frames).
    """
    if not 0 < content_fps <= stream_fps:
        raise ValueError(f"content_fps={content_fps} must be in (0, stream_fps={stream_fps}]")
    i = np.arange(frames.shape[0])
    p = picture_of_frame(i, stream_fps, content_fps)
    src = frame_of_picture(p, stream_fps, content_fps)
    repeated = [int(k) for k in np.flatnonzero(np.diff(p) == 0) + 1]
    return frames[src], repeated

"""Anti-aliased drawing primitives, vectorised over many shapes and pictures at once.

Canvas: float32 (n, H, W, C) in [0, 1], C = 3 (colour) or 1 (grey). Coordinates are continuous
pixels: pixel (y, x) covers [x, x + 1) x [y, y + 1) and its centre is (x + 0.5, y + 0.5). Every
primitive takes 1-d arrays of equal length K (one entry per shape; scalars broadcast), builds a
small patch per shape and alpha-blends it into the canvas with one fancy-indexed write.
Overlapping shapes in one call do not composite with each other (the last written wins), so draw
overlapping parts in separate calls.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt


def _arrays(*xs: npt.ArrayLike) -> tuple[npt.NDArray[np.float64], ...]:
    return np.broadcast_arrays(*[np.atleast_1d(np.asarray(x, dtype=np.float64)) for x in xs])


def _colours(colour: npt.ArrayLike, k: int, channels: int) -> np.ndarray:
    c = np.asarray(colour, dtype=np.float32)
    return np.broadcast_to(c if c.ndim == 2 else c[None, :], (k, channels))


def blend(
    img: np.ndarray, t: np.ndarray, ys: np.ndarray, xs: np.ndarray, alpha: np.ndarray, colour: npt.ArrayLike
) -> None:
    """Blend ``colour`` into img[t, ys, xs] with weight ``alpha``; all (K, h, w); colour (K, C) or (C,)."""
    n, H, W, C = img.shape
    ok = (alpha > 1e-3) & (ys >= 0) & (ys < H) & (xs >= 0) & (xs < W) & (t >= 0) & (t < n)
    if not ok.any():
        return
    col = np.broadcast_to(
        _colours(colour, alpha.shape[0], C).reshape((alpha.shape[0],) + (1,) * (alpha.ndim - 1) + (C,)),
        alpha.shape + (C,),
    )[ok]
    tt, yy, xx = t[ok], ys[ok], xs[ok]
    a = alpha[ok].astype(np.float32)[:, None]
    img[tt, yy, xx] = img[tt, yy, xx] * (1 - a) + col * a


def _grid(
    ix0: np.ndarray, iy0: np.ndarray, h: int, w: int, t: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ys = iy0[:, None, None] + np.arange(h)[None, :, None]
    xs = ix0[:, None, None] + np.arange(w)[None, None, :]
    tt = np.broadcast_to(t[:, None, None], (len(t), h, w))
    return tt, np.broadcast_to(ys, (len(t), h, w)), np.broadcast_to(xs, (len(t), h, w))


def ellipses(
    img: np.ndarray,
    t: npt.ArrayLike,
    cx: npt.ArrayLike,
    cy: npt.ArrayLike,
    rx: npt.ArrayLike,
    ry: npt.ArrayLike,
    colour: npt.ArrayLike,
    alpha: npt.ArrayLike = 1.0,
) -> None:
    """Filled ellipses centred at (cx, cy) with radii (rx, ry)."""
    t, cx, cy, rx, ry, alpha = _arrays(t, cx, cy, rx, ry, alpha)
    if t.size == 0:
        return
    rx, ry = np.maximum(rx, 0.3), np.maximum(ry, 0.3)
    R = int(np.ceil(max(rx.max(), ry.max()))) + 1
    ix0 = np.floor(cx).astype(np.int64) - R
    iy0 = np.floor(cy).astype(np.int64) - R
    tt, ys, xs = _grid(ix0, iy0, 2 * R + 1, 2 * R + 1, t.astype(np.int64))
    dx = (xs + 0.5 - cx[:, None, None]) / rx[:, None, None]
    dy = (ys + 0.5 - cy[:, None, None]) / ry[:, None, None]
    edge = (1 - np.sqrt(dx * dx + dy * dy)) * np.minimum(rx, ry)[:, None, None]
    a = np.clip(edge + 0.5, 0, 1) * alpha[:, None, None]
    blend(img, tt, ys, xs, a, colour)


def rects(
    img: np.ndarray,
    t: npt.ArrayLike,
    x0: npt.ArrayLike,
    y0: npt.ArrayLike,
    x1: npt.ArrayLike,
    y1: npt.ArrayLike,
    colour: npt.ArrayLike,
    alpha: npt.ArrayLike = 1.0,
) -> None:
    """Axis-aligned rectangles [x0, x1) x [y0, y1) with fractional edge coverage."""
    t, x0, y0, x1, y1, alpha = _arrays(t, x0, y0, x1, y1, alpha)
    if t.size == 0:
        return
    ix0, iy0 = np.floor(x0).astype(np.int64), np.floor(y0).astype(np.int64)
    w = int(np.ceil((x1 - ix0).max())) + 1
    h = int(np.ceil((y1 - iy0).max())) + 1
    if w <= 0 or h <= 0:
        return
    tt, ys, xs = _grid(ix0, iy0, h, w, t.astype(np.int64))
    cov_x = np.clip(np.minimum(xs + 1, x1[:, None, None]) - np.maximum(xs, x0[:, None, None]), 0, 1)
    cov_y = np.clip(np.minimum(ys + 1, y1[:, None, None]) - np.maximum(ys, y0[:, None, None]), 0, 1)
    blend(img, tt, ys, xs, cov_x * cov_y * alpha[:, None, None], colour)


def trapezoids(
    img: np.ndarray,
    t: npt.ArrayLike,
    x0: npt.ArrayLike,
    x1: npt.ArrayLike,
    top0: npt.ArrayLike,
    top1: npt.ArrayLike,
    bot0: npt.ArrayLike,
    bot1: npt.ArrayLike,
    colour: npt.ArrayLike,
    alpha: npt.ArrayLike = 1.0,
) -> None:
    """Quadrilaterals with vertical sides at x0 < x1 whose top and bottom edges run linearly
    from (top0, bot0) at x0 to (top1, bot1) at x1: a door or panel seen in perspective."""
    t, x0, x1, top0, top1, bot0, bot1, alpha = _arrays(t, x0, x1, top0, top1, bot0, bot1, alpha)
    if t.size == 0:
        return
    ymin, ymax = np.minimum(top0, top1), np.maximum(bot0, bot1)
    ix0, iy0 = np.floor(x0).astype(np.int64), np.floor(ymin).astype(np.int64)
    w = int(np.ceil((x1 - ix0).max())) + 1
    h = int(np.ceil((ymax - iy0).max())) + 1
    tt, ys, xs = _grid(ix0, iy0, h, w, t.astype(np.int64))
    c: Callable[[np.ndarray], np.ndarray] = lambda v: v[:, None, None]  # noqa: E731  (K,) -> (K, 1, 1)
    u = np.clip((xs + 0.5 - c(x0)) / np.maximum(c(x1 - x0), 1e-9), 0, 1)
    top, bot = c(top0) + u * c(top1 - top0), c(bot0) + u * c(bot1 - bot0)
    cov_x = np.clip(np.minimum(xs + 1, c(x1)) - np.maximum(xs, c(x0)), 0, 1)
    cov_y = np.clip(np.minimum(ys + 1, bot) - np.maximum(ys, top), 0, 1)
    blend(img, tt, ys, xs, cov_x * cov_y * c(alpha), colour)


def segments(
    img: np.ndarray,
    t: npt.ArrayLike,
    xa: npt.ArrayLike,
    ya: npt.ArrayLike,
    xb: npt.ArrayLike,
    yb: npt.ArrayLike,
    width: npt.ArrayLike,
    colour: npt.ArrayLike,
    alpha: npt.ArrayLike = 1.0,
) -> None:
    """Thick line segments from (xa, ya) to (xb, yb) with round caps."""
    t, xa, ya, xb, yb, width, alpha = _arrays(t, xa, ya, xb, yb, width, alpha)
    if t.size == 0:
        return
    pad = width / 2 + 1
    x0, y0 = np.minimum(xa, xb) - pad, np.minimum(ya, yb) - pad
    ix0, iy0 = np.floor(x0).astype(np.int64), np.floor(y0).astype(np.int64)
    w = int(np.ceil((np.maximum(xa, xb) + pad - ix0).max())) + 1
    h = int(np.ceil((np.maximum(ya, yb) + pad - iy0).max())) + 1
    tt, ys, xs = _grid(ix0, iy0, h, w, t.astype(np.int64))
    px, py = xs + 0.5 - xa[:, None, None], ys + 0.5 - ya[:, None, None]
    vx, vy = (xb - xa)[:, None, None], (yb - ya)[:, None, None]
    u = np.clip((px * vx + py * vy) / np.maximum(vx * vx + vy * vy, 1e-9), 0, 1)
    d = np.hypot(px - u * vx, py - u * vy)
    a = np.clip(width[:, None, None] / 2 + 0.5 - d, 0, 1) * alpha[:, None, None]
    blend(img, tt, ys, xs, a, colour)


def points(
    img: np.ndarray,
    t: npt.ArrayLike,
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    colour: npt.ArrayLike,
    alpha: npt.ArrayLike = 1.0,
) -> None:
    """Single-pixel splats at (x, y): cheap thin streaks and specks."""
    t, x, y, alpha = _arrays(t, x, y, alpha)
    ys = np.floor(y).astype(np.int64)
    xs = np.floor(x).astype(np.int64)
    blend(img, t.astype(np.int64), ys, xs, alpha, colour)

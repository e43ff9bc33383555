"""Pixels of the foley world: backgrounds and the visible cause of every source.

render_pictures(plan) -> (pictures, H, W, 3) uint8 on the content clock; film.py repeats
pictures into stream frames. Each shot is drawn over its span in float32 and blended into
its neighbours with the transition weights from world.py.
"""

from __future__ import annotations

import numpy as np

from . import draw
from .world import Background, FilmPlan, ShotPlan, Source


def value_noise(rng: np.random.Generator, h: int, w: int, cells_y: int, cells_x: int) -> np.ndarray:
    """(h, w) smooth noise in [-1, 1]: a random (cells_y+1, cells_x+1) grid, bilinearly upsampled."""
    grid = rng.uniform(-1, 1, (cells_y + 1, cells_x + 1))
    y = np.linspace(0, cells_y, h, endpoint=False) + 0.5 * cells_y / h
    x = np.linspace(0, cells_x, w, endpoint=False) + 0.5 * cells_x / w
    y0, x0 = np.minimum(y.astype(int), cells_y - 1), np.minimum(x.astype(int), cells_x - 1)
    fy, fx = (y - y0)[:, None], (x - x0)[None, :]
    g00, g01 = grid[y0][:, x0], grid[y0][:, x0 + 1]
    g10, g11 = grid[y0 + 1][:, x0], grid[y0 + 1][:, x0 + 1]
    noise: np.ndarray = (g00 * (1 - fx) + g01 * fx) * (1 - fy) + (g10 * (1 - fx) + g11 * fx) * fy
    return noise


def _ground(rng: np.random.Generator, surface: str, h: int, w: int, tone: float) -> np.ndarray:
    """(h, w, 3) texture of a walkable surface seen from a low camera."""
    yy = np.arange(h)[:, None] / max(h, 1)
    base = np.full((h, w), tone) + 0.04 * value_noise(rng, h, w, 3, 5)
    tint = np.array([1.0, 1.0, 1.0])
    if surface == "grass":
        base += 0.07 * value_noise(rng, h, w, max(2, h // 3), max(2, w // 2))
        tint = np.array([0.85, 1.08, 0.75])
    elif surface == "gravel":
        base += 0.12 * rng.uniform(-1, 1, (h, w)) * (0.4 + yy)
        tint = np.array([1.0, 0.98, 0.95])
    elif surface == "concrete":
        base += 0.025 * rng.uniform(-1, 1, (h, w))
        joints = np.linspace(0, w, int(rng.integers(3, 6)))
        for j in joints:  # expansion joints converging towards the horizon
            x = (j - w / 2) * (0.4 + 0.6 * yy[:, 0]) + w / 2
            xi = np.clip(x.astype(int), 0, w - 1)
            base[np.arange(h), xi] -= 0.1
    elif surface == "wood":
        rows = np.cumsum(1 + 2.5 * yy[:, 0] * rng.uniform(0.7, 1.3)) % 3.2 < 0.35  # plank seams
        base += 0.05 * value_noise(rng, h, w, max(2, h // 2), 2)
        base[rows] -= 0.12
        tint = np.array([1.12, 0.95, 0.78])
    else:  # dirt
        base += 0.08 * value_noise(rng, h, w, max(2, h // 4), max(2, w // 6))
        tint = np.array([1.08, 0.97, 0.85])
    texture: np.ndarray = base[:, :, None] * tint[None, None, :]
    return texture


def _wall(rng: np.random.Generator, h: int, w: int, tone: float) -> np.ndarray:
    kind = rng.integers(3)
    base = np.full((h, w), tone) + 0.04 * value_noise(rng, h, w, 3, 4)
    if kind == 0:  # bricks
        bh = max(3, int(rng.integers(5, 9) * h / 96 + 2))
        bw = 2 * bh + 2
        yy, xx = np.mgrid[0:h, 0:w]
        row = yy // bh
        mortar = (yy % bh == 0) | ((xx + (row % 2) * (bw // 2)) % bw == 0)
        base = (
            base
            + 0.04 * rng.uniform(-1, 1, (h // bh + 2, w // bw + 2))[row, (xx + (row % 2) * (bw // 2)) // bw]
        )
        base[mortar] -= 0.15
    elif kind == 1:  # vertical boards
        bw = int(rng.integers(6, 12))
        base[:, ::bw] -= 0.12
        base += 0.03 * value_noise(rng, h, w, 2, max(2, w // 3))
    else:  # plaster with stains
        base += 0.09 * value_noise(rng, h, w, 4, 6)
    return np.repeat(base[:, :, None], 3, axis=2)


def background_image(bg: Background, width: int, height: int) -> np.ndarray:
    """(H, W, 3) float32 still background of one shot."""
    rng = np.random.default_rng(bg.seed)
    H, W = height, width
    gy = int(round(bg.ground_y))
    b = bg.brightness
    img = np.empty((H, W, 3), dtype=np.float64)
    if bg.layout == "horizon":
        t = np.linspace(0, 1, gy)[:, None]
        sky = b + 0.18 - 0.12 * t + 0.08 * value_noise(rng, gy, W, 2, 4)
        img[:gy] = sky[:, :, None]
        img[gy:] = _ground(rng, bg.surface, H - gy, W, b - 0.12)
        if rng.random() < 0.5:  # distant hills or a tree line along the horizon
            ridge = gy - (H * 0.06) * (0.5 + 0.5 * value_noise(rng, 1, W, 1, 5)[0])
            yy = np.arange(H)[:, None]
            img[(yy >= ridge[None, :]) & (yy < gy)] *= 0.75
    elif bg.layout == "wall" or bg.layout == "interior":
        img[:gy] = _wall(rng, gy, W, b + 0.05)
        img[gy:] = _ground(rng, bg.surface, H - gy, W, b - 0.1)
        img[max(gy - 2, 0) : gy] *= 0.6  # skirting
        if bg.layout == "interior":  # a window and a door frame on the back wall
            wx, wy = rng.uniform(0.1, 0.55) * W, rng.uniform(0.1, 0.3) * gy
            ww, wh = rng.uniform(0.18, 0.3) * W, rng.uniform(0.3, 0.45) * gy
            x0, x1, y0, y1 = int(wx), int(wx + ww), int(wy), int(wy + wh)
            img[y0:y1, x0:x1] = min(1.0, b + 0.4)
            img[y0:y1, (x0 + x1) // 2] = b - 0.3
            img[(y0 + y1) // 2, x0:x1] = b - 0.3
            dx = int(rng.uniform(0.65, 0.85) * W)
            img[int(gy * 0.25) : gy, dx : dx + int(W * 0.12)] *= 0.7
    else:  # random textured tones
        tex = b + 0.14 * value_noise(rng, H, W, 2, 3) + 0.06 * value_noise(rng, H, W, 6, 8)
        img[:] = tex[:, :, None]
        img[gy:] *= 0.8
    img *= np.asarray(bg.hue)[None, None, :]
    return np.clip(img, 0, 1).astype(np.float32)


# ----------------------------------------------------------------------------- visible causes


def _impact(img: np.ndarray, src: Source) -> None:
    p, s = src.params, src.state
    n = img.shape[0]
    t = np.arange(n)
    x, y, hgt = s["x"], s["y"], s["height"]
    w, h, kind = p["w"], p["h"], p["kind"]
    col = np.asarray(p["colour"])
    # contact shadow: darker and tighter as the object nears the floor
    near = np.clip(1 - hgt / (0.6 * p["drop_height"]), 0, 1)
    draw.ellipses(img, t, x, p["y_floor"], w * (0.35 + 0.25 * near), 1.2, (0, 0, 0), 0.45 * near)
    alpha = 0.8 if p["material"] == "glass" else 1.0
    if kind == "ball":
        draw.ellipses(img, t, x, y - h / 2, w / 2, h / 2, col, alpha)
        draw.ellipses(img, t, x - w * 0.15, y - h * 0.68, w * 0.12, h * 0.12, np.minimum(col + 0.3, 1), alpha)
    elif kind == "bottle":
        draw.rects(img, t, x - w / 2, y - 0.62 * h, x + w / 2, y, col, alpha)
        draw.rects(img, t, x - w / 5, y - h, x + w / 5, y - 0.6 * h, col * 0.9, alpha)
    else:
        draw.rects(img, t, x - w / 2, y - h, x + w / 2, y, col, alpha)
        dark = col * 0.6
        if kind in ("crate", "box"):
            draw.segments(img, t, x - w / 2, y - h, x + w / 2, y, 1.0, dark)
            if kind == "crate":
                draw.segments(img, t, x + w / 2, y - h, x - w / 2, y, 1.0, dark)
        elif kind in ("pot", "bucket", "jar", "can"):
            draw.rects(img, t, x - w / 2 - 1, y - h, x + w / 2 + 1, y - h + max(1.0, h * 0.15), dark)


def _door(img: np.ndarray, src: Source) -> None:
    """The doorway, then the leaf in perspective: its free edge swings towards the camera, so
    it moves in from the frame and grows taller as the door opens."""
    p = src.params
    n = img.shape[0]
    t = np.arange(n)
    x0, wd, hd, yb = p["x0"], p["w"], p["h"], p["y_floor"]
    draw.rects(img, t, x0 - 1, yb - hd - 1, x0 + wd + 1, yb, (0.3, 0.25, 0.2))  # frame
    draw.rects(img, t, x0, yb - hd, x0 + wd, yb, (0.04, 0.04, 0.05))  # dark room behind
    ang = src.state["angle"]
    span = wd * np.cos(ang)
    grow = hd * 0.45 * np.sin(ang)  # the near edge looks taller
    hinge = x0 if p["hinge"] == "left" else x0 + wd
    sgn = 1.0 if p["hinge"] == "left" else -1.0
    free = hinge + sgn * span
    shade = np.asarray(p["colour"])[None, :] * (0.75 + 0.25 * np.cos(ang))[:, None]
    near_top, near_bot = yb - hd - grow / 2, yb + grow / 2
    if sgn > 0:
        draw.trapezoids(img, t, hinge, free, yb - hd, near_top, yb, near_bot, shade)
    else:
        draw.trapezoids(img, t, free, hinge, near_top, yb - hd, near_bot, yb, shade)
    knob_x = hinge + sgn * 0.85 * span
    draw.ellipses(img, t, knob_x, yb - 0.47 * hd, 0.9, 0.9, (0.15, 0.12, 0.08))


def _walker(img: np.ndarray, src: Source) -> None:
    p, s = src.params, src.state
    n = img.shape[0]
    t = np.arange(n)
    hgt, y_f, d = p["height"], p["y_floor"], p["direction"]
    col = p["colour"]
    lw = max(1.0, 0.06 * hgt)
    leg = 0.5 * hgt
    hip_x, hip_y = s["body_x"], y_f - 0.92 * leg - s["bob"]
    sh_y = hip_y - 0.3 * hgt
    for f in (0, 1):
        fx, fy = s[f"foot{f}_x"], y_f - s[f"foot{f}_h"] - lw / 2
        dx, dy = fx - hip_x, fy - hip_y
        dist = np.maximum(np.hypot(dx, dy), 1e-6)
        bend = np.sqrt(np.clip((leg / 2) ** 2 - (dist / 2) ** 2, 0, None))
        nx, ny = -dy / dist, dx / dist  # perpendicular; the knee points the way of walking
        flip = np.where(nx * d < 0, -1.0, 1.0)
        kx, ky = hip_x + dx / 2 + flip * nx * bend, hip_y + dy / 2 + flip * ny * bend
        draw.segments(img, t, hip_x, hip_y, kx, ky, lw, col)
        draw.segments(img, t, kx, ky, fx, fy, lw, col)
        draw.segments(img, t, fx, fy, fx + d * 0.07 * hgt, fy, lw, col)
        swing = -0.8 * (fx - hip_x) / max(p["stride"], 1.0)  # the arm swings against the leg
        draw.segments(
            img,
            t,
            hip_x,
            sh_y,
            hip_x + np.sin(swing) * 0.3 * hgt,
            sh_y + np.cos(swing) * 0.3 * hgt,
            lw * 0.8,
            col,
        )
    draw.segments(img, t, hip_x, hip_y, hip_x, sh_y, lw * 1.5, col)
    draw.ellipses(img, t, hip_x, sh_y - 0.09 * hgt, 0.075 * hgt, 0.085 * hgt, col)


def _streaks(img: np.ndarray, src: Source) -> None:
    rng = np.random.default_rng([src.seed, 0])
    n, H, W = img.shape[:3]
    p = src.params
    count = src.state["count"]
    t = np.repeat(np.arange(n), count)
    L, a = p["length"], p["angle"]
    x = rng.uniform(-L, W + L, t.size)
    y = rng.uniform(-L, H, t.size)
    k = np.arange(int(np.ceil(L)))
    tone = p["tone"]
    draw.points(
        img,
        np.repeat(t, k.size),
        (x[:, None] + np.sin(a) * k).ravel(),
        (y[:, None] + np.cos(a) * k).ravel(),
        (tone, tone, tone),
        p["alpha"],
    )


def _sway(img: np.ndarray, src: Source, c: int) -> np.ndarray:
    assert src.control is not None  # every texture source has a per-picture control
    e = src.params["elements"]
    tau = np.arange(img.shape[0])[:, None] / c
    osc = 0.6 + 0.4 * np.sin(2 * np.pi * e["freq"][None, :] * tau + e["phase"][None, :])
    sway: np.ndarray = src.params["direction"] * src.control[:, None] * osc  # (n, elements) in [-1, 1]
    return sway


def _grass(img: np.ndarray, src: Source, c: int) -> None:
    e = src.params["elements"]
    n = img.shape[0]
    ang = 0.7 * _sway(img, src, c)
    t = np.repeat(np.arange(n), len(e["x"]))
    x, y, L = (np.tile(e[k], n) for k in ("x", "y", "len"))
    a = ang.ravel()
    mx, my = x + np.sin(a / 2) * L / 2, y - np.cos(a / 2) * L / 2
    tone = src.params["tone"]
    col = (tone * 0.8, tone * 1.1, tone * 0.7)
    draw.segments(img, t, x, y, mx, my, 1.0, col)
    draw.segments(img, t, mx, my, mx + np.sin(a) * L / 2, my - np.cos(a) * L / 2, 0.8, col)


def _trees(img: np.ndarray, src: Source, c: int) -> None:
    e = src.params["elements"]
    n = img.shape[0]
    sway = _sway(img, src, c)
    tone = src.params["tone"]
    for i in range(len(e["x"])):
        x, y, L = e["x"][i], e["y"][i], e["len"][i]
        t = np.arange(n)
        draw.rects(img, t, x - 0.04 * L, y - 0.6 * L, x + 0.04 * L, y, (tone * 0.9, tone * 0.8, tone * 0.7))
        dx = sway[:, i] * 0.12 * L
        for j, (ox, oy, r) in enumerate(((0, 0.75, 0.28), (-0.18, 0.62, 0.2), (0.18, 0.6, 0.2))):
            draw.ellipses(
                img,
                t,
                x + ox * L + dx * (1 + 0.3 * j),
                y - oy * L,
                r * L,
                r * L * 0.8,
                (tone * 0.8, tone * 1.0, tone * 0.75),
            )


def _flag(img: np.ndarray, src: Source, c: int) -> None:
    assert src.control is not None  # every texture source has a per-picture control
    e, p = src.params["elements"], src.params
    n, H, W = img.shape[:3]
    x, y, L = e["x"][0], e["y"][0], e["len"][0]
    tone = p["tone"]
    draw.rects(img, np.arange(n), x - 0.6, y - L, x + 0.6, y, (tone, tone, tone))
    cols = 12
    fw, fh = 0.28 * W, 0.16 * H
    lvl = src.control[:, None]
    j = np.arange(cols)[None, :]
    tau = np.arange(n)[:, None] / c
    ext = fw * (0.45 + 0.55 * lvl) / cols  # a calm flag hangs short
    xs = x + p["direction"] * j * ext
    droop = (1 - lvl) * j * ext * 0.8
    wave = lvl * 0.12 * fh * np.sin(2 * np.pi * e["freq"][0] * tau - 0.9 * j + e["phase"][0]) * (j / cols)
    y0 = y - L + droop + wave
    t = np.repeat(np.arange(n), cols)
    x0 = np.minimum(xs, xs + p["direction"] * ext).ravel()
    shade = 0.75 + 0.25 * np.cos(0.9 * j - 2 * np.pi * e["freq"][0] * tau)
    colour = np.stack([shade.ravel() * 0.9, shade.ravel() * 0.5, shade.ravel() * 0.45], axis=1) * (
        1 - tone + 0.2
    )
    draw.rects(
        img, t, x0, y0.ravel(), x0 + np.broadcast_to(ext, xs.shape).ravel() + 0.5, (y0 + fh).ravel(), colour
    )


def _vehicle(img: np.ndarray, src: Source) -> None:
    p, s = src.params, src.state
    n = img.shape[0]
    t = np.arange(n)
    L, yr, d, r = p["length"], p["y_road"], p["direction"], p["wheel_r"]
    x = s["x"]
    col = np.asarray(p["colour"])
    dark = np.clip(col * 0.5 + 0.05, 0, 1)
    if src.fine == "motorcycle":
        draw.segments(img, t, x - 0.3 * L, yr - r, x + 0.3 * L, yr - r * 1.6, r * 0.5, col)
        draw.segments(
            img, t, x - 0.05 * d * L, yr - 1.6 * r, x - 0.05 * d * L, yr - 3.4 * r, r * 0.45, col
        )  # rider
        draw.ellipses(img, t, x - 0.05 * d * L, yr - 3.8 * r, 0.35 * r, 0.4 * r, col)
    elif src.fine == "truck":
        draw.rects(img, t, x - L / 2, yr - r - 0.42 * L, x + L / 2 - 0.3 * L * (d > 0), yr - r, col)
        cab0 = np.where(d > 0, x + 0.2 * L, x - L / 2)
        draw.rects(img, t, cab0, yr - r - 0.3 * L, cab0 + 0.3 * L, yr - r, col * 0.85)
        draw.rects(img, t, cab0 + 0.05 * L, yr - r - 0.26 * L, cab0 + 0.25 * L, yr - r - 0.15 * L, dark)
    else:
        draw.rects(img, t, x - L / 2, yr - r - 0.2 * L, x + L / 2, yr - 0.6 * r, col)
        draw.rects(img, t, x - 0.25 * L, yr - r - 0.36 * L, x + 0.2 * L, yr - r - 0.19 * L, col * 0.9)
        draw.rects(img, t, x - 0.2 * L, yr - r - 0.33 * L, x + 0.15 * L, yr - r - 0.22 * L, dark)
    for wx in (-0.3, 0.3) if src.fine != "motorcycle" else (-0.38, 0.38):
        cx, cy = x + wx * L, yr - r
        draw.ellipses(img, t, cx, cy, r, r, dark)
        for k in (0, np.pi / 2):  # two spokes turning with the distance travelled
            ang = s["wheel_angle"] + k
            draw.segments(
                img,
                t,
                cx - np.cos(ang) * r * 0.8,
                cy - np.sin(ang) * r * 0.8,
                cx + np.cos(ang) * r * 0.8,
                cy + np.sin(ang) * r * 0.8,
                0.8,
                np.clip(col + 0.2, 0, 1),
            )


def _water(img: np.ndarray, src: Source) -> None:
    p = src.params
    n, H, W = img.shape[:3]
    y0, y1 = int(round(p["y_top"])), int(round(p["y_bottom"]))
    if y1 <= y0:
        return
    u = ((np.arange(y0, y1) - y0 + 0.5) / (y1 - y0))[None, :, None]
    xx = (np.arange(W) / W)[None, None, :]
    phase = src.state["phase"][:, None, None]
    assert src.control is not None  # every texture source has a per-picture control
    lvl = src.control[:, None, None]
    if src.fine == "waves":  # crests roll towards the camera, denser near the horizon
        arg = 2 * np.pi * p["bands"] * np.sqrt(u) - phase + 0.6 * np.sin(2 * np.pi * 1.3 * xx + 3 * u)
    else:  # a stream flows sideways
        arg = 2 * np.pi * (5 * xx + 0.4 * np.sin(7 * u * np.pi)) - phase + 9 * u
    crest = np.maximum(np.cos(arg), 0) ** 3
    val = (p["tone"] * (0.7 + 0.3 * u) + 0.35 * lvl * crest).astype(np.float32)
    img[:, y0:y1] = val[..., None] * np.array([0.85, 0.95, 1.1], dtype=np.float32)


def _fire(img: np.ndarray, src: Source, c: int) -> None:
    assert src.control is not None  # every texture source has a per-picture control
    p = src.params
    n, H, W = img.shape[:3]
    t = np.arange(n)
    bx, by, bw = p["base_x"], p["base_y"], p["width"]
    if src.fine == "fireplace":
        draw.rects(img, t, bx - 0.8 * bw, by - 1.6 * p["h0"].max(), bx + 0.8 * bw, by + 1, (0.08, 0.07, 0.06))
    lvl = src.control
    draw.ellipses(
        img, t, bx, by - 0.5 * p["h0"].mean(), 1.2 * bw, 1.1 * p["h0"].max(), (1.0, 0.8, 0.5), 0.12 * lvl
    )
    draw.segments(img, t, bx - bw / 2, by, bx + bw / 2, by - 2, 2.0, (0.2, 0.12, 0.08))
    draw.segments(img, t, bx - bw / 2, by - 2, bx + bw / 2, by, 2.0, (0.25, 0.15, 0.1))
    h = p["h0"][None, :] * src.state["flicker"]  # (n, flames)
    nf = h.shape[1]
    tt = np.repeat(t, nf)
    cx = np.tile(bx + p["offsets"], n)
    rx = bw / nf * 0.9
    draw.ellipses(img, tt, cx, by - h.ravel() / 2, rx, h.ravel() / 2, (1.0, 0.55, 0.15), 0.9)
    draw.ellipses(img, tt, cx, by - h.ravel() * 0.3, rx * 0.5, h.ravel() * 0.3, (1.0, 0.92, 0.55), 0.9)
    sp = p["sparks"]
    life = 6
    age = np.arange(life)
    ts = (sp["birth"][:, None] + age[None, :]).ravel()
    xs = (sp["x"][:, None] + sp["vx"][:, None] * age / c).ravel()
    ys = (by - p["h0"].mean() - sp["vy"][:, None] * age / c).ravel()
    draw.ellipses(img, ts, xs, ys, 0.6, 0.6, (1.0, 0.95, 0.7))


def _crowd(img: np.ndarray, src: Source) -> None:
    p, s = src.params, src.state
    n = img.shape[0]
    order = np.argsort(p["y"])  # far figures first
    k = len(order)
    t = np.repeat(np.arange(n), k)
    x = s["x"][:, order].ravel()
    bob = s["bob"][:, order].ravel()
    y = np.tile(p["y"][order], n)
    sz = np.tile(p["size"][order], n)
    tone = np.tile(p["tone"][order], n)
    col = np.stack([tone, tone * 0.95, tone * 0.9], axis=1)
    draw.rects(img, t, x - 0.06 * sz, y - 0.4 * sz, x + 0.06 * sz, y, col)
    draw.rects(img, t, x - 0.11 * sz, y - 0.82 * sz - bob, x + 0.11 * sz, y - 0.38 * sz - bob, col)
    draw.ellipses(img, t, x, y - 0.9 * sz - bob, 0.075 * sz, 0.085 * sz, col)


def draw_source(img: np.ndarray, src: Source, content_fps: int) -> None:
    """Draw one source's visible cause over a shot's span canvas (n, H, W, 3)."""
    v = src.visual
    if v == "door":
        _door(img, src)
    elif src.cls == "impact":
        _impact(img, src)
    elif v == "walker":
        _walker(img, src)
    elif v == "streaks":
        _streaks(img, src)
    elif v == "grass":
        _grass(img, src, content_fps)
    elif v == "trees":
        _trees(img, src, content_fps)
    elif v == "flag":
        _flag(img, src, content_fps)
    elif src.cls == "engine":
        _vehicle(img, src)
    elif src.cls == "water":
        _water(img, src)
    elif src.cls == "fire":
        _fire(img, src, content_fps)
    elif src.cls == "crowd":
        _crowd(img, src)
    else:
        raise ValueError(f"no drawer for source class {src.cls!r} / visual {v!r}")


def render_shot(shot: ShotPlan, width: int, height: int, content_fps: int) -> np.ndarray:
    """(span pictures, H, W, 3) float32 of one shot, transitions not applied."""
    n = shot.span_end - shot.span_start
    bg = background_image(shot.background, width, height)
    img = np.empty((n, height, width, 3), dtype=np.float32)
    img[:] = bg
    for src in shot.sources:
        draw_source(img, src, content_fps)
    return img


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(x * 255 + 0.5, 0, 255).astype(np.uint8)


def render_pictures(plan: FilmPlan) -> np.ndarray:
    """(pictures, H, W, 3) uint8: every shot drawn and joined by its transitions."""
    P = plan.timing.pictures
    out = np.empty((P, plan.height, plan.width, 3), dtype=np.uint8)
    blended: dict[int, np.ndarray] = {}  # transition pictures: weighted sums of two shots
    for shot in plan.shots:
        img = render_shot(shot, plan.width, plan.height, plan.timing.content_fps)
        full = np.flatnonzero(shot.gain == 1.0)
        a, b = int(full[0]), int(full[-1]) + 1  # pictures outside transitions are contiguous
        out[shot.span_start + a : shot.span_start + b] = _to_uint8(img[a:b])
        for i in np.flatnonzero(shot.gain != 1.0):
            q = shot.span_start + int(i)
            blended[q] = blended.get(q, 0.0) + img[i] * np.float32(shot.gain[i])
    for q, x in blended.items():
        out[q] = _to_uint8(x)
    return out

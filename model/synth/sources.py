"""Per-class planners: the motion of each visible cause and the sound onsets it implies.

Each planner takes a Generator and a ShotContext and returns Sources whose per-picture state
arrays span the shot's rendered pictures. Units: pixels, pictures (content clock), seconds.
Discrete onsets (impacts, footsteps) are placed on integer pictures inside the shot's clean
region, and the motion is built so that the onset picture is the first one showing contact.
"""

from __future__ import annotations

import numpy as np

from .world import Hit, ShotContext, Source

MATERIAL_OBJECTS = {
    "wood": ("crate", "box", "ball", "block"),
    "metal": ("pot", "can", "bucket", "ball"),
    "glass": ("bottle", "jar", "ball"),
}
# (width, height) relative to the object's size, and the bounce restitution range.
SHAPES = {
    "ball": (1.0, 1.0),
    "crate": (1.15, 1.0),
    "box": (1.35, 0.8),
    "block": (0.9, 0.6),
    "pot": (1.2, 0.8),
    "can": (0.6, 0.95),
    "bucket": (0.9, 1.0),
    "bottle": (0.42, 1.35),
    "jar": (0.7, 0.95),
}
RESTITUTION = {
    "ball": (0.45, 0.65),
    "crate": (0.15, 0.3),
    "box": (0.15, 0.3),
    "block": (0.2, 0.35),
    "pot": (0.25, 0.4),
    "can": (0.3, 0.45),
    "bucket": (0.25, 0.4),
    "bottle": (0.2, 0.35),
    "jar": (0.2, 0.35),
}
MATERIAL_COLOURS = {"wood": (0.55, 0.36, 0.2), "metal": (0.72, 0.74, 0.78), "glass": (0.6, 0.85, 0.75)}


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(2**32))


def _db(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(10 ** (rng.uniform(lo, hi) / 20))


def smooth_curve(
    rng: np.random.Generator, n: int, c: int, lo: float, hi: float, knot_s: float = 0.6
) -> np.ndarray:
    """(n,) smooth random curve in [lo, hi]: cosine-interpolated knots every knot_s seconds."""
    step = max(knot_s * c, 1.0)
    knots = rng.uniform(lo, hi, int(np.ceil(n / step)) + 2)
    pos = np.arange(n) / step
    i0 = np.floor(pos).astype(int)
    w = (1 - np.cos(np.pi * (pos - i0))) / 2
    curve: np.ndarray = knots[i0] * (1 - w) + knots[i0 + 1] * w
    return curve


def _contrast(bg_brightness: float, rng: np.random.Generator) -> tuple[float, float, float]:
    """A figure tone that stands out from the background."""
    v = rng.uniform(0.05, 0.2) if bg_brightness > 0.5 else rng.uniform(0.8, 0.95)
    return (v, v, v)


def _depth_y(ctx: ShotContext, depth: float) -> float:
    top = ctx.background.floor_top
    return top + depth * (ctx.height - 2 - top)


def _pick_contact(rng: np.random.Generator, ctx: ShotContext, used: list[int]) -> int | None:
    """A contact picture inside the clean region, at least 3 pictures from the others."""
    lo_q, hi_q = ctx.clean_start + 1, ctx.clean_end - 1
    if lo_q > hi_q:
        return None
    for _try in range(8):
        q1 = int(rng.integers(lo_q, hi_q + 1))
        if all(abs(q1 - u) >= 3 for u in used):
            used.append(q1)
            return q1
    return None


def _door(rng: np.random.Generator, ctx: ShotContext, used: list[int]) -> Source | None:
    """A door in the back wall swings shut; the onset is the first picture on which it is closed.

    The opening angle falls as (time left)^0.4, so the door is fast (and visibly open) just
    before it shuts, as a slammed door is.
    """
    H, W, c = ctx.height, ctx.width, ctx.content_fps
    bottom = ctx.background.ground_y
    hd = min(H * rng.uniform(0.42, 0.58), bottom - 3)
    wd = hd * rng.uniform(0.42, 0.5)
    x0 = rng.uniform(0.08 * W, 0.92 * W - wd)
    q1 = _pick_contact(rng, ctx, used)
    if q1 is None or hd < 12:
        return None
    F = rng.uniform(0.35, 0.7) * c  # pictures of swing
    theta0 = rng.uniform(0.9, 1.3)  # rad
    q = ctx.pictures().astype(np.float64)
    angle = theta0 * np.clip((q1 - q) / F, 0, 1) ** 0.4
    material = "wood" if rng.random() < 0.75 else "metal"
    params = {
        "material": material,
        "kind": "door",
        "x0": x0,
        "w": wd,
        "h": hd,
        "y_floor": bottom,
        "hinge": str(rng.choice(["left", "right"])),
        "colour": MATERIAL_COLOURS[material],
    }
    hit = Hit(q1, float(rng.uniform(0.75, 1.0)), float(x0 + wd / 2), float(bottom))
    return Source(
        "impact", material, "door", _db(rng, -5, 0), 2, _seed(rng), params, {"angle": angle}, (hit,)
    )


def plan_impacts(rng: np.random.Generator, ctx: ShotContext) -> list[Source]:
    """1-3 objects fall into frame and bounce (or a door slams); an onset on every contact picture."""
    H, W, c = ctx.height, ctx.width, ctx.content_fps
    g = 10.0 * H  # px/s^2: falling the frame height takes about 0.45 s
    v_ref = np.sqrt(2 * g * H)
    q = ctx.pictures().astype(np.float64)
    clean_len = ctx.clean_end - ctx.clean_start
    n_obj = min(int(rng.integers(1, 4)), max(1, clean_len // max(1, c // 2)))
    used: list[int] = []
    out: list[Source] = []
    if ctx.background.layout in ("wall", "interior") and rng.random() < 0.35:
        door = _door(rng, ctx, used)
        if door is not None:
            out.append(door)
            n_obj = int(rng.integers(0, n_obj))
    for _ in range(n_obj):
        material = str(rng.choice(list(MATERIAL_OBJECTS)))
        kind = str(rng.choice(MATERIAL_OBJECTS[material]))
        depth = float(rng.uniform(0.25, 1.0))
        y_f = _depth_y(ctx, depth)
        size = H * rng.uniform(0.08, 0.13) * (0.7 + 0.3 * depth)
        w, h = size * SHAPES[kind][0], size * SHAPES[kind][1]
        h0 = y_f + 2.0  # released with its bottom just above the top edge
        T = np.sqrt(2 * h0 / g)
        q1 = _pick_contact(rng, ctx, used)
        if q1 is None:
            break
        # loudness grows slower than contact speed, so late small bounces stay audible
        contacts, strengths, arcs = [q1], [float(np.clip((g * T / v_ref) ** 0.6, 0.1, 1.0))], []
        e_lo, e_hi = RESTITUTION[kind]
        v = g * T
        while True:
            v *= rng.uniform(e_lo, e_hi)
            d = int(round(2 * v / g * c))  # pictures in the air
            if d < 2:
                break
            peak = g * (d / c) ** 2 / 8
            # the pictures next to a contact must show the object clearly (2 px) off the floor
            if peak * 4 * (d - 1) / d**2 < 2.0 or contacts[-1] + d > ctx.clean_end - 1:
                break
            arcs.append((contacts[-1], contacts[-1] + d, peak))
            contacts.append(contacts[-1] + d)
            v = g * (d / c) / 2  # landing speed of the arc actually drawn
            strengths.append(float(np.clip((v / v_ref) ** 0.6, 0.1, 1.0)))
        release = q1 - T * c  # fractional picture at which the fall starts
        height = np.zeros_like(q)
        before = q < q1
        dt = np.clip(q[before] - release, 0, None) / c
        height[before] = np.clip(h0 - 0.5 * g * dt**2, 0, None)
        for a, b, peak in arcs:
            m = (q > a) & (q < b)
            height[m] = 4 * peak * (q[m] - a) * (b - q[m]) / (b - a) ** 2
        q_last = contacts[-1]
        vx = rng.uniform(-0.25, 0.25) * W if kind == "ball" else rng.uniform(-0.1, 0.1) * W
        t_move = (np.clip(q, release, q_last) - q1) / c
        t_lo, t_hi = -T, (q_last - q1) / c
        margin = w / 2 + 2
        x_lo = max(margin - vx * t_lo, margin - vx * t_hi)
        x_hi = min(W - margin - vx * t_lo, W - margin - vx * t_hi)
        if x_lo > x_hi:
            vx, x_lo, x_hi = 0.0, margin, W - margin
        x_c = rng.uniform(x_lo, x_hi)
        x = x_c + vx * t_move
        hits = tuple(
            Hit(int(qc), float(st), float(x[qc - ctx.span_start]), float(y_f))
            for qc, st in zip(contacts, strengths)
        )
        params = {
            "material": material,
            "kind": kind,
            "w": w,
            "h": h,
            "y_floor": y_f,
            "colour": MATERIAL_COLOURS[material],
            "drop_height": h0,
        }
        state = {"x": x, "y": y_f - height, "height": height}
        out.append(Source("impact", material, kind, _db(rng, -6, 0), 30, _seed(rng), params, state, hits))
    return out


def _walker(rng: np.random.Generator, ctx: ShotContext, depth: float) -> Source | None:
    H, W, c = ctx.height, ctx.width, ctx.content_fps
    surface = ctx.background.surface
    y_f = _depth_y(ctx, depth)
    hgt = min((0.35 + 0.25 * depth) * H, y_f - 3)
    P = max(4, int(round(rng.uniform(0.42, 0.62) * c)))  # pictures per step
    stance = P + max(1, int(round(0.2 * P)))
    sw = 2 * P - stance  # pictures a foot is in the air (>= 3)
    S = hgt * rng.uniform(0.32, 0.45)  # stride per step, px
    v = S / P
    L0 = ctx.clean_start + 1 + int(rng.integers(0, P))
    if L0 > ctx.clean_end - 1:
        L0 = ctx.clean_start + 1
    if L0 > ctx.clean_end - 1:
        return None
    J = (ctx.clean_end - 1 - L0) // P + 1
    lands = L0 + P * np.arange(J)
    walk0, walk1 = L0 - sw, int(lands[-1])
    direction = float(rng.choice([-1.0, 1.0]))
    x_mid = rng.uniform(0.3, 0.7) * W
    x_start = x_mid - direction * v * (walk1 - walk0) / 2
    q = ctx.pictures().astype(np.float64)
    body = x_start + direction * v * np.clip(q - walk0, 0, walk1 - walk0)
    feet_x = [np.full_like(q, x_start - direction * S / 2), np.full_like(q, x_start + direction * S / 2)]
    feet_h = [np.zeros_like(q), np.zeros_like(q)]
    lift_h = 0.1 * hgt
    hits = []
    for j, land in enumerate(lands):
        f = j % 2
        lift = land - sw
        x_to = x_start + direction * v * (land - walk0) + direction * S / 2
        x_from = feet_x[f][min(max(int(lift) - ctx.span_start, 0), len(q) - 1)]
        air = (q > lift) & (q < land)
        phi = (q[air] - lift) / sw
        feet_x[f][air] = x_from + (x_to - x_from) * (3 * phi**2 - 2 * phi**3)
        feet_h[f][air] = lift_h * np.sin(np.pi * phi) ** 0.6
        feet_x[f][q >= land] = x_to
        if 1.0 <= x_to <= W - 1.0:
            hits.append(Hit(int(land), float(rng.uniform(0.65, 1.0)), float(x_to), float(y_f)))
    if not hits:
        return None
    walking = (q >= walk0) & (q <= walk1)
    bob = np.where(walking, 0.025 * hgt * (1 - np.cos(2 * np.pi * (q - L0) / P)) / 2, 0.0)
    params = {
        "surface": surface,
        "y_floor": y_f,
        "height": hgt,
        "direction": direction,
        "colour": _contrast(ctx.background.brightness, rng),
        "stride": S,
        "step_pictures": P,
        "step_s": P / c,
        "shoe": str(rng.choice(["boots", "shoes", "heels"])),
    }
    state = {
        "body_x": body,
        "bob": bob,
        "foot0_x": feet_x[0],
        "foot0_h": feet_h[0],
        "foot1_x": feet_x[1],
        "foot1_h": feet_h[1],
    }
    return Source(
        "footsteps",
        surface,
        "walker",
        _db(rng, -6, -1),
        20 + int(depth * 9),
        _seed(rng),
        params,
        state,
        tuple(hits),
    )


def plan_walkers(rng: np.random.Generator, ctx: ShotContext) -> list[Source]:
    """One or two stick figures walking; an onset on each picture a visible foot lands."""
    n = 2 if rng.random() < 0.25 else 1
    out = []
    for _ in range(12):
        s = _walker(rng, ctx, float(rng.uniform(0.2, 1.0)))
        if s is not None:
            out.append(s)
        if len(out) == n:
            break
    if not out:
        raise RuntimeError(f"no visible footstep fits the clean pictures {ctx.clean_start}..{ctx.clean_end}")
    return out


def plan_rain(rng: np.random.Generator, ctx: ShotContext) -> list[Source]:
    """Streaks whose count per picture is the loudness of the rain."""
    fine = str(rng.choice(["light", "heavy"]))
    lo, hi = (0.15, 0.5) if fine == "light" else (0.55, 1.0)
    level = smooth_curve(rng, ctx.n, ctx.content_fps, lo, hi)
    max_count = 0.03 * ctx.width * ctx.height
    params = {
        "angle": float(rng.uniform(-0.35, 0.35)),
        "length": float(ctx.height * rng.uniform(0.05, 0.1)),
        "tone": float(rng.uniform(0.75, 0.95)),
        "alpha": float(rng.uniform(0.35, 0.6)),
    }
    state = {"count": np.round(level * max_count).astype(np.int64)}
    return [Source("rain", fine, "streaks", _db(rng, -10, -4), 90, _seed(rng), params, state, (), level)]


def plan_wind(rng: np.random.Generator, ctx: ShotContext) -> list[Source]:
    """Grass, trees or a flag that sway with the wind; sway amplitude is the loudness."""
    H, W = ctx.height, ctx.width
    fine = str(rng.choice(["grass", "trees", "flag"]))
    level = smooth_curve(rng, ctx.n, ctx.content_fps, 0.15, 1.0, knot_s=0.5)
    gy = ctx.background.ground_y
    if fine == "grass":
        n = int(W * rng.uniform(0.3, 0.5))
        base_y = gy + (H - gy) * rng.uniform(0.05, 1.0, n)
        elems = {"x": rng.uniform(0, W, n), "y": base_y, "len": H * rng.uniform(0.06, 0.16, n) * (base_y / H)}
    elif fine == "trees":
        n = int(rng.integers(1, 4))
        elems = {
            "x": np.sort(rng.uniform(0.1, 0.9, n)) * W,
            "y": gy + (H - gy) * rng.uniform(0.1, 0.5, n),
            "len": H * rng.uniform(0.35, 0.55, n),
        }
    else:
        n = 1
        elems = {
            "x": np.array([rng.uniform(0.2, 0.7) * W]),
            "y": np.array([gy + (H - gy) * 0.3]),
            "len": np.array([H * rng.uniform(0.45, 0.6)]),
        }
    elems["freq"] = rng.uniform(0.6, 1.6, n) if fine != "flag" else np.array([rng.uniform(2.0, 3.5)])
    elems["phase"] = rng.uniform(0, 2 * np.pi, n)
    params = {
        "elements": elems,
        "direction": float(rng.choice([-1.0, 1.0])),
        "tone": (
            float(rng.uniform(0.1, 0.35))
            if ctx.background.brightness > 0.5
            else float(rng.uniform(0.65, 0.85))
        ),
    }
    layer = 10 if fine != "grass" else 12
    return [Source("wind", fine, fine, _db(rng, -12, -5), layer, _seed(rng), params, {}, (), level)]


def plan_engine(rng: np.random.Generator, ctx: ShotContext) -> list[Source]:
    """A vehicle crossing the frame at a varying speed; its engine pitch follows the speed."""
    W, c = ctx.width, ctx.content_fps
    fine = str(rng.choice(["car", "truck", "motorcycle"]))
    length = (
        W
        * {
            "car": rng.uniform(0.28, 0.38),
            "truck": rng.uniform(0.38, 0.5),
            "motorcycle": rng.uniform(0.14, 0.2),
        }[fine]
    )
    y_road = _depth_y(ctx, float(rng.uniform(0.2, 0.8)))
    v0 = (W + length) / rng.uniform(1.6, 3.2)  # px/s
    speed = v0 * smooth_curve(rng, ctx.n, c, 0.5, 1.5, knot_s=0.7)  # px/s per picture
    travelled = np.concatenate([[0.0], np.cumsum(speed[:-1]) / c])
    direction = float(rng.choice([-1.0, 1.0]))
    i_mid = int(rng.integers(ctx.clean_start, ctx.clean_end)) - ctx.span_start
    x = rng.uniform(0.35, 0.65) * W + direction * (travelled - travelled[i_mid])
    visible = np.clip((np.minimum(x + length / 2, W) - np.maximum(x - length / 2, 0)) / length, 0, 1)
    wheel_r = length * (0.1 if fine != "motorcycle" else 0.22)
    params = {
        "length": length,
        "y_road": y_road,
        "direction": direction,
        "wheel_r": wheel_r,
        "v_ref": v0,
        "colour": _contrast(ctx.background.brightness, rng),
        "base_hz": float(
            {"car": rng.uniform(40, 60), "truck": rng.uniform(28, 40), "motorcycle": rng.uniform(60, 90)}[
                fine
            ]
        ),
    }
    state = {"x": x, "speed": speed, "wheel_angle": direction * travelled / wheel_r, "visible": visible}
    return [Source("engine", fine, fine, _db(rng, -8, -3), 25, _seed(rng), params, state, (), visible**0.7)]


def plan_water(rng: np.random.Generator, ctx: ShotContext) -> list[Source]:
    """Waves rolling in or a flowing stream; wave height drives the loudness."""
    fine = str(rng.choice(["waves", "stream"]))
    c = ctx.content_fps
    level = smooth_curve(rng, ctx.n, c, 0.35, 1.0, knot_s=0.8)
    rate = rng.uniform(0.5, 0.9) if fine == "waves" else rng.uniform(1.5, 3.0)  # cycles/s of crests
    phase = 2 * np.pi * rate * np.arange(ctx.n) / c + rng.uniform(0, 2 * np.pi)
    params = {
        "y_top": ctx.background.ground_y,
        "y_bottom": (
            ctx.background.floor_top if ctx.background.floor_top < ctx.height - 1 else float(ctx.height)
        ),
        "rate": rate,
        "tone": float(rng.uniform(0.3, 0.6)),
        "bands": float(rng.uniform(3, 6)),
    }
    state = {"phase": phase}
    return [Source("water", fine, fine, _db(rng, -10, -4), 5, _seed(rng), params, state, (), level)]


def plan_fire(rng: np.random.Generator, ctx: ShotContext) -> list[Source]:
    """Flickering flames with rising sparks; each spark's first picture is a crackle."""
    H, W, c = ctx.height, ctx.width, ctx.content_fps
    fine = "fireplace" if ctx.background.layout == "interior" else "campfire"
    n_fl = int(rng.integers(3, 7))
    base_y = _depth_y(ctx, float(rng.uniform(0.3, 0.8)))
    base_x = rng.uniform(0.3, 0.7) * W
    width = W * rng.uniform(0.15, 0.28)
    h0 = H * rng.uniform(0.18, 0.3) * rng.uniform(0.6, 1.0, n_fl)
    flick = np.stack([smooth_curve(rng, ctx.n, c, 0.45, 1.0, knot_s=0.12) for _ in range(n_fl)], axis=1)
    level = flick.mean(axis=1)
    births = np.flatnonzero(rng.random(ctx.n) < 0.35 * level)
    sparks = {
        "birth": births,
        "x": base_x + rng.uniform(-0.5, 0.5, births.size) * width,
        "vx": rng.uniform(-6, 6, births.size),
        "vy": rng.uniform(15, 35, births.size),
    }
    hits = tuple(
        Hit(int(b + ctx.span_start), float(rng.uniform(0.3, 1.0)), float(x), base_y - h0.mean())
        for b, x in zip(births, sparks["x"])
    )
    params = {
        "base_x": base_x,
        "base_y": base_y,
        "width": width,
        "h0": h0,
        "offsets": np.linspace(-0.4, 0.4, n_fl) * width,
        "sparks": sparks,
    }
    state = {"flicker": flick}
    return [Source("fire", fine, fine, _db(rng, -9, -4), 15, _seed(rng), params, state, hits, level)]


def plan_crowd(rng: np.random.Generator, ctx: ShotContext) -> list[Source]:
    """Many small figures milling about; the number in view sets the murmur's loudness."""
    H, W, c = ctx.height, ctx.width, ctx.content_fps
    fine = str(rng.choice(["small", "large"]))
    n = int(rng.integers(6, 13) if fine == "small" else rng.integers(16, 37))
    depth = rng.uniform(0.05, 1.0, n)
    y = ctx.background.floor_top + depth * (H - 2 - ctx.background.floor_top)
    size = H * (0.12 + 0.16 * depth)
    vx = rng.uniform(-0.12, 0.12, n) * W * (rng.random(n) < 0.6)
    x0 = rng.uniform(-0.1, 1.1, n) * W
    t = np.arange(ctx.n)[:, None] / c
    x = x0[None, :] + vx[None, :] * (t - t.mean())  # (n_pictures, n_figures)
    bob = (
        0.04
        * size[None, :]
        * np.abs(np.sin(2 * np.pi * rng.uniform(1.2, 2.2, n)[None, :] * t + rng.uniform(0, 6, n)))
    )
    inside = ((x > -2) & (x < W + 2)).sum(axis=1)
    level = np.clip(inside / n, 0.0, 1.0)
    params = {
        "y": y,
        "size": size,
        "tone": rng.uniform(0.05, 0.35, n) if ctx.background.brightness > 0.5 else rng.uniform(0.65, 0.95, n),
    }
    state = {"x": x, "bob": bob}
    return [Source("crowd", fine, "figures", _db(rng, -12, -6), 8, _seed(rng), params, state, (), level)]


PLANNERS = {
    "impact": plan_impacts,
    "footsteps": plan_walkers,
    "rain": plan_rain,
    "wind": plan_wind,
    "engine": plan_engine,
    "water": plan_water,
    "fire": plan_fire,
    "crowd": plan_crowd,
}

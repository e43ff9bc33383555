"""Samplers for rectified flow: pure functions of a velocity callable (DESIGN.md "Conventions").

Convention (Liu et al. 2022, "Flow straight and fast"; DESIGN.md "Objective"): the path from
noise x0 to data x1 is x_t = (1 - t) x0 + t x1, with t = 0 at noise and t = 1 at data, and the
network predicts the path's velocity v = dx_t/dt = x1 - x0. Sampling integrates dx/dt = v(x, t)
from t = 0 to t = 1 over a grid of times.

A ``Velocity`` is ``velocity(x, t) -> v`` with x of shape (B, ...), t of shape (B,) (every row at
the same time, on x's device, in float32 or x's dtype if wider, so that bf16 states still get
precise times) and v shaped like x. Samplers know nothing of networks, conditioning or
guidance; ``make_guided_velocity`` builds a ``Velocity`` from a network.

Gradients are left to the caller (wrap sampling in ``torch.inference_mode()`` for generation).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import Tensor

Velocity = Callable[[Tensor, Tensor], Tensor]
# model_fn(x (N, ...), t (N,), conditioning {name: (N, ...)}) -> v (N, ...)
ModelFn = Callable[[Tensor, Tensor, Mapping[str, Tensor]], Tensor]


def time_grid(steps: int, *, shift: float = 1.0, dtype: torch.dtype = torch.float32) -> Tensor:
    """(steps + 1,) times from exactly 0 (noise) to exactly 1 (data), increasing.

    ``shift`` > 1 spends more, smaller steps near the noise end, as SD3 does (Esser et al. 2024,
    section 5.3.2): with noise level s = 1 - t, the uniform grid's s becomes
    shift * s / (1 + (shift - 1) * s). ``shift`` = 1 gives the uniform grid.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps={steps!r}: need an integer >= 1")
    if not shift > 0:
        raise ValueError(f"shift={shift!r}: need a number > 0 (1 for a uniform grid)")
    noise_level = 1.0 - torch.linspace(0.0, 1.0, steps + 1, dtype=torch.float64)
    shifted = shift * noise_level / (1.0 + (shift - 1.0) * noise_level)
    times = 1.0 - shifted
    times[0], times[-1] = 0.0, 1.0
    return times.to(dtype)


def _check_times(times: Tensor) -> None:
    if times.ndim != 1 or times.numel() < 2:
        raise ValueError(f"times has shape {tuple(times.shape)}: need a 1-D grid of at least 2 times")
    if not bool((times[1:] > times[:-1]).all()):
        raise ValueError(f"times must increase strictly, got {times.tolist()}")


def _at(t: Tensor, x: Tensor) -> Tensor:
    """Time ``t`` (a 0-d tensor) as the (B,) vector a ``Velocity`` receives."""
    dtype = torch.promote_types(x.dtype, torch.float32)
    return torch.full((x.shape[0],), float(t), dtype=dtype, device=x.device)


def _step(times: Tensor, i: int) -> float:
    """times[i + 1] - times[i] in double precision: exact, whatever the grid's dtype."""
    return float(times[i + 1]) - float(times[i])


def sample_euler(velocity: Velocity, x0: Tensor, times: Tensor) -> Tensor:
    """Integrate from ``x0`` (noise at times[0]) to times[-1] with Euler steps; returns x at the end.

    One velocity evaluation per step: x <- x + (t[i+1] - t[i]) v(x, t[i]).
    """
    _check_times(times)
    x = x0
    for i in range(times.numel() - 1):
        dt = _step(times, i)
        x = x + dt * velocity(x, _at(times[i], x))
    return x


def sample_heun(velocity: Velocity, x0: Tensor, times: Tensor) -> Tensor:
    """Heun's second-order method (explicit trapezoid; Karras et al. 2022, Algorithm 1).

    Each step predicts with Euler, then averages the velocities at both ends. The last step is a
    plain Euler step, so the velocity is never evaluated at the final time (t = 1, where a
    data-predicting field may be singular): 2 * steps - 1 evaluations in all.
    """
    _check_times(times)
    x = x0
    last = times.numel() - 2
    for i in range(last + 1):
        dt = _step(times, i)
        v = velocity(x, _at(times[i], x))
        if i == last:
            x = x + dt * v
        else:
            x_pred = x + dt * v
            x = x + 0.5 * dt * (v + velocity(x_pred, _at(times[i + 1], x)))
    return x


SAMPLERS: dict[str, Callable[[Velocity, Tensor, Tensor], Tensor]] = {
    "euler": sample_euler,
    "heun": sample_heun,
}


def get_sampler(name: str) -> Callable[[Velocity, Tensor, Tensor], Tensor]:
    """The sampler called ``name`` ("euler" or "heun")."""
    try:
        return SAMPLERS[name]
    except KeyError:
        raise ValueError(f"unknown sampler {name!r}: accepted samplers are {tuple(SAMPLERS)}") from None


# ----------------------------------------------------------------------------- guidance


def guided_velocity(
    v_cond: Tensor, v_neg_text: Tensor, v_no_video: Tensor, text_scale: float, video_scale: float
) -> Tensor:
    """Classifier-free guidance with separate text and video scales, in one formula.

        v = v_cond + (text_scale - 1) (v_cond - v_neg_text) + (video_scale - 1) (v_cond - v_no_video)

    ``v_cond`` sees the prompt and the video; ``v_neg_text`` the negative prompt (it replaces the
    unconditional text) and the video; ``v_no_video`` the prompt without video. Each term is
    Ho & Salimans' (2022) guidance, v_u + s (v_c - v_u) = v_c + (s - 1)(v_c - v_u), with one
    condition removed, and the two terms add. A scale of 1 turns its guidance off; both at 1 give
    v_cond. All tensors share one shape.
    """
    return v_cond + (text_scale - 1.0) * (v_cond - v_neg_text) + (video_scale - 1.0) * (v_cond - v_no_video)


def stack_conditions(
    cond: Mapping[str, Tensor], neg_text: Mapping[str, Tensor], no_video: Mapping[str, Tensor]
) -> dict[str, Tensor]:
    """One conditioning batch of 3B rows: [conditional; negative text; no video] along dim 0.

    Each argument maps the same names to tensors of shape (B, ...); how a row says "no video"
    (a zeroed feature, a mask, a learned null token) is the network's business.
    """
    if not (set(cond) == set(neg_text) == set(no_video)):
        raise ValueError(
            "the three conditionings must have the same names, got "
            f"{sorted(cond)}, {sorted(neg_text)}, {sorted(no_video)}"
        )
    stacked = {}
    for name in cond:
        parts = (cond[name], neg_text[name], no_video[name])
        if len({p.shape for p in parts}) != 1:
            shapes = [tuple(p.shape) for p in parts]
            raise ValueError(f"conditioning {name!r} has shapes {shapes} in the three rows: need one shape")
        stacked[name] = torch.cat(parts, dim=0)
    return stacked


def make_guided_velocity(
    model_fn: ModelFn,
    cond: Mapping[str, Tensor],
    neg_text: Mapping[str, Tensor],
    no_video: Mapping[str, Tensor],
    *,
    text_scale: float,
    video_scale: float,
) -> Velocity:
    """A ``Velocity`` that runs ``model_fn`` once per call on 3B rows and applies ``guided_velocity``.

    The three conditionings (each {name: (B, ...)}) are stacked once, up front; every call then
    repeats x (B, ...) and t (B,) three times, evaluates the network on the (3B, ...) batch and
    splits its output into the conditional, negative-text and no-video velocities. The batch
    shape is the same whatever the scales, so results do not depend on them through batching.
    """
    stacked = stack_conditions(cond, neg_text, no_video)

    def velocity(x: Tensor, t: Tensor) -> Tensor:
        v = model_fn(torch.cat([x, x, x], dim=0), torch.cat([t, t, t], dim=0), stacked)
        if v.shape[0] != 3 * x.shape[0]:
            raise ValueError(f"model_fn returned {v.shape[0]} rows for a batch of {3 * x.shape[0]}")
        v_cond, v_neg_text, v_no_video = v.chunk(3, dim=0)
        return guided_velocity(v_cond, v_neg_text, v_no_video, text_scale, video_scale)

    return velocity

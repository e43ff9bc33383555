"""Samplers for rectified flow: pure functions of a velocity callable (docs/design.md "Conventions").

Convention (Liu et al. 2022, "Flow straight and fast"; docs/design.md "Objective"): the path from
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
    v_cond: Tensor,
    v_null_text: Tensor,
    v_no_video: Tensor,
    v_neg_text: Tensor,
    *,
    text_scale: float,
    video_scale: float,
    negative_scale: float,
) -> Tensor:
    """Classifier-free guidance with separate text, video and negative-prompt scales.

        v = v_cond + (text_scale - 1) (v_cond - v_null_text)
                   + (video_scale - 1) (v_cond - v_no_video)
                   - negative_scale (v_neg_text - v_null_text)

    ``v_cond`` sees the prompt and the video; ``v_null_text`` the learned null text and the video;
    ``v_neg_text`` the negative prompt and the video; ``v_no_video`` the prompt without video.
    The first two terms are Ho & Salimans' (2022) guidance, v_u + s (v_c - v_u) =
    v_c + (s - 1)(v_c - v_u), each with one condition removed; the last pushes away from the
    negative prompt by its own weight, as in Liu et al. (2022, "Compositional visual generation
    with composable diffusion models"). A scale of 1 (text, video) or 0 (negative) turns its term
    off. ``negative_scale = text_scale - 1`` gives v_cond + (text_scale - 1)(v_cond - v_neg_text),
    the rule where the negative prompt replaces the unconditional text. All tensors share a shape.
    """
    return (
        v_cond
        + (text_scale - 1.0) * (v_cond - v_null_text)
        + (video_scale - 1.0) * (v_cond - v_no_video)
        - negative_scale * (v_neg_text - v_null_text)
    )


def stack_conditions(*conditionings: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """One conditioning batch: the conditionings' rows, in order, along dim 0.

    Each argument maps the same names to tensors of shape (rows, ...) (the rows may differ in
    number); how a row says "no video" or "null text" (a zeroed feature, a mask, a learned null
    token) is the network's business.
    """
    names = [sorted(c) for c in conditionings]
    if any(n != names[0] for n in names):
        raise ValueError(f"the conditionings must have the same names, got {', '.join(map(str, names))}")
    stacked = {}
    for name in conditionings[0]:
        parts = [c[name] for c in conditionings]
        if len({p.shape[1:] for p in parts}) != 1:
            shapes = [tuple(p.shape) for p in parts]
            raise ValueError(f"conditioning {name!r} has shapes {shapes}: need one shape past the rows")
        stacked[name] = torch.cat(parts, dim=0)
    return stacked


def make_guided_velocity(
    model_fn: ModelFn,
    cond: Mapping[str, Tensor],
    null_text: Mapping[str, Tensor],
    no_video: Mapping[str, Tensor],
    neg_text: Mapping[str, Tensor],
    *,
    text_scale: float,
    video_scale: float,
    negative_scale: float,
    has_negative: Tensor | None = None,
    fixed_shape: bool = True,
) -> Velocity:
    """A ``Velocity`` that runs ``model_fn`` once per call and applies ``guided_velocity``.

    The four conditionings are each {name: (B, ...)}. ``has_negative`` (B,) bool marks the rows
    whose negative prompt is a real text (default: all); in the others ``v_neg_text`` is
    ``v_null_text`` exactly, so the negative term is 0. The network's batch is, in order,
    [conditional; null text; no video; negative text], stacked once, up front:

    - ``fixed_shape=True``: all 4B rows, whatever the prompts and scales, for devices whose
      batched kernels give a row bits that depend on the batch (docs/design.md "Determinism");
    - ``fixed_shape=False``: 3B rows plus a negative-text row only where it changes the result
      (``has_negative`` and a nonzero ``negative_scale``), for a ``model_fn`` that runs row by row.
    """
    batch = next(iter(cond.values())).shape[0]
    wanted = torch.ones(batch, dtype=torch.bool) if has_negative is None else has_negative.bool().cpu()
    if wanted.shape != (batch,):
        raise ValueError(f"has_negative has shape {tuple(wanted.shape)}: need ({batch},)")
    run_negative = torch.ones_like(wanted) if fixed_shape else wanted & (negative_scale != 0)
    negative_rows = run_negative.nonzero().flatten()  # rows of neg_text that the network sees
    stacked = stack_conditions(
        cond, null_text, no_video, {k: v[negative_rows.to(v.device)] for k, v in neg_text.items()}
    )
    rows = 3 * batch + len(negative_rows)
    used = wanted[negative_rows]  # of the negative rows run, those whose result is used

    def velocity(x: Tensor, t: Tensor) -> Tensor:
        picked, picked_used = negative_rows.to(x.device), used.to(x.device)
        v = model_fn(torch.cat([x, x, x, x[picked]]), torch.cat([t, t, t, t[picked]]), stacked)
        if v.shape[0] != rows:
            raise ValueError(f"model_fn returned {v.shape[0]} rows for a batch of {rows}")
        v_cond, v_null_text, v_no_video = v[:batch], v[batch : 2 * batch], v[2 * batch : 3 * batch]
        v_neg_text = v_null_text.clone()
        v_neg_text[picked[picked_used]] = v[3 * batch :][picked_used]
        return guided_velocity(
            v_cond,
            v_null_text,
            v_no_video,
            v_neg_text,
            text_scale=text_scale,
            video_scale=video_scale,
            negative_scale=negative_scale,
        )

    return velocity

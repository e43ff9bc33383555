"""Samplers against fields with known solutions; guidance by hand and batched."""

from __future__ import annotations

import math

import pytest
import torch

from model import config, sampling
from model.sampling import (
    get_sampler,
    guided_velocity,
    make_guided_velocity,
    sample_euler,
    sample_heun,
    time_grid,
)

# ----------------------------------------------------------------------------- time grid


@pytest.mark.parametrize("shift", [1.0, 3.0, 0.5])
def test_time_grid_runs_from_exactly_zero_to_exactly_one(shift):
    times = time_grid(7, shift=shift)
    assert times.shape == (8,)
    assert times.dtype == torch.float32
    assert times[0].item() == 0.0 and times[-1].item() == 1.0
    assert bool((times[1:] > times[:-1]).all())


def test_time_grid_uniform_without_shift():
    assert torch.allclose(time_grid(4), torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0]))


def test_shift_spends_smaller_steps_near_noise():
    uniform, shifted = time_grid(10), time_grid(10, shift=3.0)
    first, last = shifted[1] - shifted[0], shifted[-1] - shifted[-2]
    assert first < uniform[1] - uniform[0] < last
    # noise level s = 1 - t at the midpoint: 3 * 0.5 / (1 + 2 * 0.5) = 0.75
    assert shifted[5].item() == pytest.approx(0.25)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_time_grid_refuses_bad_steps(bad):
    with pytest.raises(ValueError, match=f"steps={bad!r}"):
        time_grid(bad)


def test_time_grid_refuses_bad_shift():
    with pytest.raises(ValueError, match="shift=0"):
        time_grid(4, shift=0)


def test_samplers_refuse_a_decreasing_grid():
    with pytest.raises(ValueError, match="increase"):
        sample_euler(lambda x, t: x, torch.zeros(1, 2), torch.tensor([0.0, 0.6, 0.4, 1.0]))


# ----------------------------------------------------------------------------- known solutions


@pytest.mark.parametrize("sampler", [sample_euler, sample_heun])
@pytest.mark.parametrize("shift", [1.0, 3.0])
def test_constant_velocity_is_integrated_exactly(sampler, shift):
    x0 = torch.randn(3, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    c = torch.linspace(-2, 2, 5, dtype=torch.float64)
    out = sampler(lambda x, t: c.expand_as(x), x0, time_grid(6, shift=shift, dtype=torch.float64))
    torch.testing.assert_close(out, x0 + c, rtol=0, atol=1e-12)


@pytest.mark.parametrize("sampler", [sample_euler, sample_heun])
def test_straight_path_to_one_point_lands_on_it(sampler):
    """The ideal rectified-flow field for a single data point x1 is (x1 - x) / (1 - t).

    It is singular at t = 1; both samplers land on x1 exactly because neither evaluates it there
    (Heun's last step is Euler).
    """
    x1 = torch.tensor([[0.5, -1.5, 2.0]], dtype=torch.float64)
    x0 = torch.tensor([[1.0, 0.0, -1.0]], dtype=torch.float64)
    seen = []

    def velocity(x, t):
        seen.append(t[0].item())
        return (x1 - x) / (1 - t[:, None])

    out = sampler(velocity, x0, time_grid(5, dtype=torch.float64))
    torch.testing.assert_close(out, x1, rtol=0, atol=1e-12)
    assert max(seen) < 1.0


def _linear_ode_error(sampler, steps: int, a: float = 1.5) -> float:
    """|x(1) - exact| for dx/dt = a x, x(0) = 1, whose solution is x(1) = e^a."""
    x0 = torch.ones(1, 1, dtype=torch.float64)
    out = sampler(lambda x, t: a * x, x0, time_grid(steps, dtype=torch.float64))
    return abs(out.item() - math.exp(a))


def test_heun_is_second_order_and_euler_first_order():
    euler = [_linear_ode_error(sample_euler, n) for n in (8, 16, 32)]
    heun = [_linear_ode_error(sample_heun, n) for n in (8, 16, 32)]
    for coarse, fine in zip(euler, euler[1:]):
        assert 1.7 < coarse / fine < 2.3  # error ~ 1/steps
    for coarse, fine in zip(heun, heun[1:]):
        assert 3.3 < coarse / fine < 4.7  # error ~ 1/steps^2, the Euler last step included
    # so Heun's advantage grows with the steps (measured: 5x at 8 steps, 21x at 32)
    assert heun[0] * 4 < euler[0] and heun[-1] * 15 < euler[-1]


def test_number_of_velocity_evaluations():
    calls = {"n": 0}

    def velocity(x, t):
        calls["n"] += 1
        return -x

    x0, times = torch.ones(2, 3), time_grid(10)
    sample_euler(velocity, x0, times)
    assert calls["n"] == 10
    calls["n"] = 0
    sample_heun(velocity, x0, times)
    assert calls["n"] == 19


@pytest.mark.parametrize(
    "x_dtype, t_dtype",
    [(torch.float64, torch.float64), (torch.float32, torch.float32), (torch.bfloat16, torch.float32)],
)
def test_velocity_receives_one_precise_time_per_row(x_dtype, t_dtype):
    seen = []

    def velocity(x, t):
        seen.append((t.shape, t.dtype, torch.unique(t).numel(), t[0].item()))
        return torch.zeros_like(x)

    sample_heun(velocity, torch.zeros(4, 2, 3, dtype=x_dtype), time_grid(3))
    assert [s[:3] for s in seen] == [(torch.Size([4]), t_dtype, 1)] * 5
    assert [s[3] for s in seen] == pytest.approx([0, 1 / 3, 1 / 3, 2 / 3, 2 / 3], abs=1e-7)


def test_get_sampler_names_and_errors():
    assert get_sampler("euler") is sample_euler and get_sampler("heun") is sample_heun
    with pytest.raises(ValueError, match=r"'rk4'.*'euler', 'heun'"):
        get_sampler("rk4")
    assert tuple(sampling.SAMPLERS) == config.SAMPLERS  # the config accepts exactly these names


# ----------------------------------------------------------------------------- guidance


def test_guided_velocity_by_hand():
    v_cond, v_null = torch.tensor([1.0, 2.0]), torch.tensor([0.0, 1.0])
    v_neg, v_novid = torch.tensor([2.0, -1.0]), torch.tensor([3.0, 0.0])
    # v_cond + (2 - 1)(v_cond - v_null) + (3 - 1)(v_cond - v_novid) - 0.5 (v_neg - v_null)
    # = [1 + 1 - 4 - 1, 2 + 1 + 4 + 1]
    out = guided_velocity(v_cond, v_null, v_novid, v_neg, text_scale=2.0, video_scale=3.0, negative_scale=0.5)
    assert out.tolist() == [-3.0, 8.0]


def test_guidance_scales_that_turn_terms_off():
    v_cond, v_null, v_neg, v_novid = torch.randn(4, 3, 5, generator=torch.Generator().manual_seed(1))

    def guided(text, video, negative):
        return guided_velocity(
            v_cond, v_null, v_novid, v_neg, text_scale=text, video_scale=video, negative_scale=negative
        )

    assert torch.equal(guided(1.0, 1.0, 0.0), v_cond)
    torch.testing.assert_close(guided(0.0, 1.0, 0.0), v_null)
    torch.testing.assert_close(guided(1.0, 0.0, 0.0), v_novid)
    # a negative weight of text_scale - 1 is the rule where the negative prompt replaces the null text
    torch.testing.assert_close(guided(3.0, 1.0, 2.0), v_cond + 2.0 * (v_cond - v_neg))
    # a negative prompt equal to the null text changes nothing, whatever its weight
    assert torch.equal(
        guided_velocity(v_cond, v_null, v_novid, v_null, text_scale=2, video_scale=2, negative_scale=3),
        guided(2, 2, 0),
    )


class ToyNetwork:
    """A nonlinear stand-in for the denoiser that counts its calls and their batch sizes."""

    def __init__(self, dim: int = 6, text_dim: int = 4):
        g = torch.Generator().manual_seed(2)
        self.w = torch.randn(dim, dim, generator=g) / dim
        self.text = torch.randn(text_dim, dim, generator=g)
        self.batches: list[int] = []

    def __call__(self, x, t, cond):
        self.batches.append(x.shape[0])
        h = torch.tanh(x @ self.w + cond["text"] @ self.text + t[:, None]) * cond["video"]
        return h - x * cond["video"].mean(dim=1, keepdim=True)


def _conditions(batch: int):
    g = torch.Generator().manual_seed(3)
    text, null, negative = (torch.randn(batch, 4, generator=g) for _ in range(3))
    video = torch.rand(batch, 6, generator=g) + 0.5
    cond = {"text": text, "video": video}
    null_text = {"text": null, "video": video}
    no_video = {"text": text, "video": torch.zeros_like(video)}
    neg_text = {"text": negative, "video": video}
    return cond, null_text, no_video, neg_text


SCALES = {"text_scale": 2.5, "video_scale": 1.5, "negative_scale": 1.25}


@pytest.mark.parametrize("name", ["euler", "heun"])
def test_batched_guidance_is_one_call_per_evaluation_and_matches_four_calls(name):
    batch, steps = 2, 5
    conditionings = _conditions(batch)
    x0 = torch.randn(batch, 6, generator=torch.Generator().manual_seed(4))
    times = time_grid(steps)

    network = ToyNetwork()
    batched = get_sampler(name)(make_guided_velocity(network, *conditionings, **SCALES), x0, times)
    evaluations = steps if name == "euler" else 2 * steps - 1
    assert network.batches == [4 * batch] * evaluations

    reference = ToyNetwork()

    def four_calls(x, t):
        return guided_velocity(*(reference(x, t, c) for c in conditionings), **SCALES)

    separate = get_sampler(name)(four_calls, x0, times)
    assert reference.batches == [batch] * 4 * evaluations
    torch.testing.assert_close(batched, separate, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("fixed_shape", [True, False])
def test_rows_without_a_negative_prompt_get_no_negative_term(fixed_shape):
    cond, null_text, no_video, neg_text = _conditions(3)
    x, t = torch.randn(3, 6, generator=torch.Generator().manual_seed(5)), torch.full((3,), 0.3)
    has_negative = torch.tensor([True, False, True])
    network = ToyNetwork()
    velocity = make_guided_velocity(
        network,
        cond,
        null_text,
        no_video,
        neg_text,
        **SCALES,
        has_negative=has_negative,
        fixed_shape=fixed_shape,
    )
    out = velocity(x, t)
    # fixed shape: always 4B rows; otherwise the negative-text rows of rows 0 and 2 only
    assert network.batches == [12 if fixed_shape else 11]
    reference = ToyNetwork()
    v_cond, v_null, v_novid, v_neg = (reference(x, t, c) for c in (cond, null_text, no_video, neg_text))
    expected = guided_velocity(
        v_cond, v_null, v_novid, torch.where(has_negative[:, None], v_neg, v_null), **SCALES
    )
    torch.testing.assert_close(out, expected, rtol=1e-6, atol=1e-6)
    assert not torch.allclose(out[0], guided_velocity(v_cond, v_null, v_novid, v_null, **SCALES)[0])


def test_a_zero_negative_scale_runs_no_negative_rows_unless_the_shape_is_fixed():
    conditionings = _conditions(2)
    x, t = torch.zeros(2, 6), torch.zeros(2)
    for fixed_shape, rows in ((True, 8), (False, 6)):
        network = ToyNetwork()
        scales = {**SCALES, "negative_scale": 0.0}
        make_guided_velocity(network, *conditionings, **scales, fixed_shape=fixed_shape)(x, t)
        assert network.batches == [rows]


def test_batched_rows_are_in_the_documented_order():
    cond, null_text, no_video, neg_text = _conditions(2)
    seen = {}

    def network(x, t, c):
        seen.update(c)
        return torch.zeros_like(x)

    make_guided_velocity(network, cond, null_text, no_video, neg_text, **SCALES)(
        torch.zeros(2, 6), torch.zeros(2)
    )
    assert torch.equal(
        seen["text"], torch.cat([cond["text"], null_text["text"], cond["text"], neg_text["text"]])
    )
    assert torch.equal(seen["video"][4:6], torch.zeros(2, 6))


def test_conditionings_must_match():
    cond, null_text, no_video, neg_text = _conditions(2)
    with pytest.raises(ValueError, match="same names"):
        make_guided_velocity(ToyNetwork(), cond, {"text": cond["text"]}, no_video, neg_text, **SCALES)
    with pytest.raises(ValueError, match="'video' has shapes"):
        make_guided_velocity(
            ToyNetwork(), cond, null_text, {**no_video, "video": torch.zeros(2, 5)}, neg_text, **SCALES
        )
    with pytest.raises(ValueError, match=r"has_negative has shape \(3,\)"):
        make_guided_velocity(
            ToyNetwork(),
            cond,
            null_text,
            no_video,
            neg_text,
            **SCALES,
            has_negative=torch.ones(3, dtype=torch.bool),
        )


def test_sampling_is_deterministic_for_a_seed():
    conditionings = _conditions(2)

    def run(seed):
        velocity = make_guided_velocity(ToyNetwork(), *conditionings, **SCALES)
        x0 = torch.randn(2, 6, generator=torch.Generator().manual_seed(seed))
        return sample_heun(velocity, x0, time_grid(8, shift=2.0))

    assert torch.equal(run(7), run(7))
    assert not torch.equal(run(7), run(8))

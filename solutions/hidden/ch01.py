"""Chapter 1's hidden cases: the same checks on shapes and settings the public cases do not show."""

from __future__ import annotations

import torch

from llmcourse.checks.ch01 import (
    _adam_params,
    _adam_state,
    _ce_problem,
    _check_adam,
    _check_ce,
    _check_linear,
    _check_mlp,
    _check_shape_error,
    _check_training,
    _draw_betas,
    _draw_lr,
    _sizes,
)
from llmcourse.grading.core import Trial
from llmcourse.grading.hidden import hidden_case


@hidden_case("ch01.linear_forward", "one input feature, four leading dimensions, large values, no bias")
def _(t: Trial) -> None:
    d_out = t.py.randint(2, 5)
    _check_linear(t, t.randn(2, 3, 1, 2, 1, scale=30.0), t.randn(d_out, 1), t.randn(d_out, scale=30.0))
    _check_linear(t, t.randn(3, 1, 2, 1, scale=30.0), t.randn(d_out, 1), None)


@hidden_case("ch01.linear_forward", "a ValueError for a 0-d weight, a 4-D weight and an (out_features, 1) bias")
def _(t: Trial) -> None:
    n, d_in, d_out = _sizes(t, 3, 2, 7)
    x, weight = t.randn(2, n, d_in), t.randn(d_out, d_in)
    _check_linear(t, x, weight, t.randn(d_out))  # the tensors that fit, for comparison
    point = t.randn(())
    _check_shape_error(t, x, point, None, {"weight": point}, "a 0-d weight")
    stacked = t.randn(2, 1, d_out, d_in)
    _check_shape_error(t, x, stacked, None, {"weight": stacked}, "a weight with four dimensions")
    column = t.randn(d_out, 1)
    _check_shape_error(t, x, weight, column, {"bias": column}, "an (out_features, 1) bias")


@hidden_case("ch01.linear_forward", "a ValueError for a (B, T, D) input against the wrong weight, and a 2-D bias")
def _(t: Trial) -> None:
    b, time, d_in, d_out = _sizes(t, 4, 2, 7)
    x, weight = t.randn(b, time, d_in), t.randn(d_out, d_in + t.py.randint(1, 3))
    _check_shape_error(t, x, weight, None, {"x": x, "weight": weight}, "x's last dimension is not in_features")
    bias = t.randn(1, d_out)  # a row: it broadcasts over the batch without an error from torch
    _check_shape_error(t, t.randn(b, d_in), t.randn(d_out, d_in), bias, {"bias": bias}, "a (1, out_features) bias")


@hidden_case("ch01.mlp_backward", "one hidden unit and one input feature, with parameters that require grad")
def _(t: Trial) -> None:
    _check_mlp(t, t.py.randint(6, 12), 1, 2, t.py.randint(2, 4), leaves=True)


@hidden_case("ch01.mlp_backward", "many classes, a wide hidden layer, a batch of one")
def _(t: Trial) -> None:
    _check_mlp(t, 1, t.py.randint(2, 5), t.py.randint(20, 40), t.py.randint(8, 15), leaves=False)


@hidden_case("ch01.adam_step", "AdamW with a tiny learning rate and most parameters frozen, a 0-d and a 3-D one")
def _(t: Trial) -> None:
    params = _adam_params(t, [(2, 3), (3,), (1, 1), (4, 2), (2, 3, t.py.randint(2, 5)), ()], frozen=(0, 2, 3))
    _check_adam(t, params, _adam_state(t, params, (0, 1, 3)), _draw_lr(t, 0.0005, 0.005), (0.9, 0.999), 1e-8,
                round(t.py.uniform(0.01, 0.1), 4), True, "a tiny learning rate, three parameters frozen")


@hidden_case("ch01.adam_step", "Adam with L2 decay far into a run, large decay, a (1, D) row")
def _(t: Trial) -> None:
    d = t.py.randint(2, 6)
    params = _adam_params(t, [(1, d), (d, 2)])
    state = {i: {**s, "step": t.py.randint(500, 5000)} for i, s in _adam_state(t, params, (0, 1)).items()}
    _check_adam(t, params, state, _draw_lr(t, 0.002, 0.05), _draw_betas(t), 1e-6, round(t.py.uniform(0.5, 2.0), 3),
                False, "a later Adam step with a large decay")


@hidden_case("ch01.stable_cross_entropy", "one logit far above the rest in each row, many classes, float16")
def _(t: Trial) -> None:
    n, c = t.py.randint(3, 7), t.py.randint(30, 60)
    logits, targets = _ce_problem(t, n, c, dtype=torch.float64)
    logits[torch.arange(n), t.randint(0, c, (n,))] += 5e3  # the target is rarely the winner: a loss near 5e3
    _check_ce(t, logits, targets, f"for ({n}, {c}) float64 logits with one winner per row")
    _check_ce(t, *_ce_problem(t, 1, c, dtype=torch.float16, scale=8.0), f"for (1, {c}) float16 logits")


@hidden_case("ch01.stable_cross_entropy", "a sliced (every other column) bfloat16 batch of large logits")
def _(t: Trial) -> None:
    n, c = _sizes(t, 2, 3, 9)
    logits = t.randn(n, 2 * c, scale=1e3, dtype=torch.bfloat16)[:, ::2]  # (n, c), non-contiguous
    _check_ce(t, logits, t.randint(0, c, (n,)), f"for ({n}, {c}) sliced bfloat16 logits")


@hidden_case("ch01.train_classifier", "a wide network (40 hidden units)")
def _(t: Trial) -> None:
    _check_training(t, t.py.randint(220, 280), 40, "a wide network")

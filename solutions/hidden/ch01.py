"""Chapter 1's hidden cases: the same checks on shapes and settings the public cases do not show."""

from __future__ import annotations

from llmcourse.grading.ch01 import (
    _buffers,
    _check_accumulation,
    _check_adam,
    _check_linear,
    _check_mlp,
    _check_momentum,
    _check_shape_error,
    _classifier,
    _draw_betas,
    _draw_lr,
    _draw_momentum,
    _micro_batches,
    _momentum_params,
    _sizes,
)
from llmcourse.grading.core import Trial
from llmcourse.grading.hidden import hidden_case


@hidden_case("ch01.linear_forward", "one input feature, four leading dimensions, large values, no bias")
def _(t: Trial) -> None:
    d_out = t.py.randint(2, 5)
    _check_linear(t, t.randn(2, 3, 1, 2, 1, scale=30.0), t.randn(d_out, 1), t.randn(d_out, scale=30.0))
    _check_linear(t, t.randn(3, 1, 2, 1, scale=30.0), t.randn(d_out, 1), None)


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


@hidden_case("ch01.sgd_momentum", "a high momentum and a tiny learning rate, Nesterov, most parameters frozen")
def _(t: Trial) -> None:
    params = _momentum_params(t, [(2, 3), (3,), (1, 1), (4, 2), (2,), (5,)], frozen=(0, 2, 3, 5))
    _check_momentum(t, params, _buffers(t, params, (0, 1, 3)), _draw_lr(t, 0.0005, 0.005), 0.99,
                    round(t.py.uniform(1e-4, 1e-2), 5), True, "momentum 0.99, Nesterov, four parameters frozen")


@hidden_case("ch01.sgd_momentum", "a (B, T, D) parameter and a 0-d one, first step with weight decay, no Nesterov")
def _(t: Trial) -> None:
    params = _momentum_params(t, [(2, 3, t.py.randint(2, 5)), ()])
    _check_momentum(t, params, {}, _draw_lr(t, 0.02, 0.6), _draw_momentum(t), round(t.py.uniform(0.05, 0.3), 3),
                    False, "a 3-D and a 0-d parameter")


@hidden_case("ch01.adam_update", "a 0-d parameter at step 1 and a (B, T, D) parameter far into a run")
def _(t: Trial) -> None:
    _check_adam(t, (), 1, _draw_lr(t, 0.002, 0.2), _draw_betas(t), 1e-6)
    _check_adam(t, (2, 3, t.py.randint(2, 5)), t.py.randint(500, 5000), _draw_lr(t, 0.0005, 0.01), (0.9, 0.999), 1e-8)


@hidden_case("ch01.accumulate_gradients", "eight micro-batches of one example each, four classes, a wider network")
def _(t: Trial) -> None:
    spec = _classifier(t, 4, 4, 24, stale=True)
    _check_accumulation(t, spec, _micro_batches(t, [1] * 8, 4, 4), "eight single examples")


@hidden_case("ch01.accumulate_gradients", "one feature, a large micro-batch after a small one, no earlier gradients")
def _(t: Trial) -> None:
    spec = _classifier(t, 1, 2, 5, stale=False, activation="Tanh")
    _check_accumulation(t, spec, _micro_batches(t, [2, t.py.randint(20, 40)], 1, 2), "micro-batches of 2 and many")

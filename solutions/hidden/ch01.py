"""Chapter 1's hidden cases: the same checks on shapes and settings the public cases do not show."""

from __future__ import annotations

from llmcourse.grading.ch01 import (
    _check_adam,
    _check_linear,
    _check_mlp,
    _check_sgd,
    _check_training,
    _draw_betas,
    _draw_lr,
    _params,
    _problem,
    _sizes,
)
from llmcourse.grading.core import Trial
from llmcourse.grading.hidden import hidden_case


@hidden_case("ch01.linear_forward", "a single vector with no batch dimension (in_features,)")
def _(t: Trial) -> None:
    d_in, d_out = _sizes(t, 2, 2, 8)
    _check_linear(t, t.randn(d_in), t.randn(d_out, d_in), t.randn(d_out))


@hidden_case("ch01.linear_forward", "one input feature, four leading dimensions, large values")
def _(t: Trial) -> None:
    d_out = t.py.randint(2, 5)
    _check_linear(t, t.randn(2, 3, 1, 2, 1, scale=30.0), t.randn(d_out, 1), t.randn(d_out, scale=30.0))


@hidden_case("ch01.mlp_backward", "one hidden unit and one input feature, with parameters that require grad")
def _(t: Trial) -> None:
    _check_mlp(t, t.py.randint(6, 12), 1, 2, t.py.randint(2, 4), leaves=True)


@hidden_case("ch01.mlp_backward", "many classes, a wide hidden layer, a batch of one")
def _(t: Trial) -> None:
    _check_mlp(t, 1, t.py.randint(2, 5), t.py.randint(20, 40), t.py.randint(8, 15), leaves=False)


@hidden_case("ch01.sgd_step", "a tuple of parameters, most of them frozen, with a small learning rate")
def _(t: Trial) -> None:
    shapes = [(2, 3), (3,), (1, 1), (4, 2), (2,), (5,)]
    params = _params(t, shapes, frozen=(0, 2, 3, 5))
    _check_sgd(t, params, _draw_lr(t, 0.0005, 0.005), container="tuple")


@hidden_case("ch01.sgd_step", "an iterator whose first parameter has no gradient")
def _(t: Trial) -> None:
    d = t.py.randint(2, 6)
    _check_sgd(t, _params(t, [(d, d), (d,), (1, d)], frozen=(0,)), _draw_lr(t, 0.2, 0.9), container="iterator")


@hidden_case("ch01.adam_update", "a 0-d parameter at step 1 and a (B, T, D) parameter far into a run")
def _(t: Trial) -> None:
    _check_adam(t, (), 1, _draw_lr(t, 0.002, 0.2), _draw_betas(t), 1e-6)
    _check_adam(t, (2, 3, t.py.randint(2, 5)), t.py.randint(500, 5000), _draw_lr(t, 0.0005, 0.01), (0.9, 0.999), 1e-8)


@hidden_case("ch01.train_loop", "four classes, a wider network, many steps")
def _(t: Trial) -> None:
    spec, x, y = _problem(t, t.py.randint(20, 40), 4, 4, 24)
    _check_training(t, spec, x, y, 40, _draw_lr(t, 0.05, 0.3))


@hidden_case("ch01.train_loop", "two examples, one feature")
def _(t: Trial) -> None:
    spec, x, y = _problem(t, 2, 1, 2, 5, activation="Tanh")
    _check_training(t, spec, x, y, 6, _draw_lr(t, 0.3, 0.9))

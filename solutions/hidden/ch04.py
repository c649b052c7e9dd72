"""Chapter 4's hidden cases: sizes and values the public cases leave out (one hidden unit, one input feature, a
long float64 sequence, saturated gates over many steps, a single parameter, a gradient that is exactly at the
limit). Same checks as the public cases, new inputs."""

from __future__ import annotations

import math

import torch

from llmcourse.checks.ch04 import check_bptt, check_clip, check_gru, sequence_inputs, upstream_for
from llmcourse.grading.core import Trial
from llmcourse.grading.hidden import hidden_case


@hidden_case("ch04.rnn_bptt", "one hidden unit, one input feature, a larger batch")
def _(t: Trial) -> None:
    batch, length = t.py.randint(6, 9), t.py.randint(3, 6)
    check_bptt(t, sequence_inputs(t, batch, length, 1, 1), upstream_for(t, batch, length, 1))


@hidden_case("ch04.rnn_bptt", "40 float64 steps with small recurrent weights, only the last output read")
def _(t: Trial) -> None:
    batch, length, n_in, hidden = t.py.randint(1, 3), 40, t.py.randint(2, 4), t.py.randint(3, 5)
    inputs = sequence_inputs(t, batch, length, n_in, hidden, recurrent=0.5, dtype=torch.float64)
    check_bptt(t, inputs, upstream_for(t, batch, length, hidden, zero_steps=tuple(range(length - 1)),
                                       dtype=torch.float64))


@hidden_case("ch04.gru_sequence", "one hidden unit, so each block is a single column")
def _(t: Trial) -> None:
    check_gru(t, sequence_inputs(t, t.py.randint(3, 5), t.py.randint(2, 5), t.py.randint(2, 4), 1, blocks=3))


@hidden_case("ch04.gru_sequence", "30 float64 steps with saturating gates")
def _(t: Trial) -> None:
    check_gru(t, sequence_inputs(t, 2, 30, t.py.randint(2, 3), t.py.randint(2, 4), blocks=3, scale=3.0,
                                 dtype=torch.float64))


@hidden_case("ch04.clip_grad_norm", "a single parameter, inf-norm, float32, large gradients")
def _(t: Trial) -> None:
    check_clip(t, [(t.py.randint(2, 5), t.py.randint(2, 5))], round(t.py.uniform(0.5, 2.0), 3), math.inf, scale=1e3)


@hidden_case("ch04.clip_grad_norm", "many small parameters, most without a gradient, float64, 2-norm")
def _(t: Trial) -> None:
    shapes = [(t.py.randint(1, 4),) for _ in range(8)]
    check_clip(t, shapes, round(t.py.uniform(0.2, 0.8), 3), 2.0, frozen=(0, 2, 3, 5, 7), dtype=torch.float64)


@hidden_case("ch04.rnn_bptt", "bfloat16 throughout, a single hidden unit with a moderate recurrent weight")
def _(t: Trial) -> None:
    batch, length = t.py.randint(2, 4), t.py.randint(2, 3)
    check_bptt(t, sequence_inputs(t, batch, length, t.py.randint(2, 3), 1, recurrent=0.5, dtype=torch.bfloat16),
               upstream_for(t, batch, length, 1, dtype=torch.bfloat16))


@hidden_case("ch04.gru_sequence", "float16 throughout, x a non-contiguous view")
def _(t: Trial) -> None:
    check_gru(t, sequence_inputs(t, t.py.randint(2, 3), t.py.randint(2, 4), t.py.randint(2, 4), t.py.randint(2, 4),
                                 blocks=3, dtype=torch.float16, strided=True))


@hidden_case("ch04.clip_grad_norm", "bfloat16 gradients, inf-norm, one parameter without a gradient")
def _(t: Trial) -> None:
    rows = t.py.randint(2, 4)
    check_clip(t, [(rows, 3), (3,), (rows,)], round(t.py.uniform(0.5, 2.0), 3), math.inf, frozen=(t.py.randrange(3),),
               dtype=torch.bfloat16, scale=2.0)

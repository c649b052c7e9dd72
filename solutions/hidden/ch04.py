"""Chapter 4's hidden cases: sizes and values the public cases leave out (one hidden unit, saturated gates,
two classes, a nearly certain model, extreme temperatures). Same checks as the public cases, new inputs."""

from __future__ import annotations

import torch

from llmcourse.grading.ch04 import check_distribution, check_lstm, check_metrics, check_rnn, metric_inputs, sample_rows
from llmcourse.grading.core import Trial
from llmcourse.grading.hidden import hidden_case


@hidden_case("ch04.rnn_step", "a single input feature, a wide hidden state and a larger batch")
def _(t: Trial) -> None:
    check_rnn(t, t.py.randint(8, 12), 1, t.py.randint(6, 9))


@hidden_case("ch04.rnn_step", "one hidden unit, with large inputs that saturate the tanh")
def _(t: Trial) -> None:
    check_rnn(t, t.py.randint(2, 4), t.py.randint(3, 5), 1, scale=3.0)


@hidden_case("ch04.lstm_step", "one hidden unit, so each gate is a single column")
def _(t: Trial) -> None:
    check_lstm(t, t.py.randint(3, 5), t.py.randint(2, 4), 1)


@hidden_case("ch04.lstm_step", "large pre-activations that saturate the gates, and a large old cell")
def _(t: Trial) -> None:
    check_lstm(t, t.py.randint(2, 4), t.py.randint(4, 6), t.py.randint(2, 3), scale=3.0)


@hidden_case("ch04.lm_metrics", "two classes and long sequences")
def _(t: Trial) -> None:
    check_metrics(t, *metric_inputs(t, 2, t.py.randint(30, 50), 2))


@hidden_case("ch04.lm_metrics", "a nearly certain model (the loss is close to 0)")
def _(t: Trial) -> None:
    logits = t.randn(t.py.randint(2, 4), t.py.randint(5, 9), t.py.randint(10, 20), scale=8.0)  # (B, T, V)
    check_metrics(t, logits, logits.argmax(-1))


@hidden_case("ch04.sample_next", "a temperature far below 1 (close to always the top id)")
def _(t: Trial) -> None:
    check_distribution(t, sample_rows(t, 3, t.py.randint(4, 6)), t.py.uniform(0.1, 0.2))


@hidden_case("ch04.sample_next", "a temperature far above 1 (close to uniform), with float64 logits")
def _(t: Trial) -> None:
    check_distribution(t, sample_rows(t, 3, t.py.randint(8, 10)).to(torch.float64), t.py.uniform(6.0, 10.0))

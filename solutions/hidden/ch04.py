"""Chapter 4's hidden cases: sizes and values the public cases leave out (one hidden unit, saturated gates,
a single character per row, extreme temperatures, a tiny and a large epsilon). Same checks as the
public cases, new inputs."""

from __future__ import annotations

import torch

from llmcourse.grading.ch04 import (
    check_backward,
    check_distribution,
    check_gru,
    check_masked,
    padded_batch,
    sample_rows,
)
from llmcourse.grading.core import Trial
from llmcourse.grading.hidden import hidden_case


@hidden_case("ch04.masked_lm_metrics", "every row holds a single real character, two-class vocabulary")
def _(t: Trial) -> None:
    batch = t.py.randint(3, 6)
    logits, targets, _ = padded_batch(t, batch, t.py.randint(4, 8), 2, full_row=False)
    check_masked(t, logits, targets, torch.ones(batch, dtype=torch.int64))


@hidden_case("ch04.masked_lm_metrics", "long rows of very different lengths, a nearly certain model")
def _(t: Trial) -> None:
    logits, targets, lengths = padded_batch(t, t.py.randint(4, 6), t.py.randint(30, 50), t.py.randint(10, 20))
    logits = logits * 3.0
    check_masked(t, logits, logits.argmax(-1), lengths)


@hidden_case("ch04.gru_step", "one hidden unit, so each block is a single column")
def _(t: Trial) -> None:
    check_gru(t, t.py.randint(3, 5), t.py.randint(2, 4), 1)


@hidden_case("ch04.gru_step", "large pre-activations that saturate the gates")
def _(t: Trial) -> None:
    check_gru(t, t.py.randint(2, 4), t.py.randint(4, 6), t.py.randint(2, 3), scale=3.0)


@hidden_case("ch04.rnn_step_backward", "a single input feature, a wide hidden state and a larger batch")
def _(t: Trial) -> None:
    check_backward(t, t.py.randint(8, 12), 1, t.py.randint(6, 9))


@hidden_case("ch04.rnn_step_backward", "one hidden unit, with large inputs that saturate the tanh")
def _(t: Trial) -> None:
    check_backward(t, t.py.randint(2, 4), t.py.randint(3, 5), 1, scale=3.0)


@hidden_case("ch04.sample_eta", "a temperature far below 1 and a tiny epsilon, as in the paper")
def _(t: Trial) -> None:
    temperature, epsilon = t.py.uniform(0.3, 0.5), t.py.uniform(0.005, 0.01)
    check_distribution(t, sample_rows(t, 3, t.py.randint(4, 6), temperature, epsilon), temperature, epsilon)


@hidden_case("ch04.sample_eta", "a temperature far above 1 (a nearly flat row), float64 logits, a large epsilon")
def _(t: Trial) -> None:
    temperature, epsilon = t.py.uniform(4.0, 6.0), t.py.uniform(0.3, 0.5)
    rows = sample_rows(t, 3, t.py.randint(8, 10), temperature, epsilon).to(torch.float64)
    check_distribution(t, rows, temperature, epsilon)

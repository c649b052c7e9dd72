"""Chapter 7's hidden cases: sizes and values the public cases leave out (no warm-up, a decay over the whole run
after warm-up, one block without biases, a vocabulary of two, every sequence padded). Same checks, new inputs."""

from __future__ import annotations

from llmcourse.checks.ch07 import check_flops, check_groups, check_padded, check_wsd
from llmcourse.grading.core import Trial
from llmcourse.grading.hidden import hidden_case


@hidden_case("ch07.wsd_lr", "no warm-up at all (warmup_steps = 0)")
def _(t: Trial) -> None:
    check_wsd(t, t.py.uniform(1e-3, 1e-2), t.py.uniform(1e-5, 1e-4), 0, t.py.randint(3, 6), t.py.randint(10, 20))


@hidden_case("ch07.wsd_lr", "the decay takes every step after the warm-up")
def _(t: Trial) -> None:
    warmup, max_steps = t.py.randint(2, 5), t.py.randint(15, 25)
    check_wsd(t, t.py.uniform(0.01, 0.1), t.py.uniform(1e-4, 1e-3), warmup, max_steps - warmup, max_steps)


@hidden_case("ch07.embedding_param_groups", "one tied block without biases")
def _(t: Trial) -> None:
    check_groups(t, 1, 4, t.py.randint(3, 6), 2, False, True, shuffle=True)


@hidden_case("ch07.training_flops_per_token", "a wide, shallow model with a long context and a tiny vocabulary")
def _(t: Trial) -> None:
    check_flops(t, 2, t.py.randint(200, 300), 1, 8, 8 * t.py.randint(8, 12))


@hidden_case("ch07.padded_lm_loss", "a vocabulary of two, every sequence padded, pad id 1")
def _(t: Trial) -> None:
    length = t.py.randint(6, 10)
    check_padded(t, 3, length, 2, 1, t.py.uniform(0.0, 0.3), lengths=[2, t.py.randint(3, length - 1), length - 1])

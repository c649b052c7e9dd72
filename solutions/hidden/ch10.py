"""Chapter 10's hidden cases: sizes and values the public cases leave out (many rows of many short exchanges, a batch
of prompts only, one long conversation beside empty rows, a tau far below 1, many prompts of two answers each, a
large vocabulary). Same checks as the public cases, new inputs."""

from __future__ import annotations

import torch

from llmcourse.checks.ch10 import check_ipo, check_kl, check_rloo, check_sft_loss, check_targets, random_turns
from llmcourse.grading.core import Trial
from llmcourse.grading.hidden import hidden_case


@hidden_case("ch10.completion_targets", "many rows of many short exchanges, each with a system turn")
def _(t: Trial) -> None:
    conversations = [
        random_turns(t, t.py.randint(3, 6), system=True, longest=2, empty_answer=t.py.random() < 0.3)
        for _ in range(t.py.randint(8, 12))
    ]
    check_targets(t, conversations, t.py.randint(12, 20), at_top=False)


@hidden_case("ch10.completion_targets", "a batch of prompts only: no row holds an assistant turn")
def _(t: Trial) -> None:
    conversations = [
        random_turns(t, 0, system=t.py.random() < 0.5, ends_with_user=True) for _ in range(t.py.randint(2, 4))
    ]
    check_targets(t, conversations, t.py.randint(20, 40), extra=t.py.randint(0, 3))


@hidden_case(
    "ch10.per_conversation_loss", "one long answer beside rows with no scored target, over a large vocabulary, float64"
)
def _(t: Trial) -> None:
    length = t.py.randint(30, 40)
    check_sft_loss(t, 4, length, t.py.randint(50, 80), counts=[0, length, 0, 1], dtype=torch.float64)


@hidden_case("ch10.ipo_loss", "a tau far below 1 (a wide target margin), many pairs")
def _(t: Trial) -> None:
    check_ipo(t, t.py.randint(20, 40), t.py.uniform(0.01, 0.03), dtype=torch.float64, drift=10.0)


@hidden_case("ch10.rloo_advantages", "many prompts of two answers each, float64 scores")
def _(t: Trial) -> None:
    check_rloo(t, t.py.randint(10, 20), 2, dtype=torch.float64, kind="scores", scale=5.0)


@hidden_case("ch10.token_kl", "a large vocabulary, long rows, float64")
def _(t: Trial) -> None:
    check_kl(t, t.py.randint(2, 3), t.py.randint(20, 30), t.py.randint(200, 300), dtype=torch.float64)

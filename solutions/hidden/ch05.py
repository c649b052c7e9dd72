"""Chapter 5's hidden cases: sizes and values the public cases leave out (one token, one head, many groups,
a window of one, all-but-one padding, very sharp softmax rows). Same checks as the public cases (float64
among them), new inputs."""

from __future__ import annotations

from llmcourse.checks.ch05 import check_alibi, check_backward, check_gqa, check_window
from llmcourse.grading.core import Trial
from llmcourse.grading.hidden import hidden_case


@hidden_case("ch05.grouped_query_attention", "8 query heads in 2 groups of 4, a longer sequence")
def _(t: Trial) -> None:
    check_gqa(t, 2, t.py.randint(12, 16), 8, 2, 2)


@hidden_case("ch05.grouped_query_attention", "a single token and a single head")
def _(t: Trial) -> None:
    check_gqa(t, t.py.randint(2, 3), 1, 1, 1, t.py.randint(3, 6))


@hidden_case("ch05.sliding_window_attention", "a window of one: each real token sees only itself")
def _(t: Trial) -> None:
    length = t.py.randint(5, 8)
    check_window(t, [length, t.py.randint(1, length)], length, 1, 2, 4, 3)


@hidden_case("ch05.sliding_window_attention", "every sequence but one holds a single real token")
def _(t: Trial) -> None:
    length = t.py.randint(9, 12)
    check_window(t, [1, 1, length, 1], length, t.py.randint(3, 5), 1, 8, 2)


@hidden_case("ch05.attention_backward", "one query, one key: the softmax is 1 and dL/dq, dL/dk vanish")
def _(t: Trial) -> None:
    check_backward(t, (t.py.randint(2, 3),), 1, 1, t.py.randint(2, 5), 3)


@hidden_case("ch05.attention_backward", "very sharp rows (large scores) over many keys")
def _(t: Trial) -> None:
    check_backward(t, (2, 2), t.py.randint(3, 5), t.py.randint(10, 14), 8, 4, scale=2.5)


@hidden_case("ch05.alibi_attention", "one head (slope 1/256) and a single token")
def _(t: Trial) -> None:
    check_alibi(t, 3, 1, 1, 4, 2)
    check_alibi(t, 1, 1, t.py.randint(5, 8), 4, 2)


@hidden_case("ch05.alibi_attention", "16 heads over a long sequence")
def _(t: Trial) -> None:
    check_alibi(t, 1, 16, t.py.randint(30, 40), 2, 2)

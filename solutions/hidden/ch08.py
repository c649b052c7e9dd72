"""Chapter 8's hidden cases: sizes and values the public cases leave out (an empty cache, a window larger than
the text, penalties on a row that repeats one id, a typical set of nearly everything, a stop string at the very
start). Same checks as the public cases, new inputs."""

from __future__ import annotations

from llmcourse.grading.ch08 import check_penalty, check_rolling, check_stream, check_typical, peaked_rows
from llmcourse.grading.core import Trial
from llmcourse.grading.hidden import hidden_case


@hidden_case("ch08.penalize_frequency_presence", "a history of one id repeated, a two-id vocabulary")
def _(t: Trial) -> None:
    check_penalty(t, t.py.randint(2, 4), t.py.randint(5, 9), 2, t.py.uniform(0.5, 1.0), t.py.uniform(0.1, 0.3))


@hidden_case("ch08.penalize_frequency_presence", "a frequency penalty of 0 (presence only)")
def _(t: Trial) -> None:
    check_penalty(t, t.py.randint(2, 3), t.py.randint(6, 10), t.py.randint(10, 15), 0.0, t.py.uniform(0.5, 2.0))


@hidden_case("ch08.sample_typical", "a mass of nearly 1 on a large vocabulary")
def _(t: Trial) -> None:
    check_typical(t, peaked_rows(t, 2, t.py.randint(15, 20)), 0.98)


@hidden_case("ch08.rolling_kv_step", "an empty cache: the first token attends to itself alone")
def _(t: Trial) -> None:
    check_rolling(t, t.py.randint(1, 3), t.py.randint(2, 3), 0, t.py.randint(3, 5), t.py.randint(2, 4))


@hidden_case("ch08.rolling_kv_step", "a window much larger than the cache, many heads, a wide head")
def _(t: Trial) -> None:
    check_rolling(t, 2, t.py.randint(4, 6), t.py.randint(2, 4), 16, 64)


@hidden_case("ch08.stream_with_stop", "the stop string is the very first text")
def _(t: Trial) -> None:
    check_stream(t, ["EN", "D", "after"], "END")


@hidden_case("ch08.stream_with_stop", "a stop string that overlaps itself (aab in aaab)")
def _(t: Trial) -> None:
    check_stream(t, ["xa", "a", "a", "b", "yy"], "aab")

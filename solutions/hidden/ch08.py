"""Chapter 8's hidden cases: sizes and values the public cases leave out (a wide window that fills over many
steps, a buffer joined far into a text with a batch of one, penalties on a row that repeats one id, a typical set of
nearly everything, a stop string at the very start). Same checks as the public cases, new inputs."""

from __future__ import annotations

from llmcourse.checks.ch08 import check_penalty, check_ring, check_stream, check_typical, peaked_rows
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


@hidden_case("ch08.rolling_kv_step", "a wide window (W = 16..24), many heads, a wide head: filling, then wrapping")
def _(t: Trial) -> None:
    window = t.py.randint(16, 24)
    check_ring(t, 2, t.py.randint(4, 6), window, 16, window + t.py.randint(3, 6))


@hidden_case("ch08.rolling_kv_step", "a batch of one joining a text at a position that is a multiple of the window")
def _(t: Trial) -> None:
    window = t.py.randint(2, 4)
    check_ring(t, 1, t.py.randint(2, 3), window, t.py.randint(2, 4), 3 * window, start=window * t.py.randint(5, 9))


@hidden_case("ch08.stream_with_stop", "the stop string is the very first text")
def _(t: Trial) -> None:
    check_stream(t, ["EN", "D", "after"], "END")


@hidden_case("ch08.stream_with_stop", "a stop string that overlaps itself (aab in aaab)")
def _(t: Trial) -> None:
    check_stream(t, ["xa", "a", "a", "b", "yy"], "aab")

"""Chapter 2's hidden cases: the same checks on tables and texts the public cases do not show."""

from __future__ import annotations

from llmcourse.grading.ch02 import (
    SENTENCES,
    check_chunk,
    check_encode,
    check_load,
    check_recover,
    cl100k,
    deep_table,
    reachable,
    tiktoken_file,
    toy_table,
)
from llmcourse.grading.core import Trial
from llmcourse.grading.hidden import hidden_case


@hidden_case("ch02.load_ranks", "GPT-4's deepest tokens, in no particular order, with a blank line at the end")
def _(t: Trial) -> None:
    full = cl100k()
    chosen = {token: full[token] for token in t.py.sample(list(full)[90_000:], 300)}
    check_load(t, tiktoken_file(t.py, chosen, order="shuffled", end="\n\n"))


@hidden_case("ch02.bpe_chunk", "GPT-4's table on long runs of one character and on a whole sentence as one chunk")
def _(t: Trial) -> None:
    for chunk in (t.py.choice("= -\n0a") * t.py.randint(5, 40), t.py.choice(SENTENCES)):
        data = chunk.encode("utf-8")
        check_chunk(t, data, reachable(data, cl100k()))


@hidden_case("ch02.recover_merges", "a table learned from a toy text with gaps between ranks, and deep GPT-4 tokens")
def _(t: Trial) -> None:
    check_recover(t, toy_table(t.py, gaps=True, shuffle=True)[0])
    check_recover(t, deep_table(t.py, 3))


@hidden_case("ch02.gpt4_encode", "every held-out sentence at once, one per line, indented")
def _(t: Trial) -> None:
    lines = list(SENTENCES)
    t.py.shuffle(lines)
    check_encode(t, "\n".join(" " * t.py.randint(0, 8) + line for line in lines) + "\n")

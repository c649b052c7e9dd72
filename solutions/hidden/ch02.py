"""Chapter 2's hidden cases: the same checks on tables, texts and streams the public cases do not show."""

from __future__ import annotations

from llmcourse.checks.ch02 import (
    CL100K_PATTERN,
    SENTENCES,
    check_load,
    check_recover,
    check_stream,
    check_train,
    cl100k,
    cut_bytes,
    deep_table,
    random_vocab,
    tiktoken_file,
    toy_table,
    word_text,
)
from llmcourse.grading.core import Trial
from llmcourse.grading.hidden import hidden_case
from llmcourse.tokenizers.bpe import GPT4_SPLIT_PATTERN


@hidden_case("ch02.load_ranks", "GPT-4's deepest tokens, in no particular order, with a blank line at the end")
def _(t: Trial) -> None:
    full = cl100k()
    chosen = {token: full[token] for token in t.py.sample(list(full)[90_000:], 300)}
    check_load(t, tiktoken_file(t.py, chosen, order="shuffled", end="\n\n"))


@hidden_case("ch02.train_bpe", "every held-out sentence, one per line and indented, with <|endoftext|> as plain text; "
                               "and a text of two letters where nearly every pair ties")
def _(t: Trial) -> None:
    lines = list(SENTENCES)
    t.py.shuffle(lines)
    text = "\n".join(" " * t.py.randint(0, 8) + line for line in lines) + "<|endoftext|>\n"
    check_train(t, text, 256 + t.py.randint(30, 50), t.py.choice((CL100K_PATTERN, GPT4_SPLIT_PATTERN)))
    check_train(t, word_text(t.py, letters="ab", extras=False, n=40), 256 + t.py.randint(10, 25), r"\S+|\s+")


@hidden_case("ch02.recover_merges", "a table learned from a toy text with gaps between ranks, and deep GPT-4 tokens")
def _(t: Trial) -> None:
    check_recover(t, toy_table(t, gaps=True, shuffle=True)[0])
    check_recover(t, deep_table(t.py, 3))


@hidden_case("ch02.StreamDecoder", "all the held-out sentences cut into tokens of 1-6 bytes, and random bytes")
def _(t: Trial) -> None:
    text = "\n".join(SENTENCES).encode("utf-8")
    noise = bytes(t.py.randrange(256) for _ in range(40))
    first, second = cut_bytes(t.py, text, longest=6), cut_bytes(t.py, noise, longest=3)
    vocab, ids = random_vocab(t.py, first + second)
    check_stream(t, vocab, [[ids[p] for p in first] + [None] + [ids[p] for p in second] + [None]])

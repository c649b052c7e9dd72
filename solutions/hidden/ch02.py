"""Chapter 2's hidden cases: the same checks on sequences, texts and tables the public cases do not show."""

from __future__ import annotations

from llmcourse.grading.ch02 import (
    EMOJI,
    check_decode,
    check_encode,
    check_merge,
    check_stats,
    check_train,
    encode_reference,
    fresh_id,
    learned_table,
    pieces_table,
    random_alphabet,
    random_ids,
    random_text,
    random_words,
    shuffled,
    split_bytes,
    text_ids,
    vocab_for,
)
from llmcourse.grading.core import Trial
from llmcourse.grading.hidden import hidden_case


@hidden_case("ch02.get_stats", "one long run of a single id, and a sequence in which no pair repeats")
def _(t: Trial) -> None:
    check_stats(t, [t.py.randrange(256, 10**6)] * t.py.randint(2, 60))
    check_stats(t, t.py.sample(range(10**6), t.py.randint(20, 40)))


@hidden_case("ch02.get_stats", "the bytes of a text with multi-byte characters")
def _(t: Trial) -> None:
    check_stats(t, text_ids(random_text(t.py, random_words(t.py, 4, extras=0.8), 12, combining=True)))


@hidden_case("ch02.merge", "a sequence made only of the pair, and runs of equal ids of every length up to 9")
def _(t: Trial) -> None:
    a, b = random_alphabet(t.py, 2)
    check_merge(t, [a, b] * t.py.randint(1, 20), (a, b), fresh_id(t.py, [a, b]))
    ids = [x for n in t.py.sample(range(1, 10), 9) for x in [a] * n + [b]]
    check_merge(t, ids, (a, a), fresh_id(t.py, [a, b]))


@hidden_case("ch02.merge", "the new id 256, and a new id far above every id of the sequence")
def _(t: Trial) -> None:
    alphabet = random_alphabet(t.py, 4, high=10**9)
    ids = random_ids(t.py, t.py.randint(20, 60), alphabet)
    at = t.py.randrange(len(ids) - 1)
    check_merge(t, ids, (ids[at], ids[at + 1]), 256)
    check_merge(t, ids, (ids[at], ids[at + 1]), 10**12 + t.py.randrange(1000))


@hidden_case("ch02.train_bpe", "one byte repeated: every merge joins the tokens of the merge before it")
def _(t: Trial) -> None:
    check_train(t, [t.py.randrange(256)] * t.py.randint(9, 70), t.py.randint(3, 10))


@hidden_case("ch02.train_bpe", "many merges from a text of emoji, combining marks and CJK")
def _(t: Trial) -> None:
    text = random_text(t.py, random_words(t.py, 8, extras=1.0), t.py.randint(30, 60), combining=True)
    check_train(t, text_ids(text), t.py.randint(40, 80))


@hidden_case("ch02.encode", "a long text with a large table learned from other text of the same words")
def _(t: Trial) -> None:
    words = random_words(t.py, 8, extras=0.5)
    merges = learned_table(t.py, random_text(t.py, words, 80, combining=True), t.py.randint(40, 80), spread=True)
    check_encode(t, random_text(t.py, words, t.py.randint(60, 100), combining=True), merges)


@hidden_case("ch02.encode", "text made of one emoji repeated, with a table that merges its bytes")
def _(t: Trial) -> None:
    text = t.py.choice(EMOJI) * t.py.randint(2, 9)
    check_encode(t, text, learned_table(t.py, text, t.py.randint(2, 6), spread=True))


@hidden_case("ch02.decode", "a long text through the course's encoder and back")
def _(t: Trial) -> None:
    words = random_words(t.py, 8, extras=0.6)
    merges = learned_table(t.py, random_text(t.py, words, 60), t.py.randint(30, 60), spread=True)
    text = random_text(t.py, words, t.py.randint(50, 90), combining=True)
    check_decode(t, encode_reference(text, merges), shuffled(t.py, vocab_for(merges)))


@hidden_case("ch02.decode", "emoji as single-byte tokens, and as tokens cut through their characters")
def _(t: Trial) -> None:
    data = "".join(t.py.choice(EMOJI) for _ in range(t.py.randint(2, 6))).encode("utf-8")
    table, ids = pieces_table(t.py, split_bytes(t.py, data))
    check_decode(t, list(data), shuffled(t.py, vocab_for(table)))
    check_decode(t, ids, shuffled(t.py, vocab_for(table)))

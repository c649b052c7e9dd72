"""The textbook BPE training loop: re-count every pair after every merge. Slow, short, and the reference.

Chapter 2 writes this loop first (it is Sennrich et al.'s algorithm, as in minbpe's ``regex.py``), then
the fast trainer in :mod:`.bpe`, and checks that both learn exactly the same merges. The only rule
added to the textbook is the tie-break, which both share: the pair with the highest count wins, and
among equal counts the smallest pair (compare the left ids, then the right ids).

References: Sennrich, Haddow & Birch (2016), "Neural Machine Translation of Rare Words with Subword
Units"; Karpathy's minbpe ``regex.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

from .bpe import PATTERNS, Pair, get_stats, merge, pretokenize


def train_merges_naive(chunks: Sequence[bytes], num_merges: int) -> list[Pair]:
    """Learn up to ``num_merges`` merges from every chunk of the text (repeats included); new ids start at 256.

    ``[b"aaabdaaabac"], 3 -> [(97, 97), (97, 98), (256, 257)]``. Each merge costs a pass over all of it.
    """
    ids = [list(chunk) for chunk in chunks]
    merges: list[Pair] = []
    for n in range(num_merges):
        stats: dict[Pair, int] = {}
        for chunk_ids in ids:
            get_stats(chunk_ids, stats)
        if not stats:
            break  # every chunk is a single token
        pair = max(stats, key=lambda p: (stats[p], -p[0], -p[1]))  # highest count, then the smallest pair
        ids = [merge(chunk_ids, pair, 256 + n) for chunk_ids in ids]
        merges.append(pair)
    return merges


def train_naive(
    text: str, vocab_size: int, pattern: str = "gpt2", special_tokens: Sequence[str] = ()
) -> list[Pair]:
    """The merges :meth:`.bpe.BPETokenizer.train` would learn from ``text``, the slow way."""
    if vocab_size < 256 + len(special_tokens):
        raise ValueError(f"vocab_size {vocab_size} is below 256 bytes + {len(special_tokens)} special tokens")
    chunks = [chunk.encode("utf-8") for chunk in pretokenize(text, PATTERNS.get(pattern, pattern), special_tokens)]
    return train_merges_naive(chunks, vocab_size - 256 - len(special_tokens))

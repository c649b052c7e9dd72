"""The corpus side of word2vec: words to ids, a vocabulary, subsampling, context windows and noise words.

Everything after :func:`tokenize` works on one tensor of word ids (on any device), so the hot path —
building (center, context) pairs and drawing negative words — is a handful of tensor operations per
chunk of text, never a Python loop per pair.

What it builds, following the word2vec C code (Mikolov et al. 2013) and gensim:

- :func:`tokenize`: lowercased runs of letters (text8 is already in this form);
- :class:`Vocab`: words seen at least ``min_count`` times, most frequent first (id 0 = most frequent);
- :func:`keep_probability`: word2vec's subsampling of frequent words,
  ``p_keep(w) = (sqrt(f(w) / t) + 1) * t / f(w)`` (capped at 1), where ``f`` is the word's share of the corpus;
  the paper writes the simpler ``p_discard = 1 - sqrt(t / f)``, the released code (and gensim) uses this one;
- :func:`skipgram_pairs`: every (center, context) pair within a *dynamic* window: for each center, a
  window ``b`` is drawn uniformly from 1..window, so near words are used more often than far ones;
- :func:`noise_distribution` / :class:`NoiseSampler`: negatives drawn from ``count^0.75``, normalised.

What it leaves out: phrases ("new_york"), sentence boundaries (text8 has none; gensim cuts it into
10,000-word "sentences", we cut it into chunks of the same kind), and the hierarchical softmax.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch

WORD = re.compile(r"[a-z]+")


def tokenize(text: str) -> list[str]:
    """Lowercased words: runs of the letters a–z. ``"The King's 2 horses" -> ['the', 'king', 's', 'horses']``."""
    if not isinstance(text, str):
        raise TypeError(f"tokenize expects a str, got {type(text).__name__}")
    return WORD.findall(text.lower())


@dataclass
class Vocab:
    """The words kept for training, most frequent first, with their counts."""

    words: list[str]
    counts: torch.Tensor  # (V,) int64, counts[i] = how often words[i] occurs in the corpus

    def __post_init__(self) -> None:
        self.index = {w: i for i, w in enumerate(self.words)}

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return word in self.index

    def id(self, word: str) -> int:
        if word not in self.index:
            raise KeyError(f"{word!r} is not in the vocabulary ({len(self):,} words seen at least min_count times)")
        return self.index[word]

    @classmethod
    def build(cls, tokens: Sequence[str], min_count: int = 5, max_size: int | None = None) -> Vocab:
        """Words occurring at least ``min_count`` times (at most ``max_size`` of them), most frequent first;
        ties in alphabetical order, so the vocabulary does not depend on the order of the text."""
        if len(tokens) == 0:
            raise ValueError("cannot build a vocabulary from an empty text: no words found")
        if min_count < 1:
            raise ValueError(f"min_count must be at least 1, got {min_count}")
        counted = sorted(((c, w) for w, c in Counter(tokens).items() if c >= min_count), key=lambda cw: (-cw[0], cw[1]))
        if max_size is not None:
            counted = counted[:max_size]
        if not counted:
            raise ValueError(f"no word occurs {min_count} times or more in this text of {len(tokens):,} words; "
                             f"lower min_count or use more text")
        return cls([w for _, w in counted], torch.tensor([c for c, _ in counted], dtype=torch.int64))

    def encode(self, tokens: Sequence[str]) -> torch.Tensor:
        """The ids of the words that are in the vocabulary (others are dropped, as word2vec does)."""
        index = self.index
        return torch.tensor([index[t] for t in tokens if t in index], dtype=torch.int64)


def keep_probability(counts: torch.Tensor, sample: float) -> torch.Tensor:
    """word2vec's chance of keeping each occurrence of a word: ``min(1, (sqrt(f/t) + 1) * t/f)``, f = count / total.

    ``sample`` (t) is the threshold: words rarer than about t are always kept; ``sample=0`` keeps everything.
    """
    if sample < 0:
        raise ValueError(f"sample must be >= 0 (0 turns subsampling off), got {sample}")
    counts = counts.double()
    if sample == 0:
        return torch.ones_like(counts)
    f = counts / counts.sum()  # (V,) each word's share of the corpus
    return ((f / sample).sqrt() + 1).mul(sample / f).clamp(max=1.0)


def subsample(ids: torch.Tensor, keep: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Drop each occurrence of word w with probability ``1 - keep[w]``; one random draw per token, vectorised."""
    draws = torch.rand(ids.shape, generator=generator, device=ids.device)
    return ids[draws < keep.to(ids.device, torch.float32)[ids]]


def skipgram_pairs(ids: torch.Tensor, window: int, generator: torch.Generator | None = None,
                   dynamic: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """All (center, context) pairs of a 1-D id tensor, with word2vec's dynamic window.

    Each position i draws its own window b_i in 1..window (or uses ``window`` when ``dynamic=False``) and
    pairs with every word at distance d <= b_i on both sides. One tensor operation per distance d.
    Returns ``(centers, contexts)``, two (P,) int64 tensors, in no particular order.
    """
    if window < 1:
        raise ValueError(f"window must be at least 1, got {window}")
    n = ids.numel()
    if dynamic:
        b = torch.randint(1, window + 1, (n,), generator=generator, device=ids.device)
    else:
        b = torch.full((n,), window, device=ids.device)
    centers, contexts = [], []
    for d in range(1, min(window, n - 1) + 1):
        right = b[:-d] >= d  # center i looks right at i + d
        centers.append(ids[:-d][right])
        contexts.append(ids[d:][right])
        left = b[d:] >= d  # center i + d looks left at i
        centers.append(ids[d:][left])
        contexts.append(ids[:-d][left])
    if not centers:
        empty = ids.new_empty(0)
        return empty, empty
    return torch.cat(centers), torch.cat(contexts)


def noise_distribution(counts: torch.Tensor, power: float = 0.75) -> torch.Tensor:
    """P_n(w) ∝ count(w)^0.75: flatter than the unigram distribution, so rare words are drawn more often."""
    if (counts < 0).any() or counts.sum() <= 0:
        raise ValueError("counts must be non-negative with at least one positive count")
    p = counts.double().pow(power)
    return p / p.sum()


class NoiseSampler:
    """Draws negative words from :func:`noise_distribution` with a lookup table, like word2vec's ``table``.

    A table of ``table_size`` slots holds each word id in proportion to its probability; a draw is one
    ``randint`` into it, much faster than ``torch.multinomial`` for millions of draws.
    """

    def __init__(self, counts: torch.Tensor, power: float = 0.75, table_size: int = 10_000_000,
                 device: torch.device | str = "cpu") -> None:
        p = noise_distribution(counts, power)
        slots = torch.round(torch.cumsum(p, 0) * table_size).long()  # (V,) end slot of each word
        sizes = torch.diff(slots, prepend=slots.new_zeros(1)).clamp(min=0)
        self.table = torch.repeat_interleave(torch.arange(len(p)), sizes).to(device)

    def __call__(self, shape: tuple[int, ...], generator: torch.Generator | None = None) -> torch.Tensor:
        slot = torch.randint(0, self.table.numel(), shape, generator=generator, device=self.table.device)
        return self.table[slot]


def batches(ids: torch.Tensor, window: int, batch_size: int, keep: torch.Tensor | None = None,
            chunk_words: int = 1_000_000, generator: torch.Generator | None = None,
            ) -> Iterator[tuple[torch.Tensor, torch.Tensor, int]]:
    """One epoch of shuffled (centers, contexts) batches, built chunk by chunk on the ids' device.

    Per chunk of ``chunk_words`` words: subsample (when ``keep`` is given), form all pairs, shuffle them.
    Yields ``(centers (B,), contexts (B,), words_done)`` where ``words_done`` counts corpus words before
    subsampling, for the learning-rate schedule and the words/second figure.
    """
    if ids.numel() == 0:
        raise ValueError("the corpus is empty: no word ids to train on")
    for start in range(0, ids.numel(), chunk_words):
        chunk = ids[start:start + chunk_words]
        if keep is not None:
            chunk = subsample(chunk, keep, generator)
        centers, contexts = skipgram_pairs(chunk, window, generator)
        order = torch.randperm(centers.numel(), generator=generator, device=ids.device)
        centers, contexts = centers[order], contexts[order]
        done = min(start + chunk_words, ids.numel())
        n_batches = max(1, -(-centers.numel() // batch_size))
        for k in range(n_batches):
            # words_done grows smoothly through the chunk, so the learning rate decays smoothly
            words = start + (done - start) * (k + 1) // n_batches
            yield centers[k * batch_size:(k + 1) * batch_size], contexts[k * batch_size:(k + 1) * batch_size], words

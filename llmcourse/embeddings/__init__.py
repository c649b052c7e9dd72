"""Word embeddings, built in chapter 3: word2vec's skip-gram with negative sampling, and a count-based baseline.

    from llmcourse.embeddings import KeyedVectors, Vocab, load_words, train_sgns

    words = load_words(max_words=2_000_000)             # lowercased words of a Wikipedia sample
    vocab = Vocab.build(words, min_count=5)               # most frequent first
    run = train_sgns(vocab.encode(words), vocab, dim=100, window=5, negative=5, epochs=3)
    kv = KeyedVectors(vocab.words, run.model.vectors)
    kv.analogy("man", "king", "woman")                    # man : king = woman : ?  -> [('queen', 0.7...)]
    kv.evaluate_analogies(data.path("questions-words")).total

Modules: :mod:`.corpus` (tokens, vocabulary, subsampling, windows, noise words), :mod:`.sgns` (the model,
its loss, the trainer), :mod:`.cache` (a trained run stored on disk and loaded again), :mod:`.ppmi`
(co-occurrence counts, PPMI, SVD), :mod:`.vectors` (KeyedVectors, analogies, evaluation). gensim's
``Word2Vec`` is the trusted implementation this package is measured against (benchmarks/word2vec.py).

References: Mikolov et al. (2013a, b); Levy & Goldberg (2014); Levy, Goldberg & Dagan (2015); gensim.
"""

from __future__ import annotations

from .cache import CacheError, train_sgns_cached
from .corpus import NoiseSampler, Vocab, keep_probability, noise_distribution, skipgram_pairs, subsample, tokenize
from .ppmi import cooccurrence, ppmi, ppmi_svd, svd_vectors
from .sgns import SkipGramNS, TrainResult, sgns_loss, train_sgns
from .vectors import (
    AnalogyResult,
    KeyedVectors,
    pca_2d,
    project_on_direction,
    read_analogies,
    read_word_pairs,
    spearman,
)


def load_words(max_words: int | None = None, name: str = "enwiki-sample-text8") -> list[str]:
    """The first ``max_words`` words of a text8-format corpus (``"enwiki-sample-text8"`` or ``"text8"``)."""
    from llmcourse import data

    text = data.read_text8() if name == "text8" else data.read_text(name)
    if max_words is not None:  # tokenize only the start: English words average under 6 letters
        text = text[:max_words * 12]
    words = tokenize(text)
    if not words:
        raise ValueError(f"dataset {name!r} has no words")
    return words[:max_words] if max_words is not None else words


__all__ = [
    "AnalogyResult", "CacheError", "KeyedVectors", "NoiseSampler", "SkipGramNS", "TrainResult", "Vocab",
    "cooccurrence", "keep_probability", "load_words", "noise_distribution", "pca_2d", "ppmi", "ppmi_svd",
    "project_on_direction", "read_analogies", "read_word_pairs", "sgns_loss", "skipgram_pairs", "spearman",
    "subsample", "svd_vectors", "tokenize", "train_sgns", "train_sgns_cached",
]

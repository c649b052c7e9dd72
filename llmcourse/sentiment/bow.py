"""The baseline every neural model of chapter 9 must beat: logistic regression on a bag of words.

Features are binary (is the word in the sentence?), not counts or tf-idf: the sentences are short (about 21 tokens),
so counts are almost all 0 or 1 anyway, and for sentiment, presence worked better than frequency in Pang, Lee &
Vaithyanathan (2002); Wang & Manning's (2012) NBSVM baselines binarize too. The vocabulary comes from the training
part only (a word first seen in validation or test is unknown to the model, as it would be in use), lowercased,
words and single punctuation marks as tokens, with a minimum count.

A sentence is stored as the list of its distinct feature ids (``indices``/``offsets``, as ``nn.EmbeddingBag`` takes
them), never as a dense (N, V) matrix: 8,530 sentences by a ~10,000-word vocabulary would be 340 MB of zeros.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

import torch
import torch.nn.functional as F

TOKEN = re.compile(r"[\w']+|[^\w\s]")  # words (with their apostrophes: "n't", "'s") and single punctuation marks


def words(text: str) -> list[str]:
    """The lowercased tokens of ``text``."""
    return TOKEN.findall(text.lower())


@dataclass(frozen=True)
class BowFeatures:
    """Binary bag-of-words rows: row i's feature ids are ``indices[offsets[i]:offsets[i + 1]]``."""

    indices: torch.Tensor  # (nnz,) int64
    offsets: torch.Tensor  # (N + 1,) int64
    n_features: int

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def to_scipy(self):
        """The same rows as a ``scipy.sparse.csr_matrix`` of ones (for scikit-learn)."""
        from scipy.sparse import csr_matrix

        ones = torch.ones(len(self.indices)).numpy()
        return csr_matrix((ones, self.indices.numpy(), self.offsets.numpy()), shape=(len(self), self.n_features))

    def to_dense(self) -> torch.Tensor:
        """(N, V) float32 of 0 and 1; for small sets only."""
        out = torch.zeros(len(self), self.n_features)
        rows = torch.repeat_interleave(torch.arange(len(self)), self.offsets.diff())
        out[rows, self.indices] = 1.0
        return out


class BagOfWords:
    """A vocabulary of the words seen at least ``min_count`` times in the texts it is fitted on."""

    def __init__(self, min_count: int = 2) -> None:
        if not isinstance(min_count, int) or min_count < 1:
            raise ValueError(f"min_count must be an integer >= 1, got {min_count!r}")
        self.min_count = min_count
        self.vocabulary: dict[str, int] = {}

    def fit(self, texts: list[str]) -> BagOfWords:
        """Build the vocabulary from ``texts`` (the training part only), most frequent first, ties alphabetical."""
        if isinstance(texts, str) or not texts:
            raise ValueError("texts must be a non-empty list of strings")
        counts = Counter(w for text in texts for w in words(text))
        kept = sorted((w for w, c in counts.items() if c >= self.min_count), key=lambda w: (-counts[w], w))
        if not kept:
            raise ValueError(f"no word occurs min_count={self.min_count} times in the {len(texts)} texts")
        self.vocabulary = {w: i for i, w in enumerate(kept)}
        return self

    def transform(self, texts: list[str]) -> BowFeatures:
        """Each text's distinct known words as feature ids (unknown words are dropped)."""
        if not self.vocabulary:
            raise ValueError("fit the BagOfWords on training texts before transform")
        if isinstance(texts, str):
            raise ValueError("texts must be a list of strings, got one string")
        rows = [sorted({self.vocabulary[w] for w in words(t) if w in self.vocabulary}) for t in texts]
        offsets = torch.tensor([0] + [len(r) for r in rows]).cumsum(0)
        return BowFeatures(torch.tensor([i for r in rows for i in r], dtype=torch.long), offsets, len(self.vocabulary))


@dataclass
class LogisticRegression:
    """p(positive | x) = sigmoid(w . x + b)."""

    weight: torch.Tensor  # (V,)
    bias: torch.Tensor  # ()

    def logits(self, features: BowFeatures) -> torch.Tensor:
        """(N,) w . x + b, summing the weights of each row's features."""
        return _logits(self.weight, self.bias, features)

    def predict_proba(self, features: BowFeatures) -> torch.Tensor:
        return torch.sigmoid(self.logits(features))

    def predict(self, features: BowFeatures) -> torch.Tensor:
        return (self.logits(features) > 0).long()


def _logits(weight: torch.Tensor, bias: torch.Tensor, features: BowFeatures) -> torch.Tensor:
    return F.embedding_bag(features.indices, weight[:, None], features.offsets[:-1], mode="sum").squeeze(1) + bias


def train_logistic_regression(features: BowFeatures, labels: torch.Tensor | list[int], *, C: float = 1.0,  # noqa: N803
                              max_iter: int = 200, tol: float = 1e-6) -> LogisticRegression:
    """Fit by full-batch L-BFGS (float64) the objective scikit-learn's ``LogisticRegression(C=C)`` minimises:

        0.5 * |w|^2 + C * sum_i log(1 + exp(-y_i (w . x_i + b))),  y in {-1, +1}, the bias b not penalised,

    here divided by C * N (the same minimum, a mean loss at a friendlier scale). Labels are 0 and 1.
    """
    labels = torch.as_tensor(labels)
    if labels.dim() != 1 or len(labels) != len(features):
        raise ValueError(f"labels must be 1-D, one per row ({len(features)}), got shape {tuple(labels.shape)}")
    if not bool(((labels == 0) | (labels == 1)).all()):
        raise ValueError("labels must be 0 or 1")
    if C <= 0 or max_iter < 1:
        raise ValueError(f"C must be > 0 and max_iter >= 1, got C={C}, max_iter={max_iter}")
    y = labels.double()
    weight = torch.zeros(features.n_features, dtype=torch.float64, requires_grad=True)
    bias = torch.zeros((), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], max_iter=max_iter, tolerance_grad=tol, tolerance_change=1e-12,
                                  history_size=20, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.binary_cross_entropy_with_logits(_logits(weight, bias, features), y)
        loss = loss + weight.pow(2).sum() / (2 * C * len(y))
        loss.backward()
        return loss

    optimizer.step(closure)
    return LogisticRegression(weight.detach().float(), bias.detach().float())

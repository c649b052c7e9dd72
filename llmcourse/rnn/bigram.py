"""The count-based bigram model: the floor every neural character model must beat.

Chapter 4 starts here. Count how often each character follows each other character in the training
text, add ``smoothing`` to every count (so an unseen pair is unlikely, not impossible), and normalise
each row: ``P(next | current)``. Its validation loss is the best a model that only looks one character
back can do on these counts — an RNN that does not beat it has learned nothing about longer context.

    counts = bigram_counts([0, 1, 0, 1], vocab_size=2)   # [[0, 2], [1, 0]]

It is an ``nn.Module`` whose ``forward(ids (B, T))`` returns logits ``(B, T, V)`` (log-probabilities), so
:func:`llmcourse.charlm.estimate_loss` evaluates it like any network. It has no trainable parameters:
"fitting" is counting. What it leaves out: longer n-grams and back-off (Kneser-Ney).

Reference: Shannon (1948), section 3, "The series of approximations to English"; Karpathy's makemore.
"""

from __future__ import annotations

import torch
from torch import nn


def bigram_counts(ids: torch.Tensor | list[int], vocab_size: int) -> torch.Tensor:
    """(V, V) matrix whose entry [a, b] counts how often id ``b`` follows id ``a`` in ``ids``."""
    ids = torch.as_tensor(ids, dtype=torch.long)
    if ids.dim() != 1 or len(ids) < 2:
        raise ValueError(f"need a 1-D sequence of at least 2 ids, got shape {tuple(ids.shape)}")
    if ids.min() < 0 or ids.max() >= vocab_size:
        raise ValueError(f"ids must lie in [0, {vocab_size}), got values from {ids.min()} to {ids.max()}")
    pairs = ids[:-1] * vocab_size + ids[1:]  # one number per (current, next) pair
    return torch.bincount(pairs, minlength=vocab_size * vocab_size).reshape(vocab_size, vocab_size)


class BigramModel(nn.Module):
    """Next-character probabilities from smoothed bigram counts; ``forward`` gives (B, T, V) log-probabilities."""

    def __init__(self, vocab_size: int, smoothing: float = 1.0) -> None:
        super().__init__()
        if smoothing < 0:
            raise ValueError(f"smoothing must be >= 0, got {smoothing}")
        self.vocab_size, self.smoothing = vocab_size, smoothing
        uniform = torch.full((vocab_size, vocab_size), -torch.log(torch.tensor(float(vocab_size))).item())
        self.register_buffer("log_probs", uniform)  # (V, V): row = current char, column = next char

    def fit(self, ids: torch.Tensor | list[int]) -> BigramModel:
        """Count the pairs in ``ids`` and turn the smoothed counts into log-probabilities."""
        counts = bigram_counts(torch.as_tensor(ids).cpu(), self.vocab_size).double() + self.smoothing
        probs = counts / counts.sum(dim=1, keepdim=True)
        self.log_probs.copy_(probs.log().float())  # an all-zero row (no smoothing, unseen char) becomes -inf
        return self

    @property
    def table_size(self) -> int:
        """How many numbers the model stores: V × V probabilities (learned by counting, not by gradients)."""
        return self.log_probs.numel()

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        if ids.dim() != 2:
            raise ValueError(f"expected ids of shape (batch, time), got {tuple(ids.shape)}")
        return self.log_probs[ids]  # (B, T, V)

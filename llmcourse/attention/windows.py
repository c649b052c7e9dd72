"""From token ids to a model's input: (input, target) windows and token + position embeddings (chapter 5).

The chapters before give a stream of token ids (chapter 5 uses chapter 4's characters of tiny shakespeare; chapter
2's BPE ids work the same way). A language model reads ``block_size`` of them and, at every position, predicts the
next one; so a training example is a window ``ids[i : i+block_size]`` and its target, the same window shifted by one,
``ids[i+1 : i+block_size+1]``.
:class:`TokenWindows` serves those windows as a ``torch.utils.data.Dataset``, for a ``DataLoader``;
:class:`TokenAndPositionEmbedding` turns a (B, T) batch of ids into the (B, T, C) vectors attention reads.

    ids     = [5, 9, 2, 7, 3, 8]; block_size 3, stride 3
    windows = ([5, 9, 2] -> [9, 2, 7]), ([7, 3, 8] ... needs one more id, so it is dropped)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.utils.data import Dataset

from .positions import LearnedPositions, SinusoidalPositions


class TokenWindows(Dataset):
    """Windows of ``block_size`` ids and their next-token targets, starting every ``stride`` ids.

    ``stride`` defaults to ``block_size`` (windows that do not overlap: one pass sees each id once);
    ``stride=1`` gives every window. A tail too short for a full window and its target is dropped.
    """

    def __init__(self, ids: Sequence[int] | torch.Tensor, block_size: int, stride: int | None = None) -> None:
        self.ids = torch.as_tensor(ids, dtype=torch.long)
        if self.ids.dim() != 1:
            raise ValueError(f"ids must be one flat sequence, got shape {tuple(self.ids.shape)}")
        self.block_size = block_size
        self.stride = block_size if stride is None else stride
        if block_size < 1 or self.stride < 1:
            raise ValueError(f"block_size and stride must be >= 1, got {block_size} and {self.stride}")
        if len(self.ids) < block_size + 1:
            raise ValueError(f"{len(self.ids)} ids are too few for one window of {block_size} plus its target")

    def __len__(self) -> int:
        return (len(self.ids) - self.block_size - 1) // self.stride + 1

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not -len(self) <= i < len(self):
            raise IndexError(f"window {i} out of range for {len(self)} windows")
        start = (i % len(self)) * self.stride
        chunk = self.ids[start:start + self.block_size + 1]  # (block_size + 1,)
        return chunk[:-1], chunk[1:]  # input, target: the same ids shifted by one


class TokenAndPositionEmbedding(nn.Module):
    """ids (B, T) -> token vectors plus position vectors (B, T, n_embd).

    ``positions``: ``"learned"`` (GPT-2), ``"sinusoidal"`` (the Transformer paper) or ``"none"`` (for RoPE,
    which adds its positions inside attention instead).
    """

    def __init__(self, vocab_size: int, block_size: int, n_embd: int, positions: str = "learned") -> None:
        super().__init__()
        self.vocab_size, self.block_size, self.n_embd = vocab_size, block_size, n_embd
        self.tok_emb = nn.Embedding(vocab_size, n_embd)
        if positions == "learned":
            self.pos_emb: nn.Module | None = LearnedPositions(block_size, n_embd)
        elif positions == "sinusoidal":
            self.pos_emb = SinusoidalPositions(block_size, n_embd)
        elif positions == "none":
            self.pos_emb = None
        else:
            raise ValueError(f"positions must be 'learned', 'sinusoidal' or 'none', got {positions!r}")

    def forward(self, idx: torch.Tensor, start: int = 0) -> torch.Tensor:
        if idx.dim() != 2:
            raise ValueError(f"idx must have shape (B, T), got {tuple(idx.shape)}")
        if start + idx.size(1) > self.block_size:
            raise ValueError(f"sequence of length {idx.size(1)} (from position {start}) exceeds "
                             f"block_size {self.block_size}")
        x = self.tok_emb(idx)  # (B, T, C)
        return x if self.pos_emb is None else self.pos_emb(x, start)  # (B, T, C)

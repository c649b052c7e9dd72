"""Three ways to tell attention where each token is (chapter 5).

Attention alone is permutation-equivariant: shuffle the tokens and the outputs shuffle the same way, so it
cannot tell "dog bites man" from "man bites dog". Each module here puts order back:

- :class:`SinusoidalPositions`: a fixed table, added to the embeddings; channel pair ``i`` is a sine/cosine of
  frequency ``base^(-2i/C)`` (Vaswani et al., 2017, section 3.5).
- :class:`LearnedPositions`: one trained vector per position (GPT-2); knows nothing past ``block_size``.
- :class:`RotaryEmbedding`: rotates q and k, pair by pair, by an angle proportional to the position (RoPE,
  Su et al., 2021), so that the score ``q_m . k_n`` depends only on the offset ``m - n``. The pairs are the two
  halves of the head (channel ``j`` with ``j + head_dim/2``), the layout of GPT-NeoX and of Hugging Face's Llama.

The first two map a length (or a (B, T, C) input) to a (T, C) table (or the input plus it); ``start`` offsets
the positions, for decoding with a cache. What it leaves out: ALiBi (an exercise), RoPE scaling for long contexts.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def _length(x: int | torch.Tensor, n_embd: int, what: str) -> int:
    if isinstance(x, int):
        return x
    if x.dim() != 3 or x.size(-1) != n_embd:
        raise ValueError(f"{what} expects a length or x of shape (B, T, {n_embd}), got {tuple(x.shape)}")
    return x.size(1)


class _TablePositions(nn.Module):
    """Shared forward: positions ``start .. start+T-1`` of a (block_size, n_embd) table."""

    block_size: int
    n_embd: int

    def table(self) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: int | torch.Tensor, start: int = 0) -> torch.Tensor:
        """For a length T: the (T, C) rows; for x (B, T, C): x plus them."""
        t = _length(x, self.n_embd, type(self).__name__)
        if start < 0 or start + t > self.block_size:
            raise ValueError(f"positions {start}..{start + t - 1} do not fit block_size {self.block_size}")
        rows = self.table()[start:start + t]  # (T, C)
        return rows if isinstance(x, int) else x + rows


class SinusoidalPositions(_TablePositions):
    """The fixed sine/cosine table of the Transformer paper: a buffer, no parameters."""

    def __init__(self, block_size: int, n_embd: int, base: float = 10000.0) -> None:
        super().__init__()
        if n_embd % 2:
            raise ValueError(f"sinusoidal positions need an even n_embd, got {n_embd}")
        self.block_size, self.n_embd = block_size, n_embd
        pos = torch.arange(block_size, dtype=torch.float32).unsqueeze(1)  # (T, 1)
        freq = torch.exp(-math.log(base) * torch.arange(0, n_embd, 2, dtype=torch.float32) / n_embd)  # (C/2,)
        pe = torch.zeros(block_size, n_embd)
        pe[:, 0::2] = torch.sin(pos * freq)  # even channels: sine
        pe[:, 1::2] = torch.cos(pos * freq)  # odd channels: cosine of the same frequency
        self.register_buffer("pe", pe, persistent=False)

    def table(self) -> torch.Tensor:
        return self.pe


class LearnedPositions(_TablePositions):
    """A trained (block_size, n_embd) table, initialised N(0, 0.02^2) as GPT-2."""

    def __init__(self, block_size: int, n_embd: int) -> None:
        super().__init__()
        self.block_size, self.n_embd = block_size, n_embd
        self.weight = nn.Parameter(torch.randn(block_size, n_embd) * 0.02)

    def table(self) -> torch.Tensor:
        return self.weight


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """(x1, x2) -> (-x2, x1) on the two halves of the last dimension: a 90-degree turn of every pair."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


class RotaryEmbedding(nn.Module):
    """Rotary position embedding for q and k of shape (B, n_head, T, head_dim)."""

    def __init__(self, head_dim: int, block_size: int, base: float = 10000.0) -> None:
        super().__init__()
        if head_dim % 2:
            raise ValueError(f"RoPE rotates pairs of channels: head_dim must be even, got {head_dim}")
        self.head_dim, self.block_size = head_dim, block_size
        inv_freq = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)  # (hd/2,)
        angles = torch.arange(block_size, dtype=torch.float32).unsqueeze(1) * inv_freq  # (T, hd/2)
        angles = torch.cat((angles, angles), dim=-1)  # (T, hd): channel j and j + hd/2 turn together
        self.register_buffer("cos", angles.cos(), persistent=False)
        self.register_buffer("sin", angles.sin(), persistent=False)

    def forward(self, x: torch.Tensor, start: int = 0) -> torch.Tensor:
        """Rotate x (..., T, head_dim): position ``start + t`` turns pair i by ``(start + t) * base^(-2i/hd)``."""
        if x.dim() < 2 or x.size(-1) != self.head_dim:
            raise ValueError(f"RotaryEmbedding expects (..., T, {self.head_dim}), got {tuple(x.shape)}")
        t = x.size(-2)
        if start < 0 or start + t > self.block_size:
            raise ValueError(f"positions {start}..{start + t - 1} do not fit block_size {self.block_size}")
        cos = self.cos[start:start + t].to(x.dtype)  # (T, hd)
        sin = self.sin[start:start + t].to(x.dtype)
        return x * cos + rotate_half(x) * sin

    rotate = forward

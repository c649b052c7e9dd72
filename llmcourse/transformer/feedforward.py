"""The position-wise feed-forward network of a transformer block (chapter 6).

    h = GELU(x W_1^T + b_1)          # (B, T, d_ff): widen, usually d_ff = 4 * n_embd
    y = h W_2^T + b_2                # (B, T, C): back to the residual width

"Position-wise": the same two-layer MLP is applied to every position on its own; attention mixes
information *between* positions, the FFN transforms each one. It holds about two thirds of a block's
parameters. GELU (Hendrycks & Gimpel 2016), x * Phi(x), is the activation of BERT and GPT-2;
``approximate="tanh"`` gives GPT-2's tanh form.

What it leaves out: gated variants (GEGLU, SwiGLU; Shazeer 2020) — SwiGLU is an exercise of chapter 6.

References: Vaswani et al. (2017), section 3.3; nanoGPT's ``MLP``.
"""

from __future__ import annotations

import torch
from torch import nn


class FeedForward(nn.Module):
    """Linear (C -> d_ff), GELU, Linear (d_ff -> C), dropout: applied to each position independently."""

    def __init__(self, n_embd: int, d_ff: int | None = None, *, dropout: float = 0.0, bias: bool = True,
                 approximate: str = "none") -> None:
        super().__init__()
        self.n_embd = n_embd
        self.d_ff = 4 * n_embd if d_ff is None else d_ff
        self.fc = nn.Linear(n_embd, self.d_ff, bias=bias)
        self.act = nn.GELU(approximate=approximate)
        self.proj = nn.Linear(self.d_ff, n_embd, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.size(-1) != self.n_embd:
            raise ValueError(f"FeedForward expects (..., {self.n_embd}), got {tuple(x.shape)}")
        return self.dropout(self.proj(self.act(self.fc(x))))  # (..., C) via (..., d_ff)

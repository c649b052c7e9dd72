"""Multi-head attention: several attentions side by side on slices of the width, then mixed (chapter 5).

    q, k, v = x W_q, context W_k, context W_v            # (B, T, C), (B, S, C), (B, S, C)
    split:  (B, T, C) -> (B, n_head, T, head_dim)       # head h owns channels h*head_dim .. (h+1)*head_dim
    attend: each head on its own, in parallel            # (B, n_head, T, head_dim)
    merge:  (B, n_head, T, head_dim) -> (B, T, C), then W_out

Self-attention takes keys and values from ``x`` itself; cross-attention from another sequence, ``context``
(an encoder's output, of width ``kdim``). The parameters are named as ``nn.MultiheadAttention``'s pieces
(``q_proj``, ``k_proj``, ``v_proj``, ``out_proj``), and :meth:`MultiHeadAttention.load_torch` copies a
``batch_first`` ``nn.MultiheadAttention`` into them; chapter 5's tests check both give the same outputs and
weights to 1e-5 in float32, for self- and cross-attention, causal and with a key padding mask.

The forward pass calls ``F.scaled_dot_product_attention`` (PyTorch's fused kernels) unless the weights are
asked for; then it runs :func:`.core.attention`, which builds them. Both paths give the same numbers, also for a
query that may see no key at all (a sequence of padding only): zeros, on every PyTorch version (see :func:`_sdpa`).
What it leaves out: a KV cache (chapter 8), grouped-query attention (an exercise of chapter 5), and
``nn.MultiheadAttention``'s ``add_bias_kv`` / ``add_zero_attn``. Unlike it, this module also has a dropout on its
output (``resid_dropout``, as GPT-2), and returns per-head weights (its ``average_attn_weights=False``).

References: Vaswani et al. (2017), section 3.2.2; nanoGPT's ``CausalSelfAttention`` for the split and merge.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .core import attention, causal_mask


def split_heads(x: torch.Tensor, n_head: int) -> torch.Tensor:
    """(B, T, C) -> (B, n_head, T, C // n_head): head h gets the h-th slice of the channels."""
    b, t, c = x.shape
    return x.view(b, t, n_head, c // n_head).transpose(1, 2)  # (B, nh, T, hd)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """(B, n_head, T, head_dim) -> (B, T, n_head * head_dim): the inverse of :func:`split_heads`."""
    b, nh, t, hd = x.shape
    return x.transpose(1, 2).reshape(b, t, nh * hd)  # (B, T, C)


def _sdpa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None, *, causal: bool,
          dropout_p: float) -> torch.Tensor:
    """``F.scaled_dot_product_attention`` with a query that may attend to no key at all giving zeros, on any PyTorch.

    SDPA itself returns zeros for such a row only since PyTorch 2.5 (pytorch/pytorch#133882, which made it use a
    "safe" softmax); before, the row's softmax is 0/0 and its output and gradients NaN. Here such a row attends to
    every key instead (any finite choice would do) and its output is then set to zero, so the result, the gradients
    (zero for those rows) and :func:`.core.attention`'s answer agree on every version. Costs one ``any`` over the mask.
    """
    if mask is None:
        return F.scaled_dot_product_attention(q, k, v, is_causal=causal, dropout_p=dropout_p)
    blind = ~mask.any(dim=-1, keepdim=True)  # (..., Tq, 1): True where a query may see no key
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask | blind, dropout_p=dropout_p)  # (..., Tq, dv)
    return out.masked_fill(blind, 0.0)


class MultiHeadAttention(nn.Module):
    """Multi-head self- or cross-attention over ``batch_first`` inputs (B, T, C)."""

    def __init__(self, n_embd: int, n_head: int, *, dropout: float = 0.0, bias: bool = True,
                 kdim: int | None = None) -> None:
        super().__init__()
        if n_embd < 1 or n_head < 1 or n_embd % n_head:
            raise ValueError(f"n_embd ({n_embd}) must be a positive multiple of n_head ({n_head})")
        self.n_embd, self.n_head, self.head_dim = n_embd, n_head, n_embd // n_head
        self.kdim = n_embd if kdim is None else kdim
        self.dropout = dropout
        self.q_proj = nn.Linear(n_embd, n_embd, bias=bias)
        self.k_proj = nn.Linear(self.kdim, n_embd, bias=bias)
        self.v_proj = nn.Linear(self.kdim, n_embd, bias=bias)
        self.out_proj = nn.Linear(n_embd, n_embd, bias=bias)
        self.attn_dropout = nn.Dropout(dropout)
        self.resid_dropout = nn.Dropout(dropout)

    def _check(self, x: torch.Tensor, context: torch.Tensor, key_padding_mask: torch.Tensor | None) -> None:
        if x.dim() != 3 or x.size(-1) != self.n_embd:
            raise ValueError(f"x must have shape (B, T, {self.n_embd}), got {tuple(x.shape)}")
        if context.dim() != 3 or context.size(-1) != self.kdim or context.size(0) != x.size(0):
            raise ValueError(
                f"context must have shape ({x.size(0)}, S, {self.kdim}) for x of shape {tuple(x.shape)}, "
                f"got {tuple(context.shape)}"
            )
        if key_padding_mask is not None and (
            key_padding_mask.dtype != torch.bool or tuple(key_padding_mask.shape) != (context.size(0), context.size(1))
        ):
            raise ValueError(
                f"key_padding_mask must be boolean of shape {(context.size(0), context.size(1))} (True = padding), "
                f"got {key_padding_mask.dtype} {tuple(key_padding_mask.shape)}"
            )

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None, *, causal: bool = False,
                key_padding_mask: torch.Tensor | None = None, need_weights: bool = False,
                rope: Callable[[torch.Tensor], torch.Tensor] | None = None,
                ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """y (B, T, C); with ``need_weights``, also the weights (B, n_head, T, S).

        ``context`` (B, S, kdim): keys and values come from it (cross-attention); None = from ``x``.
        ``causal``: query i sees keys 0..i. ``key_padding_mask`` (B, S), True = a padding key to ignore.
        ``rope``: a :class:`.positions.RotaryEmbedding` (or any function of a (B, n_head, T, head_dim) tensor, e.g.
        ``partial(rope, start=pos)``) that rotates q and k after the split into heads.
        """
        context = x if context is None else context
        self._check(x, context, key_padding_mask)
        q = split_heads(self.q_proj(x), self.n_head)  # (B, nh, T, hd)
        k = split_heads(self.k_proj(context), self.n_head)  # (B, nh, S, hd)
        v = split_heads(self.v_proj(context), self.n_head)  # (B, nh, S, hd)
        if rope is not None:
            q, k = rope(q), rope(k)
        t, s = q.size(-2), k.size(-2)
        mask = None
        if key_padding_mask is not None:
            mask = ~key_padding_mask[:, None, None, :]  # (B, 1, 1, S): True = may attend
        if causal and mask is not None:
            mask = mask & causal_mask(t, s, device=x.device)
        if need_weights:
            out, weights = attention(q, k, v, mask=mask, causal=causal and mask is None)
            out = self.attn_dropout(weights) @ v if self.training and self.dropout > 0 else out
        else:
            out = _sdpa(q, k, v, mask, causal=causal and mask is None,
                        dropout_p=self.dropout if self.training else 0.0)  # (B, nh, T, hd)
        y = self.resid_dropout(self.out_proj(merge_heads(out)))  # (B, T, C)
        return (y, weights) if need_weights else y

    @torch.no_grad()
    def load_torch(self, mha: nn.MultiheadAttention) -> MultiHeadAttention:
        """Copy the weights of a ``batch_first`` ``nn.MultiheadAttention`` of the same sizes; returns self."""
        if not mha.batch_first:
            raise ValueError("load_torch expects nn.MultiheadAttention(..., batch_first=True)")
        if (mha.embed_dim, mha.num_heads, mha.kdim, mha.vdim) != (self.n_embd, self.n_head, self.kdim, self.kdim):
            raise ValueError(
                f"sizes differ: nn.MultiheadAttention has embed_dim={mha.embed_dim}, num_heads={mha.num_heads}, "
                f"kdim={mha.kdim}, vdim={mha.vdim}; this module has n_embd={self.n_embd}, n_head={self.n_head}, "
                f"kdim=vdim={self.kdim}"
            )
        if (mha.in_proj_bias is not None) != (self.q_proj.bias is not None) or mha.bias_k is not None:
            raise ValueError("bias settings differ (or add_bias_kv is set, which this module does not have)")
        if mha.in_proj_weight is not None:  # one stacked (3C, C) matrix: rows q, then k, then v
            w_q, w_k, w_v = mha.in_proj_weight.chunk(3)
        else:  # kdim != embed_dim: three separate matrices
            w_q, w_k, w_v = mha.q_proj_weight, mha.k_proj_weight, mha.v_proj_weight
        for proj, w in ((self.q_proj, w_q), (self.k_proj, w_k), (self.v_proj, w_v)):
            proj.weight.copy_(w)
        if mha.in_proj_bias is not None:
            for proj, b in zip((self.q_proj, self.k_proj, self.v_proj), mha.in_proj_bias.chunk(3), strict=True):
                proj.bias.copy_(b)
        self.out_proj.weight.copy_(mha.out_proj.weight)
        if self.out_proj.bias is not None:
            self.out_proj.bias.copy_(mha.out_proj.bias)
        return self

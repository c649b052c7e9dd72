"""Transformer blocks: attention and a feed-forward network, each wrapped in a norm and a residual (chapter 6).

    pre-LN  (GPT-2 onwards):  x = x + f(norm(x))         # the residual stream is never normalised
    post-LN (Vaswani 2017):   x = norm(x + f(x))         # normalised after every sublayer

An :class:`EncoderBlock` is bidirectional self-attention then the FFN: every position sees every other (minus
padding). A :class:`DecoderBlock` is causal self-attention (position i sees 0..i), optionally cross-attention to
an encoder's output (the "memory"; queries from the decoder, keys and values from the encoder), then the FFN.
``residual=False`` removes the skip connections, ``norm="none"`` the norms and ``ffn=False`` the feed-forward
sublayer: chapter 6's gradient-flow experiment, its staged climb from one attention head to a GPT and its
ablations (:mod:`.climb`) switch the parts off one at a time. ``approximate="tanh"`` gives the FFN GPT-2's tanh
form of GELU (chapter 7's GPT is a stack of these blocks).
With a KV cache (chapter 8) a :class:`DecoderBlock` reads only the new positions and attends over the cached
keys and values of the earlier ones as well as its own.

:meth:`EncoderBlock.load_torch` copies ``nn.TransformerEncoderLayer(batch_first=True, activation="gelu")``'s
weights, pre- or post-LN, and the tests check the outputs agree to float32 rounding. Attention is chapter 5's
:class:`llmcourse.attention.MultiHeadAttention`.

What it leaves out: parallel attention + FFN (GPT-J), and dropout on the residual beyond what the sublayers
apply (each sublayer's output passes through its own dropout before it is added to the stream).

References: Vaswani et al. (2017), section 3.1; Xiong et al. (2020), "On Layer Normalization in the
Transformer Architecture" (pre- vs post-LN); nanoGPT's ``Block``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn

from llmcourse.attention import MultiHeadAttention, causal_mask, merge_heads, split_heads

from .feedforward import FeedForward
from .norms import make_norm


class KVCacheLike(Protocol):
    """What a block needs of a KV cache (:class:`llmcourse.gpt.KVCache`, chapter 8): positions stored, and an update."""

    length: int

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...


def _check_input(x: torch.Tensor, n_embd: int, who: str) -> None:
    if x.dim() != 3 or x.size(-1) != n_embd:
        raise ValueError(f"{who} expects x of shape (B, T, {n_embd}), got {tuple(x.shape)}")


class _Block(nn.Module):
    """What both blocks share: sizes, the norm placement and the residual wiring of one sublayer."""

    def __init__(self, n_embd: int, n_head: int, d_ff: int | None, dropout: float, norm_first: bool,
                 residual: bool, norm: str, bias: bool, approximate: str, ffn: bool = True) -> None:
        super().__init__()
        self.n_embd, self.n_head = n_embd, n_head
        self.norm_first, self.residual = norm_first, residual
        self.attn = MultiHeadAttention(n_embd, n_head, dropout=dropout, bias=bias)
        self.ln_attn = make_norm(norm, n_embd, bias)
        # ffn=False: attention only (an ablation); the attributes stay, as None, so the names never move
        self.ffn = FeedForward(n_embd, d_ff, dropout=dropout, bias=bias, approximate=approximate) if ffn else None
        self.ln_ffn = make_norm(norm, n_embd, bias) if ffn else None

    def _sublayer(self, x: torch.Tensor, norm: nn.Module, f: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """One sublayer f with its norm and (unless residual=False) its skip connection: (B, T, C)."""
        if self.norm_first:
            out = f(norm(x))
            return x + out if self.residual else out
        return norm(x + f(x) if self.residual else f(x))


class EncoderBlock(_Block):
    """Bidirectional self-attention + FFN. ``padding_mask`` (B, T): True at padding positions (ignored keys)."""

    def __init__(self, n_embd: int, n_head: int, *, d_ff: int | None = None, dropout: float = 0.0,
                 norm_first: bool = True, residual: bool = True, norm: str = "layer", bias: bool = True,
                 approximate: str = "none") -> None:
        super().__init__(n_embd, n_head, d_ff, dropout, norm_first, residual, norm, bias, approximate)

    def forward(self, x: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        _check_input(x, self.n_embd, "EncoderBlock")
        x = self._sublayer(x, self.ln_attn, lambda h: self.attn(h, key_padding_mask=padding_mask))  # (B, T, C)
        return self._sublayer(x, self.ln_ffn, self.ffn)  # (B, T, C)

    @torch.no_grad()
    def load_torch(self, layer: nn.TransformerEncoderLayer) -> EncoderBlock:
        """Copy a ``batch_first`` ``nn.TransformerEncoderLayer`` with the same sizes and norm placement."""
        if not layer.self_attn.batch_first or layer.norm_first != self.norm_first:
            raise ValueError(f"expected nn.TransformerEncoderLayer(batch_first=True, norm_first={self.norm_first})")
        if (layer.linear1.in_features, layer.linear1.out_features) != (self.n_embd, self.ffn.d_ff):
            raise ValueError(f"sizes differ: the layer's FFN is {layer.linear1.in_features} -> "
                             f"{layer.linear1.out_features}, this block's {self.n_embd} -> {self.ffn.d_ff}")
        self.attn.load_torch(layer.self_attn)
        for mine, theirs in ((self.ffn.fc, layer.linear1), (self.ffn.proj, layer.linear2),
                             (self.ln_attn, layer.norm1), (self.ln_ffn, layer.norm2)):
            mine.load_state_dict(theirs.state_dict())
        return self


class DecoderBlock(_Block):
    """Causal self-attention (+ cross-attention to ``memory`` when ``cross=True``) + FFN.

    ``memory`` (B, S, kdim): the encoder's output; ``memory_padding_mask`` (B, S): True at its padding.
    ``ffn=False`` leaves out the feed-forward sublayer (chapter 6's ablation).
    With ``need_weights`` the cross-attention weights (B, n_head, T, S) come back too. With ``cache`` (a
    :class:`llmcourse.gpt.KVCache`, chapter 8) x holds only the positions after the cached ones, and ``layer``
    says which of the cache's layers is this block's.
    """

    def __init__(self, n_embd: int, n_head: int, *, cross: bool = False, kdim: int | None = None,
                 d_ff: int | None = None, dropout: float = 0.0, norm_first: bool = True, residual: bool = True,
                 norm: str = "layer", bias: bool = True, approximate: str = "none", ffn: bool = True) -> None:
        super().__init__(n_embd, n_head, d_ff, dropout, norm_first, residual, norm, bias, approximate, ffn)
        self.cross = cross
        if cross:
            self.cross_attn = MultiHeadAttention(n_embd, n_head, dropout=dropout, bias=bias, kdim=kdim)
            self.ln_cross = make_norm(norm, n_embd, bias)

    def forward(self, x: torch.Tensor, memory: torch.Tensor | None = None, *,
                memory_padding_mask: torch.Tensor | None = None,
                need_weights: bool = False, cache: KVCacheLike | None = None,
                layer: int = 0) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        _check_input(x, self.n_embd, "DecoderBlock")
        if self.cross and memory is None:
            raise ValueError("this DecoderBlock has cross-attention: pass the encoder's output as memory (B, S, C)")
        if not self.cross and (memory is not None or need_weights):
            raise ValueError("this DecoderBlock has no cross-attention (cross=False): it takes no memory")
        if cache is None:
            x = self._sublayer(x, self.ln_attn, lambda h: self.attn(h, causal=True))  # (B, T, C)
        else:
            x = self._sublayer(x, self.ln_attn, lambda h: self._attend_cached(h, cache, layer))  # (B, t, C)
        weights = None
        if self.cross:
            def cross(h: torch.Tensor) -> torch.Tensor:
                nonlocal weights
                out = self.cross_attn(h, memory, key_padding_mask=memory_padding_mask, need_weights=need_weights)
                if need_weights:
                    out, weights = out  # weights: (B, nh, T, S)
                return out

            x = self._sublayer(x, self.ln_cross, cross)  # (B, T, C): queries from x, keys/values from memory
        if self.ffn is not None:
            x = self._sublayer(x, self.ln_ffn, self.ffn)  # (B, T, C)
        return (x, weights) if need_weights else x

    def _attend_cached(self, x: torch.Tensor, cache: KVCacheLike, layer: int) -> torch.Tensor:
        """Causal self-attention of t new positions over the cached ones and themselves: (B, t, C) -> (B, t, C)."""
        attn = self.attn
        q = split_heads(attn.q_proj(x), attn.n_head)  # (B, nh, t, hd)
        k = split_heads(attn.k_proj(x), attn.n_head)  # (B, nh, t, hd)
        v = split_heads(attn.v_proj(x), attn.n_head)  # (B, nh, t, hd)
        k, v = cache.update(layer, k, v)  # (B, nh, S, hd): append first, then attend (a query sees itself)
        t, s = q.size(-2), k.size(-2)
        mask = None if t == 1 else causal_mask(t, s, device=x.device, offset=s - t)  # (t, S): new query i sees 0..S-t+i
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                             dropout_p=attn.dropout if self.training else 0.0)  # (B, nh, t, hd)
        return attn.resid_dropout(attn.out_proj(merge_heads(out)))  # (B, t, C)


class BlockStack(nn.Module):
    """``n_layer`` blocks of one kind in a row, with a final norm for pre-LN (whose stream is never normalised)."""

    def __init__(self, n_layer: int, n_embd: int, n_head: int, *, kind: str = "decoder", norm_first: bool = True,
                 residual: bool = True, norm: str = "layer", d_ff: int | None = None, dropout: float = 0.0) -> None:
        super().__init__()
        if kind not in ("encoder", "decoder"):
            raise ValueError(f"kind must be 'encoder' or 'decoder', got {kind!r}")
        block = EncoderBlock if kind == "encoder" else DecoderBlock
        self.blocks = nn.ModuleList(block(n_embd, n_head, d_ff=d_ff, dropout=dropout, norm_first=norm_first,
                                          residual=residual, norm=norm) for _ in range(n_layer))
        self.ln_f = make_norm(norm, n_embd) if norm_first else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)  # (B, T, C)
        return self.ln_f(x)

"""Attention, built in chapter 5 and used by the GPT of chapter 6 onwards.

    from llmcourse.attention import MultiHeadAttention, TokenWindows, TokenAndPositionEmbedding, attention

    out, weights = attention(q, k, v, causal=True)          # (..., Tq, dv), (..., Tq, Tk); SDPA's conventions
    mha = MultiHeadAttention(n_embd=64, n_head=4)
    y = mha(x, causal=True)                                  # (B, T, 64), through F.scaled_dot_product_attention
    y, w = mha(x, key_padding_mask=pad, need_weights=True)   # w: (B, 4, T, T), through our attention
    loader = DataLoader(TokenWindows(ids, block_size=64), batch_size=32, shuffle=True)

Modules, small to large: :mod:`.core` (scaled dot-product attention, causal and padding masks),
:mod:`.multihead` (split into heads, attend, merge; copies ``nn.MultiheadAttention``), :mod:`.positions`
(sinusoidal, learned, rotary), :mod:`.windows` (the data bridge from token ids), :mod:`.tiled` (attention
in tiles with an online softmax, the FlashAttention idea) and :mod:`.explorer` (the attention widget).
"""

from .core import attention, causal_mask, padding_mask
from .multihead import MultiHeadAttention, merge_heads, split_heads
from .positions import LearnedPositions, RotaryEmbedding, SinusoidalPositions, rotate_half
from .tiled import online_softmax, peak_cpu_memory, tiled_attention
from .windows import TokenAndPositionEmbedding, TokenWindows

__all__ = [
    "LearnedPositions",
    "MultiHeadAttention",
    "RotaryEmbedding",
    "SinusoidalPositions",
    "TokenAndPositionEmbedding",
    "TokenWindows",
    "attention",
    "causal_mask",
    "merge_heads",
    "online_softmax",
    "padding_mask",
    "peak_cpu_memory",
    "rotate_half",
    "split_heads",
    "tiled_attention",
]

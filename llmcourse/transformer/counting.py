"""Parameter counts by formula, for every piece chapter 6 builds (checked against ``sum(p.numel())``).

With width C, feed-forward width F, vocabulary V and block size T (biases on, layer norms):

    LayerNorm           2C                    (gain and shift; RMSNorm: C)
    MultiHeadAttention  4C^2 + 4C             (q, k, v, out: C x C each + bias; independent of n_head)
    FeedForward         2CF + F + C           (C -> F -> C)
    EncoderBlock        attention + FFN + 2 norms
    DecoderBlock        the same, + cross-attention and its norm when it has one
    decoder-only model  VC + TC + n_layer * DecoderBlock + final norm (+ VC for an untied head)

The number of heads never appears: heads split the width C, they do not add weights. Counting a whole
encoder-decoder is an exercise of chapter 6.

References: Kaplan et al. (2020), section 2.1, for counting a transformer's parameters (they drop the
embeddings and biases: about 12 n_layer C^2 for F = 4C).
"""

from __future__ import annotations

from torch import nn


def count_parameters(model: nn.Module) -> int:
    """Distinct parameters (a tied weight counts once, as ``model.parameters()`` yields it once)."""
    return sum(p.numel() for p in model.parameters())


def norm_params(n_embd: int, norm: str = "layer", bias: bool = True) -> int:
    if norm == "none":
        return 0
    return n_embd * (2 if norm == "layer" and bias else 1)


def attention_params(n_embd: int, kdim: int | None = None, bias: bool = True) -> int:
    """q and out map C -> C; k and v map kdim -> C (kdim = the context's width, C for self-attention)."""
    kdim = n_embd if kdim is None else kdim
    return 2 * n_embd * n_embd + 2 * kdim * n_embd + (4 * n_embd if bias else 0)


def feedforward_params(n_embd: int, d_ff: int | None = None, bias: bool = True) -> int:
    d_ff = 4 * n_embd if d_ff is None else d_ff
    return 2 * n_embd * d_ff + (d_ff + n_embd if bias else 0)


def encoder_block_params(n_embd: int, d_ff: int | None = None, *, norm: str = "layer", bias: bool = True) -> int:
    return attention_params(n_embd, bias=bias) + feedforward_params(n_embd, d_ff, bias) + 2 * norm_params(
        n_embd, norm, bias)


def decoder_block_params(n_embd: int, d_ff: int | None = None, *, cross: bool = False, norm: str = "layer",
                         bias: bool = True, ffn: bool = True) -> int:
    """A decoder block's count; ``ffn=False``: attention only (its FFN and the FFN's norm left out)."""
    extra = attention_params(n_embd, bias=bias) + norm_params(n_embd, norm, bias) if cross else 0
    without_ffn = 0 if ffn else feedforward_params(n_embd, d_ff, bias) + norm_params(n_embd, norm, bias)
    return encoder_block_params(n_embd, d_ff, norm=norm, bias=bias) + extra - without_ffn


def decoder_only_params(vocab_size: int, n_embd: int, n_layer: int, block_size: int, d_ff: int | None = None, *,
                        norm_first: bool = True, tie_embeddings: bool = True, norm: str = "layer",
                        ffn: bool = True) -> int:
    """:class:`llmcourse.transformer.DecoderOnlyTransformer`'s count (biases on; residuals add no parameters)."""
    embeddings = vocab_size * n_embd + block_size * n_embd
    head = 0 if tie_embeddings else vocab_size * n_embd
    final_norm = norm_params(n_embd, norm) if norm_first else 0
    return embeddings + n_layer * decoder_block_params(n_embd, d_ff, norm=norm, ffn=ffn) + final_norm + head

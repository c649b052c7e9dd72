"""Chapter 5's references and named mistakes (teacher side): what the public and hidden cases of
llmcourse/checks/ch05.py compare with. PyTorch's SDPA (with repeated key/value heads for grouped-query attention,
with a float bias for ALiBi) and autograd through it for the hand-written backward; the sliding window's reference
is the chapter's attention with the window's boolean mask (zeros for all-masked rows, as SDPA since PyTorch 2.5).
Each mistake function computes the known mistakes on the same inputs, so a message can name the one an answer
makes."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from llmcourse.attention import attention
from llmcourse.grading.expect import mistake_values
from llmcourse.grading.references import reference

LOW_PRECISION = (torch.float16, torch.bfloat16)


def widened(*tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """float16 and bfloat16 inputs in float32 (differentiably), for a reference computed from the same values and
    rounded to the inputs' dtype at the end; other dtypes as they are."""
    return tuple(x.float() if x.dtype in LOW_PRECISION else x for x in tensors)


NAIVE_SOFTMAX = ("computed the softmax as exp(s) / sum(exp(s)) without subtracting each row's largest score first: "
                 "exp overflows to infinity once a score passes about 88 in float32 (709 in float64), and inf / inf "
                 "is NaN; torch.softmax subtracts the max for you")


def naive_softmax(scores: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """The mistake NAIVE_SOFTMAX (masked scores at -inf give exp 0; a row with no key gives 0, not NaN)."""
    e = scores.exp()
    total = e.sum(dim, keepdim=True)
    return torch.where(total == 0, 0.0, e / total).to(scores.dtype)


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, allowed: torch.Tensor | None = None, *,
           bias: torch.Tensor | None = None, scale: float | None = None, dim: int = -1,
           mask_after: bool = False, bias_after: bool = False, naive: bool = False) -> torch.Tensor:
    """Attention with switches for the known mistakes (never the reference): the scale, the softmax's axis,
    the mask or the bias applied after the softmax instead of before, a softmax without the max subtracted."""
    scale = 1 / math.sqrt(q.size(-1)) if scale is None else scale
    scores = q @ k.transpose(-2, -1) * scale  # (..., Tq, Tk)
    if bias is not None and not bias_after:
        scores = scores + bias
    if allowed is not None and not mask_after:
        scores = scores.masked_fill(~allowed, float("-inf"))
    weights = naive_softmax(scores, dim) if naive else torch.softmax(scores, dim=dim).nan_to_num(0.0)
    if allowed is not None and mask_after:
        weights = weights * allowed
    if bias is not None and bias_after:
        weights = weights + bias
    return weights @ v


def causal(t: int, diagonal: int = 0) -> torch.Tensor:
    return torch.ones(t, t, dtype=torch.bool).tril(diagonal)  # (T, T): query i sees keys j <= i + diagonal


def gqa_variant(x: torch.Tensor, w_q: torch.Tensor, w_k: torch.Tensor, w_v: torch.Tensor, w_o: torch.Tensor,
                n_head: int, n_kv_head: int, mistake: str = "") -> torch.Tensor:
    """Grouped-query attention with one known mistake switched on ("" = right; the reference is SDPA)."""
    b, t, c = x.shape
    hd = c // n_head

    def split(y: torch.Tensor, heads: int) -> torch.Tensor:
        if mistake == "no_transpose":
            return y.reshape(b, heads, t, hd)  # (B, h, T, hd), but each "head" mixes positions
        return y.view(b, t, heads, hd).transpose(1, 2)  # (B, h, T, hd)

    q, k, v = split(x @ w_q.T, n_head), split(x @ w_k.T, n_kv_head), split(x @ w_v.T, n_kv_head)
    group = n_head // n_kv_head
    if mistake == "tile":
        k, v = k.repeat(1, group, 1, 1), v.repeat(1, group, 1, 1)  # head h gets kv head h % n_kv_head
    else:
        k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
    allowed = {"no_mask": None, "sees_next": causal(t, 1)}.get(mistake, causal(t))
    scale = {"no_scale": 1.0, "scale_c": 1 / math.sqrt(c)}.get(mistake)
    out = attend(q, k, v, allowed, scale=scale, dim=-2 if mistake == "axis" else -1,
                 naive=mistake == "naive_softmax")  # (B, nh, T, hd)
    if mistake == "no_transpose":
        merged = out.reshape(b, t, c)
    else:
        merged = out.transpose(1, 2).reshape(b, t, c)
    return merged @ w_o.T


@reference("ch05.grouped_query_attention")
def gqa_reference(x: torch.Tensor, w_q: torch.Tensor, w_k: torch.Tensor, w_v: torch.Tensor, w_o: torch.Tensor,
                  n_head: int, n_kv_head: int) -> torch.Tensor:
    """Repeat each key/value head for its group, then PyTorch's causal SDPA: (B, T, C) (float16 and bfloat16 inputs
    computed in float32 and rounded to their dtype)."""
    dtype = x.dtype
    x, w_q, w_k, w_v, w_o = widened(x, w_q, w_k, w_v, w_o)
    b, t, c = x.shape
    hd = c // n_head
    q = (x @ w_q.T).view(b, t, n_head, hd).transpose(1, 2)  # (B, nh, T, hd)
    k = (x @ w_k.T).view(b, t, n_kv_head, hd).transpose(1, 2).repeat_interleave(n_head // n_kv_head, dim=1)
    v = (x @ w_v.T).view(b, t, n_kv_head, hd).transpose(1, 2).repeat_interleave(n_head // n_kv_head, dim=1)
    out = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, nh, T, hd)
    return (out.transpose(1, 2).reshape(b, t, c) @ w_o.T).to(dtype)


GQA_MISTAKES = {
    "tile": "repeated the key/value heads as a block (head h got key/value head h % n_kv_head): the query heads of "
            "one group are neighbours, so key/value head j serves query heads j * group ... (j + 1) * group - 1",
    "no_scale": "left out the 1/sqrt(head_dim) scaling of the scores",
    "scale_c": "scaled by 1/sqrt(C) instead of 1/sqrt(head_dim): each head's dot product has head_dim terms",
    "sees_next": "built a causal mask that lets each token see the next one too (the diagonal is the last key "
                 "a query may see)",
    "no_mask": "left out the causal mask: a token must not see the tokens after it",
    "axis": "normalised the softmax over the queries (dim=-2): each query's weights over the keys must sum to 1",
    "no_transpose": "split the heads with a plain reshape (B, T, C) -> (B, n_head, T, head_dim): view as "
                    "(B, T, n_head, head_dim) first and then swap T and the heads, or each head mixes positions",
    "naive_softmax": NAIVE_SOFTMAX,
}


@reference("ch05.grouped_query_attention/mistakes")
def gqa_mistakes(*args: Any) -> dict[str, torch.Tensor]:
    return mistake_values({text: (lambda m=m: gqa_variant(*args, mistake=m)) for m, text in GQA_MISTAKES.items()})


def window_mask(lengths: torch.Tensor, t: int, window: int, *, lower: int = 0, upper: int = 0,
                keys: bool = True, queries: bool = False, symmetric: bool = False) -> torch.Tensor:
    """(B, 1, T, T) bool: i - window - lower < j <= i + upper, j < length (``keys``), i < length (``queries``)."""
    i = torch.arange(t)[:, None]  # (T, 1)
    j = torch.arange(t)[None, :]  # (1, T)
    if symmetric:
        band = (i - j).abs() < window
    else:
        band = (j <= i + upper) & (j > i - window - lower)  # (T, T)
    mask = band[None, None].expand(len(lengths), 1, t, t)  # (B, 1, T, T)
    if keys:
        mask = mask & (j < lengths[:, None, None, None])
    if queries:
        mask = mask & (i < lengths[:, None, None, None])
    return mask


@reference("ch05.sliding_window_attention")
def window_reference(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, lengths: torch.Tensor,
                     window: int) -> torch.Tensor:
    """The chapter's attention with the window's mask (float16 and bfloat16 inputs computed in float32 and rounded
    to their dtype)."""
    return attention(*widened(q, k, v), mask=window_mask(lengths, q.size(-2), window))[0].to(q.dtype)


@reference("ch05.sliding_window_attention/mistakes")
def window_mistakes(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, lengths: torch.Tensor,
                    window: int) -> dict[str, torch.Tensor]:
    t = q.size(-2)
    right = window_mask(lengths, t, window)
    return mistake_values({
        "let each query see window + 1 keys (i - window <= j): with window w a query sees itself and the w - 1 "
        "keys before it": lambda: attend(q, k, v, window_mask(lengths, t, window, lower=1)),
        "let each query see only window - 1 keys: with window w a query sees itself and the w - 1 keys before it":
            lambda: attend(q, k, v, window_mask(lengths, t, window - 1)),
        "let each token see the next one too (j <= i + 1): the window ends at the query itself":
            lambda: attend(q, k, v, window_mask(lengths, t, window, upper=1)),
        "made the window two-sided (|i - j| < window): it must also be causal, j <= i":
            lambda: attend(q, k, v, window_mask(lengths, t, window, symmetric=True)),
        "ignored the padding: keys at positions j >= lengths[b] are not real tokens":
            lambda: attend(q, k, v, window_mask(lengths, t, window, keys=False)),
        "masked the padded queries instead of the padded keys: the padding mask removes keys (columns)":
            lambda: attend(q, k, v, window_mask(lengths, t, window, keys=False, queries=True)),
        "applied the mask after the softmax: the weights of the allowed keys then no longer sum to 1; mask the "
        "scores (with -inf) before it": lambda: attend(q, k, v, right, mask_after=True),
        "normalised the softmax over the queries (dim=-2): each query's weights over the keys must sum to 1":
            lambda: attend(q, k, v, right, dim=-2),
        "left out the 1/sqrt(d) scaling of the scores": lambda: attend(q, k, v, right, scale=1.0),
        NAIVE_SOFTMAX: lambda: attend(q, k, v, right, naive=True),
    })


@reference("ch05.attention_backward")
def backward_reference(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                       grad_out: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Autograd through F.scaled_dot_product_attention, for the upstream grad_out (float16 and bfloat16 inputs
    computed in float32 and rounded to their dtype)."""
    leaves = [x.detach().clone().requires_grad_(True) for x in widened(q, k, v)]
    out = F.scaled_dot_product_attention(*leaves)
    grads = torch.autograd.grad(out, leaves, *widened(grad_out))
    return tuple(g.detach().to(x.dtype) for g, x in zip(grads, (q, k, v), strict=True))


def backward_variant(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, grad_out: torch.Tensor,
                     mistake: str = "") -> tuple[torch.Tensor, ...]:
    scale = 1 / math.sqrt(q.size(-1))
    scores = q @ k.mT * scale  # (..., Tq, Tk)
    p = naive_softmax(scores) if mistake == "naive_softmax" else torch.softmax(scores, dim=-1)
    d_v = p @ grad_out if mistake == "dv_untransposed" else p.mT @ grad_out
    d_p = grad_out @ v.mT  # (..., Tq, Tk)
    if mistake == "no_jacobian":
        d_s = d_p
    elif mistake == "no_subtract":
        d_s = p * d_p
    elif mistake == "sum_wrong_axis":
        d_s = p * (d_p - (p * d_p).sum(-2, keepdim=True))
    else:
        d_s = p * (d_p - (p * d_p).sum(-1, keepdim=True))  # through the softmax, row by row
    s = {"no_scale": 1.0, "scale_twice": scale * scale}.get(mistake, scale)
    return d_s @ k * s, d_s.mT @ q * s, d_v


BACKWARD_MISTAKES = {
    "no_jacobian": "passed dL/dweights straight through the softmax: its Jacobian gives dL/dscores = P * (dP - "
                   "rowsum(P * dP))",
    "no_subtract": "forgot the second term of the softmax's Jacobian: dL/dscores = P * (dP - rowsum(P * dP)), the "
                   "row sum subtracted because the weights of a row sum to 1",
    "sum_wrong_axis": "summed P * dP over the queries: the softmax normalises each row (over the keys), so the "
                      "sum runs over the last dimension",
    "no_scale": "forgot the 1/sqrt(d) in dL/dq and dL/dk: the scores are q k^T / sqrt(d)",
    "scale_twice": "divided by d instead of sqrt(d) in dL/dq and dL/dk: the scale enters once",
    "dv_untransposed": "took dL/dv as P @ grad_out: v[j] reaches out[i] through P[i, j], so dL/dv = P^T @ grad_out",
    "naive_softmax": NAIVE_SOFTMAX,
}


@reference("ch05.attention_backward/mistakes")
def backward_mistakes(*args: torch.Tensor) -> dict[str, tuple[torch.Tensor, ...]]:
    return mistake_values({text: (lambda m=m: backward_variant(*args, mistake=m))
                           for m, text in BACKWARD_MISTAKES.items()})


def alibi_bias(n_head: int, t: int, *, sign: float = -1.0, reverse: bool = False, offset: int = 1,
               dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(H, T, T) in ``dtype``: sign * m_h * (i - j), m_h = 2^(-8 (h + offset) / H) (``reverse``: slopes in the
    other order)."""
    h = torch.arange(n_head, dtype=dtype)
    slopes = 2.0 ** (-8 * (h + offset) / n_head)  # (H,)
    if reverse:
        slopes = slopes.flip(0)
    distance = (torch.arange(t)[:, None] - torch.arange(t)[None, :]).to(dtype)  # (T, T): i - j
    return sign * slopes[:, None, None] * distance  # (H, T, T)


@reference("ch05.alibi_attention")
def alibi_reference(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """SDPA with ALiBi's float bias plus -inf above the diagonal (float16 and bfloat16 inputs computed in float32
    and rounded to their dtype)."""
    dtype, t = q.dtype, q.size(-2)
    q, k, v = widened(q, k, v)
    bias = alibi_bias(q.size(1), t, dtype=q.dtype).masked_fill(~causal(t), float("-inf"))  # (H, T, T)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=bias).to(dtype)


@reference("ch05.alibi_attention/mistakes")
def alibi_mistakes(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> dict[str, torch.Tensor]:
    n_head, t, dtype = q.size(1), q.size(-2), q.dtype
    right = alibi_bias(n_head, t, dtype=dtype)
    float32 = {} if dtype == torch.float32 else {
        "built the bias in float32 (torch.arange and friends make float32 without dtype=): its slopes are rounded "
        "to float32 before they meet the float64 scores; make the bias in the inputs' dtype":
            lambda: attend(q, k, v, causal(t), bias=alibi_bias(n_head, t)),
    }
    return mistake_values({
        "added +m_h * (i - j): ALiBi penalises distance, so far keys get lower scores":
            lambda: attend(q, k, v, causal(t), bias=alibi_bias(n_head, t, sign=1.0, dtype=dtype)),
        "gave the slopes in reverse order: head 0 has the largest slope, 2^(-8/H)":
            lambda: attend(q, k, v, causal(t), bias=alibi_bias(n_head, t, reverse=True, dtype=dtype)),
        "used the slopes 2^(-8h/H) with h counted from 0: head h (0-based) has slope 2^(-8 (h + 1) / H), so "
        "no head has slope 1": lambda: attend(q, k, v, causal(t), bias=alibi_bias(n_head, t, offset=0, dtype=dtype)),
        "added the bias to the weights after the softmax: it is added to the scores":
            lambda: attend(q, k, v, causal(t), bias=right, bias_after=True),
        "left out the causal mask: the bias alone does not stop a token from seeing later ones":
            lambda: attend(q, k, v, None, bias=right),
        "left out the 1/sqrt(d) scaling of the scores (ALiBi adds its bias to the scaled scores)":
            lambda: attend(q, k, v, causal(t), bias=right, scale=1.0),
        "forgot the bias: that is plain causal attention": lambda: attend(q, k, v, causal(t)),
        NAIVE_SOFTMAX: lambda: attend(q, k, v, causal(t), bias=right, naive=True),
        **float32,
    })

"""Chapter 5's graded exercises: grouped-query attention, sliding-window attention over padded batches, the
backward pass of attention by hand, and ALiBi's linear biases.

The chapter builds scaled dot-product attention, the causal and padding masks, multi-head attention and RoPE;
each exercise asks for a sibling, an extension or a derivation of those. The chapter does not teach what they add
(grouped-query attention, the sliding window, the softmax's backward pass written out, ALiBi): each exercise's own
text explains its idea before asking for it. ALiBi's slopes here are 2^(-8 (h + 1) / H) for every H, the
exercise's own simplification: Press et al. (2022) use that geometric sequence when H is a power of two and
interleave two such sequences otherwise, so for the 3-head case the slopes differ from the paper's.

Grouped-query attention is the sharing of key/value heads between query heads, so its grader refuses an answer
that has PyTorch do the sharing (:class:`~llmcourse.grading.core.Forbidden`): SDPA with ``enable_gqa=True``, and
PyTorch's internal CPU flash kernel, which shares the heads by itself when the key/value heads are fewer.
``nn.MultiheadAttention`` and ``F.multi_head_attention_forward`` are not refused: they give every head its own
keys and values and cannot share them. (``flex_attention``'s ``enable_gqa`` cannot pass either: on the CPU it
refuses inputs that require grad.)
Every case draws its inputs from the run's trial, so they change from run to run. The references are PyTorch's
own: ``F.scaled_dot_product_attention`` (with repeated key/value heads for grouped-query attention, with a
float bias for ALiBi) and autograd through it for the hand-written backward; only the sliding window's reference
is :func:`llmcourse.attention.attention` with the window's boolean mask, because it defines the all-masked rows
as SDPA does since PyTorch 2.5 (zeros), on every PyTorch version (SDPA before 2.5 gives NaN there). Known mistakes
are computed on the same inputs, so a message can name the one an answer makes.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from llmcourse.attention import attention

from .core import CheckFailure, Forbidden, Trial, exercise
from .expect import kind_of, mistake_values


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, allowed: torch.Tensor | None = None, *,
           bias: torch.Tensor | None = None, scale: float | None = None, dim: int = -1,
           mask_after: bool = False, bias_after: bool = False) -> torch.Tensor:
    """Attention with switches for the known mistakes (never the reference): the scale, the softmax's axis,
    the mask or the bias applied after the softmax instead of before."""
    scale = 1 / math.sqrt(q.size(-1)) if scale is None else scale
    scores = q @ k.transpose(-2, -1) * scale  # (..., Tq, Tk)
    if bias is not None and not bias_after:
        scores = scores + bias
    if allowed is not None and not mask_after:
        scores = scores.masked_fill(~allowed, float("-inf"))
    weights = torch.softmax(scores, dim=dim).nan_to_num(0.0)
    if allowed is not None and mask_after:
        weights = weights * allowed
    if bias is not None and bias_after:
        weights = weights + bias
    return weights @ v


def causal(t: int, diagonal: int = 0) -> torch.Tensor:
    return torch.ones(t, t, dtype=torch.bool).tril(diagonal)  # (T, T): query i sees keys j <= i + diagonal


def qkv(t: Trial, shape: tuple[int, ...], t_q: int, t_k: int, d: int, dv: int,
        scale: float = 1.0, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, ...]:
    """q (..., Tq, d), k (..., Tk, d), v (..., Tk, dv); ``scale`` sharpens the scores (1: spread about 1)."""
    return (t.randn(*shape, t_q, d, scale=scale, dtype=dtype), t.randn(*shape, t_k, d, scale=scale, dtype=dtype),
            t.randn(*shape, t_k, dv, dtype=dtype))


def tolerance(dtype: torch.dtype) -> dict[str, float]:
    """atol and rtol for a result in ``dtype``: float64 answers are held to float64 rounding, so a float32 step
    on the way (a constant or a buffer made without dtype=) shows even when the result's dtype is right."""
    return {"atol": 1e-10, "rtol": 1e-10} if dtype == torch.float64 else {"atol": 1e-5, "rtol": 1e-4}


# --- 1. grouped_query_attention -------------------------------------------------------------------

_SHARE_YOURSELF = ("and that sharing is this exercise: match each query head with its group's key/value head "
                   "yourself, then attend as in the chapter (SDPA without enable_gqa is fine for that step).")
GQA_FORBIDDEN = (
    Forbidden("torch.nn.functional.scaled_dot_product_attention", when={"enable_gqa": True},
              why="enable_gqa=True has PyTorch share the key/value heads between the query heads, " + _SHARE_YOURSELF),
    Forbidden("torch.ops.aten._scaled_dot_product_attention_math", when={"enable_gqa": True},
              why="enable_gqa=True has PyTorch share the key/value heads between the query heads, " + _SHARE_YOURSELF),
    Forbidden("torch.ops.aten._scaled_dot_product_flash_attention_for_cpu",
              why="this internal PyTorch kernel shares the key/value heads between the query heads by itself when "
                  "they are fewer, " + _SHARE_YOURSELF),
)


grouped_query_attention = exercise(
    "ch05.grouped_query_attention", name="grouped_query_attention",
    description="Causal grouped-query self-attention without biases: x (B, T, C), w_q (C, C), w_k and w_v "
                "(n_kv_head * C // n_head, C), w_o (C, C) as nn.Linear weights; query head h uses key/value head "
                "h // (n_head // n_kv_head); returns y (B, T, C). With n_kv_head == n_head it is multi-head "
                "attention.",
    args=("x", "w_q", "w_k", "w_v", "w_o", "n_head", "n_kv_head"), points=2, timeout=10, grad=True,
    forbidden=GQA_FORBIDDEN, hints={
        "shape '[": "each projection has its own number of heads: q splits into n_head heads, k and v into "
                    "n_kv_head, all of width C // n_head; read B, T and C from x.",
        "must match the size": "before the scores, every query head needs its key/value head: give k and v "
                               "n_head heads by repeating each of their heads for the query heads of its group.",
        "cannot be multiplied": "nn.Linear weights are stored (out_features, in_features): project with x @ w.T.",
    },
)


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
    out = attend(q, k, v, allowed, scale=scale, dim=-2 if mistake == "axis" else -1)  # (B, nh, T, hd)
    if mistake == "no_transpose":
        merged = out.reshape(b, t, c)
    else:
        merged = out.transpose(1, 2).reshape(b, t, c)
    return merged @ w_o.T


def gqa_reference(x: torch.Tensor, w_q: torch.Tensor, w_k: torch.Tensor, w_v: torch.Tensor, w_o: torch.Tensor,
                  n_head: int, n_kv_head: int) -> torch.Tensor:
    """Repeat each key/value head for its group, then PyTorch's causal SDPA: (B, T, C)."""
    b, t, c = x.shape
    hd = c // n_head
    q = (x @ w_q.T).view(b, t, n_head, hd).transpose(1, 2)  # (B, nh, T, hd)
    k = (x @ w_k.T).view(b, t, n_kv_head, hd).transpose(1, 2).repeat_interleave(n_head // n_kv_head, dim=1)
    v = (x @ w_v.T).view(b, t, n_kv_head, hd).transpose(1, 2).repeat_interleave(n_head // n_kv_head, dim=1)
    out = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, nh, T, hd)
    return out.transpose(1, 2).reshape(b, t, c) @ w_o.T


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
}


def gqa_mistakes(*args: Any) -> dict[str, torch.Tensor]:
    return mistake_values({text: (lambda m=m: gqa_variant(*args, mistake=m)) for m, text in GQA_MISTAKES.items()})


def check_gqa(t: Trial, batch: int, length: int, n_head: int, n_kv_head: int, head_dim: int,
              dtype: torch.dtype = torch.float32) -> None:
    """grouped_query_attention against repeated heads + causal SDPA: values and every gradient."""
    c = n_head * head_dim
    x = t.randn(batch, length, c, dtype=dtype)  # (B, T, C)
    w_q = t.randn(c, c, scale=1.5 / math.sqrt(c), dtype=dtype)  # scores of order 1, so a missing scale shows
    w_k = t.randn(n_kv_head * head_dim, c, scale=1.5 / math.sqrt(c), dtype=dtype)
    w_v = t.randn(n_kv_head * head_dim, c, scale=1 / math.sqrt(c), dtype=dtype)
    w_o = t.randn(c, c, scale=1 / math.sqrt(c), dtype=dtype)
    t.check_call(x, w_q, w_k, w_v, w_o, n_head, n_kv_head, reference=gqa_reference, what="the output y",
                 mistakes=gqa_mistakes, **tolerance(dtype))


@grouped_query_attention.case("values and gradients match repeated heads + causal SDPA: 4 query heads, 2 kv heads")
def _(t: Trial) -> None:
    check_gqa(t, t.py.randint(2, 3), t.py.randint(5, 8), 4, 2, t.py.choice((3, 4)))


@grouped_query_attention.case("the same with 6 query heads in 3 groups, on a batch of one sequence, in float64")
def _(t: Trial) -> None:
    check_gqa(t, 1, t.py.randint(6, 9), 6, 3, 2, dtype=torch.float64)


@grouped_query_attention.case("multi-query attention: 4 query heads share one key/value head")
def _(t: Trial) -> None:
    check_gqa(t, t.py.randint(2, 3), t.py.randint(4, 7), 4, 1, t.py.randint(2, 4))


@grouped_query_attention.case("n_kv_head == n_head: plain multi-head attention")
def _(t: Trial) -> None:
    n_head = t.py.choice((2, 3))
    check_gqa(t, 2, t.py.randint(3, 6), n_head, n_head, t.py.randint(3, 5))


# --- 2. sliding_window_attention ------------------------------------------------------------------

sliding_window_attention = exercise(
    "ch05.sliding_window_attention", name="sliding_window_attention",
    description="Causal sliding-window attention over a padded batch: q, k (B, H, T, d), v (B, H, T, dv), "
                "lengths (B,); query i of sequence b attends to the keys j with i - window < j <= i and "
                "j < lengths[b]; scale 1/sqrt(d); a query with no such key gets zeros. Returns (B, H, T, dv).",
    args=("q", "k", "v", "lengths", "window"), points=2, timeout=10, grad=True, hints={
        "The size of tensor a": "build the mask from positions: a (T, 1) column of query positions against a "
                                "(1, T) row of key positions gives (T, T); the lengths add a (B, 1, 1, T) part.",
        "expected a boolean": "combine masks with & on boolean tensors (comparisons give booleans).",
    },
)


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


def window_reference(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, lengths: torch.Tensor,
                     window: int) -> torch.Tensor:
    return attention(q, k, v, mask=window_mask(lengths, q.size(-2), window))[0]


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
    })


def check_window(t: Trial, lengths: list[int], length: int, window: int, heads: int, d: int, dv: int,
                 dtype: torch.dtype = torch.float32) -> None:
    q, k, v = qkv(t, (len(lengths), heads), length, length, d, dv, dtype=dtype)
    t.check_call(q, k, v, torch.tensor(lengths), window, reference=window_reference, what="the output",
                 mistakes=window_mistakes, **tolerance(dtype))


@sliding_window_attention.case("a padded batch of three sequences, a window of 3, two heads")
def _(t: Trial) -> None:
    length = t.py.randint(8, 11)
    check_window(t, [length, t.py.randint(4, length - 2), t.py.randint(2, 4)], length, 3, 2, t.py.choice((4, 6)), 5)


@sliding_window_attention.case("one sequence without padding (B=1), a window of 2 and value width != key width")
def _(t: Trial) -> None:
    length = t.py.randint(6, 9)
    check_window(t, [length], length, 2, t.py.randint(1, 3), 4, t.py.choice((3, 7)))


@sliding_window_attention.case("a window wider than the sequence: plain causal attention with padding")
def _(t: Trial) -> None:
    length = t.py.randint(5, 7)
    check_window(t, [t.py.randint(2, length), length], length, length + t.py.randint(0, 3), 3, 4, 4)


@sliding_window_attention.case("padded queries far from every real key get zeros (short sequences, window of 2), "
                               "in float64")
def _(t: Trial) -> None:
    length = t.py.randint(7, 9)
    check_window(t, [length, 2, 1], length, 2, 2, 6, 4, dtype=torch.float64)


# --- 3. attention_backward ------------------------------------------------------------------------

attention_backward = exercise(
    "ch05.attention_backward", name="attention_backward",
    description="The backward pass of out = softmax(q k^T / sqrt(d)) v by hand: given q (..., Tq, d), "
                "k (..., Tk, d), v (..., Tk, dv) and grad_out = dL/dout (..., Tq, dv), return (dL/dq, dL/dk, "
                "dL/dv), each shaped like its tensor.",
    args=("q", "k", "v", "grad_out"), points=2, timeout=10, no_autograd=True, hints={
        "must match the size": "check the shapes: dL/dv has v's shape (..., Tk, dv), so it comes from the "
                               "weights transposed, (..., Tk, Tq), times grad_out (..., Tq, dv).",
        "cannot be multiplied": "transpose only the last two dimensions (`.transpose(-2, -1)`, or `.mT`); `.T` "
                                "reverses every dimension of a batched tensor.",
    },
)
_BACKWARD_NAMES = ("dL/dq", "dL/dk", "dL/dv")


def backward_reference(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                       grad_out: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Autograd through F.scaled_dot_product_attention, for the upstream grad_out."""
    leaves = [x.detach().clone().requires_grad_(True) for x in (q, k, v)]
    out = F.scaled_dot_product_attention(*leaves)
    return tuple(g.detach() for g in torch.autograd.grad(out, leaves, grad_out))


def backward_variant(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, grad_out: torch.Tensor,
                     mistake: str = "") -> tuple[torch.Tensor, ...]:
    scale = 1 / math.sqrt(q.size(-1))
    p = torch.softmax(q @ k.mT * scale, dim=-1)  # (..., Tq, Tk)
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
}


def backward_mistakes(*args: torch.Tensor) -> dict[str, tuple[torch.Tensor, ...]]:
    return mistake_values({text: (lambda m=m: backward_variant(*args, mistake=m))
                           for m, text in BACKWARD_MISTAKES.items()})


def check_backward(t: Trial, shape: tuple[int, ...], t_q: int, t_k: int, d: int, dv: int,
                   scale: float = 1.0, dtype: torch.dtype = torch.float32) -> None:
    """attention_backward against autograd through SDPA, each of the three gradients on its own."""
    q, k, v = qkv(t, shape, t_q, t_k, d, dv, scale=scale, dtype=dtype)
    upstream = t.randn(*shape, t_q, dv, dtype=dtype)
    got = t.call(q, k, v, upstream).value
    if not isinstance(got, (tuple, list)) or len(got) != 3:
        raise CheckFailure("`attention_backward` should return three tensors (dL/dq, dL/dk, dL/dv), but it "
                           f"returned {kind_of(got)}.", "type")
    expected = backward_reference(q, k, v, upstream)
    mistakes = backward_mistakes(q, k, v, upstream)
    for i, name in enumerate(_BACKWARD_NAMES):
        t.expect(got[i], expected[i], name, mistakes={text: values[i] for text, values in mistakes.items()},
                 **tolerance(dtype))


@attention_backward.case("all three gradients match autograd for one head: (Tq, d) queries, more keys than queries")
def _(t: Trial) -> None:
    t_q = t.py.randint(3, 5)
    check_backward(t, (), t_q, t_q + t.py.randint(1, 4), t.py.randint(3, 6), t.py.randint(2, 5))


@attention_backward.case("the same with batch and head dimensions (B, H, T, d), as many keys as queries, in "
                         "float64")
def _(t: Trial) -> None:
    length = t.py.randint(4, 6)
    check_backward(t, (t.py.randint(2, 3), t.py.randint(2, 3)), length, length, t.py.choice((3, 5)), 4,
                   dtype=torch.float64)


@attention_backward.case("a batch of one, fewer keys than queries, sharp softmax rows")
def _(t: Trial) -> None:
    check_backward(t, (1,), t.py.randint(5, 7), t.py.randint(2, 4), t.py.randint(4, 6), 3, scale=1.8)


# --- 4. alibi_attention ---------------------------------------------------------------------------

alibi_attention = exercise(
    "ch05.alibi_attention", name="alibi_attention",
    description="Causal attention with ALiBi: q, k (B, H, T, d), v (B, H, T, dv); head h (0-based) adds "
                "-m_h * (i - j) to the score of query i and key j <= i, with slopes m_h = 2 ** (-8 * (h + 1) / H) "
                "for every H (the exercise's simplification: the paper interleaves two such sequences when H is not "
                "a power of two); scale 1/sqrt(d); no position embeddings. Returns (B, H, T, dv).",
    args=("q", "k", "v"), points=1, timeout=10, grad=True, hints={
        "The size of tensor a": "the bias is (H, T, T): one (T, T) matrix of distances i - j per head, times that "
                                "head's slope as an (H, 1, 1) tensor, broadcast over the batch.",
    },
)


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


def alibi_reference(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """SDPA with ALiBi's float bias plus -inf above the diagonal."""
    t = q.size(-2)
    bias = alibi_bias(q.size(1), t, dtype=q.dtype).masked_fill(~causal(t), float("-inf"))  # (H, T, T)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=bias)


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
        **float32,
    })


def check_alibi(t: Trial, batch: int, n_head: int, length: int, d: int, dv: int,
                dtype: torch.dtype = torch.float32) -> None:
    q, k, v = qkv(t, (batch, n_head), length, length, d, dv, dtype=dtype)
    t.check_call(q, k, v, reference=alibi_reference, what="the output", mistakes=alibi_mistakes, **tolerance(dtype))


@alibi_attention.case("values and gradients match SDPA with ALiBi's bias: 4 heads, a batch of two")
def _(t: Trial) -> None:
    check_alibi(t, 2, 4, t.py.randint(6, 9), t.py.choice((4, 8)), t.py.randint(3, 5))


@alibi_attention.case("the same with 8 heads (slopes down to 1/256) on a batch of one")
def _(t: Trial) -> None:
    check_alibi(t, 1, 8, t.py.randint(8, 12), 4, 4)


@alibi_attention.case("the same with 3 heads (not a power of two) and a long sequence, in float64")
def _(t: Trial) -> None:
    check_alibi(t, 2, 3, t.py.randint(20, 30), t.py.randint(2, 4), 6, dtype=torch.float64)

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
Every case draws its inputs from the run's trial. The expected answers come from the teacher's references
(``solutions/references/ch05.py``: PyTorch's SDPA and autograd through it, and the chapter's attention with the
window's mask), live on the teacher's side and replayed from the recording in a learner's check; known mistakes are
computed on the same inputs, so a message can name the one an answer makes.
"""

from __future__ import annotations

import math

import torch

from ..grading.core import CheckFailure, Forbidden, Trial, exercise
from ..grading.expect import kind_of


def qkv(t: Trial, shape: tuple[int, ...], t_q: int, t_k: int, d: int, dv: int,
        scale: float = 1.0, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, ...]:
    """q (..., Tq, d), k (..., Tk, d), v (..., Tk, dv); ``scale`` sharpens the scores (1: spread about 1)."""
    return (t.randn(*shape, t_q, d, scale=scale, dtype=dtype), t.randn(*shape, t_k, d, scale=scale, dtype=dtype),
            t.randn(*shape, t_k, dv, dtype=dtype))


_LOW_PRECISION = {torch.float16: {"atol": 4e-3, "rtol": 4e-3}, torch.bfloat16: {"atol": 3e-2, "rtol": 3e-2}}


def tolerance(dtype: torch.dtype) -> dict[str, float]:
    """atol and rtol for a result in ``dtype``: float64 answers are held to float64 rounding, so a float32 step
    on the way (a constant or a buffer made without dtype=) shows even when the result's dtype is right; float16
    and bfloat16 answers (computed in their dtype) are compared with the reference computed in float32 from the
    same inputs and rounded to their dtype, within a few of their rounding steps."""
    if dtype in _LOW_PRECISION:
        return dict(_LOW_PRECISION[dtype])
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


def check_gqa(t: Trial, batch: int, length: int, n_head: int, n_kv_head: int, head_dim: int,
              dtype: torch.dtype = torch.float32, x_scale: float = 1.0) -> None:
    """grouped_query_attention against repeated heads + causal SDPA: values and every gradient; ``x_scale`` sets
    the activations' size (the scores grow as its square: 25 puts them in the thousands)."""
    c = n_head * head_dim
    x = t.randn(batch, length, c, scale=x_scale, dtype=dtype)  # (B, T, C)
    w_q = t.randn(c, c, scale=1.5 / math.sqrt(c), dtype=dtype)  # scores of order 1, so a missing scale shows
    w_k = t.randn(n_kv_head * head_dim, c, scale=1.5 / math.sqrt(c), dtype=dtype)
    w_v = t.randn(n_kv_head * head_dim, c, scale=1 / math.sqrt(c), dtype=dtype)
    w_o = t.randn(c, c, scale=1 / math.sqrt(c), dtype=dtype)
    # float16 gradients of the weights sum many rounded products: compared within 4e-2 (the master's worst is 1.6e-2);
    # float64 scores in the thousands leave a saturated softmax whose tiny gradients carry float64 rounding of about
    # 1e-10 (4 of 60 seeds of the master were off by up to 1.5e-10): 1e-8 there, still far below float32's rounding
    grad_atol = 4e-2 if dtype == torch.float16 else 1e-8 if x_scale > 1 and dtype == torch.float64 else None
    t.check_call(x, w_q, w_k, w_v, w_o, n_head, n_kv_head, reference="ch05.grouped_query_attention",
                 what="the output y", mistakes="ch05.grouped_query_attention/mistakes", grad_atol=grad_atol,
                 **tolerance(dtype))


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


@grouped_query_attention.case("large activations (|x| up to about 80, scores in the thousands, far apart within a "
                              "row), in float64: a softmax without the row's max subtracted overflows")
def _(t: Trial) -> None:
    check_gqa(t, 2, t.py.randint(5, 8), 4, 2, 4, dtype=torch.float64, x_scale=25.0)


@grouped_query_attention.case("float16 activations and weights: the output stays float16")
def _(t: Trial) -> None:
    check_gqa(t, 2, t.py.randint(4, 7), 4, 2, t.py.choice((4, 8)), dtype=torch.float16)


@grouped_query_attention.case("an empty batch (B=0): an empty output of shape (0, T, C)")
def _(t: Trial) -> None:
    check_gqa(t, 0, t.py.randint(3, 5), 4, 2, 3)


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


def check_window(t: Trial, lengths: list[int], length: int, window: int, heads: int, d: int, dv: int,
                 dtype: torch.dtype = torch.float32, scale: float = 1.0) -> None:
    q, k, v = qkv(t, (len(lengths), heads), length, length, d, dv, scale=scale, dtype=dtype)
    t.check_call(q, k, v, torch.tensor(lengths, dtype=torch.long), window, reference="ch05.sliding_window_attention",
                 what="the output", mistakes="ch05.sliding_window_attention/mistakes", **tolerance(dtype))


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


@sliding_window_attention.case("large queries and keys (scores in the hundreds, far apart within a row): a softmax "
                               "without the row's max subtracted overflows")
def _(t: Trial) -> None:
    length = t.py.randint(7, 10)
    check_window(t, [length, t.py.randint(3, length - 1)], length, t.py.randint(3, 4), 2, 4, 3, scale=10.0)


@sliding_window_attention.case("float16 queries, keys and values: the output (zeros included) stays float16")
def _(t: Trial) -> None:
    length = t.py.randint(6, 9)
    check_window(t, [length, t.py.randint(2, length - 1), 1], length, 3, 2, 8, 4, dtype=torch.float16)


@sliding_window_attention.case("an empty batch (B=0, no lengths), and a batch with a sequence of length 0: its "
                               "queries see no key and get zeros")
def _(t: Trial) -> None:
    length = t.py.randint(4, 6)
    check_window(t, [], length, 2, 2, 4, 3)
    check_window(t, [length, 0], length, t.py.randint(2, 3), 1, 4, 3)


# --- 3. attention_backward ------------------------------------------------------------------------

attention_backward = exercise(
    "ch05.attention_backward", name="attention_backward",
    description="The backward pass of out = softmax(q k^T / sqrt(d)) v by hand: given q (..., Tq, d), "
                "k (..., Tk, d), v (..., Tk, dv) and grad_out = dL/dout (..., Tq, dv), return (dL/dq, dL/dk, "
                "dL/dv), each shaped like its tensor.",
    args=("q", "k", "v", "grad_out"), points=2, timeout=10, no_autograd=True, forbidden=[
        Forbidden(path, why="this PyTorch kernel is the softmax's backward pass (dL/dscores from dL/dweights and the "
                            "weights), the step this exercise asks you to work out: write P * (dP - rowsum(P * dP)).")
        for path in ("torch.ops.aten._softmax_backward_data", "torch._softmax_backward_data")], hints={
        "must match the size": "check the shapes: dL/dv has v's shape (..., Tk, dv), so it comes from the "
                               "weights transposed, (..., Tk, Tq), times grad_out (..., Tq, dv).",
        "cannot be multiplied": "transpose only the last two dimensions (`.transpose(-2, -1)`, or `.mT`); `.T` "
                                "reverses every dimension of a batched tensor.",
    },
)
_BACKWARD_NAMES = ("dL/dq", "dL/dk", "dL/dv")


def check_backward(t: Trial, shape: tuple[int, ...], t_q: int, t_k: int, d: int, dv: int,
                   scale: float = 1.0, dtype: torch.dtype = torch.float32) -> None:
    """attention_backward against autograd through SDPA, each of the three gradients on its own."""
    q, k, v = qkv(t, shape, t_q, t_k, d, dv, scale=scale, dtype=dtype)
    upstream = t.randn(*shape, t_q, dv, dtype=dtype)
    got = t.call(q, k, v, upstream).value
    if not isinstance(got, (tuple, list)) or len(got) != 3:
        raise CheckFailure("`attention_backward` should return three tensors (dL/dq, dL/dk, dL/dv), but it "
                           f"returned {kind_of(got)}.", "type")
    expected = t.reference("ch05.attention_backward", q, k, v, upstream)
    mistakes = t.reference("ch05.attention_backward/mistakes", q, k, v, upstream)
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


@attention_backward.case("large queries and keys (scores in the hundreds, far apart within a row): a softmax "
                         "without the row's max subtracted overflows")
def _(t: Trial) -> None:
    check_backward(t, (2,), t.py.randint(4, 6), t.py.randint(6, 9), 4, 3, scale=10.0)


@attention_backward.case("bfloat16 inputs: the three gradients stay bfloat16")
def _(t: Trial) -> None:
    check_backward(t, (2, 2), t.py.randint(3, 5), t.py.randint(5, 7), 8, 4, dtype=torch.bfloat16)


@attention_backward.case("an empty batch (0 sequences of 2 heads): three empty gradients")
def _(t: Trial) -> None:
    check_backward(t, (0, 2), t.py.randint(3, 5), t.py.randint(4, 6), 4, 3)


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


def check_alibi(t: Trial, batch: int, n_head: int, length: int, d: int, dv: int,
                dtype: torch.dtype = torch.float32, scale: float = 1.0) -> None:
    q, k, v = qkv(t, (batch, n_head), length, length, d, dv, scale=scale, dtype=dtype)
    t.check_call(q, k, v, reference="ch05.alibi_attention", what="the output",
                 mistakes="ch05.alibi_attention/mistakes", **tolerance(dtype))


@alibi_attention.case("values and gradients match SDPA with ALiBi's bias: 4 heads, a batch of two")
def _(t: Trial) -> None:
    check_alibi(t, 2, 4, t.py.randint(6, 9), t.py.choice((4, 8)), t.py.randint(3, 5))


@alibi_attention.case("the same with 8 heads (slopes down to 1/256) on a batch of one")
def _(t: Trial) -> None:
    check_alibi(t, 1, 8, t.py.randint(8, 12), 4, 4)


@alibi_attention.case("the same with 3 heads (not a power of two) and a long sequence, in float64")
def _(t: Trial) -> None:
    check_alibi(t, 2, 3, t.py.randint(20, 30), t.py.randint(2, 4), 6, dtype=torch.float64)


@alibi_attention.case("large queries and keys (scores in the hundreds, far apart within a row): a softmax without "
                      "the row's max subtracted overflows")
def _(t: Trial) -> None:
    check_alibi(t, 2, 2, t.py.randint(6, 9), 4, 3, scale=10.0)


@alibi_attention.case("float16 queries, keys and values, 4 heads: the output stays float16")
def _(t: Trial) -> None:
    check_alibi(t, 2, 4, t.py.randint(6, 10), 8, 4, dtype=torch.float16)


@alibi_attention.case("an empty batch (B=0): an empty output")
def _(t: Trial) -> None:
    check_alibi(t, 0, 4, t.py.randint(3, 6), 4, 3)

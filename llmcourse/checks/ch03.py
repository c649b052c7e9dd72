"""Chapter 3's graded exercises: CBOW, word2vec's other model, beside the chapter's skip-gram; GloVe, the
count-based model the chapter describes in words; and gradients written by hand.

1. ``cbow_windows``: the context of every word of a sentence as a fixed-width row, padded at the edges, with a mask;
2. ``glove_loss``: GloVe's weighted least-squares objective over the non-zero cells of a co-occurrence matrix
   given as a coalesced COO list (rows, cols, counts); autograd must flow through it;
3. ``glove_grads``: that objective's gradients with respect to both tables and both biases, by hand (no autograd),
   each word's contributions added up over all of its cells;
4. ``cbow_ns_grads``: the CBOW negative-sampling loss's gradients, by hand, through the masked average;
5. ``train_glove``: GloVe trained with AdaGrad on the learner's own gradients, graded on one epoch's tables (one
   reference AdaGrad step from the stated start) and on the outcome: the weighted objective the returned tables
   reach on counts drawn from a planted log-bilinear model.

The chapter builds skip-gram (``llmcourse.embeddings``) and explains GloVe without writing its loss or gradient;
none of these is in it. Every case draws its inputs from the run's seed. The expected answers come from the
teacher's references (``solutions/references/ch03.py``: small functions written there, the gradients' references
autograd on the loss, and the reference AdaGrad run), live on the teacher's side and replayed from the recording in
a learner's check; so do the known mistakes, computed on the same inputs, so a message can name one. A gradient
computed by autograd is refused: the by-hand exercises declare ``no_autograd=True``, and the engine counts every
backward pass the learner's call runs, by whatever name it was reached.

References: Mikolov, Chen, Corrado & Dean (2013) "Efficient Estimation of Word Representations in Vector Space"
(CBOW); Pennington, Socher & Manning (2014) "GloVe: Global Vectors for Word Representation" (eq. 8 and 9);
Goldberg & Levy (2014) "word2vec Explained"; Rong (2014) "word2vec Parameter Learning Explained".
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ..grading import wire
from ..grading.core import Forbidden, Step, Trial, exercise
from ..grading.expect import CheckFailure, expect_true, kind_of

BROADCAST_HINT = {"must match the size of tensor b":
                  "line up the shapes: u_negatives is (B, K, D) and the vector it is scored against is (B, D), so "
                  "give that vector a middle dimension of 1, (B, 1, D); a (B, C) mask needs a last dimension of 1 "
                  "to multiply (B, C, D) vectors."}

# --- 1. cbow_windows ---------------------------------------------------------------------------

cbow_windows = exercise(
    "ch03.cbow_windows", name="cbow_windows",
    description="Every word's context in a sentence as a row of 2·window ids, padded with 0 at the edges, "
                "and a mask of the real words.",
    args=("ids", "window"), points=1, timeout=10,
    exempt={"empty": "the exercise takes one sentence, and a sentence has at least one word (the one-word sentence "
                     "is a case); the chapter's solution builds the rows with unfold over the padded sentence, which "
                     "raises for N = 0, and the description promises nothing for an empty one"},
)


def check_windows(t: Trial, ids: torch.Tensor, window: int) -> None:
    t.check_call(ids, window, reference="ch03.cbow_windows", what=f"(contexts, mask) for {len(ids)} words and "
                 f"window={window}", mistakes="ch03.cbow_windows/mistakes")


@cbow_windows.case("a sentence much longer than the window, ids up to 50,000")
def _(t: Trial) -> None:
    window = t.py.randint(2, 4)
    check_windows(t, t.randint(0, 50_000, (t.py.randint(9, 16),)), window)


@cbow_windows.case("window 1, with id 0 (a real word) in the sentence")
def _(t: Trial) -> None:
    ids = t.randint(0, 20, (t.py.randint(4, 8),))
    ids[t.py.randrange(len(ids))] = 0
    check_windows(t, ids, 1)


@cbow_windows.case("a sentence shorter than the window: every row is cut at both ends")
def _(t: Trial) -> None:
    window = t.py.randint(4, 6)
    check_windows(t, t.randint(1, 1000, (t.py.randint(2, window - 1),)), window)


@cbow_windows.case("a sentence of one word: it has no context at all")
def _(t: Trial) -> None:
    check_windows(t, t.randint(1, 300, (1,)), t.py.randint(1, 3))


# --- GloVe, shared by exercises 2 and 3 ----------------------------------------------------------
#
# The objective (Pennington, Socher & Manning 2014, eq. 8), over the non-zero cells (i, j, x) of X only:
#     J = Σ f(x) (w_i·c_j + b_w[i] + b_c[j] - ln x)²,   f(x) = (x / x_max)^α if x < x_max else 1.
# A sum, no factor 1/2, the natural log. The cells arrive as a coalesced COO list: int64 rows and cols (no
# (i, j) twice) and int64 counts >= 1.

GLOVE_ARGS = ("W", "C", "b_w", "b_c", "rows", "cols", "counts", "x_max", "alpha")
GLOVE_HINTS = {
    "can't be cast to the desired output type Long":
        "`counts` is an int64 tensor: turn it into W's dtype before doing arithmetic with floats in place.",
    "tensors used as indices must be long":
        "index the tables with `rows` and `cols` as they are (int64 tensors); don't convert them to floats.",
    "view size is not compatible with input tensor's size and stride":
        "W and C may be views that are not contiguous in memory (a transposed table): pick rows by indexing, or use "
        ".reshape, which copies when it has to; .view cannot.",
}
GLOVE_LARGE = ("the objective is a weighted sum of squares of w_i·c_j + b_w[i] + b_c[j] - ln x: no exponential, "
               "softmax or one-pass variance that a large table value would overflow or cancel; the large-counts "
               "case already takes the counts to 10^6 and the dot products into the tens")
GLOVE_EMPTY_WHAT = "for a co-occurrence list with no cell (rows, cols and counts of length 0)"


def no_cells() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """An empty coalesced COO list: rows, cols, counts, each (0,) int64."""
    return tuple(torch.zeros(0, dtype=torch.long) for _ in range(3))  # type: ignore[return-value]


def cooccurrences(t: Trial, v: int, nnz: int, x_max: float, *, high: float | None = None,
                  exact: tuple[int, ...] = (), words: int | None = None) -> tuple[torch.Tensor, ...]:
    """A coalesced COO list of ``nnz`` distinct cells of a V×V matrix: rows, cols, counts (each (nnz,) int64).

    Counts are log-uniform from 1 to ``high`` (default 20·x_max), so many fall on each side of x_max;
    ``exact`` values (x_max, 1) are planted among them. ``words`` limits the rows to the first ``words``
    ids, so the rest of W gets no cell at all.
    """
    words = v if words is None else words
    flat = torch.randperm(words * v, generator=t.rng)[:nnz].sort().values  # sorted: row-major, as coalesce leaves it
    rows, cols = flat // v, flat % v
    high = 20 * x_max if high is None else high
    counts = torch.exp(torch.rand(nnz, generator=t.rng, dtype=torch.float64) * math.log(high)).round().clamp_min(1)
    counts = counts.long()
    places = t.py.sample(range(nnz), len(exact)) if nnz >= len(exact) else [i % nnz for i in range(len(exact))]
    for place, value in zip(places, exact, strict=True):
        counts[place] = value
    return rows, cols, counts


def glove_inputs(t: Trial, v: int, d: int, nnz: int, x_max: float, alpha: float, *, scale: float = 0.5,
                 dtype: torch.dtype = torch.float32, transposed: bool = False, **counts: Any) -> tuple[Any, ...]:
    """W, C (V, D), b_w, b_c (V,), the cells, x_max, alpha; ``transposed``: W and C are (D, V) tables seen as
    (V, D), not contiguous."""
    if transposed:
        W, C = t.randn(d, v, scale=scale, dtype=dtype).T, t.randn(d, v, scale=scale, dtype=dtype).T
    else:
        W, C = t.randn(v, d, scale=scale, dtype=dtype), t.randn(v, d, scale=scale, dtype=dtype)
    b_w, b_c = t.randn(v, scale=scale, dtype=dtype), t.randn(v, scale=scale, dtype=dtype)
    return (W, C, b_w, b_c, *cooccurrences(t, v, nnz, x_max, **counts), x_max, alpha)


# --- 2. glove_loss -----------------------------------------------------------------------------

glove_loss = exercise(
    "ch03.glove_loss", name="glove_loss",
    description="GloVe's weighted least-squares objective over the non-zero cells of a co-occurrence matrix "
                "given as (rows, cols, counts): a 0-d tensor of W's dtype that autograd can train through.",
    args=GLOVE_ARGS, points=1, timeout=10, grad=True, hints=GLOVE_HINTS, exempt={"large magnitudes": GLOVE_LARGE},
)


def check_glove_loss(t: Trial, inputs: tuple[Any, ...], what: str, atol: float = 1e-4, rtol: float = 1e-4,
                     grad_atol: float | None = None) -> None:
    t.check_call(*inputs, reference="ch03.glove_loss", what=what, mistakes="ch03.glove_loss/mistakes", atol=atol,
                 rtol=rtol, grad_atol=grad_atol)


@glove_loss.case("a small vocabulary's counts on both sides of x_max, the paper's x_max = 100 and α = 3/4")
def _(t: Trial) -> None:
    v, d = t.py.randint(12, 18), t.py.randint(4, 7)
    nnz = t.py.randint(3 * v, 5 * v)
    check_glove_loss(t, glove_inputs(t, v, d, nnz, 100.0, 0.75, exact=(1,)), f"the objective for V={v}, {nnz} cells")


@glove_loss.case("counts of exactly x_max and exactly 1 (ln 1 = 0), with another x_max and α")
def _(t: Trial) -> None:
    v, d = t.py.randint(6, 10), t.py.randint(3, 5)
    x_max, alpha = float(t.py.randint(5, 12)), t.py.choice([0.5, 1.0, 0.6])
    nnz = t.py.randint(2 * v, 3 * v)
    check_glove_loss(t, glove_inputs(t, v, d, nnz, x_max, alpha, exact=(int(x_max), 1, int(x_max), 1)),
                     f"the objective for x_max={x_max:g}, alpha={alpha:g}")


@glove_loss.case("large counts (up to a million), vectors of scale 5 (dot products in the tens) and tables W and C "
                 "that are not contiguous (transposed views)")
def _(t: Trial) -> None:
    # the gradients here are sums of float32 terms in the thousands (errors of scale 5 vectors against ln 10^6),
    # and an element where they cancel to near 0 carries float32 rounding of ~1e-4 whatever the order of the sum:
    # grad_atol 1e-3 (the values' own rtol stays 2e-4)
    v, d = t.py.randint(8, 14), t.py.randint(3, 6)
    nnz = t.py.randint(2 * v, 4 * v)
    check_glove_loss(t, glove_inputs(t, v, d, nnz, 50.0, 0.75, high=1e6, scale=5.0, transposed=True),
                     f"the objective for counts up to 10^6, V={v}", rtol=2e-4, grad_atol=1e-3)


@glove_loss.case("float64 tables: a float64 objective at float64 precision")
def _(t: Trial) -> None:
    v, d = t.py.randint(6, 10), t.py.randint(3, 6)
    check_glove_loss(t, glove_inputs(t, v, d, t.py.randint(2 * v, 3 * v), 20.0, 0.75, dtype=torch.float64,
                                     exact=(20, 1)), "the float64 objective", atol=1e-10, rtol=1e-10)


@glove_loss.case("a one-word vocabulary (V = 1): a single non-zero cell, X[0, 0] below x_max")
def _(t: Trial) -> None:
    d = t.py.randint(3, 6)
    W, C, b_w, b_c = (t.randn(1, d), t.randn(1, d), t.randn(1), t.randn(1))
    count = torch.tensor([t.py.randint(2, 9)])
    check_glove_loss(t, (W, C, b_w, b_c, torch.zeros(1, dtype=torch.long), torch.zeros(1, dtype=torch.long), count,
                         10.0, 0.75), "the objective for a single cell")


@glove_loss.case("bfloat16 tables (as mixed-precision training keeps them): a bfloat16 objective")
def _(t: Trial) -> None:
    # the reference computes in float32 from the same bfloat16 tables and casts; bfloat16 keeps 8 bits of mantissa,
    # so the objective (hundreds) is held to 1e-2 relative and its gradients (tens) to 0.3 absolute
    v, d = t.py.randint(10, 16), t.py.randint(3, 6)
    check_glove_loss(t, glove_inputs(t, v, d, t.py.randint(2 * v, 4 * v), 100.0, 0.75, dtype=torch.bfloat16,
                                     exact=(100, 1)), "the bfloat16 objective", atol=1e-2, rtol=1e-2, grad_atol=0.3)


@glove_loss.case("no non-zero cell at all (an empty list): a sum over no cells is 0")
def _(t: Trial) -> None:
    v, d = t.py.randint(3, 6), t.py.randint(2, 5)
    W, C, b_w, b_c = t.randn(v, d), t.randn(v, d), t.randn(v), t.randn(v)
    check_glove_loss(t, (W, C, b_w, b_c, *no_cells(), 10.0, 0.75), f"the objective {GLOVE_EMPTY_WHAT}")


# --- 3. glove_grads ----------------------------------------------------------------------------

glove_grads = exercise(
    "ch03.glove_grads", name="glove_grads",
    description="The gradients of GloVe's objective with respect to W, C, b_w and b_c, written out by hand (no "
                "autograd), each word's contributions from all of its cells added up.",
    args=GLOVE_ARGS, points=2, timeout=10, hints=GLOVE_HINTS, no_autograd=True,
    exempt={"large magnitudes": GLOVE_LARGE},
)


def check_glove_grads(t: Trial, inputs: tuple[Any, ...], what: str, atol: float = 1e-4, rtol: float = 1e-4) -> None:
    expected = t.reference("ch03.glove_grads", *inputs)
    mistakes = t.reference("ch03.glove_grads/mistakes", *inputs)
    outcome = t.call(*inputs, grad=True)  # the tables arrive requiring grad, as parameters do; autograd calls fail
    t.expect(outcome.value, expected, what, mistakes=mistakes, atol=atol, rtol=rtol)


GRADS_WHAT = "the gradients (dW, dC, db_w, db_c)"


@glove_grads.case("a small vocabulary's counts on both sides of x_max, the paper's x_max = 100 and α = 3/4")
def _(t: Trial) -> None:
    v, d = t.py.randint(12, 18), t.py.randint(4, 7)
    nnz = t.py.randint(3 * v, 5 * v)
    check_glove_grads(t, glove_inputs(t, v, d, nnz, 100.0, 0.75, exact=(1,)), f"{GRADS_WHAT} for V={v}, {nnz} cells")


@glove_grads.case("words in a cell with every context word (full rows of X), and the last words in no cell at all")
def _(t: Trial) -> None:
    v, d = t.py.randint(9, 13), t.py.randint(3, 5)
    words = t.py.randint(3, v - 3)  # rows only among the first `words` ids: the rest of W gets no gradient
    x_max, alpha = float(t.py.randint(5, 12)), t.py.choice([0.5, 1.0, 0.6])
    inputs = list(glove_inputs(t, v, d, words * v, x_max, alpha, words=words, exact=(int(x_max), 1)))
    check_glove_grads(t, tuple(inputs), f"{GRADS_WHAT} for x_max={x_max:g}, alpha={alpha:g}, {words} of {v} words "
                      "with cells")


@glove_grads.case("large counts (up to a million), vectors of scale 5 (dot products in the tens) and tables W and C "
                  "that are not contiguous (transposed views)")
def _(t: Trial) -> None:
    v, d = t.py.randint(8, 14), t.py.randint(3, 6)
    nnz = t.py.randint(2 * v, 4 * v)
    check_glove_grads(t, glove_inputs(t, v, d, nnz, 50.0, 0.75, high=1e6, scale=5.0, transposed=True),
                      f"{GRADS_WHAT} for counts up to 10^6, V={v}", rtol=2e-4)


@glove_grads.case("float64 tables: float64 gradients at float64 precision")
def _(t: Trial) -> None:
    v, d = t.py.randint(6, 10), t.py.randint(3, 6)
    check_glove_grads(t, glove_inputs(t, v, d, t.py.randint(2 * v, 3 * v), 20.0, 0.75, dtype=torch.float64,
                                      exact=(20, 1)), f"the float64 {GRADS_WHAT[4:]}", atol=1e-10, rtol=1e-10)


@glove_grads.case("a one-word vocabulary (V = 1): a single non-zero cell, X[0, 0] below x_max")
def _(t: Trial) -> None:
    d = t.py.randint(3, 6)
    zero = torch.zeros(1, dtype=torch.long)
    check_glove_grads(t, (t.randn(1, d), t.randn(1, d), t.randn(1), t.randn(1), zero, zero.clone(),
                          torch.tensor([t.py.randint(2, 9)]), 10.0, 0.75), f"{GRADS_WHAT} for a single cell")


@glove_grads.case("float16 tables: float16 gradients")
def _(t: Trial) -> None:
    # the reference differentiates in float32 from the same float16 tables and casts; the gradients are sums of
    # terms in the tens, so float16's rounding of the terms allows 5e-2 absolute, 2e-3 relative
    v, d = t.py.randint(10, 16), t.py.randint(3, 6)
    check_glove_grads(t, glove_inputs(t, v, d, t.py.randint(2 * v, 4 * v), 100.0, 0.75, dtype=torch.float16,
                                      exact=(100, 1)), f"the float16 {GRADS_WHAT[4:]}", atol=5e-2, rtol=2e-3)


@glove_grads.case("no non-zero cell at all (an empty list): every gradient is 0")
def _(t: Trial) -> None:
    v, d = t.py.randint(3, 6), t.py.randint(2, 5)
    check_glove_grads(t, (t.randn(v, d), t.randn(v, d), t.randn(v), t.randn(v), *no_cells(), 10.0, 0.75),
                      f"{GRADS_WHAT} {GLOVE_EMPTY_WHAT}")


# --- the CBOW inputs, exercise 4's -----------------------------------------------------------------


def edge_mask(t: Trial, b: int, w: int) -> torch.Tensor:
    """(B, 2W) bool masks as sentence edges make them: l real words on the left, r on the right, l + r >= 1."""
    rows = []
    for _ in range(b):
        left, right = t.py.randint(0, w), t.py.randint(0, w)
        if left + right == 0:
            left = w
        rows.append([False] * (w - left) + [True] * left + [True] * right + [False] * (w - right))
    return torch.tensor(rows, dtype=torch.bool).reshape(b, 2 * w)  # (0, 2W) for an empty batch


def cbow_inputs(t: Trial, b: int, w: int, k: int, d: int, mask: torch.Tensor | None = None,
                scale: float = 1.0, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, ...]:
    """context vectors (B, 2W, D) whose padded positions all hold one vector (the pad id's row, not zero),
    the mask (B, 2W), u_center (B, D), u_negatives (B, K, D)."""
    mask = edge_mask(t, b, w) if mask is None else mask
    cv = t.randn(b, 2 * w, d, scale=scale, dtype=dtype)
    pad_row = t.randn(d, scale=scale, dtype=dtype) + 0.5
    cv = torch.where(mask.unsqueeze(-1), cv, pad_row)
    return cv, mask, t.randn(b, d, scale=scale, dtype=dtype), t.randn(b, k, d, scale=scale, dtype=dtype)


# --- gradients by hand ---------------------------------------------------------------------------


def check_grads(t: Trial, inputs: tuple[Any, ...], key: str, names: tuple[str, ...], what: str,
                atol: float = 1e-5, rtol: float = 1e-4) -> None:
    """The gradients the teacher's reference ``key`` gives (autograd on the loss), with its named mistakes."""
    expected = t.reference(key, *inputs)
    mistakes = t.reference(f"{key}/mistakes", *inputs)
    outcome = t.call(*inputs, grad=True)  # inputs arrive requiring grad, as parameters do; any autograd call fails
    t.expect(outcome.value, expected, what, mistakes=mistakes, atol=atol, rtol=rtol)


# --- 4. cbow_ns_grads --------------------------------------------------------------------------

cbow_ns_grads = exercise(
    "ch03.cbow_ns_grads", name="cbow_ns_grads",
    description="The gradients of the mean CBOW negative-sampling loss with respect to the context vectors, "
                "u_center and u_negatives, written out by hand (no autograd).",
    args=("context_vectors", "mask", "u_center", "u_negatives"), points=2, timeout=10, hints=BROADCAST_HINT,
    no_autograd=True,
)

CBOW_NAMES = ("context_vectors", "u_center", "u_negatives")


def check_cbow_grads(t: Trial, inputs: tuple[torch.Tensor, ...], what: str, **tolerances: Any) -> None:
    check_grads(t, inputs, "ch03.cbow_ns_grads", CBOW_NAMES, what, **tolerances)


@cbow_ns_grads.case("a batch of windows cut at sentence edges (B, window, K and D all different)")
def _(t: Trial) -> None:
    b, w, k, d = t.py.randint(5, 8), t.py.randint(2, 4), t.py.randint(2, 4), t.py.randint(9, 12)
    check_cbow_grads(t, cbow_inputs(t, b, w, k, d, scale=t.py.uniform(0.8, 1.5)),
                     f"the gradients (context_vectors, u_center, u_negatives) for B={b}, K={k}")


@cbow_ns_grads.case("one window (B = 1) with one noise word (K = 1)")
def _(t: Trial) -> None:
    w, d = t.py.randint(2, 4), t.py.randint(3, 7)
    mask = torch.zeros(1, 2 * w, dtype=torch.bool)
    mask[0, t.py.sample(range(2 * w), t.py.randint(1, 2 * w - 1))] = True
    check_cbow_grads(t, cbow_inputs(t, 1, w, 1, d, mask=mask), "the gradients for B=1, K=1")


@cbow_ns_grads.case("large scores, where σ is close to 0 or 1 and every error term matters")
def _(t: Trial) -> None:
    b, w, k, d = t.py.randint(3, 6), t.py.randint(1, 3), t.py.randint(2, 5), t.py.randint(4, 8)
    check_cbow_grads(t, cbow_inputs(t, b, w, k, d, scale=t.py.uniform(2.0, 3.0)), f"the gradients for B={b}, K={k}",
                     atol=1e-4)


def planted_scores(t: Trial, hidden: torch.Tensor, vectors: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """``vectors`` (B, ..., D) moved along h (B, D) so that each one's score against h is exactly a drawn target,
    |target| in [low, high], of alternating sign (so both signs occur in every batch whatever the draw)."""
    b, d = hidden.shape
    h = hidden.reshape(b, *([1] * (vectors.dim() - 2)), d)  # broadcast against (B, ..., D)
    h_sq = (h * h).sum(-1, keepdim=True)
    n = vectors[..., 0].numel()
    magnitude = torch.rand(n, generator=t.rng, dtype=torch.float64) * (high - low) + low
    sign = torch.where(torch.arange(n) % 2 == 0, -1.0, 1.0).to(torch.float64)
    sign = sign[torch.randperm(n, generator=t.rng)] if n > 2 else sign
    target = (sign * magnitude).to(vectors.dtype).reshape(vectors.shape[:-1]).unsqueeze(-1)
    along = (vectors * h).sum(-1, keepdim=True) / h_sq  # remove the part along h, then set it to the target
    return vectors - along * h + target * h / h_sq


def huge_score_inputs(t: Trial, b: int, w: int, k: int, d: int) -> tuple[torch.Tensor, ...]:
    """CBOW inputs whose scores u·h lie in ±[150, 400], both signs for the center and for the noise words: exp of
    such a score overflows float32 (exp(89) is already inf), so σ written as exp(s) / (1 + exp(s)) or
    -exp(-s) / (1 + exp(-s)) gives inf / inf = NaN on one side."""
    cv, mask, uc, un = cbow_inputs(t, b, w, k, d)
    h = t.reference("ch03.cbow_ns_grads/hidden", cv, mask)  # (B, D): the average of the real context words
    return cv, mask, planted_scores(t, h, uc, 150.0, 400.0), planted_scores(t, h, un, 150.0, 400.0)


@cbow_ns_grads.case("scores in the hundreds, of both signs, for the center and the noise words: exp of such a score "
                    "overflows float32")
def _(t: Trial) -> None:
    b, w, k, d = t.py.randint(4, 7), t.py.randint(1, 3), t.py.randint(2, 4), t.py.randint(4, 8)
    check_cbow_grads(t, huge_score_inputs(t, b, w, k, d), f"the gradients for B={b}, K={k}, scores in the hundreds",
                     atol=1e-4)


@cbow_ns_grads.case("bfloat16 vectors (as mixed-precision training keeps them): bfloat16 gradients")
def _(t: Trial) -> None:
    # the reference differentiates in float32 from the same bfloat16 vectors and casts: 1e-2 absolute and relative
    b, w, k, d = t.py.randint(3, 6), t.py.randint(1, 3), t.py.randint(2, 5), t.py.randint(4, 8)
    check_cbow_grads(t, cbow_inputs(t, b, w, k, d, dtype=torch.bfloat16), f"the bfloat16 gradients for B={b}, K={k}",
                     atol=1e-2, rtol=1e-2)


@cbow_ns_grads.case("no noise words (K = 0): u_negatives is (B, 0, D) and only the center word's term is left")
def _(t: Trial) -> None:
    b, w, d = t.py.randint(3, 6), t.py.randint(1, 3), t.py.randint(3, 7)
    check_cbow_grads(t, cbow_inputs(t, b, w, 0, d), f"the gradients for B={b}, K=0")


@cbow_ns_grads.case("float64 vectors: float64 gradients at float64 precision")
def _(t: Trial) -> None:
    b, w, k, d = t.py.randint(2, 5), t.py.randint(1, 3), t.py.randint(2, 5), t.py.randint(3, 6)
    check_cbow_grads(t, cbow_inputs(t, b, w, k, d, dtype=torch.float64), "the float64 gradients", atol=1e-10,
                     rtol=1e-10)


# --- 5. train_glove ----------------------------------------------------------------------------
#
# Graded twice. First on the outcome: the weighted objective at the returned tables (computed on the teacher's side:
# the objective is glove_loss's answer, so a learner's replayed check leaves this to the teacher's grade and says so)
# must be within TRAIN_BOUND of what the grader's own run reaches from the same stated start.
# Then on a second call with epochs=1: its tables must equal one reference AdaGrad step from that start
# (check_first_step), which pins the start's order (W, then C) and the update (all four gradients at one point, then
# the sums, then the steps) that the outcome alone lets through: C drawn before W passed some draws, the tables
# updated in turn passed all, and so did a run one epoch short.
# The outcome's bound, measured by _measure_train_glove (solutions/references/ch03.py) on this CPU, 30 draws per
# case: a correct run in another style (float64, no factor 2, a sparse product for the gradients, ε outside the root)
# lands within 1.5% of the reference (30 of 30 pass in both cases); leaving the weighting out ends 21% or more above
# it in the first case (0 of 30 pass; the second case's milder weighting lets 16 of 30 through), AdaGrad with one
# accumulator per table ends 5.7x or more above it, plain SGD at the same rate diverges, and a sign flip makes the
# objective grow.

TRAIN_BOUND = 1.05  # the learner's objective / the reference run's, from the same start
TRAIN_EPS = 1e-8  # AdaGrad's ε, inside the root: the step is lr·g/√(Σg² + ε)
FIRST_STEP_FLAT = 1e-2  # |first gradient| below which (and above 0) one step's value is not judged
FIRST_STEP_ATOL = 1e-5

_NO_OPTIM = Forbidden(
    module="torch.optim",
    why="torch.optim.Adagrad is AdaGrad in one line; the exercise is the update itself: a running sum of squared "
        "gradients per coordinate and a step scaled by it. Write it with tensor arithmetic on your own gradients.")

train_glove = exercise(
    "ch03.train_glove", name="train_glove",
    description="GloVe trained from a stated start by full-batch AdaGrad on the learner's own gradients (no "
                "autograd, no torch.optim) for a given number of epochs; graded on one epoch's tables against one "
                "reference step and on the weighted objective the returned tables reach on counts drawn from a "
                "planted low-rank model.",
    args=("rows", "cols", "counts", "vocab_size", "dim", "epochs", "lr", "x_max", "alpha", "generator"), points=2,
    timeout=15, random=True, no_autograd=True, forbidden=[_NO_OPTIM], hints=GLOVE_HINTS,
)


def planted_counts(t: Trial, v: int, rank: int = 3, words: int | None = None) -> tuple[torch.Tensor, ...]:
    """Counts X[i, j] ~ Poisson(exp(u_i·c_j + a_i + b_j)) of a planted rank-``rank`` model with Zipf-like biases,
    as a coalesced COO list (rows, cols, counts), each (nnz,) int64. Only the first ``words`` ids (default all V)
    take part, so the last ids may be in no cell at all."""
    n = v if words is None else words
    u = t.randn(n, rank, scale=0.7, dtype=torch.float64)
    c = t.randn(n, rank, scale=0.7, dtype=torch.float64)
    log_rank = torch.log(torch.arange(1, n + 1, dtype=torch.float64))
    a = 3.0 - log_rank[torch.randperm(n, generator=t.rng)]
    b = 3.0 - log_rank[torch.randperm(n, generator=t.rng)]
    X = torch.poisson(torch.exp(u @ c.T + a[:, None] + b[None, :]), generator=t.rng).long()  # (n, n)
    rows, cols = X.nonzero(as_tuple=True)  # row-major, as coalesce leaves it
    return rows, cols, X[rows, cols]


def read_tables(value: Any, v: int, d: int) -> list[torch.Tensor]:
    """The four returned tables, checked for form: W, C (V, D) and b_w, b_c (V,), float32, finite."""
    names, shapes = ("W", "C", "b_w", "b_c"), ((v, d), (v, d), (v,), (v,))
    if not (isinstance(value, (tuple, list)) and len(value) == 4):
        raise CheckFailure("`train_glove` should return the four trained tables (W, C, b_w, b_c), not "
                           f"{kind_of(value)}.", "type")
    for name, shape, table in zip(names, shapes, value, strict=True):
        expect_true(isinstance(table, torch.Tensor), f"`{name}` should be a tensor, not {kind_of(table)}.", "type")
        expect_true(tuple(table.shape) == shape and table.dtype == torch.float32,
                    f"`{name}` should have shape {shape} and dtype float32; it has shape {tuple(table.shape)} and "
                    f"dtype {str(table.dtype).replace('torch.', '')}.", "type")
        expect_true(bool(torch.isfinite(table).all()),
                    f"`{name}` holds values that are not finite (NaN or inf): the training diverged or divided by "
                    "zero. Steps of plain gradient descent on a sum over hundreds of cells overshoot; AdaGrad divides "
                    "each coordinate's step by the root of its accumulated squared gradients (plus ε, for a word "
                    "that is in no cell).", "wrong")
    return [table.detach() for table in value]


def check_trained(t: Trial, tables: list[torch.Tensor], args: tuple[Any, ...], what: str) -> None:
    """The outcome: the biases trained, and (in the teacher's grade) the objective within TRAIN_BOUND of the
    reference run's. Scoring the tables needs GloVe's objective, which is glove_loss's answer, so it is computed on
    the teacher's side only and a learner's replayed check says it left it there."""
    rows, cols, counts, v, d, epochs, lr, x_max, alpha, gen = args
    expect_true(bool(tables[2].any() or tables[3].any()),
                f"the biases b_w and b_c are still all zero ({what}): they are parameters too, trained like W and C "
                "with their own gradients and accumulators.")
    note = (f"the weighted objective your trained tables reach, at most {TRAIN_BOUND:.2f} times the reference run's "
            "(scoring it needs the objective's code, the glove_loss exercise's answer)")
    scored = t.teacher_only("ch03.train_glove/outcome", note, tables, rows, cols, counts, v, d, epochs, lr, x_max,
                            alpha, gen.seed)
    if scored is None:
        return
    start, got, reference = scored["start"], scored["got"], scored["reached"]
    if got >= start:
        raise CheckFailure(f"the objective went up from the stated start ({what}): {start:.4g} at the start, "
                           f"{got:.4g} at the tables you return: a step along the gradient instead of against it, or "
                           "steps so large that they overshoot.", "wrong")
    expect_true(got <= TRAIN_BOUND * reference,
                f"the weighted objective at the tables you return is {got / reference:.2f} times what {epochs} "
                f"epochs of AdaGrad reach from the stated start ({what}); the check allows {TRAIN_BOUND:.2f}. Check "
                "the start, the weighting in your gradients, and that each coordinate keeps its own sum of squared "
                "gradients.")


def check_first_step(t: Trial, tables: list[torch.Tensor], args: tuple[Any, ...], what: str) -> None:
    """One epoch must be one AdaGrad step from the stated start, table for table.

    Pins the start (W drawn before C, biases zero) and the update (all four gradients at the same point, then each
    coordinate's sum of squares, then the step), which the outcome over many epochs cannot tell apart. A
    coordinate whose first gradient is near zero (0 < |g| < FIRST_STEP_FLAT) is left out: there the step
    lr·g/√(g² + ε) turns on rounding and on where ε goes; a gradient of exactly zero (a word in no cell) is kept.
    """
    rows, cols, counts, v, d, _, lr, x_max, alpha, gen = args
    step = t.reference("ch03.train_glove/first_step", rows, cols, counts, v, d, lr, x_max, alpha, gen.seed)
    for name, got, expected, judged in zip(("W", "C", "b_w", "b_c"), tables, step["tables"], step["judged"],
                                           strict=True):
        close = torch.isclose(got, expected, atol=FIRST_STEP_ATOL, rtol=1e-4) | ~judged
        expect_true(bool(close.all()),
                    f"after one epoch ({what}), `{name}` is not where one AdaGrad step from the stated start puts it "
                    f"({int((~close).sum())} of {close.numel()} values differ). Check the start (W drawn first, then "
                    "C, from the generator; biases zero), that all four gradients are taken at the same point before "
                    "any table moves, and that each coordinate adds its squared gradient to its sum before it steps.")


def check_train_glove(t: Trial, v: int, d: int, epochs: int, lr: float, x_max: float, alpha: float, what: str,
                      words: int | None = None) -> None:
    cells = planted_counts(t, v, words=words)
    seed = t.seed_for("start")
    # two generators seeded alike; names unique to this case, as a spec's name is one object within a run, and an
    # earlier case's call may run first in the same process
    one, args = ((*cells, v, d, n, lr, x_max, alpha, wire.GeneratorSpec(seed, f"start {seed} epochs {n}"))
                 for n in (1, epochs))
    outcomes = t.run([Step(one), Step(args)])
    check_trained(t, read_tables(outcomes[1].value, v, d), args, what)
    check_first_step(t, read_tables(outcomes[0].value, v, d), one, f"{what}, epochs=1")


@train_glove.case("a planted 30-50-word model, D = 8: 200 epochs at lr 0.3, x_max = 50, α = 3/4")
def _(t: Trial) -> None:
    v = t.py.randint(30, 50)
    check_train_glove(t, v, 8, 200, 0.3, 50.0, 0.75, f"V={v}, D=8")


@train_glove.case("another size, rate, x_max and α, and the last words of the vocabulary in no cell at all")
def _(t: Trial) -> None:
    v, words = t.py.randint(28, 36), t.py.randint(20, 25)
    check_train_glove(t, v, 6, 300, 0.2, 20.0, 0.5, f"V={v}, {v - words} words in no cell, D=6", words=words)


def check_start_kept(t: Trial, cells: tuple[torch.Tensor, ...], v: int, d: int, epochs: int, what: str) -> None:
    """A run that cannot move the tables (no cell, or zero epochs) must return the stated start."""
    seed = t.seed_for("start")
    args = (*cells, v, d, epochs, 0.3, 20.0, 0.75, wire.GeneratorSpec(seed, f"start {seed} kept, {epochs} epochs"))
    tables = read_tables(t.run([Step(args)])[0].value, v, d)
    start = t.reference("ch03.train_glove/start", v, d, seed)
    for name, got, expected in zip(("W", "C", "b_w", "b_c"), tables, start, strict=True):
        expect_true(bool(torch.allclose(got, expected, atol=1e-6, rtol=1e-5)),
                    f"`{name}` is not the stated start ({what}), yet nothing can move it: W drawn first, then C, each "
                    "(rand(V, D) - 0.5) / D from the generator, the biases zero, and a step of 0 where the gradient "
                    "is 0 (ε inside the root keeps 0 / √(0 + ε) at 0).")


@train_glove.case("no cell at all (an empty co-occurrence list): every gradient is 0, so the tables stay at the "
                  "stated start")
def _(t: Trial) -> None:
    v, d = t.py.randint(5, 10), t.py.randint(2, 5)
    check_start_kept(t, no_cells(), v, d, t.py.randint(3, 6), f"V={v}, D={d}, no cell")


@train_glove.case("two calls in a row with generators seeded alike: each call starts afresh, so both give the "
                  "same tables")
def _(t: Trial) -> None:
    v, d = t.py.randint(25, 35), 8
    seed = t.seed_for("start")
    cells = planted_counts(t, v)
    first, second = ((*cells, v, d, 150, 0.3, 30.0, 0.75, wire.GeneratorSpec(seed, name)) for name in ("a", "b"))
    outcomes = t.run([Step(first), Step(second)])
    tables = [read_tables(o.value, v, d) for o in outcomes]
    check_trained(t, tables[0], first, f"the first call, V={v}")
    same = all(torch.allclose(a, b, atol=1e-6, rtol=1e-5) for a, b in zip(*tables, strict=True))
    expect_true(same, "the second of two calls with generators seeded alike returned other tables than the first: "
                      "something carries over from one call to the next (an accumulator kept outside the function, "
                      "or a default argument that is changed). Make every table and accumulator inside each call.")


@train_glove.generator_probe
def _(t: Trial, seed: int) -> tuple[Any, ...]:
    return (*planted_counts(t, 12), 12, 4, 20, 0.3, 20.0, 0.75, wire.GeneratorSpec(seed))

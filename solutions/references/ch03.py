"""Chapter 3's references and named mistakes (teacher side): what the public and hidden cases of
llmcourse/checks/ch03.py compare with. All of them are written here (the chapter builds skip-gram and explains
GloVe without writing its loss or gradient):

- ``ch03.cbow_windows``: the padded context windows and their mask, by ``unfold`` over the padded sentence;
- ``ch03.glove_loss``: GloVe's weighted least-squares objective (Pennington, Socher & Manning 2014, eq. 8), a small
  function written here;
- ``ch03.glove_grads`` and ``ch03.cbow_ns_grads``: the gradients' references are PyTorch's autograd on the loss
  (GloVe's objective above; the CBOW negative-sampling loss through the masked average, written here);
- ``ch03.train_glove/...``: full-batch AdaGrad from the stated start, written here, on this file's gradients; what
  the case records from it: one epoch's tables (with which coordinates are judged), and for judging the outcome the
  objective at the start and at the reference run's end, with each cell's weight f(x) and target ln x (the learner's
  tables are scored with them in the checks module, so no code of the objective is in the student's install).

Each ``/mistakes`` function computes the known mistakes on the same inputs, so a message can name the one an
answer makes. ``_measure_train_glove`` gives the numbers behind the checks module's TRAIN_BOUND.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from llmcourse.checks.ch03 import FIRST_STEP_FLAT, TRAIN_BOUND, TRAIN_EPS, planted_counts, train_glove
from llmcourse.device import cpu_threads
from llmcourse.grading.core import Trial
from llmcourse.grading.references import reference

# --- cbow_windows ---------------------------------------------------------------------------------


@reference("ch03.cbow_windows")
def reference_cbow_windows(ids: torch.Tensor, window: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(N,) ids -> contexts (N, 2W) int64 (0 where outside the sentence), mask (N, 2W) bool."""
    w = window
    pad = ids.new_zeros(w)
    padded = torch.cat([pad, ids, pad])  # (N + 2W,)
    real = torch.cat([torch.zeros(w, dtype=torch.bool), torch.ones(len(ids), dtype=torch.bool),
                      torch.zeros(w, dtype=torch.bool)])
    spans = padded.unfold(0, 2 * w + 1, 1)  # (N, 2W + 1): positions i - W .. i + W
    real_spans = real.unfold(0, 2 * w + 1, 1)
    keep = [j for j in range(2 * w + 1) if j != w]  # every column but the center
    return spans[:, keep].contiguous(), real_spans[:, keep].contiguous()


@reference("ch03.cbow_windows/mistakes")
def windows_mistakes(ids: torch.Tensor, window: int) -> dict[str, Any]:
    """What each known mistake gives for ids (N,) and ``window``."""
    contexts, mask = reference_cbow_windows(ids, window)
    w = window
    rolled = torch.stack([torch.roll(ids, -d) for d in [*range(-w, 0), *range(1, w + 1)]], dim=1)  # (N, 2W)
    nearest_first = torch.cat([contexts[:, :w].flip(1), contexts[:, w:]], 1), \
        torch.cat([mask[:, :w].flip(1), mask[:, w:]], 1)
    return {
        "wrapped around the ends of the sentence (torch.roll) instead of padding: the first word's left context "
        "is not the last words": (rolled, mask),
        "wrapped around the ends of the sentence and marked every position as a real word":
            (rolled, torch.ones_like(mask)),
        "marked the padding positions as real words (the mask must be False outside the sentence)":
            (contexts, torch.ones_like(mask)),
        "put the words after the center before the words before it (columns 0..W-1 are positions i-W..i-1)":
            (torch.cat([contexts[:, w:], contexts[:, :w]], 1), torch.cat([mask[:, w:], mask[:, :w]], 1)),
        "listed the left-hand words nearest first (columns 0..W-1 are positions i-W..i-1, left to right)":
            nearest_first,
        "padded with -1 instead of 0 (an id of -1 would pick the table's last row)":
            (torch.where(mask, contexts, torch.full_like(contexts, -1)), mask),
    }



# --- GloVe: glove_loss and glove_grads ---------------------------------------------------------------
#
# The objective (Pennington, Socher & Manning 2014, eq. 8), over the non-zero cells (i, j, x) of X only:
#     J = Σ f(x) (w_i·c_j + b_w[i] + b_c[j] - ln x)²,   f(x) = (x / x_max)^α if x < x_max else 1.
# A sum, no factor 1/2, the natural log.

ZERO_CELLS = ("included the empty cells of X (a dense V×V matrix): an empty cell has no log count (ln 0 = -inf, "
              "and weight · inf is NaN), and the objective sums over the listed non-zero cells only")


def glove_weight(x: torch.Tensor, x_max: float, alpha: float) -> torch.Tensor:
    """f(x) for counts x (float): (x / x_max)^α below x_max, 1 from x_max up."""
    return torch.where(x < x_max, (x / x_max) ** alpha, torch.ones_like(x))


def _glove_parts(W: torch.Tensor, C: torch.Tensor, b_w: torch.Tensor, b_c: torch.Tensor, rows: torch.Tensor,
                 cols: torch.Tensor, counts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The counts in W's dtype, the dot products w_i·c_j and the biases b_w[i] + b_c[j], each (nnz,)."""
    return counts.to(W.dtype), (W[rows] * C[cols]).sum(-1), b_w[rows] + b_c[cols]


LOW_PRECISION = (torch.float16, torch.bfloat16)


@reference("ch03.glove_loss")
def reference_glove_loss(W: torch.Tensor, C: torch.Tensor, b_w: torch.Tensor, b_c: torch.Tensor, rows: torch.Tensor,
                         cols: torch.Tensor, counts: torch.Tensor, x_max: float, alpha: float) -> torch.Tensor:
    """(V, D), (V, D), (V,), (V,), three (nnz,) int64 -> () GloVe's weighted least-squares objective. Tables in
    float16 or bfloat16 are taken up to float32 for the computation and the result cast back to their dtype
    (autograd passes through both casts, so the gradients come back in the tables' dtype)."""
    if W.dtype in LOW_PRECISION:
        return reference_glove_loss(W.float(), C.float(), b_w.float(), b_c.float(), rows, cols, counts, x_max,
                                    alpha).to(W.dtype)
    x, dot, bias = _glove_parts(W, C, b_w, b_c, rows, cols, counts)
    return (glove_weight(x, x_max, alpha) * (dot + bias - torch.log(x)) ** 2).sum()


def _weight_mistakes(x: torch.Tensor, x_max: float, alpha: float) -> dict[str, torch.Tensor]:
    """f(x) as each weighting mistake builds it, (nnz,)."""
    below = x < x_max
    return {
        "left the weighting f(x) out: every cell counts as much as every other": torch.ones_like(x),
        "did not cap the weighting: from x_max up every cell's weight is 1": (x / x_max) ** alpha,
        "raised the count alone to the power α (the ratio of the count to x_max is what is raised to α)":
            torch.where(below, x**alpha / x_max, torch.ones_like(x)),
        "multiplied the ratio to x_max by α instead of raising it to the power α":
            torch.where(below, alpha * x / x_max, torch.ones_like(x)),
    }


@reference("ch03.glove_loss/mistakes")
def glove_loss_mistakes(W: torch.Tensor, C: torch.Tensor, b_w: torch.Tensor, b_c: torch.Tensor, rows: torch.Tensor,
                        cols: torch.Tensor, counts: torch.Tensor, x_max: float, alpha: float) -> dict[str, Any]:
    """What each known mistake gives on these inputs."""
    x, dot, bias = _glove_parts(W, C, b_w, b_c, rows, cols, counts)
    f, target = glove_weight(x, x_max, alpha), torch.log(x)

    def objective(weight: torch.Tensor = f, prediction: torch.Tensor = dot + bias,
                  goal: torch.Tensor = target) -> torch.Tensor:
        return (weight * (prediction - goal) ** 2).sum()

    right = objective()
    x32 = counts.float()  # what arithmetic on int64 counts gives: float32, whatever W's dtype
    mistakes: dict[str, Any] = {what: objective(weight=w) for what, w in _weight_mistakes(x, x_max, alpha).items()}
    mistakes.update({
        ZERO_CELLS: torch.tensor(float("nan"), dtype=W.dtype) if len(x) < len(W) * len(C) else right,
        "fitted ln(x + 1) instead of ln x": objective(goal=torch.log1p(x)),
        "took the base-10 logarithm: the target is the natural log of the count": objective(goal=torch.log10(x)),
        "left the two biases out of the prediction": objective(prediction=dot),
        "averaged over the non-zero cells instead of summing": right / len(x),
        "halved the sum: this objective has no factor 1/2": right / 2,
        "weighted the error instead of its square": (f * (dot + bias - target)).sum(),
        "swapped the roles of rows and cols (row i indexes W and b_w; column j indexes C and b_c)":
            objective(prediction=(W[cols] * C[rows]).sum(-1) + b_w[cols] + b_c[rows]),
        "did arithmetic on the int64 counts before turning them into W's dtype: torch.log and division of an "
        "int64 tensor give float32, which loses float64 precision": objective(
            weight=glove_weight(x32, x_max, alpha).to(W.dtype), goal=torch.log(x32).to(W.dtype)),
    })
    return mistakes


@reference("ch03.glove_grads")
def glove_autograd(*inputs: Any) -> tuple[torch.Tensor, ...]:
    """The reference: autograd's gradients of the objective with respect to W, C, b_w and b_c."""
    tables = [x.detach().clone().requires_grad_(True) for x in inputs[:4]]
    return tuple(g.detach() for g in torch.autograd.grad(reference_glove_loss(*tables, *inputs[4:]), tables))


def _glove_scatter(W: torch.Tensor, C: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, g: torch.Tensor,
                   accumulate: bool = True) -> tuple[torch.Tensor, ...]:
    """dW, dC, db_w, db_c from each cell's dJ/d(prediction) g (nnz,), added up per word (or, without
    ``accumulate``, written: the last cell of a word wins)."""
    def collect(index: torch.Tensor, values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(like.shape, dtype=like.dtype)
        if accumulate:
            return out.index_add(0, index, values)
        out[index] = values
        return out

    b_like = W.new_zeros(W.shape[0])
    return (collect(rows, g.unsqueeze(-1) * C[cols], W), collect(cols, g.unsqueeze(-1) * W[rows], C),
            collect(rows, g, b_like), collect(cols, g, b_like))


@reference("ch03.glove_grads/mistakes")
def glove_grad_mistakes(W: torch.Tensor, C: torch.Tensor, b_w: torch.Tensor, b_c: torch.Tensor, rows: torch.Tensor,
                        cols: torch.Tensor, counts: torch.Tensor, x_max: float, alpha: float) -> dict[str, Any]:
    x, dot, bias = _glove_parts(W, C, b_w, b_c, rows, cols, counts)
    f, err = glove_weight(x, x_max, alpha), dot + bias - torch.log(x)
    g = 2 * f * err  # dJ/d(prediction) of each cell
    right = _glove_scatter(W, C, rows, cols, g)
    mistakes: dict[str, Any] = {what: _glove_scatter(W, C, rows, cols, 2 * w * err)
                                for what, w in _weight_mistakes(x, x_max, alpha).items()}
    swapped = 2 * f * ((W[cols] * C[rows]).sum(-1) + b_w[cols] + b_c[rows] - torch.log(x))
    mistakes.update({
        "wrote each cell's contribution into its word's row instead of adding it (a word in several cells gets "
        "the sum of all their contributions; indexed assignment keeps only one)":
            _glove_scatter(W, C, rows, cols, g, accumulate=False),
        "left out the factor 2 from differentiating the square": tuple(d / 2 for d in right),
        "flipped the sign of every gradient (the error is prediction minus ln x)": tuple(-d for d in right),
        "divided by the number of cells: the objective is a sum, not a mean":  # per cell: no cell gives zeros
            _glove_scatter(W, C, rows, cols, g / len(x)),
        "multiplied by the word's own vector: dJ/dw_i takes the context vector c_j, and dJ/dc_j the word vector w_i":
            (torch.zeros_like(W).index_add(0, rows, g.unsqueeze(-1) * W[rows]),
             torch.zeros_like(C).index_add(0, cols, g.unsqueeze(-1) * C[cols]), right[2], right[3]),
        "left out the biases' gradients (each bias gets the same error term as the vectors)":
            (right[0], right[1], torch.zeros_like(b_w), torch.zeros_like(b_c)),
        "swapped the roles of rows and cols (row i indexes W and b_w; column j indexes C and b_c)":
            (torch.zeros_like(W).index_add(0, cols, swapped.unsqueeze(-1) * C[rows]),
             torch.zeros_like(C).index_add(0, rows, swapped.unsqueeze(-1) * W[cols]),
             torch.zeros_like(b_w).index_add(0, cols, swapped), torch.zeros_like(b_c).index_add(0, rows, swapped)),
    })
    return mistakes


# --- the CBOW loss, exercise 4's forward pass ---------------------------------------------------


@reference("ch03.cbow_ns_grads/hidden")
def masked_mean(context_vectors: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, C, D), (B, C) bool -> h (B, D): the average of the real context words only."""
    m = mask.to(context_vectors.dtype).unsqueeze(-1)  # (B, C, 1)
    return (context_vectors * m).sum(1) / m.sum(1)


def _scores(hidden: torch.Tensor, u_center: torch.Tensor, u_negatives: torch.Tensor,
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """The true center's score (B,) and the noise words' scores (B, K) against h (B, D)."""
    pos = (u_center * hidden).sum(-1)  # (B,)
    neg = (u_negatives * hidden.unsqueeze(1)).sum(-1)  # (B, K, D) * (B, 1, D) -> (B, K)
    return pos, neg


def _cbow_with(hidden: torch.Tensor, u_center: torch.Tensor, u_negatives: torch.Tensor) -> torch.Tensor:
    """() the mean over the batch of -log σ(u_o·h) - Σ_k log σ(-u_k·h), for a given h (B, D)."""
    pos, neg = _scores(hidden, u_center, u_negatives)
    return (-F.logsigmoid(pos) - F.logsigmoid(-neg).sum(-1)).mean()


def reference_cbow_loss(context_vectors: torch.Tensor, mask: torch.Tensor, u_center: torch.Tensor,
                        u_negatives: torch.Tensor) -> torch.Tensor:
    """(B, C, D), (B, C) bool, (B, D), (B, K, D) -> () the CBOW loss, h the masked mean of the context vectors.
    float16 or bfloat16 vectors are taken up to float32 and the loss cast back (so are the gradients, by autograd)."""
    if context_vectors.dtype in LOW_PRECISION:
        return reference_cbow_loss(context_vectors.float(), mask, u_center.float(),
                                   u_negatives.float()).to(context_vectors.dtype)
    return _cbow_with(masked_mean(context_vectors, mask), u_center, u_negatives)


def _hiddens(cv: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
    """h as each averaging mistake builds it, (B, D)."""
    m = mask.to(cv.dtype).unsqueeze(-1)
    return {
        "included the padding positions in the average (average only the words where the mask is True)": cv.mean(1),
        "summed the context vectors instead of averaging them": (cv * m).sum(1),
        "divided by the window width C instead of the number of real context words": (cv * m).sum(1) / cv.shape[1],
    }


def autograd_grads(loss_fn: Any, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The gradients of ``loss_fn(*inputs)`` with respect to every floating input, by autograd (the reference)."""
    leaves = [x.detach().clone().requires_grad_(x.is_floating_point()) for x in inputs]
    floats = [x for x in leaves if x.is_floating_point()]
    return tuple(g.detach() for g in torch.autograd.grad(loss_fn(*leaves), floats))



@reference("ch03.cbow_ns_grads")
def cbow_autograd(*inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The reference: autograd's gradients of the CBOW loss with respect to the context vectors, u_center and
    u_negatives."""
    return autograd_grads(reference_cbow_loss, *inputs)


def _sig(x: torch.Tensor) -> torch.Tensor:
    return torch.sigmoid(x)


def _cbow_from(h: torch.Tensor, share: torch.Tensor, uc: torch.Tensor, un: torch.Tensor, e_pos: torch.Tensor,
               e_neg: torch.Tensor, scale: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The three gradients from h (B, D), each context slot's share of dℓ/dh (B, C), the errors, times scale."""
    g_h = e_pos.unsqueeze(-1) * uc + (e_neg.unsqueeze(-1) * un).sum(1)  # (B, D)
    g_cv = share.unsqueeze(-1) * g_h.unsqueeze(1)  # (B, C, D)
    return scale * g_cv, scale * e_pos.unsqueeze(-1) * h, scale * e_neg.unsqueeze(-1) * h.unsqueeze(1)


@reference("ch03.cbow_ns_grads/mistakes")
def cbow_grad_mistakes(cv: torch.Tensor, mask: torch.Tensor, uc: torch.Tensor, un: torch.Tensor) -> dict[str, Any]:
    b, c = cv.shape[:2]
    m = mask.to(cv.dtype)  # (B, C)
    n_real = m.sum(1, keepdim=True)  # (B, 1)
    right_share = m / n_real
    per = 1 / max(b, 1)  # the mean over the batch's 1/B (an empty batch: every gradient is empty anyway)

    def errors(h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pos, neg = _scores(h, uc, un)
        return _sig(pos) - 1, _sig(neg)

    h = (cv * m.unsqueeze(-1)).sum(1) / n_real  # (B, D)
    e_pos, e_neg = errors(h)
    g_cv, g_uc, g_un = _cbow_from(h, right_share, uc, un, e_pos, e_neg, per)
    shares = {  # how each averaging mistake spreads dℓ/dh over the C slots
        "included the padding positions in the average (average only the words where the mask is True)":
            torch.full_like(m, 1 / c),
        "summed the context vectors instead of averaging them": m,
        "divided by the window width C instead of the number of real context words": m / c,
    }
    mistakes: dict[str, Any] = {what: _cbow_from(hh, shares[what], uc, un, *errors(hh), per)
                                for what, hh in _hiddens(cv, mask).items()}
    mistakes.update({
        "gave the padding positions a share of the gradient (a padded vector takes no part in h, so its "
        "gradient is 0)": _cbow_from(h, torch.full_like(m, 1) / n_real, uc, un, e_pos, e_neg, per),
        "forgot the 1/n of the average: each real context word gets dℓ/dh divided by the number n of real words":
            _cbow_from(h, m, uc, un, e_pos, e_neg, per),
        "used σ(s) for the true center word: the derivative of -log σ(x) is σ(x) - 1":
            _cbow_from(h, right_share, uc, un, e_pos + 1, e_neg, per),
        "used σ(s) - 1 for the noise words too: the derivative of -log σ(-x) is σ(x), their label is 0":
            _cbow_from(h, right_share, uc, un, e_pos, e_neg - 1, per),
        "flipped the sign of every gradient (1 - σ is the derivative of the log-likelihood; the loss is its "
        "negative)": (-g_cv, -g_uc, -g_un),
        "forgot to divide by the batch size B: the loss is the mean over the batch": (b * g_cv, b * g_uc, b * g_un),
        "left the factor h out of the noise vectors' gradient (d(u_k·h)/du_k = h)":
            (g_cv, g_uc, (e_neg * per).unsqueeze(-1).expand_as(un)),
    })
    return mistakes


def glove_start(v: int, d: int, generator: torch.Generator) -> list[torch.Tensor]:
    """The stated start: W, then C, each (rand(V, D) - 0.5) / D from the generator; both biases zero."""
    W = (torch.rand(v, d, generator=generator) - 0.5) / d
    C = (torch.rand(v, d, generator=generator) - 0.5) / d
    return [W, C, torch.zeros(v), torch.zeros(v)]


def reference_train_glove(rows: torch.Tensor, cols: torch.Tensor, counts: torch.Tensor, vocab_size: int, dim: int,
                          epochs: int, lr: float, x_max: float, alpha: float, generator: torch.Generator,
                          *, weighted: bool = True, per_table: bool = False) -> list[torch.Tensor]:
    """``epochs`` full-batch AdaGrad steps from the stated start (float32); ``weighted=False`` and ``per_table``
    (one accumulator per table, not per coordinate) are two of the mistakes, for the measurements."""
    with cpu_threads(1):
        params = glove_start(vocab_size, dim, generator)
        accumulated = [torch.zeros_like(p) for p in params]
        for _ in range(epochs):
            W, C, b_w, b_c = params
            x, dot, bias = _glove_parts(W, C, b_w, b_c, rows, cols, counts)
            weight = glove_weight(x, x_max, alpha) if weighted else torch.ones_like(x)
            grads = _glove_scatter(W, C, rows, cols, 2 * weight * (dot + bias - torch.log(x)))
            for p, g, acc in zip(params, grads, accumulated, strict=True):
                acc += (g * g).sum() if per_table else g * g
                p -= lr * g / torch.sqrt(acc + TRAIN_EPS)
        return params


def glove_objective(tables: Sequence[torch.Tensor], rows: torch.Tensor, cols: torch.Tensor, counts: torch.Tensor,
                    x_max: float, alpha: float) -> float:
    """The weighted objective at ``tables``, in float64."""
    return reference_glove_loss(*(p.double() for p in tables), rows, cols, counts, x_max, alpha).item()


@reference("ch03.train_glove/start")
def train_glove_start(vocab_size: int, dim: int, seed: int) -> list[torch.Tensor]:
    """The stated start from a generator seeded with ``seed``: where zero epochs leave the tables, and where any
    number of epochs leaves them when there is no cell (every gradient 0, so every AdaGrad step 0)."""
    return glove_start(vocab_size, dim, torch.Generator().manual_seed(seed))


@reference("ch03.train_glove/first_step")
def train_glove_first_step(rows: torch.Tensor, cols: torch.Tensor, counts: torch.Tensor, vocab_size: int, dim: int,
                           lr: float, x_max: float, alpha: float, seed: int) -> dict[str, list[torch.Tensor]]:
    """One AdaGrad step from the stated start (the generator seeded with ``seed``): the four tables, and for each
    which coordinates are judged: those whose first gradient is exactly zero (a word in no cell) or at least
    FIRST_STEP_FLAT in size (below that the step lr·g/√(g² + ε) turns on rounding and on where ε goes)."""
    start = glove_start(vocab_size, dim, torch.Generator().manual_seed(seed))
    x, dot, bias = _glove_parts(*start, rows, cols, counts)
    grads = _glove_scatter(start[0], start[1], rows, cols,
                           2 * glove_weight(x, x_max, alpha) * (dot + bias - torch.log(x)))
    tables = reference_train_glove(rows, cols, counts, vocab_size, dim, 1, lr, x_max, alpha,
                                   torch.Generator().manual_seed(seed))
    return {"tables": tables, "judged": [(g == 0) | (g.abs() >= FIRST_STEP_FLAT) for g in grads]}


@reference("ch03.train_glove/outcome")
def train_glove_outcome(tables: list[torch.Tensor], rows: torch.Tensor, cols: torch.Tensor, counts: torch.Tensor,
                        vocab_size: int, dim: int, epochs: int, lr: float, x_max: float, alpha: float,
                        seed: int) -> dict[str, float]:
    """What the outcome is judged by, on the teacher's side (it takes the learner's trained tables): the weighted
    objective (float64) at the stated start, at the learner's tables, and at the end of the reference run of
    ``epochs`` epochs from the same start."""
    start = glove_start(vocab_size, dim, torch.Generator().manual_seed(seed))
    trained = reference_train_glove(rows, cols, counts, vocab_size, dim, epochs, lr, x_max, alpha,
                                    torch.Generator().manual_seed(seed))
    return {"start": glove_objective(start, rows, cols, counts, x_max, alpha),
            "got": glove_objective(list(tables), rows, cols, counts, x_max, alpha),
            "reached": glove_objective(trained, rows, cols, counts, x_max, alpha)}


def _measure_train_glove(seeds: int = 30) -> None:  # pragma: no cover
    """The objective / the reference's, from the same start, over ``seeds`` draws of the first two cases: a correct
    run in another style (float64, no factor 2, a sparse product, ε outside the root) and two mistakes. The numbers
    behind TRAIN_BOUND."""
    def other_style(rows: torch.Tensor, cols: torch.Tensor, counts: torch.Tensor, v: int, d: int, epochs: int,
                    lr: float, x_max: float, alpha: float, g: torch.Generator) -> list[torch.Tensor]:
        params = [p.double() for p in glove_start(v, d, g)]
        acc = [torch.zeros_like(p) for p in params]
        x = counts.double()
        f, target = glove_weight(x, x_max, alpha), torch.log(x)
        for _ in range(epochs):
            W, C, b_w, b_c = params
            e = f * ((W[rows] * C[cols]).sum(-1) + b_w[rows] + b_c[cols] - target)  # no factor 2
            S = torch.sparse_coo_tensor(torch.stack([rows, cols]), e, (v, v))
            grads = [S @ C, S.t() @ W, torch.zeros_like(b_w).index_add(0, rows, e),
                     torch.zeros_like(b_c).index_add(0, cols, e)]
            for p, gr, a in zip(params, grads, acc, strict=True):
                a += gr * gr
                p -= lr * gr / (a.sqrt() + 1e-10)
        return [p.float() for p in params]

    cases = {"first": (30, 50, 8, 200, 0.3, 50.0, 0.75, None), "second": (28, 36, 6, 300, 0.2, 20.0, 0.5, (20, 25))}
    for case, (low, high, d, epochs, lr, x_max, alpha, words) in cases.items():
        ratios: dict[str, list[float]] = {"other style": [], "no weighting": [], "one accumulator per table": []}
        for seed in range(1000, 1000 + seeds):
            t = Trial(train_glove, None, seed)  # type: ignore[arg-type]  # draws only, no calls
            v = t.py.randint(low, high)
            n = None if words is None else t.py.randint(*words)
            cells = planted_counts(t, v, words=n)
            settings = (v, d, epochs, lr, x_max, alpha)
            ref = glove_objective(reference_train_glove(*cells, *settings, torch.Generator().manual_seed(seed)),
                                  *cells, x_max, alpha)
            runs = {"other style": other_style(*cells, *settings, torch.Generator().manual_seed(seed)),
                    "no weighting": reference_train_glove(*cells, *settings, torch.Generator().manual_seed(seed),
                                                          weighted=False),
                    "one accumulator per table": reference_train_glove(
                        *cells, *settings, torch.Generator().manual_seed(seed), per_table=True)}
            for label, tables in runs.items():
                ratios[label].append(glove_objective(tables, *cells, x_max, alpha) / ref)
        for label, r in ratios.items():
            print(f"{case:6} {label:26} min {min(r):.4f} max {max(r):.4f} "
                  f"pass {sum(x <= TRAIN_BOUND for x in r)}/{len(r)}")

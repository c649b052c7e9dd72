"""Chapter 3's hidden cases (teacher side): edge cases the public cases leave out, with the same checks."""

from __future__ import annotations

import torch

from llmcourse.checks.ch03 import (
    cbow_inputs,
    check_cbow_grads,
    check_glove_grads,
    check_glove_loss,
    check_start_kept,
    check_train_glove,
    check_windows,
    glove_inputs,
    planted_counts,
)
from llmcourse.grading.core import Trial
from llmcourse.grading.hidden import hidden_case

# --- cbow_windows ------------------------------------------------------------------------------


@hidden_case("ch03.cbow_windows", "a sentence of exactly 2·window + 1 words: only the middle word has a full context")
def _(t: Trial) -> None:
    window = t.py.randint(2, 5)
    check_windows(t, t.randint(0, 100, (2 * window + 1,)), window)


@hidden_case("ch03.cbow_windows", "a long sentence of a few repeated ids, window 8")
def _(t: Trial) -> None:
    check_windows(t, t.randint(0, 3, (t.py.randint(60, 90),)), 8)


# --- glove_loss and glove_grads ----------------------------------------------------------------


def one_cell(t: Trial, v: int, d: int, count: int) -> tuple:
    """Tables for V words and a single non-zero cell somewhere in X: every other word is in no cell."""
    i, j = t.py.randrange(v), t.py.randrange(v)
    return (t.randn(v, d), t.randn(v, d), t.randn(v), t.randn(v), torch.tensor([i]), torch.tensor([j]),
            torch.tensor([count]))


def symmetric(t: Trial, v: int, d: int, x_max: float, alpha: float) -> tuple:
    """A symmetric X (as a symmetric window counts it) with an empty diagonal, as a coalesced COO list."""
    upper = torch.triu(torch.rand(v, v, generator=t.rng) < 0.5, diagonal=1)
    counts = torch.randint(1, int(3 * x_max), (v, v), generator=t.rng)
    X = torch.where(upper, counts, 0)
    X = X + X.T
    rows, cols = X.nonzero(as_tuple=True)  # row-major order, as coalesce leaves it
    return (t.randn(v, d), t.randn(v, d), t.randn(v), t.randn(v), rows, cols, X[rows, cols], x_max, alpha)


@hidden_case("ch03.glove_loss", "a single non-zero cell in a vocabulary of many words, above x_max")
def _(t: Trial) -> None:
    check_glove_loss(t, (*one_cell(t, t.py.randint(5, 9), 4, t.py.randint(30, 90)), 10.0, 0.75),
                     "the objective for one cell")


@hidden_case("ch03.glove_loss", "x_max not a whole number (2.5), α = 0.3, counts of 1 to 4")
def _(t: Trial) -> None:
    v = t.py.randint(5, 8)
    check_glove_loss(t, glove_inputs(t, v, 3, 2 * v, 2.5, 0.3, high=4.0, exact=(1, 2, 3)),
                     "the objective for x_max = 2.5")


@hidden_case("ch03.glove_grads", "a single non-zero cell in a vocabulary of many words: every other row gets 0")
def _(t: Trial) -> None:
    check_glove_grads(t, (*one_cell(t, t.py.randint(5, 9), 4, t.py.randint(2, 9)), 10.0, 0.75),
                      "the gradients for one cell")


@hidden_case("ch03.glove_grads", "a symmetric co-occurrence matrix with an empty diagonal")
def _(t: Trial) -> None:
    check_glove_grads(t, symmetric(t, t.py.randint(6, 10), 5, 8.0, 0.75), "the gradients for a symmetric X")


@hidden_case("ch03.glove_grads", "bfloat16 tables: bfloat16 gradients")
def _(t: Trial) -> None:
    # float32 reference from the same bfloat16 tables, cast; bfloat16's 8 bits of mantissa on terms in the tens
    v = t.py.randint(8, 12)
    check_glove_grads(t, glove_inputs(t, v, 4, 3 * v, 50.0, 0.75, dtype=torch.bfloat16, exact=(50, 1)),
                      "the bfloat16 gradients", atol=0.3, rtol=1e-2)


# --- cbow_ns_grads -----------------------------------------------------------------------------


@hidden_case("ch03.cbow_ns_grads", "a random mask, not contiguous (real words anywhere in the window)")
def _(t: Trial) -> None:
    b, w, k, d = t.py.randint(3, 6), 3, t.py.randint(2, 5), t.py.randint(3, 7)
    mask = torch.rand(b, 2 * w, generator=t.rng) < 0.5
    mask[torch.arange(b), t.randint(0, 2 * w, (b,))] = True
    check_cbow_grads(t, cbow_inputs(t, b, w, k, d, mask=mask), "the gradients for a random mask")


@hidden_case("ch03.cbow_ns_grads", "window 1 with one noise word (K = 1), B > 1")
def _(t: Trial) -> None:
    b, d = t.py.randint(3, 7), t.py.randint(3, 7)
    check_cbow_grads(t, cbow_inputs(t, b, 1, 1, d), "the gradients for K = 1, window 1")


@hidden_case("ch03.cbow_ns_grads", "float16 vectors: float16 gradients")
def _(t: Trial) -> None:
    b, w, k, d = t.py.randint(3, 6), 2, t.py.randint(2, 5), t.py.randint(4, 8)
    check_cbow_grads(t, cbow_inputs(t, b, w, k, d, dtype=torch.float16), "the float16 gradients", atol=2e-3,
                     rtol=2e-3)


@hidden_case("ch03.cbow_ns_grads", "an empty batch (B = 0): gradients of shapes (0, C, D), (0, D), (0, K, D)")
def _(t: Trial) -> None:
    w, k, d = t.py.randint(1, 3), t.py.randint(2, 4), t.py.randint(3, 6)
    check_cbow_grads(t, cbow_inputs(t, 0, w, k, d), "the gradients for B=0")


# --- train_glove -------------------------------------------------------------------------------


@hidden_case("ch03.train_glove", "a wider model (D = 12) than the planted rank, 250 epochs at lr 0.25")
def _(t: Trial) -> None:
    v = t.py.randint(30, 40)
    check_train_glove(t, v, 12, 250, 0.25, 40.0, 0.75, f"V={v}, D=12")


@hidden_case("ch03.train_glove", "a narrow model (D = 4), half the vocabulary in no cell")
def _(t: Trial) -> None:
    v = t.py.randint(40, 50)
    check_train_glove(t, v, 4, 200, 0.3, 50.0, 0.75, f"V={v}, D=4", words=v // 2)


@hidden_case("ch03.train_glove", "zero epochs: the tables are the stated start")
def _(t: Trial) -> None:
    v = t.py.randint(20, 30)
    check_start_kept(t, planted_counts(t, v), v, 6, 0, f"V={v}, epochs=0")

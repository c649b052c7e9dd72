"""Chapter 3's hidden cases (teacher side): edge cases the public cases leave out, with the same checks."""

from __future__ import annotations

import torch

from llmcourse.grading.ch03 import cbow_inputs, check_cbow_grads, check_cbow_loss, check_sgns_grads, check_windows
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


# --- cbow_ns_loss ------------------------------------------------------------------------------


@hidden_case("ch03.cbow_ns_loss", "a random mask, not contiguous (real words anywhere in the window)")
def _(t: Trial) -> None:
    b, w, k, d = t.py.randint(3, 6), 3, t.py.randint(2, 5), t.py.randint(3, 7)
    mask = torch.rand(b, 2 * w, generator=t.rng) < 0.5
    mask[torch.arange(b), t.randint(0, 2 * w, (b,))] = True  # at least one real word per row
    check_cbow_loss(t, cbow_inputs(t, b, w, k, d, mask=mask), "the loss for a random mask")


@hidden_case("ch03.cbow_ns_loss", "as many noise words as rows (K = B), wide vectors")
def _(t: Trial) -> None:
    b = t.py.randint(3, 6)
    check_cbow_loss(t, cbow_inputs(t, b, 2, b, t.py.randint(30, 40)), "the loss for K = B")


# --- sgns_grads --------------------------------------------------------------------------------


@hidden_case("ch03.sgns_grads", "as many noise words as pairs (K = B)")
def _(t: Trial) -> None:
    b, d = t.py.randint(2, 6), t.py.randint(3, 9)
    check_sgns_grads(t, (t.randn(b, d), t.randn(b, d), t.randn(b, b, d)), "the gradients for K = B")


@hidden_case("ch03.sgns_grads", "word2vec's start: output vectors all zero")
def _(t: Trial) -> None:
    b, k, d = t.py.sample(range(2, 9), 3)
    check_sgns_grads(t, (t.randn(b, d, scale=0.1), torch.zeros(b, d), torch.zeros(b, k, d)),
                     "the gradients at zero output vectors")


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

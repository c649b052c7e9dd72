"""Chapter 3's hidden cases (teacher side): edge cases the public cases leave out, with the same checks."""

from __future__ import annotations

import torch

from llmcourse.grading.ch03 import (
    check_analogy,
    check_cosine,
    check_keep,
    check_sgns,
    random_words,
    reference_analogy,
    separating_question,
)
from llmcourse.grading.core import Trial
from llmcourse.grading.hidden import hidden_case

# --- cosine_similarity_matrix ------------------------------------------------------------------


@hidden_case("ch03.cosine_similarity_matrix", "vectors of one number each (D = 1), of both signs")
def _(t: Trial) -> None:
    n = t.py.randint(2, 6)
    x = t.randn(n, 1)
    x = x + 0.5 * torch.sign(x)  # (N, 1), away from 0: every similarity is exactly +1 or -1
    check_cosine(t, x, f"the similarity matrix of a ({n}, 1) input")


@hidden_case("ch03.cosine_similarity_matrix", "many vectors (N = 64) of 3 numbers, some repeated")
def _(t: Trial) -> None:
    base = t.randn(40, 3, scale=t.py.uniform(0.5, 20.0))
    x = torch.cat([base, base[t.randint(0, 40, (24,))]])  # (64, 3)
    check_cosine(t, x[torch.randperm(64, generator=t.rng)], "the similarity matrix of a (64, 3) input")


# --- keep_probability --------------------------------------------------------------------------


@hidden_case("ch03.keep_probability", "t above every word's frequency: every word is always kept")
def _(t: Trial) -> None:
    counts = t.randint(1, 10_000, (t.py.randint(5, 15),))
    f_max = float(counts.max()) / float(counts.sum())
    check_keep(t, counts, t.py.uniform(f_max, 1.0))


@hidden_case("ch03.keep_probability", "a vocabulary of 2,000 words with small counts and a tiny t")
def _(t: Trial) -> None:
    counts = torch.cat([t.randint(1, 20, (1990,)), t.randint(10**5, 10**6, (10,))])  # (2000,)
    check_keep(t, counts[torch.randperm(2000, generator=t.rng)], t.py.choice([1e-6, 3e-6, 1e-5]))


# --- sgns_loss ---------------------------------------------------------------------------------


@hidden_case("ch03.sgns_loss", "as many noise words per pair as pairs (k = B)")
def _(t: Trial) -> None:
    b, d = t.py.randint(2, 6), t.py.randint(3, 9)
    check_sgns(t, t.randn(b, d), t.randn(b, d), t.randn(b, b, d), what=f"the loss for B=k={b}")


@hidden_case("ch03.sgns_loss", "float64 vectors give a float64 loss at float64 precision")
def _(t: Trial) -> None:
    b, k, d = t.py.sample(range(2, 9), 3)
    v, u, n = (t.randn(b, d, dtype=torch.float64), t.randn(b, d, dtype=torch.float64),
               t.randn(b, k, d, dtype=torch.float64))
    check_sgns(t, v, u, n, what="the float64 loss", atol=1e-10, rtol=1e-10)


# --- solve_analogy -----------------------------------------------------------------------------


@hidden_case("ch03.solve_analogy", "the smallest vocabulary: one word besides a, b and c")
def _(t: Trial) -> None:
    d = t.py.randint(2, 6)
    vectors, words = t.randn(4, d), random_words(t, 4)
    a, b, c = (words[i] for i in t.py.sample(range(4), 3))
    check_analogy(t, vectors, words, a, b, c)


@hidden_case("ch03.solve_analogy", "the answer is the last word of `words`, after a, b and c")
def _(t: Trial) -> None:
    vectors, words, (a, b, c) = separating_question(t, t.py.randint(20, 40), t.py.randint(4, 8))
    answer = words.index(reference_analogy(vectors, words, a, b, c))
    order = [i for i in range(len(words)) if i != answer] + [answer]
    check_analogy(t, vectors[order], [words[i] for i in order], a, b, c)

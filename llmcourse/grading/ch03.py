"""Chapter 3's graded exercises: a cosine similarity matrix, word2vec's subsampling, the SGNS loss of a batch,
and solving an analogy while leaving out the query words.

Every case builds its inputs from a fixed seed and computes the reference at check time with the course
package (``llmcourse.embeddings``, itself tested against hand computations and gensim's conventions) or with
``torch.nn.functional``; known mistakes are computed on the same inputs, so a message can name the mistake.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F

from llmcourse.embeddings import KeyedVectors, keep_probability
from llmcourse.embeddings import sgns_loss as reference_sgns_loss

from .core import CheckFailure, call_student, exercise
from .expect import expect_close, expect_true


def _seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _call(fn: Callable[..., Any], *args: Any) -> Any:
    """Call the learner's code; a shape or index error fails with a pointer to the shapes in the task."""
    return call_student(fn, *args, otherwise="check the shapes in the task description and the comments in the "
                        "function.", catch=(RuntimeError, TypeError, IndexError))


# --- 1. cosine_similarity_matrix ---------------------------------------------------------------

cosine_similarity_matrix = exercise(
    "ch03.cosine_similarity_matrix", name="cosine_similarity_matrix",
    description="All pairwise cosine similarities of the rows of an (N, D) matrix: an (N, N) matrix.",
    points=1, timeout=10,
)


def _cos_mistakes(x: torch.Tensor) -> dict[str, torch.Tensor]:
    rows = F.normalize(x, dim=1)
    return {
        "forgot to normalise the vectors (that is the dot product, which grows with the vectors' lengths)": x @ x.T,
        "normalised the columns instead of the rows (each row is one word's vector: normalise along dim=1)":
            F.normalize(x, dim=0) @ F.normalize(x, dim=0).T,
        "normalised only one side of the product (both vectors must have length 1)": rows @ x.T,
        "normalised only one side of the product (both vectors must have length 1) ": x @ rows.T,
        "forgot to normalise and divided by the number of dimensions instead": x @ x.T / x.shape[1],
    }


@cosine_similarity_matrix.case("matches F.cosine_similarity for every pair of 5 random 8-d vectors")
def _(student):
    x = torch.randn(5, 8, generator=_seeded(0)) * torch.tensor([[0.5], [1.0], [2.0], [3.0], [0.2]])
    expected = F.cosine_similarity(x.unsqueeze(1), x.unsqueeze(0), dim=-1)  # (5, 5)
    got = _call(student, x.clone())
    expect_close(got, expected, "the similarity matrix", atol=1e-5, mistakes=_cos_mistakes(x))


@cosine_similarity_matrix.case("a non-square input: 7 vectors of 3 numbers; the diagonal is all ones")
def _(student):
    x = torch.randn(7, 3, generator=_seeded(1)) * 4
    expected = F.cosine_similarity(x.unsqueeze(1), x.unsqueeze(0), dim=-1)
    got = _call(student, x.clone())
    expect_close(got, expected, "the similarity matrix of a (7, 3) input", atol=1e-5, mistakes=_cos_mistakes(x))


# --- 2. keep_probability -----------------------------------------------------------------------

keep_probability_ex = exercise(
    "ch03.keep_probability", name="keep_probability",
    description="word2vec's chance of keeping each occurrence of a word: min(1, (sqrt(f/t) + 1) * t/f).",
    points=1, timeout=10,
)


def _keep_mistakes(counts: torch.Tensor, t: float) -> dict[str, torch.Tensor]:
    c = counts.double()
    f = c / c.sum()
    keep = keep_probability(counts, t)
    return {
        "return the probability of discarding the word (1 - keep) instead of keeping it": 1 - keep,
        "forgot to cap the probability at 1 (rare words get values above 1)": ((f / t).sqrt() + 1) * t / f,
        "used the raw counts instead of the frequencies f = count / total":
            (((c / t).sqrt() + 1) * t / c).clamp(max=1),
        "used the paper's sqrt(t / f) instead of the code's formula (sqrt(f/t) + 1) * t / f":
            (t / f).sqrt().clamp(max=1),
    }


@keep_probability_ex.case("matches word2vec's formula on a Zipf-like vocabulary of 8 words, t = 0.01")
def _(student):
    counts = torch.tensor([5000, 2500, 1200, 600, 300, 100, 20, 5])
    got = _call(student, counts.clone(), 0.01)
    expect_close(got, keep_probability(counts, 0.01), "the keep probabilities", atol=1e-6,
                 mistakes=_keep_mistakes(counts, 0.01))


@keep_probability_ex.case("rare words are always kept (probability exactly 1), with t = 1e-3 on random counts")
def _(student):
    counts = torch.randint(1, 100_000, (50,), generator=_seeded(2)).sort(descending=True).values
    got = _call(student, counts.clone(), 1e-3)
    expect_close(got, keep_probability(counts, 1e-3), "the keep probabilities", atol=1e-6,
                 mistakes=_keep_mistakes(counts, 1e-3))


# --- 3. sgns_loss ------------------------------------------------------------------------------

sgns_loss_ex = exercise(
    "ch03.sgns_loss", name="sgns_loss",
    description="The skip-gram negative-sampling loss of a batch, averaged over the batch.",
    points=1, timeout=10,
)


def _sgns_inputs(seed: int, b: int, k: int, d: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = _seeded(seed)
    return torch.randn(b, d, generator=g), torch.randn(b, d, generator=g), torch.randn(b, k, d, generator=g)


def _sgns_mistakes(v: torch.Tensor, u: torch.Tensor, n: torch.Tensor) -> dict[str, torch.Tensor]:
    pos = (u * v).sum(-1)
    neg = torch.bmm(n, v.unsqueeze(-1)).squeeze(-1)
    return {
        "flip the sign inside the negative term (it is log σ(-u_k·v): the noise words must score LOW)":
            (-F.logsigmoid(pos) - F.logsigmoid(neg).sum(-1)).mean(),
        "leave out the negative samples (only the true context word)": (-F.logsigmoid(pos)).mean(),
        "average over the k negatives instead of summing them":
            (-F.logsigmoid(pos) - F.logsigmoid(-neg).mean(-1)).mean(),
        "sum over the batch instead of averaging": (-F.logsigmoid(pos) - F.logsigmoid(-neg).sum(-1)).sum(),
        "forget the minus sign (that is the log-likelihood, which training maximises; the loss is its negative)":
            (F.logsigmoid(pos) + F.logsigmoid(-neg).sum(-1)).mean(),
        "use log(1 - σ(x)) for the positive pair as well": (-F.logsigmoid(-pos) - F.logsigmoid(-neg).sum(-1)).mean(),
    }


@sgns_loss_ex.case("matches the loss by the formula on a batch of 6 pairs, 4 negatives each, 10-d vectors")
def _(student):
    v, u, n = _sgns_inputs(3, 6, 4, 10)
    got = _call(student, v.clone(), u.clone(), n.clone())
    expect_close(got, reference_sgns_loss(v, u, n).mean(), "the loss", atol=1e-5, mistakes=_sgns_mistakes(v, u, n))


@sgns_loss_ex.case("stays finite for large scores (use F.logsigmoid, not log(sigmoid(x)))")
def _(student):
    v, u, n = _sgns_inputs(4, 3, 2, 5)
    v, u, n = v * 10, u * 10, n * 10  # scores of several hundred: sigmoid rounds to 0 or 1 in float32
    got = _call(student, v, u, n)
    expected = reference_sgns_loss(v, u, n).mean()
    if isinstance(got, torch.Tensor) and not torch.isfinite(got).all():
        raise CheckFailure("the loss is infinite or NaN for large scores: log(sigmoid(x)) underflows to log(0); "
                           "use F.logsigmoid(x), which computes the same value stably.")
    expect_close(got, expected, "the loss for large scores", atol=1e-3, rtol=1e-4, mistakes=_sgns_mistakes(v, u, n))


# --- 4. solve_analogy --------------------------------------------------------------------------

solve_analogy = exercise(
    "ch03.solve_analogy", name="solve_analogy",
    description="a is to b as c is to ?: the word whose vector is nearest (cosine) to b - a + c, never a, b or c.",
    points=1, timeout=10,
)


def _analogy_mistakes(vectors: torch.Tensor, words: list[str], a: str, b: str, c: str) -> dict[str, str]:
    """What each mistake answers on these vectors."""
    i = {w: k for k, w in enumerate(words)}
    unit = F.normalize(vectors, dim=1)

    def best(scores: torch.Tensor, exclude: bool = True) -> str:
        scores = scores.clone()
        if exclude:
            scores[[i[a], i[b], i[c]]] = -math.inf
        return words[int(scores.argmax())]

    return {
        "included the query words (a, b and c must be left out: b itself is usually nearest to b - a + c)":
            best(unit @ (unit[i[b]] - unit[i[a]] + unit[i[c]]), exclude=False),
        "forgot to normalise the vectors (long vectors then win whatever their direction)":
            best(vectors @ (vectors[i[b]] - vectors[i[a]] + vectors[i[c]])),
        "computed a - b + c instead of b - a + c": best(unit @ (unit[i[a]] - unit[i[b]] + unit[i[c]])),
    }


def _analogy_case(seed: int) -> tuple[torch.Tensor, list[str], tuple[str, str, str]]:
    """Random vectors of very different lengths, and the first question on which the answer and every
    mistake's answer are all different, so a wrong answer can be told apart."""
    g = _seeded(seed)
    words = [f"w{k}" for k in range(40)]
    vectors = torch.randn(40, 6, generator=g) * torch.exp(torch.randn(40, 1, generator=g))  # lengths vary ~e^±1
    kv = KeyedVectors(words, vectors)
    for a, b, c in ((words[x], words[y], words[z]) for x in range(40) for y in range(40) for z in range(40)
                    if len({x, y, z}) == 3):
        answers = [kv.analogy(a, b, c)[0][0], *_analogy_mistakes(vectors, words, a, b, c).values()]
        if len(set(answers)) == len(answers):
            return vectors, words, (a, b, c)
    raise RuntimeError("no question separates the mistakes")  # not reached for the seeds used


def _expect_word(got: Any, expected: str, mistakes: Mapping[str, str], question: str) -> None:
    if isinstance(got, (tuple, list)) and got and isinstance(got[0], str):
        raise CheckFailure(f"solve_analogy should return one word (a str), but it returned a {type(got).__name__}: "
                           f"{got!r}")
    expect_true(isinstance(got, str), f"solve_analogy should return a word (a str), but it returned "
                                      f"{'None (did you forget to `return`?)' if got is None else repr(got)}.")
    if got == expected:
        return
    message = f"for {question} the answer is {expected!r}, but you returned {got!r}."
    for description, value in mistakes.items():
        if got == value:
            message += f" That is what you get if you {description}."
            break
    raise CheckFailure(message)


@solve_analogy.case("finds the right word among 40 random vectors of different lengths")
def _(student):
    vectors, words, (a, b, c) = _analogy_case(5)
    got = _call(student, vectors.clone(), list(words), a, b, c)
    _expect_word(got, KeyedVectors(words, vectors).analogy(a, b, c)[0][0],
                 _analogy_mistakes(vectors, words, a, b, c), f"{a} : {b} = {c} : ?")


@solve_analogy.case("man : king = woman : queen on a tiny hand-made vocabulary")
def _(student):
    words = ["man", "woman", "king", "queen", "apple", "the"]
    vectors = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.3], [0.2, 1.0, 0.6],
                            [0.2, 0.2, -1.0], [-5.0, 3.0, -1.0]])  # "the": long, so it wins without normalising
    got = _call(student, vectors.clone(), list(words), "man", "king", "woman")
    _expect_word(got, "queen", _analogy_mistakes(vectors, words, "man", "king", "woman"), "man : king = woman : ?")

"""Chapter 3's graded exercises: a cosine similarity matrix, word2vec's subsampling, the SGNS loss of a batch,
and solving an analogy while leaving out the query words.

Every case draws its inputs from the run's seed; the reference is the course package
(``llmcourse.embeddings``, itself tested against hand computations and gensim's conventions) or
``torch.nn.functional``, computed at check time on the same inputs, and so are the known mistakes, so a
message can name the mistake. Analogy answers are words, and a message never says which word was right:
it says what is wrong with the word returned (not a word of the vocabulary, a query word, or not the
nearest by cosine).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from llmcourse.embeddings import KeyedVectors
from llmcourse.embeddings import keep_probability as reference_keep_probability
from llmcourse.embeddings import sgns_loss as reference_sgns_loss

from .core import CheckFailure, Trial, exercise
from .expect import kind_of

# --- 1. cosine_similarity_matrix ---------------------------------------------------------------

cosine_similarity_matrix = exercise(
    "ch03.cosine_similarity_matrix", name="cosine_similarity_matrix",
    description="All pairwise cosine similarities of the rows of an (N, D) matrix: an (N, N) matrix.",
    args=("x",), points=1, timeout=10,
    hints={"mat1 and mat2 shapes cannot be multiplied":
           "the product of all pairs is (N, D) @ (D, N): the second factor is the transpose of the first."},
)


def reference_cosine_matrix(x: torch.Tensor) -> torch.Tensor:
    """(N, D) -> (N, N), by PyTorch's own cosine similarity of every pair (keeps x's dtype)."""
    return F.cosine_similarity(x.unsqueeze(1), x.unsqueeze(0), dim=-1)


def cosine_mistakes(x: torch.Tensor) -> dict[str, torch.Tensor]:
    """What each known mistake gives for x (N, D)."""
    rows = F.normalize(x, dim=1)  # (N, D)
    cols = F.normalize(x, dim=0)
    return {
        "forgot to normalise the vectors (that is the dot product, which grows with the vectors' lengths)": x @ x.T,
        "normalised the columns instead of the rows (each row is one vector: normalise along dim=1)": cols @ cols.T,
        "normalised only the left factor of the product (both vectors must have length 1)": rows @ x.T,
        "normalised only the right factor of the product (both vectors must have length 1)": x @ rows.T,
        "divided by the number of dimensions instead of the vectors' lengths": x @ x.T / x.shape[1],
        "divided by the norm of the whole matrix instead of each row's own length": x @ x.T / x.norm() ** 2,
        "multiplied in the wrong order (unit.T @ unit compares the D columns, not the N rows)": rows.T @ rows,
    }


def _row_lengths(t: Trial, n: int, low: float, high: float) -> torch.Tensor:
    """(n, 1) lengths spread log-uniformly over [10**low, 10**high]: long and short vectors together."""
    return 10 ** (low + (high - low) * torch.rand(n, 1, generator=t.rng, dtype=torch.float64))


def check_cosine(t: Trial, x: torch.Tensor, what: str, atol: float = 1e-5, rtol: float = 1e-4) -> None:
    t.check_call(x, reference=reference_cosine_matrix, what=what, mistakes=cosine_mistakes, atol=atol, rtol=rtol)


@cosine_similarity_matrix.case("N random vectors of D numbers (N ≠ D) whose lengths differ by up to 10,000 times")
def _(t: Trial) -> None:
    n = t.py.randint(4, 9)
    d = t.py.choice([k for k in range(3, 13) if k != n])
    x = t.randn(n, d) * _row_lengths(t, n, -2, 2).float()  # (N, D)
    check_cosine(t, x, f"the similarity matrix of a ({n}, {d}) input")


@cosine_similarity_matrix.case("a single vector (N = 1)")
def _(t: Trial) -> None:
    d = t.py.randint(2, 9)
    x = t.randn(1, d, scale=t.py.uniform(0.1, 10.0))  # (1, D)
    check_cosine(t, x, f"the similarity matrix of a (1, {d}) input")


@cosine_similarity_matrix.case("float64 input: the result keeps float64 and its precision")
def _(t: Trial) -> None:
    n = t.py.randint(3, 7)
    d = n + t.py.randint(1, 5)
    x = t.randn(n, d, dtype=torch.float64) * _row_lengths(t, n, -1, 1)  # (N, D) float64
    check_cosine(t, x, f"the similarity matrix of a float64 ({n}, {d}) input", atol=1e-10, rtol=1e-10)


@cosine_similarity_matrix.case("more vectors than dimensions, with rescaled and opposite copies of some vectors")
def _(t: Trial) -> None:
    d = t.py.randint(2, 4)
    base = t.randn(3, d)  # (3, D)
    scales = torch.tensor([t.py.choice([-1, 1]) * t.py.uniform(0.2, 5.0) for _ in range(4)]).unsqueeze(1)
    copies = base[t.randint(0, 3, (4,))] * scales  # (4, D): same or opposite direction, new length
    x = torch.cat([base, copies, t.randn(2, d, scale=3.0)])  # (9, D), N > D
    x = x[torch.randperm(len(x), generator=t.rng)]
    check_cosine(t, x, f"the similarity matrix of a ({len(x)}, {d}) input")


# --- 2. keep_probability -----------------------------------------------------------------------

keep_probability = exercise(
    "ch03.keep_probability", name="keep_probability",
    description="word2vec's chance of keeping each occurrence of a word: min(1, (sqrt(f/t) + 1) * t/f).",
    args=("counts", "sample"), points=1, timeout=10,
)


def keep_mistakes(counts: torch.Tensor, sample: float) -> dict[str, torch.Tensor]:
    """What each known mistake gives for counts (V,) int64 and threshold ``sample``."""
    c = counts.double()  # (V,)
    f = c / c.sum()

    def formula(f: torch.Tensor, t: float) -> torch.Tensor:
        return ((f / t).sqrt() + 1) * t / f

    keep = reference_keep_probability(counts, sample)
    mistakes = {
        "returned the probability of discarding the word (1 - keep) instead of keeping it": 1 - keep,
        "forgot to cap the probability at 1 (rare words get values above 1)": formula(f, sample),
        "capped only the words rarer than t (the formula is above 1 up to f ≈ 2.6·t: take min(1, ...) everywhere)":
            torch.where(f < sample, torch.ones_like(f), formula(f, sample)),
        "used clamp(min=1), a floor, instead of capping at 1 with clamp(max=1)": formula(f, sample).clamp(min=1),
        "used the raw counts instead of the frequencies f = count / total": formula(c, sample).clamp(max=1),
        "divided the counts by the number of words instead of the total count":
            formula(c / len(c), sample).clamp(max=1),
        "used the paper's sqrt(t / f) instead of the code's formula (sqrt(f/t) + 1) * t / f":
            (sample / f).sqrt().clamp(max=1),
        "multiplied by f/t instead of t/f": (((f / sample).sqrt() + 1) * f / sample).clamp(max=1),
    }
    for fixed in (1e-3, 1e-5):  # the word2vec and gensim defaults, written in instead of `sample`
        mistakes[f"ignored `sample` and used a fixed threshold t = {fixed:g}"] = formula(f, fixed).clamp(max=1)
    return mistakes


def check_keep(t: Trial, counts: torch.Tensor, sample: float, what: str = "the tensor of keep probabilities") -> None:
    """The float64 keep probabilities of the course's keep_probability; float32 gets a message of its own."""
    expected = reference_keep_probability(counts, sample)  # (V,) float64
    got = t.call(counts, sample).value
    if isinstance(got, torch.Tensor) and got.is_floating_point() and got.dtype != torch.float64:
        raise CheckFailure(f"{what} is a {str(got.dtype).replace('torch.', '')} tensor, but should be float64, "
                           "as the course's keep_probability returns: compute the frequencies in double precision "
                           "(counts.double() / total).", "type")
    t.expect(got, expected, what, mistakes=keep_mistakes(counts, sample), atol=1e-9, rtol=1e-6)


def _zipf_counts(t: Trial, v: int) -> torch.Tensor:
    """(V,) int64 counts falling like count(rank) ~ C / rank**s, in a random order."""
    s = t.py.uniform(0.8, 1.4)
    ranks = torch.arange(1, v + 1, dtype=torch.float64)
    counts = (t.py.uniform(1e4, 1e7) / ranks**s).round().clamp(min=1).long()
    return counts[torch.randperm(v, generator=t.rng)]


@keep_probability.case("a Zipf-like vocabulary, with t just below some word's frequency (where the cap matters)")
def _(t: Trial) -> None:
    counts = _zipf_counts(t, t.py.randint(8, 20))
    f = counts.double() / counts.sum()
    middle = f.sort().values[len(f) // 2]  # a word from the middle of the vocabulary...
    sample = float(middle) / t.py.uniform(1.2, 2.2)  # ...whose uncapped formula lies between 1 and 2
    check_keep(t, counts, sample)


@keep_probability.case("large random counts (beyond 2**31) with a small t: rare words are always kept")
def _(t: Trial) -> None:
    v = t.py.randint(30, 60)
    counts = torch.cat([t.randint(2**31, 2**33, (3,)), t.randint(1, 10**6, (v - 3,))])  # (V,) int64
    counts = counts[torch.randperm(v, generator=t.rng)]
    check_keep(t, counts, t.py.choice([1e-4, 3e-5, 1e-5]))


@keep_probability.case("a vocabulary of one word (f = 1), with a large t")
def _(t: Trial) -> None:
    counts = t.randint(1, 1000, (1,))  # (1,)
    check_keep(t, counts, t.py.choice([0.2, 0.1, 0.05]))


@keep_probability.case("a few words of equal and near-equal counts, t around their frequencies")
def _(t: Trial) -> None:
    v = t.py.randint(3, 6)
    base = t.py.randint(50, 500)
    counts = torch.tensor([base] * v + [base * t.py.randint(2, 9)], dtype=torch.int64)  # (V + 1,)
    sample = t.py.uniform(0.05, 0.3)
    check_keep(t, counts, sample)


# --- 3. sgns_loss ------------------------------------------------------------------------------

sgns_loss = exercise(
    "ch03.sgns_loss", name="sgns_loss",
    description="The skip-gram negative-sampling loss of a batch, averaged over the batch (a 0-d tensor).",
    args=("v_center", "u_context", "u_negatives"), points=1, timeout=10, grad=True,
    hints={
        "Expected size for first two dimensions of batch2 tensor":
            "torch.bmm multiplies (B, k, D) by (B, D, 1): unsqueeze v_center's last dimension first.",
        "must match the size of tensor b":
            "u_negatives is (B, k, D) and v_center is (B, D): give v_center a middle dimension of 1, (B, 1, D), "
            "so it lines up with each of the k noise vectors.",
    },
)


def reference_sgns_mean(v_center: torch.Tensor, u_context: torch.Tensor, u_negatives: torch.Tensor) -> torch.Tensor:
    """(B, D), (B, D), (B, k, D) -> () the course's per-pair loss, averaged over the batch."""
    return reference_sgns_loss(v_center, u_context, u_negatives).mean()


def sgns_mistakes(v: torch.Tensor, u: torch.Tensor, n: torch.Tensor) -> dict[str, torch.Tensor]:
    """What each known mistake gives for v (B, D), u (B, D), n (B, k, D)."""
    pos = (u * v).sum(-1)  # (B,)
    neg = torch.bmm(n, v.unsqueeze(-1)).squeeze(-1)  # (B, k)
    per_pair = -F.logsigmoid(pos) - F.logsigmoid(-neg).sum(-1)  # (B,)
    return {
        "flipped the sign inside the negative term (it is log σ(-u_k·v): the noise words must score LOW)":
            (-F.logsigmoid(pos) - F.logsigmoid(neg).sum(-1)).mean(),
        "left out the negative samples (only the true context word)": (-F.logsigmoid(pos)).mean(),
        "averaged over the k negatives instead of summing them":
            (-F.logsigmoid(pos) - F.logsigmoid(-neg).mean(-1)).mean(),
        "summed over the batch instead of averaging": per_pair.sum(),
        "returned the loss of each pair instead of their mean over the batch": per_pair,
        "averaged over all B·(k+1) scores (as binary_cross_entropy_with_logits' 'mean' does) instead of summing "
        "each pair's terms and averaging over the batch": per_pair.sum() / (len(pos) * (neg.shape[1] + 1)),
        "forgot the minus sign (that is the log-likelihood, which training maximises; the loss is its negative)":
            -per_pair.mean(),
        "used log σ(-x) for the true pair as well (the true context word must score HIGH)":
            (-F.logsigmoid(-pos) - F.logsigmoid(-neg).sum(-1)).mean(),
    }


def _sgns_inputs(t: Trial, b: int, k: int, d: int, scale: float = 1.0) -> tuple[torch.Tensor, ...]:
    """v (B, D), u (B, D), noise vectors (B, k, D)."""
    return t.randn(b, d, scale=scale), t.randn(b, d, scale=scale), t.randn(b, k, d, scale=scale)


def check_sgns(t: Trial, v: torch.Tensor, u: torch.Tensor, n: torch.Tensor, what: str = "the loss",
               atol: float = 1e-5, rtol: float = 1e-4) -> None:
    t.check_call(v, u, n, reference=reference_sgns_mean, what=what, mistakes=sgns_mistakes, atol=atol, rtol=rtol)


@sgns_loss.case("a batch of B pairs with k noise words each (B, k and D all different)")
def _(t: Trial) -> None:
    b, k, d = t.py.sample(range(2, 11), 3)
    check_sgns(t, *_sgns_inputs(t, b, k, d, scale=t.py.uniform(0.5, 1.5)), what=f"the loss for B={b}, k={k}")


@sgns_loss.case("a batch of one pair (B = 1)")
def _(t: Trial) -> None:
    k, d = t.py.randint(2, 6), t.py.randint(3, 9)
    check_sgns(t, *_sgns_inputs(t, 1, k, d), what=f"the loss for B=1, k={k}")


@sgns_loss.case("one noise word per pair (k = 1)")
def _(t: Trial) -> None:
    b, d = t.py.randint(2, 7), t.py.randint(3, 9)
    check_sgns(t, *_sgns_inputs(t, b, 1, d), what=f"the loss for B={b}, k=1")


@sgns_loss.case("scores in the hundreds: the loss stays finite and exact (F.logsigmoid, not log(sigmoid(x)))")
def _(t: Trial) -> None:
    b, k, d = t.py.randint(2, 6), t.py.randint(2, 5), t.py.randint(4, 8)
    v, u, n = _sgns_inputs(t, b, k, d)
    check_sgns(t, v, u, n, what="the loss for moderate scores")  # the formula first, on small scores
    scale = t.py.uniform(8.0, 12.0)  # scores of several hundred: σ rounds to exactly 0 or 1 in float32
    try:
        check_sgns(t, v * scale, u * scale, n * scale, what="the loss for large scores", atol=1e-3)
    except CheckFailure as failure:
        if failure.kind != "wrong":
            raise
        raise CheckFailure(f"{failure} It is right for moderate scores, so this is precision: for large scores "
                           "σ(x) rounds to 0 or 1 and log(sigmoid(x)) to -inf or a wrong value (adding a small "
                           "number inside the log only hides it); use F.logsigmoid(x), which stays exact.",
                           "wrong") from None


# --- 4. solve_analogy --------------------------------------------------------------------------

solve_analogy = exercise(
    "ch03.solve_analogy", name="solve_analogy",
    description="a is to b as c is to ?: the word whose vector is nearest (cosine) to b - a + c, never a, b or c.",
    args=("vectors", "words", "a", "b", "c"), points=1, timeout=10,
    exempt={"batch of 1": "an analogy needs at least four words (a, b, c and an answer); a hidden case has four"},
)


def _unit(vectors: torch.Tensor) -> torch.Tensor:
    return vectors / vectors.norm(dim=1, keepdim=True)  # (V, D), rows of length 1


def _best(words: list[str], scores: torch.Tensor, leave_out: list[int]) -> str:
    scores = scores.clone()
    scores[leave_out] = -math.inf
    return words[int(scores.argmax())]


def analogy_mistakes(vectors: torch.Tensor, words: list[str], a: str, b: str, c: str) -> dict[str, str]:
    """The word each known mistake answers on these vectors (V, D)."""
    v = vectors.double()
    index = {w: i for i, w in enumerate(words)}
    query = [index[a], index[b], index[c]]
    unit = _unit(v)
    target = unit[index[b]] - unit[index[a]] + unit[index[c]]  # (D,)
    zeroed = unit @ target
    zeroed[query] = 0.0
    rest = [i for i in range(len(words)) if i not in query]
    return {
        "included the query words (a, b and c must be left out: b itself is usually nearest to b - a + c)":
            words[int((unit @ target).argmax())],
        "forgot to normalise the vectors (long vectors then win whatever their direction)":
            _best(words, v @ (v[index[b]] - v[index[a]] + v[index[c]]), query),
        "computed a - b + c instead of b - a + c":
            _best(words, unit @ (unit[index[a]] - unit[index[b]] + unit[index[c]]), query),
        "built b - a + c from the raw vectors (a, b and c need length 1 as well as the candidates)":
            _best(words, unit @ (v[index[b]] - v[index[a]] + v[index[c]]), query),
        "scored the raw candidate vectors against b - a + c (every candidate needs length 1: long vectors win)":
            _best(words, v @ target, query),
        "left out a, b and c by setting their scores to 0 (the best remaining score can be negative: use -inf)":
            words[int(zeroed.argmax())],
        "took the best position among the remaining words as a position in `words` (leaving out a, b and c "
        "shifts the words after them)": words[int((unit[rest] @ target).argmax())],
    }


def reference_analogy(vectors: torch.Tensor, words: list[str], a: str, b: str, c: str) -> str:
    """The course's 3CosAdd answer (KeyedVectors.analogy, as gensim's)."""
    return KeyedVectors(words, vectors).analogy(a, b, c)[0][0]


def analogy_margin(vectors: torch.Tensor, words: list[str], a: str, b: str, c: str) -> float:
    """How far the best candidate's cosine is ahead of the second's (in float64): big enough means no near tie."""
    index = {w: i for i, w in enumerate(words)}
    unit = _unit(vectors.double())
    target = unit[index[b]] - unit[index[a]] + unit[index[c]]
    scores = unit @ (target / target.norm())
    scores[[index[a], index[b], index[c]]] = -math.inf
    if len(words) < 5:
        return math.inf
    top = scores.topk(2).values
    return float(top[0] - top[1])


def judge_word(t: Trial, got: Any, vectors: torch.Tensor, words: list[str], a: str, b: str, c: str) -> None:
    """Fail unless ``got`` is the right word; the message says what is wrong with it, never the right word."""
    question = f"{a} : {b} = {c} : ?"
    if isinstance(got, (tuple, list)) and got and isinstance(got[0], str):
        raise CheckFailure(f"for {question}, solve_analogy should return one word (a str), but it returned "
                           f"{kind_of(got)}.", "type")
    if isinstance(got, int) and not isinstance(got, bool):
        raise CheckFailure(f"for {question}, solve_analogy should return a word (a str), but it returned a Python int: "
                           "return the word itself, words[i], not its index.", "type")
    if not isinstance(got, str):
        raise CheckFailure(f"for {question}, solve_analogy should return a word (a str), but it returned "
                           f"{kind_of(got)}.", "type")
    expected = reference_analogy(vectors, words, a, b, c)
    if got == expected:
        return
    if got not in words:
        problem = f"for {question}, the returned string {got[:40]!r} is not one of `words`."
    elif got in (a, b, c):
        problem = (f"for {question}, you returned {got!r}, one of the query words: a, b and c must be left out of "
                   "the candidates.")
    else:
        problem = (f"for {question}, the word returned is not the one whose unit vector has the highest cosine with "
                   "b - a + c (built from unit vectors), among the words other than a, b and c.")
    t.expect(got, expected, "the answer", mistakes=analogy_mistakes(vectors, words, a, b, c), message=problem)


def check_analogy(t: Trial, vectors: torch.Tensor, words: list[str], a: str, b: str, c: str) -> None:
    outcome = t.call(vectors, list(words), a, b, c)
    judge_word(t, outcome.value, vectors, words, a, b, c)


_SYLLABLES = ("ka", "lo", "mi", "re", "tu", "sa", "ne", "vo", "pi", "da", "zé", "rü", "ño", "ji", "bo", "fa")


def random_words(t: Trial, v: int) -> list[str]:
    """v distinct made-up words of 1 to 3 syllables (some with accented letters)."""
    words: list[str] = []
    seen: set[str] = set()
    while len(words) < v:
        word = "".join(t.py.choice(_SYLLABLES) for _ in range(t.py.randint(1, 3)))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


def separating_question(t: Trial, v: int, d: int) -> tuple[torch.Tensor, list[str], tuple[str, str, str]]:
    """Random vectors (V, D) of very different lengths, and a question on which the right answer and every
    mistake's answer (but the 0-score one, which needs negative scores) are all different words."""
    skip = "left out a, b and c by setting their scores to 0"
    for _ in range(100):
        vectors = t.randn(v, d) * torch.exp(t.randn(v, 1))  # (V, D), lengths vary about e^±1
        words = random_words(t, v)
        for _ in range(300):
            a, b, c = (words[i] for i in t.py.sample(range(v), 3))
            if analogy_margin(vectors, words, a, b, c) < 1e-3:
                continue
            answers = [w for m, w in analogy_mistakes(vectors, words, a, b, c).items() if not m.startswith(skip)]
            answers.append(reference_analogy(vectors, words, a, b, c))
            if len(set(answers)) == len(answers):
                return vectors, words, (a, b, c)
    raise RuntimeError("no question separates the mistakes")  # not reached: most draws find one


@solve_analogy.case("V random vectors of very different lengths, on a question every known mistake answers differently")
def _(t: Trial) -> None:
    vectors, words, (a, b, c) = separating_question(t, t.py.randint(30, 50), t.py.randint(5, 9))
    check_analogy(t, vectors, words, a, b, c)


def _random_rotation(t: Trial, d: int) -> torch.Tensor:
    q, r = torch.linalg.qr(t.randn(d, d, dtype=torch.float64))
    return q * torch.sign(torch.diagonal(r))  # (D, D) orthogonal: cosines stay as they were


@solve_analogy.case("a small hand-made float64 vocabulary, rotated, rescaled and shuffled, with one very long vector")
def _(t: Trial) -> None:
    words = ["man", "woman", "king", "queen", "apple", "the", "café"]
    vectors = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.3], [0.2, 1.0, 0.6],
                            [0.2, 0.2, -1.0], [-5.0, 3.0, -1.0], [0.1, -0.9, 0.4]], dtype=torch.float64)
    vectors = vectors @ _random_rotation(t, 3) * t.py.uniform(0.2, 5.0)  # "the": long, it wins unnormalised
    order = torch.randperm(len(words), generator=t.rng)
    vectors, words = vectors[order], [words[i] for i in order.tolist()]
    a, b, c = t.py.choice([("man", "king", "woman"), ("woman", "queen", "man")])
    check_analogy(t, vectors, words, a, b, c)


def negative_question(t: Trial, v: int, d: int) -> tuple[torch.Tensor, list[str], tuple[str, str, str]]:
    """Vectors (V, D) where every word but a, b and c has a negative cosine with b - a + c, clearly separated."""
    while True:
        query = _unit(t.randn(3, d, dtype=torch.float64))  # a, b, c
        target = query[1] - query[0] + query[2]
        direction = target / target.norm()
        others = t.randn(v - 3, d, dtype=torch.float64)
        along = others @ direction  # (V - 3,)
        others = others - (along.abs() + 0.1 + along).unsqueeze(1) * direction  # now each along = -(|along| + 0.1)
        vectors = torch.cat([query, others * torch.exp(t.randn(v - 3, 1, dtype=torch.float64))]).float()
        order = torch.randperm(v, generator=t.rng)
        vectors = vectors[order]
        words = random_words(t, v)
        where = order.argsort().tolist()  # the new positions of a, b, c
        a, b, c = words[where[0]], words[where[1]], words[where[2]]
        if analogy_margin(vectors, words, a, b, c) > 1e-3:
            return vectors, words, (a, b, c)


@solve_analogy.case("every word but a, b and c has a negative cosine with b - a + c")
def _(t: Trial) -> None:
    vectors, words, (a, b, c) = negative_question(t, t.py.randint(6, 12), t.py.randint(3, 6))
    check_analogy(t, vectors, words, a, b, c)

"""Plausible wrong answers to chapter 3's exercises, each with a phrase the grader's message must contain."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from . import WrongAnswer

# --- cosine_similarity_matrix ------------------------------------------------------------------


def cos_not_normalised(x):
    return x @ x.T


def cos_columns(x):
    x = x / x.norm(dim=0, keepdim=True)
    return x @ x.T


def cos_one_side(x):
    return F.normalize(x, dim=1) @ x.T


# --- keep_probability --------------------------------------------------------------------------


def _f(counts):
    c = counts.double()
    return c / c.sum()


def keep_discard(counts, sample):
    f = _f(counts)
    return 1 - (((f / sample).sqrt() + 1) * sample / f).clamp(max=1)


def keep_uncapped(counts, sample):
    f = _f(counts)
    return ((f / sample).sqrt() + 1) * sample / f


def keep_raw_counts(counts, sample):
    c = counts.double()
    return (((c / sample).sqrt() + 1) * sample / c).clamp(max=1)


def keep_paper(counts, sample):
    return (sample / _f(counts)).sqrt().clamp(max=1)


# --- sgns_loss ---------------------------------------------------------------------------------


def _scores(v, u, n):
    return (u * v).sum(-1), torch.bmm(n, v.unsqueeze(-1)).squeeze(-1)


def sgns_sign_error(v, u, n):
    pos, neg = _scores(v, u, n)
    return (-F.logsigmoid(pos) - F.logsigmoid(neg).sum(-1)).mean()


def sgns_no_negatives(v, u, n):
    pos, _ = _scores(v, u, n)
    return (-F.logsigmoid(pos)).mean()


def sgns_sum_over_batch(v, u, n):
    pos, neg = _scores(v, u, n)
    return (-F.logsigmoid(pos) - F.logsigmoid(-neg).sum(-1)).sum()


def sgns_unstable(v, u, n):
    pos, neg = _scores(v, u, n)
    return (-torch.log(torch.sigmoid(pos)) - torch.log(torch.sigmoid(-neg)).sum(-1)).mean()


def sgns_likelihood(v, u, n):
    pos, neg = _scores(v, u, n)
    return (F.logsigmoid(pos) + F.logsigmoid(-neg).sum(-1)).mean()


# --- solve_analogy -----------------------------------------------------------------------------


def analogy_includes_inputs(vectors, words, a, b, c):
    unit = F.normalize(vectors, dim=1)
    i = {w: k for k, w in enumerate(words)}
    return words[int((unit @ (unit[i[b]] - unit[i[a]] + unit[i[c]])).argmax())]


def analogy_not_normalised(vectors, words, a, b, c):
    i = {w: k for k, w in enumerate(words)}
    scores = vectors @ (vectors[i[b]] - vectors[i[a]] + vectors[i[c]])
    scores[[i[a], i[b], i[c]]] = float("-inf")
    return words[int(scores.argmax())]


def analogy_wrong_sign(vectors, words, a, b, c):
    unit = F.normalize(vectors, dim=1)
    i = {w: k for k, w in enumerate(words)}
    scores = unit @ (unit[i[a]] - unit[i[b]] + unit[i[c]])
    scores[[i[a], i[b], i[c]]] = float("-inf")
    return words[int(scores.argmax())]


def analogy_returns_index(vectors, words, a, b, c):
    unit = F.normalize(vectors, dim=1)
    i = {w: k for k, w in enumerate(words)}
    scores = unit @ (unit[i[b]] - unit[i[a]] + unit[i[c]])
    scores[[i[a], i[b], i[c]]] = float("-inf")
    return int(scores.argmax())


WRONG_ANSWERS = {
    "ch03.cosine_similarity_matrix": [
        WrongAnswer("not normalised", cos_not_normalised, "forgot to normalise"),
        WrongAnswer("normalised columns", cos_columns, "columns instead of the rows"),
        WrongAnswer("normalised one side", cos_one_side, "only one side"),
    ],
    "ch03.keep_probability": [
        WrongAnswer("discard probability", keep_discard, "probability of discarding"),
        WrongAnswer("not capped at 1", keep_uncapped, "cap the probability at 1"),
        WrongAnswer("raw counts", keep_raw_counts, "raw counts instead of the frequencies"),
        WrongAnswer("paper's formula", keep_paper, "the paper's sqrt(t / f)"),
    ],
    "ch03.sgns_loss": [
        WrongAnswer("sign error in the negative term", sgns_sign_error, "flip the sign inside the negative term"),
        WrongAnswer("no negatives", sgns_no_negatives, "leave out the negative samples"),
        WrongAnswer("summed over the batch", sgns_sum_over_batch, "sum over the batch"),
        WrongAnswer("log(sigmoid) underflows", sgns_unstable, "logsigmoid"),
        WrongAnswer("log-likelihood, not its negative", sgns_likelihood, "forget the minus sign"),
    ],
    "ch03.solve_analogy": [
        WrongAnswer("includes the query words", analogy_includes_inputs, "included the query words"),
        WrongAnswer("not normalised", analogy_not_normalised, "forgot to normalise"),
        WrongAnswer("a - b + c", analogy_wrong_sign, "a - b + c instead of b - a + c"),
        WrongAnswer("returns an index", analogy_returns_index, "should return a word"),
    ],
}

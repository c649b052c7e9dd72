"""Plausible wrong answers to chapter 3's exercises, each with a phrase the grader's message must contain."""

from __future__ import annotations

import math

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


def cos_right_side(x):
    return x @ F.normalize(x, dim=1).T


def cos_over_dimensions(x):
    return x @ x.T / x.shape[1]


def cos_whole_matrix_norm(x):  # right for a single row, where the matrix's norm is the row's
    unit = x / x.norm()
    return unit @ unit.T


def cos_transposed(x):  # (D, D): right shape only for square inputs
    unit = x / x.norm(dim=1, keepdim=True)
    return unit.T @ unit


def cos_squeezed(x):  # a (1, 1) result becomes 0-d
    return F.cosine_similarity(x.unsqueeze(1), x.unsqueeze(0), dim=-1).squeeze()


def cos_float32(x):
    x = x.float()
    unit = x / x.norm(dim=1, keepdim=True)
    return unit @ unit.T


def cos_float32_inside(x):  # float64 out, but computed in float32
    unit = x.float() / x.float().norm(dim=1, keepdim=True)
    return (unit @ unit.T).to(x.dtype)


def cos_in_place(x):
    x /= x.norm(dim=1, keepdim=True)
    return x @ x.T


def cos_big_epsilon(x):  # right for vectors of length about 1, off for short ones
    unit = x / (x.norm(dim=1, keepdim=True) + 1e-3)
    return unit @ unit.T


def cos_numpy(x):
    unit = x.numpy() / (x.numpy() ** 2).sum(1, keepdims=True) ** 0.5
    return unit @ unit.T


def cos_nested_list(x):
    unit = x / x.norm(dim=1, keepdim=True)
    return [[float(unit[i] @ unit[j]) for j in range(len(x))] for i in range(len(x))]


def cos_pairwise_rows(x):  # each row with itself only: (N,)
    return F.cosine_similarity(x, x, dim=1)


# --- keep_probability --------------------------------------------------------------------------


def _f(counts):
    c = counts.double()
    return c / c.sum()


def _formula(f, t):
    return ((f / t).sqrt() + 1) * t / f


def keep_discard(counts, sample):
    return 1 - _formula(_f(counts), sample).clamp(max=1)


def keep_uncapped(counts, sample):
    return _formula(_f(counts), sample)


def keep_raw_counts(counts, sample):
    return _formula(counts.double(), sample).clamp(max=1)


def keep_paper(counts, sample):
    return (sample / _f(counts)).sqrt().clamp(max=1)


def keep_floor(counts, sample):
    return _formula(_f(counts), sample).clamp(min=1)


def keep_cap_only_rare(counts, sample):  # right unless some word's frequency lies between t and about 2.6 t
    f = _f(counts)
    return torch.where(f < sample, torch.ones_like(f), _formula(f, sample))


def keep_inverted_ratio(counts, sample):
    f = _f(counts)
    return (((f / sample).sqrt() + 1) * f / sample).clamp(max=1)


def keep_per_vocabulary_size(counts, sample):
    return _formula(counts.double() / len(counts), sample).clamp(max=1)


def keep_fixed_threshold(counts, sample):  # ignores `sample`
    return _formula(_f(counts), 1e-3).clamp(max=1)


def keep_gensim_default(counts, sample):  # ignores `sample`
    return _formula(_f(counts), 1e-5).clamp(max=1)


def keep_float32(counts, sample):
    f = counts / counts.sum()  # int / int: float32
    return _formula(f, sample).clamp(max=1.0)


def keep_list(counts, sample):
    return _formula(_f(counts), sample).clamp(max=1).tolist()


def keep_numpy(counts, sample):
    f = counts.numpy() / counts.numpy().sum()
    return (((f / sample) ** 0.5 + 1) * sample / f).clip(max=1)


def keep_in_place(counts, sample):  # frequencies in parts per million, written into the caller's counts
    counts.mul_(1_000_000).div_(counts.sum(), rounding_mode="floor")
    return _formula(counts.double() / 1e6, sample).clamp(max=1)


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


def sgns_epsilon_in_log(v, u, n):  # finite, but wrong once σ rounds to 0
    pos, neg = _scores(v, u, n)
    return (-torch.log(torch.sigmoid(pos) + 1e-10) - torch.log(torch.sigmoid(-neg) + 1e-10).sum(-1)).mean()


def sgns_likelihood(v, u, n):
    pos, neg = _scores(v, u, n)
    return (F.logsigmoid(pos) + F.logsigmoid(-neg).sum(-1)).mean()


def sgns_mean_over_negatives(v, u, n):
    pos, neg = _scores(v, u, n)
    return (-F.logsigmoid(pos) - F.logsigmoid(-neg).mean(-1)).mean()


def sgns_positive_as_negative(v, u, n):
    pos, neg = _scores(v, u, n)
    return (-F.logsigmoid(-pos) - F.logsigmoid(-neg).sum(-1)).mean()


def sgns_per_pair(v, u, n):
    pos, neg = _scores(v, u, n)
    return -F.logsigmoid(pos) - F.logsigmoid(-neg).sum(-1)


def sgns_bce_mean(v, u, n):
    pos, neg = _scores(v, u, n)
    scores = torch.cat([pos.unsqueeze(1), neg], dim=1)  # (B, k + 1)
    targets = torch.zeros_like(scores)
    targets[:, 0] = 1
    return F.binary_cross_entropy_with_logits(scores, targets)


def sgns_item(v, u, n):
    pos, neg = _scores(v, u, n)
    return (-F.logsigmoid(pos) - F.logsigmoid(-neg).sum(-1)).mean().item()


def sgns_rewrapped(v, u, n):  # the right number, cut off from autograd
    pos, neg = _scores(v, u, n)
    return torch.tensor((-F.logsigmoid(pos) - F.logsigmoid(-neg).sum(-1)).mean().item())


def sgns_detached_negatives(v, u, n):
    pos, neg = _scores(v, u, n.detach())
    return (-F.logsigmoid(pos) - F.logsigmoid(-neg).sum(-1)).mean()


def sgns_no_grad_scores(v, u, n):
    with torch.no_grad():
        pos, neg = _scores(v, u, n)
    return (-F.logsigmoid(pos) - F.logsigmoid(-neg).sum(-1)).mean()


def sgns_numpy(v, u, n):
    pos = torch.from_numpy((u.numpy() * v.numpy()).sum(-1))
    neg = torch.from_numpy((n.numpy() @ v.numpy()[:, :, None])[..., 0])
    return (-F.logsigmoid(pos) - F.logsigmoid(-neg).sum(-1)).mean()


def sgns_float64(v, u, n):
    pos, neg = _scores(v.double(), u.double(), n.double())
    return (-F.logsigmoid(pos) - F.logsigmoid(-neg).sum(-1)).mean()


def sgns_negates_in_place(v, u, n):
    n.neg_()  # the noise vectors, negated in the caller's tensor
    pos, neg = _scores(v, u, n)
    return (-F.logsigmoid(pos) - F.logsigmoid(neg).sum(-1)).mean()


def sgns_squeezed(v, u, n):  # with k = 1 the (B, 1) scores become (B,) and .sum(-1) sums over the batch
    pos = (u * v).sum(-1)
    neg = torch.bmm(n, v.unsqueeze(-1)).squeeze()
    return (-F.logsigmoid(pos) - F.logsigmoid(-neg).sum(-1)).mean()


def sgns_broadcast(v, u, n):  # (B, k, D) * (B, D) lines v up with the k axis: right only for B = 1
    pos = (u * v).sum(-1)
    neg = (n * v).sum(-1)
    return (-F.logsigmoid(pos) - F.logsigmoid(-neg).sum(-1)).mean()


# --- solve_analogy -----------------------------------------------------------------------------


def _index(words):
    return {w: k for k, w in enumerate(words)}


def analogy_includes_inputs(vectors, words, a, b, c):
    unit = F.normalize(vectors, dim=1)
    i = _index(words)
    return words[int((unit @ (unit[i[b]] - unit[i[a]] + unit[i[c]])).argmax())]


def analogy_not_normalised(vectors, words, a, b, c):
    i = _index(words)
    scores = vectors @ (vectors[i[b]] - vectors[i[a]] + vectors[i[c]])
    scores[[i[a], i[b], i[c]]] = float("-inf")
    return words[int(scores.argmax())]


def analogy_wrong_sign(vectors, words, a, b, c):
    unit = F.normalize(vectors, dim=1)
    i = _index(words)
    scores = unit @ (unit[i[a]] - unit[i[b]] + unit[i[c]])
    scores[[i[a], i[b], i[c]]] = float("-inf")
    return words[int(scores.argmax())]


def analogy_raw_target(vectors, words, a, b, c):
    unit = F.normalize(vectors, dim=1)
    i = _index(words)
    scores = unit @ (vectors[i[b]] - vectors[i[a]] + vectors[i[c]])
    scores[[i[a], i[b], i[c]]] = float("-inf")
    return words[int(scores.argmax())]


def analogy_raw_candidates(vectors, words, a, b, c):
    unit = F.normalize(vectors, dim=1)
    i = _index(words)
    scores = vectors @ (unit[i[b]] - unit[i[a]] + unit[i[c]])
    scores[[i[a], i[b], i[c]]] = float("-inf")
    return words[int(scores.argmax())]


def analogy_zero_out(vectors, words, a, b, c):  # right unless every other word scores below 0
    unit = F.normalize(vectors, dim=1)
    i = _index(words)
    scores = unit @ (unit[i[b]] - unit[i[a]] + unit[i[c]])
    scores[[i[a], i[b], i[c]]] = 0.0
    return words[int(scores.argmax())]


def analogy_shifted_index(vectors, words, a, b, c):  # right only when a, b and c come after the answer
    unit = F.normalize(vectors, dim=1)
    i = _index(words)
    rest = [k for k in range(len(words)) if words[k] not in (a, b, c)]
    scores = unit[rest] @ (unit[i[b]] - unit[i[a]] + unit[i[c]])
    return words[int(scores.argmax())]


def analogy_returns_index(vectors, words, a, b, c):
    unit = F.normalize(vectors, dim=1)
    i = _index(words)
    scores = unit @ (unit[i[b]] - unit[i[a]] + unit[i[c]])
    scores[[i[a], i[b], i[c]]] = float("-inf")
    return int(scores.argmax())


def analogy_returns_list(vectors, words, a, b, c):
    return [analogy_right_but_mutates_words(vectors, list(words), a, b, c)]


def analogy_returns_pair(vectors, words, a, b, c):
    unit = F.normalize(vectors, dim=1)
    i = _index(words)
    scores = unit @ (unit[i[b]] - unit[i[a]] + unit[i[c]])
    scores[[i[a], i[b], i[c]]] = float("-inf")
    best = int(scores.argmax())
    return words[best], float(scores[best])


def analogy_normalises_in_place(vectors, words, a, b, c):
    vectors /= vectors.norm(dim=1, keepdim=True)
    i = _index(words)
    scores = vectors @ (vectors[i[b]] - vectors[i[a]] + vectors[i[c]])
    scores[[i[a], i[b], i[c]]] = -math.inf
    return words[int(scores.argmax())]


def analogy_right_but_mutates_words(vectors, words, a, b, c):
    unit = F.normalize(vectors, dim=1)
    i = _index(words)
    target = unit[i[b]] - unit[i[a]] + unit[i[c]]
    keep = [k for k in range(len(words)) if words[k] not in (a, b, c)]
    for w in (a, b, c):
        words.remove(w)  # the caller's list loses the query words
    return words[int((unit[keep] @ target).argmax())]


def analogy_tensor_word(vectors, words, a, b, c):  # returns the index as a 0-d tensor
    unit = F.normalize(vectors, dim=1)
    i = _index(words)
    scores = unit @ (unit[i[b]] - unit[i[a]] + unit[i[c]])
    scores[[i[a], i[b], i[c]]] = float("-inf")
    return scores.argmax()


WRONG_ANSWERS = {
    "ch03.cosine_similarity_matrix": [
        WrongAnswer("not normalised", cos_not_normalised, "forgot to normalise"),
        WrongAnswer("normalised columns", cos_columns, "columns instead of the rows"),
        WrongAnswer("normalised the left side only", cos_one_side, "only the left factor"),
        WrongAnswer("normalised the right side only", cos_right_side, "only the right factor"),
        WrongAnswer("divided by D", cos_over_dimensions, "number of dimensions"),
        WrongAnswer("norm of the whole matrix", cos_whole_matrix_norm, "norm of the whole matrix"),
        WrongAnswer("unit.T @ unit (square only)", cos_transposed, "wrong order"),
        WrongAnswer("squeezed (fails for one row)", cos_squeezed, "should have shape (1, 1)"),
        WrongAnswer("casts to float32", cos_float32, "should be float64"),
        WrongAnswer("computes in float32, returns float64", cos_float32_inside, "keeps float64 and its precision"),
        WrongAnswer("normalises its input in place", cos_in_place, "changed its input `x` in place"),
        WrongAnswer("large epsilon in the norm", cos_big_epsilon, "is wrong at"),
        WrongAnswer("returns a NumPy array", cos_numpy, "numpy"),
        WrongAnswer("returns a nested list", cos_nested_list, "should be a tensor"),
        WrongAnswer("each row with itself only", cos_pairwise_rows, "should have shape"),
    ],
    "ch03.keep_probability": [
        WrongAnswer("discard probability", keep_discard, "probability of discarding"),
        WrongAnswer("not capped at 1", keep_uncapped, "cap the probability at 1"),
        WrongAnswer("raw counts", keep_raw_counts, "raw counts instead of the frequencies"),
        WrongAnswer("paper's formula", keep_paper, "the paper's sqrt(t / f)"),
        WrongAnswer("clamp(min=1)", keep_floor, "clamp(min=1)"),
        WrongAnswer("caps only words rarer than t", keep_cap_only_rare, "capped only the words rarer than t"),
        WrongAnswer("f/t instead of t/f", keep_inverted_ratio, "f/t instead of t/f"),
        WrongAnswer("divided by the vocabulary size", keep_per_vocabulary_size, "number of words instead"),
        WrongAnswer("hard-coded t = 1e-3", keep_fixed_threshold, "ignored `sample`"),
        WrongAnswer("hard-coded t = 1e-5", keep_gensim_default, "ignored `sample`"),
        WrongAnswer("float32 frequencies", keep_float32, "should be float64"),
        WrongAnswer("returns a list", keep_list, "should be a tensor"),
        WrongAnswer("returns a NumPy array", keep_numpy, "numpy"),
        WrongAnswer("overwrites the counts", keep_in_place, "changed its input `counts` in place"),
    ],
    "ch03.sgns_loss": [
        WrongAnswer("sign error in the negative term", sgns_sign_error, "flipped the sign inside the negative term"),
        WrongAnswer("no negatives", sgns_no_negatives, "left out the negative samples"),
        WrongAnswer("summed over the batch", sgns_sum_over_batch, "summed over the batch"),
        WrongAnswer("log(sigmoid) underflows", sgns_unstable, "right for moderate scores, so this is precision"),
        WrongAnswer("epsilon inside the log", sgns_epsilon_in_log, "adding a small number inside the log"),
        WrongAnswer("log-likelihood, not its negative", sgns_likelihood, "forgot the minus sign"),
        WrongAnswer("mean over the negatives", sgns_mean_over_negatives, "averaged over the k negatives"),
        WrongAnswer("log σ(-x) for the true pair", sgns_positive_as_negative, "for the true pair as well"),
        WrongAnswer("no mean over the batch", sgns_per_pair, "loss of each pair instead of their mean"),
        WrongAnswer("BCE with mean reduction", sgns_bce_mean, "averaged over all B·(k+1) scores"),
        WrongAnswer(".item()", sgns_item, "0-d tensor"),
        WrongAnswer("torch.tensor(loss.item())", sgns_rewrapped, "cut off from autograd"),
        WrongAnswer("detached noise vectors", sgns_detached_negatives, "no gradient reaches `u_negatives`"),
        WrongAnswer("scores under no_grad", sgns_no_grad_scores, "cut off from autograd"),
        WrongAnswer("NumPy round trip", sgns_numpy, "NumPy round trip"),
        WrongAnswer("float64 loss", sgns_float64, "should be float32"),
        WrongAnswer("negates u_negatives in place", sgns_negates_in_place, "changes one of its inputs in place"),
        WrongAnswer("squeeze() (fails for k = 1)", sgns_squeezed, "k=1 is wrong"),
        WrongAnswer("(B, k, D) * (B, D) broadcasting", sgns_broadcast, "give v_center a middle dimension"),
    ],
    "ch03.solve_analogy": [
        WrongAnswer("includes the query words", analogy_includes_inputs, "included the query words"),
        WrongAnswer("not normalised", analogy_not_normalised, "forgot to normalise"),
        WrongAnswer("a - b + c", analogy_wrong_sign, "a - b + c instead of b - a + c"),
        WrongAnswer("target from raw vectors", analogy_raw_target, "built b - a + c from the raw vectors"),
        WrongAnswer("raw candidates", analogy_raw_candidates, "scored the raw candidate vectors"),
        WrongAnswer("query words set to 0", analogy_zero_out, "setting their scores to 0"),
        WrongAnswer("position among the remaining words", analogy_shifted_index, "shifts the words after them"),
        WrongAnswer("returns an index", analogy_returns_index, "not its index"),
        WrongAnswer("returns a list", analogy_returns_list, "should return one word"),
        WrongAnswer("returns (word, score)", analogy_returns_pair, "should return one word"),
        WrongAnswer("returns a tensor", analogy_tensor_word, "should return a word (a str)"),
        WrongAnswer("normalises the vectors in place", analogy_normalises_in_place, "changed its input `vectors`"),
        WrongAnswer("removes the query words from `words`", analogy_right_but_mutates_words,
                    "changed its input `words` in place"),
    ],
}

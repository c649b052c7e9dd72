"""Plausible wrong answers to chapter 3's exercises, each with a phrase the grader's message must contain."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from . import WrongAnswer

# --- cbow_windows ------------------------------------------------------------------------------


def _windows(ids, window, pad=0):
    n = len(ids)
    rows, masks = [], []
    for i in range(n):
        row, real = [], []
        for j in [*range(i - window, i), *range(i + 1, i + window + 1)]:
            inside = 0 <= j < n
            row.append(int(ids[j]) if inside else pad)
            real.append(inside)
        rows.append(row)
        masks.append(real)
    return torch.tensor(rows, dtype=torch.int64).reshape(n, 2 * window), torch.tensor(masks).reshape(n, 2 * window)


def windows_rolled(ids, window):  # wraps around the sentence's ends
    cols = [torch.roll(ids, -d) for d in [*range(-window, 0), *range(1, window + 1)]]
    _, mask = _windows(ids, window)
    return torch.stack(cols, 1), mask


def windows_all_real(ids, window):
    contexts, mask = _windows(ids, window)
    return contexts, torch.ones_like(mask)


def windows_right_first(ids, window):
    contexts, mask = _windows(ids, window)
    return (torch.cat([contexts[:, window:], contexts[:, :window]], 1),
            torch.cat([mask[:, window:], mask[:, :window]], 1))


def windows_nearest_first(ids, window):
    contexts, mask = _windows(ids, window)
    return (torch.cat([contexts[:, :window].flip(1), contexts[:, window:]], 1),
            torch.cat([mask[:, :window].flip(1), mask[:, window:]], 1))


def windows_pad_minus_one(ids, window):
    return _windows(ids, window, pad=-1)


def windows_with_center(ids, window):  # keeps the middle column: (N, 2W + 1)
    padded = torch.cat([ids.new_zeros(window), ids, ids.new_zeros(window)])
    real = torch.cat([torch.zeros(window, dtype=torch.bool), torch.ones(len(ids), dtype=torch.bool),
                      torch.zeros(window, dtype=torch.bool)])
    return padded.unfold(0, 2 * window + 1, 1), real.unfold(0, 2 * window + 1, 1)


def windows_int_mask(ids, window):
    contexts, mask = _windows(ids, window)
    return contexts, mask.long()


def windows_int32(ids, window):
    contexts, mask = _windows(ids, window)
    return contexts.int(), mask


def windows_lists(ids, window):
    contexts, mask = _windows(ids, window)
    return contexts.tolist(), mask.tolist()


def windows_pads_in_place(ids, window):  # writes the edges into the caller's ids
    contexts, mask = _windows(ids, window)
    ids[0] = 0
    return contexts, mask


def windows_fixed_window(ids, window):  # always window 2
    return _windows(ids, 2)


def windows_short_sentence(ids, window):  # right unless the sentence is shorter than 2W + 1
    if len(ids) < 2 * window + 1:
        return windows_rolled(ids, window)
    return _windows(ids, window)


# --- cbow_ns_loss ------------------------------------------------------------------------------


def _h(cv, mask):
    m = mask.to(cv.dtype).unsqueeze(-1)
    return (cv * m).sum(1) / m.sum(1)


def _loss_from(h, uc, un, neg_sign=-1.0, reduce_neg="sum", reduce_batch="mean"):
    pos = (uc * h).sum(-1)
    neg = (un * h.unsqueeze(1)).sum(-1)
    neg_term = F.logsigmoid(neg_sign * neg)
    neg_term = neg_term.sum(-1) if reduce_neg == "sum" else neg_term.mean(-1)
    per_row = -F.logsigmoid(pos) - neg_term
    return per_row.mean() if reduce_batch == "mean" else per_row.sum() if reduce_batch == "sum" else per_row


def loss_padding_in_average(cv, mask, uc, un):
    return _loss_from(cv.mean(1), uc, un)


def loss_sum_of_contexts(cv, mask, uc, un):
    return _loss_from((cv * mask.unsqueeze(-1)).sum(1), uc, un)


def loss_divided_by_c(cv, mask, uc, un):
    return _loss_from((cv * mask.unsqueeze(-1)).sum(1) / cv.shape[1], uc, un)


def loss_sign_error(cv, mask, uc, un):
    return _loss_from(_h(cv, mask), uc, un, neg_sign=1.0)


def loss_mean_over_negatives(cv, mask, uc, un):
    return _loss_from(_h(cv, mask), uc, un, reduce_neg="mean")


def loss_summed_over_batch(cv, mask, uc, un):
    return _loss_from(_h(cv, mask), uc, un, reduce_batch="sum")


def loss_per_row(cv, mask, uc, un):
    return _loss_from(_h(cv, mask), uc, un, reduce_batch="none")


def loss_likelihood(cv, mask, uc, un):
    return -_loss_from(_h(cv, mask), uc, un)


def loss_skipgram_per_context(cv, mask, uc, un):  # skip-gram's loss for each context word, averaged
    m = mask.to(cv.dtype)
    pos = (cv * uc.unsqueeze(1)).sum(-1)  # (B, C)
    neg = torch.einsum("bcd,bkd->bck", cv, un)
    each = -F.logsigmoid(pos) - F.logsigmoid(-neg).sum(-1)
    return ((each * m).sum(1) / m.sum(1)).mean()


def loss_item(cv, mask, uc, un):
    return _loss_from(_h(cv, mask), uc, un).item()


def loss_rewrapped(cv, mask, uc, un):
    return torch.tensor(_loss_from(_h(cv, mask), uc, un).item())


def loss_detached_contexts(cv, mask, uc, un):
    return _loss_from(_h(cv.detach(), mask), uc, un)


def loss_float64(cv, mask, uc, un):
    return _loss_from(_h(cv.double(), mask), uc.double(), un.double())


def loss_zeroes_padding_in_place(cv, mask, uc, un):
    with torch.no_grad():
        cv[~mask] = 0  # the caller's padded vectors, overwritten
    return _loss_from(_h(cv, mask), uc, un)


def loss_squeezed(cv, mask, uc, un):  # with K = 1 the (B, 1) scores become (B,) and .sum(-1) sums the batch
    h = _h(cv, mask)
    pos = (uc * h).sum(-1)
    neg = torch.bmm(un, h.unsqueeze(-1)).squeeze()
    return (-F.logsigmoid(pos) - F.logsigmoid(-neg).sum(-1)).mean()


def loss_unstable(cv, mask, uc, un):  # log(sigmoid(x)): loses precision in float64 far from 0
    h = _h(cv, mask)
    pos = (uc * h).sum(-1)
    neg = (un * h.unsqueeze(1)).sum(-1)
    return (-torch.log(torch.sigmoid(pos).float()) - torch.log(torch.sigmoid(-neg).float()).sum(-1)).mean().to(
        cv.dtype)


# --- sgns_grads --------------------------------------------------------------------------------


def _sgns_errors(v, u, n):
    pos = (u * v).sum(-1)
    neg = (n * v.unsqueeze(1)).sum(-1)
    return pos, neg


def _sgns_grads(v, u, n, e_pos, e_neg, scale):
    g_v = e_pos.unsqueeze(-1) * u + (e_neg.unsqueeze(-1) * n).sum(1)
    return scale * g_v, scale * e_pos.unsqueeze(-1) * v, scale * e_neg.unsqueeze(-1) * v.unsqueeze(1)


def sgns_sigma_for_true_pair(v, u, n):
    pos, neg = _sgns_errors(v, u, n)
    return _sgns_grads(v, u, n, torch.sigmoid(pos), torch.sigmoid(neg), 1 / len(v))


def sgns_minus_one_for_noise(v, u, n):
    pos, neg = _sgns_errors(v, u, n)
    return _sgns_grads(v, u, n, torch.sigmoid(pos) - 1, torch.sigmoid(neg) - 1, 1 / len(v))


def sgns_sign_flipped(v, u, n):
    pos, neg = _sgns_errors(v, u, n)
    return _sgns_grads(v, u, n, 1 - torch.sigmoid(pos), -torch.sigmoid(neg), 1 / len(v))


def sgns_summed_loss(v, u, n):  # the gradient of the sum, as sgd_step uses
    pos, neg = _sgns_errors(v, u, n)
    return _sgns_grads(v, u, n, torch.sigmoid(pos) - 1, torch.sigmoid(neg), 1.0)


def sgns_negatives_without_v(v, u, n):
    pos, neg = _sgns_errors(v, u, n)
    g_v, g_u, _ = _sgns_grads(v, u, n, torch.sigmoid(pos) - 1, torch.sigmoid(neg), 1 / len(v))
    return g_v, g_u, (torch.sigmoid(neg) / len(v)).unsqueeze(-1).expand_as(n).clone()


def sgns_negatives_times_u(v, u, n):
    pos, neg = _sgns_errors(v, u, n)
    g_v, g_u, _ = _sgns_grads(v, u, n, torch.sigmoid(pos) - 1, torch.sigmoid(neg), 1 / len(v))
    return g_v, g_u, torch.sigmoid(neg).unsqueeze(-1) * n / len(v)


def sgns_v_without_noise(v, u, n):
    pos, neg = _sgns_errors(v, u, n)
    _, g_u, g_n = _sgns_grads(v, u, n, torch.sigmoid(pos) - 1, torch.sigmoid(neg), 1 / len(v))
    return (torch.sigmoid(pos) - 1).unsqueeze(-1) * u / len(v), g_u, g_n


def sgns_autograd_backward(v, u, n):  # the check asks for the formula, not autograd
    leaves = [x.detach().clone().requires_grad_() for x in (v, u, n)]
    lv, lu, ln = leaves
    (-F.logsigmoid((lu * lv).sum(-1)) - F.logsigmoid(-(ln * lv.unsqueeze(1)).sum(-1)).sum(-1)).mean().backward()
    return tuple(x.grad for x in leaves)


def sgns_autograd_grad(v, u, n):
    lv, lu, ln = (x.detach().requires_grad_() for x in (v, u, n))
    loss = (-F.logsigmoid((lu * lv).sum(-1)) - F.logsigmoid(-(ln * lv.unsqueeze(1)).sum(-1)).sum(-1)).mean()
    return torch.autograd.grad(loss, [lv, lu, ln])


def sgns_float64(v, u, n):
    v, u, n = v.double(), u.double(), n.double()
    pos, neg = _sgns_errors(v, u, n)
    return _sgns_grads(v, u, n, torch.sigmoid(pos) - 1, torch.sigmoid(neg), 1 / len(v))


def sgns_list(v, u, n):
    return [*sgns_float64(v, u, n)][:2]  # forgets the noise vectors' gradient


def sgns_broadcast(v, u, n):  # (B, K, D) * (B, D) lines v up with the K axis: right only for B = 1 or B = K
    pos = (u * v).sum(-1)
    neg = (n * v).sum(-1)
    return _sgns_grads(v, u, n, torch.sigmoid(pos) - 1, torch.sigmoid(neg), 1 / len(v))


def sgns_in_place(v, u, n):
    pos, neg = _sgns_errors(v, u, n)
    e_pos, e_neg = (torch.sigmoid(pos) - 1) / len(v), torch.sigmoid(neg) / len(v)
    g_u = e_pos.unsqueeze(-1) * v
    g_v = e_pos.unsqueeze(-1) * u + (e_neg.unsqueeze(-1) * n).sum(1)
    with torch.no_grad():
        n.mul_(0)  # reuses the caller's tensor as scratch space
    return g_v, g_u, e_neg.unsqueeze(-1) * v.unsqueeze(1) + n


# --- cbow_ns_grads -----------------------------------------------------------------------------


def _cbow(cv, mask, uc, un, *, share="right", h_kind="mean", e_pos_fn=None, e_neg_fn=None, scale=None,
          neg_factor="h"):
    b, c = cv.shape[:2]
    m = mask.to(cv.dtype)
    n_real = m.sum(1, keepdim=True)
    h = {"mean": (cv * m.unsqueeze(-1)).sum(1) / n_real, "all": cv.mean(1), "sum": (cv * m.unsqueeze(-1)).sum(1),
         "over_c": (cv * m.unsqueeze(-1)).sum(1) / c}[h_kind]
    pos = (uc * h).sum(-1)
    neg = (un * h.unsqueeze(1)).sum(-1)
    e_pos = (e_pos_fn or (lambda s: torch.sigmoid(s) - 1))(pos)
    e_neg = (e_neg_fn or torch.sigmoid)(neg)
    scale = 1 / b if scale is None else scale
    g_h = e_pos.unsqueeze(-1) * uc + (e_neg.unsqueeze(-1) * un).sum(1)
    weights = {"right": m / n_real, "all": torch.full_like(m, 1 / c), "mask": m, "padding_too": torch.ones_like(m) /
               n_real, "over_c": m / c}[share]
    g_cv = weights.unsqueeze(-1) * g_h.unsqueeze(1)
    g_un = e_neg.unsqueeze(-1) * h.unsqueeze(1) if neg_factor == "h" else e_neg.unsqueeze(-1).expand_as(un).clone()
    return scale * g_cv, scale * e_pos.unsqueeze(-1) * h, scale * g_un


def cbow_padding_in_average(cv, mask, uc, un):
    return _cbow(cv, mask, uc, un, share="all", h_kind="all")


def cbow_sum_of_contexts(cv, mask, uc, un):
    return _cbow(cv, mask, uc, un, share="mask", h_kind="sum")


def cbow_over_c(cv, mask, uc, un):
    return _cbow(cv, mask, uc, un, share="over_c", h_kind="over_c")


def cbow_padding_gets_gradient(cv, mask, uc, un):
    return _cbow(cv, mask, uc, un, share="padding_too")


def cbow_no_one_over_n(cv, mask, uc, un):
    return _cbow(cv, mask, uc, un, share="mask")


def cbow_sigma_for_center(cv, mask, uc, un):
    return _cbow(cv, mask, uc, un, e_pos_fn=torch.sigmoid)


def cbow_minus_one_for_noise(cv, mask, uc, un):
    return _cbow(cv, mask, uc, un, e_neg_fn=lambda s: torch.sigmoid(s) - 1)


def cbow_sign_flipped(cv, mask, uc, un):
    return tuple(-g for g in _cbow(cv, mask, uc, un))


def cbow_summed_loss(cv, mask, uc, un):
    return _cbow(cv, mask, uc, un, scale=1.0)


def cbow_negatives_without_h(cv, mask, uc, un):
    return _cbow(cv, mask, uc, un, neg_factor="none")


def cbow_autograd(cv, mask, uc, un):
    leaves = [x.detach().clone().requires_grad_() for x in (cv, uc, un)]
    lcv, luc, lun = leaves
    m = mask.to(cv.dtype).unsqueeze(-1)
    h = (lcv * m).sum(1) / m.sum(1)
    loss = (-F.logsigmoid((luc * h).sum(-1)) - F.logsigmoid(-(lun * h.unsqueeze(1)).sum(-1)).sum(-1)).mean()
    loss.backward()
    return tuple(x.grad for x in leaves)


def cbow_float32(cv, mask, uc, un):
    return tuple(g.float() for g in _cbow(cv, mask, uc, un))


def cbow_squeezed(cv, mask, uc, un):  # .squeeze() drops the batch dimension of a batch of one
    return tuple(g.squeeze() for g in _cbow(cv, mask, uc, un))


def cbow_in_place(cv, mask, uc, un):
    grads = _cbow(cv, mask, uc, un)
    with torch.no_grad():
        cv[~mask] = 0.0  # zeroes the caller's padded vectors
    return grads


WRONG_ANSWERS = {
    "ch03.cbow_windows": [
        WrongAnswer("wraps around with torch.roll", windows_rolled, "wrapped around the ends of the sentence"),
        WrongAnswer("padding marked as real", windows_all_real, "marked the padding positions as real words"),
        WrongAnswer("right context first", windows_right_first, "words after the center before the words before"),
        WrongAnswer("left context nearest first", windows_nearest_first, "left-hand words nearest first"),
        WrongAnswer("pads with -1", windows_pad_minus_one, "padded with -1 instead of 0"),
        WrongAnswer("keeps the center column", windows_with_center, "should have shape"),
        WrongAnswer("int mask", windows_int_mask, "but should be bool"),
        WrongAnswer("int32 ids", windows_int32, "but should be int64"),
        WrongAnswer("returns lists", windows_lists, "should be a tensor"),
        WrongAnswer("overwrites ids", windows_pads_in_place, "changed its input `ids` in place"),
        WrongAnswer("hard-coded window 2", windows_fixed_window, "should have shape"),
        WrongAnswer("wraps only for short sentences", windows_short_sentence, "a sentence shorter than the window"),
    ],
    "ch03.cbow_ns_loss": [
        WrongAnswer("padding in the average", loss_padding_in_average, "included the padding positions"),
        WrongAnswer("sum of the contexts", loss_sum_of_contexts, "summed the context vectors instead of averaging"),
        WrongAnswer("divided by C", loss_divided_by_c, "divided by the window width C"),
        WrongAnswer("sign error in the noise term", loss_sign_error, "flipped the sign inside the noise words"),
        WrongAnswer("mean over the negatives", loss_mean_over_negatives, "averaged over the k noise words"),
        WrongAnswer("summed over the batch", loss_summed_over_batch, "summed over the batch"),
        WrongAnswer("loss per row", loss_per_row, "should have shape ()"),
        WrongAnswer("log-likelihood", loss_likelihood, "forgot the minus sign"),
        WrongAnswer("skip-gram per context word", loss_skipgram_per_context, "scored every context word on its own"),
        WrongAnswer(".item()", loss_item, "0-d tensor"),
        WrongAnswer("torch.tensor(loss.item())", loss_rewrapped, "cut off from autograd"),
        WrongAnswer("detached context vectors", loss_detached_contexts, "no gradient reaches `context_vectors`"),
        WrongAnswer("float64 loss", loss_float64, "but should be float32"),
        WrongAnswer("zeroes the padded vectors in place", loss_zeroes_padding_in_place, "in place"),
        WrongAnswer("squeeze() (fails for K = 1)", loss_squeezed, "K=1"),
        WrongAnswer("log(sigmoid) in float32", loss_unstable, "float64"),
    ],
    "ch03.sgns_grads": [
        WrongAnswer("σ(s) for the true pair", sgns_sigma_for_true_pair, "used σ(s) for the true context word"),
        WrongAnswer("σ(s) - 1 for the noise words", sgns_minus_one_for_noise, "used σ(s) - 1 for the noise words"),
        WrongAnswer("sign flipped", sgns_sign_flipped, "flipped the sign of every gradient"),
        WrongAnswer("gradient of the summed loss", sgns_summed_loss, "forgot to divide by the batch size"),
        WrongAnswer("noise gradient without v", sgns_negatives_without_v, "left the factor v_center out"),
        WrongAnswer("noise gradient times u", sgns_negatives_times_u, "by their own vectors u_k"),
        WrongAnswer("v gradient without the noise words", sgns_v_without_noise, "left the noise words out"),
        WrongAnswer("autograd with .backward()", sgns_autograd_backward, "called autograd"),
        WrongAnswer("torch.autograd.grad", sgns_autograd_grad, "called autograd"),
        WrongAnswer("float64 gradients", sgns_float64, "but should be float32"),
        WrongAnswer("two gradients only", sgns_list, "has 2 items"),
        WrongAnswer("(B, K, D) * (B, D) broadcasting", sgns_broadcast, "middle dimension of 1"),
        WrongAnswer("scratch space in u_negatives", sgns_in_place, "changed its input `u_negatives` in place"),
    ],
    "ch03.cbow_ns_grads": [
        WrongAnswer("padding in the average", cbow_padding_in_average, "included the padding positions"),
        WrongAnswer("sum of the contexts", cbow_sum_of_contexts, "summed the context vectors instead of averaging"),
        WrongAnswer("divided by C", cbow_over_c, "divided by the window width C"),
        WrongAnswer("padding gets a gradient", cbow_padding_gets_gradient, "gave the padding positions a share"),
        WrongAnswer("no 1/n", cbow_no_one_over_n, "forgot the 1/n of the average"),
        WrongAnswer("σ(s) for the center", cbow_sigma_for_center, "used σ(s) for the true center word"),
        WrongAnswer("σ(s) - 1 for the noise words", cbow_minus_one_for_noise, "used σ(s) - 1 for the noise words"),
        WrongAnswer("sign flipped", cbow_sign_flipped, "flipped the sign of every gradient"),
        WrongAnswer("gradient of the summed loss", cbow_summed_loss, "forgot to divide by the batch size"),
        WrongAnswer("noise gradient without h", cbow_negatives_without_h, "left the factor h out"),
        WrongAnswer("autograd", cbow_autograd, "called autograd"),
        WrongAnswer("float32 gradients for float64 input", cbow_float32, "but should be float64"),
        WrongAnswer("squeeze() (fails for B = 1)", cbow_squeezed, "should have shape"),
        WrongAnswer("zeroes the padded vectors in place", cbow_in_place, "changed its input `context_vectors`"),
    ],
}

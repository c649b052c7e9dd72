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


# --- glove_loss --------------------------------------------------------------------------------


def _glove(W, C, b_w, b_c, rows, cols, counts, x_max, alpha, *, weight="right", target="ln", biases=True,
           reduce="sum", square=True, swap=False, counts_dtype=None):
    """GloVe's objective, or one of its mistakes."""
    x = counts.to(counts_dtype or W.dtype)
    i, j = (cols, rows) if swap else (rows, cols)
    prediction = (W[i] * C[j]).sum(-1) + ((b_w[i] + b_c[j]) if biases else 0)
    f = {"right": torch.where(x < x_max, (x / x_max) ** alpha, torch.ones_like(x)), "none": torch.ones_like(x),
         "uncapped": (x / x_max) ** alpha, "x_alpha": torch.where(x < x_max, x**alpha / x_max, torch.ones_like(x)),
         "times_alpha": torch.where(x < x_max, alpha * x / x_max, torch.ones_like(x))}[weight]
    goal = {"ln": torch.log(x), "log1p": torch.log1p(x), "log10": torch.log10(x)}[target]
    err = prediction - goal
    terms = f.to(W.dtype) * (err**2 if square else err)
    return {"sum": terms.sum(), "mean": terms.mean(), "half": terms.sum() / 2}[reduce]


def glove_dense(W, C, b_w, b_c, rows, cols, counts, x_max, alpha):  # every cell of a dense V×V matrix
    v = W.shape[0]
    X = torch.zeros(v, v, dtype=W.dtype)
    X[rows, cols] = counts.to(W.dtype)
    f = torch.where(X < x_max, (X / x_max) ** alpha, torch.ones_like(X))
    return (f * (W @ C.T + b_w[:, None] + b_c[None, :] - torch.log(X)) ** 2).sum()


def glove_no_weight(*args):
    return _glove(*args, weight="none")


def glove_uncapped(*args):
    return _glove(*args, weight="uncapped")


def glove_count_to_alpha(*args):
    return _glove(*args, weight="x_alpha")


def glove_times_alpha(*args):
    return _glove(*args, weight="times_alpha")


def glove_log1p(*args):
    return _glove(*args, target="log1p")


def glove_log10(*args):
    return _glove(*args, target="log10")


def glove_no_biases(*args):
    return _glove(*args, biases=False)


def glove_mean(*args):
    return _glove(*args, reduce="mean")


def glove_half(*args):
    return _glove(*args, reduce="half")


def glove_unsquared(*args):
    return _glove(*args, square=False)


def glove_swapped(*args):
    return _glove(*args, swap=True)


def glove_int_counts(W, C, b_w, b_c, rows, cols, counts, x_max, alpha):  # log and f of int64: float32 numbers
    f = torch.where(counts < x_max, (counts / x_max) ** alpha, 1.0)
    return (f * ((W[rows] * C[cols]).sum(-1) + b_w[rows] + b_c[cols] - torch.log(counts)) ** 2).sum()


def glove_float32_total(W, C, b_w, b_c, rows, cols, counts, x_max, alpha):  # a running total made by torch.tensor
    x = counts.to(W.dtype)
    f = torch.where(x < x_max, (x / x_max) ** alpha, torch.ones_like(x))
    total = torch.tensor(0.0)  # float32: with a bfloat16 sum (both 0-d) the result is float32
    return total + (f * ((W[rows] * C[cols]).sum(-1) + b_w[rows] + b_c[cols] - torch.log(x)) ** 2).sum()


def glove_float64(W, C, b_w, b_c, rows, cols, counts, x_max, alpha):
    return _glove(W.double(), C.double(), b_w.double(), b_c.double(), rows, cols, counts, x_max, alpha)


def glove_item(*args):
    return _glove(*args).item()


def glove_detached_C(W, C, b_w, b_c, *rest):
    return _glove(W, C.detach(), b_w, b_c, *rest)


def glove_per_cell(W, C, b_w, b_c, rows, cols, counts, x_max, alpha):  # the weighted squares, not their sum
    x = counts.to(W.dtype)
    f = torch.where(x < x_max, (x / x_max) ** alpha, torch.ones_like(x))
    return f * ((W[rows] * C[cols]).sum(-1) + b_w[rows] + b_c[cols] - torch.log(x)) ** 2


def glove_flat_view(W, C, b_w, b_c, rows, cols, counts, x_max, alpha):  # reads W's memory as if row-major
    d = W.shape[1]
    flat = W.view(-1)  # fails for a transposed table
    w_rows = flat[(rows[:, None] * d + torch.arange(d)).reshape(-1)].reshape(len(rows), d)
    x = counts.to(W.dtype)
    f = torch.where(x < x_max, (x / x_max) ** alpha, torch.ones_like(x))
    return (f * ((w_rows * C[cols]).sum(-1) + b_w[rows] + b_c[cols] - torch.log(x)) ** 2).sum()


def glove_logs_in_place(W, C, b_w, b_c, rows, cols, counts, x_max, alpha):
    x = counts.to(W.dtype)
    loss = _glove(W, C, b_w, b_c, rows, cols, counts, x_max, alpha)
    counts.clamp_(max=int(x_max))  # caps the caller's counts
    return loss + 0 * x.sum()


# --- glove_grads -------------------------------------------------------------------------------


def _glove_g(W, C, b_w, b_c, rows, cols, counts, x_max, alpha, weight="right"):
    """Each cell's dJ/d(prediction), (nnz,)."""
    x = counts.to(W.dtype)
    f = {"right": torch.where(x < x_max, (x / x_max) ** alpha, torch.ones_like(x)), "none": torch.ones_like(x),
         "uncapped": (x / x_max) ** alpha}[weight]
    return 2 * f * ((W[rows] * C[cols]).sum(-1) + b_w[rows] + b_c[cols] - torch.log(x))


def _scatter(W, C, rows, cols, g, assign=False):
    dW, dC, db_w, db_c = (torch.zeros_like(W), torch.zeros_like(C), W.new_zeros(W.shape[0]),
                          C.new_zeros(C.shape[0]))
    if assign:
        dW[rows], dC[cols], db_w[rows], db_c[cols] = g[:, None] * C[cols], g[:, None] * W[rows], g, g
        return dW, dC, db_w, db_c
    return (dW.index_add(0, rows, g[:, None] * C[cols]), dC.index_add(0, cols, g[:, None] * W[rows]),
            db_w.index_add(0, rows, g), db_c.index_add(0, cols, g))


def grads_assigned(W, C, b_w, b_c, rows, cols, *rest):
    with torch.no_grad():
        return _scatter(W, C, rows, cols, _glove_g(W, C, b_w, b_c, rows, cols, *rest), assign=True)


def grads_no_two(W, C, b_w, b_c, rows, cols, *rest):
    return _scatter(W, C, rows, cols, _glove_g(W, C, b_w, b_c, rows, cols, *rest) / 2)


def grads_sign(W, C, b_w, b_c, rows, cols, *rest):
    return _scatter(W, C, rows, cols, -_glove_g(W, C, b_w, b_c, rows, cols, *rest))


def grads_no_weight(W, C, b_w, b_c, rows, cols, *rest):
    return _scatter(W, C, rows, cols, _glove_g(W, C, b_w, b_c, rows, cols, *rest, weight="none"))


def grads_uncapped(W, C, b_w, b_c, rows, cols, *rest):
    return _scatter(W, C, rows, cols, _glove_g(W, C, b_w, b_c, rows, cols, *rest, weight="uncapped"))


def grads_mean(W, C, b_w, b_c, rows, cols, *rest):
    return _scatter(W, C, rows, cols, _glove_g(W, C, b_w, b_c, rows, cols, *rest) / len(rows))


def grads_own_vector(W, C, b_w, b_c, rows, cols, *rest):
    g = _glove_g(W, C, b_w, b_c, rows, cols, *rest)
    _, _, db_w, db_c = _scatter(W, C, rows, cols, g)
    return (torch.zeros_like(W).index_add(0, rows, g[:, None] * W[rows]),
            torch.zeros_like(C).index_add(0, cols, g[:, None] * C[cols]), db_w, db_c)


def grads_no_bias_grads(W, C, b_w, b_c, rows, cols, *rest):
    dW, dC, _, _ = _scatter(W, C, rows, cols, _glove_g(W, C, b_w, b_c, rows, cols, *rest))
    return dW, dC, torch.zeros_like(b_w), torch.zeros_like(b_c)


def grads_swapped(W, C, b_w, b_c, rows, cols, *rest):
    g = _glove_g(W, C, b_w, b_c, cols, rows, *rest)  # w_j·c_i + b_w[j] + b_c[i]: the transposed model
    dW, dC, db_w, db_c = (torch.zeros_like(W), torch.zeros_like(C), torch.zeros_like(b_w), torch.zeros_like(b_c))
    return (dW.index_add(0, cols, g[:, None] * C[rows]), dC.index_add(0, rows, g[:, None] * W[cols]),
            db_w.index_add(0, cols, g), db_c.index_add(0, rows, g))


def grads_per_cell(W, C, b_w, b_c, rows, cols, *rest):  # each cell's contribution, never collected per word
    g = _glove_g(W, C, b_w, b_c, rows, cols, *rest)
    return g[:, None] * C[cols], g[:, None] * W[rows], g, g


def grads_sized_by_max_row(W, C, b_w, b_c, rows, cols, *rest):  # as many rows as the largest id seen
    g = _glove_g(W, C, b_w, b_c, rows, cols, *rest)
    n_w, n_c = int(rows.max()) + 1, int(cols.max()) + 1
    return (W.new_zeros(n_w, W.shape[1]).index_add(0, rows, g[:, None] * C[cols]),
            C.new_zeros(n_c, C.shape[1]).index_add(0, cols, g[:, None] * W[rows]),
            W.new_zeros(n_w).index_add(0, rows, g), C.new_zeros(n_c).index_add(0, cols, g))


def grads_autograd(W, C, b_w, b_c, rows, cols, counts, x_max, alpha):
    loss = _glove(W, C, b_w, b_c, rows, cols, counts, x_max, alpha)
    return torch.autograd.grad(loss, (W, C, b_w, b_c))


def grads_float32(W, C, b_w, b_c, rows, cols, *rest):
    return tuple(d.float() for d in _scatter(W, C, rows, cols, _glove_g(W, C, b_w, b_c, rows, cols, *rest)))


def grads_three(W, C, b_w, b_c, rows, cols, *rest):  # one bias gradient only
    dW, dC, db_w, _ = _scatter(W, C, rows, cols, _glove_g(W, C, b_w, b_c, rows, cols, *rest))
    return dW, dC, db_w


def grads_into_W(W, C, b_w, b_c, rows, cols, *rest):  # accumulates into the caller's W as scratch space
    g = _glove_g(W, C, b_w, b_c, rows, cols, *rest).detach()
    grads = _scatter(W, C, rows, cols, g)
    with torch.no_grad():
        W.mul_(0)
    return grads


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


def cbow_naive_sigmoid_center(cv, mask, uc, un):  # σ(s) - 1 as -exp(-s) / (1 + exp(-s)): inf / inf at s << 0
    return _cbow(cv, mask, uc, un, e_pos_fn=lambda s: -torch.exp(-s) / (1 + torch.exp(-s)))


def cbow_naive_sigmoid_noise(cv, mask, uc, un):  # σ(s) as exp(s) / (1 + exp(s)): inf / inf at s >> 0
    return _cbow(cv, mask, uc, un, e_neg_fn=lambda s: torch.exp(s) / (1 + torch.exp(s)))


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


def cbow_float_mask(cv, mask, uc, un):  # mask.float(): float32 shares turn bfloat16 gradients into float32
    b = cv.shape[0]
    m = mask.float()
    n = m.sum(1, keepdim=True)
    h = (cv * m.unsqueeze(-1)).sum(1) / n
    e_pos = (torch.sigmoid((uc * h).sum(-1)) - 1) / b
    e_neg = torch.sigmoid((un * h.unsqueeze(1)).sum(-1)) / b
    g_h = e_pos.unsqueeze(-1) * uc + (e_neg.unsqueeze(-1) * un).sum(1)
    return (m / n).unsqueeze(-1) * g_h.unsqueeze(1), e_pos.unsqueeze(-1) * h, e_neg.unsqueeze(-1) * h.unsqueeze(1)


def cbow_squeezed(cv, mask, uc, un):  # .squeeze() drops the batch dimension of a batch of one
    return tuple(g.squeeze() for g in _cbow(cv, mask, uc, un))


def cbow_in_place(cv, mask, uc, un):
    grads = _cbow(cv, mask, uc, un)
    with torch.no_grad():
        cv[~mask] = 0.0  # zeroes the caller's padded vectors
    return grads


# --- train_glove -------------------------------------------------------------------------------


def _train(rows, cols, counts, V, D, epochs, lr, x_max, alpha, generator, *, update="adagrad", weighted=True,
           sign=1.0, sums=None, start="stated", biases=True, in_turn=False, skip=0):
    if start in ("stated", "C first"):
        W = (torch.rand(V, D, generator=generator) - 0.5) / D
        C = (torch.rand(V, D, generator=generator) - 0.5) / D
        if start == "C first":
            W, C = C, W
    else:  # a normal start of unit scale, not the stated one
        W, C = torch.randn(V, D, generator=generator), torch.randn(V, D, generator=generator)
    tables = [W, C, torch.zeros(V), torch.zeros(V)]
    sums = [torch.zeros_like(p) for p in tables] if sums is None else sums
    x = counts.float()
    f = (x / x_max).clamp(max=1.0) ** alpha if weighted else torch.ones_like(x)

    def gradients():
        W, C, b_w, b_c = tables
        g = sign * 2 * f * ((W[rows] * C[cols]).sum(-1) + b_w[rows] + b_c[cols] - torch.log(x))
        return [torch.zeros_like(W).index_add(0, rows, g[:, None] * C[cols]),
                torch.zeros_like(C).index_add(0, cols, g[:, None] * W[rows]),
                torch.zeros(V).index_add(0, rows, g), torch.zeros(V).index_add(0, cols, g)]

    for _ in range(epochs - skip):
        grads = gradients()
        for i, (p, acc) in enumerate(zip(tables, sums)):
            gr = gradients()[i] if in_turn else grads[i]  # in turn: each table steps on the others' new values
            if i >= 2 and not biases:
                continue
            if update == "sgd":
                p -= lr * gr
            elif update == "sum of gradients":
                acc += gr
                p -= lr * gr / torch.sqrt(acc + 1e-8)
            elif update == "per table":
                acc += (gr * gr).sum()
                p -= lr * gr / torch.sqrt(acc + 1e-8)
            elif update == "no root":
                acc += gr * gr
                p -= lr * gr / (acc + 1e-8)
            elif update == "no eps":
                acc += gr * gr
                p -= lr * gr / torch.sqrt(acc)
            else:
                acc += gr * gr
                p -= lr * gr / torch.sqrt(acc + 1e-8)
    return tuple(tables)


def train_sgd(*args):
    return _train(*args, update="sgd")


def train_unweighted(*args):
    return _train(*args, weighted=False)


def train_sign_flipped(*args):
    return _train(*args, sign=-1.0)


def train_sums_gradients(*args):
    return _train(*args, update="sum of gradients")


def train_one_sum_per_table(*args):
    return _train(*args, update="per table")


def train_no_root(*args):
    return _train(*args, update="no root")


def train_no_eps(*args):
    return _train(*args, update="no eps")


def train_fixed_biases(*args):
    return _train(*args, biases=False)


def train_C_drawn_first(*args):
    return _train(*args, start="C first")


def train_tables_in_turn(*args):  # W steps, then C's gradient is taken at the new W, and so on
    return _train(*args, in_turn=True)


def train_one_epoch_short(*args):
    return _train(*args, skip=1)


_KEPT = {}


def train_keeps_sums(rows, cols, counts, V, D, *rest):  # the accumulators outlive the call
    key = (V, D)
    if key not in _KEPT:
        _KEPT[key] = [torch.zeros(V, D), torch.zeros(V, D), torch.zeros(V), torch.zeros(V)]
    return _train(rows, cols, counts, V, D, *rest, sums=_KEPT[key])


def train_torch_optim(rows, cols, counts, V, D, epochs, lr, x_max, alpha, generator):
    W = ((torch.rand(V, D, generator=generator) - 0.5) / D).requires_grad_()
    C = ((torch.rand(V, D, generator=generator) - 0.5) / D).requires_grad_()
    b_w, b_c = torch.zeros(V, requires_grad=True), torch.zeros(V, requires_grad=True)
    optimizer = torch.optim.Adagrad([W, C, b_w, b_c], lr=lr)
    x = counts.float()
    f = (x / x_max).clamp(max=1.0) ** alpha
    for _ in range(epochs):
        optimizer.zero_grad()
        (f * ((W[rows] * C[cols]).sum(-1) + b_w[rows] + b_c[cols] - torch.log(x)) ** 2).sum().backward()
        optimizer.step()
    return W.detach(), C.detach(), b_w.detach(), b_c.detach()


def train_global_seed(rows, cols, counts, V, D, epochs, lr, x_max, alpha, generator):
    torch.manual_seed(0)
    return _train(rows, cols, counts, V, D, epochs, lr, x_max, alpha, None)


def train_float64(*args):
    return tuple(p.double() for p in _train(*args))


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
    "ch03.glove_loss": [
        WrongAnswer("dense V×V matrix, empty cells included", glove_dense, "included the empty cells"),
        WrongAnswer("no weighting", glove_no_weight, "left the weighting f(x) out"),
        WrongAnswer("weighting not capped", glove_uncapped, "did not cap the weighting"),
        WrongAnswer("x^α / x_max", glove_count_to_alpha, "raised the count alone to the power α"),
        WrongAnswer("α · x / x_max", glove_times_alpha, "multiplied the ratio to x_max by α"),
        WrongAnswer("log(x + 1)", glove_log1p, "fitted ln(x + 1)"),
        WrongAnswer("log10", glove_log10, "base-10 logarithm"),
        WrongAnswer("no biases", glove_no_biases, "left the two biases out"),
        WrongAnswer("mean over the cells", glove_mean, "averaged over the non-zero cells"),
        WrongAnswer("factor 1/2", glove_half, "no factor 1/2"),
        WrongAnswer("error not squared", glove_unsquared, "instead of its square"),
        WrongAnswer("rows and cols swapped", glove_swapped, "swapped the roles of rows and cols"),
        WrongAnswer("log of the int64 counts", glove_int_counts, "int64"),
        WrongAnswer("float64 for float32 tables", glove_float64, "but should be float32"),
        WrongAnswer(".item()", glove_item, "0-d tensor"),
        WrongAnswer("detached C", glove_detached_C, "no gradient reaches `C`"),
        WrongAnswer("per-cell terms, not summed", glove_per_cell, "should have shape ()"),
        WrongAnswer("W.view(-1) of a transposed table", glove_flat_view, "not contiguous"),
        WrongAnswer("caps the caller's counts in place", glove_logs_in_place, "changed its input `counts` in place"),
        WrongAnswer("a float32 running total from torch.tensor(0.0)", glove_float32_total, "but should be bfloat16"),
    ],
    "ch03.glove_grads": [
        WrongAnswer("assignment instead of accumulation", grads_assigned, "instead of adding it"),
        WrongAnswer("no factor 2", grads_no_two, "left out the factor 2"),
        WrongAnswer("sign flipped", grads_sign, "flipped the sign of every gradient"),
        WrongAnswer("no weighting", grads_no_weight, "left the weighting f(x) out"),
        WrongAnswer("weighting not capped", grads_uncapped, "did not cap the weighting"),
        WrongAnswer("mean over the cells", grads_mean, "divided by the number of cells"),
        WrongAnswer("own vector", grads_own_vector, "multiplied by the word's own vector"),
        WrongAnswer("no bias gradients", grads_no_bias_grads, "left out the biases' gradients"),
        WrongAnswer("rows and cols swapped", grads_swapped, "swapped the roles of rows and cols"),
        WrongAnswer("per-cell gradients", grads_per_cell, "should have shape"),
        WrongAnswer("sized by the largest row id", grads_sized_by_max_row, "in no cell at all"),
        WrongAnswer("autograd", grads_autograd, "called autograd"),
        WrongAnswer("float32 gradients for float64 tables", grads_float32, "but should be float64"),
        WrongAnswer("three gradients", grads_three, "has 3 items"),
        WrongAnswer("zeroes W in place", grads_into_W, "changed its input `W` in place"),
    ],
    "ch03.cbow_ns_grads": [
        WrongAnswer("mask.float() with bfloat16 vectors", cbow_float_mask, "but should be bfloat16"),
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
        WrongAnswer("σ(s) - 1 as -exp(-s) / (1 + exp(-s))", cbow_naive_sigmoid_center, "NaN or infinity"),
        WrongAnswer("σ(s) as exp(s) / (1 + exp(s))", cbow_naive_sigmoid_noise, "NaN or infinity"),
        WrongAnswer("autograd", cbow_autograd, "called autograd"),
        WrongAnswer("float32 gradients for float64 input", cbow_float32, "but should be float64"),
        WrongAnswer("squeeze() (fails for B = 1)", cbow_squeezed, "should have shape"),
        WrongAnswer("zeroes the padded vectors in place", cbow_in_place, "changed its input `context_vectors`"),
    ],    "ch03.train_glove": [
        WrongAnswer("plain SGD at the same rate", train_sgd, "not finite"),
        WrongAnswer("no weighting", train_unweighted, "times what", teacher_only=True),
        WrongAnswer("sign flipped", train_sign_flipped, "went up", teacher_only=True),
        WrongAnswer("sums the gradients, not their squares", train_sums_gradients, "not finite"),
        WrongAnswer("one sum per table", train_one_sum_per_table, "times what", teacher_only=True),
        WrongAnswer("divides by the sum, not its root", train_no_root, "went up", teacher_only=True),
        WrongAnswer("no ε (a word in no cell)", train_no_eps, "not finite"),
        WrongAnswer("biases never trained", train_fixed_biases, "biases b_w and b_c are still all zero"),
        WrongAnswer("C drawn before W", train_C_drawn_first, "after one epoch"),
        WrongAnswer("tables updated in turn, each on the others' new values", train_tables_in_turn, "after one epoch"),
        WrongAnswer("one epoch short", train_one_epoch_short, "after one epoch"),
        WrongAnswer("accumulators kept across calls", train_keeps_sums, "carries over from one call to the next"),
        WrongAnswer("torch.optim.Adagrad", train_torch_optim, "torch.optim"),
        WrongAnswer("global seed", train_global_seed, "global random generator"),
        WrongAnswer("float64 tables", train_float64, "dtype float32"),
    ],
}

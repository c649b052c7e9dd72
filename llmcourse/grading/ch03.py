"""Chapter 3's graded exercises: CBOW, word2vec's other model, built beside the chapter's skip-gram, and the
negative-sampling gradients written by hand.

1. ``cbow_windows``: the context of every word of a sentence as a fixed-width row, padded at the edges, with a mask;
2. ``cbow_ns_loss``: the CBOW negative-sampling loss: the masked average of the context vectors scored against the
   center word and k noise words (autograd must flow through it);
3. ``sgns_grads``: the skip-gram loss's gradients for one batch, by hand, without autograd;
4. ``cbow_ns_grads``: the same for CBOW, through the masked average.

The chapter builds skip-gram (``llmcourse.embeddings``); none of these is in it. Every case draws its inputs
from the run's seed. The references are small functions written here, the gradients' references autograd on
the loss, computed at check time on the same inputs, and so are the known mistakes, so a message can name
one. A gradient computed by autograd is refused: the inputs reach the learner's function as tensors that
require grad, so a formula of them comes back attached to the graph, and ``.backward()`` or
``torch.autograd.grad`` comes back without one.

References: Mikolov, Chen, Corrado & Dean (2013) "Efficient Estimation of Word Representations in Vector Space"
(CBOW); Goldberg & Levy (2014) "word2vec Explained"; Rong (2014) "word2vec Parameter Learning Explained".
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from llmcourse.embeddings import sgns_loss as reference_sgns_loss

from .core import Trial, exercise

BROADCAST_HINT = {"must match the size of tensor b":
                  "line up the shapes: u_negatives is (B, K, D) and the vector it is scored against is (B, D), so "
                  "give that vector a middle dimension of 1, (B, 1, D); a (B, C) mask needs a last dimension of 1 "
                  "to multiply (B, C, D) vectors."}

# --- 1. cbow_windows ---------------------------------------------------------------------------

cbow_windows = exercise(
    "ch03.cbow_windows", name="cbow_windows",
    description="Every word's context in a sentence as a row of 2·window ids, padded with 0 at the edges, "
                "and a mask of the real words.",
    args=("ids", "window"), points=1, timeout=10,
)


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


def check_windows(t: Trial, ids: torch.Tensor, window: int) -> None:
    t.check_call(ids, window, reference=reference_cbow_windows, what=f"(contexts, mask) for {len(ids)} words and "
                 f"window={window}", mistakes=windows_mistakes)


@cbow_windows.case("a sentence much longer than the window, ids up to 50,000")
def _(t: Trial) -> None:
    window = t.py.randint(2, 4)
    check_windows(t, t.randint(0, 50_000, (t.py.randint(9, 16),)), window)


@cbow_windows.case("window 1, with id 0 (a real word) in the sentence")
def _(t: Trial) -> None:
    ids = t.randint(0, 20, (t.py.randint(4, 8),))
    ids[t.py.randrange(len(ids))] = 0
    check_windows(t, ids, 1)


@cbow_windows.case("a sentence shorter than the window: every row is cut at both ends")
def _(t: Trial) -> None:
    window = t.py.randint(4, 6)
    check_windows(t, t.randint(1, 1000, (t.py.randint(2, window - 1),)), window)


@cbow_windows.case("a sentence of one word: it has no context at all")
def _(t: Trial) -> None:
    check_windows(t, t.randint(1, 300, (1,)), t.py.randint(1, 3))


# --- the CBOW loss, shared by exercises 2 and 4 ------------------------------------------------


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
    """(B, C, D), (B, C) bool, (B, D), (B, K, D) -> () the CBOW loss, h the masked mean of the context vectors."""
    return _cbow_with(masked_mean(context_vectors, mask), u_center, u_negatives)


def _hiddens(cv: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
    """h as each averaging mistake builds it, (B, D)."""
    m = mask.to(cv.dtype).unsqueeze(-1)
    return {
        "included the padding positions in the average (average only the words where the mask is True)": cv.mean(1),
        "summed the context vectors instead of averaging them": (cv * m).sum(1),
        "divided by the window width C instead of the number of real context words": (cv * m).sum(1) / cv.shape[1],
    }


# --- 2. cbow_ns_loss ---------------------------------------------------------------------------

cbow_ns_loss = exercise(
    "ch03.cbow_ns_loss", name="cbow_ns_loss",
    description="The CBOW negative-sampling loss of a batch: the masked average of the context vectors scored "
                "against the center word and k noise words, averaged over the batch (a 0-d tensor).",
    args=("context_vectors", "mask", "u_center", "u_negatives"), points=2, timeout=10, grad=True,
    hints=BROADCAST_HINT,
)


def loss_mistakes(cv: torch.Tensor, mask: torch.Tensor, uc: torch.Tensor, un: torch.Tensor) -> dict[str, Any]:
    """What each known mistake gives on these inputs."""
    mistakes: dict[str, Any] = {what: _cbow_with(h, uc, un) for what, h in _hiddens(cv, mask).items()}
    pos, neg = _scores(masked_mean(cv, mask), uc, un)
    per_row = -F.logsigmoid(pos) - F.logsigmoid(-neg).sum(-1)  # (B,)
    # skip-gram on each real context word, averaged: scores u·v_i instead of u·h
    pos_i = (cv * uc.unsqueeze(1)).sum(-1)  # (B, C)
    neg_i = torch.einsum("bcd,bkd->bck", cv, un)  # (B, C, K)
    each = -F.logsigmoid(pos_i) - F.logsigmoid(-neg_i).sum(-1)  # (B, C)
    m = mask.to(cv.dtype)
    mistakes.update({
        "flipped the sign inside the noise words' term (it is log σ(-u_k·h): noise words must score low)":
            (-F.logsigmoid(pos) - F.logsigmoid(neg).sum(-1)).mean(),
        "averaged over the k noise words instead of summing them":
            (-F.logsigmoid(pos) - F.logsigmoid(-neg).mean(-1)).mean(),
        "summed over the batch instead of averaging": per_row.sum(),
        "forgot the minus sign (that is the log-likelihood; the loss is its negative)": -per_row.mean(),
        "scored every context word on its own (that is skip-gram's loss, averaged): CBOW scores their average h":
            ((each * m).sum(1) / m.sum(1)).mean(),
    })
    return mistakes


def edge_mask(t: Trial, b: int, w: int) -> torch.Tensor:
    """(B, 2W) bool masks as sentence edges make them: l real words on the left, r on the right, l + r >= 1."""
    rows = []
    for _ in range(b):
        left, right = t.py.randint(0, w), t.py.randint(0, w)
        if left + right == 0:
            left = w
        rows.append([False] * (w - left) + [True] * left + [True] * right + [False] * (w - right))
    return torch.tensor(rows)


def cbow_inputs(t: Trial, b: int, w: int, k: int, d: int, mask: torch.Tensor | None = None,
                scale: float = 1.0, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, ...]:
    """context vectors (B, 2W, D) whose padded positions all hold one vector (the pad id's row, not zero),
    the mask (B, 2W), u_center (B, D), u_negatives (B, K, D)."""
    mask = edge_mask(t, b, w) if mask is None else mask
    cv = t.randn(b, 2 * w, d, scale=scale, dtype=dtype)
    pad_row = t.randn(d, scale=scale, dtype=dtype) + 0.5
    cv = torch.where(mask.unsqueeze(-1), cv, pad_row)
    return cv, mask, t.randn(b, d, scale=scale, dtype=dtype), t.randn(b, k, d, scale=scale, dtype=dtype)


def check_cbow_loss(t: Trial, inputs: tuple[torch.Tensor, ...], what: str, atol: float = 1e-5,
                    rtol: float = 1e-4) -> None:
    t.check_call(*inputs, reference=reference_cbow_loss, what=what, mistakes=loss_mistakes, atol=atol, rtol=rtol)


@cbow_ns_loss.case("a batch of windows cut at sentence edges (B, window, K and D all different)")
def _(t: Trial) -> None:
    b, w, k, d = t.py.randint(5, 8), t.py.randint(2, 4), t.py.randint(2, 4), t.py.randint(9, 12)
    check_cbow_loss(t, cbow_inputs(t, b, w, k, d, scale=t.py.uniform(0.8, 1.5)), f"the loss for B={b}, K={k}")


@cbow_ns_loss.case("one window (B = 1) with one noise word (K = 1)")
def _(t: Trial) -> None:
    w, d = t.py.randint(2, 4), t.py.randint(3, 7)
    mask = torch.zeros(1, 2 * w, dtype=torch.bool)
    mask[0, t.py.sample(range(2 * w), t.py.randint(1, 2 * w - 1))] = True  # a few real words, anywhere
    check_cbow_loss(t, cbow_inputs(t, 1, w, 1, d, mask=mask), "the loss for B=1, K=1")


@cbow_ns_loss.case("window 1 and one noise word per row: rows with a single real context word, rows with no padding")
def _(t: Trial) -> None:
    b, w, d = t.py.randint(4, 6), 1, t.py.randint(4, 8)
    mask = torch.ones(b, 2, dtype=torch.bool)
    mask[0, 0] = False
    mask[1, 1] = False
    check_cbow_loss(t, cbow_inputs(t, b, w, 1, d, mask=mask), f"the loss for B={b}, K=1, window 1")


@cbow_ns_loss.case("float64 vectors: a float64 loss at float64 precision")
def _(t: Trial) -> None:
    b, w, k, d = t.py.randint(2, 5), t.py.randint(1, 3), t.py.randint(2, 5), t.py.randint(3, 6)
    check_cbow_loss(t, cbow_inputs(t, b, w, k, d, dtype=torch.float64), "the float64 loss", atol=1e-10, rtol=1e-10)


# --- gradients by hand, shared by exercises 3 and 4 --------------------------------------------


def autograd_grads(loss_fn: Any, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The gradients of ``loss_fn(*inputs)`` with respect to every floating input, by autograd (the reference)."""
    leaves = [x.detach().clone().requires_grad_(x.is_floating_point()) for x in inputs]
    floats = [x for x in leaves if x.is_floating_point()]
    return tuple(g.detach() for g in torch.autograd.grad(loss_fn(*leaves), floats))


def check_grads(t: Trial, inputs: tuple[Any, ...], loss_fn: Any, names: tuple[str, ...], what: str,
                mistakes: dict[str, Any], atol: float = 1e-5, rtol: float = 1e-4) -> None:
    expected = autograd_grads(loss_fn, *inputs)
    outcome = t.call(*inputs, grad=True)  # inputs arrive requiring grad, as parameters do; any autograd call fails
    t.expect(outcome.value, expected, what, mistakes=mistakes, atol=atol, rtol=rtol)


def _sig(x: torch.Tensor) -> torch.Tensor:
    return torch.sigmoid(x)


# --- 3. sgns_grads -----------------------------------------------------------------------------

sgns_grads = exercise(
    "ch03.sgns_grads", name="sgns_grads",
    description="The gradients of the mean skip-gram negative-sampling loss of a batch with respect to v_center, "
                "u_context and u_negatives, written out by hand (no autograd).",
    args=("v_center", "u_context", "u_negatives"), points=1, timeout=10, hints=BROADCAST_HINT, no_autograd=True,
)

SGNS_NAMES = ("v_center", "u_context", "u_negatives")


def reference_sgns_mean(v: torch.Tensor, u: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    return reference_sgns_loss(v, u, n).mean()


def _sgns_from(v: torch.Tensor, u: torch.Tensor, n: torch.Tensor, e_pos: torch.Tensor, e_neg: torch.Tensor,
               scale: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The three gradients built from the errors e_pos (B,) and e_neg (B, K), times ``scale``."""
    g_v = e_pos.unsqueeze(-1) * u + (e_neg.unsqueeze(-1) * n).sum(1)  # (B, D)
    return scale * g_v, scale * e_pos.unsqueeze(-1) * v, scale * e_neg.unsqueeze(-1) * v.unsqueeze(1)


def sgns_grad_mistakes(v: torch.Tensor, u: torch.Tensor, n: torch.Tensor) -> dict[str, Any]:
    b = len(v)
    pos = (u * v).sum(-1)  # (B,)
    neg = (n * v.unsqueeze(1)).sum(-1)  # (B, K)
    e_pos, e_neg = _sig(pos) - 1, _sig(neg)  # dℓ/d(score): σ(s) - label
    g_v, g_u, g_n = _sgns_from(v, u, n, e_pos, e_neg, 1 / b)
    return {
        "used σ(s) for the true context word: the derivative of -log σ(x) is σ(x) - 1":
            _sgns_from(v, u, n, _sig(pos), e_neg, 1 / b),
        "used σ(s) - 1 for the noise words too: the derivative of -log σ(-x) is σ(x), their label is 0":
            _sgns_from(v, u, n, e_pos, _sig(neg) - 1, 1 / b),
        "flipped the sign of every gradient (1 - σ is the derivative of the log-likelihood, which training "
        "maximises; the loss is its negative)": (-g_v, -g_u, -g_n),
        "forgot to divide by the batch size B: the loss is the mean over the batch": (b * g_v, b * g_u, b * g_n),
        "left the factor v_center out of the noise vectors' gradient (d(u_k·v)/du_k = v)":
            (g_v, g_u, (e_neg / b).unsqueeze(-1).expand_as(n)),
        "multiplied the noise words' errors by their own vectors u_k instead of v_center":
            (g_v, g_u, e_neg.unsqueeze(-1) * n / b),
        "left the noise words out of the gradient for v_center (every score u·v_c depends on v_c)":
            ((e_pos.unsqueeze(-1) * u) / b, g_u, g_n),
    }


def sgns_inputs(t: Trial, b: int, k: int, d: int, scale: float = 1.0,
                dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, ...]:
    return (t.randn(b, d, scale=scale, dtype=dtype), t.randn(b, d, scale=scale, dtype=dtype),
            t.randn(b, k, d, scale=scale, dtype=dtype))


def check_sgns_grads(t: Trial, inputs: tuple[torch.Tensor, ...], what: str, **tolerances: Any) -> None:
    check_grads(t, inputs, reference_sgns_mean, SGNS_NAMES, what, sgns_grad_mistakes(*inputs), **tolerances)


@sgns_grads.case("a batch of B pairs with K noise words each (B, K and D all different)")
def _(t: Trial) -> None:
    b, k, d = t.py.sample(range(2, 11), 3)
    check_sgns_grads(t, sgns_inputs(t, b, k, d, scale=t.py.uniform(0.5, 1.5)),
                     f"the gradients (v_center, u_context, u_negatives) for B={b}, K={k}")


@sgns_grads.case("a batch of one pair (B = 1) with one noise word (K = 1)")
def _(t: Trial) -> None:
    d = t.py.randint(3, 9)
    check_sgns_grads(t, sgns_inputs(t, 1, 1, d), "the gradients for B=1, K=1")


@sgns_grads.case("large scores, where σ is close to 0 or 1 and every error term matters")
def _(t: Trial) -> None:
    b, k, d = t.py.randint(3, 6), t.py.randint(2, 5), t.py.randint(4, 8)
    check_sgns_grads(t, sgns_inputs(t, b, k, d, scale=t.py.uniform(1.5, 2.5)), f"the gradients for B={b}, K={k}",
                     atol=1e-4)


@sgns_grads.case("float64 vectors: float64 gradients at float64 precision")
def _(t: Trial) -> None:
    b, k, d = t.py.sample(range(2, 8), 3)
    check_sgns_grads(t, sgns_inputs(t, b, k, d, dtype=torch.float64), "the float64 gradients", atol=1e-10,
                     rtol=1e-10)


# --- 4. cbow_ns_grads --------------------------------------------------------------------------

cbow_ns_grads = exercise(
    "ch03.cbow_ns_grads", name="cbow_ns_grads",
    description="The gradients of the mean CBOW negative-sampling loss with respect to the context vectors, "
                "u_center and u_negatives, written out by hand (no autograd).",
    args=("context_vectors", "mask", "u_center", "u_negatives"), points=2, timeout=10, hints=BROADCAST_HINT,
    no_autograd=True,
)

CBOW_NAMES = ("context_vectors", "u_center", "u_negatives")


def _cbow_from(h: torch.Tensor, share: torch.Tensor, uc: torch.Tensor, un: torch.Tensor, e_pos: torch.Tensor,
               e_neg: torch.Tensor, scale: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The three gradients from h (B, D), each context slot's share of dℓ/dh (B, C), the errors, times scale."""
    g_h = e_pos.unsqueeze(-1) * uc + (e_neg.unsqueeze(-1) * un).sum(1)  # (B, D)
    g_cv = share.unsqueeze(-1) * g_h.unsqueeze(1)  # (B, C, D)
    return scale * g_cv, scale * e_pos.unsqueeze(-1) * h, scale * e_neg.unsqueeze(-1) * h.unsqueeze(1)


def cbow_grad_mistakes(cv: torch.Tensor, mask: torch.Tensor, uc: torch.Tensor, un: torch.Tensor) -> dict[str, Any]:
    b, c = cv.shape[:2]
    m = mask.to(cv.dtype)  # (B, C)
    n_real = m.sum(1, keepdim=True)  # (B, 1)
    right_share = m / n_real

    def errors(h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pos, neg = _scores(h, uc, un)
        return _sig(pos) - 1, _sig(neg)

    h = (cv * m.unsqueeze(-1)).sum(1) / n_real  # (B, D)
    e_pos, e_neg = errors(h)
    g_cv, g_uc, g_un = _cbow_from(h, right_share, uc, un, e_pos, e_neg, 1 / b)
    shares = {  # how each averaging mistake spreads dℓ/dh over the C slots
        "included the padding positions in the average (average only the words where the mask is True)":
            torch.full_like(m, 1 / c),
        "summed the context vectors instead of averaging them": m,
        "divided by the window width C instead of the number of real context words": m / c,
    }
    mistakes: dict[str, Any] = {what: _cbow_from(hh, shares[what], uc, un, *errors(hh), 1 / b)
                                for what, hh in _hiddens(cv, mask).items()}
    mistakes.update({
        "gave the padding positions a share of the gradient (a padded vector takes no part in h, so its "
        "gradient is 0)": _cbow_from(h, torch.full_like(m, 1) / n_real, uc, un, e_pos, e_neg, 1 / b),
        "forgot the 1/n of the average: each real context word gets dℓ/dh divided by the number n of real words":
            _cbow_from(h, m, uc, un, e_pos, e_neg, 1 / b),
        "used σ(s) for the true center word: the derivative of -log σ(x) is σ(x) - 1":
            _cbow_from(h, right_share, uc, un, e_pos + 1, e_neg, 1 / b),
        "used σ(s) - 1 for the noise words too: the derivative of -log σ(-x) is σ(x), their label is 0":
            _cbow_from(h, right_share, uc, un, e_pos, e_neg - 1, 1 / b),
        "flipped the sign of every gradient (1 - σ is the derivative of the log-likelihood; the loss is its "
        "negative)": (-g_cv, -g_uc, -g_un),
        "forgot to divide by the batch size B: the loss is the mean over the batch": (b * g_cv, b * g_uc, b * g_un),
        "left the factor h out of the noise vectors' gradient (d(u_k·h)/du_k = h)":
            (g_cv, g_uc, (e_neg / b).unsqueeze(-1).expand_as(un)),
    })
    return mistakes


def check_cbow_grads(t: Trial, inputs: tuple[torch.Tensor, ...], what: str, **tolerances: Any) -> None:
    check_grads(t, inputs, reference_cbow_loss, CBOW_NAMES, what, cbow_grad_mistakes(*inputs), **tolerances)


@cbow_ns_grads.case("a batch of windows cut at sentence edges (B, window, K and D all different)")
def _(t: Trial) -> None:
    b, w, k, d = t.py.randint(5, 8), t.py.randint(2, 4), t.py.randint(2, 4), t.py.randint(9, 12)
    check_cbow_grads(t, cbow_inputs(t, b, w, k, d, scale=t.py.uniform(0.8, 1.5)),
                     f"the gradients (context_vectors, u_center, u_negatives) for B={b}, K={k}")


@cbow_ns_grads.case("one window (B = 1) with one noise word (K = 1)")
def _(t: Trial) -> None:
    w, d = t.py.randint(2, 4), t.py.randint(3, 7)
    mask = torch.zeros(1, 2 * w, dtype=torch.bool)
    mask[0, t.py.sample(range(2 * w), t.py.randint(1, 2 * w - 1))] = True
    check_cbow_grads(t, cbow_inputs(t, 1, w, 1, d, mask=mask), "the gradients for B=1, K=1")


@cbow_ns_grads.case("large scores, where σ is close to 0 or 1 and every error term matters")
def _(t: Trial) -> None:
    b, w, k, d = t.py.randint(3, 6), t.py.randint(1, 3), t.py.randint(2, 5), t.py.randint(4, 8)
    check_cbow_grads(t, cbow_inputs(t, b, w, k, d, scale=t.py.uniform(2.0, 3.0)), f"the gradients for B={b}, K={k}",
                     atol=1e-4)


@cbow_ns_grads.case("float64 vectors: float64 gradients at float64 precision")
def _(t: Trial) -> None:
    b, w, k, d = t.py.randint(2, 5), t.py.randint(1, 3), t.py.randint(2, 5), t.py.randint(3, 6)
    check_cbow_grads(t, cbow_inputs(t, b, w, k, d, dtype=torch.float64), "the float64 gradients", atol=1e-10,
                     rtol=1e-10)

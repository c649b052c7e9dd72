"""Chapter 4's graded exercises: the loss of padded batches (a warm-up), one GRU step, the backward pass of
one vanilla RNN step by hand, and eta sampling (Hewitt et al., 2022).

The chapter builds the RNN and LSTM cells, the unmasked loss and plain temperature sampling; each exercise
asks for a sibling or an extension of those. Every case draws its inputs from the run's trial, so they
change from run to run. The references are PyTorch's own: ``nn.GRUCell`` called with the learner's very
tensors as its weights (``torch.func.functional_call``), so values and gradients are compared with theirs;
autograd through ``nn.RNNCell`` for the hand-written backward; ``F.cross_entropy`` over the real characters;
and the renormalised eta-truncation of ``softmax(logits / T)`` for the frequencies of many draws. Known mistakes
are computed on the same inputs, so a message can name the one an answer makes.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from . import wire
from .core import CheckFailure, Step, Trial, exercise
from .expect import kind_of, mistake_values

_WEIGHTS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def cell_inputs(t: Trial, batch: int, n_in: int, hidden: int, *, blocks: int = 1) -> tuple[torch.Tensor, ...]:
    """x (B, I), h (B, H) and the cell's weights (blocks*H, I), (blocks*H, H) and biases (blocks*H,).

    Scaled so the pre-activations are of order 1: the squashing is far from linear, so answers without it
    (or with the wrong one) are far from the right one.
    """
    x = t.randn(batch, n_in)  # (B, I)
    h = t.randn(batch, hidden, scale=0.8)  # (B, H)
    w_ih = t.randn(blocks * hidden, n_in, scale=1 / math.sqrt(n_in))  # (blocks*H, I)
    w_hh = t.randn(blocks * hidden, hidden, scale=1 / math.sqrt(hidden))  # (blocks*H, H)
    b_ih = t.randn(blocks * hidden, scale=0.5)  # (blocks*H,)
    b_hh = t.randn(blocks * hidden, scale=0.5)  # (blocks*H,)
    return x, h, w_ih, w_hh, b_ih, b_hh



def _number(value: Any, what: str) -> torch.Tensor:
    """One result as a 0-d float64 tensor; the task allows a 0-d float tensor or a Python float."""
    if isinstance(value, float):
        return torch.tensor(value, dtype=torch.float64)
    if isinstance(value, torch.Tensor) and value.dim() == 0 and value.dtype in (torch.float32, torch.float64):
        return value.double()
    hint = ""
    if isinstance(value, torch.Tensor) and value.dim() > 0:
        hint = " Average over every real character to get one number."
    elif isinstance(value, torch.Tensor):
        hint = " Keep the inputs' float dtype (float32)."
    raise CheckFailure(f"{what} should be a single number, a 0-d float tensor or a Python float, but it is "
                       f"{kind_of(value)}.{hint}", "type")


# --- 1. masked_lm_metrics (warm-up) ------------------------------------------------------------

masked_lm_metrics = exercise(
    "ch04.masked_lm_metrics", name="masked_lm_metrics",
    description="From logits (B, T, V), targets (B, T) and lengths (B,) of sequences padded to T: the mean "
                "cross-entropy over the real characters only (position t of row b counts when t < lengths[b]), "
                "its perplexity and bits per character, returned as (loss, perplexity, bits_per_char).",
    args=("logits", "targets", "lengths"), points=1, timeout=10, hints={
        "Expected target size": "F.cross_entropy wants the classes in dimension 1: flatten logits to (B*T, V) and "
                                "targets to (B*T,) first (or pass reduction='none' on the flattened tensors).",
        "The size of tensor a": "the mask compares each position 0..T-1 with its row's length: a (1, T) row of "
                                "positions against a (B, 1) column of lengths broadcasts to (B, T).",
        "is invalid for input of size": "B, T and V change from call to call: read them from the shapes.",
    },
)
_METRIC_NAMES = ("the loss (mean cross-entropy over the real characters, nats per character)", "the perplexity",
                 "bits per character")


def padding_mask(lengths: torch.Tensor, length: int) -> torch.Tensor:
    """(B, T) bool: True where position t < lengths[b], a real character; False on the padding."""
    return torch.arange(length)[None, :] < lengths[:, None]


def masked_reference(logits: torch.Tensor, targets: torch.Tensor, lengths: torch.Tensor) -> dict[str, torch.Tensor]:
    """The right loss, and what each known way of masking wrongly gives, as 0-d float64 tensors (nats)."""
    per_char = F.cross_entropy(logits.double().reshape(-1, logits.size(-1)), targets.reshape(-1),
                               reduction="none").reshape(targets.shape)  # (B, T)
    mask = padding_mask(lengths, targets.shape[1]).double()  # (B, T)
    wide = padding_mask(lengths + 1, targets.shape[1]).double()  # one padded position too many
    return {
        "right": (per_char * mask).sum() / mask.sum(),
        "all": per_char.mean(),
        "longest": per_char[:, :int(lengths.max())].mean(),
        "by_row": ((per_char * mask).sum(1) / mask.sum(1)).mean(),
        "over_bt": (per_char * mask).sum() / targets.numel(),
        "off_by_one": (per_char * wide).sum() / wide.sum(),
        "sum": (per_char * mask).sum(),
        "id0": (per_char * mask * (targets != 0)).sum() / (mask * (targets != 0)).sum(),
    }


def check_masked(t: Trial, logits: torch.Tensor, targets: torch.Tensor, lengths: torch.Tensor) -> None:
    """Call masked_lm_metrics; compare all three numbers with the masked mean, naming mistakes."""
    got = t.call(logits, targets, lengths).value
    if not isinstance(got, (tuple, list)) or len(got) != 3:
        raise CheckFailure("`masked_lm_metrics` should return three numbers `(loss, perplexity, bits_per_char)`, "
                           f"but it returned {kind_of(got)}.", "type")
    loss, ppl, bpc = (_number(v, what) for v, what in zip(got, _METRIC_NAMES, strict=True))
    ref = masked_reference(logits, targets, lengths)
    right, ln2 = ref["right"], math.log(2)
    tol = {"atol": 1e-5, "rtol": 1e-4}
    t.expect(loss, right, _METRIC_NAMES[0], mistakes={
        "averaged over the padding too: only positions t < lengths[b] are real characters": ref["all"],
        "averaged over the padding too, up to the longest row: only positions t < lengths[b] are real "
        "characters": ref["longest"],
        "averaged each row first and then the rows: a short row then weighs as much as a long one; divide the "
        "summed loss by the number of real characters": ref["by_row"],
        "divided by B * T instead of by the number of real characters": ref["over_bt"],
        "counted one padded position too many per row (t <= length): position lengths[b] is already padding":
            ref["off_by_one"],
        "summed the losses of the real characters instead of averaging them": ref["sum"],
        "treated id 0 as padding: it is a real character wherever t < lengths[b]; mask by the lengths, not by "
        "an id": ref["id0"],
        "measured the loss in bits (log2) instead of nats": right / ln2,
    }, **tol)
    t.expect(ppl, right.exp(), _METRIC_NAMES[1], mistakes={
        "mixed log2 and ln: with a loss in nats the perplexity is e^loss, not 2^loss": 2 ** right,
        "computed the perplexity from the padded average": ref["all"].exp(),
    }, **tol)
    t.expect(bpc, right / ln2, _METRIC_NAMES[2], mistakes={
        "multiplied by ln 2 instead of dividing: bits = nats / ln 2": right * ln2,
        "forgot to convert nats to bits (divide by ln 2)": right,
    }, **tol)


def padded_batch(t: Trial, batch: int, length: int, vocab: int, *, full_row: bool = True) -> tuple[torch.Tensor, ...]:
    """Logits (B, T, V), targets (B, T) and lengths (B,) in [1, T]; padding holds ordinary ids and logits.

    The padded positions get logits as confident and as wrong as the real ones can be, so counting them
    moves the loss a lot; one row is full length unless ``full_row`` is off.
    """
    logits = t.randn(batch, length, vocab, scale=2.0)  # (B, T, V)
    targets = t.randint(0, vocab, (batch, length))  # (B, T); the padding's ids are arbitrary, as in real batches
    lengths = t.randint(1, length + 1, (batch,))  # (B,)
    if full_row:
        full = t.py.randrange(batch)
        lengths[full] = length
        targets[full, t.py.randrange(length)] = 0  # id 0 is a real character too, not a padding marker
    mask = padding_mask(lengths, length)
    logits[~mask] = logits[~mask] * 4.0  # padded positions: far from the real ones' loss
    return logits, targets, lengths


@masked_lm_metrics.case("three numbers over the real characters of a few sequences of different lengths")
def _(t: Trial) -> None:
    batch = t.py.randint(3, 5)
    length = t.py.randint(6, 10)
    logits, targets, lengths = padded_batch(t, batch, length, t.py.randint(9, 14))
    lengths[t.py.randrange(batch)] = 1  # one row with a single character
    check_masked(t, logits, targets, lengths)


@masked_lm_metrics.case("the same over tiny shakespeare's 65 characters, rows from very short to full")
def _(t: Trial) -> None:
    check_masked(t, *padded_batch(t, t.py.randint(4, 6), t.py.randint(12, 20), 65))


@masked_lm_metrics.case("the same on a single sequence (B=1) with padding after it")
def _(t: Trial) -> None:
    length = t.py.randint(6, 12)
    logits, targets, _ = padded_batch(t, 1, length, t.py.randint(5, 9), full_row=False)
    check_masked(t, logits, targets, torch.tensor([t.py.randint(2, length - 2)]))


@masked_lm_metrics.case("the same when no row is padded (every length is T)")
def _(t: Trial) -> None:
    batch, length = t.py.randint(2, 4), t.py.randint(3, 7)
    logits, targets, _ = padded_batch(t, batch, length, t.py.randint(20, 30))
    check_masked(t, logits, targets, torch.full((batch,), length))


# --- 2. gru_step -------------------------------------------------------------------------------

gru_step = exercise(
    "ch04.gru_step", name="gru_step",
    description="One GRU step as nn.GRUCell computes it: the reset gate r, the update gate z and the "
                "candidate n (stacked in that order), n = tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn)), "
                "h_new = (1 - z) * n + z * h.",
    args=("x", "h", *_WEIGHTS), points=2, timeout=10, grad=True, hints={
        "not enough values to unpack": "split along the last dimension (three blocks of hidden_size columns); "
                                       "without `dim=-1` the split runs over the batch.",
        "must match the size": "check the shapes: each of the three blocks has hidden_size columns (hidden_size is "
                               "h's last dimension, not x's), and each bias has one entry per row of its weight.",
        "cannot be multiplied": "check the shapes: like nn.GRUCell, `weight_ih` is stored as (3 * hidden, input) "
                                "and `weight_hh` as (3 * hidden, hidden), so multiply x and h by their transposes.",
    },
)


def gru_reference(x: torch.Tensor, h: torch.Tensor, w_ih: torch.Tensor, w_hh: torch.Tensor, b_ih: torch.Tensor,
                  b_hh: torch.Tensor) -> torch.Tensor:
    """nn.GRUCell itself, with these tensors as its weights (so autograd reaches them): (B, H)."""
    cell = nn.GRUCell(w_ih.shape[1], w_hh.shape[1], device="meta")  # no weights of its own, no global RNG
    return functional_call(cell, dict(zip(_WEIGHTS, (w_ih, w_hh, b_ih, b_hh), strict=True)), (x, h))


def gru_variant(x: torch.Tensor, h: torch.Tensor, w_ih: torch.Tensor, w_hh: torch.Tensor, b_ih: torch.Tensor,
                b_hh: torch.Tensor, mistake: str = "") -> torch.Tensor:
    """The GRU step with one known mistake switched on (to name mistakes, never as the reference)."""
    hidden = h.shape[-1]
    if mistake == "no_bias":
        b_ih, b_hh = torch.zeros_like(b_ih), torch.zeros_like(b_hh)
    gi = x @ w_ih.T + b_ih  # (B, 3H): the input's share of r, z and n
    gh = h @ w_hh.T + b_hh  # (B, 3H): the old state's share
    i_r, i_z, i_n = gi.chunk(3, dim=-1)
    h_r, h_z, h_n = gh.chunk(3, dim=-1)
    if mistake == "zr":
        i_r, i_z, h_r, h_z = i_z, i_r, h_z, h_r
    sig, tanh = torch.sigmoid, torch.tanh
    if mistake == "swap_act":
        r, z = tanh(i_r + h_r), tanh(i_z + h_z)
    else:
        r, z = sig(i_r + h_r), sig(i_z + h_z)
    w_hn = w_hh[2 * hidden:]  # (H, H)
    b_hn = b_hh[2 * hidden:]  # (H,)
    inner = {
        "b_hn_outside": r * (h @ w_hn.T) + b_hn,
        "reset_before": (r * h) @ w_hn.T + b_hn,
        "no_reset": h_n,
    }.get(mistake, r * h_n)
    if mistake == "one_sum":  # the LSTM's habit: one sum for all blocks, so r scales the input's share too
        inner, i_n = r * (i_n + h_n), 0.0
    n = sig(i_n + inner) if mistake == "swap_act" else tanh(i_n + inner)
    if mistake == "z_swapped":
        return z * n + (1 - z) * h
    if mistake == "no_update_gate":
        return n
    return (1 - z) * n + z * h


GRU_MISTAKES = {
    "zr": "swapped the reset and update gates: PyTorch stacks the blocks in the order reset (r), update (z), "
          "new (n)",
    "z_swapped": "interchanged z and 1 - z: in PyTorch's GRU the update gate z keeps the old state, h_new = "
                 "(1 - z) * n + z * h",
    "b_hn_outside": "added b_hn outside the reset gate: nn.GRUCell resets the whole recurrent term, "
                    "r * (h W_hn^T + b_hn)",
    "reset_before": "applied the reset gate to h before the product, (r * h) W_hn^T: that is the original paper's "
                    "variant; nn.GRUCell computes r * (h W_hn^T + b_hn)",
    "no_reset": "left the reset gate out of the candidate n",
    "one_sum": "added the input's and the state's pre-activations before splitting them, as for the LSTM: the "
               "reset gate scales only the state's share of the candidate, so keep the two apart",
    "swap_act": "swapped sigmoid and tanh: the gates r and z are sigmoids (dials in (0, 1)); only the candidate n "
                "uses tanh",
    "no_bias": "forgot the biases (nn.GRUCell adds both bias_ih and bias_hh)",
    "no_update_gate": "returned the candidate n: the update gate mixes it with the old state",
}


def gru_mistakes(*args: torch.Tensor) -> dict[str, torch.Tensor]:
    return mistake_values({text: (lambda m=m: gru_variant(*args, mistake=m)) for m, text in GRU_MISTAKES.items()})


def check_gru(t: Trial, batch: int, n_in: int, hidden: int, scale: float = 1.0) -> None:
    """gru_step against nn.GRUCell on fresh inputs (all multiplied by ``scale``): values and gradients."""
    inputs = [scale * v for v in cell_inputs(t, batch, n_in, hidden, blocks=3)]
    t.check_call(*inputs, reference=gru_reference, what="the new hidden state", mistakes=gru_mistakes)


def register_cell_sizes(ex: Any, check: Any, claim: str) -> None:
    """The three shapes every cell exercise is checked on: fewer inputs than hidden units, as many (square
    weights, so a missing transpose still runs), and a batch of one row with more inputs than hidden units."""

    @ex.case(f"{claim} on a batch, with fewer inputs than hidden units")
    def _(t: Trial) -> None:
        n_in = t.py.randint(2, 4)
        check(t, t.py.randint(2, 5), n_in, n_in + t.py.randint(1, 4))

    @ex.case(f"{claim} with as many inputs as hidden units (square weights)")
    def _(t: Trial) -> None:
        size = t.py.randint(3, 6)
        check(t, t.py.randint(2, 4), size, size)

    @ex.case(f"{claim} on a batch of one row, with more inputs than hidden units")
    def _(t: Trial) -> None:
        hidden = t.py.randint(2, 4)
        check(t, 1, hidden + t.py.randint(2, 4), hidden)


register_cell_sizes(gru_step, check_gru, "values and gradients match nn.GRUCell")


# --- 3. rnn_step_backward ----------------------------------------------------------------------

rnn_step_backward = exercise(
    "ch04.rnn_step_backward", name="rnn_step_backward",
    description="The backward pass of one vanilla RNN step by hand: given dL/dh_new (B, H) and the step's inputs, "
                "return (dL/dx, dL/dh, dL/dweight_ih, dL/dweight_hh, dL/dbias_ih, dL/dbias_hh), each shaped "
                "like the tensor it belongs to.",
    args=("grad_h_new", "x", "h", *_WEIGHTS), points=2, timeout=10, no_autograd=True, hints={
        "cannot be multiplied": "check the shapes: each gradient has the shape of its tensor; dL/dx is (B, I), "
                                "so the (B, H) gradient of the pre-activation meets weight_ih (H, I) as it is.",
        "The size of tensor a": "check the shapes: the gradient of a bias sums the per-row gradients over the "
                                "batch.",
    },
)
_GRAD_NAMES = ("dL/dx", "dL/dh", "dL/dweight_ih", "dL/dweight_hh", "dL/dbias_ih", "dL/dbias_hh")


def backward_reference(grad_h_new: torch.Tensor, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Autograd through nn.RNNCell (with these tensors as its weights), for the upstream grad_h_new."""
    leaves = [v.detach().clone().requires_grad_(True) for v in inputs]
    x, h, w_ih, w_hh, b_ih, b_hh = leaves
    cell = nn.RNNCell(w_ih.shape[1], w_ih.shape[0], device="meta")
    h_new = functional_call(cell, dict(zip(_WEIGHTS, (w_ih, w_hh, b_ih, b_hh), strict=True)), (x, h))
    return tuple(g.detach() for g in torch.autograd.grad(h_new, leaves, grad_h_new))


def backward_mistakes(grad_h_new: torch.Tensor, x: torch.Tensor, h: torch.Tensor, w_ih: torch.Tensor,
                      w_hh: torch.Tensor, b_ih: torch.Tensor, b_hh: torch.Tensor) -> dict[str, tuple[Any, ...]]:
    """What each mistake gives for all six gradients (those that crash on these shapes are left out)."""
    h_new = torch.tanh(x @ w_ih.T + b_ih + h @ w_hh.T + b_hh)  # (B, H)

    def grads(da: torch.Tensor, dx_w: torch.Tensor = w_ih, dh_w: torch.Tensor = w_hh) -> tuple[torch.Tensor, ...]:
        db = da.sum(0)
        return da @ dx_w, da @ dh_w, da.T @ x, da.T @ h, db, db

    right = grad_h_new * (1 - h_new**2)  # (B, H): through the tanh
    return mistake_values({
        "forgot the tanh's derivative: the gradient of the pre-activation is dL/dh_new * (1 - h_new^2)":
            lambda: grads(grad_h_new),
        "used the old state in the tanh's derivative: tanh'(a) = 1 - tanh(a)^2 = 1 - h_new^2":
            lambda: grads(grad_h_new * (1 - h**2)),
        "used 1 - h_new instead of 1 - h_new^2 for the tanh's derivative": lambda: grads(grad_h_new * (1 - h_new)),
        "used the sigmoid's derivative h_new * (1 - h_new): the cell squashes with tanh":
            lambda: grads(grad_h_new * h_new * (1 - h_new)),
        "multiplied dL/dh by weight_hh transposed: h enters as h @ W_hh^T, so dL/dh = da @ W_hh":
            lambda: grads(right, dh_w=w_hh.T),
        "averaged the bias gradients over the batch: the loss adds every row's share, so sum them":
            lambda: (*grads(right)[:4], right.mean(0), right.mean(0)),
        "took dL/dweight_hh as h^T da (the transpose): weight_hh[j, k] links h[k] to the new state's unit j":
            lambda: (*grads(right)[:3], h.T @ right, *grads(right)[4:]),
    })


def check_backward(t: Trial, batch: int, n_in: int, hidden: int, scale: float = 1.0) -> None:
    """rnn_step_backward against autograd through nn.RNNCell, each of the six gradients on its own."""
    inputs = [scale * v for v in cell_inputs(t, batch, n_in, hidden)]
    upstream = t.randn(batch, hidden)  # (B, H): dL/dh_new from the rest of the network
    got = t.call(upstream, *inputs).value
    if not isinstance(got, (tuple, list)) or len(got) != 6:
        raise CheckFailure("`rnn_step_backward` should return six tensors (dL/dx, dL/dh, dL/dweight_ih, "
                           f"dL/dweight_hh, dL/dbias_ih, dL/dbias_hh), but it returned {kind_of(got)}.", "type")
    expected = backward_reference(upstream, *inputs)
    mistakes = backward_mistakes(upstream, *inputs)
    for k, name in enumerate(_GRAD_NAMES):
        t.expect(got[k], expected[k], name, mistakes={text: values[k] for text, values in mistakes.items()},
                 atol=1e-5, rtol=1e-4)


register_cell_sizes(rnn_step_backward, check_backward, "all six gradients match autograd")


# --- 4. sample_eta ------------------------------------------------------------------------------

sample_eta = exercise(
    "ch04.sample_eta", name="sample_eta",
    description="Eta sampling: per row of logits (B, V), p = softmax(logits / temperature), H = the entropy of p "
                "in nats, eta = min(epsilon, sqrt(epsilon) * exp(-H)); keep the ids with p > eta (the most likely "
                "one if none is), renormalise, and draw one id with the given generator; return a (B,) tensor of "
                "int64 ids.",
    args=("logits", "temperature", "epsilon", "generator"), points=1, timeout=15, random=True, hints={
        "probability tensor contains": "torch.multinomial needs non-negative, finite probabilities: take the "
                                       "softmax of the scaled logits (it stays finite for large logits) and set "
                                       "the probabilities at or below eta to 0.",
        "invalid multinomial distribution": "no id was kept in some row. On a very confident row most "
                                            "probabilities are exactly 0 in float32 and 0 * log(0) is nan, so the "
                                            "entropy and eta become nan and nothing is above them: take the "
                                            "log-probabilities from log_softmax (finite), and keep the most likely "
                                            "id when nothing is above eta.",
    },
)
DRAWS_PER_ROW = 10_000
_TOL = 6 * math.sqrt(0.25 / DRAWS_PER_ROW)  # six standard errors of a frequency at worst: a right answer passes


def eta_threshold(probs: torch.Tensor, epsilon: float, *, entropy_of: torch.Tensor | None = None,
                  bits: bool = False, use_max: bool = False) -> torch.Tensor:
    """eta = min(epsilon, sqrt(epsilon) * exp(-H)) per row: (R, V) -> (R, 1). H is the entropy of ``entropy_of``
    (default ``probs``), in nats (or bits, to name that mistake); ``use_max`` names another."""
    dist = probs if entropy_of is None else entropy_of
    entropy = -torch.special.xlogy(dist, dist).sum(-1, keepdim=True)  # (R, 1); 0 * log 0 counts as 0
    if bits:
        entropy = entropy / math.log(2)
    scaled = math.sqrt(epsilon) * torch.exp(-entropy)
    pick = torch.maximum if use_max else torch.minimum
    return pick(torch.full_like(entropy, epsilon), scaled)


def truncate(probs: torch.Tensor, eta: torch.Tensor) -> torch.Tensor:
    """Keep the ids with probs > eta (the most likely one where none is) and renormalise: (R, V) float64."""
    keep = probs > eta  # (R, V)
    keep |= F.one_hot(probs.argmax(-1), probs.shape[-1]).bool() & ~keep.any(-1, keepdim=True)
    kept = probs * keep
    return kept / kept.sum(-1, keepdim=True)


def tempered(rows: torch.Tensor, temperature: float) -> torch.Tensor:
    return torch.softmax(rows.double() / temperature, dim=-1)  # (R, V) float64


def eta_sampling(rows: torch.Tensor, temperature: float, epsilon: float, **variant: Any) -> torch.Tensor:
    """The distribution eta sampling draws from, per row: (R, V) float64 (``variant`` names a mistake)."""
    probs = tempered(rows, temperature)
    return truncate(probs, eta_threshold(probs, epsilon, **variant))


def check_ids(got: Any, batch: int, vocab: int, what: str = "the sampled ids") -> torch.Tensor:
    """The ids if they are an int64 tensor of shape (B,) with values in [0, V); else a failure saying why."""
    if not isinstance(got, torch.Tensor):
        raise CheckFailure(f"{what} should be a tensor of int64 ids, but it is {kind_of(got)}.", "type")
    if got.dtype != torch.int64:
        kind = "a float" if got.is_floating_point() else "an integer"
        raise CheckFailure(f"{what} are {kind} tensor of dtype {str(got.dtype).replace('torch.', '')}, but should "
                           "be int64 (torch.long, what torch.multinomial returns: don't convert it).", "type")
    if tuple(got.shape) == (batch, 1):
        raise CheckFailure(f"{what} have shape {tuple(got.shape)}; return one id per row, shape (B,): "
                           "`.squeeze(-1)` the (B, 1) that torch.multinomial gives.", "type")
    if tuple(got.shape) != (batch,):
        raise CheckFailure(f"{what} have shape {tuple(got.shape)}, but should have shape ({batch},), one id per "
                           "row of logits (B, V).", "type")
    if bool(((got < 0) | (got >= vocab)).any()):
        raise CheckFailure(f"some of {what} are outside [0, vocab_size): sample along the last dimension "
                           "(the vocabulary).", "wrong")
    return got


def eta_mistakes(rows: torch.Tensor, temperature: float, epsilon: float) -> dict[str, torch.Tensor]:
    """Each mistake's distribution of ids, per distinct row (R, V)."""
    z = rows.double()
    probs = tempered(rows, temperature)
    after = torch.softmax(z, -1) ** (1 / temperature)  # the temperature applied to probabilities, unnormalised
    return {
        "measured the entropy in bits (log2): eta uses the entropy in nats, exp(-H) with the natural log":
            eta_sampling(rows, temperature, epsilon, bits=True),
        "took the larger of epsilon and sqrt(epsilon) * exp(-H): eta is the smaller of the two":
            eta_sampling(rows, temperature, epsilon, use_max=True),
        "used epsilon itself as the threshold (that is epsilon sampling): eta also shrinks with the entropy, "
        "min(epsilon, sqrt(epsilon) * exp(-H))": truncate(probs, torch.full_like(probs[:, :1], epsilon)),
        "computed the entropy before applying the temperature: H is the entropy of softmax(logits / T), the "
        "distribution you draw from": truncate(probs, eta_threshold(probs, epsilon, entropy_of=torch.softmax(z, -1))),
        "raised the probabilities to the power 1/T instead of dividing the logits by T: they no longer add up "
        "to 1, so their entropy and the threshold are off": truncate(after, eta_threshold(after, epsilon)),
        "ignored eta (sampled from the whole distribution)": probs,
        "ignored the temperature": eta_sampling(rows, 1.0, epsilon),
        "multiplied the logits by the temperature instead of dividing by it":
            eta_sampling(rows, 1 / temperature, epsilon),
        "always take the most likely id (argmax) instead of sampling": F.one_hot(z.argmax(-1), z.shape[-1]).double(),
    }


def check_distribution(t: Trial, rows: torch.Tensor, temperature: float, epsilon: float) -> None:
    """Draw many ids for each of the distinct rows (R, V), shuffled together; frequencies vs eta sampling's."""
    n_rows, vocab = rows.shape
    labels = torch.arange(n_rows).repeat(DRAWS_PER_ROW)[torch.randperm(n_rows * DRAWS_PER_ROW, generator=t.rng)]
    logits = rows[labels]  # (R * DRAWS_PER_ROW, V): every row appears DRAWS_PER_ROW times, in random places
    got = t.call(logits, temperature, epsilon, wire.GeneratorSpec(t.seed_for("draws"))).value
    ids = check_ids(got, logits.shape[0], vocab)
    freq = torch.zeros(n_rows, vocab, dtype=torch.float64)
    freq.index_put_((labels, ids), torch.ones(len(ids), dtype=torch.float64), accumulate=True)
    freq /= DRAWS_PER_ROW
    t.expect(freq, eta_sampling(rows, temperature, epsilon),
             f"how often each id is drawn for each of {n_rows} different rows ({DRAWS_PER_ROW} draws each)",
             mistakes=eta_mistakes(rows, temperature, epsilon), atol=_TOL, rtol=0)


def _gap(found: dict[str, torch.Tensor], one: str, other: str) -> float:
    """The largest difference between the distributions whose descriptions contain ``one`` and ``other``."""
    first, second = ([v for text, v in found.items() if phrase in text][0] for phrase in (one, other))
    return float((first - second).abs().max())


def sample_rows(t: Trial, n_rows: int, vocab: int, temperature: float, epsilon: float, scale: float = 1.5,
                visible: tuple[str | tuple[str, str], ...] = ()) -> torch.Tensor:
    """(R, V) distinct rows, none with a probability within 2% of its eta (so float32 and float64 keep the same
    ids). Every other row is a few likely ids over a tail of unlikely ones (low entropy: eta is epsilon), the
    rest are spread out (high entropy: eta is sqrt(epsilon) * exp(-H)), so both sides of the min are tested.
    Rows are drawn again (up to 3000 times) until each mistake named (by a phrase) in ``visible`` moves some
    frequency by 0.1 away
    from the right one (or, for a pair of phrases, by 0.06 from the other mistake's), so each can be told apart."""
    usable = None
    for _ in range(3000):
        rows = t.randn(n_rows, vocab, scale=scale)  # (R, V)
        rows[::2, : max(2, vocab // 3)] += 2.0 * scale * temperature  # a head of likely ids (shuffled below)
        rows = rows.gather(-1, torch.stack([torch.randperm(vocab, generator=t.rng) for _ in range(n_rows)]))
        probs = tempered(rows, temperature)
        eta = eta_threshold(probs, epsilon)
        if not bool(((probs / eta - 1).abs() > 0.02).all()):
            continue
        usable = rows
        found = {"right": truncate(probs, eta), **eta_mistakes(rows, temperature, epsilon)}
        gaps = [_gap(found, v, "right") >= 0.1 if isinstance(v, str) else _gap(found, *v) >= 0.06 for v in visible]
        if all(gaps):
            return rows
    if usable is None:
        raise RuntimeError("no rows with a margin around eta")  # a grader bug, never the learner's
    return usable  # rarely: rows that judge right, though a mistake may go unnamed


@sample_eta.case("ids follow eta sampling row by row, at a temperature below 1")
def _(t: Trial) -> None:
    temperature, epsilon = t.py.uniform(0.4, 0.6), t.py.uniform(0.03, 0.08)
    rows = sample_rows(t, 4, t.py.randint(10, 14), temperature, epsilon,
                       visible=("before applying", "power 1/T", "ignored eta"))
    check_distribution(t, rows, temperature, epsilon)


@sample_eta.case("ids follow eta sampling row by row, at a temperature above 1 and a larger epsilon")
def _(t: Trial) -> None:
    temperature, epsilon = t.py.uniform(1.5, 2.0), t.py.uniform(0.08, 0.15)
    rows = sample_rows(t, 3, t.py.randint(9, 12), temperature, epsilon,
                       visible=("in bits", "the larger", "epsilon itself", ("the larger", "epsilon itself")))
    check_distribution(t, rows, temperature, epsilon)


@sample_eta.case("ids follow eta sampling for logits far from 0 (beyond ±100), one row nearly certain")
def _(t: Trial) -> None:
    temperature, epsilon = t.py.uniform(0.8, 1.3), t.py.uniform(0.03, 0.08)
    rows = sample_rows(t, 4, t.py.randint(6, 8), temperature, epsilon)
    signs = [1, -1, t.py.choice((-1, 1)), t.py.choice((-1, 1))]  # exp(logits / T) overflows float32 on some rows
    t.py.shuffle(signs)
    offsets = torch.tensor([sign * t.py.uniform(130.0, 200.0) for sign in signs])
    rows = rows + offsets[:, None]
    sure = t.py.randrange(4)  # one id ahead by far: the row's other probabilities are exactly 0 in float32
    rows[sure, rows[sure].argmax()] += t.py.uniform(160.0, 200.0)
    check_distribution(t, rows, temperature, epsilon)


@sample_eta.case("a batch of one row: (1,) int64 ids, drawn with the given generator")
def _(t: Trial) -> None:
    vocab, temperature, epsilon, n_calls = t.py.randint(5, 7), t.py.uniform(0.9, 1.2), t.py.uniform(0.05, 0.1), 40
    logits = sample_rows(t, 1, vocab, temperature, epsilon)  # (1, V)
    gen = wire.GeneratorSpec(t.seed_for("one-row"))
    outcomes = t.run([Step((logits, temperature, epsilon, gen)) for _ in range(n_calls)], grad=False)
    ids = torch.cat([check_ids(o.value, 1, vocab) for o in outcomes])
    kept = eta_sampling(logits, temperature, epsilon)[0] > 0
    if not bool(kept[ids].all()):
        raise CheckFailure(f"in {n_calls} calls on one row, some draws were ids whose probability is at or below "
                           "eta: those should never be drawn.", "wrong")


@sample_eta.generator_probe
def _(t: Trial, seed: int) -> tuple[Any, ...]:
    logits = torch.randn(16, 6, generator=torch.Generator().manual_seed(t.seed_for("probe")))  # same on every call
    return logits, 1.0, 0.1, wire.GeneratorSpec(seed)

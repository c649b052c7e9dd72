"""Chapter 4's graded exercises: one RNN step, one LSTM step (four gates and the cell update), the loss with
its perplexity and bits per character, and one sampling step with temperature.

Every case builds its inputs from a fixed seed and computes the reference at check time with PyTorch's own
implementation (``nn.RNNCell`` / ``nn.LSTMCell`` with the same weights copied in, ``F.cross_entropy``,
``torch.softmax``), so nothing here is a pasted number. Known mistakes are computed the same way on the
same inputs, so a message can say exactly which mistake an answer matches.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .core import CheckFailure, call_student, exercise
from .expect import expect_close, expect_tensor, expect_true


def _seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _call(fn: Callable[..., Any], *args: Any, hints: dict[str, str]) -> Any:
    """Call the learner's code; an error whose text contains a key of ``hints`` fails with that hint."""
    return call_student(fn, *args, hints=hints, catch=(RuntimeError, TypeError, ValueError, IndexError))


_SHAPE_HINTS = {
    "cannot be multiplied": "check the shapes: like nn.RNNCell, `weight_ih` is stored as (hidden, input) and "
                            "`weight_hh` as (hidden, hidden), so multiply by their transposes.",
    "must match the size": "check the shapes: each bias has one entry per row of its weight matrix.",
}


def _cell_weights(cell: nn.Module) -> tuple[torch.Tensor, ...]:
    return tuple(getattr(cell, n).detach().clone() for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))


# --- 1. rnn_step -------------------------------------------------------------------------------

rnn_step = exercise(
    "ch04.rnn_step", name="rnn_step",
    description="One vanilla RNN step: h_new = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh), as nn.RNNCell computes.",
    points=1, timeout=10,
)


def _rnn_problem(seed: int, batch: int, input_size: int, hidden: int):
    torch.manual_seed(seed)
    cell = nn.RNNCell(input_size, hidden)
    g = _seeded(seed)
    x, h = torch.randn(batch, input_size, generator=g), torch.randn(batch, hidden, generator=g)
    return cell, x, h


def _rnn_mistakes(x, h, w_ih, w_hh, b_ih, b_hh) -> dict[str, torch.Tensor]:
    """What each known mistake gives on these inputs; mistakes whose shapes cannot work here are left out."""
    z = x @ w_ih.T + b_ih + h @ w_hh.T + b_hh
    mistakes = {
        "use a sigmoid instead of tanh (an RNN's state lies in (-1, 1), centred on 0)": lambda: torch.sigmoid(z),
        "forgot the tanh: without it the state can grow without bound": lambda: z,
        "forgot the recurrent term h @ W_hh^T: without it the cell has no memory of earlier steps":
            lambda: torch.tanh(x @ w_ih.T + b_ih + b_hh),
        "forgot the biases": lambda: torch.tanh(x @ w_ih.T + h @ w_hh.T),
        "swapped the two weight matrices (W_ih multiplies the input x, W_hh the old state h)":
            lambda: torch.tanh(x @ w_hh.T + b_ih + h @ w_ih.T + b_hh),
        "use the weights without transposing them (they are stored as (hidden, input) and (hidden, hidden))":
            lambda: torch.tanh(x @ w_ih + b_ih + h @ w_hh + b_hh),
    }
    values = {}
    for description, compute in mistakes.items():
        try:
            values[description] = compute()
        except RuntimeError:  # this mistake would crash on these shapes: the learner's code cannot have made it
            pass
    return values


def _expect_rnn_step(student: Any, seed: int, batch: int, n_in: int, hidden: int) -> None:
    cell, x, h = _rnn_problem(seed, batch, n_in, hidden)
    w = _cell_weights(cell)
    got = _call(student, x.clone(), h.clone(), *[t.clone() for t in w], hints=_SHAPE_HINTS)
    with torch.no_grad():
        expected = cell(x, h)
    expect_close(got, expected, "the new hidden state", mistakes=_rnn_mistakes(x, h, *w))


@rnn_step.case("matches nn.RNNCell on a batch of 4 (3 inputs, 5 hidden units)")
def _(student):
    _expect_rnn_step(student, 0, 4, 3, 5)


@rnn_step.case("matches nn.RNNCell when input and hidden sizes are equal (so a missing transpose still runs)")
def _(student):
    _expect_rnn_step(student, 1, 3, 6, 6)


@rnn_step.case("gradients flow back to x, h and every weight as they do through nn.RNNCell")
def _(student):
    cell, x, h = _rnn_problem(2, 2, 3, 4)
    w = [t.requires_grad_() for t in _cell_weights(cell)]
    xs, hs = x.clone().requires_grad_(), h.clone().requires_grad_()
    got = expect_tensor(_call(student, xs, hs, *w, hints=_SHAPE_HINTS), "the new hidden state", shape=(2, 4))
    if got.grad_fn is None:
        raise CheckFailure("the output is not connected to the inputs by autograd: compute it with torch "
                           "operations on the tensors you were given (no .detach(), .item() or NumPy).")
    got.sum().backward()
    xr, hr = x.clone().requires_grad_(), h.clone().requires_grad_()
    cell(xr, hr).sum().backward()
    expect_close(xs.grad, xr.grad, "the gradient with respect to x")
    expect_close(hs.grad, hr.grad, "the gradient with respect to h")
    for name, mine in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"), w, strict=True):
        expect_close(mine.grad, getattr(cell, name).grad, f"the gradient with respect to {name}")


# --- 2. lstm_step ------------------------------------------------------------------------------

lstm_step = exercise(
    "ch04.lstm_step", name="lstm_step",
    description="One LSTM step: the four gates (input, forget, candidate, output, in PyTorch's order), the new "
                "cell c and the new hidden state h, returned as (h, c) — as nn.LSTMCell computes.",
    points=2, timeout=10,
)


def _lstm_variant(x, h, c, w_ih, w_hh, b_ih, b_hh, mistake: str = "") -> tuple[torch.Tensor, torch.Tensor]:
    """The LSTM step with one known mistake switched on (used only to name mistakes, never as the reference)."""
    gates = x @ w_ih.T + b_ih + h @ w_hh.T + b_hh  # (B, 4H)
    i, f, g, o = gates.chunk(4, dim=-1)
    if mistake == "ifog":
        o, g = g, o  # reads the third block as the output gate and the fourth as the candidate
    if mistake == "fi":
        i, f = f, i
    sig, tanh = torch.sigmoid, torch.tanh
    if mistake == "swap_act":
        i, f, g, o = tanh(i), tanh(f), sig(g), tanh(o)
    elif mistake == "all_sigmoid":
        i, f, g, o = sig(i), sig(f), sig(g), sig(o)
    else:
        i, f, g, o = sig(i), sig(f), tanh(g), sig(o)
    if mistake == "forget_h":
        c_new = f * h + i * g
    elif mistake == "forget_g":
        c_new = c + f * g
    elif mistake == "no_input_gate":
        c_new = f * c + g
    elif mistake == "no_forget_gate":
        c_new = c + i * g
    else:
        c_new = f * c + i * g
    if mistake == "h_no_tanh":
        h_new = o * c_new
    elif mistake == "h_old_c":
        h_new = o * tanh(c)
    else:
        h_new = o * tanh(c_new)
    return h_new, c_new


_LSTM_MISTAKES = {
    "swap_act": "swap tanh and sigmoid: the three gates (input, forget, output) use a sigmoid, so they lie in "
                "(0, 1) like a dial; only the candidate g uses tanh",
    "all_sigmoid": "use a sigmoid for the candidate g too: g is new content in (-1, 1), so it uses tanh",
    "forget_h": "apply the forget gate to the wrong state: it scales the old cell c, not the hidden state h "
                "(c_new = f * c + i * g)",
    "forget_g": "apply the forget gate to the wrong state: it scales the old cell c (c_new = f * c + i * g)",
    "no_input_gate": "forgot the input gate: the candidate is written as i * g",
    "no_forget_gate": "forgot the forget gate: the old cell is kept as f * c",
    "fi": "swap the input and forget gates: PyTorch stacks the gates in the order input, forget, candidate "
          "(g), output",
    "ifog": "read the gates in the order i, f, o, g: PyTorch stacks them as input, forget, candidate (g), output",
    "h_no_tanh": "forgot the tanh of the new cell in the output: h = o * tanh(c_new)",
    "h_old_c": "compute h from the old cell: h = o * tanh(c_new), with the cell you just updated",
}


def _lstm_problem(seed: int, batch: int, input_size: int, hidden: int):
    torch.manual_seed(seed)
    cell = nn.LSTMCell(input_size, hidden)
    g = _seeded(seed)
    x = torch.randn(batch, input_size, generator=g)
    h, c = torch.randn(batch, hidden, generator=g), torch.randn(batch, hidden, generator=g)
    return cell, x, h, c


def _unpack_hc(got: Any) -> tuple[Any, Any]:
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        kind = "None (did you forget to `return`?)" if got is None else f"a {type(got).__name__}"
        raise CheckFailure(f"`lstm_step` should return a pair `(h_new, c_new)`, but it returned {kind}.")
    return got[0], got[1]


def _check_lstm(student, seed: int, batch: int, input_size: int, hidden: int) -> None:
    cell, x, h, c = _lstm_problem(seed, batch, input_size, hidden)
    w = _cell_weights(cell)
    got_h, got_c = _unpack_hc(_call(student, x.clone(), h.clone(), c.clone(), *[t.clone() for t in w],
                                    hints=_SHAPE_HINTS))
    with torch.no_grad():
        ref_h, ref_c = cell(x, (h, c))
    variants = {m: _lstm_variant(x, h, c, *w, mistake=m) for m in _LSTM_MISTAKES}
    if isinstance(got_h, torch.Tensor) and isinstance(got_c, torch.Tensor) and got_h.shape == got_c.shape \
            and torch.allclose(got_h.detach(), ref_c, atol=1e-5) and torch.allclose(got_c.detach(), ref_h, atol=1e-5):
        raise CheckFailure("h and c are swapped: return `(h_new, c_new)`, the hidden state first.")
    expect_close(got_c, ref_c, "the new cell state c",
                 mistakes={_LSTM_MISTAKES[m]: v[1] for m, v in variants.items()})
    expect_close(got_h, ref_h, "the new hidden state h",
                 mistakes={_LSTM_MISTAKES[m]: v[0] for m, v in variants.items()})


@lstm_step.case("matches nn.LSTMCell on a batch of 4 (3 inputs, 5 hidden units)")
def _(student):
    _check_lstm(student, 10, 4, 3, 5)


@lstm_step.case("matches nn.LSTMCell with 8 inputs and 8 hidden units")
def _(student):
    _check_lstm(student, 11, 3, 8, 8)


@lstm_step.case("gradients flow back to x, h, c and the weights as they do through nn.LSTMCell")
def _(student):
    cell, x, h, c = _lstm_problem(12, 2, 3, 4)
    w = [t.requires_grad_() for t in _cell_weights(cell)]
    xs, hs, cs = (t.clone().requires_grad_() for t in (x, h, c))
    got_h, got_c = _unpack_hc(_call(student, xs, hs, cs, *w, hints=_SHAPE_HINTS))
    expect_tensor(got_h, "the new hidden state h", shape=(2, 4))
    expect_tensor(got_c, "the new cell state c", shape=(2, 4))
    if got_h.grad_fn is None or got_c.grad_fn is None:
        raise CheckFailure("the outputs are not connected to the inputs by autograd: compute them with torch "
                           "operations on the tensors you were given (no .detach(), .item() or NumPy).")
    (got_h.sum() + 2 * got_c.sum()).backward()
    xr, hr, cr = (t.clone().requires_grad_() for t in (x, h, c))
    ref_h, ref_c = cell(xr, (hr, cr))
    (ref_h.sum() + 2 * ref_c.sum()).backward()
    expect_close(xs.grad, xr.grad, "the gradient with respect to x")
    expect_close(hs.grad, hr.grad, "the gradient with respect to h")
    expect_close(cs.grad, cr.grad, "the gradient with respect to c")
    expect_close(w[0].grad, cell.weight_ih.grad, "the gradient with respect to weight_ih")


# --- 3. lm_metrics -----------------------------------------------------------------------------

lm_metrics = exercise(
    "ch04.lm_metrics", name="lm_metrics",
    description="From logits (B, T, V) and targets (B, T): the mean cross-entropy in nats per character, the "
                "perplexity and the bits per character, returned as (loss, perplexity, bits_per_char).",
    points=1, timeout=10,
)
_CE_HINTS = {
    "Expected target size": "F.cross_entropy wants the classes in dimension 1: flatten logits to (B*T, V) and "
                            "targets to (B*T,) first.",
    "Expected input batch_size": "F.cross_entropy wants logits (N, V) and targets (N,): flatten both the same way.",
}


def _unpack_metrics(got: Any) -> tuple[Any, Any, Any]:
    if not isinstance(got, (tuple, list)) or len(got) != 3:
        kind = "None (did you forget to `return`?)" if got is None else f"a {type(got).__name__}"
        raise CheckFailure("`lm_metrics` should return three numbers `(loss, perplexity, bits_per_char)`, but it "
                           f"returned {kind}.")
    return got[0], got[1], got[2]


def _metric_problem(seed: int, B: int, T: int, V: int, scale: float = 2.0):
    g = _seeded(seed)
    return scale * torch.randn(B, T, V, generator=g), torch.randint(0, V, (B, T), generator=g)


def _check_metrics(student, seed: int, B: int, T: int, V: int) -> None:
    logits, targets = _metric_problem(seed, B, T, V)
    loss, ppl, bpc = _unpack_metrics(_call(student, logits.clone(), targets.clone(), hints=_CE_HINTS))
    ref = F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1)).double()
    ln2 = math.log(2)
    expect_close(loss, ref, "the loss (mean cross-entropy, nats per character)", mistakes={
        "sum the per-character losses instead of averaging them": ref * B * T,
        "measure the loss in bits (log2) instead of nats (the natural log, as F.cross_entropy uses)": ref / ln2,
        "average over the batch only, not over every character": ref * T,
    })
    expect_close(ppl, ref.exp(), "the perplexity", rtol=1e-4, mistakes={
        "mix log2 and ln: with a loss in nats the perplexity is e^loss, not 2^loss": 2 ** ref,
        "return e^(-loss): perplexity is exp(+loss), the average number of choices": (-ref).exp(),
        "compute the perplexity from the summed loss": (ref * B * T).exp() if ref * B * T < 700 else math.inf,
    })
    expect_close(bpc, ref / ln2, "bits per character", mistakes={
        "multiply by ln 2 instead of dividing: bits = nats / ln 2": ref * ln2,
        "forgot to convert nats to bits (divide by ln 2)": ref,
        "divide by ln 10 (that gives decimal digits, not bits)": ref / math.log(10),
        "take log2 of the loss: bits per char = loss / ln 2 = log2(perplexity)": ref.log2(),
    })


@lm_metrics.case("loss, perplexity and bits per char on a (2, 3, 5) batch")
def _(student):
    _check_metrics(student, 20, 2, 3, 5)


@lm_metrics.case("the same on a (4, 16, 65) batch, tiny shakespeare's 65 characters")
def _(student):
    _check_metrics(student, 21, 4, 16, 65)


@lm_metrics.case("uniform logits over 65 characters give perplexity 65 and log2(65) bits")
def _(student):
    logits, targets = torch.zeros(2, 8, 65), torch.randint(0, 65, (2, 8), generator=_seeded(22))
    loss, ppl, bpc = _unpack_metrics(_call(student, logits, targets, hints=_CE_HINTS))
    expect_close(ppl, 65.0, "the perplexity of a uniform guess over 65 characters", rtol=1e-4, mistakes={
        "mix log2 and ln: with a loss in nats the perplexity is e^loss, not 2^loss": 2 ** math.log(65),
    })
    expect_close(bpc, math.log2(65), "bits per character of a uniform guess over 65 characters")


# --- 4. sample_next ----------------------------------------------------------------------------

sample_next = exercise(
    "ch04.sample_next", name="sample_next",
    description="Draw one id per row of logits (B, V) from softmax(logits / temperature), with torch.multinomial "
                "and the given generator; return a (B,) tensor of int64 ids.",
    points=1, timeout=15,
)
_N_DRAWS = 20000
_SAMPLE_LOGITS = torch.tensor([0.0, 1.0, 2.0, 3.0, -1.0])


def _draw(student, temperature: float, seed: int) -> torch.Tensor:
    logits = _SAMPLE_LOGITS.expand(_N_DRAWS, -1).clone()  # the same row many times: frequencies ≈ probabilities
    got = _call(student, logits, temperature, _seeded(seed), hints={
        "probability tensor contains": "torch.multinomial needs non-negative, finite probabilities: apply the "
                                       "softmax to the scaled logits.",
    })
    got = expect_tensor(got, "the sampled ids")
    if tuple(got.shape) == (_N_DRAWS, 1):
        raise CheckFailure(f"the ids have shape {tuple(got.shape)}; return one id per row, shape (B,): "
                           "`.squeeze(-1)` the (B, 1) that torch.multinomial gives.")
    expect_tensor(got, "the sampled ids", shape=(_N_DRAWS,))
    expect_true(not got.is_floating_point(), f"the ids should be integers (int64), got {got.dtype}.")
    expect_true(bool(((got >= 0) & (got < len(_SAMPLE_LOGITS))).all()),
                "some ids are outside [0, vocab_size): sample along the last dimension (the vocabulary).")
    return got


def _frequencies(ids: torch.Tensor) -> torch.Tensor:
    return torch.bincount(ids.long(), minlength=len(_SAMPLE_LOGITS)).double() / ids.numel()


def _check_temperature(student, temperature: float, seed: int) -> None:
    freq = _frequencies(_draw(student, temperature, seed))
    z = _SAMPLE_LOGITS.double()
    greedy = F.one_hot(z.argmax(), len(z)).double()
    expect_close(freq, torch.softmax(z / temperature, -1), f"the frequencies of {_N_DRAWS} draws at temperature "
                 f"{temperature}", atol=0.02, rtol=0, mistakes={
                     "apply the temperature after the softmax: dividing probabilities by T changes nothing once "
                     "torch.multinomial renormalises them; divide the logits": torch.softmax(z, -1),
                     "multiply the logits by the temperature instead of dividing by it":
                         torch.softmax(z * temperature, -1),
                     "always take the most likely id (argmax) instead of sampling": greedy,
                     "take the softmax over the batch dimension instead of the vocabulary (dim=-1)":
                         torch.full_like(z, 1 / len(z)),
                 })


@sample_next.case(f"at temperature 0.5 the ids follow softmax(logits / 0.5) ({_N_DRAWS} draws)")
def _(student):
    _check_temperature(student, 0.5, 30)


@sample_next.case(f"at temperature 2 the ids follow softmax(logits / 2) ({_N_DRAWS} draws)")
def _(student):
    _check_temperature(student, 2.0, 31)


@sample_next.case("the same generator state gives the same ids (the draw is repeatable)")
def _(student):
    a, b = _draw(student, 1.0, 32), _draw(student, 1.0, 32)
    expect_true(torch.equal(a, b), "two calls with generators seeded alike gave different ids: pass "
                                   "`generator=generator` to torch.multinomial so a seed makes the text repeatable.")

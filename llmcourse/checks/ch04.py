"""Chapter 4's graded exercises: backpropagation through time by hand, a GRU over a sequence, and gradient
clipping by the global norm.

The chapter writes the vanilla RNN cell, the truncated-BPTT loop and the sampler, measures how the product of
step Jacobians grows or shrinks, clips with ``torch.nn.utils.clip_grad_norm_`` and describes the GRU in words.
Each exercise asks for what it explained but did not write: the gradient that autograd carried back through
the steps (by hand), the GRU itself, and the clipping. Every case draws its inputs from the run's trial. The
expected answers come from the teacher's references (``solutions/references/ch04.py``: PyTorch's own, autograd
through ``nn.RNN`` for the hand-written gradients, ``nn.GRU`` with the very tensors the learner gets as its
weights, so gradients are compared too, and ``clip_grad_norm_`` on copies of the same parameters), live on the
teacher's side and replayed from the recording in a learner's check; known mistakes are computed on the same
inputs, so a message can name the one an answer makes.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ..grading import wire
from ..grading.core import CheckFailure, Forbidden, Trial, exercise
from ..grading.expect import TensorInfo, expect_true, kind_of

_WEIGHTS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def sequence_inputs(t: Trial, batch: int, length: int, n_in: int, hidden: int, *, blocks: int = 1,
                    recurrent: float = 1.0, scale: float = 1.0, dtype: torch.dtype = torch.float32,
                    strided: bool = False) -> list[torch.Tensor]:
    """x (B, T, I), h0 (B, H) and a layer's weights (blocks*H, I), (blocks*H, H), biases (blocks*H,).

    Pre-activations are of order ``scale`` (1: the squashing is far from linear, so an answer that gets it
    wrong is far off); ``recurrent`` scales W_hh alone (above 1: the state's share dominates). ``strided``
    makes x a non-contiguous view (drawn as (T, B, I) and transposed), as a batch sliced out of a longer
    tensor is.
    """
    if strided:
        x = t.randn(length, batch, n_in, scale=scale, dtype=dtype).transpose(0, 1)  # (B, T, I), non-contiguous
    else:
        x = t.randn(batch, length, n_in, scale=scale, dtype=dtype)  # (B, T, I)
    h0 = t.randn(batch, hidden, scale=0.8, dtype=dtype)  # (B, H)
    w_ih = t.randn(blocks * hidden, n_in, scale=scale / math.sqrt(n_in), dtype=dtype)  # (blocks*H, I)
    w_hh = t.randn(blocks * hidden, hidden, scale=recurrent * scale / math.sqrt(hidden), dtype=dtype)  # (blocks*H, H)
    b_ih = t.randn(blocks * hidden, scale=0.5 * scale, dtype=dtype)  # (blocks*H,)
    b_hh = t.randn(blocks * hidden, scale=0.5 * scale, dtype=dtype)  # (blocks*H,)
    return [x, h0, w_ih, w_hh, b_ih, b_hh]


# Tolerances by the inputs' dtype. float16 and bfloat16 answers are compared with the float32 computation of the same
# low-precision inputs, rounded once to their dtype: an answer computed in the low dtype itself rounds at every step
# (the master's own float16 gradients are off by up to 0.0034, its bfloat16 GRU gradients by up to 0.019 over 40
# seeds, so 2e-3 and 1e-2 would fail it).
_TOL = {torch.float32: {"atol": 1e-5, "rtol": 1e-4}, torch.float64: {"atol": 1e-10, "rtol": 1e-8},
        torch.float16: {"atol": 4e-3, "rtol": 4e-3}, torch.bfloat16: {"atol": 3e-2, "rtol": 3e-2}}


def spiked(t: Trial, inputs: list[torch.Tensor], low: float, high: float) -> list[torch.Tensor]:
    """The same inputs with x's features at one or two steps (never all) scaled by a factor drawn from [low, high):
    raw, unnormalised features (a count, a price) in the tens or hundreds, whose pre-activations there run into the
    hundreds and saturate every tanh and sigmoid, where one written with exp overflows."""
    x, *rest = inputs
    length = x.shape[1]
    steps = t.py.sample(range(length), min(length - 1, t.py.randint(1, 2)))
    x = x.clone()
    for step in steps:
        x[:, step] *= t.py.uniform(low, high)
    return [x, *rest]


# --- ids, shared with chapter 8's samplers ------------------------------------------------------


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


# --- 1. rnn_bptt --------------------------------------------------------------------------------

rnn_bptt = exercise(
    "ch04.rnn_bptt", name="rnn_bptt",
    description="Backpropagation through time by hand for a one-layer tanh RNN (nn.RNN's weights) over x (B, T, I) "
                "from h0 (B, H): given dL/doutputs (B, T, H), the gradient of the loss with respect to every "
                "output state, return (dL/dx, dL/dh0, dL/dweight_ih, dL/dweight_hh, dL/dbias_ih, dL/dbias_hh), "
                "each shaped and typed like its tensor; no autograd.",
    args=("x", "h0", *_WEIGHTS, "grad_outputs"), points=3, timeout=15, no_autograd=True, hints={
        "cannot be multiplied": "check the shapes: every gradient has the shape of its tensor, and each "
                                "weight is stored as (H, I) or (H, H), as nn.RNN stores it.",
        "The size of tensor a": "check the shapes: a gradient you carry from step to step has the shape of "
                                "the state, (B, H); a bias's gradient has one entry per hidden unit.",
        "out of range": "B, T, I and H change from call to call (T can be 1): read them from the shapes.",
    },
)
_GRAD_NAMES = ("dL/dx", "dL/dh0", "dL/dweight_ih", "dL/dweight_hh", "dL/dbias_ih", "dL/dbias_hh")


def check_bptt(t: Trial, inputs: list[torch.Tensor], grad_outputs: torch.Tensor) -> None:
    """rnn_bptt against autograd through nn.RNN, each of the six gradients on its own."""
    got = t.call(*inputs, grad_outputs).value
    if not isinstance(got, (tuple, list)) or len(got) != 6:
        raise CheckFailure("`rnn_bptt` should return six tensors (dL/dx, dL/dh0, dL/dweight_ih, dL/dweight_hh, "
                           f"dL/dbias_ih, dL/dbias_hh), but it returned {kind_of(got)}.", "type")
    plain = [v.detach().clone() for v in inputs]
    expected = t.reference("ch04.rnn_bptt", *plain, grad_outputs)
    mistakes = t.reference("ch04.rnn_bptt/mistakes", *plain, grad_outputs)
    slack = t.rounding_slack("ch04.rnn_bptt", *plain, grad_outputs)["value"] or [None] * 6
    tol = _TOL[inputs[0].dtype]
    for k, name in enumerate(_GRAD_NAMES):
        # over many steps float32 sums round at the largest's scale
        size = max(1.0, float(expected[k].abs().max()) if expected[k].numel() else 0.0)
        t.expect(got[k], expected[k], name, mistakes={text: values[k] for text, values in mistakes.items()},
                 atol=tol["atol"] * size, rtol=tol["rtol"], slack=slack[k])


def upstream_for(t: Trial, batch: int, length: int, hidden: int, *, zero_steps: tuple[int, ...] = (),
                 dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """dL/doutputs (B, T, H), zero at ``zero_steps`` (the loss does not read those outputs)."""
    grad = t.randn(batch, length, hidden, dtype=dtype)
    grad[:, list(zero_steps)] = 0.0
    return grad


@rnn_bptt.case("a single step (T = 1), with fewer inputs than hidden units")
def _(t: Trial) -> None:
    batch, n_in = t.py.randint(2, 4), t.py.randint(2, 3)
    hidden = n_in + t.py.randint(1, 3)
    check_bptt(t, sequence_inputs(t, batch, 1, n_in, hidden), upstream_for(t, batch, 1, hidden))


@rnn_bptt.case("a few steps, every output read by the loss, more inputs than hidden units")
def _(t: Trial) -> None:
    batch, length, hidden = t.py.randint(2, 4), t.py.randint(4, 7), t.py.randint(2, 4)
    n_in = hidden + t.py.randint(1, 3)
    check_bptt(t, sequence_inputs(t, batch, length, n_in, hidden), upstream_for(t, batch, length, hidden))


@rnn_bptt.case("a batch of one sequence (B = 1), x a non-contiguous view, the loss reading only the last output")
def _(t: Trial) -> None:
    length, n_in, hidden = t.py.randint(5, 8), t.py.randint(2, 4), t.py.randint(3, 5)
    check_bptt(t, sequence_inputs(t, 1, length, n_in, hidden, strided=True),
               upstream_for(t, 1, length, hidden, zero_steps=tuple(range(length - 1))))


@rnn_bptt.case("50 steps with large recurrent weights and inputs, some outputs not read by the loss; float64 "
               "throughout (the gradients too)")
def _(t: Trial) -> None:
    # float64: over 50 steps with weights this large the gradient can grow by orders of magnitude, and float32
    # rounding grows with it (autograd's own float32 answer is then off by up to about 0.4% of the largest entry)
    batch, length, hidden = t.py.randint(2, 3), 50, t.py.randint(4, 6)
    n_in = t.py.randint(2, 3)
    inputs = sequence_inputs(t, batch, length, n_in, hidden, recurrent=t.py.uniform(1.5, 2.5), scale=2.0,
                             dtype=torch.float64)
    zero = tuple(step for step in range(length) if t.py.random() < 0.5)
    check_bptt(t, inputs, upstream_for(t, batch, length, hidden, zero_steps=zero, dtype=torch.float64))


@rnn_bptt.case("square weights (I = H), the first outputs not read by the loss")
def _(t: Trial) -> None:
    batch, length, size = t.py.randint(2, 4), t.py.randint(6, 10), t.py.randint(3, 5)
    skip = t.py.randint(2, 4)
    check_bptt(t, sequence_inputs(t, batch, length, size, size),
               upstream_for(t, batch, length, size, zero_steps=tuple(range(skip))))


@rnn_bptt.case("unnormalised inputs: at one or two steps features in the hundreds saturate the tanh (its slope 0 "
               "there, the gradient cut), the other steps as usual")
def _(t: Trial) -> None:
    batch, length, n_in, hidden = t.py.randint(2, 3), t.py.randint(5, 8), t.py.randint(2, 4), t.py.randint(3, 5)
    inputs = spiked(t, sequence_inputs(t, batch, length, n_in, hidden), 60.0, 150.0)
    check_bptt(t, inputs, upstream_for(t, batch, length, hidden))


@rnn_bptt.case("float16 throughout, as mixed-precision activations come: the gradients stay float16")
def _(t: Trial) -> None:
    batch, length, n_in, hidden = t.py.randint(2, 4), t.py.randint(2, 4), t.py.randint(2, 4), t.py.randint(3, 5)
    check_bptt(t, sequence_inputs(t, batch, length, n_in, hidden, dtype=torch.float16),
               upstream_for(t, batch, length, hidden, dtype=torch.float16))


@rnn_bptt.case("an empty batch (B = 0): dL/dx and dL/dh0 empty, the weights' gradients all zero")
def _(t: Trial) -> None:
    length, n_in, hidden = t.py.randint(2, 4), t.py.randint(2, 4), t.py.randint(2, 4)
    check_bptt(t, sequence_inputs(t, 0, length, n_in, hidden), upstream_for(t, 0, length, hidden))


# --- 2. gru_sequence ----------------------------------------------------------------------------

_GRU_YOURSELF = "the recurrence, step by step, is this exercise: write it with matrix products, sigmoid and tanh."
GRU_FORBIDDEN = (
    Forbidden(module="torch.nn.modules.rnn",
              why="PyTorch's recurrent layers (nn.GRU, nn.GRUCell, and nn.RNN / nn.LSTM beside them) compute the "
                  "GRU for you; " + _GRU_YOURSELF),
    Forbidden("torch.gru",
              why="torch.gru (also reached as torch._VF.gru) is the kernel behind nn.GRU; " + _GRU_YOURSELF),
    Forbidden("torch.gru_cell",
              why="torch.gru_cell (also reached as torch._VF.gru_cell) is the kernel behind nn.GRUCell; "
                  + _GRU_YOURSELF),
)

gru_sequence = exercise(
    "ch04.gru_sequence", name="gru_sequence",
    description="A one-layer GRU over x (B, T, I) from h0 (B, H), with nn.GRU's weights and conventions (gate "
                "blocks stacked reset, update, new; the reset gate scales the state's whole share of the "
                "candidate, its bias included; the update gate keeps the old state): return (outputs (B, T, H), "
                "h_T (B, H)).",
    args=("x", "h0", *_WEIGHTS), points=2, timeout=15, grad=True, forbidden=GRU_FORBIDDEN, hints={
        "not enough values to unpack": "split along the last dimension (three blocks of hidden_size columns); "
                                       "without `dim=-1` the split runs over the batch.",
        "must match the size": "check the shapes: each of the three blocks has hidden_size columns (hidden_size is "
                               "h0's last dimension, not x's), and each bias has one entry per row of its weight.",
        "cannot be multiplied": "check the shapes: like nn.GRU, `weight_ih` is stored as (3 * hidden, input) and "
                                "`weight_hh` as (3 * hidden, hidden).",
        "in-place operation": "writing each step's state into a preallocated tensor in place breaks the "
                              "gradient: collect the states in a list and stack them.",
    },
)


def check_gru(t: Trial, inputs: list[torch.Tensor], grad_atol: float | None = None) -> None:
    """gru_sequence against nn.GRU on fresh inputs: outputs, last state and every input's gradient."""
    t.check_call(*inputs, reference="ch04.gru_sequence", what="(outputs, h_T)", mistakes="ch04.gru_sequence/mistakes",
                 grad_atol=grad_atol, **_TOL[inputs[0].dtype])


@gru_sequence.case("values and gradients match nn.GRU over a few steps, fewer inputs than hidden units")
def _(t: Trial) -> None:
    n_in = t.py.randint(2, 3)
    check_gru(t, sequence_inputs(t, t.py.randint(2, 4), t.py.randint(3, 6), n_in, n_in + t.py.randint(1, 3),
                                 blocks=3))


@gru_sequence.case("values and gradients match nn.GRU with as many inputs as hidden units (square weights)")
def _(t: Trial) -> None:
    size = t.py.randint(3, 5)
    check_gru(t, sequence_inputs(t, t.py.randint(2, 3), t.py.randint(3, 5), size, size, blocks=3))


@gru_sequence.case("a batch of one sequence (B = 1) of one step (T = 1), more inputs than hidden units")
def _(t: Trial) -> None:
    hidden = t.py.randint(2, 3)
    check_gru(t, sequence_inputs(t, 1, 1, hidden + t.py.randint(2, 4), hidden, blocks=3))


@gru_sequence.case("20 steps with large weights that saturate the gates; x a non-contiguous view")
def _(t: Trial) -> None:
    check_gru(t, sequence_inputs(t, t.py.randint(2, 3), 20, t.py.randint(2, 4), t.py.randint(3, 4), blocks=3,
                                 scale=2.5, strided=True))


@gru_sequence.case("float64 throughout: outputs, state and gradients stay float64")
def _(t: Trial) -> None:
    check_gru(t, sequence_inputs(t, t.py.randint(2, 3), t.py.randint(4, 7), t.py.randint(2, 4), t.py.randint(2, 4),
                                 blocks=3, dtype=torch.float64))


@gru_sequence.case("unnormalised inputs: at one or two steps features in the hundreds drive the gates' "
                   "pre-activations into the hundreds (a sigmoid or tanh written with exp overflows there)")
def _(t: Trial) -> None:
    inputs = sequence_inputs(t, t.py.randint(2, 3), t.py.randint(4, 7), t.py.randint(2, 4), t.py.randint(2, 4),
                             blocks=3)
    check_gru(t, spiked(t, inputs, 60.0, 150.0), grad_atol=1e-4)


@gru_sequence.case("bfloat16 throughout, as mixed-precision activations come: outputs, state and gradients stay "
                   "bfloat16")
def _(t: Trial) -> None:
    check_gru(t, sequence_inputs(t, t.py.randint(2, 4), t.py.randint(2, 4), t.py.randint(2, 4), t.py.randint(2, 4),
                                 blocks=3, dtype=torch.bfloat16))


@gru_sequence.case("an empty batch (B = 0): outputs (0, T, H) and h_T (0, H)")
def _(t: Trial) -> None:
    check_gru(t, sequence_inputs(t, 0, t.py.randint(2, 4), t.py.randint(2, 4), t.py.randint(2, 4), blocks=3))


# --- 3. clip_grad_norm --------------------------------------------------------------------------

_CLIP_YOURSELF = "computing the global norm and scaling by it is this exercise: write both with tensor operations."
CLIP_FORBIDDEN = (
    Forbidden(module="torch.nn.utils.clip_grad",
              why="torch.nn.utils.clip_grad_norm_ (and clip_grad_norm, get_total_norm, clip_grads_with_norm_, "
                  "which live with it) clips the gradients for you; " + _CLIP_YOURSELF),
    Forbidden("torch._foreach_norm",
              why="torch._foreach_norm computes every tensor's norm in one call, the kernel clip_grad_norm_ uses; "
                  + _CLIP_YOURSELF),
)

clip_grad_norm = exercise(
    "ch04.clip_grad_norm", name="clip_grad_norm",
    description="Clip the gradients of a list (or one-shot iterator) of parameters by their global norm, as "
                "torch.nn.utils.clip_grad_norm_ does (norm_type 2.0 or inf, the coefficient max_norm / (total "
                "+ 1e-6) capped at 1, parameters without a gradient skipped): afterwards each parameter's .grad "
                "holds its clipped gradient; return the total norm before clipping as a 0-d tensor of the "
                "gradients' dtype.",
    args=("parameters", "max_norm", "norm_type"), points=1, timeout=10, mutates=("parameters",),
    forbidden=CLIP_FORBIDDEN, hints={
        "NoneType": "some parameters have no gradient (`p.grad is None`, as for a frozen layer): skip them.",
        "zero-dimensional tensor": "`torch.cat` needs tensors with at least one dimension: flatten each gradient "
                                   "first, or combine per-tensor norms instead.",
    },
)


def check_clip(t: Trial, shapes: list[tuple[int, ...]], max_norm: float, norm_type: float, *,
               frozen: tuple[int, ...] = (), scale: float = 1.0, dtype: torch.dtype = torch.float32,
               one_shot: bool = False) -> None:
    """One call on fresh parameters (gradients of about ``scale`` per entry; none at ``frozen``); the returned
    norm, the gradients and the parameters afterwards against clip_grad_norm_ on copies."""
    values = [t.randn(*shape, dtype=dtype) for shape in shapes]
    grads = [None if i in frozen else t.randn(*shape, scale=scale, dtype=dtype) for i, shape in enumerate(shapes)]
    params = [wire.LeafSpec(v, g) for v, g in zip(values, grads, strict=True)]
    out = t.call(wire.IterSpec(params) if one_shot else params, max_norm, norm_type)
    after = out.args_after[0]
    expect_true(isinstance(after, list) and len(after) == len(params) and all(isinstance(a, TensorInfo)
                                                                              for a in after),
                "the parameters could not be read back after the call.", "error")
    for i, (a, v, g) in enumerate(zip(after, values, grads, strict=True)):
        expect_true(torch.equal(a.value, v), f"parameter {i}'s values changed: clipping scales the gradients (`.grad`) "
                                             "only, never the parameters themselves.")
        expect_true(a.is_leaf and a.requires_grad, f"parameter {i} should still be a leaf tensor that requires grad.")
        if g is None:
            expect_true(a.grad is None, f"parameter {i} had no gradient (`.grad` was None) and should keep none.")
    total, clipped = t.reference("ch04.clip_grad_norm", values, grads, max_norm, norm_type)
    mistakes = t.reference("ch04.clip_grad_norm/mistakes", grads, max_norm, norm_type)
    tol = {torch.float32: {"atol": 0.0, "rtol": 2e-5}, torch.float64: {"atol": 0.0, "rtol": 1e-9},
           torch.float16: {"atol": 0.0, "rtol": 2e-3}, torch.bfloat16: {"atol": 0.0, "rtol": 1.6e-2}}[dtype]
    got_grads = [a.grad for a in after]
    how = (f"(max_norm {max_norm:g}, norm_type {norm_type:g}, {len(shapes)} parameters, {len(frozen)} without a "
           "gradient)")
    t.expect(out.value, total, f"the returned total norm {how}",
             mistakes={text: value[0] for text, value in mistakes.items()}, **tol)
    if all(c is None or torch.equal(c, g) for c, g in zip(got_grads, grads, strict=True)) and \
            not all(c is None or torch.equal(c, g) for c, g in zip(clipped, grads, strict=True)):
        raise CheckFailure(f"the gradients were left as they were {how}, though their total norm is above max_norm. "
                           "Each parameter's `.grad` must hold its clipped gradient afterwards (scale it in place, "
                           "`p.grad.mul_(coef)`, as clip_grad_norm_ does): computing new tensors and not storing "
                           "them in `.grad` leaves the model's gradients unclipped" +
                           ("; and `parameters` may be a one-shot iterator, like model.parameters(), which a second "
                            "loop over finds empty: make a list of it first" if one_shot else "") + ".", "wrong")
    t.expect(got_grads, clipped, f"the gradients after clipping {how}",
             mistakes={text: value[1] for text, value in mistakes.items()}, **tol)


def _max_norm(t: Trial) -> float:
    return round(t.py.uniform(0.5, 2.0), 3)


@clip_grad_norm.case("2-norm over several parameters, total above max_norm, one parameter without a gradient")
def _(t: Trial) -> None:
    rows, cols = t.py.randint(2, 5), t.py.randint(2, 5)
    check_clip(t, [(rows, cols), (rows,), (cols, rows), ()], _max_norm(t), 2.0, frozen=(t.py.randrange(4),))


@clip_grad_norm.case("2-norm with a total below max_norm: the gradients stay as they are")
def _(t: Trial) -> None:
    rows, cols = t.py.randint(2, 4), t.py.randint(2, 4)
    check_clip(t, [(rows, cols), (cols,)], round(t.py.uniform(20.0, 40.0), 2), 2.0, scale=0.3)


@clip_grad_norm.case("inf-norm (the largest absolute entry), float64 gradients")
def _(t: Trial) -> None:
    rows, cols = t.py.randint(2, 5), t.py.randint(2, 5)
    check_clip(t, [(rows, cols), (cols,), (1, rows)], _max_norm(t), math.inf, dtype=torch.float64, scale=1.5)


@clip_grad_norm.case("tiny gradients and a tinier max_norm, where the 1e-6 in the coefficient matters")
def _(t: Trial) -> None:
    rows = t.py.randint(2, 4)
    check_clip(t, [(rows, 3), (rows,)], round(t.py.uniform(2e-4, 5e-4), 6), 2.0, scale=1e-3)


@clip_grad_norm.case("large gradients (about 1e4 per entry) from a one-shot iterator, as model.parameters() gives")
def _(t: Trial) -> None:
    rows, cols = t.py.randint(3, 6), t.py.randint(2, 4)
    check_clip(t, [(rows, cols), (cols,), (rows,)], _max_norm(t), t.py.choice((2.0, math.inf)),
               frozen=(t.py.randrange(3),), scale=1e4, one_shot=True)


@clip_grad_norm.case("float16 gradients, as a model kept in half precision has: the norm comes back float16")
def _(t: Trial) -> None:
    rows, cols = t.py.randint(2, 4), t.py.randint(2, 4)
    check_clip(t, [(rows, cols), (cols,), (rows,)], _max_norm(t), t.py.choice((2.0, math.inf)), dtype=torch.float16,
               scale=2.0)


@clip_grad_norm.case("a parameter with no entries (shape (0, k)) among others, 2-norm: it adds nothing to the norm")
def _(t: Trial) -> None:
    rows, cols = t.py.randint(2, 4), t.py.randint(2, 4)
    check_clip(t, [(rows, cols), (0, cols), (rows,)], _max_norm(t), 2.0)

"""Chapter 4's graded exercises: one RNN step, one LSTM step (four gates and the cell update), the loss with
its perplexity and bits per character, and one sampling step with temperature.

Every case draws its inputs from the run's trial, so they change from run to run. The references are
PyTorch's own: ``nn.RNNCell`` / ``nn.LSTMCell`` called with the learner's very tensors as their weights
(``torch.func.functional_call``), so values and gradients are compared with theirs; ``F.cross_entropy``;
and ``softmax(logits / T)`` for the frequencies of many draws. Known mistakes are computed on the same
inputs, so a message can name the one an answer makes.
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
from .expect import kind_of

_WEIGHTS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")

_SHAPE_HINTS = {
    "cannot be multiplied": "check the shapes: like nn.RNNCell, `weight_ih` is stored as (hidden, input) and "
                            "`weight_hh` as (hidden, hidden), so multiply by their transposes.",
    "must match the size": "check the shapes: each bias has one entry per row of its weight matrix, and the "
                           "result has hidden_size columns.",
}


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


def _try(compute: dict[str, Any]) -> dict[str, Any]:
    """Each mistake's value; a mistake that cannot run on these shapes is left out (the answer cannot be it)."""
    values = {}
    for description, fn in compute.items():
        try:
            values[description] = fn()
        except RuntimeError:
            pass
    return values


# --- 1. rnn_step -------------------------------------------------------------------------------

rnn_step = exercise(
    "ch04.rnn_step", name="rnn_step",
    description="One vanilla RNN step: h_new = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh), as nn.RNNCell computes.",
    args=("x", "h", *_WEIGHTS), points=1, timeout=10, grad=True, hints=_SHAPE_HINTS,
)


def rnn_reference(x: torch.Tensor, h: torch.Tensor, w_ih: torch.Tensor, w_hh: torch.Tensor, b_ih: torch.Tensor,
                  b_hh: torch.Tensor) -> torch.Tensor:
    """nn.RNNCell itself, with these tensors as its weights (so autograd reaches them): (B, H)."""
    cell = nn.RNNCell(w_ih.shape[1], w_ih.shape[0], device="meta")  # no weights of its own, no global RNG
    return functional_call(cell, dict(zip(_WEIGHTS, (w_ih, w_hh, b_ih, b_hh), strict=True)), (x, h))


def rnn_mistakes(x: torch.Tensor, h: torch.Tensor, w_ih: torch.Tensor, w_hh: torch.Tensor, b_ih: torch.Tensor,
                 b_hh: torch.Tensor) -> dict[str, torch.Tensor]:
    """What each known mistake gives on these inputs (those that crash on these shapes are left out)."""
    def z() -> torch.Tensor:
        return x @ w_ih.T + b_ih + h @ w_hh.T + b_hh

    return _try({
        "use a sigmoid instead of tanh (an RNN's state lies in (-1, 1), centred on 0)": lambda: torch.sigmoid(z()),
        "forgot the tanh: without it the state can grow without bound": z,
        "forgot the recurrent term h @ W_hh^T: without it the cell has no memory of earlier steps":
            lambda: torch.tanh(x @ w_ih.T + b_ih + b_hh),
        "forgot the biases": lambda: torch.tanh(x @ w_ih.T + h @ w_hh.T),
        "left out bias_hh: nn.RNNCell adds both biases": lambda: torch.tanh(x @ w_ih.T + b_ih + h @ w_hh.T),
        "left out bias_ih: nn.RNNCell adds both biases": lambda: torch.tanh(x @ w_ih.T + h @ w_hh.T + b_hh),
        "swapped the two weight matrices (W_ih multiplies the input x, W_hh the old state h)":
            lambda: torch.tanh(x @ w_hh.T + b_ih + h @ w_ih.T + b_hh),
        "use the weights without transposing them (they are stored as (hidden, input) and (hidden, hidden))":
            lambda: torch.tanh(x @ w_ih + b_ih + h @ w_hh + b_hh),
        "use W_hh without transposing it: it is square, so h @ W_hh runs, but nn.RNNCell computes h @ W_hh^T":
            lambda: torch.tanh(x @ w_ih.T + b_ih + h @ w_hh + b_hh),
        "use W_ih without transposing it (it is stored as (hidden, input)): x @ W_ih^T":
            lambda: torch.tanh(x @ w_ih + b_ih + h @ w_hh.T + b_hh),
    })


def check_rnn(t: Trial, batch: int, n_in: int, hidden: int, scale: float = 1.0) -> None:
    """rnn_step against nn.RNNCell on fresh inputs (all multiplied by ``scale``): values and gradients."""
    inputs = [scale * v for v in cell_inputs(t, batch, n_in, hidden)]
    t.check_call(*inputs, reference=rnn_reference, what="the new hidden state", mistakes=rnn_mistakes)


@rnn_step.case("values and gradients match nn.RNNCell on a batch, with fewer inputs than hidden units")
def _(t: Trial) -> None:
    n_in = t.py.randint(2, 4)
    check_rnn(t, t.py.randint(2, 5), n_in, n_in + t.py.randint(1, 4))


@rnn_step.case("values and gradients match nn.RNNCell with as many inputs as hidden units (square weights)")
def _(t: Trial) -> None:
    size = t.py.randint(3, 6)
    check_rnn(t, t.py.randint(2, 4), size, size)


@rnn_step.case("values and gradients match nn.RNNCell on a batch of one row, with more inputs than hidden units")
def _(t: Trial) -> None:
    hidden = t.py.randint(2, 4)
    check_rnn(t, 1, hidden + t.py.randint(2, 4), hidden)


# --- 2. lstm_step ------------------------------------------------------------------------------

lstm_step = exercise(
    "ch04.lstm_step", name="lstm_step",
    description="One LSTM step: the four gates (input, forget, candidate, output, in PyTorch's order), the new "
                "cell c and the new hidden state h, returned as (h, c) — as nn.LSTMCell computes.",
    args=("x", "h", "c", *_WEIGHTS), points=2, timeout=10, grad=True, hints={
        "not enough values to unpack": "`gates.chunk(4, dim=-1)` splits the last dimension (four blocks of "
                                       "hidden_size columns); without `dim=-1` it splits the batch.",
        "must match the size": "check the shapes: split the gates along the last dimension (`chunk(4, dim=-1)`) "
                               "into four blocks of hidden_size columns each (hidden_size is h's last "
                               "dimension, not x's); each bias has one entry per row of its weight matrix.",
        "cannot be multiplied": "check the shapes: like nn.LSTMCell, `weight_ih` is stored as (4 * hidden, input) "
                                "and `weight_hh` as (4 * hidden, hidden), so multiply x and h by their transposes.",
    },
)


def lstm_reference(x: torch.Tensor, h: torch.Tensor, c: torch.Tensor, w_ih: torch.Tensor, w_hh: torch.Tensor,
                   b_ih: torch.Tensor, b_hh: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """nn.LSTMCell itself, with these tensors as its weights: (h_new, c_new), each (B, H)."""
    cell = nn.LSTMCell(w_ih.shape[1], w_hh.shape[1], device="meta")
    h_new, c_new = functional_call(cell, dict(zip(_WEIGHTS, (w_ih, w_hh, b_ih, b_hh), strict=True)), (x, (h, c)))
    return h_new, c_new


def lstm_variant(x: torch.Tensor, h: torch.Tensor, c: torch.Tensor, w_ih: torch.Tensor, w_hh: torch.Tensor,
                 b_ih: torch.Tensor, b_hh: torch.Tensor, mistake: str = "") -> tuple[torch.Tensor, torch.Tensor]:
    """The LSTM step with one known mistake switched on (to name mistakes, never as the reference)."""
    if mistake == "swap_w":
        gates = x @ w_hh.T + b_ih + h @ w_ih.T + b_hh
    elif mistake == "no_bias":
        gates = x @ w_ih.T + h @ w_hh.T
    else:
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
    c_new = {"forget_h": f * h + i * g, "forget_g": c + f * g, "no_input_gate": f * c + g,
             "no_forget_gate": c + i * g}.get(mistake, f * c + i * g)
    h_new = {"h_no_tanh": o * c_new, "h_old_c": o * tanh(c)}.get(mistake, o * tanh(c_new))
    if mistake == "c_h":
        return c_new, h_new
    return h_new, c_new


LSTM_MISTAKES = {
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
    "c_h": "returned the pair swapped, (c_new, h_new): return (h_new, c_new), the hidden state first",
    "swap_w": "swapped the two weight matrices (W_ih multiplies the input x, W_hh the old state h)",
    "no_bias": "forgot the biases (nn.LSTMCell adds both bias_ih and bias_hh)",
}


def lstm_mistakes(*args: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    return _try({text: (lambda m=m: lstm_variant(*args, mistake=m)) for m, text in LSTM_MISTAKES.items()})


def check_lstm(t: Trial, batch: int, n_in: int, hidden: int, scale: float = 1.0) -> None:
    """lstm_step against nn.LSTMCell on fresh inputs (all multiplied by ``scale``): values and gradients."""
    x, h, w_ih, w_hh, b_ih, b_hh = cell_inputs(t, batch, n_in, hidden, blocks=4)
    c = t.randn(batch, hidden, scale=1.5)  # (B, H): a cell can hold values beyond (-1, 1)
    inputs = [scale * v for v in (x, h, c, w_ih, w_hh, b_ih, b_hh)]
    t.check_call(*inputs, reference=lstm_reference, what="the pair (h_new, c_new)", mistakes=lstm_mistakes)


@lstm_step.case("values and gradients match nn.LSTMCell on a batch, with fewer inputs than hidden units")
def _(t: Trial) -> None:
    n_in = t.py.randint(2, 4)
    check_lstm(t, t.py.randint(2, 5), n_in, n_in + t.py.randint(1, 3))


@lstm_step.case("values and gradients match nn.LSTMCell with as many inputs as hidden units")
def _(t: Trial) -> None:
    size = t.py.randint(3, 6)
    check_lstm(t, t.py.randint(2, 4), size, size)


@lstm_step.case("values and gradients match nn.LSTMCell on a batch of one row, with more inputs than hidden units")
def _(t: Trial) -> None:
    hidden = t.py.randint(2, 4)
    check_lstm(t, 1, hidden + t.py.randint(2, 4), hidden)


# --- 3. lm_metrics -----------------------------------------------------------------------------

lm_metrics = exercise(
    "ch04.lm_metrics", name="lm_metrics",
    description="From logits (B, T, V) and targets (B, T): the mean cross-entropy in nats per character, the "
                "perplexity and the bits per character, returned as (loss, perplexity, bits_per_char), each a "
                "0-d tensor or a Python float.",
    args=("logits", "targets"), points=1, timeout=10, hints={
        "Expected target size": "F.cross_entropy wants the classes in dimension 1: flatten logits to (B*T, V) and "
                                "targets to (B*T,) first.",
        "Expected input batch_size": "F.cross_entropy wants logits (N, V) and targets (N,): flatten both the same "
                                     "way.",
        "is invalid for input of size": "the vocabulary size is logits.size(-1), and B and T change from call "
                                        "to call: don't write any of them as a fixed number.",
    },
)
_METRIC_NAMES = ("the loss (mean cross-entropy, nats per character)", "the perplexity", "bits per character")


def _number(value: Any, what: str) -> torch.Tensor:
    """One of the three results as a 0-d float64 tensor; the task allows a 0-d float tensor or a Python float."""
    if isinstance(value, float):
        return torch.tensor(value, dtype=torch.float64)
    if isinstance(value, torch.Tensor) and value.dim() == 0 and value.dtype in (torch.float32, torch.float64):
        return value.double()
    hint = ""
    if isinstance(value, torch.Tensor) and value.dim() > 0:
        hint = " Average over every character (all B * T of them) to get one number."
    elif isinstance(value, torch.Tensor):
        hint = " Keep the inputs' float dtype (float32)."
    raise CheckFailure(f"{what} should be a single number, a 0-d float tensor or a Python float, but it is "
                       f"{kind_of(value)}.{hint}", "type")


def metrics_reference(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The mean cross-entropy in nats as F.cross_entropy computes it, as a 0-d float64 tensor."""
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1)).double()


def check_metrics(t: Trial, logits: torch.Tensor, targets: torch.Tensor) -> None:
    """Call lm_metrics on (B, T, V) logits and (B, T) targets; compare all three numbers, naming mistakes."""
    got = t.call(logits, targets).value
    if not isinstance(got, (tuple, list)) or len(got) != 3:
        raise CheckFailure("`lm_metrics` should return three numbers `(loss, perplexity, bits_per_char)`, but it "
                           f"returned {kind_of(got)}.", "type")
    loss, ppl, bpc = (_number(v, what) for v, what in zip(got, _METRIC_NAMES, strict=True))
    ref = metrics_reference(logits, targets)
    n, batch = targets.numel(), targets.shape[0]
    ln2 = math.log(2)
    tol = {"atol": 1e-5, "rtol": 1e-4}
    t.expect(loss, ref, _METRIC_NAMES[0], mistakes={
        "sum the per-character losses instead of averaging them": ref * n,
        "measure the loss in bits (log2) instead of nats (the natural log, as F.cross_entropy uses)": ref / ln2,
        "average over the batch only, not over every character": ref * n / batch,
    }, **tol)
    t.expect(ppl, ref.exp(), _METRIC_NAMES[1], mistakes={
        "mix log2 and ln: with a loss in nats the perplexity is e^loss, not 2^loss": 2 ** ref,
        "return e^(-loss): perplexity is exp(+loss), the average number of choices": (-ref).exp(),
        "compute the perplexity from the summed loss": (ref * n).float().exp().double(),  # inf where float32 is
    }, **tol)
    t.expect(bpc, ref / ln2, _METRIC_NAMES[2], mistakes={
        "multiply by ln 2 instead of dividing: bits = nats / ln 2": ref * ln2,
        "forgot to convert nats to bits (divide by ln 2)": ref,
        "divide by ln 10 (that gives decimal digits, not bits)": ref / math.log(10),
        "take log2 of the loss: bits per char = loss / ln 2 = log2(perplexity)": ref.log2(),
    }, **tol)


def metric_inputs(t: Trial, batch: int, length: int, vocab: int, scale: float = 2.0) -> tuple[torch.Tensor, ...]:
    return t.randn(batch, length, vocab, scale=scale), t.randint(0, vocab, (batch, length))  # (B, T, V), (B, T)


@lm_metrics.case("loss, perplexity and bits per character on several sequences of several characters")
def _(t: Trial) -> None:
    check_metrics(t, *metric_inputs(t, t.py.randint(2, 4), t.py.randint(3, 8), t.py.randint(9, 14)))


@lm_metrics.case("the same on one sequence (B=1) over tiny shakespeare's 65 characters")
def _(t: Trial) -> None:
    check_metrics(t, *metric_inputs(t, 1, t.py.randint(10, 20), 65))


@lm_metrics.case("the same with one position per sequence (T=1)")
def _(t: Trial) -> None:
    check_metrics(t, *metric_inputs(t, t.py.randint(3, 6), 1, t.py.randint(20, 40)))


@lm_metrics.case("the same on a single prediction (B=1, T=1)")
def _(t: Trial) -> None:
    check_metrics(t, *metric_inputs(t, 1, 1, t.py.randint(2, 8)))


@lm_metrics.case("the same when every logit is equal (a uniform guess)")
def _(t: Trial) -> None:
    batch, length, vocab = t.py.randint(2, 3), t.py.randint(4, 9), t.py.randint(30, 70)
    logits = torch.full((batch, length, vocab), t.py.uniform(-3.0, 3.0))  # (B, T, V)
    check_metrics(t, logits, t.randint(0, vocab, (batch, length)))


@lm_metrics.case("stays finite and right when a few targets get a probability too small for float32 (gaps > 100)")
def _(t: Trial) -> None:
    logits, targets = metric_inputs(t, t.py.randint(2, 3), t.py.randint(6, 10), t.py.randint(30, 50))
    for b, pos in {(t.py.randrange(logits.shape[0]), t.py.randrange(logits.shape[1])) for _ in range(2)}:
        logits[b, pos, targets[b, pos]] = logits[b, pos].max() - t.py.uniform(105.0, 130.0)
    check_metrics(t, logits, targets)


# --- 4. sample_next ----------------------------------------------------------------------------

sample_next = exercise(
    "ch04.sample_next", name="sample_next",
    description="Draw one id per row of logits (B, V) from softmax(logits / temperature), with torch.multinomial "
                "and the given generator; return a (B,) tensor of int64 ids.",
    args=("logits", "temperature", "generator"), points=1, timeout=15, random=True, hints={
        "probability tensor contains": "torch.multinomial needs non-negative, finite probabilities: apply the "
                                       "softmax (which stays finite for large logits) to the scaled logits.",
        "invalid multinomial distribution": "torch.multinomial needs probabilities that sum to more than 0: "
                                            "apply the softmax to the scaled logits.",
    },
)
DRAWS_PER_ROW = 10_000
_TOL = 6 * math.sqrt(0.25 / DRAWS_PER_ROW)  # six standard errors of a frequency at worst: a right answer passes


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


def sampling_mistakes(logits: torch.Tensor, rows: torch.Tensor, temperature: float) -> dict[str, torch.Tensor]:
    """Each mistake's distribution of ids, per distinct row (R, V); ``logits`` (N, V), ``rows`` (R, V)."""
    z = rows.double()
    # softmax over dim 0 divides each column by its sum over all N rows; torch.multinomial renormalises each row
    column_lse = torch.logsumexp(logits.double() / temperature, dim=0)  # (V,)
    by_batch = torch.softmax(z / temperature - column_lse, dim=-1)  # (R, V)
    return {
        "ignored the temperature, or applied it after the softmax (dividing the probabilities by T changes "
        "nothing once torch.multinomial renormalises them): divide the logits by T": torch.softmax(z, -1),
        "multiply the logits by the temperature instead of dividing by it": torch.softmax(z * temperature, -1),
        "always take the most likely id (argmax) instead of sampling": F.one_hot(z.argmax(-1), z.shape[-1]).double(),
        "take the softmax over the batch dimension instead of the vocabulary (dim=-1)":
            by_batch,
        "drew every row's id from the first row's distribution: draw one id per row":
            torch.softmax(logits[0].double() / temperature, -1).expand_as(z),
    }


def check_distribution(t: Trial, rows: torch.Tensor, temperature: float) -> None:
    """Draw many ids for each of the distinct rows (R, V), shuffled together; frequencies vs softmax(rows / T)."""
    n_rows, vocab = rows.shape
    labels = torch.arange(n_rows).repeat(DRAWS_PER_ROW)[torch.randperm(n_rows * DRAWS_PER_ROW, generator=t.rng)]
    logits = rows[labels]  # (R * DRAWS_PER_ROW, V): every row appears DRAWS_PER_ROW times, in random places
    got = t.call(logits, temperature, wire.GeneratorSpec(t.seed_for("draws"))).value
    ids = check_ids(got, logits.shape[0], vocab)
    freq = torch.zeros(n_rows, vocab, dtype=torch.float64)
    freq.index_put_((labels, ids), torch.ones(len(ids), dtype=torch.float64), accumulate=True)
    freq /= DRAWS_PER_ROW
    t.expect(freq, torch.softmax(rows.double() / temperature, -1),
             f"how often each id is drawn for each of {n_rows} different rows ({DRAWS_PER_ROW} draws each)",
             mistakes=sampling_mistakes(logits, rows, temperature), atol=_TOL, rtol=0)


def sample_rows(t: Trial, n_rows: int, vocab: int, scale: float = 1.5) -> torch.Tensor:
    return t.randn(n_rows, vocab, scale=scale)  # (R, V), distinct rows


@sample_next.case("ids follow softmax(logits / temperature) row by row at a temperature below 1")
def _(t: Trial) -> None:
    check_distribution(t, sample_rows(t, 4, t.py.randint(5, 7)), t.py.uniform(0.4, 0.6))


@sample_next.case("ids follow softmax(logits / temperature) row by row at a temperature above 1")
def _(t: Trial) -> None:
    check_distribution(t, sample_rows(t, 3, t.py.randint(6, 8)), t.py.uniform(1.8, 2.6))


@sample_next.case("ids follow softmax(logits / temperature) for logits far from 0 (beyond ±100), row by row")
def _(t: Trial) -> None:
    rows = sample_rows(t, 4, t.py.randint(5, 7))
    signs = [1, -1, t.py.choice((-1, 1)), t.py.choice((-1, 1))]  # exp(logits / T) overflows float32 on some rows
    t.py.shuffle(signs)
    offsets = torch.tensor([sign * t.py.uniform(130.0, 200.0) for sign in signs])
    check_distribution(t, rows + offsets[:, None], t.py.uniform(0.7, 1.3))


@sample_next.case("a batch of one row gives a (1,) tensor of int64 ids that follows the distribution")
def _(t: Trial) -> None:
    vocab, temperature, n_calls = t.py.randint(3, 4), t.py.uniform(0.8, 1.5), 300
    logits = t.randn(1, vocab, scale=0.6)  # (1, V): no id is nearly certain
    gen = wire.GeneratorSpec(t.seed_for("one-row"))
    outcomes = t.run([Step((logits, temperature, gen)) for _ in range(n_calls)], grad=False)
    ids = torch.cat([check_ids(o.value, 1, vocab) for o in outcomes])
    freq = torch.bincount(ids, minlength=vocab).double() / n_calls
    t.expect(freq, torch.softmax(logits[0].double() / temperature, -1),
             f"how often each id is drawn in {n_calls} calls with one generator", atol=6 * math.sqrt(0.25 / n_calls),
             rtol=0, mistakes={"always take the most likely id (argmax) instead of sampling":
                               F.one_hot(logits[0].argmax(), vocab).double()})


@sample_next.generator_probe
def _(t: Trial, seed: int) -> tuple[Any, ...]:
    logits = torch.randn(16, 6, generator=torch.Generator().manual_seed(t.seed_for("probe")))  # same on every call
    return logits, 1.0, wire.GeneratorSpec(seed)

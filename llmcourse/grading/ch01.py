"""Chapter 1's graded exercises: a linear layer, the backward pass of a two-layer network by hand, an SGD
step, an Adam update by hand, and a complete training loop.

Every case draws its inputs from the run's seed and computes the reference answer at check time with
PyTorch's own implementation (``F.linear``, autograd, SGD's and Adam's update rules, a reference training run), so
nothing here is a pasted number. Known mistakes are computed the same way, so a message can name the
mistake an answer matches. The learner's code runs in a forked child on one CPU thread (see
:mod:`.runner`); the grader's reference training runs use one thread too, so both do the same sums in
the same order.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from ..device import cpu_threads
from . import wire
from .core import Trial, exercise
from .expect import CheckFailure, expect_true, kind_of
from .wire import TensorInfo

# --- helpers -----------------------------------------------------------------------------------------


def _draw_lr(t: Trial, low: float, high: float) -> float:
    """A learning rate in [low, high], kept well away from the values a hard-coded answer would use."""
    while True:
        lr = round(t.py.uniform(low, high), 4)
        if all(abs(lr - fixed) > 0.15 * fixed for fixed in (1.0, 0.1, 0.01, 0.001)):
            return lr


def _sizes(t: Trial, count: int, low: int, high: int) -> list[int]:
    """``count`` different sizes in [low, high] (so no shape is square by accident)."""
    return t.py.sample(range(low, high + 1), count)


# --- 1. linear_forward -------------------------------------------------------------------------------

_SHAPE_HINTS = {
    "cannot be multiplied": "check the shapes: like nn.Linear, `weight` is stored as (out_features, in_features), "
                            "and `x` may have extra leading dimensions (multiply `x` itself, as in `x @ weight.T`: "
                            "`x.T` would reverse all of its dimensions).",
    "size of tensor a": "check the shapes: `bias` has one entry per output feature.",
    "must be a matrix": "torch.mm only takes 2-D matrices; use `@` (torch.matmul), which also handles inputs with "
                        "extra leading dimensions.",
    "batch2 tensor": "on an input with extra leading dimensions `x.T` would reverse all of its dimensions: multiply "
                     "`x` itself by the transposed weight (`x @ weight.T`), which handles any leading dimensions.",
    "2D": "use `@` (torch.matmul), which also handles inputs with extra leading dimensions.",
}

linear_forward = exercise(
    "ch01.linear_forward", name="linear_forward",
    description="Compute what nn.Linear computes: x @ weight.T + bias, for any number of leading dimensions.",
    args=("x", "weight", "bias"), points=1, timeout=10, grad=True, hints=_SHAPE_HINTS,
)


def _linear_mistakes(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> dict[str, torch.Tensor]:
    """What the usual slips give on these inputs (only those that run on these shapes)."""
    found = {
        "forgot to add the bias": x @ weight.T,
        "subtracted the bias instead of adding it": x @ weight.T - bias,
    }
    if weight.shape[0] == weight.shape[1]:
        found["use the weight without transposing it (nn.Linear stores it as (out_features, in_features))"] = \
            x @ weight + bias
    return found


def _check_linear(t: Trial, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> None:
    t.check_call(x, weight, bias, reference=F.linear, what=f"the output for a {tuple(x.shape)} input",
                 mistakes=_linear_mistakes)


@linear_forward.case("matches nn.Linear on a batch of vectors (N, in_features), with in_features ≠ out_features")
def _(t: Trial) -> None:
    n, d_in, d_out = _sizes(t, 3, 2, 7)
    _check_linear(t, t.randn(n, d_in), t.randn(d_out, d_in), t.randn(d_out))


@linear_forward.case("uses the weight the way nn.Linear stores it, (out_features, in_features), even when square")
def _(t: Trial) -> None:
    n, d = _sizes(t, 2, 2, 6)  # square weight: an untransposed weight runs, but gives other numbers
    _check_linear(t, t.randn(n, d), t.randn(d, d), t.randn(d))


@linear_forward.case("works for a batch of one example, and for a single output feature")
def _(t: Trial) -> None:
    d_in, d_out = _sizes(t, 2, 2, 6)
    _check_linear(t, t.randn(1, d_in), t.randn(d_out, d_in), t.randn(d_out))
    n = t.py.randint(2, 6)
    _check_linear(t, t.randn(n, d_in), t.randn(1, d_in), t.randn(1))


@linear_forward.case("works with extra leading dimensions: (B, T, in_features) and (A, B, T, in_features)")
def _(t: Trial) -> None:
    b, time, d_in, d_out = _sizes(t, 4, 2, 7)
    _check_linear(t, t.randn(b, time, d_in), t.randn(d_out, d_in), t.randn(d_out))
    _check_linear(t, t.randn(2, 1, time, d_out), t.randn(d_in, d_out), t.randn(d_in))


# --- 2. mlp_backward ---------------------------------------------------------------------------------

_BY_HAND = ("it relies on autograd (.backward() or torch.autograd.grad), which this exercise asks you to do by "
            "hand: write each gradient as a formula (the chain rule, layer by layer, from the loss back to W1), "
            "with no autograd call.")
_SHAPES_HINT = ("check the shapes at every step of the backward pass: the gradient with respect to a tensor has "
                "that tensor's shape, and going back through a layer multiplies by its weight matrix.")

mlp_backward = exercise(
    "ch01.mlp_backward", name="mlp_backward",
    description="The gradients of the mean softmax cross-entropy of a Linear-ReLU-Linear network with respect to "
                "W1, b1, W2, b2, derived by hand (backpropagation without autograd).",
    args=("x", "y", "W1", "b1", "W2", "b2"), points=2, timeout=10, no_autograd=True,
    hints={
        "element 0 of tensors does not require grad": _BY_HAND,
        "backward through the graph a second time": _BY_HAND,
        "One of the differentiated Tensors": _BY_HAND,
        "does not require grad and does not have a grad_fn": _BY_HAND,
        "cannot be multiplied": _SHAPES_HINT,
        "must match the size of tensor": _SHAPES_HINT,
    },
)
_PARAMS = ("W1", "b1", "W2", "b2")


def _mlp_problem(t: Trial, n: int, d: int, h: int, c: int, *, scale: float = 1.0,
                 margin: float = 0.02) -> tuple[torch.Tensor, ...]:
    """Inputs for one call: x (n, d), labels y (n,), W1 (h, d), b1 (h,), W2 (c, h), b2 (c,).

    Redrawn until no pre-activation lies within ``margin`` of zero, where ReLU has no derivative (autograd
    takes 0 there, a hand-written mask might take 1), and until some units are active and some are not, so
    that a missing or wrong ReLU derivative shows.
    """
    for _ in range(500):
        x = t.randn(n, d, scale=scale)
        W1, b1 = t.randn(h, d, scale=1 / math.sqrt(d)), t.randn(h, scale=0.5)
        pre = F.linear(x, W1, b1)  # (n, h)
        if pre.abs().min() > margin and (pre > 0).any() and (pre < 0).any():
            break
    else:
        raise AssertionError("the grader could not draw pre-activations away from ReLU's kink")  # a grader bug
    W2, b2 = t.randn(c, h, scale=1.5 / math.sqrt(h)), t.randn(c, scale=0.5)
    y = t.randint(0, c, (n,))  # (n,) int64
    return x, y, W1, b1, W2, b2


def _mlp_reference(x: torch.Tensor, y: torch.Tensor, W1: torch.Tensor, b1: torch.Tensor, W2: torch.Tensor,
                   b2: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The gradients as autograd computes them through PyTorch's own layers and loss."""
    params = [p.detach().clone().requires_grad_(True) for p in (W1, b1, W2, b2)]
    logits = F.linear(torch.relu(F.linear(x.detach(), params[0], params[1])), params[2], params[3])  # (N, C)
    return tuple(g.detach() for g in torch.autograd.grad(F.cross_entropy(logits, y), params))


def _mlp_mistakes(x: torch.Tensor, y: torch.Tensor, W1: torch.Tensor, b1: torch.Tensor, W2: torch.Tensor,
                  b2: torch.Tensor) -> dict[str, tuple[torch.Tensor, ...]]:
    """What the usual slips give: each a whole backward pass with one step done wrong."""
    x, W1, b1, W2, b2 = (v.detach() for v in (x, W1, b1, W2, b2))
    n = len(x)
    pre = F.linear(x, W1, b1)  # (N, H)
    hidden = torch.relu(pre)
    probs = F.linear(hidden, W2, b2).softmax(-1)  # (N, C)
    onehot = F.one_hot(y, W2.shape[0]).to(probs.dtype)  # (N, C)

    def run(d_logits: torch.Tensor, local: Callable[[torch.Tensor], torch.Tensor] = lambda g: g * (pre > 0),
            db1_dim: int = 0) -> tuple[torch.Tensor, ...]:
        d_pre = local(d_logits @ W2)  # (N, C) @ (C, H) -> (N, H), then through the activation
        return d_pre.T @ x, d_pre.sum(db1_dim), d_logits.T @ hidden, d_logits.sum(0)

    right = (probs - onehot) / n  # dL/dlogits, (N, C)
    dW1, db1, dW2, db2 = run(right)
    sig = torch.sigmoid(pre)
    return {
        "forgot the 1/N of the mean over the batch (the loss is an average, so its gradient is too)":
            run(probs - onehot),
        "used the probabilities p as dL/dlogits without subtracting the one-hot labels (it is p − y)":
            run(probs / n),
        "used y − p instead of p − y (every gradient has the wrong sign)": run(-right),
        "left out ReLU's derivative (the gradient flows back only through units whose pre-activation is positive)":
            run(right, lambda g: g),
        "multiplied by ReLU's output instead of by its derivative (1 where the pre-activation is positive, else 0)":
            run(right, lambda g: g * hidden),
        "used the sigmoid's derivative σ(z)(1 − σ(z)); this network's activation is a ReLU":
            run(right, lambda g: g * sig * (1 - sig)),
        "used the sigmoid's derivative in its output form h(1 − h); ReLU's derivative is 1 where the "
        "pre-activation is positive, else 0": run(right, lambda g: g * hidden * (1 - hidden)),
        "transposed the weight gradients (each has its weight's shape: (out_features, in_features))":
            (dW1.T, db1, dW2.T, db2),
        "summed db1 over the hidden units instead of over the batch (dim 0)": (dW1, run(right, db1_dim=1)[1], dW2, db2),
        "averaged the bias gradients over the batch although dL/dlogits already holds the 1/N (summing is "
        "enough)": (dW1, db1 / n, dW2, db2 / n),
    }


def _check_mlp(t: Trial, n: int, d: int, h: int, c: int, *, leaves: bool, scale: float = 1.0) -> None:
    """One call: four gradients of the right shapes and dtypes, equal to autograd's, with no autograd behind them.

    The engine counts calls into autograd during the learner's call (``no_autograd=True``). With ``leaves``
    the float inputs arrive as tensors that require grad, as a model's parameters would.
    """
    args = _mlp_problem(t, n, d, h, c, scale=scale)
    expected = _mlp_reference(*args)
    out = t.call(*args, grad=leaves)
    if any(isinstance(a, TensorInfo) and a.grad is not None for a in out.args_after):
        raise CheckFailure(_BY_HAND + " (after the call, the inputs hold a .grad)", "wrong")
    got = out.value
    if not isinstance(got, (tuple, list)) or len(got) != 4:
        raise CheckFailure("`mlp_backward` should return four gradients `(dW1, db1, dW2, db2)`, but it returned "
                           f"{kind_of(got)}.", "type")
    try:  # logs each mistake against the whole answer; the message comes from the parts below
        t.expect(tuple(got), expected, "the gradients", mistakes=_mlp_mistakes(*args))
    except CheckFailure:
        pass
    where = f"for x of shape {tuple(args[0].shape)} and W1 of shape {tuple(args[2].shape)}"
    for name, mine, want, param in zip(_PARAMS, got, expected, args[2:], strict=True):
        if isinstance(mine, torch.Tensor) and mine.dim() == 2 and mine.shape == param.shape[::-1] != param.shape:
            raise CheckFailure(f"d{name} has shape {tuple(mine.shape)}, the transpose of {name}'s "
                               f"{tuple(param.shape)}: a gradient has the shape of the tensor it belongs to.", "type")
        t.expect(mine, want, f"d{name} {where}")


@mlp_backward.case("all four gradients match autograd on a batch, with D, H and C all different")
def _(t: Trial) -> None:
    d, h, c = _sizes(t, 3, 2, 7)
    _check_mlp(t, t.py.randint(8, 16), d, h + 3, c, leaves=False)


@mlp_backward.case("works for a single example (N = 1) and for two classes")
def _(t: Trial) -> None:
    d, h = _sizes(t, 2, 3, 8)
    _check_mlp(t, 1, d, h, 3, leaves=False)
    _check_mlp(t, t.py.randint(4, 9), h, d, 2, leaves=False)


@mlp_backward.case("computes the gradients by formula, without autograd, also when the parameters require grad")
def _(t: Trial) -> None:
    d, h, c = _sizes(t, 3, 2, 6)
    _check_mlp(t, t.py.randint(3, 10), d, h, c, leaves=True)


@mlp_backward.case("keeps every axis apart when N, D, H and C are equal, and copes with large inputs")
def _(t: Trial) -> None:
    size = t.py.randint(3, 6)
    _check_mlp(t, size, size, size, size, leaves=False)  # square: transposed or mis-summed answers still run
    _check_mlp(t, t.py.randint(5, 12), 4, 6, 5, leaves=False, scale=4.0)  # confident logits


# --- 3. sgd_step -------------------------------------------------------------------------------------

sgd_step = exercise(
    "ch01.sgd_step", name="sgd_step",
    description="Update every parameter in place, p ← p − lr · p.grad, under torch.no_grad(); "
                "skip parameters without a gradient.",
    args=("params", "lr"), points=1, timeout=10, mutates=("params",),
    hints={
        "leaf Variable that requires grad": "an update must not be recorded by autograd: do it inside "
                                            "`with torch.no_grad():`.",
        "NoneType": "some parameters have no gradient (`p.grad is None`, e.g. a frozen layer): skip those.",
        "has no len()": "`params` may be a one-shot iterator such as model.parameters(): loop over it with "
                        "`for p in params:` (no len(), no indexing).",
        "not subscriptable": "`params` may be a one-shot iterator such as model.parameters(): loop over it with "
                             "`for p in params:` (no len(), no indexing).",
    },
)


def _params(t: Trial, shapes: Sequence[tuple[int, ...]], frozen: Sequence[int] = ()) -> list[wire.LeafSpec]:
    """Parameters with random values and gradients (``frozen`` positions have ``.grad`` None)."""
    def draw(shape: tuple[int, ...], scale: float = 1.0) -> torch.Tensor:
        return t.randn(*shape, scale=scale) if shape else t.randn(1, scale=scale).reshape(())  # 0-d too

    return [wire.LeafSpec(draw(shape), None if i in frozen else draw(shape, 2.0)) for i, shape in enumerate(shapes)]


def _sgd_reference(params: Sequence[wire.LeafSpec], lr: float) -> list[torch.Tensor]:
    """What torch.optim.SGD's step (no momentum, no weight decay) does to each parameter: p.add_(grad, alpha=-lr).

    Written out rather than run, because building the first optimizer in a process costs seconds of imports.
    """
    return [p.value if p.grad is None else p.value.clone().add_(p.grad, alpha=-lr) for p in params]


def _sgd_mistakes(params: Sequence[wire.LeafSpec], lr: float) -> dict[str, list[torch.Tensor]]:
    def each(update: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> list[torch.Tensor]:
        return [p.value if p.grad is None else update(p.value, p.grad) for p in params]

    return {
        "add the gradient instead of subtracting it (that climbs uphill, making the loss larger)":
            each(lambda v, g: v + lr * g),
        "forgot to multiply the gradient by the learning rate `lr`": each(lambda v, g: v - g),
        "divide by the learning rate instead of multiplying": each(lambda v, g: v - g / lr),
        "use a fixed learning rate (0.1) instead of the `lr` argument": each(lambda v, g: v - 0.1 * g),
        "use a fixed learning rate (0.01) instead of the `lr` argument": each(lambda v, g: v - 0.01 * g),
    }


def _check_sgd(t: Trial, params: list[wire.LeafSpec], lr: float, *, container: str = "list") -> None:
    """One step on ``params`` given as a list, a tuple or an iterator (as model.parameters() gives); judge
    the parameters afterwards."""
    given: Any = {"list": list(params), "tuple": tuple(params), "iterator": wire.IterSpec(list(params))}[container]
    out = t.call(given, lr)
    after = out.args_after[0]
    expect_true(isinstance(after, (list, tuple)) and len(after) == len(params) and
                all(isinstance(a, TensorInfo) for a in after),
                "the parameters could not be read back after the step.", "error")
    values = [a.value for a in after]
    how = {"list": "passing a list", "tuple": "passing a tuple",
           "iterator": "passing an iterator, as model.parameters() gives"}[container]
    moved = [i for i, p in enumerate(params) if p.grad is not None and not torch.equal(values[i], p.value)]
    if not moved:
        raise CheckFailure(
            f"the parameters did not change ({how}). Update the tensors you were given in place (e.g. with `-=` "
            "inside `with torch.no_grad():`): assigning `p = ...` or returning new tensors leaves the model's own "
            "parameters as they were.", "wrong")
    for i, p in enumerate(params):
        if p.grad is None and not torch.equal(values[i], p.value):
            raise CheckFailure(f"parameter {i} has no gradient (`.grad` is None) and should be left unchanged "
                               f"({how}).", "wrong")
        if p.grad is not None and i not in moved:
            raise CheckFailure(f"parameter {i} has a gradient but was not updated ({how}): update every "
                               "parameter whose `.grad` is not None (does the loop stop early?).", "wrong")
    t.expect(values, _sgd_reference(params, lr), f"the parameters after the step ({how})",
             mistakes=_sgd_mistakes(params, lr))
    for i, (a, p) in enumerate(zip(after, params, strict=True)):
        expect_true(a.is_leaf and a.requires_grad,
                    f"after the step parameter {i} should still be a leaf tensor that requires grad (update its "
                    "values in place; don't replace it or switch its gradient off).", "wrong")
        same_grad = (a.grad is None) if p.grad is None else (a.grad is not None and torch.equal(a.grad, p.grad))
        expect_true(same_grad, f"parameter {i}'s `.grad` changed: a step only moves the parameters; clearing the "
                               "gradients is the job of zero_grad(), a separate call.", "wrong")


@sgd_step.case("moves each parameter against its gradient by lr × grad, in place (a list of parameters)")
def _(t: Trial) -> None:
    rows, cols = _sizes(t, 2, 2, 5)
    _check_sgd(t, _params(t, [(rows, cols), (rows,), (1, cols)]), _draw_lr(t, 0.02, 0.6))


@sgd_step.case("skips parameters that have no gradient (p.grad is None), wherever they are in the list")
def _(t: Trial) -> None:
    d = t.py.randint(2, 5)
    params = _params(t, [(d, 3), (4,), (d,), (2, d), ()], frozen=(1, 3))
    _check_sgd(t, params, _draw_lr(t, 0.2, 0.9))


@sgd_step.case("does what torch.optim.SGD does when given model.parameters() (an iterator)")
def _(t: Trial) -> None:
    d_in, d_hidden, d_out = _sizes(t, 3, 2, 6)  # the parameters of Linear, ReLU, Linear
    params = _params(t, [(d_hidden, d_in), (d_hidden,), (d_out, d_hidden), (d_out,)])
    _check_sgd(t, params, _draw_lr(t, 0.001, 0.05), container="iterator")


# --- 4. adam_update ----------------------------------------------------------------------------------

adam_update = exercise(
    "ch01.adam_update", name="adam_update",
    description="One Adam update of one parameter tensor: new moment estimates, bias correction, and the "
                "step, returned as new tensors (param, m, v).",
    args=("param", "grad", "m", "v", "step", "lr", "betas", "eps"), points=2, timeout=10,
    hints={
        "unsupported operand type(s) for ** or pow()": "`step` is a Python int and the betas are Python floats: "
                                                      "the bias corrections are ordinary numbers.",
        "object is not subscriptable": "`betas` is a pair of floats, `(beta1, beta2)`, as torch.optim.Adam takes it.",
    },
)


def _adam_reference(param: torch.Tensor, grad: torch.Tensor, m: torch.Tensor, v: torch.Tensor, step: int, lr: float,
                    betas: tuple[float, float], eps: float, *, correct: bool = True, eps_inside: bool = False,
                    square: bool = True, root: bool = True, zero_based: bool = False, corrected_state: bool = False,
                    old_moments: bool = False, sign: float = -1.0) -> tuple[torch.Tensor, ...]:
    """torch.optim.Adam's update (no weight decay, no amsgrad) written out; the flags give the usual slips."""
    beta1, beta2 = betas
    m_new = beta1 * m + (1 - beta1) * grad  # the running mean of the gradient
    v_new = beta2 * v + (1 - beta2) * (grad * grad if square else grad.abs())  # ... and of its square
    m_use, v_use = (m, v) if old_moments else (m_new, v_new)
    t = step + 1 if zero_based else step
    m_hat = m_use / (1 - beta1**t) if correct else m_use
    v_hat = v_use / (1 - beta2**t) if correct else v_use
    scale = (v_hat + eps).sqrt() if eps_inside else (v_hat.sqrt() + eps if root else v_hat + eps)
    param_new = param + sign * lr * m_hat / scale
    if corrected_state:
        return param_new, m_hat, v_hat
    return param_new, m_new, v_new


def _adam_mistakes(*args: Any) -> dict[str, tuple[torch.Tensor, ...]]:
    beta1, beta2 = args[6]
    return {
        "left out the bias correction (divide the moments by 1 − β^t: they start at zero, so early on they are "
        "too small)": _adam_reference(*args, correct=False),
        "put eps inside the square root; Adam adds it after: sqrt(v̂) + eps": _adam_reference(*args, eps_inside=True),
        "divided by v̂ instead of by its square root": _adam_reference(*args, root=False),
        "kept a running mean of |grad| instead of grad² for v": _adam_reference(*args, square=False),
        "counted the steps from 0 in the bias correction (`step` is already 1 on the first update)":
            _adam_reference(*args, zero_based=True),
        "returned the bias-corrected m̂ and v̂ as the new state (keep the raw running averages; correct only "
        "for the step)": _adam_reference(*args, corrected_state=True),
        "used the moments from before this step's gradient in the update (update m and v first)":
            _adam_reference(*args, old_moments=True),
        "added the step instead of subtracting it (that climbs uphill)": _adam_reference(*args, sign=1.0),
        "swapped β1 and β2": _adam_reference(*(*args[:6], (beta2, beta1), args[7])),
        "used the default betas (0.9, 0.999) instead of the `betas` argument":
            _adam_reference(*(*args[:6], (0.9, 0.999), args[7])),
        "took a plain SGD step (p − lr·grad) and left m and v as they were": (args[0] - args[5] * args[1], *args[2:4]),
    }


def _draw_betas(t: Trial) -> tuple[float, float]:
    """Betas away from the defaults, so that hard-coding (0.9, 0.999) shows."""
    return round(t.py.uniform(0.6, 0.8), 3), round(t.py.uniform(0.9, 0.97), 3)


def _adam_state(t: Trial, shape: tuple[int, ...], step: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Moments as a run would hold them after ``step - 1`` updates: zero at the start, v never negative."""
    if step == 1:
        return torch.zeros(shape), torch.zeros(shape)
    return t.randn(*shape, scale=0.3), t.randn(*shape, scale=0.3).square()


def _check_adam(t: Trial, shape: tuple[int, ...], step: int, lr: float, betas: tuple[float, float],
                eps: float) -> None:
    param, grad = t.randn(*shape), t.randn(*shape, scale=0.5)
    m, v = _adam_state(t, shape, step)
    t.check_call(param, grad, m, v, step, lr, betas, eps, reference=_adam_reference,
                 what=f"the update of a {tuple(shape)} parameter at step {step}", mistakes=_adam_mistakes,
                 grad=False)


@adam_update.case("the first update, from zero moments, of a matrix parameter (the default betas and eps)")
def _(t: Trial) -> None:
    rows, cols = _sizes(t, 2, 2, 6)
    _check_adam(t, (rows, cols), 1, _draw_lr(t, 0.002, 0.2), (0.9, 0.999), 1e-8)


@adam_update.case("a later update, with other betas, for a bias vector and a (1, D) row")
def _(t: Trial) -> None:
    _check_adam(t, (t.py.randint(2, 9),), t.py.randint(2, 6), _draw_lr(t, 0.002, 0.2), _draw_betas(t), 1e-8)
    _check_adam(t, (1, t.py.randint(2, 6)), t.py.randint(20, 200), _draw_lr(t, 0.002, 0.2), _draw_betas(t), 1e-8)


@adam_update.case("a large eps and tiny gradients, where eps goes matters")
def _(t: Trial) -> None:
    shape = tuple(_sizes(t, 2, 2, 5))
    param, grad = t.randn(*shape), t.randn(*shape, scale=1e-3)
    step = t.py.randint(2, 5)
    m, v = t.randn(*shape, scale=1e-3), t.randn(*shape, scale=1e-3).square()
    t.check_call(param, grad, m, v, step, _draw_lr(t, 0.002, 0.2), _draw_betas(t), 1e-3,
                 reference=_adam_reference, what=f"the update of a {shape} parameter with eps = 1e-3",
                 mistakes=_adam_mistakes, grad=False)


@adam_update.case("five updates in a row, each fed the state the last returned, match torch.optim.Adam")
def _(t: Trial) -> None:
    rows, cols = _sizes(t, 2, 2, 5)
    lr, betas, eps = _draw_lr(t, 0.002, 0.2), _draw_betas(t), 1e-8
    start = t.randn(rows, cols)
    with cpu_threads(1):
        leaf = start.clone().requires_grad_(True)
        torch_adam = torch.optim.Adam([leaf], lr=lr, betas=betas, eps=eps)
    param, m, v = start, torch.zeros(rows, cols), torch.zeros(rows, cols)
    for step in range(1, 6):
        grad = t.randn(rows, cols, scale=0.5)
        leaf.grad = grad.clone()
        torch_adam.step()
        got = t.call(param, grad, m, v, step, lr, betas, eps, grad=False).value
        if not isinstance(got, (tuple, list)) or len(got) != 3:
            raise CheckFailure("`adam_update` should return three tensors `(param, m, v)`, but it returned "
                               f"{kind_of(got)}.", "type")
        t.expect(tuple(got), _adam_reference(param, grad, m, v, step, lr, betas, eps), f"the result of update {step}",
                 mistakes=_adam_mistakes(param, grad, m, v, step, lr, betas, eps))
        param, m, v = got
        t.expect(param, leaf.detach().clone(), f"the parameter after {step} updates, compared with torch.optim.Adam")


# --- 5. train_loop -----------------------------------------------------------------------------------

train_loop = exercise(
    "ch01.train_loop", name="train_loop",
    description="Full-batch training with torch.optim.SGD(lr) and cross-entropy; return every step's loss.",
    args=("model", "x", "y", "steps", "lr"), points=2, timeout=30, mutates=("model",),
)


def _problem(t: Trial, n: int, features: int, classes: int, hidden: int,
             activation: str = "ReLU") -> tuple[wire.SequentialSpec, torch.Tensor, torch.Tensor]:
    """A small classifier on noisy blobs, one per class, and a two-layer network with random weights."""
    y = t.randint(0, classes, (n,))  # (n,) int64
    centres = t.randn(classes, features, scale=1.5)
    x = centres[y] + t.randn(n, features, scale=0.7)  # (n, features)
    state = {
        "0.weight": t.randn(hidden, features, scale=1 / math.sqrt(features)),
        "0.bias": t.randn(hidden, scale=0.1),
        "2.weight": t.randn(classes, hidden, scale=1 / math.sqrt(hidden)),
        "2.bias": t.randn(classes, scale=0.1),
    }
    spec = wire.SequentialSpec([("Linear", features, hidden), (activation,), ("Linear", hidden, classes)], state)
    return spec, x, y


def _reference_run(spec: wire.SequentialSpec, x: torch.Tensor, y: torch.Tensor, steps: int, lr: float, *,
                   zero_grad: bool = True, step: bool = True, optimizer: str = "sgd", loss: str = "ce",
                   after_update: bool = False) -> tuple[list[float], dict[str, torch.Tensor]]:
    """The loop the exercise asks for, and (with the flags) the mistakes a learner might make."""
    with cpu_threads(1):
        model = wire.build_sequential(spec)
        if optimizer == "adam":
            opt: torch.optim.Optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        else:
            opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9 if optimizer == "momentum" else 0.0)

        def loss_of() -> torch.Tensor:
            logits = model(x)
            if loss == "softmax":
                return F.cross_entropy(F.softmax(logits, dim=-1), y)
            if loss == "nll":
                return F.nll_loss(logits, y)
            return F.cross_entropy(logits, y, reduction="sum" if loss == "sum" else "mean")

        losses = []
        for _ in range(steps):
            value = loss_of()
            if zero_grad:
                opt.zero_grad()
            value.backward()
            if step:
                opt.step()
            if after_update:
                with torch.no_grad():
                    value = loss_of()
            losses.append(value.item())
        return losses, {k: v.detach().clone() for k, v in model.state_dict().items()}


def _check_training(t: Trial, spec: wire.SequentialSpec, x: torch.Tensor, y: torch.Tensor, steps: int,
                    lr: float) -> None:
    """Train with the learner's loop; its losses, then the model's weights, must match the reference run.

    A mistake is the pair (losses, trained weights) its loop gives, so "trained a copy" (right losses, the
    weights as they started) is told apart from "never stepped" (which also leaves the weights alone).
    """
    expected = _reference_run(spec, x, y, steps, lr)
    start = {k: v.detach() for k, v in wire.build_sequential(spec).state_dict().items()}
    mistakes = {
        "never reset the gradients with optimizer.zero_grad(), so each step's gradient is added to all the earlier "
        "ones": _reference_run(spec, x, y, steps, lr, zero_grad=False),
        "never apply the update: optimizer.step() is missing, or zero_grad() runs between backward() and step() "
        "and wipes the gradient first": _reference_run(spec, x, y, steps, lr, step=False),
        "use Adam; this exercise asks for plain torch.optim.SGD": _reference_run(spec, x, y, steps, lr,
                                                                                 optimizer="adam"),
        "add momentum; this exercise asks for plain torch.optim.SGD(model.parameters(), lr=lr)":
            _reference_run(spec, x, y, steps, lr, optimizer="momentum"),
        "use a fixed learning rate (0.1) instead of the `lr` argument": _reference_run(spec, x, y, steps, 0.1),
        "use a fixed learning rate (0.01) instead of the `lr` argument": _reference_run(spec, x, y, steps, 0.01),
        "apply softmax before F.cross_entropy, which expects raw logits (it applies log-softmax itself)":
            _reference_run(spec, x, y, steps, lr, loss="softmax"),
        "use F.nll_loss on raw logits; F.cross_entropy is log-softmax and NLL in one":
            _reference_run(spec, x, y, steps, lr, loss="nll"),
        "sum the loss over the examples (reduction='sum') instead of averaging it":
            _reference_run(spec, x, y, steps, lr, loss="sum"),
        "record each step's loss after the update instead of the loss that step computed":
            _reference_run(spec, x, y, steps, lr, after_update=True),
        "train a copy of the model (or a new one), so the model you were given stays as it was: don't train a "
        "copy": (expected[0], start),
    }
    if steps > 1:
        mistakes["run one step fewer than `steps`"] = _reference_run(spec, x, y, steps - 1, lr)
    mistakes = {k: v for k, v in mistakes.items() if all(math.isfinite(loss) for loss in v[0])}  # diverged: unmatchable
    out = t.call(spec, x, y, steps, lr)
    run = (out.value, out.args_after[0])
    try:  # logs each mistake against the whole run; the message comes from the parts below
        t.expect(run, expected, "the training run", mistakes=mistakes, atol=1e-5, rtol=1e-4)
    except CheckFailure:
        pass
    t.expect(run[0], expected[0], "the list of losses", atol=1e-5, rtol=1e-4)
    t.expect(run[1], expected[1], "the model's parameters after training", atol=1e-5, rtol=1e-4)


@train_loop.case("returns one loss per step, as Python floats, for one step and for a few")
def _(t: Trial) -> None:
    spec, x, y = _problem(t, t.py.randint(6, 20), 2, 2, 8)
    _check_training(t, spec, x, y, 1, _draw_lr(t, 0.2, 0.6))
    spec, x, y = _problem(t, t.py.randint(6, 20), 3, 2, 8)
    _check_training(t, spec, x, y, t.py.randint(2, 4), _draw_lr(t, 0.2, 0.6))


@train_loop.case("matches a reference run (SGD, cross-entropy, full batch) from the same weights, and trains "
                 "the model it is given")
def _(t: Trial) -> None:
    features, hidden = _sizes(t, 2, 2, 5)
    spec, x, y = _problem(t, t.py.randint(40, 80), features, t.py.randint(2, 4), hidden + 8)
    _check_training(t, spec, x, y, t.py.randint(15, 25), _draw_lr(t, 0.15, 0.5))


@train_loop.case("works for a single example (N = 1) and another activation")
def _(t: Trial) -> None:
    spec, x, y = _problem(t, 1, t.py.randint(2, 5), 3, 6, activation="Tanh")
    _check_training(t, spec, x, y, t.py.randint(5, 10), _draw_lr(t, 0.2, 0.8))

"""Chapter 1's graded exercises: a linear layer that refuses shapes that do not fit, the backward pass of a
two-layer network by hand, a step of SGD with momentum (Nesterov's too, and weight decay), an Adam update by
hand, and gradient accumulation over micro-batches of unequal sizes.

Every case draws its inputs from the run's seed and computes the reference answer at check time with
PyTorch's own implementation (``F.linear``, autograd, torch.optim.SGD's and Adam's update rules, a full-batch
backward pass), so nothing here is a pasted number. Known mistakes are computed the same way, so a message can
name the mistake an answer matches. The learner's code runs in a forked child on one CPU thread (see
:mod:`.runner`); the grader's reference runs use one thread too, so both do the same sums in the same order.
"""

from __future__ import annotations

import math
import re
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
    "'NoneType'": "`bias` may be None (a layer built with bias=False): then there is no bias to add.",
}

linear_forward = exercise(
    "ch01.linear_forward", name="linear_forward",
    description="What nn.Linear computes, x @ weight.T + bias, for any leading dimensions and an optional bias, "
                "and a ValueError naming the shapes when the tensors do not fit together.",
    args=("x", "weight", "bias"), points=1, timeout=10, grad=True, hints=_SHAPE_HINTS,
)


def _linear_mistakes(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """What the usual slips give on these inputs (only those that run on these shapes)."""
    if bias is None:
        return {}
    found = {
        "forgot to add the bias": x @ weight.T,
        "subtracted the bias instead of adding it": x @ weight.T - bias,
    }
    if weight.shape[0] == weight.shape[1]:
        found["use the weight without transposing it (nn.Linear stores it as (out_features, in_features))"] = \
            x @ weight + bias
    return found


def _check_linear(t: Trial, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
    t.check_call(x, weight, bias, reference=F.linear, what=f"the output for a {tuple(x.shape)} input",
                 mistakes=_linear_mistakes)


def _named(text: str, shape: Sequence[int]) -> bool:
    """Whether an error message names ``shape``, written as a tuple, a list or a torch.Size."""
    dims = ", ".join(str(d) for d in shape)
    return any(form in text for form in (f"({dims})" if len(shape) != 1 else f"({dims},)", f"[{dims}]"))


def _check_shape_error(t: Trial, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                       culprits: dict[str, torch.Tensor], problem: str) -> None:
    """A call on tensors that do not fit must raise ValueError whose message names the culprits' shapes."""
    shapes = ", ".join(f"{name} of shape {tuple(v.shape)}" for name, v in culprits.items())
    try:
        t.call(x, weight, bias, grad=False)
    except CheckFailure as failure:
        raised = re.search(r"raised (\w+)", str(failure))
        kind = raised.group(1) if raised else "an error"
        if kind != "ValueError":
            raise CheckFailure(f"for {shapes} ({problem}) `linear_forward` raised {kind}; check the shapes first "
                               "and raise a ValueError that says what is wrong, before torch fails somewhere "
                               "inside (or, worse, broadcasts silently).", "wrong") from None
        unnamed = [name for name, v in culprits.items() if not _named(str(failure), v.shape)]
        if unnamed:
            raise CheckFailure(f"for {shapes} ({problem}) `linear_forward` raised a ValueError, but its message "
                               f"does not give the shape of {' and '.join(f'`{n}`' for n in unnamed)}: name every "
                               "shape involved, so the caller sees at once what does not fit.", "wrong") from None
        return
    raise CheckFailure(f"for {shapes} ({problem}) `linear_forward` returned a result instead of raising a "
                       "ValueError: tensors that do not fit must be refused, with a message naming their shapes.",
                       "wrong")


@linear_forward.case("matches nn.Linear on a batch of vectors (N, in_features), with in_features ≠ out_features")
def _(t: Trial) -> None:
    n, d_in, d_out = _sizes(t, 3, 2, 7)
    _check_linear(t, t.randn(n, d_in), t.randn(d_out, d_in), t.randn(d_out))


@linear_forward.case("uses the weight the way nn.Linear stores it, (out_features, in_features), even when square")
def _(t: Trial) -> None:
    n, d = _sizes(t, 2, 2, 6)  # square weight: an untransposed weight runs, but gives other numbers
    _check_linear(t, t.randn(n, d), t.randn(d, d), t.randn(d))


@linear_forward.case("works for a batch of one, a single output feature, and one vector with no batch dimension")
def _(t: Trial) -> None:
    d_in, d_out = _sizes(t, 2, 2, 6)
    _check_linear(t, t.randn(1, d_in), t.randn(d_out, d_in), t.randn(d_out))
    _check_linear(t, t.randn(t.py.randint(2, 6), d_in), t.randn(1, d_in), t.randn(1))
    _check_linear(t, t.randn(d_in), t.randn(d_out, d_in), t.randn(d_out))


@linear_forward.case("works with extra leading dimensions, (B, T, in_features) and (A, B, T, in_features)")
def _(t: Trial) -> None:
    b, time, d_in, d_out = _sizes(t, 4, 2, 7)
    _check_linear(t, t.randn(b, time, d_in), t.randn(d_out, d_in), t.randn(d_out))
    _check_linear(t, t.randn(2, 1, time, d_out), t.randn(d_in, d_out), t.randn(d_in))


@linear_forward.case("works without a bias (bias=None), as nn.Linear(..., bias=False)")
def _(t: Trial) -> None:
    b, time, d_in, d_out = _sizes(t, 4, 2, 7)
    _check_linear(t, t.randn(b, time, d_in), t.randn(d_out, d_in), None)
    _check_linear(t, t.randn(1, d_out), t.randn(d_in, d_out), None)


@linear_forward.case("raises a ValueError naming the shapes when x's last dimension is not weight's in_features")
def _(t: Trial) -> None:
    n, d_in, d_out = _sizes(t, 3, 2, 7)
    wrong = d_in + t.py.randint(1, 3)
    x, weight = t.randn(n, wrong), t.randn(d_out, d_in)
    _check_shape_error(t, x, weight, t.randn(d_out), {"x": x, "weight": weight},
                       "x's last dimension is not weight's in_features")
    x = t.randn(2, n, d_in)  # weight transposed by mistake: (in, out) where (out, in) belongs
    _check_shape_error(t, x, weight.T.contiguous(), t.randn(d_out), {"x": x, "weight": weight.T},
                       "weight given as (in_features, out_features)")


@linear_forward.case("raises a ValueError naming the shapes for a bias that would broadcast, and a 1-D weight")
def _(t: Trial) -> None:
    n, d_in, d_out = _sizes(t, 3, 2, 7)
    x, weight = t.randn(n, d_in), t.randn(d_out, d_in)
    one = t.randn(1)  # (1,) broadcasts over every output feature without any error from torch
    _check_shape_error(t, x, weight, one, {"bias": one}, "a bias of one entry")
    longer = t.randn(d_out + 1)
    _check_shape_error(t, x, weight, longer, {"bias": longer}, "a bias one entry too long")
    flat = t.randn(d_in)  # a single neuron's weight vector, not a (1, in_features) matrix
    _check_shape_error(t, x, flat, t.randn(1), {"weight": flat}, "a weight that is not a matrix")


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


# --- 3. sgd_momentum ---------------------------------------------------------------------------------

_SKIP_FROZEN = "some parameters have no gradient (`p.grad is None`, e.g. a frozen layer): skip those."

sgd_momentum = exercise(
    "ch01.sgd_momentum", name="sgd_momentum",
    description="One step of SGD with momentum (optionally Nesterov's, and weight decay), in place on the "
                "parameters and their momentum buffers, equal to torch.optim.SGD's step.",
    args=("params", "state", "lr", "momentum", "weight_decay", "nesterov"), points=2, timeout=10,
    mutates=("params", "state"),
    hints={
        "leaf Variable that requires grad": "an update must not be recorded by autograd: do it inside "
                                            "`with torch.no_grad():`.",
        "NoneType": _SKIP_FROZEN,
        "KeyError": "`state` starts empty: a parameter's first step finds no buffer there yet (`state.get(i)` is "
                    "None), and starts one.",
    },
)


def _draw_momentum(t: Trial) -> float:
    """A momentum away from 0.9, the value a hard-coded answer would use."""
    return round(t.py.uniform(0.5, 0.8), 3)


def _momentum_reference(params: Sequence[wire.LeafSpec], state: dict[int, torch.Tensor], lr: float, momentum: float,
                        weight_decay: float, nesterov: bool, *, decay_after: bool = False, average: bool = False,
                        old_velocity: bool = False, plain: bool = False, no_decay: bool = False,
                        lr_inside: bool = False) -> tuple[list[torch.Tensor], dict[int, torch.Tensor]]:
    """torch.optim.SGD's step (momentum, no dampening) written out per parameter; the flags give the usual slips.

    d = grad + weight_decay·p; buf = d on the first step, else momentum·buf + d; the step is lr·buf, or with
    Nesterov lr·(d + momentum·buf).
    """
    values, buffers = [], dict(state)
    for i, p in enumerate(params):
        if p.grad is None:
            values.append(p.value)
            continue
        value, grad = p.value, p.grad
        d = grad if (decay_after or no_decay) else grad + weight_decay * value
        old = state.get(i)
        gain = lr if lr_inside else (1 - momentum if average else 1.0)
        if old is None:
            buf = gain * d
        else:
            buf = momentum * old + gain * d
        if nesterov and not plain:  # looking ahead with the old buffer, d + momentum·old, is the plain step
            step = d + momentum * buf
        else:
            step = (d if old is None else old) if old_velocity else buf
        if decay_after:
            step = step + weight_decay * value
        values.append(value - step if lr_inside else value - lr * step)
        buffers[i] = buf
    return values, buffers


def _momentum_mistakes(params: Sequence[wire.LeafSpec], state: dict[int, torch.Tensor], lr: float, momentum: float,
                       weight_decay: float, nesterov: bool) -> dict[str, Any]:
    def run(**slip: Any) -> tuple[list[torch.Tensor], dict[int, torch.Tensor]]:
        return _momentum_reference(params, state, lr, momentum, weight_decay, nesterov, **slip)

    found = {
        "added weight decay to the step, after the momentum; SGD adds weight_decay·p to the gradient first, so "
        "the decay goes into the buffer too": run(decay_after=True),
        "left out the weight decay": run(no_decay=True),
        "kept a running average, momentum·buf + (1 − momentum)·grad, as Adam's m does; SGD's buffer adds the "
        "whole gradient, and starts as the gradient itself": run(average=True),
        "multiplied the learning rate into the buffer (the step is then the buffer itself); torch keeps the "
        "buffer free of lr, so a change of lr takes effect at once": run(lr_inside=True),
        "used the fixed momentum 0.9 instead of the `momentum` argument":
            _momentum_reference(params, state, lr, 0.9, weight_decay, nesterov),
    }
    if nesterov:
        found["took a plain momentum step although `nesterov` is on (ignoring the flag, or looking ahead with the "
              "buffer from before this step, which comes to the same): Nesterov's step is d + momentum·buf, with "
              "buf already updated"] = run(plain=True)
    else:
        found["stepped with the buffer from before this step's gradient went in (update the buffer first, "
              "then step with it)"] = run(old_velocity=True)
    return found


def _momentum_params(t: Trial, shapes: Sequence[tuple[int, ...]], frozen: Sequence[int] = (),
                     dtype: torch.dtype = torch.float32) -> list[wire.LeafSpec]:
    return [wire.LeafSpec(t.randn(*shape, dtype=dtype), None if i in frozen else t.randn(*shape, scale=2.0,
                                                                                          dtype=dtype))
            for i, shape in enumerate(shapes)]


def _momentum_step(t: Trial, params: list[wire.LeafSpec], state: dict[int, torch.Tensor], lr: float,
                   momentum: float, weight_decay: float, nesterov: bool,
                   what: str) -> tuple[list[torch.Tensor], dict[int, torch.Tensor]]:
    """One call; the parameters and buffers it left behind, after checking what only the learner's side shows."""
    out = t.call(list(params), dict(state), lr, momentum, weight_decay, nesterov)
    after, state_after = out.args_after[0], out.args_after[1]
    expect_true(isinstance(after, list) and len(after) == len(params) and
                all(isinstance(a, TensorInfo) for a in after),
                "the parameters could not be read back after the step.", "error")
    values = [a.value for a in after]
    if not any(p.grad is not None and not torch.equal(v, p.value) for v, p in zip(values, params, strict=True)):
        raise CheckFailure(
            f"the parameters did not change ({what}). Update the tensors you were given in place (e.g. with `-=` "
            "inside `with torch.no_grad():`): assigning `p = ...` or returning new tensors leaves the model's own "
            "parameters as they were.", "wrong")
    for i, (a, p) in enumerate(zip(after, params, strict=True)):
        if p.grad is None and not torch.equal(a.value, p.value):
            raise CheckFailure(f"parameter {i} has no gradient (`.grad` is None) and should be left unchanged "
                               f"({what}).", "wrong")
        expect_true(a.is_leaf and a.requires_grad,
                    f"after the step parameter {i} should still be a leaf tensor that requires grad (update its "
                    "values in place; don't replace it or switch its gradient off).", "wrong")
        same_grad = (a.grad is None) if p.grad is None else (a.grad is not None and torch.equal(a.grad, p.grad))
        expect_true(same_grad, f"parameter {i}'s `.grad` changed ({what}): compute the decayed gradient and the "
                               "step as new tensors; the gradient belongs to autograd, and clearing it is "
                               "zero_grad()'s job.", "wrong")
    expect_true(isinstance(state_after, dict), f"`state` is no longer a dict after the step ({what}).", "type")
    buffers = {k: v.value if isinstance(v, TensorInfo) else v for k, v in state_after.items()}
    for i, p in enumerate(params):
        if p.grad is not None and i not in buffers:
            raise CheckFailure(f"after the step `state` holds no buffer for parameter {i} ({what}): keep each "
                               "parameter's momentum buffer in `state[i]`, i its position in `params`, so the "
                               "next step can continue it.", "wrong")
    return values, buffers


def _check_momentum(t: Trial, params: list[wire.LeafSpec], state: dict[int, torch.Tensor], lr: float,
                    momentum: float, weight_decay: float, nesterov: bool, what: str) -> None:
    values, buffers = _momentum_step(t, params, state, lr, momentum, weight_decay, nesterov, what)
    expected = _momentum_reference(params, state, lr, momentum, weight_decay, nesterov)
    try:  # logs each mistake against the whole step; the message comes from the parts below
        t.expect((values, buffers), expected, "the step", mistakes=_momentum_mistakes(params, state, lr, momentum,
                                                                                      weight_decay, nesterov))
    except CheckFailure:
        pass
    t.expect(values, expected[0], f"the parameters after the step ({what})")
    t.expect(buffers, expected[1], f"`state`, the momentum buffers after the step ({what})")


def _buffers(t: Trial, params: Sequence[wire.LeafSpec], positions: Sequence[int]) -> dict[int, torch.Tensor]:
    """Momentum buffers as a run would hold them after a few steps, for the given positions."""
    return {i: t.randn(*params[i].value.shape, scale=1.5, dtype=params[i].value.dtype) for i in positions}


@sgd_momentum.case("the first step, from an empty state: each buffer starts as the gradient")
def _(t: Trial) -> None:
    rows, cols = _sizes(t, 2, 2, 5)
    params = _momentum_params(t, [(rows, cols), (rows,), (1, cols)])
    _check_momentum(t, params, {}, _draw_lr(t, 0.02, 0.6), _draw_momentum(t), 0.0, False,
                    "the first step, no weight decay")


@sgd_momentum.case("a later step continues the buffers it is given; parameters without a gradient are skipped")
def _(t: Trial) -> None:
    d = t.py.randint(2, 5)
    params = _momentum_params(t, [(d, 3), (4,), (d,), (2, d), ()], frozen=(1, 3))
    _check_momentum(t, params, _buffers(t, params, (0, 1, 4)), _draw_lr(t, 0.02, 0.6), _draw_momentum(t), 0.0,
                    False, "a later step, two parameters frozen, one of them with a buffer")


@sgd_momentum.case("weight decay goes into the gradient before the buffer, also for float64 parameters")
def _(t: Trial) -> None:
    rows, cols = _sizes(t, 2, 2, 6)
    params = _momentum_params(t, [(rows, cols), (cols,)], dtype=torch.float64)
    _check_momentum(t, params, _buffers(t, params, (0, 1)), _draw_lr(t, 0.02, 0.6), _draw_momentum(t),
                    round(t.py.uniform(0.05, 0.3), 3), False, "a later step with weight decay, float64")
    params = _momentum_params(t, [(1, cols), (rows,)])
    _check_momentum(t, params, {}, _draw_lr(t, 0.02, 0.6), _draw_momentum(t), round(t.py.uniform(0.05, 0.3), 3),
                    False, "the first step with weight decay")


@sgd_momentum.case("Nesterov momentum steps with the updated buffer, with and without weight decay")
def _(t: Trial) -> None:
    rows, cols = _sizes(t, 2, 2, 6)
    params = _momentum_params(t, [(rows, cols), (rows,), (1, cols)], frozen=(1,))
    _check_momentum(t, params, _buffers(t, params, (0, 2)), _draw_lr(t, 0.02, 0.6), _draw_momentum(t),
                    round(t.py.uniform(0.05, 0.3), 3), True, "a later Nesterov step with weight decay")
    params = _momentum_params(t, [(cols, rows)])
    _check_momentum(t, params, {}, _draw_lr(t, 0.02, 0.6), _draw_momentum(t), 0.0, True,
                    "the first Nesterov step")


def _run_against_torch(t: Trial, shapes: Sequence[tuple[int, ...]], steps: int, lr: float, momentum: float,
                       weight_decay: float, nesterov: bool) -> None:
    """``steps`` calls in a row, each fed the parameters and state the last left, beside torch.optim.SGD."""
    start = [t.randn(*shape) for shape in shapes]
    with cpu_threads(1):
        leaves = [v.clone().requires_grad_(True) for v in start]
        torch_sgd = torch.optim.SGD(leaves, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov)
    values, state = start, {}
    how = f"{'Nesterov' if nesterov else 'momentum'}, weight decay {'on' if weight_decay else 'off'}"
    for step in range(1, steps + 1):
        grads = [t.randn(*shape, scale=0.5) for shape in shapes]
        params = [wire.LeafSpec(v, g) for v, g in zip(values, grads, strict=True)]
        with cpu_threads(1):
            for leaf, g in zip(leaves, grads, strict=True):
                leaf.grad = g.clone()
            torch_sgd.step()
        values, state = _momentum_step(t, params, state, lr, momentum, weight_decay, nesterov, f"step {step}, {how}")
        t.expect(values, [leaf.detach().clone() for leaf in leaves],
                 f"the parameters after {step} steps ({how}), compared with torch.optim.SGD")


@sgd_momentum.case("five steps in a row, each fed the state the last left, match torch.optim.SGD")
def _(t: Trial) -> None:
    rows, cols = _sizes(t, 2, 2, 5)
    _run_against_torch(t, [(rows, cols), (cols,)], 5, _draw_lr(t, 0.01, 0.3), _draw_momentum(t), 0.0, False)
    _run_against_torch(t, [(1, rows), (cols, rows)], 5, _draw_lr(t, 0.01, 0.3), _draw_momentum(t),
                       round(t.py.uniform(0.01, 0.2), 3), True)


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


# --- 5. accumulate_gradients -------------------------------------------------------------------------

accumulate_gradients = exercise(
    "ch01.accumulate_gradients", name="accumulate_gradients",
    description="Gradient accumulation: from micro-batches of unequal sizes, leave in every parameter's .grad the "
                "gradient of the whole batch's mean cross-entropy, and return that mean loss.",
    args=("model", "batches"), points=2, timeout=20, mutates=("model",),
)


def _classifier(t: Trial, features: int, classes: int, hidden: int, *, stale: bool,
                activation: str = "ReLU") -> wire.SequentialSpec:
    """A Linear-activation-Linear classifier with random weights; with ``stale``, gradients left from a last step."""
    state = {
        "0.weight": t.randn(hidden, features, scale=1 / math.sqrt(features)),
        "0.bias": t.randn(hidden, scale=0.1),
        "2.weight": t.randn(classes, hidden, scale=1 / math.sqrt(hidden)),
        "2.bias": t.randn(classes, scale=0.1),
    }
    grads = {name: t.randn(*value.shape, scale=0.5) for name, value in state.items()} if stale else {}
    layers = [("Linear", features, hidden), (activation,), ("Linear", hidden, classes)]
    return wire.SequentialSpec(layers, state, grads)


def _micro_batches(t: Trial, sizes: Sequence[int], features: int,
                   classes: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Noisy blobs, one per class, cut into consecutive micro-batches of the given sizes."""
    n = sum(sizes)
    y = t.randint(0, classes, (n,))  # (n,) int64
    x = t.randn(classes, features, scale=1.5)[y] + t.randn(n, features, scale=0.7)  # (n, features)
    return [(xb, yb) for xb, yb in zip(x.split(list(sizes)), y.split(list(sizes)), strict=True)]


def _micro_gradients(spec: wire.SequentialSpec, batches: Sequence[tuple[torch.Tensor, torch.Tensor]],
                     ) -> tuple[list[float], list[dict[str, torch.Tensor]]]:
    """Each micro-batch's own mean loss and its gradient, computed apart (the pieces every answer combines)."""
    losses, grads = [], []
    with cpu_threads(1):
        model = wire.build_sequential(wire.SequentialSpec(spec.layers, spec.state))
        params = dict(model.named_parameters())
        for xb, yb in batches:
            loss = F.cross_entropy(model(xb), yb)
            found = torch.autograd.grad(loss, list(params.values()))
            losses.append(loss.item())
            grads.append({name: g.detach() for name, g in zip(params, found, strict=True)})
    return losses, grads


def _full_batch(spec: wire.SequentialSpec, batches: Sequence[tuple[torch.Tensor, torch.Tensor]],
                ) -> tuple[float, dict[str, torch.Tensor]]:
    """The reference: the mean loss of the whole batch at once, and its gradient (what .grad must hold)."""
    with cpu_threads(1):
        model = wire.build_sequential(wire.SequentialSpec(spec.layers, spec.state))
        x = torch.cat([xb for xb, _ in batches])
        y = torch.cat([yb for _, yb in batches])
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        return loss.item(), {name: p.grad.detach().clone() for name, p in model.named_parameters()}


def _accumulation_mistakes(spec: wire.SequentialSpec, batches: Sequence[tuple[torch.Tensor, torch.Tensor]],
                           right: dict[str, torch.Tensor]) -> dict[str, dict[str, torch.Tensor]]:
    """The .grad that each usual slip leaves, built from the micro-batches' own gradients."""
    _, grads = _micro_gradients(spec, batches)
    sizes = [len(yb) for _, yb in batches]
    n, count = sum(sizes), len(batches)

    def combine(weights: Sequence[float]) -> dict[str, torch.Tensor]:
        return {name: sum(w * g[name] for w, g in zip(weights, grads, strict=True)) for name in right}

    found = {
        "divided each micro-batch's loss by the number of micro-batches; with unequal sizes, weight each by its "
        "share of the examples (its size over the whole batch's)": combine([1 / count] * count),
        "added up the micro-batches' mean losses without weighting them": combine([1.0] * count),
        "summed the losses over the examples (forgot to divide by the number of examples in the whole batch)":
            combine(sizes),
        "divided by the number of micro-batches times the size of the first, as if every micro-batch had that "
        "size": combine([size / (count * sizes[0]) for size in sizes]),
        "cleared the gradients inside the loop, so only the last micro-batch's share is left":
            combine([0.0] * (count - 1) + [sizes[-1] / n]),
    }
    if spec.grads:
        found["did not clear the gradients left from the last step before the first micro-batch (backward() adds "
              "to .grad)"] = {name: g + spec.grads[name] for name, g in right.items()}
        found["left the model's gradients as they were: accumulate into the model you are given, not a copy"] = \
            dict(spec.grads)
    return found


def _check_accumulation(t: Trial, spec: wire.SequentialSpec, batches: list[tuple[torch.Tensor, torch.Tensor]],
                        what: str) -> None:
    loss, right = _full_batch(spec, batches)
    out = t.call(spec, batches)
    after = out.args_after[0]
    expect_true(isinstance(after, wire.ModuleState), "the model could not be read back after the call.", "error")
    for name, value in spec.state.items():
        if not torch.equal(after.state[name], value):
            raise CheckFailure(f"the parameter `{name}` changed ({what}): this function only fills `.grad`; the "
                               "optimizer's step() is a separate call, made once the whole batch is accumulated.",
                               "wrong")
    missing = [name for name in right if after.grads.get(name) is None]
    if missing:
        raise CheckFailure(f"after the call `{missing[0]}` has no `.grad` ({what}): every parameter should hold the "
                           "gradient of the whole batch's loss (call backward() on each micro-batch's part).",
                           "wrong")
    grads = {name: after.grads[name] for name in right}
    t.expect(grads, right, f"the parameters' .grad ({what})", mistakes=_accumulation_mistakes(spec, batches, right))
    t.expect(out.value, loss, f"the returned loss ({what})", mistakes={
        "returned the plain average of the micro-batches' losses; weight each by its size, as the gradient does":
            sum(_micro_gradients(spec, batches)[0]) / len(batches)})


@accumulate_gradients.case("two micro-batches of unequal sizes, with gradients left over from an earlier step")
def _(t: Trial) -> None:
    features, hidden = _sizes(t, 2, 2, 6)
    small, large = sorted(_sizes(t, 2, 2, 9))
    spec = _classifier(t, features, 3, hidden + 2, stale=True)
    _check_accumulation(t, spec, _micro_batches(t, [large, small], features, 3), f"micro-batches of {large} and "
                        f"{small} examples")


@accumulate_gradients.case("many micro-batches, one of them a single example, and a single micro-batch")
def _(t: Trial) -> None:
    features, hidden = _sizes(t, 2, 2, 6)
    spec = _classifier(t, features, 2, hidden + 3, stale=True)
    sizes = [t.py.randint(3, 8), 1, t.py.randint(2, 6), t.py.randint(4, 10)]
    _check_accumulation(t, spec, _micro_batches(t, sizes, features, 2), f"micro-batch sizes {sizes}")
    n = t.py.randint(3, 12)
    spec = _classifier(t, features, 2, hidden + 3, stale=True)
    _check_accumulation(t, spec, _micro_batches(t, [n], features, 2), "one micro-batch holding the whole batch")


@accumulate_gradients.case("another network (Tanh, four classes) that holds no gradient yet (.grad is None)")
def _(t: Trial) -> None:
    features, hidden = _sizes(t, 2, 3, 7)
    spec = _classifier(t, features, 4, hidden, stale=False, activation="Tanh")
    sizes = [t.py.randint(5, 12), t.py.randint(5, 12), t.py.randint(1, 4)]  # the last one short, as at an epoch's end
    _check_accumulation(t, spec, _micro_batches(t, sizes, features, 4), f"micro-batch sizes {sizes}, no earlier "
                        "gradients")

"""Chapter 1's graded exercises: a linear layer, MSE and its gradient by hand, an SGD step, an nn.Module,
and a complete training loop.

Every case draws its inputs from the run's seed and computes the reference answer at check time with
PyTorch's own implementation (``F.linear``, autograd, SGD's update rule, a reference training run), so
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
from .core import Step, Trial, exercise
from .expect import CheckFailure, difference, expect_true, kind_of
from .wire import ModuleInfo, TensorInfo, Unsupported

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


# --- 2. mse_and_grad ---------------------------------------------------------------------------------

_BY_HAND = ("it relies on autograd (.backward() or torch.autograd.grad), which this exercise asks you to do by "
            "hand: write dL/dpred as a formula in pred and target, with no autograd call.")

mse_and_grad = exercise(
    "ch01.mse_and_grad", name="mse_and_grad",
    description="Return the mean squared error and its gradient with respect to pred, derived by hand.",
    args=("pred", "target"), points=1, timeout=10,
    hints={
        "element 0 of tensors does not require grad": _BY_HAND,
        "backward through the graph a second time": _BY_HAND,
        "One of the differentiated Tensors": _BY_HAND,
    },
)


def _loss_mistakes(pred: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
    diff = pred - target
    return {
        "sum the squared differences instead of averaging them": (diff**2).sum(),
        "forgot to square the differences": diff.mean(),
        "average the absolute differences instead of the squares": diff.abs().mean(),
        "take the square root (that is the RMSE, not the MSE)": (diff**2).mean().sqrt(),
        "average over the rows only (divide by the number of rows, not of elements)": (diff**2).sum() / len(pred),
    }


def _grad_mistakes(pred: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
    n, diff = pred.numel(), pred - target
    return {
        "leave out the 1/n of the mean": 2 * diff,
        "leave out the factor 2 that comes from differentiating the square": diff / n,
        "flip the sign (the derivative of (pred - target)² with respect to pred is +2(pred - target))":
            -2 * diff / n,
        "leave out both the 2 and the 1/n": diff,
        "divide by the number of rows instead of the number of elements": 2 * diff / len(pred),
        "take the sign from |pred - target| (the gradient keeps the sign of pred - target)": 2 * diff.abs() / n,
    }


def _check_mse(t: Trial, pred: torch.Tensor, target: torch.Tensor, *, leaves: bool) -> None:
    """One call: the pair's types, both values, and no autograd behind the gradient.

    With ``leaves``, pred and target arrive as tensors that require grad (as a model's output would):
    then ``.backward()`` leaves a ``.grad`` on them, ``autograd.grad`` frees the graph the grader then
    differentiates (see the hints), and autograd on a detached copy leaves a loss that requires grad but
    reaches neither input. Without, ``.backward()`` on the learner's loss raises. The loss need not stay
    differentiable: the task allows computing everything under ``torch.no_grad()``.
    """
    upstream = t.randn(()) if leaves else None
    out = t.call(pred, target, grad=leaves, upstream=(upstream, None) if leaves else None)
    if any(isinstance(a, TensorInfo) and a.grad is not None for a in out.args_after):
        raise CheckFailure(_BY_HAND + " (after the call, the inputs hold a .grad)", "wrong")
    got = out.value
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        raise CheckFailure(f"`mse_and_grad` should return a pair `(loss, grad)`, but it returned {kind_of(got)}.",
                           "type")
    grads = out.grads or {}
    if leaves and out.connected and grads.get("arg0") is None and grads.get("arg1") is None:
        # the loss requires grad yet reaches neither input: it was computed from a new leaf, a copy of them
        raise CheckFailure(_BY_HAND + " (the loss it returns is computed from a copy of `pred` made to require "
                           "grad, not from `pred` itself)", "wrong")
    loss, grad = got
    diff = pred - target
    t.expect(loss, (diff**2).mean(), "the loss", mistakes=_loss_mistakes(pred, target))
    t.expect(grad, 2 * diff / diff.numel(), f"the gradient for a {tuple(pred.shape)} input",
             mistakes=_grad_mistakes(pred, target))
    if leaves and out.connected:  # where the loss is differentiable, its gradient must be right too
        assert upstream is not None
        for key, name, want in (("arg0", "`pred`", upstream * 2 * diff / diff.numel()),
                                ("arg1", "`target`", -upstream * 2 * diff / diff.numel())):
            mine = grads.get(key)
            if mine is not None and difference(mine, want, ""):
                raise CheckFailure(f"autograd's gradient of the loss you return with respect to {name} is wrong, "
                                   "although its value is right: look for a step autograd cannot see (.data, "
                                   ".detach(), an in-place change).", "grad")


@mse_and_grad.case("the loss is the mean of the squared differences, and the gradient its derivative (a vector)")
def _(t: Trial) -> None:
    n = t.py.randint(3, 12)
    _check_mse(t, t.randn(n), t.randn(n, scale=1.5), leaves=True)


@mse_and_grad.case("works on an (N, D) matrix: the mean is over every element, not over the rows")
def _(t: Trial) -> None:
    rows, cols = _sizes(t, 2, 2, 6)
    _check_mse(t, t.randn(rows, cols), t.randn(rows, cols), leaves=False)


@mse_and_grad.case("works on a batch of one row (1, D) and on a (B, T, D) tensor")
def _(t: Trial) -> None:
    cols = t.py.randint(2, 7)
    _check_mse(t, t.randn(1, cols), t.randn(1, cols, scale=2.0), leaves=True)
    b, time, d = _sizes(t, 3, 2, 5)
    _check_mse(t, t.randn(b, time, d), t.randn(b, time, d), leaves=True)


@mse_and_grad.case("computes the gradient from the formula, without autograd, for inputs with or without grad")
def _(t: Trial) -> None:
    rows, cols = _sizes(t, 2, 2, 5)
    pred = t.randn(rows, cols, scale=3.0)
    target = pred + t.randn(rows, cols, scale=0.1)  # a near fit: small differences of both signs
    _check_mse(t, pred, target, leaves=False)
    _check_mse(t, pred, target, leaves=True)


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


# --- 4. MiniModel ------------------------------------------------------------------------------------

mini_model = exercise(
    "ch01.MiniModel", name="MiniModel",
    description="An nn.Module with one nn.Linear(10, 5) whose forward applies the layer, then a ReLU.",
    points=1, timeout=10, kind="class", grad=True,
    hints={
        "Module.__init__() call": "call `super().__init__()` first thing in `__init__`, before assigning layers.",
        "positional argument": "`MiniModel()` should work with no arguments: the sizes 10 and 5 are fixed.",
        **_SHAPE_HINTS,
    },
)
_LINEAR = "torch.nn.modules.linear.Linear"


def _the_linear(info: Any) -> str:
    """The path of the model's one registered nn.Linear, after checking the model's structure."""
    if isinstance(info, Unsupported) or not isinstance(info, ModuleInfo):
        raise CheckFailure(f"`MiniModel()` should be an nn.Module, but it is {kind_of(info)}: subclass nn.Module, "
                           "`class MiniModel(nn.Module):`.", "type")
    n_params = sum(p.numel() for name, p in info.parameters.items() if info.trainable.get(name))
    if not info.parameters:
        raise CheckFailure("the model has no registered parameters, so an optimizer would have nothing to train. "
                           "Create the layer once in `__init__` and store it as an attribute (`self.linear = "
                           "nn.Linear(...)`), not inside `forward`, in a plain list, or as a plain tensor.", "wrong")
    linears = [(path, attrs) for path, cls, attrs in info.submodules if cls == _LINEAR]
    if len(linears) != 1:
        raise CheckFailure(f"expected exactly one registered nn.Linear layer, found {len(linears)}. Create it in "
                           "`__init__` and store it as an attribute (`self.something = nn.Linear(...)`) so PyTorch "
                           "registers it.", "wrong")
    path, attrs = linears[0]
    shape = (attrs.get("in_features"), attrs.get("out_features"))
    expect_true(shape == (10, 5), f"the layer is nn.Linear({shape[0]}, {shape[1]}); expected 10 inputs and 5 "
                                  "outputs: nn.Linear(in_features, out_features).")
    expect_true(n_params == 55, f"the model has {n_params} trainable parameters; expected 10·5 weights + 5 "
                                "biases = 55.")
    if f"{path}.bias" not in info.parameters:
        raise CheckFailure("the layer has no bias: nn.Linear(10, 5) keeps its default bias=True.", "wrong")
    return path


def _check_forward(t: Trial, shapes: Sequence[tuple[int, ...]]) -> None:
    """Build the model once, run it on inputs of each shape, and compare with its own layer's numbers."""
    inputs = [t.randn(*shape) for shape in shapes]
    upstreams = [t.randn(*shape[:-1], 5) for shape in shapes]
    steps = [Step(keep="m")] + [Step((x,), on="m") for x in inputs]
    outcomes = t.run(steps, upstream=[None, *upstreams], grad_objects=["m"])
    path = _the_linear(outcomes[0].raw)
    weight = outcomes[0].raw.parameters[f"{path}.weight"].clone().requires_grad_(True)
    bias = outcomes[0].raw.parameters[f"{path}.bias"].clone().requires_grad_(True)
    for x, up, out in zip(inputs, upstreams, outcomes[1:], strict=True):
        leaf = x.clone().requires_grad_(True)
        z = F.linear(leaf, weight, bias)
        expected = torch.relu(z)
        t.expect(out.value, expected.detach(), f"the output for a {tuple(x.shape)} input", mistakes={
            "forgot the ReLU": z.detach(),
            "apply the ReLU before the layer instead of after it": F.linear(torch.relu(x), weight, bias).detach(),
            "use a sigmoid instead of a ReLU": torch.sigmoid(z).detach(),
            "use tanh instead of a ReLU": torch.tanh(z).detach(),
        })
        wants = torch.autograd.grad(expected, [leaf, weight, bias], up)
        if not out.connected:
            raise CheckFailure("the output is cut off from autograd, so the model could not be trained: no "
                               "torch.no_grad(), .detach(), .data or NumPy in `forward`.", "grad")
        for key, name, want in (("arg0", "the input", wants[0]), (f"m.{path}.weight", "the layer's weight", wants[1]),
                                (f"m.{path}.bias", "the layer's bias", wants[2])):
            mine = (out.grads or {}).get(key)
            if mine is None:
                raise CheckFailure(f"no gradient reaches {name} through the output: does `forward` use the layer "
                                   "through .data, .detach() or torch.no_grad()?", "grad")
            problem = difference(mine, want, f"the gradient with respect to {name}")
            if problem:
                raise CheckFailure(problem, "grad")


@mini_model.case("is an nn.Module holding one nn.Linear(10, 5): 55 trainable parameters")
def _(t: Trial) -> None:
    _the_linear(t.run([Step(keep="m")])[0].raw)


@mini_model.case("forward applies the layer, then a ReLU, and stays differentiable: (N, 10) in, (N, 5) out")
def _(t: Trial) -> None:
    _check_forward(t, [(t.py.randint(2, 9), 10), (1, 10)])


@mini_model.case("works with extra leading dimensions: (B, T, 10) in, (B, T, 5) out")
def _(t: Trial) -> None:
    b, time = _sizes(t, 2, 2, 7)
    _check_forward(t, [(b, time, 10), (1, time, 10)])


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

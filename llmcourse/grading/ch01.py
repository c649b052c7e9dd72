"""Chapter 1's graded exercises: a linear layer, MSE and its gradient by hand, an SGD step, an nn.Module,
and a complete training loop.

Every case builds its inputs from a fixed seed and computes the reference answer at check time with
PyTorch's own implementation (``F.linear``, autograd, ``torch.optim.SGD``, a reference training run),
so nothing here is a pasted number. Known mistakes are computed the same way, so a message can say
exactly which mistake an answer matches.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..device import cpu_threads
from .core import CheckFailure, call_student, exercise
from .expect import expect_close, expect_tensor, expect_true, short


def _seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _in_one_thread(case: Callable[[Any], None]) -> Callable[[Any], None]:
    """Run a case on one CPU thread: these models are tiny, and on a busy two-core machine two threads
    fighting over the cores made the same loop ~30x slower (and the case run past its time limit)."""

    def run(student: Any) -> None:
        with cpu_threads(1):
            case(student)

    return run


def _call(fn: Callable[..., Any], *args: Any, hints: dict[str, str]) -> Any:
    """Call the learner's code; a shape or type error matching a key of ``hints`` fails with that hint."""
    return call_student(fn, *args, hints=hints, catch=(RuntimeError, TypeError, AttributeError))


# --- 1. linear_forward -------------------------------------------------------------------------

linear_forward = exercise(
    "ch01.linear_forward", name="linear_forward",
    description="Compute what nn.Linear computes: x @ weight.T + bias, for any number of leading dimensions.",
    points=1, timeout=10,
)
_SHAPE_HINTS = {
    "cannot be multiplied": "check the shapes: like nn.Linear, `weight` is stored as "
                            "(out_features, in_features).",
    "size of tensor a": "check the shapes: `bias` has one entry per output feature.",
    "2D": "use `@` (torch.matmul), which also handles inputs with extra leading dimensions.",
    "must be a matrix": "torch.mm only takes 2-D matrices; use `@` (torch.matmul), which also handles inputs "
                        "with extra leading dimensions.",
}


@linear_forward.case("matches nn.Linear on a batch of 4 examples (3 features in, 2 out)")
def _(student):
    g = _seeded(0)
    x, w, b = torch.randn(4, 3, generator=g), torch.randn(2, 3, generator=g), torch.randn(2, generator=g)
    got = _call(student, x.clone(), w.clone(), b.clone(), hints=_SHAPE_HINTS)
    expect_close(got, F.linear(x, w, b), "the output", mistakes={
        "forgot to add the bias": x @ w.T,
        "subtracted the bias instead of adding it": x @ w.T - b,
    })


@linear_forward.case("uses the weight the way nn.Linear stores it: (out_features, in_features)")
def _(student):
    g = _seeded(1)  # a square weight, so using it untransposed runs but gives the wrong numbers
    x, w, b = torch.randn(5, 3, generator=g), torch.randn(3, 3, generator=g), torch.randn(3, generator=g)
    got = _call(student, x.clone(), w.clone(), b.clone(), hints=_SHAPE_HINTS)
    expect_close(got, F.linear(x, w, b), "the output", mistakes={
        "use the weight without transposing it (nn.Linear stores it as (out_features, in_features))":
            x @ w + b,
        "forgot to add the bias": x @ w.T,
    })


@linear_forward.case("works on a batch of sequences, shape (batch, time, features), as in a transformer")
def _(student):
    g = _seeded(2)
    x, w, b = torch.randn(2, 5, 3, generator=g), torch.randn(4, 3, generator=g), torch.randn(4, generator=g)
    got = _call(student, x.clone(), w.clone(), b.clone(), hints=_SHAPE_HINTS)
    expect_close(got, F.linear(x, w, b), "the output for a (2, 5, 3) input")


# --- 2. mse_and_grad ---------------------------------------------------------------------------

mse_and_grad = exercise(
    "ch01.mse_and_grad", name="mse_and_grad",
    description="Return the mean squared error and its gradient with respect to pred, derived by hand.",
    points=1, timeout=10,
)


def _mse_reference(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The trusted answer: F.mse_loss, differentiated by autograd."""
    p = pred.clone().requires_grad_(True)
    loss = F.mse_loss(p, target)
    loss.backward()
    return loss.detach(), p.grad


def _unpack_loss_grad(got: Any) -> tuple[Any, Any]:
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        kind = "None (did you forget to `return`?)" if got is None else f"a {type(got).__name__}"
        raise CheckFailure(f"`mse_and_grad` should return a pair `(loss, grad)`, but it returned {kind}.")
    return got[0], got[1]


def _grad_mistakes(pred: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
    n, diff = pred.numel(), pred - target
    return {
        "leave out the 1/n of the mean": 2 * diff,
        "leave out the factor 2 that comes from differentiating the square": diff / n,
        "flip the sign (the derivative of (pred - target)² with respect to pred is +2(pred - target))":
            -2 * diff / n,
        "leave out both the 2 and the 1/n": diff,
        "divide by the number of rows instead of the number of elements": 2 * diff / pred.shape[0],
    }


@mse_and_grad.case("the loss is the mean of the squared differences")
def _(student):
    g = _seeded(10)
    pred, target = torch.randn(8, generator=g), torch.randn(8, generator=g)
    loss, _ = _unpack_loss_grad(student(pred.clone(), target.clone()))
    diff = pred - target
    expect_close(loss, F.mse_loss(pred, target), "the loss", mistakes={
        "sum the squared differences instead of averaging them": (diff**2).sum(),
        "forgot to square the differences": diff.mean(),
        "average the absolute differences instead of the squares": diff.abs().mean(),
        "take the square root (that is the RMSE, not the MSE)": (diff**2).mean().sqrt(),
    })


@mse_and_grad.case("the gradient matches autograd's dL/dpred")
def _(student):
    g = _seeded(11)
    pred, target = torch.randn(8, generator=g), torch.randn(8, generator=g)
    _, grad = _unpack_loss_grad(student(pred.clone(), target.clone()))
    _, expected = _mse_reference(pred, target)
    expect_tensor(grad, "the gradient", shape=pred.shape)
    expect_close(grad, expected, "the gradient", mistakes=_grad_mistakes(pred, target))


@mse_and_grad.case("works on a (4, 3) matrix: the mean is over every element")
def _(student):
    g = _seeded(12)
    pred, target = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    loss, grad = _unpack_loss_grad(student(pred.clone(), target.clone()))
    expected_loss, expected_grad = _mse_reference(pred, target)
    diff = pred - target
    expect_close(loss, expected_loss, "the loss", mistakes={
        "average over the rows only": (diff**2).sum() / pred.shape[0],
        "sum the squared differences instead of averaging them": (diff**2).sum(),
    })
    expect_close(grad, expected_grad, "the gradient", mistakes=_grad_mistakes(pred, target))


@mse_and_grad.case("computes the gradient from the formula, without autograd")
def _(student):
    g = _seeded(13)
    pred, target = torch.randn(6, generator=g), torch.randn(6, generator=g)
    try:
        with torch.no_grad():  # autograd records nothing here, so .backward() / autograd.grad cannot work
            loss, grad = _unpack_loss_grad(student(pred.clone(), target.clone()))
    except RuntimeError as exc:
        if not isinstance(exc, NotImplementedError) and "grad" in str(exc):
            raise CheckFailure(
                "it relies on autograd (.backward() or torch.autograd.grad), which this exercise asks you to "
                "do by hand: write dL/dpred as a formula in pred and target. "
                f"(With autograd switched off it raised: {str(exc).splitlines()[0]})"
            ) from exc
        raise
    _, expected = _mse_reference(pred, target)
    expect_close(grad, expected, "the gradient", mistakes=_grad_mistakes(pred, target))


# --- 3. sgd_step -------------------------------------------------------------------------------

sgd_step = exercise(
    "ch01.sgd_step", name="sgd_step",
    description="Update every parameter in place, p ← p − lr · p.grad, under torch.no_grad(); "
                "skip parameters without a gradient.",
    points=1, timeout=10,
)
_SGD_HINTS = {
    "leaf Variable that requires grad": "an update must not be recorded by autograd: do it inside "
                                        "`with torch.no_grad():`.",
    "NoneType": "some parameters have no gradient (`p.grad is None`, e.g. a frozen layer): skip those.",
}


def _params_with_grads(seed: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    g = _seeded(seed)
    params = [torch.randn(3, 2, generator=g).requires_grad_(), torch.randn(2, generator=g).requires_grad_()]
    grads = [torch.randn(p.shape, generator=g) for p in params]
    for p, grad in zip(params, grads, strict=True):
        p.grad = grad.clone()
    return params, grads


@sgd_step.case("moves each parameter against its gradient by lr × grad, in place")
def _(student):
    params, grads = _params_with_grads(20)
    before = [p.detach().clone() for p in params]
    lr = 0.1
    _call(student, params, lr, hints=_SGD_HINTS)
    for i, (p, b, g) in enumerate(zip(params, before, grads, strict=True)):
        what = f"parameter {i} after the step"
        if torch.equal(p.detach(), b):
            raise CheckFailure(
                f"{what} did not change. Update the tensors you were given in place (e.g. with `-=`): "
                "assigning `p = ...` or returning new tensors leaves the model's own parameters as they were."
            )
        expect_close(p.detach(), b - lr * g, what, mistakes={
            "add the gradient instead of subtracting it (that climbs uphill, making the loss larger)":
                b + lr * g,
            "forgot to multiply the gradient by the learning rate `lr`": b - g,
            "divide by the learning rate instead of multiplying": b - g / lr,
        })
    expect_true(all(p.is_leaf and p.requires_grad for p in params),
                "after the step the parameters should still be leaf tensors that require grad "
                "(update their values in place; don't replace them or switch their gradient off).")


@sgd_step.case("skips parameters that have no gradient (p.grad is None)")
def _(student):
    params, grads = _params_with_grads(21)
    frozen = torch.randn(4, generator=_seeded(22)).requires_grad_()  # .grad stays None
    before = frozen.detach().clone()
    _call(student, [params[0], frozen, params[1]], 0.5, hints=_SGD_HINTS)
    expect_true(torch.equal(frozen.detach(), before),
                "a parameter without a gradient should be left unchanged.")


@sgd_step.case("does exactly what torch.optim.SGD does on a real model's parameters")
def _(student):
    torch.manual_seed(23)
    model = nn.Linear(4, 3)
    reference = copy.deepcopy(model)  # (deepcopy does not copy .grad, so each gets its own backward)
    g = _seeded(24)
    x, target = torch.randn(8, 4, generator=g), torch.randn(8, 3, generator=g)
    for m in (model, reference):
        F.mse_loss(m(x), target).backward()
    torch.optim.SGD(reference.parameters(), lr=0.05).step()
    _call(student, model.parameters(), 0.05, hints=_SGD_HINTS)  # a generator, as model.parameters() gives
    for (name, p), q in zip(model.named_parameters(), reference.parameters(), strict=True):
        expect_close(p.detach(), q.detach(), f"`{name}` after the step (passing model.parameters())")


# --- 4. MiniModel ------------------------------------------------------------------------------

mini_model = exercise(
    "ch01.MiniModel", name="MiniModel",
    description="An nn.Module with one nn.Linear(10, 5) whose forward applies the layer, then a ReLU.",
    points=1, timeout=10, kind="class",
)


def _build(student: type) -> nn.Module:
    if not issubclass(student, nn.Module):
        raise CheckFailure("`MiniModel` should subclass nn.Module: `class MiniModel(nn.Module):`.")
    try:
        torch.manual_seed(30)
        model = student()
    except AttributeError as exc:
        if "__init__() call" in str(exc):
            raise CheckFailure("creating it failed: call `super().__init__()` first thing in `__init__`, "
                               f"before assigning layers ({str(exc).splitlines()[0]}).") from exc
        raise
    except TypeError as exc:
        raise CheckFailure(f"`MiniModel()` should work with no arguments, but it raised TypeError: {exc}") \
            from exc
    return model


def _the_linear(model: nn.Module) -> nn.Linear:
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if len(linears) != 1:
        raise CheckFailure(
            f"expected exactly one registered nn.Linear layer, found {len(linears)}. Create it in `__init__` "
            "and store it as an attribute (`self.something = nn.Linear(...)`) so PyTorch registers it."
        )
    return linears[0]


@mini_model.case("is an nn.Module holding one nn.Linear(10, 5): 55 trainable parameters")
def _(student):
    model = _build(student)
    n_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if n_params == 0:
        raise CheckFailure(
            "the model has no registered parameters, so an optimizer would have nothing to train. Create the "
            "layer once in `__init__` as an attribute (not inside `forward`, and not as a plain tensor)."
        )
    layer = _the_linear(model)
    expect_true((layer.in_features, layer.out_features) == (10, 5),
                f"the layer is nn.Linear({layer.in_features}, {layer.out_features}); expected 10 inputs and "
                "5 outputs: nn.Linear(in_features, out_features).")
    expect_true(n_params == 55,
                f"the model has {n_params} trainable parameters; expected 10·5 weights + 5 biases = 55.")


@mini_model.case("forward applies the layer, then a ReLU: output (4, 5)")
def _(student):
    model = _build(student)
    layer = _the_linear(model)
    x = torch.randn(4, 10, generator=_seeded(31))
    with torch.no_grad():
        got = _call(model, x.clone(), hints=_SHAPE_HINTS)
        z = layer(x)
        expect_close(got, torch.relu(z), "the output", mistakes={
            "forgot the ReLU": z,
            "apply the ReLU before the layer instead of after it": layer(torch.relu(x)),
            "use a sigmoid instead of a ReLU": torch.sigmoid(z),
            "use tanh instead of a ReLU": torch.tanh(z),
        })


@mini_model.case("works on a batch of sequences: (2, 7, 10) in, (2, 7, 5) out")
def _(student):
    model = _build(student)
    x = torch.randn(2, 7, 10, generator=_seeded(32))
    with torch.no_grad():
        got = _call(model, x, hints=_SHAPE_HINTS)
    expect_tensor(got, "the output for a (2, 7, 10) input", shape=(2, 7, 5))


# --- 5. train_loop -----------------------------------------------------------------------------

train_loop = exercise(
    "ch01.train_loop", name="train_loop",
    description="Full-batch training with torch.optim.SGD(lr) and cross-entropy; return every step's loss.",
    points=2, timeout=30,
)


def _problem(seed: int, n: int = 200, hidden: int = 16) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """A small classifier on two noisy blobs: separable enough that a correct loop clearly learns it."""
    g = _seeded(seed)
    y = torch.arange(n) % 2  # (n,)
    centres = torch.tensor([[-1.0, -0.5], [1.0, 0.5]])
    x = centres[y] + 0.6 * torch.randn(n, 2, generator=g)  # (n, 2)
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(2, hidden), nn.ReLU(), nn.Linear(hidden, 2))
    return model, x, y


def _reference_run(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, lr: float, *,
                   zero_grad: bool = True, step: bool = True, optimizer: str = "sgd") -> torch.Tensor:
    """The loop the exercise asks for, and (with flags) the mistakes a learner might make."""
    opt_cls = torch.optim.SGD if optimizer == "sgd" else torch.optim.Adam
    opt = opt_cls(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        loss = F.cross_entropy(model(x), y)
        if zero_grad:
            opt.zero_grad()
        loss.backward()
        if step:
            opt.step()
        losses.append(loss.item())
    return torch.tensor(losses, dtype=torch.float64)


def _losses(got: Any, steps: int) -> torch.Tensor:
    if not isinstance(got, (list, tuple)):
        kind = "None (did you forget to `return losses`?)" if got is None else f"a {type(got).__name__}"
        raise CheckFailure(f"`train_loop` should return a list with one loss per step, but it returned "
                           f"{kind}.")
    expect_true(len(got) == steps,
                f"`train_loop` returned {len(got)} losses for {steps} steps; record one loss per step.")
    for value in got:
        if isinstance(value, torch.Tensor):
            raise CheckFailure("the losses should be Python floats: append `loss.item()`, not the tensor "
                               "`loss` (a stored loss tensor keeps its whole computation graph alive).")
        if not isinstance(value, (int, float)):
            raise CheckFailure(f"the losses should be Python floats, but one is a {type(value).__name__}.")
    losses = torch.tensor([float(v) for v in got], dtype=torch.float64)
    if not torch.isfinite(losses).all():
        raise CheckFailure("the losses became NaN or infinite: the steps are far too large. Are gradients "
                           "piling up from one step to the next?")
    return losses


@train_loop.case("returns one loss per step, as Python floats")
def _(student):
    model, x, y = _problem(40)
    _losses(student(model, x, y, 5, 0.1), 5)


@train_loop.case("matches a reference run (SGD, cross-entropy, full batch) from the same starting weights")
def _(student):
    steps, lr = 25, 0.3
    model, x, y = _problem(41)
    runs = {name: copy.deepcopy(model) for name in ("ref", "no_zero", "no_step", "adam", "lr_01", "lr_001")}
    expected = _reference_run(runs["ref"], x, y, steps, lr)
    got = _losses(student(model, x.clone(), y.clone(), steps, lr), steps)
    expect_close(got, expected, "the list of losses", atol=1e-5, rtol=1e-4,
                 mistakes={
                     "never reset the gradients with optimizer.zero_grad(), so each step's gradient is added "
                     "to all the earlier ones":
                         _reference_run(runs["no_zero"], x, y, steps, lr, zero_grad=False),
                     "never apply the update: optimizer.step() is missing, or zero_grad() runs between "
                     "backward() and step() and wipes the gradient first":
                         _reference_run(runs["no_step"], x, y, steps, lr, step=False),
                     "use Adam; this exercise asks for plain torch.optim.SGD":
                         _reference_run(runs["adam"], x, y, steps, lr, optimizer="adam"),
                     "use a fixed learning rate (0.1) instead of the `lr` argument":
                         _reference_run(runs["lr_01"], x, y, steps, 0.1),
                     "use a fixed learning rate (0.01) instead of the `lr` argument":
                         _reference_run(runs["lr_001"], x, y, steps, 0.01),
                 })
    for (name, p), q in zip(model.named_parameters(), runs["ref"].parameters(), strict=True):
        expect_close(p.detach(), q.detach(), f"the trained parameter `{name}`")


@train_loop.case("trains the model it is given (its own parameters change)")
def _(student):
    model, x, y = _problem(42)
    before = [p.detach().clone() for p in model.parameters()]
    student(model, x, y, 10, 0.3)
    if all(torch.equal(p.detach(), b) for p, b in zip(model.parameters(), before, strict=True)):
        raise CheckFailure(
            "the model's parameters did not change. Build the optimizer from `model.parameters()` of the "
            "model you were given, call optimizer.step() every step, and don't train a copy."
        )


@train_loop.case("learns: the loss goes down and ends low on an easy problem")
def _(student):
    steps, lr = 150, 0.5
    model, x, y = _problem(43)
    reference = copy.deepcopy(model)
    bound = 1.5 * _reference_run(reference, x, y, steps, lr)[-1] + 0.02  # a correct loop lands about here
    losses = _losses(student(model, x, y, steps, lr), steps)
    first, last = losses[0].item(), losses[-1].item()
    expect_true(last < first, f"the loss did not go down: first {short(first)}, last {short(last)}.")
    expect_true(last < bound, f"the final loss {short(last)} is not below {short(bound)}, which a correct "
                              f"loop reaches after {steps} steps.")


# Every case runs on one CPU thread (see _in_one_thread); registered last so it covers all of them.
for _exercise in (linear_forward, mse_and_grad, sgd_step, mini_model, train_loop):
    _exercise.cases = [(name, _in_one_thread(fn)) for name, fn in _exercise.cases]

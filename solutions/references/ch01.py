"""Chapter 1's references and named mistakes (teacher side): what the public and hidden cases of
llmcourse/checks/ch01.py compare with. Where each reference comes from:

- ``ch01.linear_forward``: PyTorch's own ``F.linear`` (on float16 and bfloat16 inputs, run in float64 on the same
  values and rounded to their dtype);
- ``ch01.mlp_backward``: PyTorch's autograd through its own layers and loss (``F.linear``, ``torch.relu``,
  ``F.cross_entropy``; on float16 and bfloat16 inputs, in float64 on the same values, rounded to their dtype);
- ``ch01.adam_step``: torch.optim.Adam's / AdamW's step (no amsgrad) written out here per parameter, with switches
  for the usual slips (never called with a switch on as the reference); ``ch01.adam_step/torch``: PyTorch's own
  torch.optim.Adam and torch.optim.AdamW run for several steps in a row, the peer of the multi-step case;
- ``ch01.stable_cross_entropy``: PyTorch's own ``F.cross_entropy``.

Every reference and mistake runs on one CPU thread, as the learner's code does in its forked child (see
:mod:`llmcourse.grading.runner`), so both do the same sums in the same order. Each ``/mistakes`` function computes
the known mistakes on the same inputs, so a message can name the one an answer makes.

``ch01.train_classifier`` has no reference here: its check replays the learner's own report (see the checks
module). :func:`measure_training` gives the numbers behind the checks module's TARGET_ACCURACY and BUDGET_EPOCHS.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from llmcourse.checks.ch01 import (
    BUDGET_EPOCHS,
    TARGET_ACCURACY,
    _accuracy,
    _replay,
    _training_problem,
    train_classifier,
)
from llmcourse.device import cpu_threads
from llmcourse.grading import wire
from llmcourse.grading.core import Trial
from llmcourse.grading.references import reference

_LOW = (torch.float16, torch.bfloat16)

# --- 1. linear_forward -------------------------------------------------------------------------------


@reference("ch01.linear_forward")
def linear_reference(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """PyTorch's own F.linear; in float64 for float16 and bfloat16 inputs, rounded to their dtype at the end (the
    cast is differentiable, so the inputs' gradients come back in their dtype as well)."""
    with cpu_threads(1):
        if x.dtype in _LOW:
            wide = [None if v is None else v.double() for v in (x, weight, bias)]
            return F.linear(*wide).to(x.dtype)
        return F.linear(x, weight, bias)


@reference("ch01.linear_forward/mistakes")
def linear_mistakes(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> dict[str, torch.Tensor]:
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


# --- 2. mlp_backward ---------------------------------------------------------------------------------


@reference("ch01.mlp_backward")
def mlp_reference(x: torch.Tensor, y: torch.Tensor, W1: torch.Tensor, b1: torch.Tensor, W2: torch.Tensor,
                  b2: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The gradients as autograd computes them through PyTorch's own layers and loss; for float16 and bfloat16
    inputs, in float64 on the same values, rounded to the inputs' dtype."""
    dtype = x.dtype
    wide = dtype in _LOW
    with cpu_threads(1):
        params = [(p.detach().double() if wide else p.detach().clone()).requires_grad_(True) for p in (W1, b1, W2, b2)]
        inputs = x.detach().double() if wide else x.detach()
        logits = F.linear(torch.relu(F.linear(inputs, params[0], params[1])), params[2], params[3])  # (N, C)
        return tuple(g.detach().to(dtype) for g in torch.autograd.grad(F.cross_entropy(logits, y), params))


@reference("ch01.mlp_backward/mistakes")
def mlp_mistakes(x: torch.Tensor, y: torch.Tensor, W1: torch.Tensor, b1: torch.Tensor, W2: torch.Tensor,
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
    exps = F.linear(hidden, W2, b2).exp()  # (N, C) overflows to inf for logits above about 88 (float32)
    return {
        "computed the softmax as exp(z) / sum(exp(z)) without subtracting each row's largest logit first: with "
        "logits in the hundreds exp overflows to inf, inf / inf is NaN, and the NaN spreads to every gradient":
            run((exps / exps.sum(-1, keepdim=True) - onehot) / n),
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


# --- 3. adam_step ------------------------------------------------------------------------------------


def adam_variant(params: Sequence[wire.LeafSpec], state: dict[int, dict[str, Any]], lr: float,
                 betas: tuple[float, float], eps: float, weight_decay: float, decoupled: bool, *,
                 coupled: bool | None = None, decay_lr: bool = True, decay_after: bool = False,
                 correct: bool = True, eps_inside: bool = False, zero_based: bool = False,
                 corrected_state: bool = False, fresh: bool = False, decay_frozen: bool = False,
                 no_decay: bool = False) -> tuple[list[torch.Tensor], dict[int, dict[str, Any]]]:
    """torch.optim.Adam's / AdamW's step (no amsgrad) written out per parameter; the flags give the usual slips.

    ``coupled`` (default: not ``decoupled``) says where the decay goes: into the gradient (L2) or onto the weight.
    """
    beta1, beta2 = betas
    coupled = (not decoupled) if coupled is None else coupled
    values, new_state = [], {k: dict(v) for k, v in state.items()}
    for i, p in enumerate(params):
        value = p.value
        if p.grad is None:
            if decay_frozen and weight_decay:
                value = value * (1 - lr * weight_decay) if not coupled else value
            values.append(value)
            continue
        grad = p.grad
        old = {} if fresh else state.get(i, {})
        step = int(old.get("step", 0)) + 1
        m_old = old.get("m", torch.zeros_like(value))
        v_old = old.get("v", torch.zeros_like(value))
        if not no_decay and coupled:
            grad = grad + weight_decay * value
        if not no_decay and not coupled and not decay_after:
            value = value * (1 - (lr if decay_lr else 1.0) * weight_decay)
        m = beta1 * m_old + (1 - beta1) * grad
        v = beta2 * v_old + (1 - beta2) * grad * grad
        t = step - 1 if zero_based else step
        m_hat = m / (1 - beta1**t) if correct else m
        v_hat = v / (1 - beta2**t) if correct else v
        denom = (v_hat + eps).sqrt() if eps_inside else v_hat.sqrt() + eps
        value = value - lr * m_hat / denom
        if not no_decay and not coupled and decay_after:
            value = value * (1 - lr * weight_decay)
        values.append(value)
        new_state[i] = {"step": step, "m": m_hat if corrected_state else m, "v": v_hat if corrected_state else v}
    return values, new_state


@reference("ch01.adam_step")
def adam_reference(params: Sequence[wire.LeafSpec], state: dict[int, dict[str, Any]], lr: float,
                   betas: tuple[float, float], eps: float, weight_decay: float,
                   decoupled: bool) -> tuple[list[torch.Tensor], dict[int, dict[str, Any]]]:
    """The parameters' values and the state after one step (no slip switched on)."""
    with cpu_threads(1):
        return adam_variant(params, state, lr, betas, eps, weight_decay, decoupled)


@reference("ch01.adam_step/mistakes")
def adam_mistakes(params: Sequence[wire.LeafSpec], state: dict[int, dict[str, Any]], lr: float,
                  betas: tuple[float, float], eps: float, weight_decay: float, decoupled: bool) -> dict[str, Any]:
    def run(**slip: Any) -> tuple[list[torch.Tensor], dict[int, dict[str, Any]]]:
        return adam_variant(params, state, lr, betas, eps, weight_decay, decoupled, **slip)

    found = {
        "left out the bias correction (the running averages start at zero, so early on they are too small: divide "
        "each by one minus its beta to the power of the parameter's step count)": run(correct=False),
        "put eps inside the square root; Adam adds it to the square root of the second moment": run(eps_inside=True),
        "corrected with the step count from before this step (on a parameter's first step that is 0): count this "
        "step first": run(zero_based=True),
        "stored the bias-corrected averages in `state`; keep the raw running averages there, and correct them only "
        "for the step": run(corrected_state=True),
        "treated every step as a first step (the state was not read back, or not kept across calls)": run(fresh=True),
        "left out the weight decay": run(no_decay=True),
        "used the default betas (0.9, 0.999) instead of the `betas` argument":
            adam_variant(params, state, lr, (0.9, 0.999), eps, weight_decay, decoupled),
        "swapped beta1 and beta2": adam_variant(params, state, lr, betas[::-1], eps, weight_decay, decoupled),
    }
    if decoupled:
        found["added the weight decay to the gradient, as Adam with L2 does; AdamW keeps it out of the gradient (so "
              "out of both running averages) and shrinks the weight itself"] = run(coupled=True)
        found["shrank the weights by weight_decay alone; the decoupled decay is scaled by the learning rate too"] = \
            run(decay_lr=False)
        found["shrank the weights after the Adam step; AdamW shrinks the weight as it was before this step's "
              "update"] = run(decay_after=True)
        found["shrank the weights of parameters that have no gradient; those take no step at all"] = \
            run(decay_frozen=True)
    else:
        found["decoupled the weight decay although `decoupled` is False: Adam with L2 adds weight_decay·p to the "
              "gradient, so the decay goes through both running averages"] = run(coupled=False)
    return found


@reference("ch01.adam_step/torch")
def adam_torch_steps(start: Sequence[torch.Tensor], grads: Sequence[Sequence[torch.Tensor | None]], lr: float,
                     betas: tuple[float, float], eps: float, weight_decay: float,
                     decoupled: bool) -> list[list[torch.Tensor]]:
    """PyTorch's own torch.optim.AdamW (``decoupled``) or torch.optim.Adam from ``start``, one step per entry of
    ``grads`` (a parameter whose gradient is None takes no step, as in torch): the parameters after each step."""
    with cpu_threads(1):
        leaves = [v.clone().requires_grad_(True) for v in start]
        kind = torch.optim.AdamW if decoupled else torch.optim.Adam
        peer = kind(leaves, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
        after = []
        for step_grads in grads:
            for leaf, g in zip(leaves, step_grads, strict=True):
                leaf.grad = None if g is None else g.clone()
            peer.step()
            after.append([leaf.detach().clone() for leaf in leaves])
        return after


# --- 4. stable_cross_entropy -------------------------------------------------------------------------


@reference("ch01.stable_cross_entropy")
def ce_reference(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """PyTorch's own F.cross_entropy."""
    with cpu_threads(1):
        return F.cross_entropy(x, y)


@reference("ch01.stable_cross_entropy/mistakes")
def ce_mistakes(logits: torch.Tensor, targets: torch.Tensor) -> dict[str, torch.Tensor]:
    """What the usual slips give, each computed in the logits' dtype as the learner's code would."""
    x = logits.detach()
    rows = torch.arange(len(x))
    picked = x[rows, targets]  # (N,) each row's target logit
    top = x.amax(dim=-1)  # (N,)
    lse_shifted = (x - top[:, None]).exp().sum(-1).log()  # (N,) the log-sum-exp of the shifted logits
    right = lse_shifted + top - picked  # (N,)
    exps = x.exp()
    found = {
        "took −log of the softmax written as exp(x) / sum(exp(x)): with large logits exp overflows to inf, and "
        "inf / inf is NaN": -(exps[rows, targets] / exps.sum(-1)).log().mean(),
        "took the log of the sum of exp(x) without shifting the logits first: exp of a large logit overflows to "
        "inf": (exps.sum(-1).log() - picked).mean(),
        "shifted the logits by their row's maximum but did not add it back (the log-sum-exp of x is the maximum "
        "plus the log-sum-exp of x − max)": (lse_shifted - picked).mean(),
        "summed the losses over the rows instead of averaging them": right.sum(),
        "left out the minus sign (the loss is the negative log-probability of the target)": -right.mean(),
        "picked logits[:, targets], every row's logit for every target, instead of one entry per row": (
            (lse_shifted + top)[:, None] - x[:, targets]).mean(),
    }
    return {k: v.to(x.dtype) for k, v in found.items()}


# --- 5. train_classifier: the numbers behind TARGET_ACCURACY and BUDGET_EPOCHS -------------------------


def measure_training(seeds: int = 30, batch_size: int = 8, lr: float = 0.03) -> None:  # pragma: no cover
    """Held-out accuracy over ``seeds`` draws of each case's problem: the stated solution (Adam, mini-batches of
    ``batch_size``) and full-batch steps at the same budget with a few learning rates; prints min / mean / how many
    reach TARGET_ACCURACY. The numbers behind TARGET_ACCURACY and BUDGET_EPOCHS."""
    cases = {"first": (240, 300, 20, 28, "Tanh"), "second": (260, 340, 28, 36, "Tanh"),
             "hidden": (220, 280, 40, 40, "Tanh")}
    runs = {"solution": ("Adam", lr, batch_size), **{f"full-batch {o} lr {r}": (o, r, 0)
                                                    for o, r in (("Adam", 0.03), ("Adam", 0.1), ("Adam", 0.3),
                                                                 ("SGD", 1.0))}}
    for case, (low, high, h_low, h_high, activation) in cases.items():
        scores: dict[str, list[float]] = {k: [] for k in runs}
        for seed in range(1000, 1000 + seeds):
            t = Trial(train_classifier, None, seed)  # type: ignore[arg-type]  # draws only, no calls
            n = t.py.randint(low, high)
            x, y, held_x, held_y, spec = _training_problem(t, n, t.py.randint(h_low, h_high), activation)
            for label, (name, rate, size) in runs.items():
                g = torch.Generator().manual_seed(seed)
                steps = []
                for _ in range(BUDGET_EPOCHS):
                    order = torch.randperm(n, generator=g)
                    steps += list(order.split(size or n))
                state = _replay(spec, x, y, name, {"lr": rate}, steps)
                scores[label].append(_accuracy(spec, state, held_x, held_y))
        for label, s in scores.items():
            print(f"{case:5} {label:24} min {min(s):.3f} mean {sum(s) / len(s):.3f} max {max(s):.3f} "
                  f"pass {sum(a >= TARGET_ACCURACY for a in s)}/{len(s)}")

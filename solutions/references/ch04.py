"""Chapter 4's references and named mistakes (teacher side): what the public and hidden cases of
llmcourse/checks/ch04.py compare with. Every reference is PyTorch's own: autograd through ``nn.RNN`` for the
hand-written gradients of ``rnn_bptt``; ``nn.GRU`` for ``gru_sequence``, called with the learner's very tensors
as its weights (``torch.func.functional_call``, so gradients are compared too); ``clip_grad_norm_`` on copies of
the same parameters for ``clip_grad_norm``. Written here are only the variants that compute the known mistakes
(each refuses to run without one switched on) and the functions that gather them, so a message can name the one
an answer makes.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from torch.func import functional_call

from llmcourse.grading.expect import mistake_values
from llmcourse.grading.references import reference

_WEIGHTS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
_LAYER_NAMES = tuple(f"{name}_l0" for name in _WEIGHTS)  # nn.RNN / nn.GRU call them weight_ih_l0, ...


def _require_mistake(mistake: str, known: dict[str, str]) -> None:
    """A ValueError unless ``mistake`` is one of ``known``: the variants compute known mistakes only, so that no
    variant, imported by a learner, is the exercise's answer."""
    if mistake not in known:
        raise ValueError(f"mistake must be one of {sorted(known)}, got {mistake!r}: the variants compute known "
                         "mistakes only, never the right answer")


_LOW = (torch.float16, torch.bfloat16)


def in_float32(fn: Any, *args: Any) -> Any:
    """``fn(*args)``, but where the tensors come in float16 or bfloat16 it runs on float32 copies of them and each
    tensor of the result is cast back to the inputs' dtype (rounded once, as the answer a careful float32 computation
    of the same low-precision inputs gives); the casts keep autograd's graph, so gradients reach the inputs."""
    low = next((a.dtype for a in args if isinstance(a, torch.Tensor) and a.dtype in _LOW), None)
    if low is None:
        return fn(*args)
    wide = [a.float() if isinstance(a, torch.Tensor) and a.dtype in _LOW else a for a in args]

    def back(value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            return value.to(low) if value.is_floating_point() else value
        if isinstance(value, dict):
            return {k: back(v) for k, v in value.items()}
        if isinstance(value, (tuple, list)):
            return type(value)(back(v) for v in value)
        return value

    return back(fn(*wide))


def run_layer(kind: type[nn.RNNBase], x: torch.Tensor, h0: torch.Tensor, *weights: torch.Tensor
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """PyTorch's one-layer ``kind`` (nn.RNN or nn.GRU, batch_first) with these tensors as its weights, so
    autograd reaches them: (outputs (B, T, H), h_T (B, H))."""
    layer = kind(x.shape[-1], h0.shape[-1], batch_first=True, device="meta")  # no weights of its own, no RNG
    outputs, h_n = functional_call(layer, dict(zip(_LAYER_NAMES, weights, strict=True)), (x, h0[None]))
    return outputs, h_n[0]


# --- 1. rnn_bptt --------------------------------------------------------------------------------


@reference("ch04.rnn_bptt")
def bptt_reference(x: torch.Tensor, h0: torch.Tensor, w_ih: torch.Tensor, w_hh: torch.Tensor, b_ih: torch.Tensor,
                   b_hh: torch.Tensor, grad_outputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Autograd through nn.RNN (tanh, batch_first) with these tensors as its weights, for the upstream
    grad_outputs on its outputs (B, T, H); float16 and bfloat16 inputs are computed in float32 and the gradients
    cast back."""
    if x.dtype in _LOW:
        return in_float32(bptt_reference, x, h0, w_ih, w_hh, b_ih, b_hh, grad_outputs)
    leaves = [v.detach().clone().requires_grad_(True) for v in (x, h0, w_ih, w_hh, b_ih, b_hh)]
    outputs, _ = run_layer(nn.RNN, *leaves)
    return tuple(g.detach() for g in torch.autograd.grad(outputs, leaves, grad_outputs))


def bptt_variant(x: torch.Tensor, h0: torch.Tensor, w_ih: torch.Tensor, w_hh: torch.Tensor, b_ih: torch.Tensor,
                 b_hh: torch.Tensor, grad_outputs: torch.Tensor, mistake: str) -> tuple[torch.Tensor, ...]:
    """Backpropagation through time with one known mistake switched on (to name mistakes, never the reference).

    ``mistake`` must name one of :data:`BPTT_MISTAKES`: with none switched on this would be a ready answer.
    """
    _require_mistake(mistake, BPTT_MISTAKES)
    length = x.shape[1]
    states, pre = [h0], []
    for step in range(length):  # the forward pass, keeping every state
        a = x[:, step] @ w_ih.T + b_ih + states[-1] @ w_hh.T + b_hh  # (B, H)
        pre.append(a)
        states.append(torch.tanh(a))
    dx = torch.zeros_like(x)
    dw_ih, dw_hh, db = torch.zeros_like(w_ih), torch.zeros_like(w_hh), torch.zeros_like(b_ih)
    carried = torch.zeros_like(h0)  # (B, H): dL/dh_t through the later steps
    for step in reversed(range(length)):
        h_new, h_old = states[step + 1], states[step]
        if mistake == "no_carry":
            grad_h = grad_outputs[:, step]
        elif mistake == "carry_only" and step < length - 1:
            grad_h = carried
        else:
            grad_h = grad_outputs[:, step] + carried
        slope = {"pre": 1 - pre[step] ** 2, "old": 1 - h_old**2, "linear": 1 - h_new}.get(mistake, 1 - h_new**2)
        grad_a = grad_h * slope  # (B, H)
        if mistake == "carry_skips_tanh":
            grad_a = grad_outputs[:, step] * slope + carried
        dx[:, step] = grad_a @ w_ih
        dw_ih += grad_a.T @ x[:, step]
        dw_hh += {"off_by_one": grad_a.T @ h_new, "dw_transposed": h_old.T @ grad_a}.get(mistake, grad_a.T @ h_old)
        db += grad_a.sum(0)
        carried = grad_a @ (w_hh.T if mistake == "w_hh_transposed" else w_hh)
    dh0 = torch.zeros_like(h0) if mistake == "no_h0" else carried
    return dx, dh0, dw_ih, dw_hh, db, db.clone()


BPTT_MISTAKES = {
    "no_carry": "sent each step's gradient only into that step: the state h_t also feeds step t + 1, so dL/dh_t "
                "adds what flows back from the later steps to grad_outputs[:, t]",
    "carry_only": "replaced grad_outputs[:, t] with the gradient carried back from step t + 1: the state gets both, "
                  "so add them",
    "carry_skips_tanh": "added the carried gradient after the tanh's derivative: the carried gradient reaches h_t, "
                        "so it passes through the tanh of step t like grad_outputs[:, t] does",
    "pre": "took the tanh's derivative as 1 - a^2 with the pre-activation a: the slope of tanh at a is "
           "1 - tanh(a)^2, the square of the state the step put out",
    "old": "took the tanh's derivative from the state that went into the step: it belongs to the state the step "
           "put out",
    "linear": "used 1 - h instead of 1 - h^2 for the tanh's derivative",
    "w_hh_transposed": "carried the gradient back through weight_hh transposed: h_{t-1} enters as h_{t-1} W_hh^T, "
                       "so the gradient reaching it is multiplied by W_hh as stored",
    "dw_transposed": "took dL/dweight_hh as h^T da (the transpose): weight_hh[j, k] links unit k of the old "
                     "state to unit j of the new one",
    "off_by_one": "multiplied the gradient of step t's pre-activation by the state step t put out in dL/dweight_hh: "
                  "W_hh multiplies the state that went into step t",
    "no_h0": "left dL/dh0 at zero: h0 feeds the first step, so the gradient carried back past it is dL/dh0",
}


@reference("ch04.rnn_bptt/mistakes")
def bptt_mistakes(*args: torch.Tensor) -> dict[str, tuple[torch.Tensor, ...]]:
    return mistake_values({text: (lambda m=m: in_float32(lambda *a: bptt_variant(*a, mistake=m), *args))
                           for m, text in BPTT_MISTAKES.items()})


# --- 2. gru_sequence ----------------------------------------------------------------------------


@reference("ch04.gru_sequence")
def gru_reference(x: torch.Tensor, h0: torch.Tensor, *weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """nn.GRU itself, with these tensors as its weights: (outputs (B, T, H), h_T (B, H)); float16 and bfloat16
    inputs are computed in float32 and the results cast back (autograd reaches the inputs through the casts)."""
    return in_float32(lambda *a: run_layer(nn.GRU, *a), x, h0, *weights)


def gru_variant(x: torch.Tensor, h0: torch.Tensor, w_ih: torch.Tensor, w_hh: torch.Tensor, b_ih: torch.Tensor,
                b_hh: torch.Tensor, mistake: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The GRU over the sequence with one known mistake switched on (to name mistakes, never the reference).

    ``mistake`` must name one of :data:`GRU_MISTAKES`: with none switched on this would be a ready answer.
    """
    _require_mistake(mistake, GRU_MISTAKES)
    hidden = h0.shape[-1]
    order = {"zr": (1, 0, 2), "nrz": (1, 2, 0)}.get(mistake, (0, 1, 2))  # where r, z, n sit among the blocks
    w_hn, b_hn = w_hh[2 * hidden:], b_hh[2 * hidden:]
    h, states = h0, [h0]
    for step in range(x.shape[1]):
        gi = (x[:, step] @ w_ih.T + b_ih).chunk(3, dim=-1)  # the input's share of the three blocks
        gh = (h @ w_hh.T + b_hh).chunk(3, dim=-1)  # the old state's share
        (i_r, h_r), (i_z, h_z), (i_n, h_n) = ((gi[k], gh[k]) for k in order)
        r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
        if mistake == "reset_before":
            inner = (r * h) @ w_hn.T + b_hn
        elif mistake == "b_hn_outside":
            inner = r * (h @ w_hn.T) + b_hn
        elif mistake == "one_sum":
            inner, i_n = r * (i_n + h_n), 0.0
        else:
            inner = r * h_n
        n = torch.tanh(i_n + inner)
        h = z * n + (1 - z) * h if mistake == "z_swapped" else (1 - z) * n + z * h
        states.append(h)
    outputs = torch.stack(states[:-1] if mistake == "shifted" else states[1:], dim=1)  # (B, T, H)
    return outputs, (h0 if mistake == "h_last_is_h0" else h)


GRU_MISTAKES = {
    "zr": "swapped the reset and update gates: nn.GRU stacks the blocks in the order reset, update, new",
    "nrz": "took the blocks in the order new, reset, update: nn.GRU stacks them reset, update, new",
    "z_swapped": "interchanged z and 1 - z: in nn.GRU the update gate is the share of the old state that is kept",
    "b_hn_outside": "added the state's candidate bias outside the reset gate: nn.GRU scales the state's whole "
                    "share of the candidate, bias included",
    "reset_before": "applied the reset gate to the state before the product with its weight (the original paper's "
                    "variant): nn.GRU applies it to the state's share after the product, bias included",
    "one_sum": "added the input's and the state's pre-activations before splitting them, as for the LSTM: the "
               "reset gate scales only the state's share of the candidate, so keep the two apart",
    "shifted": "put the state from before each step in the outputs: outputs[:, t] is the state after reading "
               "x[:, t]",
    "h_last_is_h0": "returned the initial state as h_T: h_T is the state after the last step",
}


@reference("ch04.gru_sequence/mistakes")
def gru_mistakes(*args: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    return mistake_values({text: (lambda m=m: in_float32(lambda *a: gru_variant(*a, mistake=m), *args))
                           for m, text in GRU_MISTAKES.items()})


# --- 3. clip_grad_norm --------------------------------------------------------------------------

EPS = 1e-6  # what clip_grad_norm_ adds to the total norm before dividing


@reference("ch04.clip_grad_norm")
def clip_reference(values: list[torch.Tensor], grads: list[torch.Tensor | None], max_norm: float, norm_type: float,
                   ) -> tuple[torch.Tensor, list[torch.Tensor | None]]:
    """torch.nn.utils.clip_grad_norm_ on copies: (the total norm, the gradients after clipping); float16 and bfloat16
    gradients are clipped in float32 and the results cast back."""
    if any(g is not None and g.dtype in _LOW for g in grads):
        low = next(g.dtype for g in grads if g is not None)
        total, clipped = clip_reference([v.float() for v in values], [None if g is None else g.float() for g in grads],
                                        max_norm, norm_type)
        return total.to(low), [None if c is None else c.to(low) for c in clipped]
    leaves = [v.clone().requires_grad_(True) for v in values]
    for leaf, g in zip(leaves, grads, strict=True):
        leaf.grad = None if g is None else g.clone()
    total = torch.nn.utils.clip_grad_norm_(leaves, max_norm, norm_type)
    return total.detach(), [None if leaf.grad is None else leaf.grad.clone() for leaf in leaves]


def clip_variant(grads: list[torch.Tensor | None], max_norm: float, norm_type: float, mistake: str
                 ) -> tuple[torch.Tensor, list[torch.Tensor | None]]:
    """What a known mistake gives: (the total norm it returns, the gradients it leaves); ``mistake`` must name one
    of :data:`CLIP_MISTAKES`."""
    _require_mistake(mistake, CLIP_MISTAKES)
    present = [g.double() for g in grads if g is not None]
    flat = torch.cat([g.reshape(-1) for g in present])
    dtype = next(g.dtype for g in grads if g is not None)

    def norm_of(v: torch.Tensor, kind: float) -> torch.Tensor:
        if kind == math.inf:
            return v.max() if mistake == "max_no_abs" else v.abs().max()
        return v.square().sum() if mistake == "no_sqrt" else v.square().sum().sqrt()

    kind = 2.0 if mistake == "always_l2" else norm_type
    total = norm_of(flat, kind)
    if mistake == "no_sqrt" and norm_type == math.inf:
        total = flat.abs().max()

    def coefficient(norm: torch.Tensor) -> torch.Tensor:
        if mistake == "no_eps":
            coef = max_norm / norm
        elif mistake == "eps_outside":
            coef = max_norm / norm + EPS
        else:
            coef = max_norm / (norm + EPS)
        return coef if mistake == "no_cap" else coef.clamp(max=1.0)

    if mistake == "per_tensor":
        clipped = [None if g is None else g.double() * coefficient(norm_of(g.double().reshape(-1), kind))
                   for g in grads]
    else:
        coef = coefficient(total)
        clipped = [None if g is None else g.double() * coef for g in grads]
    returned = norm_of(torch.cat([c.reshape(-1) for c in clipped if c is not None]), kind) if mistake == "after" \
        else total
    return returned.to(dtype), [None if c is None else c.to(dtype) for c in clipped]


CLIP_MISTAKES = {
    "no_cap": "scaled every gradient by max_norm / total even when the total is below max_norm: that scales small "
              "gradients up; the coefficient is capped at 1, so they stay as they are",
    "per_tensor": "clipped each parameter's gradient by its own norm: the norm is global, one number over all the "
                  "gradients together, so the update keeps its direction",
    "no_eps": "divided by the total norm alone: clip_grad_norm_ divides by total + 1e-6",
    "eps_outside": "added the 1e-6 to the coefficient: clip_grad_norm_ adds it to the total norm before dividing",
    "no_sqrt": "used the sum of squares as the 2-norm: take its square root",
    "always_l2": "computed the 2-norm whatever norm_type says: for norm_type inf the norm is the largest absolute "
                 "entry",
    "max_no_abs": "took the largest entry for the inf-norm: it is the largest absolute value",
    "after": "returned the norm after clipping: clip_grad_norm_ returns the total norm the gradients had before",
}


@reference("ch04.clip_grad_norm/mistakes")
def clip_mistakes(grads: list[torch.Tensor | None], max_norm: float, norm_type: float) -> dict[str, Any]:
    return mistake_values({text: (lambda m=m: clip_variant(grads, max_norm, norm_type, m))
                           for m, text in CLIP_MISTAKES.items()})

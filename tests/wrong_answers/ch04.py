"""Plausible wrong answers to chapter 4's exercises, each with a phrase the grader's message must contain."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from . import WrongAnswer

# --- rnn_bptt ----------------------------------------------------------------------------------


def _bptt(x, h0, weight_ih, weight_hh, bias_ih, bias_hh, grad_outputs, *, carry=True, per_step=True,
          slope="h_new", carry_through_tanh=True, w_back=None, dw_state="old", dw_transposed=False, h0_grad=True,
          bias_mean=False):
    length = x.shape[1]
    states, pre = [h0], []
    for t in range(length):
        a = x[:, t] @ weight_ih.T + bias_ih + states[-1] @ weight_hh.T + bias_hh
        pre.append(a)
        states.append(torch.tanh(a))
    dx = torch.zeros_like(x)
    dw_ih, dw_hh, db = torch.zeros_like(weight_ih), torch.zeros_like(weight_hh), torch.zeros_like(bias_ih)
    carried = torch.zeros_like(h0)
    back = weight_hh if w_back is None else w_back(weight_hh)
    for t in reversed(range(length)):
        local = grad_outputs[:, t] if per_step or t == length - 1 else torch.zeros_like(carried)
        grad_h = local + carried if carry else local
        d = {"h_new": 1 - states[t + 1] ** 2, "pre": 1 - pre[t] ** 2, "old": 1 - states[t] ** 2}[slope]
        grad_a = grad_h * d if carry_through_tanh else local * d + carried
        dx[:, t] = grad_a @ weight_ih
        dw_ih += grad_a.T @ x[:, t]
        state = states[t] if dw_state == "old" else states[t + 1]
        dw_hh += state.T @ grad_a if dw_transposed else grad_a.T @ state
        db += grad_a.mean(0) if bias_mean else grad_a.sum(0)
        carried = grad_a @ back
    return dx, carried if h0_grad else torch.zeros_like(h0), dw_ih, dw_hh, db, db.clone()


def bptt_right(*args):
    return _bptt(*args)


def bptt_per_step_only(*args):
    return _bptt(*args, carry=False)


def bptt_carry_replaces_upstream(*args):
    return _bptt(*args, per_step=False)


def bptt_pre_activation_slope(*args):
    return _bptt(*args, slope="pre")


def bptt_old_state_slope(*args):
    return _bptt(*args, slope="old")


def bptt_carry_skips_tanh(*args):
    return _bptt(*args, carry_through_tanh=False)


def bptt_w_hh_transposed(*args):
    return _bptt(*args, w_back=lambda w: w.T)


def bptt_dw_hh_transposed(*args):
    return _bptt(*args, dw_transposed=True)


def bptt_off_by_one_state(*args):
    return _bptt(*args, dw_state="new")


def bptt_no_h0_gradient(*args):
    return _bptt(*args, h0_grad=False)


def bptt_h0_is_none(*args):
    dx, _, *rest = _bptt(*args)
    return (dx, None, *rest)


def bptt_bias_mean(*args):
    return _bptt(*args, bias_mean=True)


def bptt_by_autograd(x, h0, weight_ih, weight_hh, bias_ih, bias_hh, grad_outputs):
    leaves = [v.detach().clone().requires_grad_(True) for v in (x, h0, weight_ih, weight_hh, bias_ih, bias_hh)]
    x_, h, w_ih, w_hh, b_ih, b_hh = leaves
    outs = []
    for t in range(x_.shape[1]):
        h = torch.tanh(x_[:, t] @ w_ih.T + b_ih + h @ w_hh.T + b_hh)
        outs.append(h)
    return torch.autograd.grad(torch.stack(outs, 1), leaves, grad_outputs)


def bptt_float64(*args):
    return tuple(g.double() for g in _bptt(*(a.double() for a in args)))


def bptt_first_state_hard_coded(x, h0, *rest):
    return _bptt(x, torch.zeros_like(h0), *rest)  # "the RNN starts from zeros", ignoring h0


def bptt_adds_into_grad_outputs(x, h0, weight_ih, weight_hh, bias_ih, bias_hh, grad_outputs):
    result = _bptt(x, h0, weight_ih, weight_hh, bias_ih, bias_hh, grad_outputs.clone())
    grad_outputs[:, :-1] += 1.0  # "accumulate the carried gradient into grad_outputs" leaves the caller's changed
    return result


def bptt_squeezed(*args):
    dx, *rest = _bptt(*args)
    return (dx.squeeze(0), *rest)


def bptt_tanh_by_exp(x, h0, weight_ih, weight_hh, bias_ih, bias_hh, grad_outputs):
    def tanh(a):  # tanh written out with exp: inf / inf = NaN once a pre-activation passes about 89
        return (torch.exp(a) - torch.exp(-a)) / (torch.exp(a) + torch.exp(-a))

    length = x.shape[1]
    states = [h0]
    for t in range(length):
        states.append(tanh(x[:, t] @ weight_ih.T + bias_ih + states[-1] @ weight_hh.T + bias_hh))
    dx, dw_ih, dw_hh = torch.zeros_like(x), torch.zeros_like(weight_ih), torch.zeros_like(weight_hh)
    db, carried = torch.zeros_like(bias_ih), torch.zeros_like(h0)
    for t in reversed(range(length)):
        grad_a = (grad_outputs[:, t] + carried) * (1 - states[t + 1] ** 2)
        dx[:, t] = grad_a @ weight_ih
        dw_ih += grad_a.T @ x[:, t]
        dw_hh += grad_a.T @ states[t]
        db += grad_a.sum(0)
        carried = grad_a @ weight_hh
    return dx, carried, dw_ih, dw_hh, db, db.clone()


def bptt_zeros_without_dtype(x, h0, weight_ih, weight_hh, bias_ih, bias_hh, grad_outputs):
    dx, *rest = _bptt(x, h0, weight_ih, weight_hh, bias_ih, bias_hh, grad_outputs)
    out = torch.zeros(x.shape)  # float32 whatever x is
    out[:] = dx
    return (out, *rest)


# --- gru_sequence ------------------------------------------------------------------------------


def _gru(x, h0, weight_ih, weight_hh, bias_ih, bias_hh, *, order="rzn", flip_z=False, bias_outside=False,
         reset_before=False, one_sum=False, shifted=False, h_last=True, sigmoid=torch.sigmoid, tanh=torch.tanh):
    hidden = h0.shape[-1]
    h, states = h0, [h0]
    for t in range(x.shape[1]):
        gi = dict(zip(order, (x[:, t] @ weight_ih.T + bias_ih).chunk(3, dim=-1)))
        gh = dict(zip(order, (h @ weight_hh.T + bias_hh).chunk(3, dim=-1)))
        r = sigmoid(gi["r"] + gh["r"])
        z = sigmoid(gi["z"] + gh["z"])
        if reset_before:
            n = torch.tanh(gi["n"] + (r * h) @ weight_hh[2 * hidden:].T + bias_hh[2 * hidden:])
        elif bias_outside:
            n = torch.tanh(gi["n"] + r * (h @ weight_hh[2 * hidden:].T) + bias_hh[2 * hidden:])
        elif one_sum:
            n = torch.tanh(r * (gi["n"] + gh["n"]))
        else:
            n = tanh(gi["n"] + r * gh["n"])
        h = z * n + (1 - z) * h if flip_z else (1 - z) * n + z * h
        states.append(h)
    outputs = torch.stack(states[:-1] if shifted else states[1:], dim=1)
    return outputs, (h if h_last else h0.clone())


def gru_zr_swapped(*args):
    return _gru(*args, order="zrn")


def gru_new_first(*args):
    return _gru(*args, order="nrz")


def gru_z_interchanged(*args):
    return _gru(*args, flip_z=True)


def gru_bias_outside_reset(*args):
    return _gru(*args, bias_outside=True)


def gru_reset_before_product(*args):
    return _gru(*args, reset_before=True)


def gru_one_pre_activation(*args):
    return _gru(*args, one_sum=True)


def gru_outputs_shifted(*args):
    return _gru(*args, shifted=True)


def gru_returns_h0(*args):
    return _gru(*args, h_last=False)


def gru_returns_h0_itself(*args):
    outputs, _ = _gru(*args)
    return outputs, args[1]  # the caller's h0 itself


def gru_sigmoid_exp_ratio(*args):
    return _gru(*args, sigmoid=lambda a: torch.exp(a) / (1 + torch.exp(a)))  # inf / inf = NaN for a above about 89


def gru_sigmoid_by_hand(*args):
    return _gru(*args, sigmoid=lambda a: 1 / (1 + torch.exp(-a)))  # right values; its gradient is 0 * inf = NaN


def gru_tanh_by_exp(*args):
    return _gru(*args, tanh=lambda a: (torch.exp(a) - torch.exp(-a)) / (torch.exp(a) + torch.exp(-a)))


def gru_outputs_in_zeros(x, h0, *weights):
    outputs, h = _gru(x, h0, *weights)
    buffer = torch.zeros(outputs.shape)  # float32 whatever x is
    buffer[:] = outputs  # in place, but autograd follows the copy
    return buffer, h


def gru_with_nn_gru(x, h0, weight_ih, weight_hh, bias_ih, bias_hh):
    layer = nn.GRU(x.shape[-1], h0.shape[-1], batch_first=True)
    with torch.no_grad():
        for name, value in zip(("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"),
                               (weight_ih, weight_hh, bias_ih, bias_hh), strict=True):
            getattr(layer, name).copy_(value)
    outputs, h_n = layer(x, h0[None])
    return outputs, h_n[0]


def gru_with_cells(x, h0, weight_ih, weight_hh, bias_ih, bias_hh):
    h, outputs = h0, []
    for t in range(x.shape[1]):
        h = torch.gru_cell(x[:, t], h, weight_ih, weight_hh, bias_ih, bias_hh)  # the kernel behind nn.GRUCell
        outputs.append(h)
    return torch.stack(outputs, 1), h


def gru_with_vf(x, h0, weight_ih, weight_hh, bias_ih, bias_hh):
    outputs, h_n = torch._VF.gru(x, h0[None], [weight_ih, weight_hh, bias_ih, bias_hh], True, 1, 0.0, False, False,
                                 True)
    return outputs, h_n[0]


def gru_preallocated_in_place(x, h0, weight_ih, weight_hh, bias_ih, bias_hh):
    outputs = torch.zeros(x.shape[0], x.shape[1], h0.shape[-1], dtype=x.dtype)
    h = h0
    for t in range(x.shape[1]):
        out, h = _gru(x[:, t:t + 1], h, weight_ih, weight_hh, bias_ih, bias_hh)
        outputs[:, t] = out[:, 0].detach()  # a preallocated buffer, filled without the graph
    return outputs, h


def gru_float32_always(*args):
    outputs, h = _gru(*args)
    return outputs.float(), h.float()


def gru_squeezed(*args):
    outputs, h = _gru(*args)
    return outputs.squeeze(0), h


# --- clip_grad_norm ----------------------------------------------------------------------------


def _clip(parameters, max_norm, norm_type, *, cap=True, per_tensor=False, eps="inside", sqrt=True, abs_max=True,
          use_norm_type=True, return_after=False):
    grads = [p.grad for p in parameters if p.grad is not None]
    kind = norm_type if use_norm_type else 2.0

    def norm(gs):
        if kind == math.inf:
            return torch.stack([(g.abs() if abs_max else g).max() for g in gs]).max()
        squares = torch.stack([g.square().sum() for g in gs]).sum()
        return squares.sqrt() if sqrt else squares

    def coef(total):
        c = {"inside": max_norm / (total + 1e-6), "none": max_norm / total,
             "outside": max_norm / total + 1e-6}[eps]
        return c.clamp(max=1.0) if cap else c

    with torch.no_grad():
        total = norm(grads)
        for g in grads:
            g.mul_(coef(norm([g]) if per_tensor else total))
        if return_after:
            total = norm(grads)
    return total


def clip_right(parameters, max_norm, norm_type):
    return _clip(parameters, max_norm, norm_type)


def clip_no_cap(*args):
    return _clip(*args, cap=False)


def clip_per_tensor(*args):
    return _clip(*args, per_tensor=True)


def clip_no_eps(*args):
    return _clip(*args, eps="none")


def clip_eps_outside(*args):
    return _clip(*args, eps="outside")


def clip_no_sqrt(*args):
    return _clip(*args, sqrt=False)


def clip_always_l2(*args):
    return _clip(*args, use_norm_type=False)


def clip_max_without_abs(*args):
    return _clip(*args, abs_max=False)


def clip_returns_norm_after(*args):
    return _clip(*args, return_after=True)


def clip_iterates_twice(parameters, max_norm, norm_type):
    total = torch.stack([p.grad.square().sum() if norm_type == 2.0 else p.grad.abs().max()
                         for p in parameters if p.grad is not None])
    total = total.sum().sqrt() if norm_type == 2.0 else total.max()
    with torch.no_grad():
        for p in parameters:  # a one-shot iterator is empty by now
            if p.grad is not None:
                p.grad.mul_((max_norm / (total + 1e-6)).clamp(max=1.0))
    return total


def clip_new_tensors(parameters, max_norm, norm_type):
    parameters = list(parameters)
    grads = [p.grad for p in parameters if p.grad is not None]
    total = torch.stack([g.square().sum() for g in grads]).sum().sqrt() if norm_type == 2.0 else \
        torch.stack([g.abs().max() for g in grads]).max()
    coef = (max_norm / (total + 1e-6)).clamp(max=1.0)
    _ = [g * coef for g in grads]  # new tensors: the parameters' .grad are left as they were
    return total


def clip_scales_parameters(parameters, max_norm, norm_type):
    parameters = list(parameters)
    total = _clip(parameters, max_norm, norm_type)
    with torch.no_grad():
        for p in parameters:
            if p.grad is not None:
                p.mul_(1.0)  # harmless
                p.add_(p.grad, alpha=-1e-3)  # "and take the step while at it"
    return total


def clip_with_torch(parameters, max_norm, norm_type):
    return torch.nn.utils.clip_grad_norm_(parameters, max_norm, norm_type)


def clip_with_get_total_norm(parameters, max_norm, norm_type):
    parameters = list(parameters)
    total = torch.nn.utils.get_total_norm([p.grad for p in parameters if p.grad is not None], norm_type)
    with torch.no_grad():
        for p in parameters:
            if p.grad is not None:
                p.grad.mul_((max_norm / (total + 1e-6)).clamp(max=1.0))
    return total


def clip_with_foreach_norm(parameters, max_norm, norm_type):
    grads = [p.grad for p in parameters if p.grad is not None]
    norms = torch._foreach_norm(grads, norm_type)
    total = torch.stack(norms).max() if norm_type == math.inf else torch.stack(norms).square().sum().sqrt()
    with torch.no_grad():
        for g in grads:
            g.mul_((max_norm / (total + 1e-6)).clamp(max=1.0))
    return total


def clip_returns_float(*args):
    return float(_clip(*args))


def clip_returns_float64(*args):
    return _clip(*args).double()


def clip_float32_accumulator(parameters, max_norm, norm_type):
    grads = [p.grad for p in parameters if p.grad is not None]
    total = torch.zeros(())  # float32 whatever the gradients are
    for g in grads:
        total += g.square().sum() if norm_type == 2.0 else 0.0
        if norm_type != 2.0:
            total = torch.maximum(total, g.abs().max())
    total = total.sqrt() if norm_type == 2.0 else total
    with torch.no_grad():
        for g in grads:
            g.mul_((max_norm / (total + 1e-6)).clamp(max=1.0).to(g.dtype))
    return total


def clip_crashes_on_none(parameters, max_norm, norm_type):
    parameters = list(parameters)
    total = torch.stack([p.grad.square().sum() for p in parameters]).sum().sqrt()
    for p in parameters:
        p.grad.mul_((max_norm / (total + 1e-6)).clamp(max=1.0))
    return total


def clip_numpy_norm(parameters, max_norm, norm_type):
    parameters = list(parameters)
    flat = np.concatenate([p.grad.numpy().ravel() for p in parameters if p.grad is not None])
    total = float(np.linalg.norm(flat, ord=norm_type))
    _clip(parameters, max_norm, norm_type)
    return torch.tensor(total)  # float32 always


WRONG_ANSWERS = {
    "ch04.rnn_bptt": [
        WrongAnswer("each step's gradient stays in its step (nothing carried back)", bptt_per_step_only,
                    "only into that step"),
        WrongAnswer("the carried gradient replaces grad_outputs[:, t]", bptt_carry_replaces_upstream,
                    "replaced grad_outputs"),
        WrongAnswer("tanh's slope from the pre-activation", bptt_pre_activation_slope, "pre-activation"),
        WrongAnswer("tanh's slope from the state that went in", bptt_old_state_slope, "state that went into"),
        WrongAnswer("carried gradient added after the tanh's derivative", bptt_carry_skips_tanh,
                    "after the tanh's derivative"),
        WrongAnswer("carried back through W_hh^T", bptt_w_hh_transposed, "weight_hh transposed"),
        WrongAnswer("dW_hh as h^T da", bptt_dw_hh_transposed, "the transpose"),
        WrongAnswer("dW_hh from the state the step put out", bptt_off_by_one_state, "multiplies the state that went"),
        WrongAnswer("dL/dh0 left at zero", bptt_no_h0_gradient, "left dL/dh0 at zero"),
        WrongAnswer("dL/dh0 returned as None", bptt_h0_is_none, "None"),
        WrongAnswer("bias gradients averaged over the batch", bptt_bias_mean, "dL/dbias_ih"),
        WrongAnswer("autograd instead of by hand", bptt_by_autograd, "called autograd"),
        WrongAnswer("returns float64 for float32 inputs", bptt_float64, "float64"),
        WrongAnswer("starts from zeros instead of h0", bptt_first_state_hard_coded, "dL/dx"),
        WrongAnswer("adds into the caller's grad_outputs", bptt_adds_into_grad_outputs, "in place"),
        WrongAnswer("squeezes the batch of 1 away", bptt_squeezed, "shape"),
        WrongAnswer("tanh written with exp, NaN for pre-activations in the hundreds", bptt_tanh_by_exp,
                    "NaN or infinity"),
        WrongAnswer("dL/dx gathered in torch.zeros(x.shape), float32 for float16 inputs", bptt_zeros_without_dtype,
                    "should be float16"),
    ],
    "ch04.gru_sequence": [
        WrongAnswer("reset and update gates swapped", gru_zr_swapped, "swapped the reset and update gates"),
        WrongAnswer("blocks taken as new, reset, update", gru_new_first, "new, reset, update"),
        WrongAnswer("z and 1 - z interchanged", gru_z_interchanged, "interchanged z and 1 - z"),
        WrongAnswer("b_hn outside the reset gate", gru_bias_outside_reset, "outside the reset gate"),
        WrongAnswer("reset applied to h before W_hn (the paper's variant)", gru_reset_before_product,
                    "before the product"),
        WrongAnswer("one pre-activation for the candidate (LSTM habit)", gru_one_pre_activation,
                    "before splitting them"),
        WrongAnswer("outputs hold the state before each step", gru_outputs_shifted, "before each step"),
        WrongAnswer("returns a copy of h0 as h_T", gru_returns_h0, "initial state"),
        WrongAnswer("returns the caller's h0 itself as h_T", gru_returns_h0_itself, "shares memory"),
        WrongAnswer("nn.GRU with the weights copied in", gru_with_nn_gru, "rules out"),
        WrongAnswer("torch.gru_cell per step", gru_with_cells, "torch.gru_cell"),
        WrongAnswer("torch._VF.gru", gru_with_vf, "torch.gru"),
        WrongAnswer("outputs written into a detached buffer", gru_preallocated_in_place, "gradient"),
        WrongAnswer("always float32", gru_float32_always, "float32"),
        WrongAnswer("squeezes the batch of 1 away", gru_squeezed, "shape"),
        WrongAnswer("sigmoid as exp(a) / (1 + exp(a)), NaN for pre-activations in the hundreds", gru_sigmoid_exp_ratio,
                    "NaN or infinity"),
        WrongAnswer("sigmoid as 1 / (1 + exp(-a)): right values, NaN gradients where it saturates",
                    gru_sigmoid_by_hand, "gradient with respect to"),
        WrongAnswer("tanh written with exp", gru_tanh_by_exp, "NaN or infinity"),
        WrongAnswer("outputs copied into torch.zeros(...), float32 for bfloat16 inputs", gru_outputs_in_zeros,
                    "should be bfloat16"),
    ],
    "ch04.clip_grad_norm": [
        WrongAnswer("small gradients scaled up (no cap at 1)", clip_no_cap, "scales small gradients up"),
        WrongAnswer("each tensor clipped by its own norm", clip_per_tensor, "its own norm"),
        WrongAnswer("no 1e-6 in the coefficient", clip_no_eps, "total + 1e-6"),
        WrongAnswer("1e-6 added to the coefficient", clip_eps_outside, "added the 1e-6 to the coefficient"),
        WrongAnswer("sum of squares, no square root", clip_no_sqrt, "square root"),
        WrongAnswer("2-norm whatever norm_type", clip_always_l2, "whatever norm_type"),
        WrongAnswer("inf-norm as the largest entry", clip_max_without_abs, "largest absolute"),
        WrongAnswer("returns the norm after clipping", clip_returns_norm_after, "after clipping"),
        WrongAnswer("loops over a one-shot iterator twice", clip_iterates_twice, "one-shot iterator"),
        WrongAnswer("builds new tensors, leaves .grad alone", clip_new_tensors, "must hold its clipped gradient"),
        WrongAnswer("changes the parameters too", clip_scales_parameters, "values changed"),
        WrongAnswer("torch.nn.utils.clip_grad_norm_", clip_with_torch, "rules out"),
        WrongAnswer("torch.nn.utils.get_total_norm", clip_with_get_total_norm, "rules out"),
        WrongAnswer("torch._foreach_norm", clip_with_foreach_norm, "torch._foreach_norm"),
        WrongAnswer("returns a Python float", clip_returns_float, "0-d tensor"),
        WrongAnswer("returns float64 for float32 gradients", clip_returns_float64, "float64"),
        WrongAnswer("norm summed into torch.zeros(()), float32 for float16 gradients", clip_float32_accumulator,
                    "should be float16"),
        WrongAnswer("crashes on a parameter without a gradient", clip_crashes_on_none, "skip them"),
        WrongAnswer("total norm through NumPy, returned as float32", clip_numpy_norm, "float32"),
    ],
}

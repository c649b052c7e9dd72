"""Plausible wrong answers to chapter 1's exercises, each with a phrase the grader's message must contain."""

from __future__ import annotations

import copy
import functools

import torch
import torch.nn.functional as F

from . import WrongAnswer

# --- linear_forward ----------------------------------------------------------------------------------


def linear_no_bias(x, weight, bias):
    return x @ weight.T


def linear_minus_bias(x, weight, bias):
    return x @ weight.T - bias


def linear_no_transpose(x, weight, bias):
    return x @ weight + bias


def linear_mm(x, weight, bias):
    return torch.mm(x, weight.T) + bias  # fine for 2-D input, fails on (batch, time, features)


def linear_transposes_x(x, weight, bias):
    return (weight @ x.T).T + bias  # right for 2-D; on 3-D, x.T reverses every dimension


def linear_squeezes(x, weight, bias):
    return x.squeeze() @ weight.T + bias  # a batch of one loses its batch dimension


def linear_numpy(x, weight, bias):
    out = x.detach().numpy() @ weight.detach().numpy().T + bias.detach().numpy()
    return torch.from_numpy(out)


def linear_numpy_no_detach(x, weight, bias):
    return torch.from_numpy(x.numpy() @ weight.numpy().T + bias.numpy())


def linear_data(x, weight, bias):
    return x.data @ weight.data.T + bias.data


def linear_float64(x, weight, bias):
    return x.double() @ weight.double().T + bias.double()


def linear_rows_list(x, weight, bias):
    return [row @ weight.T + bias for row in x]


def linear_transposes_in_place(x, weight, bias):
    return x @ weight.t_() + bias


def linear_chapter(x, weight, bias):
    return x @ weight.T + bias  # the chapter's line: no bias=None, no shape checks


def linear_no_checks(x, weight, bias):
    out = x @ weight.T
    return out if bias is None else out + bias  # torch's own errors, or none where a bias broadcasts


def linear_checks_x_only(x, weight, bias):
    if weight.dim() != 2 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"x of shape {tuple(x.shape)} does not fit weight of shape {tuple(weight.shape)}")
    out = x @ weight.T
    return out if bias is None else out + bias  # a (1,) bias broadcasts silently


def linear_vague_error(x, weight, bias):
    if weight.dim() != 2 or x.shape[-1] != weight.shape[1] or (bias is not None and bias.shape != weight.shape[:1]):
        raise ValueError("the shapes do not match")
    out = x @ weight.T
    return out if bias is None else out + bias


def linear_names_only_x(x, weight, bias):
    if weight.dim() != 2:
        raise ValueError(f"weight of shape {tuple(weight.shape)} is not a matrix")
    if x.shape[-1] != weight.shape[1]:
        raise ValueError(f"x has shape {tuple(x.shape)}: wrong number of features")
    if bias is not None and bias.shape != weight.shape[:1]:
        raise ValueError(f"bias has shape {tuple(bias.shape)}, weight {tuple(weight.shape)}")
    out = x @ weight.T
    return out if bias is None else out + bias


def linear_asserts(x, weight, bias):
    assert weight.dim() == 2 and x.shape[-1] == weight.shape[1], f"{tuple(x.shape)} vs {tuple(weight.shape)}"
    assert bias is None or bias.shape == weight.shape[:1], f"bias {tuple(bias.shape)}"
    out = x @ weight.T
    return out if bias is None else out + bias


def linear_rejects_vectors(x, weight, bias):
    if x.dim() < 2:
        raise ValueError(f"x of shape {tuple(x.shape)} has no batch dimension")  # one vector is a valid input
    return linear_checks_all(x, weight, bias)


def linear_checks_all(x, weight, bias):
    if weight.dim() != 2 or x.dim() == 0 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"x of shape {tuple(x.shape)} does not fit weight of shape {tuple(weight.shape)}")
    if bias is not None and bias.shape != weight.shape[:1]:
        raise ValueError(f"bias of shape {tuple(bias.shape)} does not fit weight of shape {tuple(weight.shape)}")
    out = x @ weight.T
    return out if bias is None else out + bias


def linear_refuses_1d_weight_only(x, weight, bias):
    if weight.dim() == 1:  # a 3-D weight gets through, and matmul broadcasts it into a stack of layers
        raise ValueError(f"weight of shape {tuple(weight.shape)} is not a matrix")
    if x.dim() == 0 or x.shape[-1] != weight.shape[-1]:
        raise ValueError(f"x of shape {tuple(x.shape)} does not fit weight of shape {tuple(weight.shape)}")
    if bias is not None and bias.shape != weight.shape[-2:-1]:
        raise ValueError(f"bias of shape {tuple(bias.shape)} does not fit weight of shape {tuple(weight.shape)}")
    out = x @ weight.transpose(-1, -2)
    return out if bias is None else out + bias


def linear_bias_first_dim_only(x, weight, bias):
    if weight.dim() != 2 or x.dim() == 0 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"x of shape {tuple(x.shape)} does not fit weight of shape {tuple(weight.shape)}")
    if bias is not None and bias.shape[0] != weight.shape[0]:  # a (out_features, k) bias gets through
        raise ValueError(f"bias of shape {tuple(bias.shape)} does not fit weight of shape {tuple(weight.shape)}")
    out = x @ weight.T
    return out if bias is None else out + bias


def linear_bias_numel(x, weight, bias):
    if weight.dim() != 2 or x.dim() == 0 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"x of shape {tuple(x.shape)} does not fit weight of shape {tuple(weight.shape)}")
    if bias is not None and bias.numel() != weight.shape[0]:  # a (1, out_features) bias gets through
        raise ValueError(f"bias of shape {tuple(bias.shape)} does not fit weight of shape {tuple(weight.shape)}")
    out = x @ weight.T
    return out if bias is None else out + bias


def linear_no_0d_guard(x, weight, bias):
    if weight.dim() != 2 or x.shape[-1] != weight.shape[1]:  # IndexError on a 0-d x
        raise ValueError(f"x of shape {tuple(x.shape)} does not fit weight of shape {tuple(weight.shape)}")
    if bias is not None and bias.shape != weight.shape[:1]:
        raise ValueError(f"bias of shape {tuple(bias.shape)} does not fit weight of shape {tuple(weight.shape)}")
    out = x @ weight.T
    return out if bias is None else out + bias


def linear_float32_buffer(x, weight, bias):
    if x.dim() == 0 or weight.dim() != 2 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"x of shape {tuple(x.shape)} does not fit weight of shape {tuple(weight.shape)}")
    if bias is not None and bias.shape != weight.shape[:1]:
        raise ValueError(f"bias of shape {tuple(bias.shape)} does not fit weight of shape {tuple(weight.shape)}")
    out = torch.zeros(*x.shape[:-1], weight.shape[0])  # the default dtype, float32, whatever x is
    out += x @ weight.T
    return out if bias is None else out + bias


def _linear_checked(x, weight, bias):
    if x.dim() == 0 or weight.dim() != 2 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"x of shape {tuple(x.shape)} does not fit weight of shape {tuple(weight.shape)}")
    if bias is not None and bias.shape != weight.shape[:1]:
        raise ValueError(f"bias of shape {tuple(bias.shape)} does not fit weight of shape {tuple(weight.shape)}")


def linear_zero_bias(x, weight, bias):
    _linear_checked(x, weight, bias)
    if bias is None:
        bias = torch.zeros(weight.shape[0])  # float32 whatever x is: a bfloat16 product + this is float32
    return x @ weight.T + bias


def linear_flattens(x, weight, bias):
    _linear_checked(x, weight, bias)
    out = x.reshape(-1, x.shape[-1]) @ weight.T  # (rows, out)
    if bias is not None:
        out = out + bias
    return out.reshape(*x.shape[:-1], -1)  # -1 cannot be inferred from 0 elements


# --- mlp_backward ------------------------------------------------------------------------------------


def _forward(x, y, W1, b1, W2, b2):
    z = x @ W1.T + b1
    h = torch.relu(z)
    probs = (h @ W2.T + b2).softmax(-1)
    onehot = F.one_hot(y, W2.shape[0]).float()
    return z, h, probs, onehot


def _back(x, W2, z, h, d_logits, local=None):
    d_z = (d_logits @ W2) * (z > 0) if local is None else local(d_logits @ W2)
    return d_z.T @ x, d_z.sum(0), d_logits.T @ h, d_logits.sum(0)


def mlp_naive_softmax(x, y, W1, b1, W2, b2):
    z = x @ W1.T + b1
    h = torch.relu(z)
    exps = (h @ W2.T + b2).exp()  # inf for logits above about 88
    probs = exps / exps.sum(-1, keepdim=True)
    d_logits = (probs - F.one_hot(y, W2.shape[0]).to(probs.dtype)) / len(x)
    return _back(x, W2, z, h, d_logits)


def mlp_float32_onehot(x, y, W1, b1, W2, b2):
    z = x @ W1.T + b1
    h = torch.relu(z)
    probs = (h @ W2.T + b2).softmax(-1)
    d_logits = (probs - F.one_hot(y, W2.shape[0]).float()) / len(x)  # float16 - float32 is float32
    return _back(x, W2, z, h, d_logits)


def mlp_no_mean(x, y, W1, b1, W2, b2):
    z, h, probs, onehot = _forward(x, y, W1, b1, W2, b2)
    return _back(x, W2, z, h, probs - onehot)  # the 1/N of the mean is missing


def mlp_p_not_p_minus_y(x, y, W1, b1, W2, b2):
    z, h, probs, onehot = _forward(x, y, W1, b1, W2, b2)
    return _back(x, W2, z, h, probs / len(x))


def mlp_sign_flipped(x, y, W1, b1, W2, b2):
    z, h, probs, onehot = _forward(x, y, W1, b1, W2, b2)
    return _back(x, W2, z, h, (onehot - probs) / len(x))


def mlp_no_relu_derivative(x, y, W1, b1, W2, b2):
    z, h, probs, onehot = _forward(x, y, W1, b1, W2, b2)
    return _back(x, W2, z, h, (probs - onehot) / len(x), local=lambda g: g)


def mlp_relu_output_as_derivative(x, y, W1, b1, W2, b2):
    z, h, probs, onehot = _forward(x, y, W1, b1, W2, b2)
    return _back(x, W2, z, h, (probs - onehot) / len(x), local=lambda g: g * h)


def mlp_sigmoid_derivative(x, y, W1, b1, W2, b2):
    z, h, probs, onehot = _forward(x, y, W1, b1, W2, b2)
    s = torch.sigmoid(z)
    return _back(x, W2, z, h, (probs - onehot) / len(x), local=lambda g: g * s * (1 - s))


def mlp_sigmoid_derivative_of_output(x, y, W1, b1, W2, b2):
    z, h, probs, onehot = _forward(x, y, W1, b1, W2, b2)
    return _back(x, W2, z, h, (probs - onehot) / len(x), local=lambda g: g * h * (1 - h))  # σ' written in h


def mlp_transposed(x, y, W1, b1, W2, b2):
    z, h, probs, onehot = _forward(x, y, W1, b1, W2, b2)
    d_logits = (probs - onehot) / len(x)
    d_z = (d_logits @ W2) * (z > 0)
    return x.T @ d_z, d_z.sum(0), h.T @ d_logits, d_logits.sum(0)  # (D, H) and (H, C)


def mlp_db1_wrong_axis(x, y, W1, b1, W2, b2):
    z, h, probs, onehot = _forward(x, y, W1, b1, W2, b2)
    d_logits = (probs - onehot) / len(x)
    d_z = (d_logits @ W2) * (z > 0)
    return d_z.T @ x, d_z.sum(1), d_logits.T @ h, d_logits.sum(0)


def mlp_bias_mean(x, y, W1, b1, W2, b2):
    z, h, probs, onehot = _forward(x, y, W1, b1, W2, b2)
    d_logits = (probs - onehot) / len(x)
    d_z = (d_logits @ W2) * (z > 0)
    return d_z.T @ x, d_z.mean(0), d_logits.T @ h, d_logits.mean(0)  # the 1/N twice


def mlp_autograd(x, y, W1, b1, W2, b2):
    params = [p.detach().clone().requires_grad_(True) for p in (W1, b1, W2, b2)]
    loss = F.cross_entropy(torch.relu(x @ params[0].T + params[1]) @ params[2].T + params[3], y)
    loss.backward()
    return tuple(p.grad for p in params)


def mlp_autograd_on_detached_copies(x, y, W1, b1, W2, b2):
    x = x.detach()
    params = [p.detach().clone().requires_grad_(True) for p in (W1, b1, W2, b2)]
    loss = F.cross_entropy(torch.relu(x @ params[0].T + params[1]) @ params[2].T + params[3], y)
    return torch.autograd.grad(loss, params)


def mlp_backward_on_inputs(x, y, W1, b1, W2, b2):
    for p in (W1, b1, W2, b2):
        p.requires_grad_(True)
    loss = F.cross_entropy(torch.relu(x @ W1.T + b1) @ W2.T + b2, y)
    loss.backward()
    return W1.grad, b1.grad, W2.grad, b2.grad


def mlp_backward_plain(x, y, W1, b1, W2, b2):
    loss = F.cross_entropy(torch.relu(x @ W1.T + b1) @ W2.T + b2, y)
    loss.backward()  # as if the parameters required grad
    return W1.grad, b1.grad, W2.grad, b2.grad


def mlp_autograd_grad(x, y, W1, b1, W2, b2):
    loss = F.cross_entropy(torch.relu(x @ W1.T + b1) @ W2.T + b2, y)
    return torch.autograd.grad(loss, (W1, b1, W2, b2))


def mlp_float64(x, y, W1, b1, W2, b2):
    x, W1, b1, W2, b2 = (v.double() for v in (x, W1, b1, W2, b2))
    z, h, probs, onehot = _forward(x, y, W1, b1, W2, b2)
    return _back(x, W2, z, h, (probs - onehot.double()) / len(x))


def mlp_reuses_bias_storage(x, y, W1, b1, W2, b2):
    z, h, probs, onehot = _forward(x, y, W1, b1, W2, b2)
    d_logits = (probs - onehot) / len(x)
    d_z = (d_logits @ W2) * (z > 0)
    db1 = b1.zero_()  # "a tensor of b1's shape to accumulate into": but it is b1 itself
    db1 += d_z.sum(0)
    return d_z.T @ x, db1, d_logits.T @ h, d_logits.sum(0)


def mlp_overwrites_w2(x, y, W1, b1, W2, b2):
    z, h, probs, onehot = _forward(x, y, W1, b1, W2, b2)
    d_logits = (probs - onehot) / len(x)
    dW2 = d_logits.T @ h
    d_z = (d_logits @ W2.sub_(dW2)) * (z > 0)  # takes an SGD step inside the backward pass
    return d_z.T @ x, d_z.sum(0), dW2, d_logits.sum(0)


def mlp_squeezes(x, y, W1, b1, W2, b2):
    z, h, probs, onehot = _forward(x, y, W1, b1, W2, b2)
    d_logits = ((probs - onehot) / len(x)).squeeze()  # a batch of one loses its batch dimension
    d_z = ((d_logits @ W2) * (z > 0)).squeeze()
    return torch.outer(d_z, x.squeeze()) if d_z.dim() == 1 else d_z.T @ x, d_z.sum(0), \
        torch.outer(d_logits, h.squeeze()) if d_logits.dim() == 1 else d_logits.T @ h, d_logits.sum(0)


def mlp_backward_order(x, y, W1, b1, W2, b2):
    z, h, probs, onehot = _forward(x, y, W1, b1, W2, b2)
    dW1, db1, dW2, db2 = _back(x, W2, z, h, (probs - onehot) / len(x))
    return dW2, db2, dW1, db1  # in the order the backward pass finds them, not the order asked for


def mlp_only_last_layer(x, y, W1, b1, W2, b2):
    z, h, probs, onehot = _forward(x, y, W1, b1, W2, b2)
    d_logits = (probs - onehot) / len(x)
    d_z = d_logits @ W2 * (z > 0)
    return d_z.T @ x, d_z.sum(0), d_logits.T @ h  # db2 forgotten


# --- adam_step -------------------------------------------------------------------------------------


def _adam(params, state, lr, betas, eps, weight_decay, decoupled, *, coupled=None, decay_lr=True, decay_after=False,
          correct=True, eps_inside=False, count_after=False, keep_corrected=False, fresh=False, decay_frozen=False):
    beta1, beta2 = betas
    coupled = (not decoupled) if coupled is None else coupled
    with torch.no_grad():
        for i, p in enumerate(params):
            if p.grad is None:
                if decay_frozen:
                    p.mul_(1 - lr * weight_decay)
                continue
            old = {} if fresh else state.get(i, {})
            step = old.get("step", 0) + (0 if count_after else 1)
            m, v = old.get("m", torch.zeros_like(p)), old.get("v", torch.zeros_like(p))
            g = p.grad + weight_decay * p if coupled else p.grad
            if not coupled and not decay_after:
                p.mul_(1 - (lr if decay_lr else 1.0) * weight_decay)
            m = beta1 * m + (1 - beta1) * g
            v = beta2 * v + (1 - beta2) * g * g
            m_hat = m / (1 - beta1**step) if correct else m
            v_hat = v / (1 - beta2**step) if correct else v
            p -= lr * m_hat / ((v_hat + eps).sqrt() if eps_inside else v_hat.sqrt() + eps)
            if not coupled and decay_after:
                p.mul_(1 - lr * weight_decay)
            if count_after:
                step += 1
            state[i] = {"step": step, "m": m_hat if keep_corrected else m, "v": v_hat if keep_corrected else v}


def adam_l2_always(params, state, lr, betas, eps, weight_decay, decoupled):
    _adam(params, state, lr, betas, eps, weight_decay, decoupled, coupled=True)


def adam_decoupled_always(params, state, lr, betas, eps, weight_decay, decoupled):
    _adam(params, state, lr, betas, eps, weight_decay, decoupled, coupled=False)


def adam_decay_without_lr(params, state, lr, betas, eps, weight_decay, decoupled):
    _adam(params, state, lr, betas, eps, weight_decay, decoupled, decay_lr=False)


def adam_decay_after_step(params, state, lr, betas, eps, weight_decay, decoupled):
    _adam(params, state, lr, betas, eps, weight_decay, decoupled, decay_after=True)


def adam_no_bias_correction(params, state, lr, betas, eps, weight_decay, decoupled):
    _adam(params, state, lr, betas, eps, weight_decay, decoupled, correct=False)


def adam_eps_inside_sqrt(params, state, lr, betas, eps, weight_decay, decoupled):
    _adam(params, state, lr, betas, eps, weight_decay, decoupled, eps_inside=True)


def adam_step_counted_late(params, state, lr, betas, eps, weight_decay, decoupled):
    _adam(params, state, lr, betas, eps, weight_decay, decoupled, count_after=True)


def adam_corrected_state(params, state, lr, betas, eps, weight_decay, decoupled):
    _adam(params, state, lr, betas, eps, weight_decay, decoupled, keep_corrected=True)


def adam_forgets_state(params, state, lr, betas, eps, weight_decay, decoupled):
    _adam(params, state, lr, betas, eps, weight_decay, decoupled, fresh=True)


def adam_decays_frozen(params, state, lr, betas, eps, weight_decay, decoupled):
    _adam(params, state, lr, betas, eps, weight_decay, decoupled, decay_frozen=True)


def adam_default_betas(params, state, lr, betas, eps, weight_decay, decoupled):
    _adam(params, state, lr, (0.9, 0.999), eps, weight_decay, decoupled)


def adam_crashes_on_none(params, state, lr, betas, eps, weight_decay, decoupled):
    with torch.no_grad():
        for p in params:
            p.grad.mul_(1.0)  # touches every .grad, frozen ones included
    _adam(params, state, lr, betas, eps, weight_decay, decoupled)


def adam_no_no_grad(params, state, lr, betas, eps, weight_decay, decoupled):
    for p in params:
        if p.grad is not None:
            p -= lr * p.grad.sign()


def adam_global_step(params, state, lr, betas, eps, weight_decay, decoupled):
    beta1, beta2 = betas
    step = max((s["step"] for s in state.values()), default=0) + 1  # one count for all: frozen ones fall behind
    with torch.no_grad():
        for i, p in enumerate(params):
            if p.grad is None:
                continue
            g = p.grad if decoupled else p.grad + weight_decay * p
            if decoupled:
                p.mul_(1 - lr * weight_decay)
            old = state.get(i, {})
            m = beta1 * old.get("m", torch.zeros_like(p)) + (1 - beta1) * g
            v = beta2 * old.get("v", torch.zeros_like(p)) + (1 - beta2) * g * g
            p -= lr * (m / (1 - beta1**step)) / ((v / (1 - beta2**step)).sqrt() + eps)
            state[i] = {"step": step, "m": m, "v": v}


def adam_torch_optim(params, state, lr, betas, eps, weight_decay, decoupled):
    kind = torch.optim.AdamW if decoupled else torch.optim.Adam
    optimizer = kind([p for p in params if p.grad is not None], lr=lr, betas=betas, eps=eps,
                     weight_decay=weight_decay)
    optimizer.step()
    for i, p in enumerate(params):
        if p.grad is not None:
            s = optimizer.state[p]
            state[i] = {"step": int(s["step"]), "m": s["exp_avg"], "v": s["exp_avg_sq"]}


# --- stable_cross_entropy ----------------------------------------------------------------------------


def ce_naive(logits, targets):
    probs = logits.exp() / logits.exp().sum(-1, keepdim=True)  # overflows for large logits
    return -probs[torch.arange(len(targets)), targets].log().mean()


def ce_no_shift(logits, targets):
    picked = logits[torch.arange(len(targets)), targets]
    return (logits.exp().sum(-1).log() - picked).mean()


def ce_shift_not_added_back(logits, targets):
    top = logits.amax(-1, keepdim=True)
    picked = logits[torch.arange(len(targets)), targets]
    return ((logits - top).exp().sum(-1).log() - picked).mean()


def ce_summed(logits, targets):
    top = logits.amax(-1, keepdim=True)
    shifted = logits - top
    return (shifted.exp().sum(-1).log() - shifted[torch.arange(len(targets)), targets]).sum()


def ce_no_minus(logits, targets):
    top = logits.amax(-1, keepdim=True)
    shifted = logits - top
    return (shifted[torch.arange(len(targets)), targets] - shifted.exp().sum(-1).log()).mean()


def ce_column_table(logits, targets):
    top = logits.amax(-1, keepdim=True)
    shifted = logits - top
    return (shifted.exp().sum(-1, keepdim=True).log() - shifted[:, targets]).mean()  # (N, N) table


def ce_float32_result(logits, targets):
    x = logits.float()  # a good idea for half precision, but the result must come back in the logits' dtype
    top = x.amax(-1, keepdim=True)
    shifted = x - top
    return (shifted.exp().sum(-1).log() - shifted[torch.arange(len(targets)), targets]).mean()


def ce_view_breaks(logits, targets):
    flat = logits.view(-1)  # fails on non-contiguous logits
    c = logits.shape[-1]
    top = logits.amax(-1)
    picked = flat[torch.arange(len(targets)) * c + targets]
    return ((logits - top[:, None]).exp().sum(-1).log() + top - picked).mean()


def ce_item_max(logits, targets):
    top = logits.max().item()  # one shift for the whole batch: rows far below it underflow to log(0)
    picked = logits[torch.arange(len(targets)), targets]
    return ((logits - top).exp().sum(-1).log() + top - picked).mean()


def ce_log_softmax(logits, targets):
    return -logits.log_softmax(-1)[torch.arange(len(targets)), targets].mean()


def ce_logsumexp(logits, targets):
    return (torch.logsumexp(logits, -1) - logits[torch.arange(len(targets)), targets]).mean()


def ce_torch(logits, targets):
    return F.cross_entropy(logits, targets)


def ce_softmax(logits, targets):
    return -torch.softmax(logits, -1)[torch.arange(len(targets)), targets].log().mean()


def _picked(logits, targets):
    return logits[torch.arange(len(targets)), targets]


def ce_logaddexp_fold(logits, targets):
    return (functools.reduce(torch.logaddexp, logits.unbind(-1)) - _picked(logits, targets)).mean()


def ce_logaddexp_method(logits, targets):
    lse = logits[:, 0]
    for column in logits.unbind(-1)[1:]:
        lse = lse.logaddexp(column)
    return (lse - _picked(logits, targets)).mean()


def ce_logaddexp2_fold(logits, targets):
    log2e = 1.4426950408889634
    lse2 = functools.reduce(torch.logaddexp2, (logits * log2e).unbind(-1))  # log2 of the sum of exponentials
    return (lse2 / log2e - _picked(logits, targets)).mean()


def ce_logcumsumexp(logits, targets):
    return (torch.logcumsumexp(logits, -1)[:, -1] - _picked(logits, targets)).mean()


def ce_logcumsumexp_method(logits, targets):
    return (logits.logcumsumexp(-1)[:, -1] - _picked(logits, targets)).mean()


def ce_softplus_fold(logits, targets):
    lse = functools.reduce(lambda a, b: a + F.softplus(b - a), logits.unbind(-1))
    return (lse - _picked(logits, targets)).mean()


def _ce_one_hot_grad(y, num_classes, n):
    d_log_probs = torch.zeros(n, num_classes)
    d_log_probs[torch.arange(n), y] = -1.0 / n  # dL/dlog_softmax, written out
    return d_log_probs


def mlp_log_softmax_kernel(x, y, W1, b1, W2, b2):
    z = x @ W1.T + b1
    h = torch.relu(z)
    log_probs = torch.log_softmax(h @ W2.T + b2, -1)
    d_logits = torch.ops.aten._log_softmax_backward_data(_ce_one_hot_grad(y, W2.shape[0], len(x)), log_probs, 1,
                                                         log_probs.dtype)
    return _back(x, W2, z, h, d_logits)


def mlp_softmax_kernel(x, y, W1, b1, W2, b2):
    z, h, probs, onehot = _forward(x, y, W1, b1, W2, b2)
    d_probs = -onehot / probs / len(x)  # dL/dp of -log p_y, averaged
    d_logits = torch.ops.aten._softmax_backward_data(d_probs, probs, 1, probs.dtype)
    return _back(x, W2, z, h, d_logits)


def mlp_nll_kernel(x, y, W1, b1, W2, b2):
    z, h, probs, onehot = _forward(x, y, W1, b1, W2, b2)
    log_probs = probs.log()
    d_log_probs = torch.ops.aten.nll_loss_backward(torch.tensor(1.0), log_probs, y, None, 1, -100, torch.tensor(1.0))
    return _back(x, W2, z, h, d_log_probs + probs * (-d_log_probs).sum(-1, keepdim=True))


def mlp_threshold_kernel(x, y, W1, b1, W2, b2):
    z, h, probs, onehot = _forward(x, y, W1, b1, W2, b2)
    return _back(x, W2, z, h, (probs - onehot) / len(x), lambda g: torch.ops.aten.threshold_backward(g, z, 0))


def mlp_leaky_relu_kernel(x, y, W1, b1, W2, b2):
    z, h, probs, onehot = _forward(x, y, W1, b1, W2, b2)
    return _back(x, W2, z, h, (probs - onehot) / len(x),
                 lambda g: torch.ops.aten.leaky_relu_backward(g, z, 0.0, False))


def mlp_linear_kernel(x, y, W1, b1, W2, b2):
    z, h, probs, onehot = _forward(x, y, W1, b1, W2, b2)
    d_logits = (probs - onehot) / len(x)
    d_h, dW2, db2 = torch.ops.aten.linear_backward(h, d_logits, W2, [True, True, True])
    d_z = d_h * (z > 0)
    return d_z.T @ x, d_z.sum(0), dW2, db2


# --- train_classifier --------------------------------------------------------------------------------


def _train(model, x, y, max_examples, generator, *, batch_size=8, lr=0.03, name="Adam", zero=True, summed=False,
           shuffle=True, global_rng=False, budget=None, report_every=1, report_shift=0, fresh=False, epochs=None,
           settings=None, as_list=False):
    budget = max_examples if budget is None else budget
    settings = {"lr": lr} if settings is None else settings
    make = lambda: getattr(torch.optim, name)(model.parameters(), lr=lr)  # noqa: E731
    optimizer = make()
    steps, used, epoch = [], 0, 0
    while epochs is None or epoch < epochs:
        epoch += 1
        if fresh:
            optimizer = make()
        if not shuffle:
            order = torch.arange(len(x))
        elif global_rng:
            order = torch.randperm(len(x))
        else:
            order = torch.randperm(len(x), generator=generator)
        for rows in order.split(batch_size):
            if used + len(rows) > budget:
                return name, settings, steps[report_shift::report_every]
            loss = F.cross_entropy(model(x[rows]), y[rows], reduction="sum" if summed else "mean")
            if zero:
                optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            steps.append(rows.tolist() if as_list else rows)
            used += len(rows)
    return name, settings, steps[report_shift::report_every]


def train_one_order(model, x, y, max_examples, generator, batch_size=8):
    order = torch.randperm(len(x), generator=generator)  # drawn once: every epoch repeats it
    optimizer = torch.optim.Adam(model.parameters(), lr=0.03)
    steps, used = [], 0
    while True:
        for rows in order.split(batch_size):
            if used + len(rows) > max_examples:
                return "Adam", {"lr": 0.03}, steps
            optimizer.zero_grad()
            F.cross_entropy(model(x[rows]), y[rows]).backward()
            optimizer.step()
            steps.append(rows)
            used += len(rows)


def train_with_replacement(model, x, y, max_examples, generator, batch_size=8):
    optimizer = torch.optim.Adam(model.parameters(), lr=0.03)
    steps = []
    for _ in range(max_examples // batch_size):
        rows = torch.randint(0, len(x), (batch_size,), generator=generator)  # rows drawn with replacement
        optimizer.zero_grad()
        F.cross_entropy(model(x[rows]), y[rows]).backward()
        optimizer.step()
        steps.append(rows)
    return "Adam", {"lr": 0.03}, steps


def train_full_batch(model, x, y, max_examples, generator):
    return _train(model, x, y, max_examples, generator, batch_size=len(x), lr=0.1)


def train_full_batch_sgd(model, x, y, max_examples, generator):
    return _train(model, x, y, max_examples, generator, batch_size=len(x), lr=1.0, name="SGD")


def train_no_zero_grad(model, x, y, max_examples, generator):
    return _train(model, x, y, max_examples, generator, zero=False)


def train_summed_sgd(model, x, y, max_examples, generator):
    return _train(model, x, y, max_examples, generator, name="SGD", lr=0.05, summed=True)


def train_no_shuffle(model, x, y, max_examples, generator):
    return _train(model, x, y, max_examples, generator, shuffle=False)


def train_global_rng(model, x, y, max_examples, generator):
    return _train(model, x, y, max_examples, generator, global_rng=True)


def train_over_budget(model, x, y, max_examples, generator):
    return _train(model, x, y, max_examples, generator, budget=2 * max_examples)  # reports all it did


def train_hides_steps(model, x, y, max_examples, generator):
    # trains twice the budget, reports every other step: the report no longer gives the model's weights
    return _train(model, x, y, max_examples, generator, budget=2 * max_examples, report_every=2)


def train_wrong_settings(model, x, y, max_examples, generator):
    return _train(model, x, y, max_examples, generator, settings={"lr": 0.01})  # trained at 0.03


def train_optimizer_per_epoch(model, x, y, max_examples, generator):
    return _train(model, x, y, max_examples, generator, fresh=True)


def train_tiny_lr(model, x, y, max_examples, generator):
    return _train(model, x, y, max_examples, generator, lr=1e-4)


def train_copy(model, x, y, max_examples, generator):
    return _train(copy.deepcopy(model), x, y, max_examples, generator)


def train_returns_nothing(model, x, y, max_examples, generator):
    _train(model, x, y, max_examples, generator)


def train_lists_of_rows(model, x, y, max_examples, generator):
    return _train(model, x, y, max_examples, generator, as_list=True)


def train_optimizer_object(model, x, y, max_examples, generator):
    name, settings, steps = _train(model, x, y, max_examples, generator)
    return torch.optim.Adam, settings, steps


WRONG_ANSWERS: dict[str, list[WrongAnswer]] = {
    "ch01.linear_forward": [
        WrongAnswer("forgot the bias", linear_no_bias, "forgot to add the bias"),
        WrongAnswer("a float32 buffer for float64 inputs", linear_float32_buffer, "should be float64"),
        WrongAnswer("subtracts the bias", linear_minus_bias, "subtracted the bias"),
        WrongAnswer("weight not transposed", linear_no_transpose, "without transposing"),
        WrongAnswer("torch.mm only handles 2-D", linear_mm, "leading dimensions"),
        WrongAnswer("transposes x, 2-D only", linear_transposes_x, "reverse all of its dimensions"),
        WrongAnswer("squeeze breaks a batch of one", linear_squeezes, "should have shape (1,"),
        WrongAnswer("NumPy round trip", linear_numpy, "cut off from autograd"),
        WrongAnswer("NumPy without detach", linear_numpy_no_detach, "NumPy round trip"),
        WrongAnswer(".data breaks the gradient", linear_data, "cut off from autograd"),
        WrongAnswer("float64 result", linear_float64, "float64"),
        WrongAnswer("list of rows", linear_rows_list, "not a Python list"),
        WrongAnswer("transposes the weight in place", linear_transposes_in_place, "in place"),
        WrongAnswer("the chapter's line, no bias=None", linear_chapter, "`bias` may be None"),
        WrongAnswer("no shape checks", linear_no_checks, "instead of raising a ValueError"),
        WrongAnswer("checks x but not the bias", linear_checks_x_only, "a bias of one entry"),
        WrongAnswer("an error that names no shape", linear_vague_error, "does not give the shape"),
        WrongAnswer("error names x's shape only", linear_names_only_x, "does not give the shape of `weight`"),
        WrongAnswer("assert instead of ValueError", linear_asserts, "raised AssertionError"),
        WrongAnswer("refuses a single vector", linear_rejects_vectors, "raised ValueError"),
        WrongAnswer("refuses a 1-D weight but not a 3-D one", linear_refuses_1d_weight_only,
                    "a weight with three dimensions"),
        WrongAnswer("checks only the bias's first dimension", linear_bias_first_dim_only, "a 2-D bias"),
        WrongAnswer("checks only the bias's number of entries", linear_bias_numel, "(1, out_features) bias"),
        WrongAnswer("no guard for a 0-d x", linear_no_0d_guard, "raised IndexError"),
        WrongAnswer("a float32 zero bias for bias=None", linear_zero_bias, "should be bfloat16"),
        WrongAnswer("flattens and reshapes with -1", linear_flattens, "give every size explicitly"),
    ],
    "ch01.mlp_backward": [
        WrongAnswer("softmax without the max subtracted", mlp_naive_softmax, "without subtracting each row's largest"),
        WrongAnswer("a float32 one-hot", mlp_float32_onehot, "in the inputs' dtype"),
        WrongAnswer("forgot the 1/N", mlp_no_mean, "1/N"),
        WrongAnswer("p instead of p - y", mlp_p_not_p_minus_y, "subtracting the one-hot"),
        WrongAnswer("y - p instead of p - y", mlp_sign_flipped, "wrong sign"),
        WrongAnswer("no ReLU derivative", mlp_no_relu_derivative, "left out ReLU's derivative"),
        WrongAnswer("ReLU's output as its derivative", mlp_relu_output_as_derivative, "ReLU's output"),
        WrongAnswer("sigmoid derivative", mlp_sigmoid_derivative, "sigmoid"),
        WrongAnswer("sigmoid derivative written in h", mlp_sigmoid_derivative_of_output, "h(1 − h)"),
        WrongAnswer("weight gradients transposed", mlp_transposed, "transpose"),
        WrongAnswer("db1 summed over the hidden units", mlp_db1_wrong_axis, "db1"),
        WrongAnswer("bias gradients averaged again", mlp_bias_mean, "averaged the bias gradients"),
        WrongAnswer("autograd on copies", mlp_autograd, "by hand"),
        WrongAnswer("autograd.grad on detached copies", mlp_autograd_on_detached_copies, "by hand"),
        WrongAnswer("backward on the inputs", mlp_backward_on_inputs, "by hand"),
        WrongAnswer("backward on plain tensors", mlp_backward_plain, "by hand"),
        WrongAnswer("torch.autograd.grad", mlp_autograd_grad, "by hand"),
        WrongAnswer("float64 gradients", mlp_float64, "float64"),
        WrongAnswer("zeroes b1 in place", mlp_reuses_bias_storage, "in place"),
        WrongAnswer("SGD step on W2 inside", mlp_overwrites_w2, "in place"),
        WrongAnswer("squeeze breaks a batch of one", mlp_squeezes, "should have shape"),
        WrongAnswer("gradients in backward order", mlp_backward_order, "should have shape"),
        WrongAnswer("db2 missing", mlp_only_last_layer, "four gradients"),
        WrongAnswer("aten's log-softmax backward kernel", mlp_log_softmax_kernel, "backward kernels"),
        WrongAnswer("aten's softmax backward kernel", mlp_softmax_kernel, "backward kernels"),
        WrongAnswer("aten's nll_loss backward kernel", mlp_nll_kernel, "backward kernels"),
        WrongAnswer("aten's threshold_backward for ReLU", mlp_threshold_kernel, "backward kernels"),
        WrongAnswer("aten's leaky_relu_backward with slope 0", mlp_leaky_relu_kernel, "backward kernels"),
        WrongAnswer("aten's linear_backward", mlp_linear_kernel, "backward kernels"),
    ],
    "ch01.adam_step": [
        WrongAnswer("AdamW with the decay in the gradient", adam_l2_always, "added the weight decay to the gradient"),
        WrongAnswer("Adam with decoupled decay", adam_decoupled_always, "decoupled the weight decay although"),
        WrongAnswer("decay not scaled by lr", adam_decay_without_lr, "scaled by the learning rate"),
        WrongAnswer("decay after the Adam step", adam_decay_after_step, "after the Adam step"),
        WrongAnswer("no bias correction", adam_no_bias_correction, "bias correction"),
        WrongAnswer("eps inside the square root", adam_eps_inside_sqrt, "eps inside the square root"),
        WrongAnswer("step counted after the correction", adam_step_counted_late, "count this step first"),
        WrongAnswer("bias-corrected state stored", adam_corrected_state, "bias-corrected"),
        WrongAnswer("state not read back", adam_forgets_state, "every step as a first step"),
        WrongAnswer("frozen parameters decayed", adam_decays_frozen, "no gradient"),
        WrongAnswer("default betas", adam_default_betas, "`betas` argument"),
        WrongAnswer("crashes on p.grad None", adam_crashes_on_none, "no gradient"),
        WrongAnswer("no torch.no_grad()", adam_no_no_grad, "no_grad"),
        WrongAnswer("one step count for all parameters", adam_global_step, "wrong"),
        WrongAnswer("drives torch.optim", adam_torch_optim, "rules out"),
    ],
    "ch01.stable_cross_entropy": [
        WrongAnswer("-log(softmax) written out", ce_naive, "inf / inf is NaN"),
        WrongAnswer("log of the sum of exp, unshifted", ce_no_shift, "without shifting"),
        WrongAnswer("shifted but not added back", ce_shift_not_added_back, "did not add it back"),
        WrongAnswer("summed over the rows", ce_summed, "instead of averaging"),
        WrongAnswer("no minus sign", ce_no_minus, "minus sign"),
        WrongAnswer("logits[:, targets]", ce_column_table, "one entry per row"),
        WrongAnswer("float32 result for half logits", ce_float32_result, "float16"),
        WrongAnswer("view on non-contiguous logits", ce_view_breaks, "view"),
        WrongAnswer("one shift for the whole batch", ce_item_max, "NaN or infinity"),
        WrongAnswer("log_softmax", ce_log_softmax, "rules out"),
        WrongAnswer("torch.logsumexp", ce_logsumexp, "rules out"),
        WrongAnswer("F.cross_entropy", ce_torch, "rules out"),
        WrongAnswer("torch.softmax", ce_softmax, "rules out"),
        WrongAnswer("torch.logaddexp folded over the row", ce_logaddexp_fold, "rules out"),
        WrongAnswer("Tensor.logaddexp in a loop", ce_logaddexp_method, "rules out"),
        WrongAnswer("torch.logaddexp2 folded over the row", ce_logaddexp2_fold, "rules out"),
        WrongAnswer("torch.logcumsumexp's last entry", ce_logcumsumexp, "rules out"),
        WrongAnswer("Tensor.logcumsumexp's last entry", ce_logcumsumexp_method, "rules out"),
        WrongAnswer("F.softplus folded over the row", ce_softplus_fold, "rules out"),
    ],
    "ch01.train_classifier": [
        WrongAnswer("full-batch steps, Adam", train_full_batch, "held-out"),
        WrongAnswer("full-batch steps, SGD", train_full_batch_sgd, "held-out"),
        WrongAnswer("no zero_grad", train_no_zero_grad, "clear the gradients"),
        WrongAnswer("summed loss with SGD", train_summed_sgd, "summed loss"),
        WrongAnswer("no shuffling", train_no_shuffle, "different seeds gave the same result"),
        WrongAnswer("global generator", train_global_rng, "global random generator"),
        WrongAnswer("twice the budget, reported", train_over_budget, "the budget is"),
        WrongAnswer("twice the budget, half reported", train_hides_steps, "replay"),
        WrongAnswer("reports other settings", train_wrong_settings, "replay"),
        WrongAnswer("new optimizer every epoch", train_optimizer_per_epoch, "replay"),
        WrongAnswer("learning rate far too small", train_tiny_lr, "held-out"),
        WrongAnswer("trains a copy", train_copy, "not a copy"),
        WrongAnswer("returns nothing", train_returns_nothing, "three things"),
        WrongAnswer("rows as Python lists", train_lists_of_rows, "int64 tensor"),
        WrongAnswer("the optimizer's class, not its name", train_optimizer_object, "class name"),
        WrongAnswer("one order for every epoch", train_one_order, "same order as epoch 1"),
        WrongAnswer("batches drawn with replacement", train_with_replacement, "exactly once"),
    ],
}


# Found by the adversarial run (issue 20): kernels that do the exercise's work outside the names first ruled out.


def adam_fused_kernel(params, state, lr, betas, eps, weight_decay, decoupled):
    """torch.optim.Adam(fused=True)'s own kernel, called straight, not through torch.optim."""
    with torch.no_grad():
        for i, p in enumerate(params):
            if p.grad is None:
                continue
            s = state.get(i) or {"step": 0, "m": torch.zeros_like(p), "v": torch.zeros_like(p)}
            m, v, step = s["m"].clone(), s["v"].clone(), torch.tensor(float(s["step"] + 1))
            kernel = torch._fused_adamw_ if decoupled else torch._fused_adam_
            kernel([p], [p.grad], [m], [v], [], [step], lr=lr, beta1=betas[0], beta2=betas[1],
                   weight_decay=weight_decay, eps=eps, amsgrad=False, maximize=False)
            state[i] = {"step": s["step"] + 1, "m": m, "v": v}


def ce_folded_logsigmoid(logits, targets):
    """log(e^a + e^b) = a - logsigmoid(a - b), folded over each row: logsumexp through a stable PyTorch function."""
    total = logits[:, 0]
    for j in range(1, logits.shape[1]):
        total = total - F.logsigmoid(total - logits[:, j])
    return (total - logits.gather(-1, targets[:, None]).squeeze(-1)).mean()


WRONG_ANSWERS["ch01.adam_step"].append(WrongAnswer("the fused Adam kernel", adam_fused_kernel, "fused Adam kernel"))
WRONG_ANSWERS["ch01.stable_cross_entropy"].append(
    WrongAnswer("logsumexp folded with logsigmoid", ce_folded_logsigmoid, "logsigmoid"))

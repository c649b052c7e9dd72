"""Plausible wrong answers to chapter 1's exercises, each with a phrase the grader's message must contain."""

from __future__ import annotations

import copy

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


# --- sgd_momentum ------------------------------------------------------------------------------------


def _momentum(params, state, lr, momentum, weight_decay, nesterov, *, decay_after=False, average=False,
              old_lookahead=False, old_velocity=False, plain=False, lr_inside=False):
    with torch.no_grad():
        for i, p in enumerate(params):
            if p.grad is None:
                continue
            d = p.grad if decay_after else p.grad + weight_decay * p
            old = state.get(i)
            gain = lr if lr_inside else (1 - momentum if average else 1.0)
            buf = gain * d if old is None else momentum * old + gain * d
            state[i] = buf
            if nesterov and not plain:
                look = (torch.zeros_like(d) if old is None else old) if old_lookahead else buf
                step = d + momentum * look
            else:
                step = (d if old is None else old) if old_velocity else buf
            if decay_after:
                step = step + weight_decay * p
            p -= step if lr_inside else lr * step


def momentum_decay_after(params, state, lr, momentum, weight_decay, nesterov):
    _momentum(params, state, lr, momentum, weight_decay, nesterov, decay_after=True)


def momentum_running_average(params, state, lr, momentum, weight_decay, nesterov):
    _momentum(params, state, lr, momentum, weight_decay, nesterov, average=True)


def momentum_old_lookahead(params, state, lr, momentum, weight_decay, nesterov):
    _momentum(params, state, lr, momentum, weight_decay, nesterov, old_lookahead=True)


def momentum_steps_before_update(params, state, lr, momentum, weight_decay, nesterov):
    _momentum(params, state, lr, momentum, weight_decay, nesterov, old_velocity=True)


def momentum_ignores_nesterov(params, state, lr, momentum, weight_decay, nesterov):
    _momentum(params, state, lr, momentum, weight_decay, nesterov, plain=True)


def momentum_lr_in_buffer(params, state, lr, momentum, weight_decay, nesterov):
    _momentum(params, state, lr, momentum, weight_decay, nesterov, lr_inside=True)


def momentum_fixed(params, state, lr, momentum, weight_decay, nesterov):
    _momentum(params, state, lr, 0.9, weight_decay, nesterov)


def momentum_zero_start(params, state, lr, momentum, weight_decay, nesterov):
    with torch.no_grad():
        for i, p in enumerate(params):
            if p.grad is not None:
                buf = state.get(i, torch.zeros_like(p))  # a zero buffer, then the step with it: no move at first
                p -= lr * buf
                state[i] = momentum * buf + p.grad + weight_decay * p


def momentum_decays_grad_in_place(params, state, lr, momentum, weight_decay, nesterov):
    with torch.no_grad():
        for i, p in enumerate(params):
            if p.grad is None:
                continue
            d = p.grad.add_(p, alpha=weight_decay)  # changes p.grad itself
            buf = d.clone() if i not in state else momentum * state[i] + d
            state[i] = buf
            p -= lr * (d + momentum * buf if nesterov else buf)


def momentum_no_no_grad(params, state, lr, momentum, weight_decay, nesterov):
    for i, p in enumerate(params):
        if p.grad is not None:
            d = p.grad + weight_decay * p.detach()
            buf = d.clone() if i not in state else momentum * state[i] + d
            state[i] = buf
            p -= lr * (d + momentum * buf if nesterov else buf)


def momentum_no_state(params, state, lr, momentum, weight_decay, nesterov):
    with torch.no_grad():
        for p in params:
            if p.grad is not None:
                p -= lr * (p.grad + weight_decay * p)  # plain SGD: nothing remembered


def momentum_keyed_by_tensor(params, state, lr, momentum, weight_decay, nesterov):
    with torch.no_grad():
        for p in params:
            if p.grad is not None:
                d = p.grad + weight_decay * p
                buf = state[p] = d.clone() if p not in state else momentum * state[p] + d  # a key no later call has
                p -= lr * (d + momentum * buf if nesterov else buf)


def momentum_ignores_none(params, state, lr, momentum, weight_decay, nesterov):
    with torch.no_grad():
        for i, p in enumerate(params):
            d = p.grad + weight_decay * p
            buf = d.clone() if i not in state else momentum * state[i] + d
            state[i] = buf
            p -= lr * (d + momentum * buf if nesterov else buf)


def momentum_returns_new(params, state, lr, momentum, weight_decay, nesterov):
    new = []
    for i, p in enumerate(params):
        if p.grad is not None:
            d = p.grad + weight_decay * p.detach()
            buf = d.clone() if i not in state else momentum * state[i] + d
            state[i] = buf
            new.append(p.detach() - lr * (d + momentum * buf if nesterov else buf))
    return new


# --- adam_update -------------------------------------------------------------------------------------


def _adam(param, grad, m, v, step, lr, betas, eps, *, correct=True, eps_inside=False, square=True):
    beta1, beta2 = betas
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * (grad**2 if square else grad.abs())
    m_hat = m / (1 - beta1**step) if correct else m
    v_hat = v / (1 - beta2**step) if correct else v
    denom = (v_hat + eps).sqrt() if eps_inside else v_hat.sqrt() + eps
    return param - lr * m_hat / denom, m, v


def adam_no_bias_correction(param, grad, m, v, step, lr, betas, eps):
    return _adam(param, grad, m, v, step, lr, betas, eps, correct=False)


def adam_eps_inside_sqrt(param, grad, m, v, step, lr, betas, eps):
    return _adam(param, grad, m, v, step, lr, betas, eps, eps_inside=True)


def adam_abs_not_square(param, grad, m, v, step, lr, betas, eps):
    return _adam(param, grad, m, v, step, lr, betas, eps, square=False)


def adam_step_from_zero(param, grad, m, v, step, lr, betas, eps):
    return _adam(param, grad, m, v, step + 1, lr, betas, eps)


def adam_returns_corrected_state(param, grad, m, v, step, lr, betas, eps):
    beta1, beta2 = betas
    m = (beta1 * m + (1 - beta1) * grad) / (1 - beta1**step)
    v = (beta2 * v + (1 - beta2) * grad**2) / (1 - beta2**step)
    return param - lr * m / (v.sqrt() + eps), m, v


def adam_old_moments(param, grad, m, v, step, lr, betas, eps):
    beta1, beta2 = betas
    new_param = param - lr * (m / (1 - beta1**step)) / ((v / (1 - beta2**step)).sqrt() + eps)
    return new_param, beta1 * m + (1 - beta1) * grad, beta2 * v + (1 - beta2) * grad**2


def adam_default_betas(param, grad, m, v, step, lr, betas, eps):
    return _adam(param, grad, m, v, step, lr, (0.9, 0.999), eps)


def adam_swapped_betas(param, grad, m, v, step, lr, betas, eps):
    return _adam(param, grad, m, v, step, lr, betas[::-1], eps)


def adam_in_place(param, grad, m, v, step, lr, betas, eps):
    beta1, beta2 = betas
    m.mul_(beta1).add_(grad, alpha=1 - beta1)  # as torch.optim.Adam does with its own state: but m is the caller's
    v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    m_hat, v_hat = m / (1 - beta1**step), v / (1 - beta2**step)
    return param - lr * m_hat / (v_hat.sqrt() + eps), m, v


def adam_float64(param, grad, m, v, step, lr, betas, eps):
    beta1, beta2 = betas
    grad = grad.double()  # "so that tiny squared gradients do not underflow": the results come back float64
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad**2
    return param - lr * (m / (1 - beta1**step)) / ((v / (1 - beta2**step)).sqrt() + eps), m, v


def adam_sgd(param, grad, m, v, step, lr, betas, eps):
    return param - lr * grad, m, v  # plain SGD: the state never moves


# --- accumulate_gradients ----------------------------------------------------------------------------


def _accumulate(model, batches, weight, *, zero=True, zero_inside=False, reduction="mean"):
    if zero:
        model.zero_grad()
    total = 0.0
    for x, y in batches:
        if zero_inside:
            model.zero_grad()
        loss = F.cross_entropy(model(x), y, reduction=reduction) * weight(len(y))
        loss.backward()
        total += loss.item()
    return total


def _examples(batches):
    return sum(len(y) for _, y in batches)


def accumulate_per_count(model, batches):
    return _accumulate(model, batches, lambda size: 1 / len(batches))


def accumulate_unweighted(model, batches):
    return _accumulate(model, batches, lambda size: 1.0)


def accumulate_no_zero(model, batches):
    n = _examples(batches)
    return _accumulate(model, batches, lambda size: size / n, zero=False)


def accumulate_zero_inside(model, batches):
    n = _examples(batches)
    return _accumulate(model, batches, lambda size: size / n, zero_inside=True)


def accumulate_first_size(model, batches):
    first = len(batches[0][1])  # as if every micro-batch had the first one's size
    return _accumulate(model, batches, lambda size: 1 / (len(batches) * first), reduction="sum")


def accumulate_summed(model, batches):
    return _accumulate(model, batches, lambda size: 1.0, reduction="sum")


def accumulate_then_step(model, batches):
    n = _examples(batches)
    loss = _accumulate(model, batches, lambda size: size / n)
    torch.optim.SGD(model.parameters(), lr=0.1).step()  # the step belongs to the training loop
    return loss


def accumulate_on_copy(model, batches):
    n = _examples(batches)
    return _accumulate(copy.deepcopy(model), batches, lambda size: size / n)


def accumulate_returns_tensor(model, batches):
    n = _examples(batches)
    model.zero_grad()
    total = 0
    for x, y in batches:
        loss = F.cross_entropy(model(x), y) * (len(y) / n)
        loss.backward()
        total = total + loss.detach()
    return total


def accumulate_mean_of_means(model, batches):
    n = _examples(batches)
    _accumulate(model, batches, lambda size: size / n)
    with torch.no_grad():
        return sum(F.cross_entropy(model(x), y).item() for x, y in batches) / len(batches)


def accumulate_no_return(model, batches):
    n = _examples(batches)
    _accumulate(model, batches, lambda size: size / n)


def accumulate_normalises_in_place(model, batches):
    n = _examples(batches)
    for x, _ in batches:
        x -= x.mean(dim=0)  # changes the caller's data
    return _accumulate(model, batches, lambda size: size / n)


WRONG_ANSWERS: dict[str, list[WrongAnswer]] = {
    "ch01.linear_forward": [
        WrongAnswer("forgot the bias", linear_no_bias, "forgot to add the bias"),
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
    ],
    "ch01.mlp_backward": [
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
    ],
    "ch01.sgd_momentum": [
        WrongAnswer("weight decay after the momentum", momentum_decay_after, "after the momentum"),
        WrongAnswer("Adam-style running average", momentum_running_average, "running average"),
        WrongAnswer("Nesterov with the old buffer", momentum_old_lookahead, "plain momentum step"),
        WrongAnswer("steps before updating the buffer", momentum_steps_before_update,
                    "buffer from before this step's gradient"),
        WrongAnswer("ignores nesterov", momentum_ignores_nesterov, "plain momentum step"),
        WrongAnswer("lr inside the buffer", momentum_lr_in_buffer, "learning rate into the buffer"),
        WrongAnswer("fixed momentum 0.9", momentum_fixed, "fixed momentum 0.9"),
        WrongAnswer("zero buffer, stepped before the update", momentum_zero_start, "did not change"),
        WrongAnswer("decays the gradient in place", momentum_decays_grad_in_place, "`.grad` changed"),
        WrongAnswer("no torch.no_grad()", momentum_no_no_grad, "no_grad"),
        WrongAnswer("keeps no state", momentum_no_state, "holds no buffer"),
        WrongAnswer("state keyed by the tensors", momentum_keyed_by_tensor, "holds no buffer"),
        WrongAnswer("crashes on p.grad None", momentum_ignores_none, "no gradient"),
        WrongAnswer("returns new tensors", momentum_returns_new, "in place"),
    ],
    "ch01.adam_update": [
        WrongAnswer("no bias correction", adam_no_bias_correction, "bias correction"),
        WrongAnswer("eps inside the square root", adam_eps_inside_sqrt, "eps inside the square root"),
        WrongAnswer("|grad| instead of grad²", adam_abs_not_square, "|grad|"),
        WrongAnswer("steps counted from 0", adam_step_from_zero, "counted the steps from 0"),
        WrongAnswer("bias-corrected state returned", adam_returns_corrected_state, "bias-corrected"),
        WrongAnswer("moments updated after the step", adam_old_moments, "before this step's gradient"),
        WrongAnswer("ignores the betas argument", adam_default_betas, "`betas` argument"),
        WrongAnswer("betas swapped", adam_swapped_betas, "swapped"),
        WrongAnswer("updates m and v in place", adam_in_place, "in place"),
        WrongAnswer("float64 results", adam_float64, "float64"),
        WrongAnswer("plain SGD", adam_sgd, "plain SGD step"),
    ],
    "ch01.accumulate_gradients": [
        WrongAnswer("divides by the number of micro-batches", accumulate_per_count, "number of micro-batches"),
        WrongAnswer("adds the micro-batch means", accumulate_unweighted, "without weighting"),
        WrongAnswer("keeps the old gradients", accumulate_no_zero, "did not clear the gradients"),
        WrongAnswer("zero_grad inside the loop", accumulate_zero_inside, "inside the loop"),
        WrongAnswer("assumes every micro-batch has the first one's size", accumulate_first_size,
                    "times the size of the first"),
        WrongAnswer("summed loss", accumulate_summed, "forgot to divide by the number of examples"),
        WrongAnswer("takes an optimizer step", accumulate_then_step, "only fills `.grad`"),
        WrongAnswer("accumulates into a copy", accumulate_on_copy, "not a copy"),
        WrongAnswer("returns a tensor", accumulate_returns_tensor, "Python float"),
        WrongAnswer("returns the mean of the micro-batch means", accumulate_mean_of_means, "plain average"),
        WrongAnswer("returns nothing", accumulate_no_return, "should be a Python float"),
        WrongAnswer("normalises the inputs in place", accumulate_normalises_in_place,
                    "changed its input `batches` in place"),
    ],
}

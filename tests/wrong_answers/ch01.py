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


# --- sgd_step ----------------------------------------------------------------------------------------


def sgd_adds_gradient(params, lr):
    with torch.no_grad():
        for p in params:
            if p.grad is not None:
                p += lr * p.grad


def sgd_returns_new(params, lr):
    return [p - lr * p.grad for p in params if p.grad is not None]


def sgd_rebinds(params, lr):
    with torch.no_grad():
        for p in params:
            if p.grad is not None:
                p = p - lr * p.grad  # noqa: PLW2901  (rebinding the loop name: the model never sees it)


def sgd_no_no_grad(params, lr):
    for p in params:
        if p.grad is not None:
            p -= lr * p.grad


def sgd_no_lr(params, lr):
    with torch.no_grad():
        for p in params:
            if p.grad is not None:
                p -= p.grad


def sgd_ignores_none(params, lr):
    with torch.no_grad():
        for p in params:
            p -= lr * p.grad


def sgd_fixed_lr(params, lr):
    with torch.no_grad():
        for p in params:
            if p.grad is not None:
                p -= 0.01 * p.grad


def sgd_divides(params, lr):
    with torch.no_grad():
        for p in params:
            if p.grad is not None:
                p -= p.grad / lr


def sgd_indexes(params, lr):
    with torch.no_grad():
        for i in range(len(params)):  # a generator such as model.parameters() has no len()
            if params[i].grad is not None:
                params[i] -= lr * params[i].grad


def sgd_returns_in_loop(params, lr):
    with torch.no_grad():
        for p in params:
            if p.grad is not None:
                p -= lr * p.grad
                return  # indented one level too deep: only the first parameter moves


def sgd_breaks_at_none(params, lr):
    with torch.no_grad():
        for p in params:
            if p.grad is None:
                break  # should be `continue`
            p -= lr * p.grad


def sgd_zeroes_grad(params, lr):
    with torch.no_grad():
        for p in params:
            if p.grad is not None:
                p -= lr * p.grad
                p.grad.zero_()


def sgd_clears_grad(params, lr):
    with torch.no_grad():
        for p in params:
            if p.grad is not None:
                p -= lr * p.grad
                p.grad = None


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


# --- train_loop --------------------------------------------------------------------------------------


def _loop(model, x, y, steps, lr, *, optimizer=None, loss_fn=F.cross_entropy, record_tensor=False):
    opt = optimizer or torch.optim.SGD(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss if record_tensor else loss.item())
    return losses


def loop_no_zero_grad(model, x, y, steps, lr):
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def loop_no_step(model, x, y, steps, lr):
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        losses.append(loss.item())
    return losses


def loop_zero_grad_too_late(model, x, y, steps, lr):
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.zero_grad()
        opt.step()
        losses.append(loss.item())
    return losses


def loop_fixed_lr(model, x, y, steps, lr):
    return _loop(model, x, y, steps, lr, optimizer=torch.optim.SGD(model.parameters(), lr=0.01))


def loop_tensor_losses(model, x, y, steps, lr):
    return _loop(model, x, y, steps, lr, record_tensor=True)


def loop_trains_copy(model, x, y, steps, lr):
    return _loop(copy.deepcopy(model), x, y, steps, lr)


def loop_no_return(model, x, y, steps, lr):
    _loop(model, x, y, steps, lr)


def loop_adam(model, x, y, steps, lr):
    return _loop(model, x, y, steps, lr, optimizer=torch.optim.Adam(model.parameters(), lr=lr))


def loop_momentum(model, x, y, steps, lr):
    return _loop(model, x, y, steps, lr, optimizer=torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9))


def loop_softmax_first(model, x, y, steps, lr):
    return _loop(model, x, y, steps, lr, loss_fn=lambda logits, y: F.cross_entropy(logits.softmax(-1), y))


def loop_nll_on_logits(model, x, y, steps, lr):
    return _loop(model, x, y, steps, lr, loss_fn=F.nll_loss)


def loop_summed_loss(model, x, y, steps, lr):
    return _loop(model, x, y, steps, lr, loss_fn=lambda logits, y: F.cross_entropy(logits, y, reduction="sum"))


def loop_loss_after_update(model, x, y, steps, lr):
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
        with torch.no_grad():
            losses.append(F.cross_entropy(model(x), y).item())
    return losses


def loop_one_step_short(model, x, y, steps, lr):
    return _loop(model, x, y, steps - 1, lr)


def loop_shuffles(model, x, y, steps, lr):
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        order = torch.randperm(len(x))  # the global generator: and full batch needs no shuffling
        loss = F.cross_entropy(model(x[order]), y[order])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def loop_seeds(model, x, y, steps, lr):
    torch.manual_seed(0)  # "for reproducibility": resets the caller's global generator
    return _loop(model, x, y, steps, lr)


def loop_normalises_x(model, x, y, steps, lr):
    x -= x.mean(dim=0)  # changes the caller's data
    return _loop(model, x, y, steps, lr)


def loop_minibatch(model, x, y, steps, lr):
    return _loop(model, x[:32], y[:32], steps, lr)  # full batch means all of x


def loop_tensor_result(model, x, y, steps, lr):
    return torch.tensor(_loop(model, x, y, steps, lr))


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
    "ch01.sgd_step": [
        WrongAnswer("adds the gradient", sgd_adds_gradient, "instead of subtracting"),
        WrongAnswer("returns new tensors", sgd_returns_new, "in place"),
        WrongAnswer("rebinds the loop variable", sgd_rebinds, "in place"),
        WrongAnswer("no torch.no_grad()", sgd_no_no_grad, "no_grad"),
        WrongAnswer("ignores lr", sgd_no_lr, "learning rate"),
        WrongAnswer("crashes on p.grad None", sgd_ignores_none, "no gradient"),
        WrongAnswer("fixed lr", sgd_fixed_lr, "instead of the `lr` argument"),
        WrongAnswer("divides by lr", sgd_divides, "divide by the learning rate"),
        WrongAnswer("len() on a generator", sgd_indexes, "one-shot iterator"),
        WrongAnswer("returns after the first parameter", sgd_returns_in_loop, "not updated"),
        WrongAnswer("stops at the first frozen parameter", sgd_breaks_at_none, "not updated"),
        WrongAnswer("zeroes the gradients", sgd_zeroes_grad, "zero_grad()"),
        WrongAnswer("clears the gradients", sgd_clears_grad, "zero_grad()"),
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
    "ch01.train_loop": [
        WrongAnswer("no zero_grad", loop_no_zero_grad, "zero_grad"),
        WrongAnswer("no optimizer.step()", loop_no_step, "optimizer.step()"),
        WrongAnswer("zero_grad between backward and step", loop_zero_grad_too_late,
                    "between backward() and step()"),
        WrongAnswer("ignores lr", loop_fixed_lr, "instead of the `lr` argument"),
        WrongAnswer("keeps loss tensors", loop_tensor_losses, ".item()"),
        WrongAnswer("trains a copy", loop_trains_copy, "don't train a copy"),
        WrongAnswer("returns nothing", loop_no_return, "forget to `return`"),
        WrongAnswer("Adam", loop_adam, "use Adam"),
        WrongAnswer("momentum", loop_momentum, "add momentum"),
        WrongAnswer("softmax before cross_entropy", loop_softmax_first, "raw logits"),
        WrongAnswer("nll_loss on logits", loop_nll_on_logits, "nll_loss"),
        WrongAnswer("summed loss", loop_summed_loss, "reduction='sum'"),
        WrongAnswer("loss recorded after the update", loop_loss_after_update, "after the update"),
        WrongAnswer("one step too few", loop_one_step_short, "one step fewer than `steps`"),
        WrongAnswer("shuffles with the global generator", loop_shuffles, "global random generator"),
        WrongAnswer("reseeds the global generator", loop_seeds, "global random generator"),
        WrongAnswer("normalises x in place", loop_normalises_x, "changed its input `x` in place"),
        WrongAnswer("trains on a mini-batch", loop_minibatch, "of the list of losses is wrong"),
        WrongAnswer("returns a tensor of losses", loop_tensor_result, "should be a list"),
    ],
}

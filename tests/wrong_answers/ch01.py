"""Plausible wrong answers to chapter 1's exercises, each with a phrase the grader's message must contain."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

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


# --- mse_and_grad ------------------------------------------------------------------------------------


def mse_no_mean(pred, target):
    diff = pred - target
    return (diff**2).mean(), 2 * diff


def mse_no_two(pred, target):
    diff = pred - target
    return (diff**2).mean(), diff / diff.numel()


def mse_sign_flipped(pred, target):
    diff = pred - target
    return (diff**2).mean(), 2 * (target - pred) / diff.numel()


def mse_sum_loss(pred, target):
    diff = pred - target
    return (diff**2).sum(), 2 * diff / diff.numel()


def mse_rows(pred, target):
    diff = pred - target
    return (diff**2).sum() / len(pred), 2 * diff / len(pred)


def mse_autograd(pred, target):
    pred = pred.clone().requires_grad_(True)
    loss = ((pred - target) ** 2).mean()
    loss.backward()
    return loss.detach(), pred.grad


def mse_backward_on_input(pred, target):
    pred.requires_grad_(True)
    loss = ((pred - target) ** 2).mean()
    loss.backward()
    return loss.detach(), pred.grad


def mse_autograd_on_copy(pred, target):
    p = pred.detach().requires_grad_(True)
    loss = ((p - target) ** 2).mean()
    loss.backward()
    return loss, p.grad


def mse_autograd_on_detached_copies(pred, target):
    p = pred.detach().clone().requires_grad_(True)
    loss = ((p - target.detach()) ** 2).mean()
    (grad,) = torch.autograd.grad(loss, p, create_graph=True)  # keeps the graph: nothing else fails
    return loss, grad.detach()


def mse_autograd_grad(pred, target):
    pred = pred.requires_grad_(True)
    loss = ((pred - target) ** 2).mean()
    (grad,) = torch.autograd.grad(loss, pred)
    return loss, grad


def mse_item(pred, target):
    diff = pred - target
    return (diff**2).mean().item(), 2 * diff / diff.numel()


def mse_float64(pred, target):
    diff = pred.double() - target.double()
    return (diff**2).mean(), 2 * diff / diff.numel()


def mse_in_place(pred, target):
    pred -= target
    return (pred**2).mean(), 2 * pred / pred.numel()


def mse_squeezes(pred, target):
    diff = (pred - target).squeeze()
    return (diff**2).mean(), 2 * diff / diff.numel()


def mse_abs(pred, target):
    diff = pred - target
    return (diff**2).mean(), 2 * diff.abs() / diff.numel()


def mse_fixed_n(pred, target):
    diff = pred - target
    return (diff**2).mean(), diff / 4  # 2/n with the n of one example worked on paper


def mse_last_dim(pred, target):
    diff = pred - target
    return (diff**2).mean(dim=-1), 2 * diff / diff.numel()


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


# --- MiniModel ---------------------------------------------------------------------------------------


class MiniNoRelu(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(10, 5)

    def forward(self, x):
        return self.linear(x)


class MiniSwapped(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(5, 10)

    def forward(self, x):
        return torch.relu(self.linear(x))


class MiniNoSuper(nn.Module):
    def __init__(self):
        self.linear = nn.Linear(10, 5)

    def forward(self, x):
        return torch.relu(self.linear(x))


class MiniLayerInForward(nn.Module):
    def forward(self, x):
        return torch.relu(nn.Linear(10, 5)(x))  # a new random layer every call, never registered


class MiniNotAModule:
    def __init__(self):
        self.linear = nn.Linear(10, 5)

    def __call__(self, x):
        return torch.relu(self.linear(x))


class MiniNoBias(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(10, 5, bias=False)

    def forward(self, x):
        return torch.relu(self.linear(x))


class MiniPlainList(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = [nn.Linear(10, 5)]  # a plain list: PyTorch does not register what is inside

    def forward(self, x):
        return torch.relu(self.layers[0](x))


class MiniReluFirst(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(10, 5)

    def forward(self, x):
        return self.linear(torch.relu(x))


class MiniSigmoid(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(10, 5)

    def forward(self, x):
        return torch.sigmoid(self.linear(x))


class MiniNoGrad(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(10, 5)

    def forward(self, x):
        with torch.no_grad():
            return torch.relu(self.linear(x))


class MiniFlattens(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(10, 5)

    def forward(self, x):
        return torch.relu(self.linear(x.view(-1, 10)))  # (B, T, 10) becomes (B*T, 10)


class MiniSqueezes(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(10, 5)

    def forward(self, x):
        return torch.relu(self.linear(x.squeeze()))  # a batch of one loses its batch dimension


class MiniTwoLayers(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(10, 5)
        self.spare = nn.Linear(5, 5)  # created "just in case", never used

    def forward(self, x):
        return torch.relu(self.linear(x))


class MiniWeightData(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(10, 5)

    def forward(self, x):
        return torch.relu(x @ self.linear.weight.data.T + self.linear.bias)


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
    "ch01.mse_and_grad": [
        WrongAnswer("gradient without 1/n", mse_no_mean, "1/n"),
        WrongAnswer("gradient without the 2", mse_no_two, "factor 2"),
        WrongAnswer("gradient sign flipped", mse_sign_flipped, "flip the sign"),
        WrongAnswer("summed loss", mse_sum_loss, "sum the squared differences"),
        WrongAnswer("divides by rows", mse_rows, "rows"),
        WrongAnswer("uses autograd", mse_autograd, "by hand"),
        WrongAnswer("backward on the input", mse_backward_on_input, "by hand"),
        WrongAnswer("autograd on a detached copy", mse_autograd_on_copy, "by hand"),
        WrongAnswer("torch.autograd.grad", mse_autograd_grad, "by hand"),
        WrongAnswer("autograd.grad on detached copies", mse_autograd_on_detached_copies, "made to require grad"),
        WrongAnswer("loss as a Python float", mse_item, "0-d tensor"),
        WrongAnswer("float64 results", mse_float64, "float64"),
        WrongAnswer("changes pred in place", mse_in_place, "in place"),
        WrongAnswer("squeeze breaks a batch of one", mse_squeezes, "should have shape (1,"),
        WrongAnswer("gradient from |diff|", mse_abs, "|pred - target|"),
        WrongAnswer("hard-coded n", mse_fixed_n, "the gradient for a"),
        WrongAnswer("mean over the last dimension only", mse_last_dim, "the loss has shape"),
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
    "ch01.MiniModel": [
        WrongAnswer("no ReLU", MiniNoRelu, "forgot the ReLU"),
        WrongAnswer("in and out swapped", MiniSwapped, "nn.Linear(5, 10)"),
        WrongAnswer("no super().__init__()", MiniNoSuper, "super().__init__()"),
        WrongAnswer("layer created in forward", MiniLayerInForward, "no registered parameters"),
        WrongAnswer("not an nn.Module", MiniNotAModule, "subclass nn.Module"),
        WrongAnswer("no bias", MiniNoBias, "= 55"),
        WrongAnswer("layer in a plain list", MiniPlainList, "no registered parameters"),
        WrongAnswer("ReLU before the layer", MiniReluFirst, "before the layer"),
        WrongAnswer("sigmoid instead of ReLU", MiniSigmoid, "sigmoid"),
        WrongAnswer("forward under no_grad", MiniNoGrad, "cut off from autograd"),
        WrongAnswer("flattens leading dimensions", MiniFlattens, "but should have shape"),
        WrongAnswer("squeeze breaks a batch of one", MiniSqueezes, "should have shape (1,"),
        WrongAnswer("an extra, unused layer", MiniTwoLayers, "exactly one"),
        WrongAnswer("weight through .data", MiniWeightData, "no gradient reaches the layer's weight"),
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

"""Plausible wrong answers to chapter 1's exercises, each with a phrase the grader's message must contain."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from . import WrongAnswer

# --- linear_forward ----------------------------------------------------------------------------


def linear_no_bias(x, weight, bias):
    return x @ weight.T


def linear_no_transpose(x, weight, bias):
    return x @ weight + bias


def linear_mm(x, weight, bias):
    return torch.mm(x, weight.T) + bias  # fine for 2-D input, fails on (batch, time, features)


# --- mse_and_grad ------------------------------------------------------------------------------


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


# --- sgd_step ----------------------------------------------------------------------------------


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


# --- MiniModel ---------------------------------------------------------------------------------


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


# --- train_loop --------------------------------------------------------------------------------


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
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def loop_tensor_losses(model, x, y, steps, lr):
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss)
    return losses


def loop_trains_copy(model, x, y, steps, lr):
    model = copy.deepcopy(model)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def loop_no_return(model, x, y, steps, lr):
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()


WRONG_ANSWERS: dict[str, list[WrongAnswer]] = {
    "ch01.linear_forward": [
        WrongAnswer("forgot the bias", linear_no_bias, "forgot to add the bias"),
        WrongAnswer("weight not transposed", linear_no_transpose, "without transposing"),
        WrongAnswer("torch.mm only handles 2-D", linear_mm, "leading dimensions"),
    ],
    "ch01.mse_and_grad": [
        WrongAnswer("gradient without 1/n", mse_no_mean, "1/n"),
        WrongAnswer("gradient without the 2", mse_no_two, "factor 2"),
        WrongAnswer("gradient sign flipped", mse_sign_flipped, "flip the sign"),
        WrongAnswer("summed loss", mse_sum_loss, "sum the squared differences"),
        WrongAnswer("divides by rows", mse_rows, "rows"),
        WrongAnswer("uses autograd", mse_autograd, "autograd"),
    ],
    "ch01.sgd_step": [
        WrongAnswer("adds the gradient", sgd_adds_gradient, "instead of subtracting"),
        WrongAnswer("returns new tensors", sgd_returns_new, "in place"),
        WrongAnswer("rebinds the loop variable", sgd_rebinds, "in place"),
        WrongAnswer("no torch.no_grad()", sgd_no_no_grad, "no_grad"),
        WrongAnswer("ignores lr", sgd_no_lr, "learning rate"),
        WrongAnswer("crashes on p.grad None", sgd_ignores_none, "no gradient"),
    ],
    "ch01.MiniModel": [
        WrongAnswer("no ReLU", MiniNoRelu, "forgot the ReLU"),
        WrongAnswer("in and out swapped", MiniSwapped, "nn.Linear(5, 10)"),
        WrongAnswer("no super().__init__()", MiniNoSuper, "super().__init__()"),
        WrongAnswer("layer created in forward", MiniLayerInForward, "no registered parameters"),
        WrongAnswer("not an nn.Module", MiniNotAModule, "subclass nn.Module"),
    ],
    "ch01.train_loop": [
        WrongAnswer("no zero_grad", loop_no_zero_grad, "zero_grad"),
        WrongAnswer("no optimizer.step()", loop_no_step, "optimizer.step()"),
        WrongAnswer("zero_grad between backward and step", loop_zero_grad_too_late,
                    "between backward() and step()"),
        WrongAnswer("ignores lr", loop_fixed_lr, "instead of the `lr` argument"),
        WrongAnswer("keeps loss tensors", loop_tensor_losses, "loss.item()"),
        WrongAnswer("trains a copy", loop_trains_copy, "don't train a copy"),
        WrongAnswer("returns nothing", loop_no_return, "return losses"),
    ],
}

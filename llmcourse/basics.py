"""Chapter 1's building blocks: a toy dataset, the first models, a decision-boundary plot, a matmul timer.

Chapter 1 (``chapters/01_pytorch_basics.ipynb``) builds each of these step by step; later chapters
import them from here instead of copying them:

- :func:`make_spirals` — two interleaved spirals in 2-D, a problem no straight line can solve, so a
  network has to learn a curved boundary. Seeded and generated in a few lines (no download, no sklearn).
- :class:`MiniModel` — the smallest ``nn.Module``: one ``nn.Linear(10, 5)`` and a ReLU.
- :class:`MLP` — a small multi-layer perceptron classifier (Linear → ReLU → ... → Linear).
- :func:`accuracy`, :func:`plot_decision_boundary` — to judge a classifier by number and by eye.
- :func:`time_matmul`, :func:`matmul_gflops` — why GPUs matter: time the operation LLMs spend their time on.

Left out on purpose: data loaders, mini-batching and regularisation (later chapters add what they need).
The spirals follow the classic CS231n example (https://cs231n.github.io/neural-networks-case-study/).
"""

from __future__ import annotations

import math
import time

import torch
from torch import nn

from .device import synchronize


def make_spirals(
    n_points: int, n_classes: int = 2, noise: float = 0.1, turns: float = 1.5, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n_points`` 2-D points on ``n_classes`` interleaved spiral arms, shuffled, with labels.

    Each arm starts at the centre and winds ``turns`` times outwards; arm ``k`` is the first arm
    rotated by ``k / n_classes`` of a full circle, so the classes wrap around each other and only a
    curved boundary separates them. ``noise`` is the standard deviation of the Gaussian jitter
    (the spiral's radius is 1). Same ``seed``, same points, on every machine.

    Returns ``x`` of shape (n_points, 2), float32, and ``y`` of shape (n_points,), int64 in [0, n_classes).
    """
    if n_points < n_classes:
        raise ValueError(f"need at least one point per class, got n_points={n_points}, n_classes={n_classes}")
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n_points) % n_classes  # (N,) balanced classes: 0, 1, 0, 1, ...
    t = torch.rand(n_points, generator=g)  # (N,) position along the arm, 0 = centre, 1 = tip
    angle = 2 * math.pi * (turns * t + y / n_classes)  # (N,)
    radius = 0.1 + 0.9 * t  # start a little off-centre so the arms don't all meet in one point
    x = torch.stack([radius * torch.cos(angle), radius * torch.sin(angle)], dim=1)  # (N, 2)
    x = x + noise * radius[:, None] * torch.randn(n_points, 2, generator=g)  # jitter grows outwards
    order = torch.randperm(n_points, generator=g)
    return x[order].float(), y[order]


class MiniModel(nn.Module):
    """The first ``nn.Module`` of the course: 10 numbers in, 5 out, through one layer and a ReLU.

    It has 10 * 5 weights + 5 biases = 55 parameters, all registered by ``nn.Linear``.
    """

    def __init__(self) -> None:
        super().__init__()  # must come first: it sets up the bookkeeping that registers layers
        self.linear = nn.Linear(10, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.linear(x))  # (..., 10) -> (..., 5)


class MLP(nn.Module):
    """A multi-layer perceptron: ``n_layers`` hidden layers of width ``hidden`` with ReLU, then logits.

    ``MLP(2, 64, 2)`` maps 2-D points to one score (a logit) per class; ``F.cross_entropy`` turns the
    logits into a loss. The same Linear → nonlinearity → Linear shape is the feed-forward part of
    every transformer block (chapter 6).
    """

    def __init__(self, n_in: int, hidden: int, n_out: int, n_layers: int = 2) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = n_in
        for _ in range(n_layers):
            layers += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        layers.append(nn.Linear(width, n_out))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # (N, n_in) -> (N, n_out) logits


def count_parameters(model: nn.Module) -> int:
    """How many numbers training can change: the size a model is quoted by ("124M parameters")."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@torch.no_grad()
def accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    """The fraction of rows whose highest logit is the true class: (N, C) logits, (N,) labels."""
    return (logits.argmax(dim=-1) == y).float().mean().item()


@torch.no_grad()
def plot_decision_boundary(model: nn.Module, x: torch.Tensor, y: torch.Tensor, ax=None, resolution: int = 200,
                           title: str = "decision boundary"):
    """Colour the plane by the class ``model`` predicts there and scatter the points on top.

    A picture of what the network learned: a linear model can only split the plane with a straight
    line, a trained MLP bends its boundary around the spirals. The axes are the two input coordinates
    and a legend names each class's colour. Returns the matplotlib axes.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5, 5))
    x, y = x.detach().cpu(), y.detach().cpu()
    lo, hi = x.min(dim=0).values - 0.2, x.max(dim=0).values + 0.2  # (2,) each
    gx, gy = torch.meshgrid(torch.linspace(lo[0], hi[0], resolution),
                            torch.linspace(lo[1], hi[1], resolution), indexing="xy")  # (R, R) each
    grid = torch.stack([gx.flatten(), gy.flatten()], dim=1)  # (R*R, 2)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    pred = model(grid.to(device)).argmax(dim=-1).cpu().reshape(resolution, resolution)  # (R, R)
    model.train(was_training)
    n_classes = int(max(y.max().item(), pred.max().item())) + 1
    ax.contourf(gx, gy, pred, levels=torch.arange(n_classes + 1) - 0.5, cmap="coolwarm", alpha=0.4)
    points = ax.scatter(x[:, 0], x[:, 1], c=y, cmap="coolwarm", s=6, vmin=0, vmax=n_classes - 1)
    for k in sorted(set(y.tolist())):  # an empty plot per class, only to put its colour in the legend
        ax.scatter([], [], color=points.cmap(points.norm(k)), s=12, label=f"class {k}")
    ax.legend(loc="upper right", fontsize="small")
    ax.set(xlabel="$x_1$", ylabel="$x_2$", aspect="equal", title=title)
    return ax


def time_matmul(n: int, device: torch.device | str = "cpu", repeats: int = 5) -> float:
    """Seconds one (n, n) @ (n, n) float32 matrix multiply takes on ``device`` (the fastest of ``repeats``).

    One untimed warm-up run first (it pays for memory allocation and GPU kernel selection), and
    :func:`~llmcourse.device.synchronize` around the clock, because GPU calls return before the
    work is done. Taking the fastest run filters out noise from other programs.
    """
    device = torch.device(device)
    g = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=g).to(device)
    b = torch.randn(n, n, generator=g).to(device)
    a @ b  # warm-up
    synchronize(device)
    best = math.inf
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        a @ b
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    return best


def matmul_gflops(n: int, seconds: float) -> float:
    """Throughput of an (n, n) @ (n, n) multiply: n*n dot products of length n, 2 FLOPs per term."""
    return 2 * n**3 / seconds / 1e9

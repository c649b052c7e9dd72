"""Timing a recurrent layer's forward + backward pass: our Python loop against PyTorch's fused kernels.

Chapter 4 and ``benchmarks/rnn.py`` use this to compare :class:`~llmcourse.rnn.cells.Recurrent` with
``nn.LSTM`` / ``nn.RNN``. Speed is reported as a ratio measured in the same run, never asserted in a
test. What it leaves out: memory use, and ``torch.compile`` of the hand-written loop.
"""

from __future__ import annotations

import statistics
import time

import torch
from torch import nn

from ..device import synchronize


def time_forward_backward(module: nn.Module, x: torch.Tensor, repeats: int = 5, warmup: int = 2) -> float:
    """Median seconds of ``repeats`` passes of ``module(x)[0].sum().backward()``, after ``warmup`` untimed ones."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    times = []
    for n in range(warmup + repeats):
        module.zero_grad(set_to_none=True)
        xs = x.detach().requires_grad_(True)
        synchronize(x.device)
        start = time.perf_counter()
        out, _ = module(xs)  # (B, T, H)
        out.sum().backward()
        synchronize(x.device)  # wait for the GPU, so the timer measures the work and not its launch
        if n >= warmup:
            times.append(time.perf_counter() - start)
    return statistics.median(times)

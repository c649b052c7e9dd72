"""Timing our hand-written recurrent layer against PyTorch's: one function for the chapter and the benchmark.

Chapter 4 and ``benchmarks/rnn.py`` both call :func:`compare_with_torch`, so a ratio printed in the chapter
and one in ``benchmarks/results/rnn_cpu.txt`` are measured the same way: the same shapes, the same weights
(ours copied from ``nn.LSTM`` / ``nn.RNN``), the same pass (forward, ``out.sum().backward()``: gradients of
every weight and of the input), the same warm-up, the same number of CPU threads, and the median of the
same number of timed passes. The two modules are timed in turns (ours, theirs, ours, ...), so that a machine
busy with other work slows both alike. Speed is reported as a ratio measured in the same run, never asserted
in a test. What it leaves out: memory use, and ``torch.compile`` of the hand-written loop.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import torch
from torch import nn

from ..device import cpu_threads, synchronize
from .cells import Recurrent


def forward_backward_seconds(module: nn.Module, x: torch.Tensor) -> float:
    """Seconds of one ``module(x)[0].sum().backward()``, gradients of the weights and of ``x`` included."""
    module.zero_grad(set_to_none=True)
    xs = x.detach().requires_grad_(True)
    synchronize(x.device)
    start = time.perf_counter()
    out, _ = module(xs)  # (B, T, H)
    out.sum().backward()
    synchronize(x.device)  # on a GPU, wait for the work itself, not just its launch
    return time.perf_counter() - start


@dataclass
class Timing:
    """One shape's result: median seconds of ours and of ``torch.nn``, and how far their outputs differ."""

    kind: str
    batch: int
    T: int
    hidden: int
    threads: int
    ours_s: float
    torch_s: float
    max_diff: float

    @property
    def ratio(self) -> float:
        """How many times slower ours is than PyTorch's (above 1: slower)."""
        return self.ours_s / self.torch_s

    HEADER = (f"{'kind':>5s} {'batch':>5s} {'T':>4s} {'hidden':>6s} {'threads':>7s} | {'ours ms':>9s} "
              f"{'torch ms':>9s} {'ratio':>6s} | max |diff| of outputs")

    def row(self) -> str:
        return (f"{self.kind:>5s} {self.batch:5d} {self.T:4d} {self.hidden:6d} {self.threads:7d} | "
                f"{self.ours_s * 1e3:9.2f} {self.torch_s * 1e3:9.2f} {self.ratio:6.2f} | {self.max_diff:.1e}")


def compare_with_torch(kind: str, batch: int, T: int, hidden: int, *, device: torch.device | str = "cpu",
                       repeats: int = 7, warmup: int = 2, threads: int = 1, seed: int = 0) -> Timing:
    """Time our :class:`Recurrent` and ``nn.LSTM`` / ``nn.RNN`` with the same weights on (batch, T, hidden) inputs.

    Each module runs ``warmup`` untimed passes, then ``repeats`` timed ones, in turns with the other; the
    result is the median of each. ``threads`` is set for the measurement only and restored afterwards.
    """
    if kind not in ("rnn", "lstm"):
        raise ValueError(f"kind must be 'rnn' or 'lstm', got {kind!r}")
    if repeats < 1 or warmup < 0 or threads < 1:
        raise ValueError(f"need repeats >= 1, warmup >= 0 and threads >= 1, got {repeats}, {warmup} and {threads}")
    device = torch.device(device)
    with cpu_threads(threads):
        generator = torch.Generator().manual_seed(seed)
        torch_cls = nn.LSTM if kind == "lstm" else nn.RNN
        with torch.random.fork_rng(devices=[]):  # the weights' draw leaves the caller's global generator alone
            torch.manual_seed(seed)
            theirs = torch_cls(hidden, hidden, batch_first=True).to(device)
        ours = Recurrent(kind, hidden, hidden).to(device).load_torch(theirs)
        x = torch.randn(batch, T, hidden, generator=generator).to(device)  # (B, T, H)
        with torch.no_grad():
            max_diff = (ours(x)[0] - theirs(x)[0]).abs().max().item()
        times: dict[str, list[float]] = {"ours": [], "torch": []}
        for n in range(warmup + repeats):
            for name, module in (("ours", ours), ("torch", theirs)):
                seconds = forward_backward_seconds(module, x)
                if n >= warmup:
                    times[name].append(seconds)
    return Timing(kind, batch, T, hidden, threads, statistics.median(times["ours"]),
                  statistics.median(times["torch"]), max_diff)

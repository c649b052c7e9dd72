"""Attention in tiles with an online softmax: the idea behind FlashAttention, in plain PyTorch (chapter 5).

Naive attention builds the whole (T, T) score matrix, then its softmax: memory that grows as T^2. The softmax
of a row can instead be computed in pieces. Keep, for each query, the largest score seen so far ``m``, the
sum of ``exp(score - m)`` so far ``total``, and the weighted sum of values so far ``acc``. A new tile of keys with
scores ``s`` updates them exactly:

    m_new = max(m, max(s));   c = exp(m - m_new)                  # c rescales what was summed before
    total = c * total + sum(exp(s - m_new))
    acc   = c * acc + exp(s - m_new) @ v_tile
    out   = acc / total                                              # after the last tile: softmax(s) @ v

So only one (block_q, block_k) tile of scores exists at a time, and the result equals the naive one up to
float rounding (the sums are taken in another order). FlashAttention (Dao et al., 2022) does this inside one
GPU kernel, keeping the tiles in fast on-chip memory; here a Python loop shows the arithmetic, and
:func:`peak_cpu_memory` measures what each version allocates (chapter 5 and ``benchmarks/attention.py``).
What it leaves out: the backward pass (FlashAttention recomputes the tiles instead of storing the weights),
masks other than the causal one, and speed — a Python loop over tiles is slower than one fused kernel.
"""

from __future__ import annotations

import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch

from .core import _check_qkv, attention


def tiled_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, causal: bool = False,
                    block_q: int = 64, block_k: int = 64) -> torch.Tensor:
    """softmax(q k^T / sqrt(d)) v (optionally causal, SDPA's top-left alignment), one tile of scores at a time."""
    _check_qkv(q, k, v)
    if block_q < 1 or block_k < 1:
        raise ValueError(f"block sizes must be >= 1, got block_q={block_q}, block_k={block_k}")
    t_q, t_k = q.size(-2), k.size(-2)
    scale = 1 / math.sqrt(q.size(-1))
    batch = torch.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    out = q.new_empty(*batch, t_q, v.size(-1))  # (..., Tq, dv)
    for i0 in range(0, t_q, block_q):
        qi = q[..., i0:i0 + block_q, :] * scale  # (..., bq, d)
        rows = torch.arange(i0, i0 + qi.size(-2), device=q.device).unsqueeze(1)  # (bq, 1): query positions
        m = q.new_full((*batch, qi.size(-2), 1), float("-inf"))  # running max of each row's scores
        total = q.new_zeros((*batch, qi.size(-2), 1))  # running sum of exp(score - m)
        acc = q.new_zeros((*batch, qi.size(-2), v.size(-1)))  # running sum of exp(score - m) * v
        stop = min(t_k, i0 + qi.size(-2)) if causal else t_k  # causal: later key tiles are all masked
        for j0 in range(0, stop, block_k):
            s = qi @ k[..., j0:j0 + block_k, :].transpose(-2, -1)  # (..., bq, bk): one tile of scores
            if causal:
                cols = torch.arange(j0, j0 + s.size(-1), device=q.device).unsqueeze(0)  # (1, bk)
                s = s.masked_fill(cols > rows, float("-inf"))
            m_new = torch.maximum(m, s.amax(dim=-1, keepdim=True))  # (..., bq, 1)
            p = torch.exp(s - m_new)  # (..., bq, bk): unnormalised weights of this tile
            correction = torch.exp(m - m_new)  # how much the old sums shrink under the new max
            total = total * correction + p.sum(dim=-1, keepdim=True)
            acc = acc * correction + p @ v[..., j0:j0 + block_k, :]
            m = m_new
        out[..., i0:i0 + qi.size(-2), :] = acc / total
    return out


def online_softmax(scores: torch.Tensor, block: int) -> torch.Tensor:
    """softmax over the last dimension, reading it ``block`` entries at a time (a running max and sum).

    Two passes: the first keeps (max, sum of exp) per row, rescaling the sum whenever the max grows; the
    second normalises. Equal to ``torch.softmax(scores, -1)`` up to rounding; it is the 1-d core of the tiling.
    """
    m = scores.new_full(scores.shape[:-1] + (1,), float("-inf"))
    total = scores.new_zeros(scores.shape[:-1] + (1,))
    for j0 in range(0, scores.size(-1), block):
        tile = scores[..., j0:j0 + block]
        m_new = torch.maximum(m, tile.amax(dim=-1, keepdim=True))
        total = total * torch.exp(m - m_new) + torch.exp(tile - m_new).sum(dim=-1, keepdim=True)
        m = m_new
    return torch.exp(scores - m) / total


@contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null for the body (C++ code writes there directly, not via sys.stderr)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def peak_cpu_memory(fn: Callable[[], Any]) -> tuple[int, Any]:
    """(peak bytes the CPU allocator held for ``fn()`` above what was there before, its result).

    Read from PyTorch's profiler (``profile_memory=True``): every allocation and free of the CPU allocator
    during the call, in time order, also those a fused kernel makes and frees inside itself; the peak of
    their running sum. Tensors that existed before the call (the inputs) are not counted. Run under
    ``torch.no_grad()`` to leave out what autograd would keep for the backward pass.
    """
    try:  # the profiler's event tree is not a stable API: say so clearly if a PyTorch release moves it
        from torch._C._profiler import _EventType
    except ImportError as err:
        raise RuntimeError(f"peak_cpu_memory needs torch.profiler's event tree, which torch {torch.__version__} "
                           "does not offer") from err
    from torch.profiler import ProfilerActivity, profile

    prof = profile(activities=[ProfilerActivity.CPU], profile_memory=True)
    with _quiet_stderr():  # the profiler's C++ side logs a line to stderr at every start and stop
        prof.start()
    try:
        result = fn()
    finally:
        with _quiet_stderr():
            prof.stop()
    events, stack = [], list(prof.profiler.kineto_results.experimental_event_tree())
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        if node.tag == _EventType.Allocation and node.extra_fields.device.type == "cpu":
            events.append((node.start_time_ns, node.extra_fields.alloc_size))
    current = peak = 0
    for _, size in sorted(events, key=lambda e: e[0]):
        current += size
        peak = max(peak, current)
    return peak, result


@dataclass
class AttentionCost:
    """One version at one length: median seconds of a forward pass, peak CPU bytes, max |diff| from naive."""

    version: str
    T: int
    seconds: float
    peak_bytes: int
    max_diff: float

    HEADER = f"{'version':>7s} {'T':>6s} | {'time ms':>9s} {'peak MiB':>9s} | max |diff| from naive"

    def row(self) -> str:
        return (f"{self.version:>7s} {self.T:6d} | {self.seconds * 1e3:9.2f} {self.peak_bytes / 2**20:9.2f} | "
                f"{self.max_diff:.1e}")


VERSIONS: dict[str, Callable[..., torch.Tensor]] = {
    "naive": lambda q, k, v, causal: attention(q, k, v, causal=causal)[0],
    "tiled": lambda q, k, v, causal: tiled_attention(q, k, v, causal=causal, block_q=128, block_k=128),
    "sdpa": lambda q, k, v, causal: torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal),
}


def compare_attention(t: int, *, batch: int = 1, n_head: int = 4, head_dim: int = 64, causal: bool = False,
                      repeats: int = 5, seed: int = 0) -> list[AttentionCost]:
    """Time and measure naive, tiled (128 x 128 tiles) and SDPA attention on q, k, v of shape (batch, n_head, t,
    head_dim), forward only under ``torch.no_grad()``: one function for chapter 5 and ``benchmarks/attention.py``.

    Peak memory from :func:`peak_cpu_memory` (one extra call); time the median of ``repeats`` calls after one
    warm-up, the versions in turns so that a busy machine slows all alike. CPU only, on any machine: the tensors are
    made on the CPU and the memory is the CPU allocator's (a GPU would need CUDA tensors, synchronised timing and
    ``torch.cuda.max_memory_allocated``, which this function does not do).
    """
    gen = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(batch, n_head, t, head_dim, generator=gen) for _ in range(3))
    times: dict[str, list[float]] = {name: [] for name in VERSIONS}
    peaks, outs = {}, {}
    with torch.no_grad():
        for name, fn in VERSIONS.items():
            peaks[name], outs[name] = peak_cpu_memory(lambda fn=fn: fn(q, k, v, causal))
        for _ in range(repeats):
            for name, fn in VERSIONS.items():
                start = time.perf_counter()
                fn(q, k, v, causal)
                times[name].append(time.perf_counter() - start)
    return [AttentionCost(name, t, statistics.median(times[name]), peaks[name],
                          float((outs[name] - outs["naive"]).abs().max())) for name in VERSIONS]

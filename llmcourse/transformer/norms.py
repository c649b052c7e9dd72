"""Normalisation layers, written out: LayerNorm and RMSNorm (chapter 6).

    LayerNorm: y = (x - mean(x)) / sqrt(var(x) + eps) * weight + bias      # over the last dim, biased var
    RMSNorm:   y = x / sqrt(mean(x^2) + eps) * weight                       # no centring, no bias

Both normalise each position's vector of features on its own (never across the batch, unlike batch norm),
so a token's output does not depend on which other sequences share its batch, and training and inference
compute the same thing. The parameters are named as PyTorch's (``weight``, ``bias``), so a state dict of
``nn.LayerNorm`` / ``nn.RMSNorm`` loads into these and back; chapter 6's tests check both give the same
numbers and gradients to float32 rounding.

What it leaves out: normalising over several trailing dims (``normalized_shape`` of length > 1) and fused
kernels (PyTorch's are faster; these are for reading).

References: Ba, Kiros & Hinton (2016), "Layer Normalization"; Zhang & Sennrich (2019), "Root Mean Square
Layer Normalization" (used by LLaMA, Touvron et al. 2023).
"""

from __future__ import annotations

import torch
from torch import nn


def _check_width(x: torch.Tensor, n_embd: int, name: str) -> None:
    if x.dim() < 1 or x.size(-1) != n_embd:
        raise ValueError(f"{name} normalises a last dimension of {n_embd} features, got shape {tuple(x.shape)}")


class LayerNorm(nn.Module):
    """Layer normalisation over the last dimension, as ``nn.LayerNorm(n_embd, eps, bias=bias)``."""

    def __init__(self, n_embd: int, eps: float = 1e-5, bias: bool = True) -> None:
        super().__init__()
        self.n_embd, self.eps = n_embd, eps
        self.weight = nn.Parameter(torch.ones(n_embd))  # gamma: a gain per feature
        self.bias = nn.Parameter(torch.zeros(n_embd)) if bias else None  # beta: a shift per feature

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_width(x, self.n_embd, "LayerNorm")
        mean = x.mean(-1, keepdim=True)  # (..., 1)
        var = x.var(-1, keepdim=True, unbiased=False)  # (..., 1): divided by C, not C - 1
        y = (x - mean) * torch.rsqrt(var + self.eps) * self.weight  # (..., C)
        return y if self.bias is None else y + self.bias

    def extra_repr(self) -> str:
        return f"{self.n_embd}, eps={self.eps}, bias={self.bias is not None}"


class RMSNorm(nn.Module):
    """Root-mean-square normalisation over the last dimension, as ``nn.RMSNorm(n_embd, eps=eps)``."""

    def __init__(self, n_embd: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.n_embd, self.eps = n_embd, eps
        self.weight = nn.Parameter(torch.ones(n_embd))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_width(x, self.n_embd, "RMSNorm")
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight  # (..., C)

    def extra_repr(self) -> str:
        return f"{self.n_embd}, eps={self.eps}"


def make_norm(kind: str, n_embd: int, bias: bool = True) -> nn.Module:
    """``"layer"`` -> :class:`LayerNorm`, ``"rms"`` -> :class:`RMSNorm` (which has no bias), ``"none"`` -> the
    identity (chapter 6's ablation: a block with its norms taken out)."""
    if kind == "layer":
        return LayerNorm(n_embd, bias=bias)
    if kind == "rms":
        return RMSNorm(n_embd)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"norm must be 'layer', 'rms' or 'none', got {kind!r}")

"""Gradient flow against depth: no residual, post-LN and pre-LN stacks at initialisation (chapter 6).

For a stack of ``n_layer`` encoder blocks on random inputs x (B, T, C), take a fixed random linear readout of
the output, ``L = mean(y * g)``, and measure what reaches the bottom:

- :func:`gradient_norms_vs_depth`: for each depth and variant, the norm of dL/dx at the input (geometric
  mean over seeds) and how alike the gradients of different positions are (mean cosine similarity between
  dL/dx_t and dL/dx_s, t != s: 1 means every token is told the same thing, so none can be told apart);
- :func:`layer_gradient_norms`: the norm of each block's parameter gradient in one deep stack;
- :func:`ffn_gradient_norms`: Xiong et al.'s measurement on a real loss: the norm of the gradient of each
  block's second feed-forward weight (``ffn.proj.weight``, their ``W^{2,l}``) for a language model's loss on
  real text, at initialisation (:func:`xavier_init_` gives the Xavier initialisation of their analysis).

A residual connection gives the gradient a path that skips every sublayer (the identity): each token's
gradient reaches its own input directly. Without it, stacked attention averages the positions together
(Dong et al. 2021's rank collapse) and the gradient does the same; post-LN keeps the path but puts a norm on it
after every sublayer.

Xiong et al. prove that at initialisation a post-LN transformer's gradients are large for the parameters near
the output (for the last layer's ``W^2``, a bound of order d sqrt(ln d), against d sqrt(ln d / L) for pre-LN)
and show post-LN's growing with the layer index while pre-LN's stay about level; a large learning rate on those
gradients is what the warm-up protects.

References: He et al. (2016) for residual connections; Xiong et al. (2020), "On Layer Normalization in the
Transformer Architecture", for pre- vs post-LN gradients and the warm-up; Glorot & Bengio (2010) for Xavier
initialisation; Dong et al. (2021), "Attention is not all you
need", for what deep attention without skips does to its input.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import BlockStack

VARIANTS = {  # name -> (norm_first, residual)
    "no residual": (True, False),
    "post-LN": (False, True),
    "pre-LN": (True, True),
}


def _stack(variant: str, n_layer: int, n_embd: int, n_head: int, seed: int, device, kind: str) -> BlockStack:
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
    norm_first, residual = VARIANTS[variant]
    torch.manual_seed(seed)  # the same weights for a given seed, so variants differ only in their wiring
    return BlockStack(n_layer, n_embd, n_head, kind=kind, norm_first=norm_first, residual=residual).to(device)


def _backward(stack: BlockStack, batch: int, seq_len: int, n_embd: int, seed: int, device) -> torch.Tensor:
    gen = torch.Generator().manual_seed(10_000 + seed)
    x = torch.randn(batch, seq_len, n_embd, generator=gen).to(device).requires_grad_(True)  # (B, T, C)
    g = torch.randn(batch, seq_len, n_embd, generator=gen).to(device)  # (B, T, C): a fixed random readout
    (stack(x) * g).mean().backward()
    return x.grad


def position_similarity(grad: torch.Tensor) -> float:
    """Mean cosine similarity between the gradients (B, T, C) of different positions of one sequence."""
    unit = F.normalize(grad, dim=-1)  # (B, T, C)
    t = grad.size(1)
    cos = unit @ unit.transpose(1, 2)  # (B, T, T)
    return float(((cos.sum((1, 2)) - cos.diagonal(dim1=1, dim2=2).sum(-1)) / (t * (t - 1))).mean())


def gradient_norms_vs_depth(depths: list[int], *, n_embd: int = 64, n_head: int = 4, batch: int = 8,
                            seq_len: int = 16, seeds: int = 3, device: torch.device | str = "cpu",
                            kind: str = "encoder",
                            variants: tuple[str, ...] = tuple(VARIANTS)) -> dict[str, dict[str, list[float]]]:
    """variant -> {"norm": ||dL/dx|| per depth, "similarity": cosine between positions' gradients per depth}."""
    result: dict[str, dict[str, list[float]]] = {}
    for variant in variants:
        norms, similarities = [], []
        for n_layer in depths:
            logs, sims = [], []
            for seed in range(seeds):
                stack = _stack(variant, n_layer, n_embd, n_head, seed, device, kind)
                grad = _backward(stack, batch, seq_len, n_embd, seed, device)
                logs.append(math.log(float(grad.norm())))
                sims.append(position_similarity(grad))
            norms.append(math.exp(sum(logs) / len(logs)))
            similarities.append(sum(sims) / len(sims))
        result[variant] = {"norm": norms, "similarity": similarities}
    return result


def layer_gradient_norms(variant: str, n_layer: int, *, n_embd: int = 64, n_head: int = 4, batch: int = 8,
                         seq_len: int = 16, seed: int = 0, device: torch.device | str = "cpu",
                         kind: str = "encoder") -> list[float]:
    """The norm of each block's parameter gradient (bottom block first) in one stack of ``n_layer``."""
    stack = _stack(variant, n_layer, n_embd, n_head, seed, device, kind)
    _backward(stack, batch, seq_len, n_embd, seed, device)
    return [float(torch.cat([p.grad.flatten() for p in block.parameters()]).norm()) for block in stack.blocks]


@torch.no_grad()
def xavier_init_(model: nn.Module) -> nn.Module:
    """Xavier-uniform weights and zero biases in every Linear, N(0, 1/C) token and position tables; in place.

    The initialisation of Xiong et al.'s analysis (Glorot & Bengio 2010: variance 2 / (fan_in + fan_out)), for
    a model whose token table is ``embed.tok_emb`` and position table ``embed.pos_emb`` (a
    :class:`~llmcourse.transformer.DecoderOnlyTransformer`); the norms keep their (1, 0).
    """
    for module in model.modules():
        if isinstance(module, nn.Linear):
            nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    for table in (model.embed.tok_emb.weight, model.embed.pos_emb.weight):
        nn.init.normal_(table, mean=0.0, std=table.size(-1) ** -0.5)
    return model


def ffn_gradient_norms(model: nn.Module, ids: torch.Tensor, targets: torch.Tensor) -> list[float]:
    """||dL/dW2|| of each block's second FFN weight (bottom block first) for the mean next-token loss on ids (B, T).

    ``model`` maps ids (B, T) to logits (B, T, V) and has ``blocks``, each with ``ffn.proj`` (a
    :class:`~llmcourse.transformer.DecoderOnlyTransformer`); its gradients are cleared first and left set.
    """
    if ids.shape != targets.shape or ids.dim() != 2:
        raise ValueError(f"ids and targets must both be (B, T), got {tuple(ids.shape)} and {tuple(targets.shape)}")
    model.zero_grad(set_to_none=True)
    logits = model(ids)  # (B, T, V)
    F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten()).backward()
    return [float(block.ffn.proj.weight.grad.norm()) for block in model.blocks]

"""LoRA: fine-tune a frozen layer through a small low-rank update beside it (Hu et al. 2021; chapter 9).

    h = W x + b  +  (alpha / r) * B A x          # W (out, in) frozen; A (r, in), B (out, r) trained; r << in, out

Fine-tuning every weight of a model moves out * in numbers per layer; LoRA's bet is that the change a task needs
has low rank, so it trains A and B instead: r * (in + out) numbers. B starts at zero, so the wrapped model is
exactly the pretrained one at step 0 and training starts from it, not from a perturbed copy. A starts as
``nn.Linear``'s own default (Kaiming-uniform with a = sqrt(5)), as Hugging Face ``peft`` does (its
``init_lora_weights=True``, ``peft/tuners/lora/layer.py``); chapter 9's tests check our layer against peft's on
the same weights: the same outputs, the same gradients of A and B, the same trainable-parameter count.

The scale alpha / r keeps the update's size about the same when r changes, so a learning rate found at one rank
still works at another (Hu et al., section 4.1). Folding B A into W after training (merge) and taking it out again
(unmerge) are left to the exercises.

    model = add_lora(model, r=8, alpha=16, trainable=("head",))    # every attention's q/k/v/out projections
    total, trainable = count_parameters(model)                      # trainable: the adapters and the head
    torch.save(lora_state_dict(model), "adapters.pt")               # kilobytes, not the whole model
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn

from llmcourse.attention import MultiHeadAttention

PROJECTIONS = ("q_proj", "k_proj", "v_proj", "out_proj")  # MultiHeadAttention's four nn.Linear layers


class LoRALinear(nn.Module):
    """A frozen ``nn.Linear`` plus a trainable rank-``r`` update: base(x) + (alpha / r) * dropout(x) @ A.T @ B.T."""

    def __init__(self, base: nn.Linear, r: int, alpha: float, dropout: float = 0.0) -> None:
        super().__init__()
        if not isinstance(base, nn.Linear):
            raise ValueError(f"base must be an nn.Linear, got {type(base).__name__}")
        if isinstance(r, bool) or not isinstance(r, int) or r < 1:
            raise ValueError(f"r must be a positive integer (the rank), got {r!r}")
        if not alpha > 0:
            raise ValueError(f"alpha must be positive, got {alpha!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.base, self.r, self.alpha = base, r, alpha
        self.scaling = alpha / r
        for p in base.parameters():
            p.requires_grad_(False)
        w = base.weight
        self.lora_A = nn.Parameter(torch.empty(r, base.in_features, dtype=w.dtype, device=w.device))  # (r, in)
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r, dtype=w.dtype, device=w.device))  # (out, r)
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))  # nn.Linear's default, as peft and loralib
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(..., in) -> (..., out). The update goes through A first: (r, in) then (out, r), never a (out, in) matrix."""
        return self.base(x) + self.scaling * (self.dropout(x) @ self.lora_A.T @ self.lora_B.T)

    def extra_repr(self) -> str:
        return f"r={self.r}, alpha={self.alpha}, scaling={self.scaling:g}"


def freeze_except(model: nn.Module, trainable: Iterable[str] = ()) -> None:
    """Freeze every parameter except LoRA's and those under the module names in ``trainable`` (e.g. ``"head"``)."""
    if isinstance(trainable, str):
        raise ValueError(f"trainable must be a sequence of module names, e.g. ({trainable!r},), not one string")
    names = tuple(trainable)
    modules = dict(model.named_modules())
    missing = [n for n in names if n not in modules]
    if missing:
        raise ValueError(f"trainable names modules the model does not have: {missing}")
    for p in model.parameters():
        p.requires_grad_(False)
    for name in names:
        for p in modules[name].parameters():
            p.requires_grad_(True)
    for module in model.modules():
        if isinstance(module, LoRALinear):
            module.lora_A.requires_grad_(True)
            module.lora_B.requires_grad_(True)


def add_lora(model: nn.Module, r: int, alpha: float, targets: Iterable[str] = PROJECTIONS, *, dropout: float = 0.0,
             trainable: Iterable[str] = ()) -> nn.Module:
    """Wrap the ``targets`` projections of every :class:`MultiHeadAttention` in ``model`` with :class:`LoRALinear`.

    Works in place and returns ``model``. Afterwards only the adapters and the modules named in ``trainable``
    (names as ``model.named_modules()`` gives them, e.g. ``("head",)`` for a classifier's head) are trainable;
    everything else is frozen. q, k and v are three separate ``nn.Linear`` layers in chapter 5's attention (no fused
    qkv matrix), so each gets its own A and B, as peft gives Hugging Face's BERT.
    """
    targets = tuple(targets)
    if not targets or any(t not in PROJECTIONS for t in targets):
        raise ValueError(f"targets must be a non-empty subset of {PROJECTIONS}, got {targets}")
    attentions = [m for m in model.modules() if isinstance(m, MultiHeadAttention)]
    if not attentions:
        raise ValueError(f"model ({type(model).__name__}) has no MultiHeadAttention to add LoRA to")
    for attn in attentions:
        for name in targets:
            layer = getattr(attn, name)
            if isinstance(layer, LoRALinear):
                raise ValueError(f"{name} already has LoRA: add_lora was called twice on this model")
            setattr(attn, name, LoRALinear(layer, r, alpha, dropout))
    freeze_except(model, trainable)
    return model


def lora_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """Only the adapters' A and B, by their names in ``model.state_dict()``: what fine-tuning changed.

    Load them back with ``model.load_state_dict(adapters, strict=False)`` into a model with LoRA added the same way.
    """
    adapters = {k: v for k, v in model.state_dict().items() if k.endswith((".lora_A", ".lora_B"))}
    if not adapters:
        raise ValueError(f"model ({type(model).__name__}) has no LoRA adapters: call add_lora first")
    return adapters


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(total, trainable) distinct parameters; a tied matrix counts once (as peft's get_nb_trainable_parameters)."""
    params = list(model.parameters())  # parameters() yields a shared tensor once
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)

"""A classification head on a pretrained body, and the parameter groups fine-tuning uses (chapter 9).

    hidden = body(ids, padding_mask)             # (B, T, C): an encoder's output, or a GPT's final hidden states
    pooled = pool(hidden, padding_mask)          # (B, C): one vector per sentence
    logits = head(dropout(pooled))               # (B, n_classes)

Which position speaks for the sentence depends on the body. A bidirectional encoder lets every position read the
whole sentence, and BERT trains position 0, ``[CLS]``, to summarise it through next-sentence prediction (an
encoder pretrained by masked LM alone, as chapter 9's, leaves ``[CLS]`` to learn that in fine-tuning):
``pooling="cls"``. A GPT is causal:
position t has read tokens 0..t only, so only the last real token has read the whole sentence:
``pooling="last"`` (with right padding, each row's last non-padding position; GPT-1 classified the same way,
Radford et al. 2018, section 3.3). Averaging every position under the padding mask is the other common choice;
it is one of the chapter's exercises, and ``pooling`` also takes any function ``(hidden, padding_mask) -> (B, C)``
so that the exercise's answer can be plugged in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from llmcourse.gpt import GPT, param_groups

Pooling = Callable[[torch.Tensor, "torch.Tensor | None"], torch.Tensor]


def _check_padding_mask(padding_mask: torch.Tensor | None, ids: torch.Tensor) -> None:
    if padding_mask is not None and (padding_mask.dtype != torch.bool or padding_mask.shape != ids.shape):
        raise ValueError(f"padding_mask must be boolean of the ids' shape {tuple(ids.shape)} (True = padding), "
                         f"got {padding_mask.dtype} {tuple(padding_mask.shape)}")


def last_positions(padding_mask: torch.Tensor) -> torch.Tensor:
    """(B, T) padding mask (True = padding) -> (B,) index of each row's last real position."""
    t = padding_mask.size(1)
    positions = torch.arange(t, device=padding_mask.device).expand_as(padding_mask)  # (B, T)
    last = torch.where(padding_mask, -1, positions).amax(dim=1)  # (B,)
    if bool((last < 0).any()):
        raise ValueError("padding_mask has a row of padding only: every sentence needs at least one token")
    return last


def pool_cls(hidden: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
    """(B, T, C) -> (B, C): position 0, where an encoder's ``[CLS]`` token sits."""
    return hidden[:, 0]


def pool_last(hidden: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
    """(B, T, C) -> (B, C): each row's last non-padding position (position T-1 when there is no mask)."""
    if padding_mask is None:
        return hidden[:, -1]
    rows = torch.arange(hidden.size(0), device=hidden.device)
    return hidden[rows, last_positions(padding_mask)]  # (B, C)


POOLINGS: dict[str, Pooling] = {"cls": pool_cls, "last": pool_last}


class SequenceClassifier(nn.Module):
    """body(ids, padding_mask) -> (B, T, C), pooled to (B, C), dropout, then a linear head to (B, n_classes)."""

    def __init__(self, body: nn.Module, n_embd: int, n_classes: int, pooling: str | Pooling = "cls",
                 dropout: float = 0.0) -> None:
        super().__init__()
        if isinstance(pooling, str) and pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {sorted(POOLINGS)} or a function (hidden, padding_mask) -> "
                             f"(B, C), got {pooling!r}")
        if not callable(pooling) and not isinstance(pooling, str):
            raise ValueError(f"pooling must be a name or a function, got {type(pooling).__name__}")
        if n_embd < 1 or n_classes < 2:
            raise ValueError(f"need n_embd >= 1 and n_classes >= 2, got n_embd={n_embd}, n_classes={n_classes}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.body, self.n_embd, self.n_classes = body, n_embd, n_classes
        self.pooling = pooling
        self.pool: Pooling = POOLINGS[pooling] if isinstance(pooling, str) else pooling
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(n_embd, n_classes)

    def forward(self, ids: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """ids (B, T), padding_mask (B, T) True at padding -> logits (B, n_classes)."""
        _check_padding_mask(padding_mask, ids)
        hidden = self.body(ids, padding_mask)  # (B, T, C)
        if hidden.dim() != 3 or hidden.size(-1) != self.n_embd:
            raise ValueError(f"the body must return (B, T, {self.n_embd}) hidden states, got {tuple(hidden.shape)}")
        return self.head(self.dropout(self.pool(hidden, padding_mask)))  # (B, n_classes)


class GPTBody(nn.Module):
    """A GPT's final hidden states, ``ln_f``'s output: the GPT's own ``hidden_states`` (its forward before the LM head).

    Why a padding mask is not needed: attention is causal, so a real token (before any padding, with right
    padding) never attends to the padding after it, and its hidden state is the same as without the padding. The
    padding positions' own states are garbage that ``pooling="last"`` never reads. Left padding would change
    the real tokens' positions and what they can see, so it is refused.
    """

    def __init__(self, gpt: GPT) -> None:
        super().__init__()
        if not isinstance(gpt, GPT):
            raise ValueError(f"gpt must be a llmcourse.gpt.GPT, got {type(gpt).__name__}")
        self.gpt = gpt

    def forward(self, ids: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """ids (B, T) -> hidden states (B, T, C) after the final LayerNorm; padding_mask must be right padding."""
        _check_padding_mask(padding_mask, ids)
        if padding_mask is not None and bool((padding_mask[:, :-1] & ~padding_mask[:, 1:]).any()):
            raise ValueError("padding_mask must be right padding (tokens first, then padding) for a causal GPT")
        return self.gpt.hidden_states(ids)  # (B, T, C)


def gpt_body(gpt: GPT) -> GPTBody:
    """A body for :class:`SequenceClassifier` from a GPT: its hidden states (B, T, C), before the LM head."""
    return GPTBody(gpt)


def freeze(module: nn.Module) -> nn.Module:
    """Stop gradients to every parameter of ``module`` (returns it). Dropout still follows train()/eval()."""
    for p in module.parameters():
        p.requires_grad_(False)
    return module


def body_head_param_groups(classifier: SequenceClassifier, body_lr: float, head_lr: float,
                           weight_decay: float) -> list[dict[str, Any]]:
    """AdamW groups: the body at ``body_lr``, the head at ``head_lr``; biases and norms without weight decay.

    The pretrained body already knows the language, so it moves slowly; the head starts from random and moves
    fast. Each part's split into decayed and not-decayed parameters is chapter 7's :func:`llmcourse.gpt.param_groups`;
    frozen parameters and empty groups are left out.
    """
    if not isinstance(classifier, SequenceClassifier):
        raise ValueError(f"classifier must be a SequenceClassifier, got {type(classifier).__name__}")
    for name, value in (("body_lr", body_lr), ("head_lr", head_lr)):
        if not value > 0:
            raise ValueError(f"{name} must be positive, got {value!r}")
    if not weight_decay >= 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay!r}")
    groups = []
    for part, lr in ((classifier.body, body_lr), (classifier.head, head_lr)):
        groups += [{**group, "lr": lr} for group in param_groups(part, weight_decay) if group["params"]]
    if not groups:
        raise ValueError("classifier has no trainable parameters (everything is frozen)")
    return groups

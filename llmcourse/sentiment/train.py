"""One fine-tuning loop for every classifier of chapter 9, so the table compares models, not loops.

From scratch, a GPT or an encoder with a head, frozen, LoRA, a distilled student: each is a module with
``model(ids, padding_mask) -> logits (B, n_classes)`` and is trained here by the same steps:

    AdamW (the model's trainable parameters at ``lr``, or the caller's ``param_groups``: a lower rate for the body)
    learning rate: linear warm-up over ``warmup`` of the steps, then cosine decay to 0 (chapter 7's ``lr_at``)
    batches: the training set shuffled with ``generator`` each epoch, cut in ``batch_size`` rows
    loss: cross-entropy, or ``loss_fn(logits, labels, rows)`` with ``rows`` the batch's indices into the training
          set (distillation looks up the teacher's logits of those rows there)
    autocast as chapter 1's rule says (bf16 on recent GPUs, fp16 with a loss scaler on older ones, float32 on CPU)

Nothing is tokenized here: the data are pre-encoded ``(ids (N, T), padding_mask (N, T) True at padding, labels (N,))``
tensors, made by whichever tokenizer the model needs, and they move to the device once. Each batch drops the
trailing columns that are padding in every row (right padding), which changes nothing for a model that respects
its padding mask and saves most of the work on short sentences.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from llmcourse.device import autocast, grad_scaler
from llmcourse.finetune import count_parameters
from llmcourse.gpt.train import lr_at

from .data import LABELS
from .metrics import accuracy, f1_score

Encoded = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # ids (N, T), padding_mask (N, T), labels (N,)
LossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class ClassifierResult:
    """What :func:`train_classifier` measured."""

    train_loss: list[float] = field(default_factory=list)  # every step
    val_steps: list[int] = field(default_factory=list)  # steps after which validation ran
    val_accuracy: list[float] = field(default_factory=list)
    val_f1: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    seconds: float = 0.0  # wall time of the training steps, validation left out
    total_params: int = 0
    trainable_params: int = 0


def check_encoded(data: Encoded, name: str) -> Encoded:
    """Refuse anything but (ids long (N, T), padding_mask bool (N, T), labels long (N,)) with N >= 1."""
    if not isinstance(data, (tuple, list)) or len(data) != 3:
        raise ValueError(f"{name} must be a tuple (ids, padding_mask, labels), got {type(data).__name__}")
    ids, mask, labels = data
    if not all(isinstance(t, torch.Tensor) for t in data):
        raise ValueError(f"{name}: ids, padding_mask and labels must be tensors")
    if ids.dim() != 2 or ids.size(0) == 0 or ids.dtype != torch.long:
        raise ValueError(f"{name}: ids must be a non-empty int64 tensor (N, T), got {ids.dtype} {tuple(ids.shape)}")
    if mask.shape != ids.shape or mask.dtype != torch.bool:
        raise ValueError(f"{name}: padding_mask must be bool of the ids' shape {tuple(ids.shape)}, got {mask.dtype} "
                         f"{tuple(mask.shape)}")
    if labels.shape != (ids.size(0),) or labels.dtype != torch.long:
        raise ValueError(f"{name}: labels must be int64 of shape ({ids.size(0)},), got {labels.dtype} "
                         f"{tuple(labels.shape)}")
    return ids, mask, labels


def _trim(ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Drop the trailing columns that are padding in every row (at least one column stays)."""
    width = max(int((~mask).any(0).nonzero().max().item()) + 1, 1) if (~mask).any() else 1
    return ids[:, :width], mask[:, :width]


@torch.no_grad()
def predict_logits(model: nn.Module, ids: torch.Tensor, padding_mask: torch.Tensor, *,
                   batch_size: int = 256) -> torch.Tensor:
    """(N, n_classes) float32 logits on the CPU, in eval mode (dropout off), the model's mode restored after."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = []
    try:
        for start in range(0, ids.size(0), batch_size):
            x, m = _trim(ids[start:start + batch_size].to(device), padding_mask[start:start + batch_size].to(device))
            with autocast(device):
                out.append(model(x, m).float().cpu())
    finally:
        model.train(was_training)
    return torch.cat(out)


def evaluate(model: nn.Module, data: Encoded, batch_size: int = 256) -> dict[str, float]:
    """``{"accuracy", "f1", "loss"}`` on pre-encoded ``data``; F1 of label 1 (positive); loss in nats."""
    ids, mask, labels = check_encoded(data, "data")
    logits = predict_logits(model, ids, mask, batch_size=batch_size)
    labels = labels.cpu()
    predictions = logits.argmax(-1)
    return {"accuracy": accuracy(predictions, labels), "f1": f1_score(predictions, labels),
            "loss": F.cross_entropy(logits, labels).item()}


def train_classifier(model: nn.Module, train: Encoded, val: Encoded, *, steps: int, batch_size: int,
                     lr: float | None = None, param_groups: Sequence[dict[str, Any]] | None = None,
                     weight_decay: float = 0.01, warmup: float = 0.1, grad_clip: float | None = 1.0,
                     loss_fn: LossFn | None = None, generator: torch.Generator,
                     device: torch.device | str | None = None, progress: bool = True, eval_every: int = 0,
                     eval_batch_size: int = 256) -> ClassifierResult:
    """Train ``model`` for ``steps`` AdamW steps on ``train``; validate every ``eval_every`` steps and at the end.

    Give ``lr`` (all trainable parameters) or ``param_groups`` (AdamW groups, each with its own ``lr``), not both;
    ``weight_decay`` applies to the groups that do not set their own.
    ``device`` (default: where the model is) receives the model and the data. The model is left in eval mode.
    """
    train, val = check_encoded(train, "train"), check_encoded(val, "val")
    if (lr is None) == (param_groups is None):
        raise ValueError("give exactly one of lr and param_groups")
    if lr is not None and not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr}")
    if steps < 1 or batch_size < 1 or eval_every < 0 or eval_batch_size < 1:
        raise ValueError(f"need steps >= 1, batch_size >= 1, eval_every >= 0, eval_batch_size >= 1; got steps={steps}, "
                         f"batch_size={batch_size}, eval_every={eval_every}, eval_batch_size={eval_batch_size}")
    if not 0 <= warmup < 1:
        raise ValueError(f"warmup must be a fraction of the steps in [0, 1), got {warmup}")
    if grad_clip is not None and not grad_clip > 0:
        raise ValueError(f"grad_clip must be None or > 0, got {grad_clip}")
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    if loss_fn is not None and not callable(loss_fn):
        raise ValueError(f"loss_fn must be a function (logits, labels, rows) -> loss, got {type(loss_fn).__name__}")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device)
    trainable = [p for p in model.parameters() if p.requires_grad]
    if param_groups is None:
        if not trainable:
            raise ValueError("the model has no trainable parameters")
        param_groups = [{"params": trainable, "lr": lr}]
    optimizer = torch.optim.AdamW(param_groups, weight_decay=weight_decay)
    peaks = [group["lr"] for group in optimizer.param_groups]
    warmup_steps = int(warmup * steps)
    scaler = grad_scaler(device)
    ids, mask, labels = (t.to(device) for t in train)
    total, n_trainable = count_parameters(model)
    result = ClassifierResult(total_params=total, trainable_params=n_trainable)
    losses: list[torch.Tensor] = []  # stay on the device: no sync per step
    order = torch.empty(0, dtype=torch.long)
    n = ids.size(0)
    model.train()
    start = time.perf_counter()
    bar = tqdm(range(steps), desc="fine-tuning", disable=not progress)
    for step in bar:
        if len(order) < batch_size:  # a new epoch: reshuffle; a short remainder joins the next epoch's start
            order = torch.cat([order, torch.randperm(n, generator=generator)])
        rows, order = order[:batch_size], order[batch_size:]
        rows_dev = rows.to(device)
        x, m = _trim(ids[rows_dev], mask[rows_dev])
        factor = lr_at(step, max_lr=1.0, min_lr=0.0, warmup_steps=warmup_steps, max_steps=steps)
        for group, peak in zip(optimizer.param_groups, peaks, strict=True):
            group["lr"] = peak * factor
        with autocast(device):
            logits = model(x, m)
        logits = logits.float()
        y = labels[rows_dev]
        loss = F.cross_entropy(logits, y) if loss_fn is None else loss_fn(logits, y, rows_dev)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if grad_clip is not None:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]], grad_clip)
        scaler.step(optimizer)
        scaler.update()
        losses.append(loss.detach())
        if (eval_every and (step + 1) % eval_every == 0) or step + 1 == steps:
            result.seconds += time.perf_counter() - start
            scores = evaluate(model, val, eval_batch_size)
            start = time.perf_counter()
            result.val_steps.append(step + 1)
            result.val_accuracy.append(scores["accuracy"])
            result.val_f1.append(scores["f1"])
            result.val_loss.append(scores["loss"])
            bar.set_postfix(loss=f"{losses[-1].item():.3f}", val_acc=f"{scores['accuracy']:.3f}")
    result.seconds += time.perf_counter() - start
    result.train_loss = torch.stack(losses).float().cpu().tolist()
    model.eval()
    return result


def make_classify(model: nn.Module, encode: Callable[[list[str]], tuple[torch.Tensor, torch.Tensor]],
                  labels: Sequence[str] = LABELS) -> Callable[[str], tuple[str, float]]:
    """``classify(text) -> (label, probability)``: the most likely label and the model's probability of it.

    ``encode(texts) -> (ids, padding_mask)`` is the tokenizer the model was trained with.
    """
    if not callable(encode):
        raise ValueError(f"encode must be a function texts -> (ids, padding_mask), got {type(encode).__name__}")

    def classify(text: str) -> tuple[str, float]:
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"text must be a non-empty string, got {text!r}")
        ids, mask = encode([text])
        probs = predict_logits(model, ids, mask).softmax(-1)[0]
        if probs.numel() != len(labels):
            raise ValueError(f"the model gives {probs.numel()} classes but labels names {len(labels)}")
        best = int(probs.argmax())
        return labels[best], float(probs[best])

    return classify

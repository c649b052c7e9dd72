"""A small training loop that every chapter reuses: progress bar, periodic evaluation, history, checkpoints.

Chapter 1 writes a training loop by hand; from then on chapters call :func:`train` so they can focus
on the model. The loop is deliberately plain — forward, loss, backward, step — with the extras a
real run needs: a tqdm bar, evaluation every ``eval_every`` steps, mixed precision where the device
supports it, gradient clipping, and a checkpoint that lets an interrupted run resume where it
stopped (saved atomically, loaded with ``weights_only=True``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm  # plain text: it shows in saved notebooks and the book, where a widget bar would not

from .device import autocast

Batch = tuple[torch.Tensor, ...]


@dataclass
class History:
    """Losses recorded during training: ``train`` every step, ``val`` every evaluation."""

    steps: list[int] = field(default_factory=list)
    train: list[float] = field(default_factory=list)
    val_steps: list[int] = field(default_factory=list)
    val: list[float] = field(default_factory=list)

    def state_dict(self) -> dict[str, list]:
        return {"steps": self.steps, "train": self.train, "val_steps": self.val_steps, "val": self.val}

    def plot(self, ax=None, title: str = "loss", smooth: int = 0):
        """Plot train (optionally a running mean over ``smooth`` steps) and validation loss."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3.5))
        train = self.train
        if smooth > 1 and len(train) >= smooth:
            kernel = torch.ones(smooth) / smooth
            train = torch.conv1d(torch.tensor(train)[None, None], kernel[None, None]).flatten().tolist()
            ax.plot(self.steps[smooth - 1:], train, label=f"train (mean of {smooth})")
        else:
            ax.plot(self.steps, train, label="train")
        if self.val:
            ax.plot(self.val_steps, self.val, "o-", label="validation")
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.set_title(title)
        ax.legend()
        return ax


def save_checkpoint(path: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    step: int, history: History) -> None:
    """Write a checkpoint atomically: a crash mid-write never leaves a truncated file under ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                "history": history.state_dict()}, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> tuple[int, History]:
    """Restore model and optimizer state; return the step to resume from and the history so far."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    return int(state["step"]), History(**state["history"])


def train(
    model: torch.nn.Module,
    get_batch: Callable[[int], Batch],
    loss_fn: Callable[..., torch.Tensor],
    optimizer: torch.optim.Optimizer,
    steps: int,
    *,
    eval_fn: Callable[[], float] | None = None,
    eval_every: int = 0,
    grad_clip: float | None = None,
    checkpoint_path: str | Path | None = None,
    checkpoint_every: int = 0,
    progress: bool = True,
) -> History:
    """Run ``steps`` optimizer steps and return the loss history.

    ``get_batch(step)`` returns a tuple of tensors; ``loss_fn(model, *batch)`` returns a scalar loss.
    ``eval_fn()`` (run in eval mode without gradients every ``eval_every`` steps and at the end)
    returns a validation loss. With ``checkpoint_path``, an existing checkpoint is resumed and a new
    one is written every ``checkpoint_every`` steps and at the end.
    """
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    device = next(model.parameters()).device
    history, start = History(), 0
    if checkpoint_path is not None and Path(checkpoint_path).exists():
        start, history = load_checkpoint(checkpoint_path, model, optimizer)

    def evaluate(step: int) -> None:
        model.eval()
        with torch.no_grad():
            history.val_steps.append(step)
            history.val.append(float(eval_fn()))
        model.train()

    model.train()
    bar = tqdm(range(start, steps), initial=start, total=steps, disable=not progress, desc="training")
    for step in bar:
        batch = get_batch(step)
        with autocast(device):
            loss = loss_fn(model, *batch)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss became {loss.item()} at step {step}: lower the learning rate?")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        history.steps.append(step)
        history.train.append(loss.item())
        done = step + 1
        if eval_fn is not None and eval_every and done % eval_every == 0 and done < steps:
            evaluate(done)
        if done % max(1, steps // 100) == 0:
            postfix = {"loss": f"{history.train[-1]:.4f}"}
            if history.val:
                postfix["val"] = f"{history.val[-1]:.4f}"
            bar.set_postfix(postfix)
        if checkpoint_path is not None and checkpoint_every and done % checkpoint_every == 0:
            save_checkpoint(checkpoint_path, model, optimizer, done, history)
    if eval_fn is not None and (not history.val_steps or history.val_steps[-1] != steps) and steps > start:
        evaluate(steps)
    if checkpoint_path is not None and steps > start:
        save_checkpoint(checkpoint_path, model, optimizer, steps, history)
    return history

"""A small training loop that every chapter reuses: progress bar, periodic evaluation, history, checkpoints.

Chapter 1 writes a training loop by hand; from then on chapters call :func:`train` so they can focus
on the model. The loop is deliberately plain — forward, loss, backward, step — with the extras a
real run needs: a tqdm bar, evaluation every ``eval_every`` steps, mixed precision where the device
supports it, gradient clipping, and checkpoints from which an interrupted run resumes.

Mixed precision follows :func:`~llmcourse.device.autocast_dtype`: bf16 on CUDA GPUs that have it, which keeps
float32's exponent range and needs nothing more; fp16 on older CUDA GPUs, whose smallest normal number is about
6e-5, so small gradients would round to zero: there the loss is scaled up before ``backward`` and the gradients
scaled back down before the step, with ``torch.amp.GradScaler`` (Micikevicius et al. 2018, "Mixed Precision
Training"), whose state is saved in the checkpoint too. On the CPU and MPS the loop is plain float32.

A resumed run repeats the unbroken one bit for bit (on the CPU; see below for the GPU). A checkpoint
therefore holds everything the next step depends on: the weights, the optimizer's state (Adam's moments),
the step, the history, the state of every global random generator (Python's ``random``, NumPy's, torch's
on the CPU, CUDA and MPS: batches and dropout masks drawn after the resume are the ones the unbroken run
drew) and whatever else the caller hands in as ``extra_state`` (chapter 4's carried hidden state).
It is written atomically (temporary files, then ``os.replace``) with its sha256 in ``NAME.sha256``
beside it, in ``sha256sum`` format; loading checks that sha256 first, so a truncated, emptied,
overwritten or bit-flipped file is refused with a :class:`CheckpointError` that names it, instead of
resuming from damaged weights. It is read with ``weights_only=True``, so a checkpoint cannot run code.

What this leaves out: generators you create yourself (a ``torch.Generator``, ``np.random.default_rng``)
are yours to save, and a GPU run is only as repeatable as its kernels: cuDNN's multi-layer RNN keeps a
dropout state of its own that no RNG state captures (pytorch/pytorch#74177, #104697).
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from tqdm import tqdm  # plain text: it shows in saved notebooks and the book, where a widget bar would not

from .device import autocast, grad_scaler

Batch = tuple[torch.Tensor, ...]
CHECKPOINT_KEYS = ("model", "optimizer", "step", "history", "rng", "extra")


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


class Stateful(Protocol):
    """Anything else a resumed run needs, saved and restored like a module's state."""

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: damaged, unverifiable, from another model, or past the run asked for."""


# --- random generators --------------------------------------------------------------------------------


def _mps_available() -> bool:
    return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()


def rng_state() -> dict[str, Any]:
    """The state of every global random generator a training step may draw from."""
    _, keys, pos, has_gauss, gauss = np.random.get_state(legacy=True)  # keys: (624,) uint32
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos), "has_gauss": int(has_gauss),
                  "gauss": float(gauss)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_initialized():  # only a run that used CUDA draws from it; asking would start CUDA
        state["cuda"] = torch.cuda.get_rng_state_all()
    if _mps_available():
        state["mps"] = torch.mps.get_rng_state()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Put every global random generator back where :func:`rng_state` found it."""
    random.setstate(state["python"])
    numpy = state["numpy"]
    np.random.set_state(("MT19937", numpy["keys"].numpy().astype(np.uint32), numpy["pos"], numpy["has_gauss"],
                         numpy["gauss"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state:
        if torch.cuda.is_available():
            for device, cuda_state in enumerate(state["cuda"][:torch.cuda.device_count()]):
                torch.cuda.set_rng_state(cuda_state, device)
        else:
            warnings.warn("this checkpoint was saved by a CUDA run and is resumed without CUDA: training goes on, "
                          "but its random draws (dropout) no longer repeat the original run's", stacklevel=3)
    if "mps" in state and _mps_available():
        torch.mps.set_rng_state(state["mps"])


# --- checkpoint files ---------------------------------------------------------------------------------


def checksum_path(path: str | Path) -> Path:
    """Where the sha256 of checkpoint ``path`` lives: ``run.pt -> run.pt.sha256``."""
    path = Path(path)
    return path.with_name(path.name + ".sha256")


def _temp_path(path: Path) -> Path:
    return path.with_name(path.name + ".tmp")


def _write_temp(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path``'s temporary twin and flush it to disk; ``path`` itself is not touched."""
    tmp = _temp_path(path)
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return tmp


def _recorded_sha256(sidecar: Path) -> str | None:
    """The hex digest at the start of a ``sha256sum``-style line, or None if the file has none."""
    try:
        words = sidecar.read_text(encoding="ascii").split()
    except (OSError, UnicodeDecodeError):
        return None
    digest = words[0].lower() if words else ""
    return digest if len(digest) == 64 and all(c in "0123456789abcdef" for c in digest) else None


def save_verified(path: str | Path, state: dict[str, Any]) -> None:
    """``torch.save`` ``state`` to ``path`` with its sha256 beside it; a crash at any moment leaves a usable pair.

    Both files are written to temporary names first; then the file is renamed into place, then its sha256. A
    crash between the two renames leaves the new file beside the old sha256 and the new one still under
    ``NAME.sha256.tmp``: :func:`read_verified` finishes that rename.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    data = buffer.getvalue()
    sidecar = checksum_path(path)
    checkpoint_tmp = _write_temp(path, data)
    sidecar_tmp = _write_temp(sidecar, f"{hashlib.sha256(data).hexdigest()}  {path.name}\n".encode("ascii"))
    os.replace(checkpoint_tmp, path)
    os.replace(sidecar_tmp, sidecar)


def save_checkpoint(path: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    step: int, history: History, extra_state: Stateful | None = None, *,
                    scaler: torch.amp.GradScaler | None = None) -> None:
    """Write a checkpoint of a run (:data:`CHECKPOINT_KEYS`, and ``scaler`` where a float16 run has one on)
    with :func:`save_verified`."""
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
             "history": history.state_dict(), "rng": rng_state(),
             "extra": extra_state.state_dict() if extra_state is not None else {}}
    if scaler is not None and scaler.is_enabled():  # the loss scale a float16 run has reached
        state["scaler"] = scaler.state_dict()
    save_verified(path, state)


def _read_verified(path: Path) -> bytes:
    """The bytes of ``path``, after checking them against the sha256 recorded beside it."""
    sidecar, pending = checksum_path(path), _temp_path(checksum_path(path))
    try:
        data = path.read_bytes()
    except OSError as error:
        raise CheckpointError(f"cannot read checkpoint {path}: {error.strerror}") from error
    actual = hashlib.sha256(data).hexdigest()
    expected = _recorded_sha256(sidecar)
    if expected != actual and _recorded_sha256(pending) == actual:  # a save stopped between its renames
        os.replace(pending, sidecar)  # finish it: the checkpoint in place is the one that save wrote
        return data
    if not sidecar.exists():
        raise CheckpointError(
            f"checkpoint {path} has no {sidecar.name} beside it, so it cannot be verified (an older llmcourse "
            f"wrote it, or it was copied without its sha256). Delete {path.name} to start the run over, or, if you "
            f"trust it, record its sha256 with `sha256sum {path.name} > {sidecar.name}`")
    if expected is None:
        raise CheckpointError(f"{sidecar} does not start with a sha256 (64 hex digits), so checkpoint {path} "
                              f"cannot be verified: restore both files, or delete both to start the run over")
    if actual != expected:
        raise CheckpointError(
            f"checkpoint {path} is damaged: its {len(data):,} bytes have sha256 {actual[:16]}…, not the "
            f"{expected[:16]}… recorded in {sidecar.name} when it was saved (truncated, emptied, overwritten "
            f"or corrupted since). Delete {path.name} and {sidecar.name} to start the run over, or restore a copy")
    return data


def read_verified(path: str | Path) -> Any:
    """What :func:`save_verified` wrote to ``path``, once its sha256 matches; on the CPU, ``weights_only=True``."""
    path = Path(path)
    data = _read_verified(path)
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for files that are not its zip format
        raise CheckpointError(f"{path} matches its sha256 but is not a readable checkpoint: {error}") from error


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The contents of a checkpoint whose sha256 matches, loaded on the CPU with ``weights_only=True``."""
    state = read_verified(path)
    missing = [key for key in CHECKPOINT_KEYS if not isinstance(state, dict) or key not in state]
    if missing:
        raise CheckpointError(f"{path} is not an llmcourse checkpoint of this version: it lacks {missing} "
                              "(an older llmcourse saved no random-generator state); delete it to start over")
    return state


def copy_checkpoint(source: str | Path, target: str | Path) -> None:
    """Copy a verified checkpoint (and a new sha256) to ``target`` atomically: a run published where others read."""
    save_verified(target, read_checkpoint(source))


def load_checkpoint(path: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    extra_state: Stateful | None = None, *, max_step: int | None = None,
                    scaler: torch.amp.GradScaler | None = None) -> tuple[int, History]:
    """Restore model, optimizer, ``extra_state``, the fp16 loss ``scaler`` (where the checkpoint has its state)
    and the random generators; return the step and the history.

    With ``max_step``, a checkpoint further along is refused before anything is changed: resuming it
    would hand back a longer history than the run asked for.
    """
    path = Path(path)
    state = read_checkpoint(path)
    step = int(state["step"])
    if max_step is not None and step > max_step:
        raise CheckpointError(f"checkpoint {path} is at step {step}, past the {max_step} steps asked for: ask for "
                              f"at least {step} steps to go on from it, or use another checkpoint_path to start anew")
    # The caller's model and optimizer are left as they were when the checkpoint does not fit: the settings
    # (extra_state) are checked first, and the weights are put back if loading them fails half way.
    backup = {key: value.detach().clone() for key, value in model.state_dict().items()}
    try:
        if extra_state is not None:
            extra_state.load_state_dict(state["extra"])
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scaler is not None and state.get("scaler"):  # an enabled scaler's state; older checkpoints have none
            scaler.load_state_dict(state["scaler"])
    except (KeyError, RuntimeError, TypeError, ValueError) as error:
        model.load_state_dict(backup)
        raise CheckpointError(f"checkpoint {path} does not fit this run (another model, optimizer or "
                              f"settings): {error}") from error
    set_rng_state(state["rng"])
    return step, History(**state["history"])


# --- the loop -----------------------------------------------------------------------------------------


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
    extra_state: Stateful | None = None,
    progress: bool = True,
) -> History:
    """Run ``steps`` optimizer steps and return the loss history.

    ``get_batch(step)`` returns a tuple of tensors; ``loss_fn(model, *batch)`` returns a scalar loss.
    ``eval_fn()`` (run in eval mode without gradients every ``eval_every`` steps and at the end)
    returns a validation loss. With ``checkpoint_path``, an existing checkpoint is resumed (it must
    not be past ``steps``) and a new one is written every ``checkpoint_every`` steps and at the end;
    ``extra_state`` is saved and restored with it.
    """
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    device = next(model.parameters()).device
    # fp16 needs loss scaling, bf16 and float32 do not: a disabled scaler passes everything through unchanged.
    scaler = grad_scaler(device)  # on only for fp16
    history, start = History(), 0
    if checkpoint_path is not None and Path(checkpoint_path).exists():
        start, history = load_checkpoint(checkpoint_path, model, optimizer, extra_state, max_step=steps,
                                         scaler=scaler)

    def evaluate(step: int) -> None:
        model.eval()
        with torch.no_grad():
            history.val_steps.append(step)
            history.val.append(float(eval_fn()))
        model.train()

    def save(step: int) -> None:
        save_checkpoint(checkpoint_path, model, optimizer, step, history, extra_state, scaler=scaler)

    model.train()
    bar = tqdm(range(start, steps), initial=start, total=steps, disable=not progress, desc="training")
    for step in bar:
        batch = get_batch(step)
        with autocast(device):
            loss = loss_fn(model, *batch)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss became {loss.item()} at step {step}: lower the learning rate?")
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()  # fp16: loss x scale, so small gradients stay above fp16's smallest numbers
        if grad_clip is not None:
            scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        scaler.step(optimizer)  # unscales; skips the step if a gradient overflowed to inf/nan (fp16 only)
        scaler.update()  # fp16: lower the scale after an overflow, raise it after a run of good steps
        history.steps.append(step)
        history.train.append(loss.item())
        done = step + 1
        if eval_fn is not None and (done == steps or (eval_every and done % eval_every == 0)):
            evaluate(done)  # the last step always: the bar's final postfix then shows the final validation loss
        if done % max(1, steps // 100) == 0 or done == steps:
            postfix = {"loss": f"{history.train[-1]:.4f}"}
            if history.val:
                postfix["val"] = f"{history.val[-1]:.4f}"
            bar.set_postfix(postfix)
        if checkpoint_path is not None and checkpoint_every and done % checkpoint_every == 0 and done < steps:
            save(done)
    if checkpoint_path is not None and steps > start:
        save(steps)
    return history

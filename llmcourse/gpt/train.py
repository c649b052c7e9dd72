"""Pretraining the chapter-7 GPT the way practitioners do, small enough to read in one sitting.

One optimizer step:

    lr = lr_at(step)                                  # linear warm-up, then cosine decay to min_lr
    x, y = get_batch(train, batch_size, T)            # (B, T): indices drawn on the device, seeded
    for each of grad_accum micro-batches of x, y:     # (B / grad_accum, T) each
        with autocast (CUDA only, bf16 or fp16):  loss = cross_entropy(model(x_m), y_m) / grad_accum
        scaler.scale(loss).backward()                 # gradients add up: their sum is the full batch's mean
    scaler.unscale_; clip the gradient norm; scaler.step (AdamW; skipped on inf/NaN); scaler.update

- AdamW (Loshchilov & Hutter 2019) with nanoGPT's rule for weight decay: every parameter with two or more
  dimensions decays (the Linear weights and the embeddings, whose tied matrix is also the output layer), and
  no 1-D one does (biases, LayerNorm gains and shifts: decaying a gain towards 0 only fights the norm). betas
  (0.9, 0.95) as GPT-3 and nanoGPT; ``fused=True`` on CUDA (one kernel for all parameters).
- The learning rate warms up linearly for ``warmup_steps``, then follows a half cosine down to ``min_lr`` at
  ``max_steps`` (:func:`lr_at`; Loshchilov & Hutter 2017; GPT-3 used the same shape, Brown et al. 2020).
- Mixed precision follows :func:`llmcourse.device.autocast_dtype`, as chapter 1's loop does: bf16 autocast on
  CUDA GPUs that compute in it natively, which keeps float32's range and needs no loss scaling; fp16 autocast on
  older CUDA GPUs (a T4, a V100), with a ``torch.amp.GradScaler`` (Micikevicius et al. 2018): each micro-batch's
  loss is multiplied by the scale before its backward pass, so small gradients stay above fp16's smallest
  numbers, the gradients are unscaled before clipping, and a step whose gradients overflowed to inf/NaN is
  skipped while the scale is halved (the bar shows the scale). Plain float32 on the CPU and MPS, where the scaler
  is off and passes everything through unchanged. The loss itself is always computed in float32. Attention runs
  through ``F.scaled_dot_product_attention`` (chapter 5's ``MultiHeadAttention``), which picks
  FlashAttention-style kernels on a GPU.
- ``torch.compile`` is optional. By default (``compile=None``) it is on for CUDA on Linux and off on the CPU,
  where compiling takes tens of seconds that short runs (the tests, the ci profile) never win back;
  ``compile=True`` asks for it wherever :func:`llmcourse.device.can_compile` says it can work (a CPU with a C++
  compiler included; benchmarks/results/gpt_train_cpu.txt times both on chapter 7's laptop model) and warns and
  runs eager elsewhere.
- The token streams stay on the device; batches are gathered there with a seeded ``torch.Generator``; losses
  cross to the host every ``log_every`` steps, not every step, so the GPU is not stopped to report each one.
- Validation every ``eval_every`` steps on a FIXED set of windows (:func:`llmcourse.gpt.data.val_windows`), per
  token and per character, so the curve moves only because the model does; the same number of fixed windows of
  the TRAINING stream are scored at the same steps (nanoGPT's ``estimate_loss`` reports both splits too), so the
  gap between the two is measured on equal footing rather than read off noisy per-batch training losses.
- ``on_eval(step)``, if given, runs after each evaluation with the model in eval mode (chapter 7 draws a sample
  and scores other windows there); its time is left out of ``val_seconds`` and ``tokens_per_second``.
- Checkpoints are :mod:`llmcourse.training`'s (weights, AdamW's moments, step, history, every global RNG, sha256
  sidecar, atomic writes, ``weights_only`` loading, and the fp16 loss scaler's state where it is on); the batch
  generator and the per-character validation losses ride along as its ``extra_state``. A run stopped at any step
  and resumed repeats the unbroken run exactly on the CPU, dropout included (chapter 7's tests compare losses and
  weights bit for bit, in float32 and in the fp16 path with its scaler, forced on the CPU).

What it leaves out: data-parallel training over several GPUs (DDP/FSDP) and streaming corpora larger than memory.

Why a second loop beside :func:`llmcourse.training.train` (chapters 1-6): that loop takes one batch per step and
syncs every loss, with no schedule, micro-batches, compile or per-character validation, and those are what
this one is for; both share the checkpoint format, and ``train_gpt`` passes its extra state through it.

References: Radford et al. (2019), GPT-2; Brown et al. (2020), GPT-3, appendix B (the optimizer settings);
Karpathy's nanoGPT ``train.py``.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from llmcourse.charlm import lm_loss
from llmcourse.device import autocast as autocast_context  # chapter 1's rule: bf16, fp16 or float32
from llmcourse.device import can_compile, compiles_on_cpu, grad_scaler
from llmcourse.training import History, load_checkpoint, save_checkpoint

from .data import TokenData, evaluate, get_batch, val_windows


@dataclass(frozen=True)
class TrainConfig:
    """How to train; the defaults suit chapter 7's character-level GPT on a GPU (nanoGPT's shakespeare_char)."""

    max_steps: int = 5000  # optimizer steps; the learning rate reaches min_lr here
    batch_size: int = 64  # sequences per optimizer step, over all micro-batches
    grad_accum: int = 1  # micro-batches per step (batch_size must divide by it): a big batch on a small GPU
    learning_rate: float = 1e-3  # the peak, reached at the end of warm-up (small models tolerate 1e-3)
    min_lr: float = 1e-4  # the floor of the cosine: learning_rate / 10, as Chinchilla (Hoffmann et al. 2022)
    warmup_steps: int = 100  # linear warm-up: Adam's moment estimates are noisy for the first steps
    weight_decay: float = 0.1  # on >= 2-D parameters only (GPT-3, nanoGPT)
    beta1: float = 0.9  # Adam's momentum
    beta2: float = 0.95  # lower than PyTorch's 0.999: adapts faster when the loss landscape changes (GPT-3)
    grad_clip: float | None = 1.0  # the largest gradient norm a step may use; None: no clipping
    eval_every: int = 250  # validate every this many steps (and always at the end); 0: only at the end
    eval_windows: int = 64  # fixed validation windows of block_size tokens each
    eval_batch_size: int = 32  # windows per forward pass during validation
    checkpoint_every: int = 0  # save every this many steps (and always at the end, with a checkpoint_path)
    log_every: int = 10  # bring losses to the host (and update the bar) every this many steps
    seed: int = 0  # of the batch generator (the model's initialisation is the caller's)
    compile: bool | None = None  # torch.compile the model; None: on CUDA only; True: wherever can_compile(device)

    def __post_init__(self) -> None:
        if self.max_steps < 1 or self.batch_size < 1 or self.grad_accum < 1:
            raise ValueError("max_steps, batch_size and grad_accum must be >= 1")
        if self.batch_size % self.grad_accum:
            raise ValueError(f"batch_size ({self.batch_size}) must be divisible by grad_accum ({self.grad_accum}): "
                             "equal micro-batches are what make their mean the full batch's gradient")
        if not 0 <= self.min_lr <= self.learning_rate:
            raise ValueError(f"need 0 <= min_lr <= learning_rate, got {self.min_lr} and {self.learning_rate}")
        if not 0 <= self.warmup_steps <= self.max_steps:
            raise ValueError(f"warmup_steps must be in [0, max_steps={self.max_steps}], got {self.warmup_steps}")
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise ValueError(f"grad_clip must be None or > 0, got {self.grad_clip}")
        if min(self.eval_every, self.checkpoint_every) < 0 or min(self.log_every, self.eval_windows) < 1:
            raise ValueError("eval_every and checkpoint_every must be >= 0, log_every and eval_windows >= 1")


def lr_at(step: int, *, max_lr: float, min_lr: float, warmup_steps: int, max_steps: int) -> float:
    """The learning rate of optimizer step ``step`` (0-based): linear warm-up, then cosine decay, then flat.

        step < warmup_steps:        max_lr * (step + 1) / warmup_steps    (step 0 already learns a little)
        warmup_steps <= step <= max_steps:  min_lr + (max_lr - min_lr) * (1 + cos(pi * progress)) / 2,
                                    progress = (step - warmup_steps) / (max_steps - warmup_steps), from 0 to 1
        step > max_steps:           min_lr
    """
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    if step < warmup_steps:
        return max_lr * (step + 1) / warmup_steps
    if step >= max_steps:
        return min_lr
    progress = (step - warmup_steps) / (max_steps - warmup_steps)  # in [0, 1)
    return min_lr + (max_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))


def param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Two AdamW groups: >= 2-D parameters decay, the rest (biases, norms) do not. A tied matrix appears once."""
    params = [p for p in model.parameters() if p.requires_grad]
    return [{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
            {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]


def compile_wanted(setting: bool | None, device: torch.device | str) -> bool:
    """Whether to ``torch.compile``: ``None`` on CUDA only, ``True`` wherever it can work (else a warning), ``False``
    never."""
    device = torch.device(device)
    if setting is None:
        return device.type == "cuda" and can_compile(device)
    if setting and not (can_compile(device) and (device.type != "cpu" or compiles_on_cpu())):
        warnings.warn(f"torch.compile does not work on {device.type} here (no working C++ compiler, or an "
                      "unsupported system): training eager, which computes the same model a little slower",
                      stacklevel=3)
        return False
    return setting


def configure_optimizer(model: nn.Module, config: TrainConfig, device: torch.device | str) -> torch.optim.AdamW:
    """AdamW with :func:`param_groups`, the config's betas and peak learning rate; fused on CUDA."""
    return torch.optim.AdamW(param_groups(model, config.weight_decay), lr=config.learning_rate,
                             betas=(config.beta1, config.beta2), fused=torch.device(device).type == "cuda")


def backward_micro_batches(model: nn.Module, x: torch.Tensor, y: torch.Tensor, grad_accum: int, *,
                           scaler: torch.amp.GradScaler | None = None) -> torch.Tensor:
    """Accumulate into ``.grad`` the gradient of the mean loss over x, y (B, T), in ``grad_accum`` pieces.

    Each micro-batch's mean loss is divided by ``grad_accum`` before its backward pass, so with equal pieces the
    accumulated gradient is the full batch's (a mean of equal-sized means is the mean). With an fp16 ``scaler``
    each backward pass runs on the scaled loss, so ``.grad`` holds the gradient times the scale until
    ``scaler.unscale_``. Returns the full batch's mean loss (unscaled), detached, still on the device.
    """
    if x.shape != y.shape or x.dim() != 2 or x.size(0) % grad_accum:
        raise ValueError(f"need x and y of the same shape (B, T) with B divisible by grad_accum={grad_accum}, got "
                         f"{tuple(x.shape)} and {tuple(y.shape)}")
    total = torch.zeros((), device=x.device)
    for x_m, y_m in zip(x.chunk(grad_accum), y.chunk(grad_accum), strict=True):  # (B / grad_accum, T) each
        with autocast_context(x.device):
            logits = model(x_m)  # (b, T, V)
        loss = lm_loss(logits, y_m) / grad_accum  # chapter 4's loss: mean nats per predicted token, in float32
        (scaler.scale(loss) if scaler is not None else loss).backward()  # fp16: x scale; otherwise unchanged
        total += loss.detach()
    return total


class _RunState:
    """What a checkpoint must carry beyond :mod:`llmcourse.training`'s: the batch generator, the per-character
    validation losses, the losses on the fixed training windows, and the settings, the model's included (a resume
    with other settings would not repeat the run, and a model with the same shapes but another ``n_head`` or
    ``dropout`` is another model)."""

    def __init__(self, generator: torch.Generator, config: TrainConfig, model_config: dict[str, Any]) -> None:
        self.generator, self.config, self.model_config = generator, config, model_config
        self.val_per_char: list[float] = []
        self.train_eval: list[float] = []  # nats per token on the fixed training windows, at each evaluation
        self.train_eval_per_char: list[float] = []

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state(), "val_per_char": list(self.val_per_char),
                "train_eval": list(self.train_eval), "train_eval_per_char": list(self.train_eval_per_char),
                "config": {k: v for k, v in asdict(self.config).items() if k not in ("compile", "log_every")},
                "model_config": dict(self.model_config)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Refuse a checkpoint made with other settings before changing anything."""
        mine = self.state_dict()
        for key, what in (("config", "training settings"), ("model_config", "model settings")):
            saved = state.get(key) or {}
            changed = {k: (saved.get(k), v) for k, v in mine[key].items() if saved.get(k) != v}
            if changed:
                raise ValueError(f"the checkpoint was made with other {what} (saved, now): {changed}")
        self.generator.set_state(state["generator"])
        self.val_per_char = list(state["val_per_char"])
        unknown = [math.nan] * len(self.val_per_char)  # a checkpoint from before the training windows were scored
        self.train_eval = list(state.get("train_eval", unknown))
        self.train_eval_per_char = list(state.get("train_eval_per_char", unknown))


@dataclass
class TrainResult:
    """What :func:`train_gpt` hands back: the loss history and a few measurements."""

    history: History  # train loss every step, validation loss (per token) at every evaluation
    val_per_char: list[float] = field(default_factory=list)  # validation nats per character, at history.val_steps
    tokens_per_second: float = 0.0  # training tokens processed per second of this call (0 if it ran no step)
    val_seconds: list[float] = field(default_factory=list)  # wall time into this call of each validation it ran
    step: int = 0  # the step this call stopped at
    train_eval: list[float] = field(default_factory=list)  # nats per token on fixed TRAINING windows, at val_steps
    train_eval_per_char: list[float] = field(default_factory=list)  # the same, per character


def train_gpt(model: nn.Module, data: TokenData, config: TrainConfig, *, checkpoint_path: str | Path | None = None,
              until: int | None = None, progress: bool = True,
              on_eval: Callable[[int], None] | None = None) -> TrainResult:
    """Train ``model`` (a :class:`~llmcourse.gpt.GPT`) on ``data.train`` for ``config.max_steps`` steps.

    With ``checkpoint_path``, an existing checkpoint there is resumed first, and one is written every
    ``checkpoint_every`` steps and when the call ends. ``until`` stops early, at that step (the schedule still
    runs to ``max_steps``): run a long job in sessions, calling again with the same arguments to go on.
    ``on_eval(step)`` runs after each evaluation, ``model`` in eval mode; the clock stops while it runs. It must
    leave the model's weights and torch's global generator alone (draw with a generator of its own), or a
    resumed run stops repeating the unbroken one.
    """
    device = next(model.parameters()).device
    block_size = model.config.block_size
    stop = config.max_steps if until is None else until
    if not 0 <= stop <= config.max_steps:
        raise ValueError(f"until must be in [0, max_steps={config.max_steps}], got {until}")
    if stop < config.max_steps and checkpoint_path is None:
        raise ValueError("stopping before max_steps without a checkpoint_path would lose the run: give one")
    if on_eval is not None and not callable(on_eval):
        raise ValueError(f"on_eval must be a function of the step, got {type(on_eval).__name__}")
    train_ids, val_ids = data.train.to(device), data.val.to(device)  # the streams live on the device from here
    chars_per_token = data.chars_per_token.to(device)
    starts = val_windows(val_ids, config.eval_windows, block_size)  # (eval_windows,), fixed for the whole run
    train_starts = val_windows(train_ids, config.eval_windows, block_size)  # as many fixed windows of the train text

    generator = torch.Generator(device=device).manual_seed(config.seed)
    optimizer = configure_optimizer(model, config, device)
    scaler = grad_scaler(device)  # on only for fp16 (CUDA without native bf16); off, it changes nothing
    model_config = asdict(model.config) if is_dataclass(getattr(model, "config", None)) else {}
    run = _RunState(generator, config, model_config)
    history, start = History(), 0
    if checkpoint_path is not None and Path(checkpoint_path).exists():
        start, history = load_checkpoint(checkpoint_path, model, optimizer, run, max_step=config.max_steps,
                                         scaler=scaler)
        if start > stop:
            raise ValueError(f"the checkpoint is at step {start}, past until={stop}")
    use_compile = compile_wanted(config.compile, device)
    forward = torch.compile(model) if use_compile else model  # same parameters; the checkpoint saves `model`

    def validate(step: int) -> None:
        nonlocal began
        model.eval()
        with autocast_context(device):
            result = evaluate(forward, val_ids, starts, block_size, chars_per_token, config.eval_batch_size)
            on_train = evaluate(forward, train_ids, train_starts, block_size, chars_per_token,
                                config.eval_batch_size)
        history.val_steps.append(step)
        history.val.append(result.loss)
        run.val_per_char.append(result.loss_per_char)
        run.train_eval.append(on_train.loss)
        run.train_eval_per_char.append(on_train.loss_per_char)
        val_seconds.append(time.perf_counter() - began)
        if on_eval is not None:
            paused = time.perf_counter()
            on_eval(step)
            began += time.perf_counter() - paused  # the callback's time is not training time
        model.train()

    pending: list[torch.Tensor] = []  # this interval's losses, still on the device
    val_seconds: list[float] = []

    def flush(done: int) -> None:
        losses = torch.stack(pending).tolist() if pending else []  # the one host sync of the interval
        first = done - len(losses)
        for i, loss in enumerate(losses):
            if not math.isfinite(loss):
                raise FloatingPointError(f"loss became {loss} at step {first + i}: lower the learning rate?")
        history.steps.extend(range(first, done))
        history.train.extend(losses)
        pending.clear()

    model.train()
    tokens_per_step = config.batch_size * block_size
    bar = tqdm(range(start, stop), initial=start, total=config.max_steps, disable=not progress, desc="training")
    began = interval_began = time.perf_counter()
    for step in bar:
        lr = lr_at(step, max_lr=config.learning_rate, min_lr=config.min_lr, warmup_steps=config.warmup_steps,
                   max_steps=config.max_steps)
        for group in optimizer.param_groups:
            group["lr"] = lr
        x, y = get_batch(train_ids, config.batch_size, block_size, generator)  # (B, T) each, on the device
        optimizer.zero_grad(set_to_none=True)
        pending.append(backward_micro_batches(forward, x, y, config.grad_accum, scaler=scaler))
        if config.grad_clip is not None:
            scaler.unscale_(optimizer)  # fp16: clip the true gradients, not the scaled ones
            nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        scaler.step(optimizer)  # AdamW's step; fp16: unscales, and skips the step if a gradient is inf/NaN
        scaler.update()  # fp16: halve the scale after an overflow, double it after a run of good steps
        done = step + 1
        evaluate_now = done == config.max_steps or (config.eval_every and done % config.eval_every == 0)
        save_now = checkpoint_path is not None and (
            done == stop or (config.checkpoint_every and done % config.checkpoint_every == 0))
        if done % config.log_every == 0 or done == stop or evaluate_now or save_now:
            n_steps = len(pending)
            flush(done)
            now = time.perf_counter()
            postfix = {"loss": f"{history.train[-1]:.4f}", "lr": f"{lr:.2e}",
                       "tok/s": f"{n_steps * tokens_per_step / max(now - interval_began, 1e-9):,.0f}"}
            if scaler.is_enabled():
                postfix["scale"] = f"{scaler.get_scale():g}"  # falls when steps overflow (and are skipped)
            if evaluate_now:
                validate(done)
            if history.val:
                postfix["val"] = f"{history.val[-1]:.4f}"
            bar.set_postfix(postfix)
            interval_began = time.perf_counter()
        if save_now:
            save_checkpoint(checkpoint_path, model, optimizer, done, history, run, scaler=scaler)
    elapsed = time.perf_counter() - began
    steps_run = stop - start
    speed = steps_run * tokens_per_step / elapsed if steps_run else 0.0
    return TrainResult(history, list(run.val_per_char), tokens_per_second=speed, step=stop, val_seconds=val_seconds,
                       train_eval=list(run.train_eval), train_eval_per_char=list(run.train_eval_per_char))

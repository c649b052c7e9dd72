"""Masked-LM pretraining of the encoder, a verified cache of its result, and a fill-in-the-blank demo (chapter 9).

    ids = corpus_ids(tok, wiki_text(2_000_000))                      # one long LongTensor of token ids
    result = pretrain_mlm_cached(model, ids, tokenizer=tok, settings=MLMSettings(steps=2000),
                                 generator=torch.Generator().manual_seed(0), cache_dir="runs/ch09")
    fill_mask(result.model, tok, "the capital of france is [MASK]")   # [[(' paris', 0.31), ...]]

Training windows are ``[CLS]`` + ``block_size - 2`` consecutive tokens + ``[SEP]``, drawn at random starts from
the first ``1 - val_fraction`` of the ids and corrupted by :func:`.masking.mask_tokens` (fresh masks every step,
RoBERTa's "dynamic masking"). The loss and accuracy are over the chosen positions only. Held-out windows from the
last ``val_fraction`` (consecutive, never seen in training) are masked once with a fixed generator (seed 0), so
every evaluation, and every run, scores the same positions. The step is AdamW (BERT's betas, decay on matrices
only), chapter 7's warm-up + cosine schedule (:func:`llmcourse.gpt.lr_at`), gradient clipping, and mixed
precision where :func:`llmcourse.device.autocast` picks it (bf16 on recent GPUs, float32 on the CPU).

The cache stores a trained run under a key, the sha256 of everything that decides its result: the token ids,
the model's config and initial weights, the settings, the tokenizer's special ids and size, the generator's
state, the device type, the package version and :data:`FORMAT`. The file is written by
:func:`llmcourse.training.save_verified` (atomic, with its sha256 beside it) and read by ``read_verified``
(sha256 checked, ``torch.load(weights_only=True)``); a damaged or foreign file is reported with a warning and
trained over. A cache hit also puts the generator where the training run left it, so what follows draws the
same numbers either way.

What it leaves out: next-sentence prediction, sentence-pair windows, gradient accumulation and resuming a
stopped run (chapter 7's ``train_gpt`` has those last two).

References: Devlin et al. (2019), "BERT", section 3.1 and appendix A.2; Liu et al. (2019), "RoBERTa" (dynamic
masking, no NSP); Loshchilov & Hutter (2019) for AdamW.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from llmcourse.device import autocast, grad_scaler
from llmcourse.gpt.train import lr_at, param_groups
from llmcourse.tokenizers import BPETokenizer
from llmcourse.training import CheckpointError, read_verified, save_verified

from .masking import IGNORE_INDEX, mask_tokens
from .model import MaskedLM
from .tokenizer import normalize, special_ids

FORMAT = 1  # bump when pretrain_mlm changes what it computes, so old cache files stop matching


@dataclass(frozen=True)
class MLMSettings:
    """How to pretrain: steps, batch, AdamW with warm-up + cosine, masking, evaluation."""

    steps: int = 1000
    batch_size: int = 32
    max_lr: float = 5e-4
    min_lr: float = 5e-5
    warmup_steps: int = 100
    weight_decay: float = 0.01
    grad_clip: float | None = 1.0
    mask_prob: float = 0.15
    eval_every: int = 100
    eval_windows: int = 64
    val_fraction: float = 0.05

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "eval_windows"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive int, got {getattr(self, name)!r}")
        for name in ("warmup_steps", "eval_every"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 0:
                raise ValueError(f"{name} must be an int >= 0, got {getattr(self, name)!r}")
        if not 0 < self.min_lr <= self.max_lr:
            raise ValueError(f"max_lr and min_lr must satisfy 0 < min_lr <= max_lr, got {self.max_lr}, {self.min_lr}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in (0, 1), got {self.val_fraction}")
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise ValueError(f"grad_clip must be positive or None, got {self.grad_clip}")


@dataclass
class PretrainResult:
    """A pretraining run: the model, masked-token loss and accuracy per step and per evaluation, timing."""

    model: MaskedLM
    steps: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    val_steps: list[int] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    seconds: float = 0.0  # training steps only, evaluation excluded
    cache_file: Path | None = None
    cached: bool = False

    @property
    def seconds_per_step(self) -> float:
        return self.seconds / max(1, len(self.steps))

    def history(self) -> dict[str, list]:
        return {name: getattr(self, name) for name in ("steps", "train_loss", "train_accuracy", "val_steps",
                                                       "val_loss", "val_accuracy")}


def corpus_ids(tokenizer: BPETokenizer, text: str) -> torch.Tensor:
    """The ids of ``normalize(text)`` as one LongTensor (no special tokens): pretraining's data."""
    return torch.tensor(tokenizer.encode_ordinary(normalize(text)), dtype=torch.long)


def _windows(ids: torch.Tensor, starts: torch.Tensor, length: int, cls: int, sep: int) -> torch.Tensor:
    """(B, length + 2): ``[CLS] ids[s : s + length] [SEP]`` for each start s."""
    body = ids[starts[:, None] + torch.arange(length, device=ids.device)]  # (B, length)
    column = torch.ones(len(starts), 1, dtype=torch.long, device=ids.device)
    return torch.cat([column * cls, body, column * sep], dim=1)


@torch.no_grad()
def _evaluate(model: MaskedLM, inputs: torch.Tensor, labels: torch.Tensor, batch_size: int) -> tuple[float, float]:
    """Masked-token loss and accuracy over fixed masked windows, each chosen position weighted equally."""
    was_training = model.training
    model.eval()
    total_loss, total_correct, total = 0.0, 0.0, 0
    for i in range(0, len(inputs), batch_size):
        x, y = inputs[i:i + batch_size], labels[i:i + batch_size]
        n = int((y != IGNORE_INDEX).sum())
        if n == 0:
            continue
        with autocast(x.device):
            loss, accuracy = model.masked_loss(x, y)
        total_loss += float(loss) * n
        total_correct += float(accuracy) * n
        total += n
    model.train(was_training)
    return total_loss / total, total_correct / total


def pretrain_mlm(model: MaskedLM, token_ids: torch.Tensor, *, tokenizer: BPETokenizer,
                 settings: MLMSettings = MLMSettings(), generator: torch.Generator,
                 progress: bool = True) -> PretrainResult:
    """Pretrain ``model`` (in place) with masked LM on ``token_ids`` (1-D), on the model's device."""
    if not isinstance(model, MaskedLM):
        raise ValueError(f"model must be a MaskedLM, got {type(model).__name__}")
    if not isinstance(token_ids, torch.Tensor) or token_ids.dtype != torch.long or token_ids.dim() != 1:
        raise ValueError("token_ids must be a 1-D LongTensor (corpus_ids makes one)")
    if not isinstance(generator, torch.Generator):
        raise ValueError("generator must be a torch.Generator (windows and masks are drawn from it)")
    specials = special_ids(tokenizer)
    if tokenizer.vocab_size != model.config.vocab_size:
        raise ValueError(f"tokenizer has {tokenizer.vocab_size} ids, the model's vocab_size is "
                         f"{model.config.vocab_size}")
    device = next(model.parameters()).device
    length = model.config.block_size - 2  # room for [CLS] and [SEP]
    n_val = int(len(token_ids) * settings.val_fraction)
    train_ids, val_ids = token_ids[: len(token_ids) - n_val].to(device), token_ids[len(token_ids) - n_val:].to(device)
    if len(train_ids) <= length or len(val_ids) < length:
        raise ValueError(f"token_ids has {len(token_ids)} ids: too few for windows of {length} tokens in both the "
                         f"training part and the held-out {settings.val_fraction:.0%}")
    if length < 1:
        raise ValueError("the model's block_size must be at least 3 ([CLS], a token, [SEP])")
    cls, sep = specials["[CLS]"], specials["[SEP]"]
    n_windows = min(settings.eval_windows, len(val_ids) // length)
    val_windows = _windows(val_ids, torch.arange(n_windows, device=device) * length, length, cls, sep)
    val_inputs, val_labels = mask_tokens(val_windows, tokenizer=tokenizer, generator=torch.Generator().manual_seed(0),
                                         mask_prob=settings.mask_prob)

    optimizer = torch.optim.AdamW(param_groups(model, settings.weight_decay), lr=settings.max_lr,
                                  betas=(0.9, 0.999), fused=device.type == "cuda")
    scaler = grad_scaler(device)  # on only for fp16
    result = PretrainResult(model)

    def evaluate(step: int) -> None:
        loss, accuracy = _evaluate(model, val_inputs, val_labels, settings.batch_size)
        result.val_steps.append(step)
        result.val_loss.append(loss)
        result.val_accuracy.append(accuracy)

    model.train()
    bar = tqdm(range(settings.steps), disable=not progress, desc="masked LM")
    for step in bar:
        started = time.perf_counter()
        lr = lr_at(step, max_lr=settings.max_lr, min_lr=settings.min_lr, warmup_steps=settings.warmup_steps,
                   max_steps=settings.steps)
        for group in optimizer.param_groups:
            group["lr"] = lr
        starts = torch.randint(len(train_ids) - length + 1, (settings.batch_size,), generator=generator,
                               device=generator.device).to(device)
        inputs, labels = mask_tokens(_windows(train_ids, starts, length, cls, sep), tokenizer=tokenizer,
                                     generator=generator, mask_prob=settings.mask_prob)
        with autocast(device):
            loss, accuracy = model.masked_loss(inputs, labels)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"masked-LM loss became {loss.item()} at step {step}: lower max_lr?")
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if settings.grad_clip is not None:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        result.steps.append(step)
        result.train_loss.append(loss.item())
        result.train_accuracy.append(accuracy.item())
        result.seconds += time.perf_counter() - started
        done = step + 1
        if done == settings.steps or (settings.eval_every and done % settings.eval_every == 0):
            evaluate(done)
            bar.set_postfix(loss=f"{result.train_loss[-1]:.3f}", val_loss=f"{result.val_loss[-1]:.3f}",
                            val_acc=f"{result.val_accuracy[-1]:.3f}")
    model.eval()
    return result


# --- the cache ------------------------------------------------------------------------------------------


def run_key(model: MaskedLM, token_ids: torch.Tensor, *, tokenizer: BPETokenizer, settings: MLMSettings,
            generator: torch.Generator) -> str:
    """The sha256 naming one run: data, config, initial weights, settings, specials, generator, versions."""
    from llmcourse import __version__

    device = next(model.parameters()).device.type
    named = {"format": FORMAT, "llmcourse": __version__, "device": device,
             "config": dataclasses.asdict(model.config), "settings": dataclasses.asdict(settings),
             "specials": special_ids(tokenizer), "vocab_size": tokenizer.vocab_size}
    digest = hashlib.sha256(json.dumps(named, sort_keys=True).encode())
    digest.update(token_ids.detach().to("cpu", torch.int64).contiguous().numpy().tobytes())
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    digest.update(generator.get_state().numpy().tobytes())
    return digest.hexdigest()


def cache_file(cache_dir: str | Path, key: str) -> Path:
    """Where the run named ``key`` is stored (its sha256 is beside it, in ``NAME.sha256``)."""
    return Path(cache_dir) / f"mlm-{key[:20]}.pt"


def _load(path: Path, key: str, model: MaskedLM, generator: torch.Generator) -> PretrainResult:
    payload = read_verified(path)  # CheckpointError if damaged
    if not isinstance(payload, dict) or payload.get("key") != key:
        raise CheckpointError(f"{path} holds another run than the one asked for (its key differs)")
    model.load_state_dict(payload["model"])
    generator.set_state(payload["generator"])
    model.eval()
    return PretrainResult(model, **payload["history"], seconds=payload["seconds"], cache_file=path, cached=True)


def pretrain_mlm_cached(model: MaskedLM, token_ids: torch.Tensor, *, tokenizer: BPETokenizer,
                        settings: MLMSettings = MLMSettings(), generator: torch.Generator,
                        cache_dir: str | Path | None, retrain: bool = False, progress: bool = True) -> PretrainResult:
    """:func:`pretrain_mlm`, or its stored result if ``cache_dir`` holds this exact run (``None``: no cache)."""
    if cache_dir is None:
        return pretrain_mlm(model, token_ids, tokenizer=tokenizer, settings=settings, generator=generator,
                            progress=progress)
    key = run_key(model, token_ids, tokenizer=tokenizer, settings=settings, generator=generator)
    path = cache_file(cache_dir, key)
    if path.exists() and not retrain:
        try:
            return _load(path, key, model, generator)
        except (CheckpointError, OSError, KeyError, RuntimeError, TypeError) as error:
            warnings.warn(f"{error}; pretraining again and replacing it", stacklevel=2)
    result = pretrain_mlm(model, token_ids, tokenizer=tokenizer, settings=settings, generator=generator,
                          progress=progress)
    payload = {"key": key, "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
               "generator": generator.get_state(), "history": result.history(), "seconds": result.seconds}
    try:
        save_verified(path, payload)
        result.cache_file = path
    except OSError as error:
        warnings.warn(f"could not store the pretrained encoder in {path.parent} ({error}); it is not cached",
                      stacklevel=2)
    return result


# --- fill in the blank ----------------------------------------------------------------------------------


@torch.no_grad()
def fill_mask(model: MaskedLM, tokenizer: BPETokenizer, text: str, k: int = 5) -> list[list[tuple[str, float]]]:
    """For each ``[MASK]`` in ``text``, the ``k`` likeliest tokens (special tokens excluded) and probabilities.

    The text is normalised like every input; the space before a ``[MASK]`` goes into the predicted token, as in
    pretraining, where a masked word carries its leading space (``" paris"``).
    """
    if not isinstance(text, str) or "[MASK]" not in text:
        raise ValueError("text must be a string with at least one [MASK] in it")
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    ids = special_ids(tokenizer)
    row = [ids["[CLS]"]]
    for n, segment in enumerate(re.split(r"\s?\[MASK\]", text)):
        if n:
            row.append(ids["[MASK]"])
        words = normalize(segment)
        if words:
            row += tokenizer.encode_ordinary((" " if n and segment[:1].isspace() else "") + words)
    row.append(ids["[SEP]"])
    if len(row) > model.config.block_size:
        raise ValueError(f"text is {len(row)} tokens with [CLS] and [SEP], more than block_size "
                         f"{model.config.block_size}")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    batch = torch.tensor([row], device=device)
    logits = model(batch)[0, batch[0] == ids["[MASK]"]].float()  # (n_masks, V)
    model.train(was_training)
    logits[:, list(ids.values())] = float("-inf")
    probs, top = logits.softmax(-1).topk(min(k, logits.size(-1) - len(ids)), dim=-1)
    return [[(tokenizer.decode([int(i)]), float(p)) for p, i in zip(ps, ts, strict=True)]
            for ps, ts in zip(probs, top, strict=True)]

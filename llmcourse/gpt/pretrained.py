"""Chapter 7's pretrained character GPT for the chapters after it, or a small one trained in its place.

    model, how = chapter7_gpt(data, "laptop", device, fallback=dict(n_layer=2, n_head=2, n_embd=64,
                                                                    block_size=64, steps=300, batch_size=16, lr=3e-3))

Chapter 7 leaves its character GPT in the course's cache (``cache_dir() / "ch07" / "gpt_<profile>.pt"``). A later
chapter that starts from a pretrained model loads it when it is there and every tensor fits chapter 7's settings of
the profile (``load_state_dict`` refuses a missing, extra or differently shaped tensor, so a checkpoint of another
layout is refused, not half loaded). Otherwise it trains a small GPT of the same kind with chapter 7's
``train_gpt`` and the ``fallback`` sizes, and keeps that run's checkpoint (``keep_in``), so a second run loads it; a
kept run that no longer fits the model is trained again. ``how`` says which happened, for the notebook to print.
"""

from __future__ import annotations

import tempfile
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch

from llmcourse.config import settings
from llmcourse.data import cache_dir
from llmcourse.device import cpu_threads, seed_everything
from llmcourse.training import CheckpointError, read_checkpoint

from .config import GPTConfig
from .data import TokenData
from .model import GPT
from .train import TrainConfig, train_gpt

FALLBACK_KEYS = ("n_layer", "n_head", "n_embd", "block_size", "steps", "batch_size", "lr")


def chapter7_path(profile: str) -> Path:
    """Where chapter 7 leaves its character GPT of ``profile``."""
    return cache_dir() / "ch07" / f"gpt_{profile}.pt"


def _load(path: Path, data: TokenData, profile: str) -> tuple[GPT | None, str]:
    if not path.exists():
        return None, f"no checkpoint of chapter 7 at {path}"
    c7 = settings("ch07", profile)
    model = GPT(GPTConfig(vocab_size=data.vocab_size, block_size=c7.block_size, n_layer=c7.n_layer,
                          n_head=c7.n_head, n_embd=c7.n_embd))
    try:
        model.load_state_dict(read_checkpoint(path)["model"])
    except (KeyError, RuntimeError, ValueError) as err:  # CheckpointError is a ValueError
        return None, f"chapter 7's checkpoint {path} does not fit its settings ({type(err).__name__})"
    return model, f"chapter 7's checkpoint {path}"


def _train(path: Path, data: TokenData, fallback: dict[str, Any], device: torch.device) -> GPT:
    seed_everything(0)
    model = GPT(GPTConfig(vocab_size=data.vocab_size, block_size=fallback["block_size"],
                          n_layer=fallback["n_layer"], n_head=fallback["n_head"], n_embd=fallback["n_embd"])).to(device)
    steps = fallback["steps"]
    config = TrainConfig(max_steps=steps, batch_size=fallback["batch_size"], learning_rate=fallback["lr"],
                         min_lr=fallback["lr"] / 10, warmup_steps=min(50, steps // 5), eval_every=0, eval_windows=32)
    with cpu_threads(1) if device.type == "cpu" else nullcontext():  # a small model: one thread is as fast
        train_gpt(model, data, config, checkpoint_path=path, progress=False)
    return model


def chapter7_gpt(
    data: TokenData,
    profile: str,
    device: torch.device,
    *,
    fallback: dict[str, Any],
    keep_in: Path | None = None,
    use_chapter7: bool = True,
) -> tuple[GPT, str]:
    """(chapter 7's character GPT of ``profile`` on ``device`` in eval mode, or one trained here; how it was had).

    ``fallback``: the sizes and run of the stand-in (``n_layer``, ``n_head``, ``n_embd``, ``block_size``, ``steps``,
    ``batch_size``, ``lr``); ``keep_in``: the folder for its checkpoint (None: a fresh temporary folder, so the run
    is not kept); ``use_chapter7=False``: always the stand-in (a test that must not depend on whether chapter 7 ran
    first).
    """
    missing = [key for key in FALLBACK_KEYS if key not in fallback]
    if missing:
        raise ValueError(f"fallback lacks {missing}: it needs {', '.join(FALLBACK_KEYS)}")
    model, how = _load(chapter7_path(profile), data, profile) if use_chapter7 else (None, "chapter 7's not asked for")
    if model is not None:
        return model.to(device).eval(), f"loaded {how}"
    folder = Path(keep_in) if keep_in is not None else Path(tempfile.mkdtemp(prefix="llmcourse-gpt-"))
    f = fallback
    path = folder / f"gpt_{profile}_{f['n_layer']}x{f['n_embd']}_{f['block_size']}_{f['steps']}.pt"
    finished = path.exists()  # a previous run left it: train_gpt loads it and has nothing to do
    began = time.perf_counter()
    try:
        model = _train(path, data, fallback, device)
    except CheckpointError:  # kept by an older version of the model (other tensors): train it again
        for stale in (path, path.with_name(path.name + ".sha256")):
            stale.unlink(missing_ok=True)
        finished = False
        model = _train(path, data, fallback, device)
    done = (f"loaded its finished run from {path}" if finished else
            f"trained {f['steps']} steps here in {time.perf_counter() - began:.0f} s, kept in {path}")
    return model.eval(), f"{how}: a small character GPT of the same kind instead ({done})"


__all__ = ["chapter7_gpt", "chapter7_path"]

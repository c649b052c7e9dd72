"""Chapter 4's trained baselines, kept so that chapter 7 can score them on its own validation windows.

Chapter 4 trains an MLP, an RNN and an LSTM for minutes; chapter 7 puts them in one table with its GPT. Rather
than copy numbers from one notebook's outputs into another, chapter 4 stores the trained weights, with the time
each took and the tokens it saw, in the course's cache (:func:`baselines_path`), and chapter 7 loads them and
scores them on exactly the windows it scores the GPT on. When chapter 4 has not been run in that profile (or
ran with other settings), chapter 7 trains them itself with :func:`train_baselines`: chapter 4's recipe (seed 0,
Adam, truncated BPTT, clipping) with the same settings, so the models are the ones chapter 4 would have stored.

The file is written atomically with its sha256 beside it and read with ``weights_only=True``
(:func:`llmcourse.training.save_verified`); it records the settings it was trained with, and a file whose
settings differ from the profile's is not used.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..charlm import CharData
from ..data import cache_dir
from ..device import seed_everything
from ..training import CheckpointError, read_verified, save_verified
from .mlp import MLPLanguageModel
from .models import CharRNN, train_tbptt

FORMAT = 1  # bump when what is stored changes
# The settings of chapter 4's profile that change the trained models; a stored file must match all of them.
TRAINING_KEYS = ("n_embd", "mlp_context", "mlp_n_embd", "mlp_hidden", "rnn_hidden", "lstm_hidden", "num_layers",
                 "dropout", "steps", "batch_size", "block_size", "lr", "grad_clip")


@dataclass
class Baseline:
    """One trained chapter-4 model and what its training cost."""

    name: str  # as in chapter 4's results table, e.g. "LSTM (1x256)"
    model: nn.Module  # forward(ids) -> (logits, state)
    seconds: float  # wall time of its training, on the machine that trained it
    tokens: int  # training characters it read (steps x batch_size x block_size)


def baseline_factories(vocab_size: int, cfg: Mapping[str, Any]) -> dict[str, Callable[[], nn.Module]]:
    """Chapter 4's MLP, RNN and LSTM in the sizes of ``cfg`` (``settings("ch04", profile)``), each a constructor.

    Constructors, not models: chapter 4 seeds the generator before building each one, and so must a retraining.
    """
    layers = cfg["num_layers"]
    return {
        f"MLP ({cfg['mlp_context']} chars)": lambda: MLPLanguageModel(vocab_size, cfg["mlp_context"],
                                                                      cfg["mlp_n_embd"], cfg["mlp_hidden"]),
        f"RNN ({layers}x{cfg['rnn_hidden']})": lambda: CharRNN(vocab_size, cfg["rnn_hidden"], kind="rnn",
                                                                n_embd=cfg["n_embd"], num_layers=layers,
                                                                dropout=cfg["dropout"]),
        f"LSTM ({layers}x{cfg['lstm_hidden']})": lambda: CharRNN(vocab_size, cfg["lstm_hidden"], kind="lstm",
                                                                  n_embd=cfg["n_embd"], num_layers=layers,
                                                                  dropout=cfg["dropout"]),
    }


def baselines_path(profile: str) -> Path:
    """Where chapter 4 stores its trained baselines of ``profile``: ``cache_dir()/ch04/baselines_<profile>.pt``."""
    return cache_dir() / "ch04" / f"baselines_{profile}.pt"


def _training_settings(cfg: Mapping[str, Any]) -> dict[str, Any]:
    return {key: cfg[key] for key in TRAINING_KEYS}


def save_baselines(path: str | Path, baselines: list[Baseline], cfg: Mapping[str, Any]) -> None:
    """Store trained ``baselines`` (weights on the CPU, seconds, tokens) with the settings they were trained with."""
    save_verified(path, {"format": FORMAT, "settings": _training_settings(cfg), "models": {
        b.name: {"state": {k: v.detach().cpu() for k, v in b.model.state_dict().items()}, "seconds": b.seconds,
                 "tokens": b.tokens} for b in baselines}})


def load_baselines(path: str | Path, vocab_size: int, cfg: Mapping[str, Any],
                   device: torch.device | str = "cpu") -> list[Baseline] | None:
    """The baselines stored at ``path`` in eval mode, or None (with the reason) if absent, damaged or stale."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        stored = read_verified(path)
        if stored.get("format") != FORMAT or stored.get("settings") != _training_settings(cfg):
            raise CheckpointError(f"{path} was trained with other settings than this profile's")
        baselines = []
        for name, make in baseline_factories(vocab_size, cfg).items():
            entry = stored["models"][name]
            model = make()
            model.load_state_dict(entry["state"])
            baselines.append(Baseline(name, model.to(device).eval(), float(entry["seconds"]), int(entry["tokens"])))
    except (CheckpointError, KeyError, RuntimeError, AttributeError) as error:
        warnings.warn(f"not using the stored baselines: {error}", stacklevel=2)
        return None
    return baselines


def train_baselines(data: CharData, cfg: Mapping[str, Any], device: torch.device | str = "cpu", *,
                    progress: bool = True) -> list[Baseline]:
    """Train chapter 4's MLP, RNN and LSTM as chapter 4 does: each from seed 0, Adam at ``lr``, truncated BPTT."""
    baselines = []
    for name, make in baseline_factories(data.vocab_size, cfg).items():
        seed_everything(0)  # as chapter 4: the same seed before building each model
        model = make().to(device)
        began = time.perf_counter()
        train_tbptt(model, data, torch.optim.Adam(model.parameters(), lr=cfg["lr"]), cfg["steps"],
                    batch_size=cfg["batch_size"], block_size=cfg["block_size"], grad_clip=cfg["grad_clip"],
                    progress=progress)
        tokens = cfg["steps"] * cfg["batch_size"] * cfg["block_size"]
        baselines.append(Baseline(name, model.eval(), time.perf_counter() - began, tokens))
    return baselines

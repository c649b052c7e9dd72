"""Character-level language modelling on tiny shakespeare: the data, the split and the loss, in one place.

Chapter 4 (RNN and LSTM) and chapter 7 (GPT) both model tiny shakespeare one character at a time. So
that their numbers compare directly, everything they share lives here and nowhere else:

- the text, loaded honestly through :mod:`llmcourse.data` (sha256-checked);
- the chapter-2 :class:`~llmcourse.tokenizers.CharTokenizer` (65 characters, trained on the whole text,
  as nanoGPT's ``shakespeare_char`` does);
- a fixed split: the first 90% of the characters for training, the last 10% for validation;
- random batches of ``(B, T)`` windows, drawn on the device the ids live on;
- the loss: mean cross-entropy over every predicted character, in **nats per character**, and its
  conversions to perplexity (``exp(loss)``) and bits per character (``loss / ln 2``);
- :func:`estimate_loss`, which averages the loss over seeded random validation windows, so two models
  evaluated with the same arguments see exactly the same characters.

The module is model-agnostic: anything that maps ids ``(B, T)`` to logits ``(B, T, vocab_size)`` can be
evaluated. What it leaves out: word- or BPE-level data (chapter 7 adds those) and streaming of corpora
too big for memory.

References: Karpathy, char-rnn (2015) and nanoGPT ``data/shakespeare_char/prepare.py``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .data import read_text
from .tokenizers import CharTokenizer

TRAIN_FRACTION = 0.9  # the first 90% of the characters train, the last 10% validate: fixed, never shuffled
DATASET = "tinyshakespeare"


@dataclass
class CharData:
    """A tokenized corpus split into train and validation ids (1-D int64 tensors on one device)."""

    tokenizer: CharTokenizer
    train: torch.Tensor  # (N_train,)
    val: torch.Tensor  # (N_val,)

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.vocab_size

    @property
    def device(self) -> torch.device:
        return self.train.device

    def split(self, name: str) -> torch.Tensor:
        if name not in ("train", "val"):
            raise ValueError(f"split must be 'train' or 'val', got {name!r}")
        return self.train if name == "train" else self.val

    def get_batch(self, split: str, batch_size: int, block_size: int,
                  generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``batch_size`` random windows of ``split``: inputs ``x`` and next-character targets ``y``, (B, T) each."""
        return get_batch(self.split(split), batch_size, block_size, generator)


def split_ids(ids: torch.Tensor, train_fraction: float = TRAIN_FRACTION) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut a 1-D id tensor into its first ``train_fraction`` and the rest: ``[0..9] -> [0..8], [9]``."""
    if ids.dim() != 1:
        raise ValueError(f"ids must be a 1-D tensor, got shape {tuple(ids.shape)}")
    if not 0 < train_fraction < 1:
        raise ValueError(f"train_fraction must be between 0 and 1, got {train_fraction}")
    n = int(train_fraction * len(ids))
    if n < 2 or len(ids) - n < 2:
        raise ValueError(f"{len(ids)} ids are too few to split {train_fraction:.0%} / {1 - train_fraction:.0%} "
                         "with at least 2 ids on each side")
    return ids[:n], ids[n:]


def load_char_data(text: str | None = None, device: torch.device | str = "cpu",
                   train_fraction: float = TRAIN_FRACTION) -> CharData:
    """Tokenize ``text`` (default: tiny shakespeare, via :mod:`llmcourse.data`) and split it.

    The tokenizer is trained on the whole text, so the validation part has no unknown characters; the
    ids are moved to ``device`` once, so batches never cross between CPU and GPU during training.
    """
    if text is None:
        text = read_text(DATASET)
    if not text:
        raise ValueError("cannot build character data from empty text")
    tokenizer = CharTokenizer().train(text)
    ids = torch.tensor(tokenizer.encode(text), dtype=torch.long, device=device)
    train, val = split_ids(ids, train_fraction)
    return CharData(tokenizer, train, val)


def get_batch(ids: torch.Tensor, batch_size: int, block_size: int,
              generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Random windows of a 1-D id tensor: ``x = ids[i : i+T]``, ``y = ids[i+1 : i+T+1]``, shapes (B, T).

    The start positions are drawn on the CPU (``generator`` must be a CPU generator, so a seed gives
    the same windows on every device) and the windows are gathered where ``ids`` lives.
    """
    if ids.dim() != 1:
        raise ValueError(f"ids must be a 1-D tensor, got shape {tuple(ids.shape)}")
    if batch_size < 1 or block_size < 1:
        raise ValueError(f"batch_size and block_size must be >= 1, got {batch_size} and {block_size}")
    if len(ids) < block_size + 1:
        raise ValueError(f"a window of {block_size} + 1 ids does not fit in {len(ids)} ids: lower block_size")
    starts = torch.randint(len(ids) - block_size, (batch_size,), generator=generator)  # (B,)
    offsets = starts[:, None] + torch.arange(block_size + 1)  # (B, T+1)
    windows = ids[offsets.to(ids.device)]  # (B, T+1)
    return windows[:, :-1], windows[:, 1:]


def lm_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """THE loss of the course's language models: mean cross-entropy per predicted token, in nats.

    ``logits`` (B, T, V) score each next token; ``targets`` (B, T) are the tokens that came next.
    """
    if logits.dim() != 3 or targets.shape != logits.shape[:2]:
        raise ValueError(f"expected logits (B, T, V) and targets (B, T), got {tuple(logits.shape)} and "
                         f"{tuple(targets.shape)}")
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), targets.reshape(-1))


def perplexity(loss: float) -> float:
    """exp(loss in nats): the number of equally likely choices the model is, on average, torn between."""
    return math.exp(loss)


def bits_per_char(loss: float) -> float:
    """loss in nats / ln 2: the same loss in bits, the unit compression papers use."""
    return loss / math.log(2)


@torch.no_grad()
def estimate_loss(logits_fn: Callable[[torch.Tensor], torch.Tensor], ids: torch.Tensor, *, batch_size: int,
                  block_size: int, n_batches: int, seed: int = 0) -> float:
    """Mean :func:`lm_loss` over ``n_batches`` seeded random windows of ``ids`` (nats/char).

    ``logits_fn(x)`` maps ids (B, T) to logits (B, T, V); a model that returns more (an RNN's state)
    is wrapped, e.g. ``lambda x: rnn(x)[0]``. The same ``seed`` gives the same windows, so models are
    compared on the same characters. Remember to put a model with dropout in ``eval()`` mode first.
    """
    if n_batches < 1:
        raise ValueError(f"n_batches must be >= 1, got {n_batches}")
    generator = torch.Generator().manual_seed(seed)
    total = 0.0
    for _ in range(n_batches):
        x, y = get_batch(ids, batch_size, block_size, generator)
        total += lm_loss(logits_fn(x), y).item()
    return total / n_batches

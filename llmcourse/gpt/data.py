"""Token streams for pretraining the chapter-7 GPT, and a loss that compares across tokenizers.

Tiny shakespeare, cut with chapter 4's split (:mod:`llmcourse.charlm`: the first 90% of the characters train,
the last 10% validate), tokenized two ways:

- :func:`char_data`: one token per character (chapter 2's ``CharTokenizer``, 65 ids), exactly chapter 4's ids;
- :func:`bpe_data`: chapter 2's byte-level ``BPETokenizer``, trained on the training characters only (so the
  validation text is unseen by the tokenizer too), about two characters per token at 512 ids.

Each split is one 1-D int64 tensor that lives on the training device for the whole run; a batch is a gather by
indices drawn there with a seeded ``torch.Generator`` (:func:`get_batch`), so no batch crosses from the CPU.
Validation uses a FIXED set of windows (:func:`val_windows`, evenly spaced, no randomness), so every evaluation
of a run, and of every run, reads the same tokens.

A loss per token does not compare across tokenizers: a BPE token carries about two characters, so its loss is
about twice a character's. :func:`evaluate` therefore also returns the loss per character: the total nats over
the predicted tokens divided by the characters those tokens spell (each token's length comes from
``TokenData.chars_per_token``). Tiny shakespeare is ASCII, where a character is a byte; for other text the count
is of UTF-8 bytes, which is what byte-level BPE tokens are made of.

A loss per character still depends on WHICH characters are scored and with how much context before them.
:func:`evaluate_on_characters` scores a model of any tokenizer on exactly the characters a character model's
windows score, with the same one character of context at the start of each window: the window's text is
tokenized on its own, so the two models are compared on the same text, character for character.

References: nanoGPT ``data/shakespeare_char`` and ``data/shakespeare`` (the same text, characters and GPT-2 BPE);
Radford et al. (2019): byte-level BPE in section 2.2 (Input Representation), and reporting the loss per
character or byte so that models with different tokenizations compare, in section 3.1 (Language Modeling).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from llmcourse.charlm import DATASET, TRAIN_FRACTION, CharData, load_char_data
from llmcourse.data import read_text
from llmcourse.tokenizers import BPETokenizer, Tokenizer


@dataclass
class TokenData(CharData):
    """A corpus as train and validation token streams on one device (chapter 4's :class:`CharData`, for any
    tokenizer), its name, and how many characters each token spells."""

    tokenizer: Tokenizer
    name: str
    chars_per_token: torch.Tensor  # (vocab_size,) int64: characters (UTF-8 bytes) each id decodes to

    def chars(self, ids: torch.Tensor) -> int:
        """Characters the tokens ``ids`` spell."""
        return int(self.chars_per_token[ids].sum())

    def summary(self) -> str:
        ratio = self.chars(self.val) / len(self.val)
        return (f"{self.name}: vocab {self.vocab_size}, train {len(self.train):,} tokens, val {len(self.val):,} "
                f"tokens, {ratio:.2f} characters per token")


def _token_lengths(tokenizer: Tokenizer, device: torch.device | str) -> torch.Tensor:
    """(vocab_size,) the UTF-8 length of each id's text (its bytes, for byte-level BPE)."""
    if isinstance(tokenizer, BPETokenizer):
        lengths = [len(tokenizer.decode_bytes([i])) for i in range(tokenizer.vocab_size)]
    else:
        lengths = [len(tokenizer.decode([i]).encode("utf-8")) for i in range(tokenizer.vocab_size)]
    return torch.tensor(lengths, dtype=torch.long, device=device)


def char_data(text: str | None = None, device: torch.device | str = "cpu") -> TokenData:
    """Tiny shakespeare (or ``text``) one character per token, with chapter 4's tokenizer and split."""
    data = load_char_data(text, device=device)
    return TokenData(data.tokenizer, data.train, data.val, name="characters",
                     chars_per_token=_token_lengths(data.tokenizer, device))


def bpe_data(vocab_size: int = 512, text: str | None = None, device: torch.device | str = "cpu") -> TokenData:
    """Tiny shakespeare (or ``text``) in byte-level BPE tokens, trained on the training characters only.

    The text is cut where chapter 4 cuts it (the first 90% of the characters) and each part is encoded on its
    own, so no token straddles the cut; ``vocab_size`` >= 256 (the bytes) counts the merges plus 256.
    """
    if text is None:
        text = read_text(DATASET)
    if vocab_size < 256:
        raise ValueError(f"byte-level BPE needs vocab_size >= 256 (one id per byte), got {vocab_size}")
    n_train = int(TRAIN_FRACTION * len(text))  # where charlm.split_ids cuts chapter 4's ids
    train_text, val_text = text[:n_train], text[n_train:]
    if len(train_text) < 2 or len(val_text) < 2:
        raise ValueError(f"{len(text)} characters are too few to split into train and validation text")
    tokenizer = BPETokenizer().train(train_text, vocab_size)
    train = torch.tensor(tokenizer.encode_ordinary(train_text), dtype=torch.long, device=device)
    val = torch.tensor(tokenizer.encode_ordinary(val_text), dtype=torch.long, device=device)
    return TokenData(tokenizer, train, val, name=f"BPE {vocab_size}", chars_per_token=_token_lengths(tokenizer, device))


def get_batch(ids: torch.Tensor, batch_size: int, block_size: int,
              generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch_size`` random windows of the stream ``ids``: inputs x and next-token targets y, (B, T) each.

    The start positions are drawn on ``ids``'s device with ``generator`` (which must live there too), and the
    windows are gathered there: nothing crosses between CPU and GPU. (Chapter 4's
    :func:`llmcourse.charlm.get_batch` draws on the CPU instead, so its windows are the same on every device.)
    """
    if ids.dim() != 1:
        raise ValueError(f"ids must be a 1-D token stream, got shape {tuple(ids.shape)}")
    if batch_size < 1 or block_size < 1:
        raise ValueError(f"batch_size and block_size must be >= 1, got {batch_size} and {block_size}")
    if len(ids) < block_size + 1:
        raise ValueError(f"a window of {block_size} + 1 tokens does not fit in {len(ids)} tokens: lower block_size")
    if generator is not None and generator.device.type != ids.device.type:
        raise ValueError(f"the generator is on {generator.device} but the tokens are on {ids.device}: make it with "
                         f"torch.Generator(device=ids.device)")
    starts = torch.randint(len(ids) - block_size, (batch_size,), generator=generator, device=ids.device)  # (B,)
    offsets = starts[:, None] + torch.arange(block_size + 1, device=ids.device)  # (B, T+1)
    windows = ids[offsets]  # (B, T+1)
    return windows[:, :-1], windows[:, 1:]


def val_windows(ids: torch.Tensor, n_windows: int, block_size: int) -> torch.Tensor:
    """(n_windows,) start positions spread evenly over ``ids``: the same windows every evaluation, no generator.

    Any stream will do: :func:`~llmcourse.gpt.train_gpt` also scores the training stream on windows placed this way.
    """
    if n_windows < 1:
        raise ValueError(f"n_windows must be >= 1, got {n_windows}")
    last = len(ids) - block_size - 1  # the last start whose window and target fit
    if last < 0:
        raise ValueError(f"a window of {block_size} + 1 tokens does not fit in {len(ids)} tokens: lower block_size")
    return torch.linspace(0, last, n_windows, device=ids.device).round().long()


@dataclass
class EvalResult:
    """A loss over a fixed set of windows, per token and per character (nats)."""

    loss: float  # mean nats per predicted token
    loss_per_char: float  # total nats / characters the predicted tokens spell
    tokens: int
    chars: int

    @property
    def bits_per_char(self) -> float:
        return self.loss_per_char / math.log(2)


@torch.no_grad()
def evaluate(logits_fn: Callable[[torch.Tensor], torch.Tensor], ids: torch.Tensor, starts: torch.Tensor,
             block_size: int, chars_per_token: torch.Tensor, batch_size: int = 32) -> EvalResult:
    """The loss of ``logits_fn`` (ids (B, T) -> logits (B, T, V)) on the windows of ``ids`` at ``starts``.

    Put a model with dropout in ``eval()`` mode first. Summed in float64, so the order of the batches does not
    move the result.
    """
    total_nats = torch.zeros((), dtype=torch.float64, device=ids.device)
    total_chars = torch.zeros((), dtype=torch.long, device=ids.device)
    offsets = torch.arange(block_size + 1, device=ids.device)
    for first in range(0, len(starts), batch_size):
        windows = ids[starts[first:first + batch_size, None] + offsets]  # (b, T+1)
        x, y = windows[:, :-1], windows[:, 1:]
        logits = logits_fn(x)  # (b, T, V)
        nats = F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), y.reshape(-1), reduction="sum")
        total_nats += nats.double()
        total_chars += chars_per_token[y].sum()
    tokens, chars = len(starts) * block_size, int(total_chars)
    nats = float(total_nats)
    return EvalResult(loss=nats / tokens, loss_per_char=nats / chars, tokens=tokens, chars=chars)


@torch.no_grad()
def evaluate_on_characters(logits_fn: Callable[[torch.Tensor], torch.Tensor], tokenizer: Tokenizer, text: str,
                           starts: torch.Tensor | list[int], n_chars: int, block_size: int,
                           device: torch.device | str = "cpu", batch_size: int = 32) -> EvalResult:
    """The loss of a model of ANY tokenizer on the characters a character model's windows score.

    A character model's window at ``s`` reads ``text[s]`` first and predicts ``text[s + 1 : s + 1 + n_chars]``.
    Here the model reads the tokens of ``text[s]`` and predicts the tokens of ``text[s + 1 : s + 1 + n_chars]``,
    that stretch tokenized on its own; the loss per character is the nats of those tokens over the characters
    (UTF-8 bytes) they spell, ``n_chars`` per window on ASCII text. For a character tokenizer this is exactly
    :func:`evaluate` on the character stream's windows at ``starts``. ``block_size`` is the model's context in its
    own tokens; a window whose tokens do not fit is refused (lower ``n_chars``).
    """
    starts = [int(s) for s in (starts.tolist() if isinstance(starts, torch.Tensor) else starts)]
    if n_chars < 1:
        raise ValueError(f"n_chars must be >= 1, got {n_chars}")
    if not starts:
        raise ValueError("starts is empty: give at least one window")
    if min(starts) < 0 or max(starts) + 1 + n_chars > len(text):
        raise ValueError(f"starts must be in [0, {len(text) - n_chars - 1}] so that text[s + 1 : s + 1 + n_chars] "
                         f"fits in the {len(text)} characters of text, got {min(starts)} .. {max(starts)}")
    rows, scored, chars = [], [], 0
    for s in starts:
        context = tokenizer.encode(text[s])
        target = tokenizer.encode(text[s + 1:s + 1 + n_chars])
        ids = context + target
        if len(ids) - 1 > block_size:
            raise ValueError(f"the window at {s} is {len(ids) - 1} tokens, more than block_size={block_size}: "
                             f"lower n_chars")
        rows.append(ids)
        scored.append((len(context) - 1, len(target)))  # the first predicting position, how many predictions
        chars += len(text[s + 1:s + 1 + n_chars].encode("utf-8"))
    total = torch.zeros((), dtype=torch.float64, device=device)
    tokens = 0
    for first in range(0, len(rows), batch_size):
        batch = rows[first:first + batch_size]
        width = max(len(r) for r in batch)
        padded = torch.zeros(len(batch), width, dtype=torch.long, device=device)  # (b, W): the end padded, unread
        mask = torch.zeros(len(batch), width - 1, dtype=torch.bool, device=device)  # (b, W-1): scored positions
        for i, (row, (begin, count)) in enumerate(zip(batch, scored[first:first + batch_size], strict=True)):
            padded[i, :len(row)] = torch.tensor(row, device=device)
            mask[i, begin:begin + count] = True
        logits = logits_fn(padded[:, :-1])  # (b, W-1, V): a causal model, so the padding changes nothing before it
        nats = F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), padded[:, 1:].reshape(-1),
                               reduction="none").view_as(mask)  # (b, W-1)
        total += nats[mask].double().sum()
        tokens += int(mask.sum())
    nats = float(total)
    return EvalResult(loss=nats / tokens, loss_per_char=nats / chars, tokens=tokens, chars=chars)


__all__ = ["EvalResult", "TokenData", "bpe_data", "char_data", "evaluate", "evaluate_on_characters", "get_batch",
           "val_windows"]

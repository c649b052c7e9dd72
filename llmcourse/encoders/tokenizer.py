"""The encoder's subword tokenizer: chapter 2's byte-level BPE plus BERT's four special tokens (chapter 9).

    tok = train_encoder_tokenizer(wiki_text, vocab_size=4096)   # merges learned on text8-format Wikipedia
    ids, padding_mask = encode_batch(tok, ["A gripping film .", "dull"], max_len=64)
    # ids:          [[CLS] a grip ping film . [SEP]] and [[CLS] dull [SEP] [PAD] [PAD] [PAD] [PAD]]
    # padding_mask: True at the [PAD] positions, the convention of chapter 6's EncoderBlock

The merges come from :class:`llmcourse.tokenizers.BPETokenizer` trained on Wikipedia in text8's format
(lowercase a-z, digits spelled out, single spaces). :data:`SPECIAL_TOKENS` are appended after the merges, so
``[PAD]``, ``[CLS]``, ``[SEP]`` and ``[MASK]`` are the last four ids, never split and never merged.

Text that is not text8 (movie reviews have capitals, digits and punctuation) goes through :func:`normalize`
first: it is lowercased (text8 has no capitals; an uppercase letter would be a byte token pretraining never
saw) and each digit is spelled out as text8 does (``"21st" -> "two one st"``). Punctuation is kept: it has no
merges, so each mark becomes its own byte token (byte fallback: every byte is one of the 256 base ids, so any
UTF-8 text encodes). Those tokens never occur in pretraining, so their embeddings are learned in fine-tuning
only. Special-token strings written inside a text are plain text (``encode_ordinary``), not specials.

What it leaves out: WordPiece (BERT's own tokenizer; Wu et al. 2016), whose ``##`` continuation pieces are a
different way to write the same idea, and the segment (token-type) ids of sentence pairs (an exercise).

References: Devlin et al. (2019), "BERT", section 3 (the input representation); Sennrich et al. (2016) for BPE.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import torch

from llmcourse.tokenizers import BPETokenizer

SPECIAL_TOKENS = ("[PAD]", "[CLS]", "[SEP]", "[MASK]")
_DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def normalize(text: str) -> str:
    """``text`` as text8 writes words: lowercase, each digit spelled out, runs of whitespace made one space.

    ``"The 2 Towers!" -> "the two towers!"``. Punctuation stays (it becomes byte tokens); see the module docstring.
    """
    text = re.sub(r"[0-9]", lambda m: f" {_DIGITS[int(m.group())]} ", text.lower())
    return re.sub(r"\s+", " ", text).strip()


def wiki_text(max_chars: int, name: str = "enwiki-sample-text8") -> str:
    """The first ``max_chars`` characters of a text8-format corpus, cut back to the last whole word.

    ``name`` is a dataset of :mod:`llmcourse.data`: ``"enwiki-sample-text8"`` (58 MB, shipped with the course
    data) or ``"text8"`` (100 MB, downloaded).
    """
    from llmcourse import data

    if not isinstance(max_chars, int) or max_chars < 1:
        raise ValueError(f"max_chars must be a positive int, got {max_chars!r}")
    text = data.read_text8() if name == "text8" else data.read_text(name)
    if len(text) <= max_chars:
        return text
    return text[:max_chars].rsplit(" ", 1)[0]


def train_encoder_tokenizer(text: str, vocab_size: int) -> BPETokenizer:
    """A byte-level BPE (GPT-2's split pattern) trained on ``text``, with :data:`SPECIAL_TOKENS` as its last ids.

    ``vocab_size`` counts everything: 256 bytes + the merges + the 4 specials.
    """
    if not isinstance(text, str) or not text:
        raise ValueError("text must be a non-empty string to learn merges from")
    if vocab_size < 256 + len(SPECIAL_TOKENS):
        raise ValueError(f"vocab_size must be at least {256 + len(SPECIAL_TOKENS)} (256 bytes + 4 special tokens), "
                         f"got {vocab_size}")
    return BPETokenizer("gpt2", special_tokens=SPECIAL_TOKENS).train(text, vocab_size)


def special_ids(tokenizer: BPETokenizer) -> dict[str, int]:
    """The id of each of :data:`SPECIAL_TOKENS` in ``tokenizer``; a clear error if one is missing."""
    missing = [s for s in SPECIAL_TOKENS if s not in getattr(tokenizer, "special_tokens", {})]
    if missing:
        raise ValueError(f"tokenizer has no special tokens {missing}: build it with train_encoder_tokenizer")
    return {s: tokenizer.special_tokens[s] for s in SPECIAL_TOKENS}


def encode_batch(tokenizer: BPETokenizer, texts: Sequence[str], max_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``texts`` as one padded batch: ids (B, T) and padding_mask (B, T), True at ``[PAD]``.

    Each row is ``[CLS] tokens of normalize(text) [SEP]``; a longer text loses its last tokens so that the row
    fits ``max_len`` with its ``[SEP]``. T is the longest row, not ``max_len`` (less padding, less compute).
    """
    if isinstance(texts, str) or not isinstance(texts, Sequence) or not texts:
        raise ValueError("texts must be a non-empty list of strings (one string alone is not a batch)")
    if not isinstance(max_len, int) or max_len < 2:
        raise ValueError(f"max_len must be an int >= 2 (room for [CLS] and [SEP]), got {max_len!r}")
    ids = special_ids(tokenizer)
    rows = []
    for n, text in enumerate(texts):
        if not isinstance(text, str):
            raise ValueError(f"texts[{n}] must be a string, got {type(text).__name__}")
        body = tokenizer.encode_ordinary(normalize(text))[: max_len - 2]
        rows.append([ids["[CLS]"], *body, ids["[SEP]"]])
    width = max(map(len, rows))
    batch = torch.full((len(rows), width), ids["[PAD]"], dtype=torch.long)
    for i, row in enumerate(rows):
        batch[i, : len(row)] = torch.tensor(row)
    padding_mask = torch.arange(width)[None, :] >= torch.tensor([len(r) for r in rows])[:, None]  # (B, T)
    return batch, padding_mask

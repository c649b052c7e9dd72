"""Hugging Face ``tokenizers`` configured like our byte-level BPE: the trusted peer chapter 2 checks against.

HF's Rust BPE trainer is what most released models' tokenizers were trained with. Set up as ours —
GPT-2's split pattern (its ``ByteLevel`` pre-tokenizer with ``add_prefix_space=False``), all 256 bytes
in the starting alphabet, every pair counted (``min_frequency=0``) and the same special tokens — it
must compress held-out text exactly as well as ours and learn the same merges up to tie order. The
chapter and ``benchmarks/bpe.py`` both use it. ``tokenizers`` comes with the course's ``dev`` extra.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from .bpe import BPETokenizer


def train_hf(text: str, vocab_size: int, special_tokens: Sequence[str] = ()) -> Any:
    """HF's byte-level BPE trained on ``text`` to ``vocab_size`` ids, configured like :class:`BPETokenizer`."""
    import tokenizers as hf

    tok = hf.Tokenizer(hf.models.BPE())
    tok.pre_tokenizer = hf.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = hf.decoders.ByteLevel()
    trainer = hf.trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=0, show_progress=False, special_tokens=list(special_tokens),
        initial_alphabet=hf.pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator([text], trainer=trainer)
    return tok


def byte_to_unicode() -> dict[str, int]:
    """GPT-2's printable stand-in character for each byte, inverted: the alphabet HF's merges are written in."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), 256))
    chars, extra = {}, 0
    for b in range(256):
        if b in printable:
            chars[chr(b)] = b
        else:
            chars[chr(256 + extra)] = b
            extra += 1
    return chars


def hf_merges(theirs: Any) -> list[tuple[bytes, bytes]]:
    """HF's merges in the order learned, as pairs of byte strings (comparable with ours)."""
    to_byte = byte_to_unicode()
    pairs = []
    for merge in json.loads(theirs.to_str())["model"]["merges"]:
        a, b = merge.split(" ") if isinstance(merge, str) else merge
        pairs.append((bytes(to_byte[c] for c in a), bytes(to_byte[c] for c in b)))
    return pairs


def merges_like_hf(ours: BPETokenizer, theirs: Any) -> tuple[int, int]:
    """How many of our merges HF also learned: in the same place from the start, and anywhere."""
    hf_pairs = hf_merges(theirs)
    our_pairs = [(ours.vocab[left], ours.vocab[right]) for left, right in ours.merges]
    prefix = 0
    while prefix < min(len(our_pairs), len(hf_pairs)) and our_pairs[prefix] == hf_pairs[prefix]:
        prefix += 1
    return prefix, len(set(our_pairs) & set(hf_pairs))

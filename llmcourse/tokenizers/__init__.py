"""Tokenizers, built in chapter 2: characters, words and byte-level BPE behind one interface.

    from llmcourse.tokenizers import BPETokenizer, CharTokenizer, WordTokenizer, load

    tok = BPETokenizer(special_tokens=["<|endoftext|>"]).train(text, vocab_size=1024)
    ids = tok.encode(text)            # list[int], every id in range(tok.vocab_size)
    assert tok.decode(ids) == text    # any string, for byte-level BPE
    tok.visualize("To be, or not")    # '[To][ be][,][ or][ not]'
    tok.save("tok.json"); tok = load("tok.json")

Swap ``BPETokenizer`` for ``CharTokenizer()`` or ``WordTokenizer()`` and the rest stays the same.
:mod:`.naive` holds the slow reference BPE trainer that the fast one is checked against.

References: Sennrich, Haddow & Birch (2016) for BPE; Radford et al. (2019) and openai/gpt-2
``src/encoder.py`` for byte-level BPE; Karpathy's minbpe, whose small files this package follows.
"""

from pathlib import Path

from .base import Tokenizer, TokenizerFileError
from .bpe import ENDOFTEXT, GPT2_SPLIT_PATTERN, GPT4_SPLIT_PATTERN, BPETokenizer
from .char import CharTokenizer
from .word import WordTokenizer


def load(path: str | Path) -> Tokenizer:
    """Load any tokenizer saved with ``save``: the file says which kind it is."""
    return Tokenizer.load(path)


__all__ = [
    "ENDOFTEXT",
    "GPT2_SPLIT_PATTERN",
    "GPT4_SPLIT_PATTERN",
    "BPETokenizer",
    "CharTokenizer",
    "Tokenizer",
    "TokenizerFileError",
    "WordTokenizer",
    "load",
]

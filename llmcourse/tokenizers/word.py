"""Word-level tokenization: one id per word or punctuation mark, the second tokenizer chapter 2 builds.

Text is split into words (runs of letters, digits and ``_``) and single punctuation marks; whitespace
is dropped. The vocabulary keeps the most frequent words up to a maximum size, and every other word
becomes ``<unk>``. This is how word-level language models worked before subwords, and it shows the two
problems BPE solves: a huge vocabulary, and words it has never seen.

What round-trips: not whitespace. ``decode`` joins tokens with single spaces, so
``decode(encode("Hello,  world!\\n")) == "Hello , world !"``. What it does guarantee is that this form is
stable: ``encode(decode(ids)) == ids`` for the ids of any text (unknown words decode to ``<unk>``, which
encodes back to its id). What it leaves out: lower-casing, contractions (``don't`` is ``don ' t``),
Unicode normalization.

References: Bengio et al. (2003), "A Neural Probabilistic Language Model" (a word-level vocabulary of
the most frequent words, the rest mapped to one token); Sennrich et al. (2016) on why that falls short.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from .base import AllowedSpecial, Tokenizer, check_special_tokens, split_on_specials

WORD_PATTERN = re.compile(r"\w+|[^\w\s]")  # a word, or one character that is neither word nor space


class WordTokenizer(Tokenizer):
    """Words <-> ids. Ids: ``unk_token`` is 0, then the special tokens, then words from most to least frequent.

    ``WordTokenizer().train("the cat. the end.")``: vocab ``["<unk>", ".", "the", "cat", "end"]``, and
    ``encode("the dog.") -> [2, 0, 1]``.
    """

    kind = "word"

    def __init__(self, unk_token: str = "<unk>", special_tokens: Sequence[str] = ()) -> None:
        if not isinstance(unk_token, str) or not unk_token:
            raise ValueError(f"unk_token must be a non-empty string, got {unk_token!r}")
        self.unk_token = unk_token
        self.special_list = check_special_tokens(special_tokens, reserved=[unk_token])
        self.words: list[str] = []
        self._build()

    def _build(self) -> None:
        """Derive id -> string (``itos``), word -> id (``stoi``, words only) and the special ids from ``words``."""
        self.itos: list[str] = [self.unk_token, *self.special_list, *self.words]
        self.unk_id = 0
        self.special_tokens = {special: 1 + n for n, special in enumerate(self.special_list)}
        first = 1 + len(self.special_list)
        self.stoi: dict[str, int] = {word: first + n for n, word in enumerate(self.words)}

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def train(self, text: str, vocab_size: int | None = None, verbose: bool = False) -> WordTokenizer:
        """Keep the ``vocab_size`` (counting ``<unk>`` and specials) most frequent words; ties go alphabetically."""
        if not text:
            raise ValueError("cannot train on empty text")
        reserved = 1 + len(self.special_list)
        if vocab_size is not None and vocab_size <= reserved:
            raise ValueError(f"vocab_size {vocab_size} leaves no room for words beside {reserved} reserved tokens")
        counts: Counter[str] = Counter()
        for segment in split_on_specials(text, [self.unk_token, *self.special_list])[::2]:
            counts.update(WORD_PATTERN.findall(segment))
        ranked = sorted(counts, key=lambda word: (-counts[word], word))
        self.words = ranked if vocab_size is None else ranked[: vocab_size - reserved]
        self._build()
        if verbose:
            covered = sum(counts[word] for word in self.words) / max(1, counts.total())
            print(f"{len(counts)} distinct words, kept {len(self.words)}, covering {covered:.1%} of the text's words")
        return self

    def encode(
        self, text: str, allowed_special: AllowedSpecial = "none", disallowed_special: AllowedSpecial = "all"
    ) -> list[int]:
        """One id per word or punctuation mark (whitespace dropped); unknown words get the ``<unk>`` id.

        Special tokens follow tiktoken's rule (see :meth:`.Tokenizer.encode`).
        """
        allowed = self._specials_to_split(text, allowed_special, disallowed_special)
        allowed |= {self.unk_token}  # "<unk>" in text means <unk>
        stoi, unk = self.stoi, self.unk_id
        ids: list[int] = []
        for n, part in enumerate(split_on_specials(text, allowed)):
            if n % 2:
                ids.append(unk if part == self.unk_token else self.special_tokens[part])
            else:
                ids.extend([stoi.get(word, unk) for word in WORD_PATTERN.findall(part)])
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        """The tokens joined by single spaces (the text's own whitespace is not kept)."""
        itos = self.itos
        return " ".join([itos[i] for i in self._check_ids(ids)])

    def _state(self) -> dict[str, Any]:
        return {"unk_token": self.unk_token, "special_tokens": self.special_tokens, "words": self.words}

    @classmethod
    def _from_state(cls, state: dict[str, Any]) -> WordTokenizer:
        specials = state["special_tokens"]
        tok = cls(state["unk_token"], list(specials))
        words = [str(word) for word in state["words"]]
        if len(set(words)) != len(words) or set(words) & {tok.unk_token, *specials}:
            raise ValueError("words repeat, or repeat the unk or a special token")
        tok.words = words
        tok._build()
        if tok.special_tokens != specials:
            raise ValueError(f"special token ids {specials} are not 1, 2, ... in order")
        return tok

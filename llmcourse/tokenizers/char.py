"""Character-level tokenization: one id per character, the first tokenizer chapter 2 builds.

The vocabulary is the set of characters seen in training, sorted (tiny shakespeare has 65), as in
nanoGPT's ``shakespeare_char`` and Karpathy's char-rnn. Sequences come out long — one id per
character — which is what motivates words (:mod:`.word`) and then BPE (:mod:`.bpe`).

Round trip: ``decode(encode(s)) == s`` for every ``s`` whose characters are all in the vocabulary.
A character outside it is an error that names it, or, with ``unk_token`` set, becomes that token's id
(and decodes to ``unk_token``). What it leaves out: Unicode normalization (``é`` as one character or as
``e`` + a combining accent are different characters here).

References: Karpathy, char-rnn (2015) and nanoGPT ``data/shakespeare_char/prepare.py``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from .base import AllowedSpecial, Tokenizer, check_special_tokens, split_on_specials


class CharTokenizer(Tokenizer):
    """Characters <-> ids. Ids: the characters in sorted order, then ``unk_token`` if set, then the specials.

    ``CharTokenizer().train("hello")``: vocab ``"ehlo"``, ``encode("hell") -> [1, 0, 2, 2]``.
    """

    kind = "char"

    def __init__(self, unk_token: str | None = None, special_tokens: Sequence[str] = ()) -> None:
        if unk_token is not None and (not isinstance(unk_token, str) or not unk_token):
            raise ValueError(f"unk_token must be a non-empty string or None, got {unk_token!r}")
        self.unk_token = unk_token
        self.special_list = check_special_tokens(special_tokens, reserved=[unk_token] if unk_token else ())
        self.chars: list[str] = []
        self._build()

    def _build(self) -> None:
        """Derive id -> string (``itos``), character -> id (``stoi``) and the special ids from ``chars``."""
        self.itos: list[str] = list(self.chars) + ([self.unk_token] if self.unk_token else [])
        self.stoi: dict[str, int] = {ch: i for i, ch in enumerate(self.chars)}
        self.unk_id: int | None = len(self.chars) if self.unk_token else None
        self.special_tokens = {}
        for special in self.special_list:
            self.special_tokens[special] = len(self.itos)
            self.itos.append(special)

    @classmethod
    def from_chars(
        cls, chars: Iterable[str], unk_token: str | None = None, special_tokens: Sequence[str] = ()
    ) -> CharTokenizer:
        """A tokenizer with a fixed alphabet, no training: ``CharTokenizer.from_chars("abc")``."""
        chars = list(chars)
        if any(not isinstance(ch, str) or len(ch) != 1 for ch in chars) or len(set(chars)) != len(chars):
            raise ValueError("chars must be distinct single characters")
        if unk_token in chars or set(chars) & set(special_tokens):
            raise ValueError("unk_token and special tokens must not also be characters of the vocabulary")
        tok = cls(unk_token, special_tokens)
        tok.chars = sorted(chars)
        tok._build()
        return tok

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def train(self, text: str, vocab_size: int | None = None, verbose: bool = False) -> CharTokenizer:
        """Keep the characters of ``text`` (the ``vocab_size`` most frequent if given, counting unk and specials)."""
        if not text:
            raise ValueError("cannot train on empty text")
        counts: Counter[str] = Counter()
        for segment in split_on_specials(text, self.special_list)[::2]:
            counts.update(segment)
        reserved = len(self.special_list) + (self.unk_token is not None)
        if vocab_size is None:
            keep = list(counts)
        elif vocab_size <= reserved:
            raise ValueError(f"vocab_size {vocab_size} leaves no room for characters beside {reserved} reserved tokens")
        else:
            keep = sorted(counts, key=lambda ch: (-counts[ch], ch))[: vocab_size - reserved]
        self.chars = sorted(keep)
        self._build()
        if verbose:
            print(f"{len(counts)} distinct characters, kept {len(self.chars)}: {''.join(self.chars)!r}")
        return self

    def _encode_plain(self, text: str) -> list[int]:
        stoi = self.stoi
        try:
            return [stoi[ch] for ch in text]
        except KeyError:
            if self.unk_id is not None:
                return [stoi.get(ch, self.unk_id) for ch in text]
            unknown = sorted({ch for ch in text if ch not in stoi})
            raise ValueError(
                f"characters not in the vocabulary: {unknown[:10]}{' …' if len(unknown) > 10 else ''} "
                f"(train on text that has them, or make the tokenizer with unk_token='<unk>')"
            ) from None

    def encode(
        self, text: str, allowed_special: AllowedSpecial = "none", disallowed_special: AllowedSpecial = "all"
    ) -> list[int]:
        """One id per character; special tokens follow tiktoken's rule (see :meth:`.Tokenizer.encode`)."""
        allowed = self._specials_to_split(text, allowed_special, disallowed_special)
        ids: list[int] = []
        for n, part in enumerate(split_on_specials(text, allowed)):
            ids.extend([self.special_tokens[part]] if n % 2 else self._encode_plain(part))
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        itos = self.itos
        return "".join([itos[i] for i in self._check_ids(ids)])

    def _state(self) -> dict[str, Any]:
        return {"chars": "".join(self.chars), "unk_token": self.unk_token, "special_tokens": self.special_tokens}

    @classmethod
    def _from_state(cls, state: dict[str, Any]) -> CharTokenizer:
        specials = state["special_tokens"]
        tok = cls.from_chars(state["chars"], state["unk_token"], list(specials))
        if tok.special_tokens != specials:
            raise ValueError(f"special token ids {specials} do not follow the characters ({tok.special_tokens})")
        return tok

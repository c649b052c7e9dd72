"""Byte-level byte-pair encoding (BPE), as in GPT-2: the tokenizer chapter 2 builds last.

Text becomes UTF-8 bytes (256 starting tokens, so any string can be encoded), a regex first splits it
into chunks (words with their leading space, numbers, punctuation, whitespace) that merges never
cross, and training repeatedly merges the most frequent adjacent pair of tokens into a new token.
Encoding replays the merges in the order they were learned; decoding joins the tokens' bytes.

The trainer here is fast without leaving Python: it counts each distinct chunk once (with how often it
occurs), keeps the pair counts up to date after each merge by re-counting only the chunks that contain
the merged pair (an index pair -> chunks), and finds the next pair with a lazy max-heap. It learns
exactly the merges of the slow textbook loop in :mod:`.naive`, which re-counts everything every merge:
both take the pair with the highest count, and among equal counts the smallest pair (compare the left
ids, then the right ids). What it leaves out: GPT-2's byte-to-unicode printable mapping (we store ids,
not strings) and loading OpenAI's published files.

References: Sennrich, Haddow & Birch (2016), "Neural Machine Translation of Rare Words with Subword
Units"; Radford et al. (2019), "Language Models are Unsupervised Multitask Learners" (GPT-2) and
openai/gpt-2 ``src/encoder.py``; Karpathy's minbpe ``regex.py``; tiktoken for the split patterns.
"""

from __future__ import annotations

import heapq
import operator
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from itertools import pairwise
from typing import Any

import regex

from .base import AllowedSpecial, Tokenizer, check_special_tokens, group_whole_characters, split_on_specials

# How GPT-2 and GPT-4 (cl100k) split text before BPE, from tiktoken. \p{L} (any letter) needs `regex`.
GPT2_SPLIT_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
# GPT-4's is exactly tiktoken 0.14's cl100k pattern (tiktoken_ext/openai_public.py), possessive quantifiers and
# the trailing-whitespace rule `\s++$` included.
GPT4_SPLIT_PATTERN = (r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
                      r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s""")
PATTERNS = {"gpt2": GPT2_SPLIT_PATTERN, "gpt4": GPT4_SPLIT_PATTERN}
ENDOFTEXT = "<|endoftext|>"

Pair = tuple[int, int]


def get_stats(ids: Sequence[int], counts: dict[Pair, int] | None = None) -> dict[Pair, int]:
    """Count adjacent pairs: ``[1, 2, 3, 1, 2] -> {(1, 2): 2, (2, 3): 1, (3, 1): 1}`` (adds to ``counts``)."""
    counts = {} if counts is None else counts
    for pair in pairwise(ids):
        counts[pair] = counts.get(pair, 0) + 1
    return counts


def merge(ids: Sequence[int], pair: Pair, idx: int) -> list[int]:
    """Replace each occurrence of ``pair``, left to right, by ``idx``: ``[1, 2, 3, 1, 2], (1, 2), 4 -> [4, 3, 4]``.

    Overlaps go to the left: merging (a, a) turns ``aaa`` into ``[aa, a]`` and ``aaaa`` into ``[aa, aa]``.
    """
    first, second = pair
    out = []
    i, n = 0, len(ids)
    while i < n:
        if ids[i] == first and i + 1 < n and ids[i + 1] == second:
            out.append(idx)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


# Text a split pattern must cover whole before a tokenizer accepts it: letters of several scripts and cases,
# digits (also Arabic-Indic), contractions, punctuation and symbols, many kinds of whitespace, an emoji with a
# skin tone, a combining accent, control characters, a tag character and a private-use code point.
PATTERN_PROBE = (
    "Hello, WORLD! It's we'll I'M they've 2024 3.14 ١٢٣ naïve café e\u0301 Ελληνικά русский 日本語 한국어 عربى "
    "¿¡ $€£ 100% a_b (x) [y] {z} <|endoftext|> --- ... \"q\" 🙂👍🏽 \t\ttab\r\n\n  two  spaces \x00\x1f\x7f"
    "\u00a0\u2028\u3000\ufeff\U000e0001\U0010fffd end "
)


def compile_split_pattern(pattern: str) -> regex.Pattern:
    """The compiled split pattern, refused with a clear ValueError if it cannot split text losslessly.

    A pattern must be a valid regex, have no capturing groups (``findall`` would return the groups, not the
    chunks; write ``(?:...)``) and match every character of :data:`PATTERN_PROBE`. Text the probe does not
    foresee is checked again at every encode (:func:`split_chunks`), so input is never dropped silently.
    """
    try:
        compiled = regex.compile(pattern)
    except regex.error as err:
        raise ValueError(f"the split pattern {pattern!r} is not a valid regex: {err}") from None
    if compiled.groups:
        raise ValueError(f"the split pattern {pattern!r} has capturing groups; write them as (?:...)")
    split_chunks(compiled, PATTERN_PROBE)
    return compiled


def split_chunks(compiled: regex.Pattern, text: str) -> list[str]:
    """``text`` cut into the pattern's chunks, after checking they cover all of it: ``"Hi you" -> ["Hi", " you"]``."""
    chunks = compiled.findall(text)
    if sum(map(len, chunks)) != len(text):
        covered = set()
        for match in compiled.finditer(text):
            covered.update(range(*match.span()))
        skipped = sorted({text[i] for i in range(len(text)) if i not in covered})
        raise ValueError(
            f"the split pattern skips some characters ({', '.join(map(repr, skipped[:10]))}"
            f"{' …' if len(skipped) > 10 else ''}); it must match every character of any text, or those "
            f"characters would be lost: pattern {compiled.pattern!r}"
        )
    return chunks


def pretokenize(text: str, pattern: str, special_tokens: Sequence[str] = ()) -> list[str]:
    """The chunks that merges never cross, special tokens left out: ``"Hi you!" -> ["Hi", " you", "!"]``."""
    compiled = compile_split_pattern(pattern)
    chunks = []
    for segment in split_on_specials(text, special_tokens)[::2]:
        chunks.extend(split_chunks(compiled, segment))
    return chunks


def train_merges(chunk_counts: dict[bytes, int], num_merges: int, verbose: bool = False) -> list[Pair]:
    """Learn up to ``num_merges`` merges from distinct chunks and their counts; new ids start at 256.

    ``{b"aaabdaaabac": 1}, 3 -> [(97, 97), (97, 98), (256, 257)]``: ``aa`` (id 256), then ``ab`` (257,
    which ties with ``aa a`` = (256, 97) at 2 and is the smaller pair), then ``aa ab``. Stops early if no
    pair is left. The pair counts, the index ``where`` (pair -> chunks containing it) and the heap are
    updated only for the chunks that contain the merged pair, which is what makes this fast.
    """
    words = [list(chunk) for chunk in chunk_counts]  # each distinct chunk as a list of ids
    freqs = list(chunk_counts.values())  # how often it occurs
    stats: dict[Pair, int] = defaultdict(int)  # pair -> occurrences, weighted by chunk frequency
    where: dict[Pair, set[int]] = defaultdict(set)  # pair -> indices of the words that contain it
    for i, (word, freq) in enumerate(zip(words, freqs, strict=True)):
        for pair in pairwise(word):
            stats[pair] += freq
            where[pair].add(i)
    # Lazy max-heap of (-count, pair). A stored count is never below the pair's real count (counts of
    # old pairs only fall; new pairs are pushed), so an entry whose count is still exact is the maximum,
    # and heap order puts the smallest pair first among equal counts: the tie rule of the naive loop.
    heap = [(-count, pair) for pair, count in stats.items()]
    heapq.heapify(heap)
    merges: list[Pair] = []
    vocab = [bytes([b]) for b in range(256)]  # id -> bytes, for the verbose printout
    while len(merges) < num_merges and heap:
        negative, pair = heapq.heappop(heap)
        count = stats.get(pair, 0)
        if count != -negative:  # stale entry: the pair was seen less since it was pushed
            if count > 0:
                heapq.heappush(heap, (-count, pair))
            continue
        idx = 256 + len(merges)
        merges.append(pair)
        vocab.append(vocab[pair[0]] + vocab[pair[1]])
        if verbose:
            print(f"merge {len(merges)}/{num_merges}: {pair} -> {idx} ({vocab[idx]!r}) had {count} occurrences")
        new_pairs = set()
        for i in where.pop(pair):
            word = words[i]
            merged = merge(word, pair, idx)
            if len(merged) == len(word):  # the index is not pruned: this word lost the pair to an earlier merge
                continue
            freq = freqs[i]
            for old in pairwise(word):
                stats[old] -= freq
            for new in pairwise(merged):
                stats[new] += freq
                where[new].add(i)
                if idx in new:
                    new_pairs.add(new)
            words[i] = merged
        del stats[pair]
        for new in new_pairs:
            heapq.heappush(heap, (-stats[new], new))
    return merges


class BPETokenizer(Tokenizer):
    """Byte-level BPE with a regex pre-split and special tokens, GPT-2 style.

    Ids: 0-255 are the bytes, 256 onwards the merges in the order learned, then the special tokens
    (so ``<|endoftext|>`` is the last id, as in GPT-2). ``pattern`` is ``"gpt2"``, ``"gpt4"`` or a regex.
    """

    kind = "bpe"

    def __init__(self, pattern: str = "gpt2", special_tokens: Sequence[str] = ()) -> None:
        self.pattern = PATTERNS.get(pattern, pattern)
        self.compiled_pattern = compile_split_pattern(self.pattern)  # a pattern that drops text is refused here
        self.special_list = check_special_tokens(special_tokens)
        self.merges: list[Pair] = []
        self._build()

    def _build(self) -> None:
        """Derive the lookup tables from the merges: vocab (id -> bytes), ranks, special ids; empty the cache."""
        self.vocab: list[bytes] = [bytes([b]) for b in range(256)]
        self.ranks: dict[Pair, int] = {}  # pair -> the id it merges into (a lower id was learned earlier)
        for pair in self.merges:
            self.ranks[pair] = len(self.vocab)
            self.vocab.append(self.vocab[pair[0]] + self.vocab[pair[1]])
        self.special_tokens = {}
        for special in self.special_list:
            self.special_tokens[special] = len(self.vocab)
            self.vocab.append(special.encode("utf-8"))
        self._cache: dict[str, list[int]] = {}  # chunk -> its ids; chunks repeat a lot in text

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    @classmethod
    def from_merges(
        cls, merges: Iterable[Pair], pattern: str = "gpt2", special_tokens: Sequence[str] = ()
    ) -> BPETokenizer:
        """A tokenizer with the given merges (e.g. from :func:`.naive.train_naive`), checked for validity."""
        tok = cls(pattern, special_tokens)
        checked = []
        for n, pair in enumerate(merges):
            try:
                left, right = (operator.index(i) for i in pair)  # ints only: 97.5 or 1e400 is not an id
            except TypeError:
                raise ValueError(f"merge {n} {pair!r} is not a pair of integer ids") from None
            if not (0 <= left < 256 + n and 0 <= right < 256 + n):
                raise ValueError(f"merge {n} {pair} refers to an id that does not exist yet (below {256 + n})")
            checked.append((left, right))
        if len(set(checked)) != len(checked):
            raise ValueError("the same pair is merged twice")
        tok.merges = checked
        tok._build()
        return tok

    def train(self, text: str, vocab_size: int, verbose: bool = False) -> BPETokenizer:
        """Learn ``vocab_size - 256 - len(special_tokens)`` merges from ``text``; returns ``self``.

        Special tokens in ``text`` are cut out first, so they separate chunks and are never merged.
        """
        if not text:
            raise ValueError("cannot train on empty text")
        minimum = 256 + len(self.special_list)
        if vocab_size < minimum:
            raise ValueError(
                f"vocab_size {vocab_size} is too small: a byte-level BPE needs 256 byte tokens "
                f"+ {len(self.special_list)} special tokens = {minimum} at least"
            )
        num_merges = vocab_size - minimum
        counts = Counter(pretokenize(text, self.pattern, self.special_list))
        self.merges = train_merges({chunk.encode("utf-8"): n for chunk, n in counts.items()}, num_merges, verbose)
        if len(self.merges) < num_merges:
            warnings.warn(
                f"only {len(self.merges)} of {num_merges} merges were possible (every chunk of the text is one "
                f"token already); the vocabulary has {minimum + len(self.merges)} ids, not {vocab_size}",
                stacklevel=2,
            )
        self._build()
        return self

    def _encode_chunk(self, chunk: bytes) -> list[int]:
        """Apply the merges to one chunk, earliest-learned pair first, as during training."""
        ids = list(chunk)
        ranks = self.ranks
        while len(ids) >= 2:
            pair = min(pairwise(ids), key=lambda p: ranks.get(p, 1 << 62))
            if pair not in ranks:
                break  # no pair of this chunk was ever merged
            ids = merge(ids, pair, ranks[pair])
        return ids

    def encode_ordinary(self, text: str) -> list[int]:
        """The ids of ``text``, treating special tokens in it as plain text."""
        ids: list[int] = []
        cache = self._cache
        if len(cache) > 200_000:  # bound the memory a long stream of new chunks can take
            cache.clear()
        for chunk in split_chunks(self.compiled_pattern, text):  # raises if the pattern skips a character
            chunk_ids = cache.get(chunk)
            if chunk_ids is None:
                chunk_ids = cache[chunk] = self._encode_chunk(chunk.encode("utf-8"))
            ids.extend(chunk_ids)
        return ids

    def encode(
        self, text: str, allowed_special: AllowedSpecial = "none", disallowed_special: AllowedSpecial = "all"
    ) -> list[int]:
        """The ids of ``text``, with tiktoken's defaults for special tokens written in it.

        ``<|endoftext|>`` in text raises ValueError unless it is allowed (``allowed_special={"<|endoftext|>"}``
        or ``"all"``: then it is its one id) or ``disallowed_special="none"`` (then it is plain text, as in
        :meth:`encode_ordinary`). Text from users may contain it on purpose, so nothing is special by default.
        """
        allowed = self._specials_to_split(text, allowed_special, disallowed_special)
        if not allowed:
            return self.encode_ordinary(text)
        ids: list[int] = []
        parts = split_on_specials(text, allowed)
        for n, part in enumerate(parts):
            if n % 2:
                ids.append(self.special_tokens[part])
            elif part:
                ids.extend(self.encode_ordinary(part))
        return ids

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        """The bytes of ``ids`` joined; they need not be valid UTF-8 (a token can hold part of a character)."""
        vocab = self.vocab
        return b"".join([vocab[i] for i in self._check_ids(ids)])

    def decode(self, ids: Iterable[int]) -> str:
        """The text of ``ids``; bytes that are not valid UTF-8 become ``"�"`` rather than an error."""
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    def pieces(self, ids: Iterable[int]) -> list[tuple[str, list[int]]]:
        """Each token's text, grouping tokens that hold parts of one character: ``[("🙂", [240, 300])]``."""
        return group_whole_characters((i, self.vocab[i]) for i in self._check_ids(ids))

    def _state(self) -> dict[str, Any]:
        text = [token.decode("utf-8", errors="replace") for token in self.vocab[256 : 256 + len(self.merges)]]
        readable = [[a, b, t] for (a, b), t in zip(self.merges, text, strict=True)]
        return {
            "pattern": self.pattern,
            "special_tokens": self.special_tokens,
            "merges_note": "each merge is [left id, right id, its text (for reading only)]; merge n makes id 256 + n",
            "merges": readable,
        }

    @classmethod
    def _from_state(cls, state: dict[str, Any]) -> BPETokenizer:
        specials = state["special_tokens"]
        tok = cls.from_merges([(a, b) for a, b, *_ in state["merges"]], state["pattern"], list(specials))
        if tok.special_tokens != specials:
            raise ValueError(f"special token ids {specials} do not follow the merges (expected {tok.special_tokens})")
        return tok

"""Chapter 2's graded exercises: the pieces of byte-pair encoding, written by the learner.

Counting adjacent pairs, merging one pair, a whole BPE training loop, encoding with a merge table and
decoding bytes back to text. Every reference answer is computed at check time by the course's own
tokenizer code (``llmcourse.tokenizers``), which its tests check against HF ``tokenizers`` and a naive
loop; known mistakes are computed the same way, so a message can say which mistake an answer matches.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from llmcourse.tokenizers.bpe import Pair
from llmcourse.tokenizers.bpe import merge as reference_merge
from llmcourse.tokenizers.naive import train_merges_naive

from .core import call_student, exercise
from .expect import expect_equal, expect_true, expect_type

TEXT = "the cat sat on the mat; the hat, the bat and the rat sat there."  # small and repetitive: merges happen


def _call(fn: Callable[..., Any], *args: Any, hints: Mapping[str, str] | None = None) -> Any:
    """Call the learner's code on copies of list and dict arguments (so the checks keep the originals);
    an error whose text contains a key of ``hints`` fails with that hint."""
    args = tuple(list(a) if isinstance(a, list) else dict(a) if isinstance(a, dict) else a for a in args)
    return call_student(fn, *args, hints=dict(hints or {}))


def _random_ids(seed: int, n: int, alphabet: int) -> list[int]:
    rng = random.Random(seed)
    return [rng.randrange(alphabet) for _ in range(n)]


# --- 1. get_stats ------------------------------------------------------------------------------

get_stats = exercise(
    "ch02.get_stats", name="get_stats",
    description="Count how often each adjacent pair of ids occurs: "
                "[1, 2, 3, 1, 2] -> {(1, 2): 2, (2, 3): 1, (3, 1): 1}.",
    points=1, timeout=10,
)


def _stats_reference(ids: list[int]) -> dict[Pair, int]:
    return dict(Counter(zip(ids, ids[1:], strict=False)))


def _stats_mistakes(ids: list[int]) -> dict[str, dict[Pair, int]]:
    pairs = _stats_reference(ids)
    # Counting each pair the way merge() replaces it: after a match, skip both ids.
    non_overlapping = {pair: len(ids) - len(reference_merge(ids, pair, -1)) for pair in pairs}
    return {
        "stopped one pair early: the last pair (ids[-2], ids[-1]) counts too": _stats_reference(ids[:-1]),
        "skipped overlapping pairs: in [7, 7, 7] the pair (7, 7) occurs twice, at positions 0 and 1":
            non_overlapping,
        "wrote each pair backwards: it is (ids[i], ids[i + 1]), the left id first":
            dict(Counter(zip(ids[1:], ids, strict=False))),
        "counted every pair once, however often it occurs": dict.fromkeys(pairs, 1),
    }


def _expect_stats(student: Any, ids: list[int], what: str) -> None:
    got = _call(student, ids)
    expect_type(got, Mapping, what, "a dict from pairs to counts")
    expect_equal(dict(got), _stats_reference(ids), what, mistakes=_stats_mistakes(ids))


@get_stats.case("counts the pairs of [1, 2, 3, 1, 2]")
def _(student):
    _expect_stats(student, [1, 2, 3, 1, 2], "get_stats([1, 2, 3, 1, 2])")


@get_stats.case("counts the last pair of the sequence too")
def _(student):
    _expect_stats(student, [5, 6, 7, 8], "get_stats([5, 6, 7, 8])")


@get_stats.case("counts overlapping pairs: [7, 7, 7, 1] has (7, 7) twice")
def _(student):
    _expect_stats(student, [7, 7, 7, 1], "get_stats([7, 7, 7, 1])")


@get_stats.case("a sequence of 0 or 1 ids has no pairs")
def _(student):
    _expect_stats(student, [], "get_stats([])")
    _expect_stats(student, [42], "get_stats([42])")


@get_stats.case("counts a random sequence of 300 ids the way the course's tokenizer does")
def _(student):
    _expect_stats(student, _random_ids(1, 300, 6), "the counts for a random sequence")


# --- 2. merge ----------------------------------------------------------------------------------

merge = exercise(
    "ch02.merge", name="merge",
    description="Replace every occurrence of `pair` in `ids`, left to right, by the new id `idx`.",
    points=1, timeout=10,
)


def _merge_mistakes(ids: list[int], pair: Pair, idx: int) -> dict[str, list[int]]:
    right_first = reference_merge(ids[::-1], pair[::-1], idx)[::-1]
    overlapping = []
    i = 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
            overlapping.append(idx)
        elif not (i > 0 and (ids[i - 1], ids[i]) == pair):
            overlapping.append(ids[i])
        i += 1
    return {
        "stopped one position early, so a pair at the very end is not merged (or the last id is lost)":
            reference_merge(ids[:-1], pair, idx) + ids[-1:],
        "dropped the last id: when the loop ends, an id that was not part of a pair must still be kept":
            reference_merge(ids, pair, idx)[:-1],
        "merged overlaps from the right: [7, 7, 7] with pair (7, 7) becomes [idx, 7], the leftmost pair first":
            right_first,
        "merged overlapping pairs twice: after a pair is merged, skip both of its ids (i += 2)": overlapping,
        "merged only the first occurrence: every occurrence is replaced": _merge_first(ids, pair, idx),
    }


def _merge_first(ids: list[int], pair: Pair, idx: int) -> list[int]:
    for i in range(len(ids) - 1):
        if (ids[i], ids[i + 1]) == pair:
            return ids[:i] + [idx] + ids[i + 2 :]
    return list(ids)


def _expect_merge(student: Any, ids: list[int], pair: Pair, idx: int, what: str) -> None:
    original = list(ids)
    got = _call(student, ids, pair, idx)
    if isinstance(got, tuple):
        got = list(got)
    expect_type(got, list, what, "a new list of ids")
    expect_equal(got, reference_merge(original, pair, idx), what, mistakes=_merge_mistakes(original, pair, idx))


@merge.case("merge([1, 2, 3, 1, 2], (1, 2), 4) gives [4, 3, 4]")
def _(student):
    _expect_merge(student, [1, 2, 3, 1, 2], (1, 2), 4, "merge([1, 2, 3, 1, 2], (1, 2), 4)")


@merge.case("a pair at the very end is merged, and a lone last id is kept")
def _(student):
    _expect_merge(student, [5, 1, 2], (1, 2), 9, "merge([5, 1, 2], (1, 2), 9)")
    _expect_merge(student, [1, 2, 5], (1, 2), 9, "merge([1, 2, 5], (1, 2), 9)")


@merge.case("overlaps go to the left: [7, 7, 7] with (7, 7) gives [idx, 7]; [7, 7, 7, 7] gives [idx, idx]")
def _(student):
    _expect_merge(student, [7, 7, 7], (7, 7), 300, "merge([7, 7, 7], (7, 7), 300)")
    _expect_merge(student, [7, 7, 7, 7], (7, 7), 300, "merge([7, 7, 7, 7], (7, 7), 300)")


@merge.case("works on ids above 255 and on random sequences of 300 ids")
def _(student):
    _expect_merge(student, [256, 257, 256, 257, 3], (256, 257), 258, "merge([256, 257, 256, 257, 3], (256, 257), 258)")
    for seed in range(3):
        ids = _random_ids(10 + seed, 300, 4)
        _expect_merge(student, ids, (ids[5], ids[6]), 1000, f"merging a random sequence (seed {seed})")


@merge.case("returns a new list and leaves the one it was given unchanged")
def _(student):
    ids = [1, 2, 3, 1, 2]
    student(ids, (1, 2), 4)
    expect_true(ids == [1, 2, 3, 1, 2],
                f"merge changed the list it was given into {ids}: build and return a new list instead.")


# --- 3. train_bpe ------------------------------------------------------------------------------

train_bpe = exercise(
    "ch02.train_bpe", name="train_bpe",
    description="Learn `num_merges` merges from a sequence of byte ids: count pairs, merge the most frequent "
                "(ties: the smallest pair) into id 256, 257, ..., repeat.",
    points=2, timeout=20,
)
_TRAIN_HINTS = {
    "empty": "when no pairs are left (the sequence is a single token) stop early instead of asking max() for "
             "the most frequent of no pairs.",
}


def _train_reference(ids: list[int], num_merges: int) -> list[Pair]:
    return train_merges_naive([bytes(ids)], num_merges)


def _smallest(stats: Counter[Pair]) -> Pair:
    return max(stats, key=lambda p: (stats[p], -p[0], -p[1]))


def _train_variant(ids: list[int], num_merges: int, choose: Callable[[Counter[Pair]], Pair] = _smallest,
                   first_id: int = 256) -> list[Pair]:
    """The training loop with one thing changed: how the pair is chosen, or the first new id."""
    merges: list[Pair] = []
    for n in range(num_merges):
        stats = Counter(zip(ids, ids[1:], strict=False))
        if not stats:
            break
        pair = choose(stats)
        ids = reference_merge(ids, pair, first_id + n)
        merges.append(pair)
    return merges


def _train_mistakes(ids: list[int], num_merges: int) -> dict[str, list[Pair]]:
    once = Counter(zip(ids, ids[1:], strict=False))  # counted before any merge
    return {
        "counted the pairs only once, before merging: count them again after every merge, since a merge "
        "creates new pairs and removes old ones": sorted(once, key=lambda p: (-once[p], p))[:num_merges],
        "broke ties by which pair appears first; the rule is the smallest pair (compare left ids, then right)":
            _train_variant(ids, num_merges, choose=lambda stats: max(stats, key=stats.get)),
        "numbered the new tokens from 255: the first merge makes id 256, the byte ids 0-255 are taken":
            _train_variant(ids, num_merges, first_id=255),
        "numbered the new tokens from 257: the first merge makes id 256": _train_variant(ids, num_merges, first_id=257),
    }


def _expect_train(student: Any, ids: list[int], num_merges: int, what: str) -> None:
    got = _call(student, ids, num_merges, hints=_TRAIN_HINTS)
    expect_type(got, (list, tuple), what, "the list of merged pairs")
    got = [tuple(pair) if isinstance(pair, (list, tuple)) else pair for pair in got]
    expect_equal(got, _train_reference(ids, num_merges), what, mistakes=_train_mistakes(ids, num_merges))


@train_bpe.case("learns [(97, 97), (97, 98), (256, 257)] from 'aaabdaaabac' in 3 merges (Wikipedia's example)")
def _(student):
    _expect_train(student, list(b"aaabdaaabac"), 3, "train_bpe(list(b'aaabdaaabac'), 3)")


@train_bpe.case("counts again after each merge: a merged pair's neighbours form new pairs")
def _(student):
    _expect_train(student, list(b"abcabcabcxyxy"), 4, "train_bpe(list(b'abcabcabcxyxy'), 4)")


@train_bpe.case("breaks ties by the smallest pair")
def _(student):
    _expect_train(student, list(b"zzyyxxzzyy"), 2, "train_bpe(list(b'zzyyxxzzyy'), 2)")


@train_bpe.case("stops early when no pair is left: 'abc' allows only 2 merges")
def _(student):
    _expect_train(student, list(b"abc"), 5, "train_bpe(list(b'abc'), 5)")


@train_bpe.case("learns the same 20 merges as the course's trainer on a sentence")
def _(student):
    _expect_train(student, list(TEXT.encode("utf-8")), 20, "the 20 merges learned from a sentence")


# --- 4. encode ---------------------------------------------------------------------------------

encode = exercise(
    "ch02.encode", name="encode",
    description="Encode text with a merge table: its UTF-8 bytes, then every merge in the order it was learned.",
    points=1, timeout=10,
)


def _encode_reference(text: str, merges: dict[Pair, int]) -> list[int]:
    ids = list(text.encode("utf-8"))
    for pair, idx in merges.items():  # learned order; merge() is the course's, tested against HF
        ids = reference_merge(ids, pair, idx)
    return ids


def _encode_mistakes(text: str, merges: dict[Pair, int]) -> dict[str, list[int]]:
    by_chars = [ord(ch) for ch in text]
    for pair, idx in merges.items():
        by_chars = reference_merge(by_chars, pair, idx)
    once_each = list(text.encode("utf-8"))
    for pair, idx in merges.items():
        once_each = _merge_first(once_each, pair, idx)
    return {
        "applied the merges in the wrong order: replay them in the order they were learned (lowest new id first)":
            _encode_reference(text, dict(reversed(list(merges.items())))),
        "applied the merges sorted by pair, not in the order they were learned":
            _encode_reference(text, dict(sorted(merges.items()))),
        "started from the characters' code points (ord) instead of the text's UTF-8 bytes "
        "(text.encode('utf-8'))": by_chars,
        "applied each merge to its first occurrence only": once_each,
    }


def _merges_from(text: str, num_merges: int) -> dict[Pair, int]:
    return {pair: 256 + n for n, pair in enumerate(_train_reference(list(text.encode("utf-8")), num_merges))}


def _expect_encode(student: Any, text: str, merges: dict[Pair, int], what: str) -> None:
    got = _call(student, text, merges)
    if isinstance(got, tuple):
        got = list(got)
    expect_type(got, list, what, "a list of ids")
    expect_equal(got, _encode_reference(text, merges), what, mistakes=_encode_mistakes(text, merges))


@encode.case("encodes a sentence with the 20 merges learned from it")
def _(student):
    _expect_encode(student, TEXT, _merges_from(TEXT, 20), "encode(sentence, merges)")


@encode.case("replays merges in the order learned: with {(b, c): 256, (a, b): 257}, 'abc' is [97, 256]")
def _(student):
    merges = {(98, 99): 256, (97, 98): 257, (257, 99): 258}
    _expect_encode(student, "abcab", merges, "encode('abcab', {(98, 99): 256, (97, 98): 257, (257, 99): 258})")


@encode.case("starts from UTF-8 bytes, so it encodes 'café 🙂 東京' as well")
def _(student):
    text = "café 🙂 東京, café 🙂"
    _expect_encode(student, text, _merges_from(text, 6), "encode('café 🙂 東京, café 🙂', merges)")


@encode.case("the empty string has no ids, and text without any learned pair stays bytes")
def _(student):
    _expect_encode(student, "", _merges_from(TEXT, 5), "encode('', merges)")
    _expect_encode(student, "xyz", _merges_from(TEXT, 5), "encode('xyz', merges)")


# --- 5. decode ---------------------------------------------------------------------------------

decode = exercise(
    "ch02.decode", name="decode",
    description="Turn ids back into text: join every token's bytes, then decode UTF-8 once, with replacement.",
    points=1, timeout=10,
)
_DECODE_HINTS = {
    "UnicodeDecodeError": "bytes that are not valid UTF-8 (a token can hold part of a character) must become "
                          "'�', not an error: decode with errors='replace', after joining all the bytes.",
}


def _vocab_for(merges: dict[Pair, int]) -> dict[int, bytes]:
    vocab = {i: bytes([i]) for i in range(256)}
    for (a, b), idx in merges.items():
        vocab[idx] = vocab[a] + vocab[b]
    return vocab


def _decode_mistakes(ids: list[int], vocab: dict[int, bytes]) -> dict[str, str]:
    return {
        "decoded each token on its own: one character's UTF-8 bytes can be split over two tokens, so join all "
        "the bytes first, then decode once": "".join(vocab[i].decode("utf-8", errors="replace") for i in ids),
        "put spaces between the tokens: a token's bytes already include its spaces":
            " ".join(vocab[i].decode("utf-8", errors="replace") for i in ids),
        "dropped the bytes that are not valid UTF-8 (errors='ignore'); they should become '�' (errors='replace')":
            b"".join(vocab[i] for i in ids).decode("utf-8", errors="ignore"),
    }


def _expect_decode(student: Any, ids: list[int], vocab: dict[int, bytes], what: str) -> None:
    got = _call(student, ids, vocab, hints=_DECODE_HINTS)
    expect_type(got, str, what, "a str: the joined bytes decoded into text")
    expected = b"".join(vocab[i] for i in ids).decode("utf-8", errors="replace")
    expect_equal(got, expected, what, mistakes=_decode_mistakes(ids, vocab))


@decode.case("decodes the ids of a sentence back to the sentence")
def _(student):
    merges = _merges_from(TEXT, 20)
    _expect_decode(student, _encode_reference(TEXT, merges), _vocab_for(merges), "decoding a sentence")


@decode.case("joins bytes before decoding: '🙂' split over two tokens is still '🙂'")
def _(student):
    vocab = {i: bytes([i]) for i in range(256)} | {256: "🙂".encode()[:2], 257: "🙂".encode()[2:]}
    _expect_decode(student, [104, 105, 32, 256, 257], vocab, "decode([104, 105, 32, 256, 257]) = 'hi 🙂'")


@decode.case("bytes that are not valid UTF-8 become '�' instead of an error")
def _(student):
    vocab = {i: bytes([i]) for i in range(256)}
    _expect_decode(student, [97, 0xF0, 0x9F, 98], vocab, "decode([97, 0xF0, 0x9F, 98]) (half an emoji)")

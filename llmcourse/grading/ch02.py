"""Chapter 2's graded exercises: the pieces of byte-pair encoding, written by the learner.

Counting adjacent pairs, merging one pair, a whole BPE training loop, encoding with a merge table and
decoding bytes back to text. Every reference answer is computed at check time by the course's own
tokenizer code (``llmcourse.tokenizers``, which its tests check against HF ``tokenizers`` and a naive
loop); known mistakes are computed the same way, so a message can say which mistake an answer matches.

Inputs are drawn afresh every run: ids far above 255 in no particular order, new ids that are not the
next number, texts with whitespace at both ends, accents written as combining marks, emoji made of
several code points and tables whose merges split characters between tokens. So an answer that only
works on bytes, on ASCII, on tables numbered 256, 257, ... or on the notebook's examples fails.
"""

from __future__ import annotations

import random
import unicodedata
from collections import Counter
from collections.abc import Callable
from typing import Any

from llmcourse.tokenizers.bpe import Pair
from llmcourse.tokenizers.bpe import merge as reference_merge
from llmcourse.tokenizers.naive import train_merges_naive

from .core import Step, Trial, exercise

# --- drawing inputs ---------------------------------------------------------------------------------

LETTERS = "aeinorst"
# Characters of several UTF-8 bytes, of several code points (letter + combining mark, emoji + modifier,
# ZWJ sequence, flag) and CJK, so byte-level merges can end up splitting a character between tokens.
EXTRAS = ("é", "e\u0301", "n\u0303", "ü", "ß", "Ω", "—", "東京", "🙂", "👍🏽", "👩\u200d💻", "🇫🇷")
COMBINING = ("e\u0301", "n\u0303", "a\u0308")  # NFC turns each into one code point
SPACES = (" ", "  ", "\t", "\n", " \n", "\r\n", "\u00a0", " \t ")
EMOJI = ("🙂", "👍🏽", "🇫🇷", "👩\u200d💻", "東", "€")


def random_alphabet(rng: random.Random, k: int, high: int = 100_000) -> list[int]:
    """``k`` distinct ids in no order: one byte id, the others above 255, most of them large."""
    ids = [rng.randrange(256)] + rng.sample(range(256, high), k - 1)
    rng.shuffle(ids)
    return ids


def random_ids(rng: random.Random, n: int, alphabet: list[int]) -> list[int]:
    return [rng.choice(alphabet) for _ in range(n)]


def fresh_id(rng: random.Random, taken: list[int], high: int = 1_000_000) -> int:
    """A new id above 255 that is not in ``taken`` (not simply the next number after them)."""
    while True:
        idx = rng.randrange(256, high)
        if idx not in taken:
            return idx


def random_words(rng: random.Random, k: int, extras: float = 0.4) -> list[str]:
    """``k`` short words, some holding a multi-byte character, so that pairs repeat in a text made of them."""
    words = []
    for _ in range(k):
        word = "".join(rng.choice(LETTERS) for _ in range(rng.randint(1, 5)))
        if rng.random() < extras:
            at = rng.randint(0, len(word))
            word = word[:at] + rng.choice(EXTRAS) + word[at:]
        words.append(word)
    return words


def random_text(rng: random.Random, words: list[str], n: int, *, combining: bool = False) -> str:
    """``n`` words from ``words`` with varied separators, and whitespace at both ends."""
    chosen = [rng.choice(words) for _ in range(n)]
    if combining:
        chosen.insert(rng.randint(0, len(chosen)), rng.choice(COMBINING) + rng.choice(LETTERS))
    body = chosen[0] if chosen else ""
    for word in chosen[1:]:
        body += rng.choice((" ", " ", " ", ", ", "\n", "  ")) + word
    return rng.choice(SPACES) + body + rng.choice(SPACES)


def spread_ids(rng: random.Random, n: int) -> list[int]:
    """``n`` increasing new ids from a random start above 255, with gaps: not 256, 257, ..."""
    ids, current = [], rng.randrange(300, 5000)
    for _ in range(n):
        ids.append(current)
        current += rng.randint(1, 700)
    return ids


def renumber(pairs: list[Pair], new_ids: list[int]) -> dict[Pair, int]:
    """The merge table of ``pairs`` learned with ids 256, 257, ..., with the n-th new id renamed ``new_ids[n]``."""
    rename = {256 + n: new for n, new in enumerate(new_ids)}
    return {(rename.get(a, a), rename.get(b, b)): new for (a, b), new in zip(pairs, new_ids, strict=True)}


def learned_table(rng: random.Random, text: str, num_merges: int, *, spread: bool) -> dict[Pair, int]:
    """The merges learned from ``text``, numbered 256, 257, ... or (``spread``) with other increasing ids."""
    pairs = train_reference(list(text.encode("utf-8")), num_merges)
    ids = spread_ids(rng, len(pairs)) if spread else [256 + n for n in range(len(pairs))]
    return renumber(pairs, ids)


def vocab_for(merges: dict[Pair, int]) -> dict[int, bytes]:
    """Every id's bytes: 0-255 the single bytes, each merged id its two parts joined."""
    vocab = {i: bytes([i]) for i in range(256)}
    for (a, b), idx in merges.items():
        vocab[idx] = vocab[a] + vocab[b]
    return vocab


def pieces_table(rng: random.Random, pieces: list[bytes]) -> tuple[dict[Pair, int], list[int]]:
    """A merge table with one token for each of ``pieces`` (built by merging byte after byte) and those
    tokens' ids; the new ids are random and large."""
    table: dict[Pair, int] = {}
    made: dict[bytes, int] = {bytes([i]): i for i in range(256)}
    for piece in pieces:
        for end in range(2, len(piece) + 1):
            if piece[:end] in made:
                continue
            pair = (made[piece[: end - 1]], piece[end - 1])
            if pair not in table:
                table[pair] = fresh_id(rng, list(table.values()))
            made[piece[:end]] = table[pair]
    return table, [made[piece] for piece in pieces]


def shuffled(rng: random.Random, mapping: dict[Any, Any]) -> dict[Any, Any]:
    """The same dict with its keys in a random order (ids are looked up, never taken by position)."""
    items = list(mapping.items())
    rng.shuffle(items)
    return dict(items)


def draw_until(make: Callable[[], Any], good: Callable[[Any], bool], tries: int = 200) -> Any:
    """The first of ``make()``'s draws that is ``good`` (inputs that tell a known mistake apart)."""
    value = make()
    for _ in range(tries):
        if good(value):
            return value
        value = make()
    return value


BYTE_HINT = ("ids can be above 255 (every merge makes a new id): work with a list of Python ints, "
             "not `bytes`, which holds only values 0-255.")


# --- 1. get_stats ------------------------------------------------------------------------------

get_stats = exercise(
    "ch02.get_stats", name="get_stats",
    description="Count how often each adjacent pair of ids occurs: "
                "[1, 2, 3, 1, 2] -> {(1, 2): 2, (2, 3): 1, (3, 1): 1}.",
    args=("ids",), points=1, timeout=10,
    hints={"bytes must be in range(0, 256)": BYTE_HINT},
)


def stats_reference(ids: list[int]) -> dict[Pair, int]:
    return dict(Counter(zip(ids, ids[1:], strict=False)))


def stats_mistakes(ids: list[int]) -> dict[str, dict[Pair, int]]:
    pairs = stats_reference(ids)
    # Counting each pair the way merge() replaces it: after a match, skip both ids.
    non_overlapping = {pair: len(ids) - len(reference_merge(ids, pair, -1)) for pair in pairs}
    return {
        "stopped one pair early: the last pair (ids[-2], ids[-1]) counts too": stats_reference(ids[:-1]),
        "skipped overlapping pairs: in [7, 7, 7] the pair (7, 7) occurs twice, at positions 0 and 1":
            non_overlapping,
        "wrote each pair backwards: it is (ids[i], ids[i + 1]), the left id first":
            dict(Counter(zip(ids[1:], ids, strict=False))),
        "counted every pair once, however often it occurs": dict.fromkeys(pairs, 1),
        "counted pairs of ids two apart, (ids[i], ids[i + 2]): a pair is two neighbours":
            dict(Counter(zip(ids, ids[2:], strict=False))),
    }


def check_stats(t: Trial, ids: list[int]) -> None:
    t.check_call(ids, reference=stats_reference, what="the counts", mistakes=stats_mistakes)


@get_stats.case("counts every adjacent pair of short random sequences, the first and the last pair included")
def _(t: Trial) -> None:
    for _ in range(2):
        alphabet = random_alphabet(t.py, t.py.randint(3, 5))
        check_stats(t, random_ids(t.py, t.py.randint(5, 12), alphabet))


@get_stats.case("counts overlapping pairs in runs of one repeated id")
def _(t: Trial) -> None:
    alphabet = random_alphabet(t.py, 3)
    ids: list[int] = []
    for length in t.py.sample([2, 3, 4, 5, 7], 4):
        ids += [t.py.choice(alphabet)] * length + [t.py.choice(alphabet)]
    check_stats(t, ids)


@get_stats.case("sequences of 0, 1 and 2 ids")
def _(t: Trial) -> None:
    check_stats(t, [])
    check_stats(t, [t.py.randrange(100_000)])
    check_stats(t, random_alphabet(t.py, 2))


@get_stats.case("counts a long random sequence of large ids")
def _(t: Trial) -> None:
    check_stats(t, random_ids(t.py, t.py.randint(200, 400), random_alphabet(t.py, t.py.randint(4, 7))))


@get_stats.case("two calls in a row count independently (nothing is kept from an earlier call)")
def _(t: Trial) -> None:
    alphabet = random_alphabet(t.py, 4)
    first = random_ids(t.py, t.py.randint(6, 12), alphabet)
    second = random_ids(t.py, t.py.randint(6, 12), alphabet)
    got = t.run([Step((first,)), Step((second,))])
    kept = dict(Counter(stats_reference(first)) + Counter(stats_reference(second)))
    t.expect(got[0].value, stats_reference(first), "the counts of the first call",
             mistakes=stats_mistakes(first))
    t.expect(got[1].value, stats_reference(second), "the counts of the second call",
             mistakes={**stats_mistakes(second),
                       "kept the counts of an earlier call (a dict made outside the function, or a default "
                       "argument `counts={}`): start from an empty dict on every call": kept})


# --- 2. merge ----------------------------------------------------------------------------------

merge = exercise(
    "ch02.merge", name="merge",
    description="Replace every occurrence of `pair` in `ids`, left to right, by the new id `idx`; return a new list.",
    args=("ids", "pair", "idx"), points=1, timeout=10,
    hints={"bytes must be in range(0, 256)": BYTE_HINT},
)


def merge_reference(ids: list[int], pair: Pair, idx: int) -> list[int]:
    return reference_merge(ids, tuple(pair), idx)


def _merge_loop(ids: list[int], matches: Callable[[int], bool], idx: int, *, skip: int = 2,
                stop: int = 1) -> list[int]:
    """merge's loop with one thing changed: what counts as a match, how far it skips, where it stops."""
    out, i = [], 0
    while i < len(ids):
        if i + stop < len(ids) and matches(i):
            out.append(idx)
            i += skip
        else:
            out.append(ids[i])
            i += 1
    return out


def _merge_first(ids: list[int], pair: Pair, idx: int) -> list[int]:
    for i in range(len(ids) - 1):
        if (ids[i], ids[i + 1]) == pair:
            return ids[:i] + [idx] + ids[i + 2 :]
    return list(ids)


def _merge_lossy_end(ids: list[int], pair: Pair, idx: int) -> list[int]:
    """The loop stops at len(ids) - 1, so an id left over after the last pair is lost."""
    out, i = [], 0
    while i < len(ids) - 1:
        if (ids[i], ids[i + 1]) == pair:
            out.append(idx)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def _merge_overlapping(ids: list[int], pair: Pair, idx: int) -> list[int]:
    out = []
    for i in range(len(ids)):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
            out.append(idx)
        elif not (i > 0 and (ids[i - 1], ids[i]) == pair):
            out.append(ids[i])
    return out


def _merge_as_text(ids: list[int], pair: Pair, idx: int) -> list[int]:
    """Replacing "a b" in the ids written as text: "12 3" holds "2 3" too."""
    text = " ".join(map(str, ids)).replace(f"{pair[0]} {pair[1]}", str(idx))
    return [int(part) for part in text.split()]


def merge_mistakes(ids: list[int], pair: Pair, idx: int) -> dict[str, list[int]]:
    a, b = pair
    return {
        "stopped one position early, so a pair at the very end is not merged":
            _merge_loop(ids, lambda i: (ids[i], ids[i + 1]) == (a, b), idx, stop=2),
        "dropped the last id: when the loop ends, an id that was not part of a pair must still be kept":
            _merge_lossy_end(ids, (a, b), idx),
        "merged overlaps from the right: with pair (7, 7), [7, 7, 7] becomes [idx, 7], the leftmost pair first":
            reference_merge(ids[::-1], (b, a), idx)[::-1],
        "merged overlapping pairs twice: after a pair is merged, skip both of its ids (i += 2)":
            _merge_overlapping(ids, (a, b), idx),
        "merged only the first occurrence: every occurrence is replaced": _merge_first(ids, (a, b), idx),
        "matched only the pair's first id: both ids must match, (ids[i], ids[i + 1]) == pair":
            _merge_loop(ids, lambda i: ids[i] == a, idx),
        "looked for the pair backwards, (ids[i + 1], ids[i]): the pair's left id comes first":
            reference_merge(ids, (b, a), idx),
        "never merged anything: compare a tuple with the pair, (ids[i], ids[i + 1]) == pair "
        "(a list [x, y] never equals a tuple)": list(ids),
        "put 256 in place of the pair: the new id is the argument `idx`": reference_merge(ids, (a, b), 256),
        "replaced the pair in the ids written as text: compare whole ids, since the text '12 3' holds '2 3' too":
            _merge_as_text(ids, (a, b), idx),
    }


def check_merge(t: Trial, ids: list[int], pair: Pair, idx: int) -> None:
    outcome = t.call(ids, pair, idx)
    t.expect(outcome.value, merge_reference(ids, pair, idx), "the merged ids",
             mistakes=merge_mistakes(ids, pair, idx), strict_sequences=True)


def _pair_in(rng: random.Random, ids: list[int]) -> Pair:
    at = rng.randrange(len(ids) - 1)
    return ids[at], ids[at + 1]


@merge.case("replaces every occurrence of a pair in short random sequences")
def _(t: Trial) -> None:
    for _ in range(2):
        alphabet = random_alphabet(t.py, t.py.randint(3, 4))
        ids = random_ids(t.py, t.py.randint(6, 14), alphabet)
        check_merge(t, ids, _pair_in(t.py, ids), fresh_id(t.py, alphabet))


@merge.case("merges a pair at the very end, and keeps an id left over after the last pair")
def _(t: Trial) -> None:
    alphabet = random_alphabet(t.py, 4)
    a, b = t.py.sample(alphabet, 2)
    prefix = random_ids(t.py, t.py.randint(1, 5), alphabet)
    check_merge(t, prefix + [a, b], (a, b), fresh_id(t.py, alphabet))
    check_merge(t, prefix + [a, b, t.py.choice(alphabet)], (a, b), fresh_id(t.py, alphabet))


@merge.case("resolves overlapping occurrences of a pair of equal ids from the left")
def _(t: Trial) -> None:
    alphabet = random_alphabet(t.py, 3)
    x = alphabet[0]
    for lengths in ([3, 2], [4, 5]):
        ids: list[int] = []
        for length in lengths:
            ids += [t.py.choice(alphabet[1:])] + [x] * length
        check_merge(t, ids, (x, x), fresh_id(t.py, alphabet))


@merge.case("merges only where both ids match the pair exactly, not ids that share its digits or one half")
def _(t: Trial) -> None:
    a, b = t.py.randrange(10, 1000), t.py.randrange(10, 1000)
    decoys = [int(f"{t.py.randint(1, 9)}{a}"), int(f"{b}{t.py.randint(0, 9)}"), t.py.randrange(1000, 5000)]
    blocks = [[a, b], [decoys[0], b], [a, decoys[1]], [a, decoys[2]], [decoys[2], a, b], [b, a]]
    ids = [x for block in t.py.sample(blocks, len(blocks)) for x in block]
    check_merge(t, ids, (a, b), fresh_id(t.py, ids))


@merge.case("an empty list, a single id and a pair that does not occur")
def _(t: Trial) -> None:
    alphabet = random_alphabet(t.py, 4)
    check_merge(t, [], (alphabet[0], alphabet[1]), fresh_id(t.py, alphabet))
    check_merge(t, [alphabet[0]], (alphabet[0], alphabet[0]), fresh_id(t.py, alphabet))
    ids = random_ids(t.py, 8, alphabet[:3])
    check_merge(t, ids, (alphabet[3], alphabet[0]), fresh_id(t.py, alphabet))


@merge.case("merges long random sequences of large ids")
def _(t: Trial) -> None:
    alphabet = random_alphabet(t.py, t.py.randint(3, 5))
    ids = random_ids(t.py, t.py.randint(200, 400), alphabet)
    check_merge(t, ids, _pair_in(t.py, ids), fresh_id(t.py, alphabet))


# --- 3. train_bpe ------------------------------------------------------------------------------

train_bpe = exercise(
    "ch02.train_bpe", name="train_bpe",
    description="Learn `num_merges` merges from a sequence of byte ids: count pairs, merge the most frequent "
                "(ties: the smallest pair) into id 256, 257, ..., repeat; stop early when no pair is left.",
    args=("ids", "num_merges"), points=2, timeout=20,
    hints={"empty": "when no pairs are left (the sequence is a single token) stop early instead of asking max() "
                    "for the most frequent of no pairs."},
)


def train_reference(ids: list[int], num_merges: int) -> list[Pair]:
    return train_merges_naive([bytes(ids)], num_merges)


def _smallest(stats: Counter[Pair]) -> Pair:
    return max(stats, key=lambda p: (stats[p], -p[0], -p[1]))


def _first_seen(stats: Counter[Pair]) -> Pair:
    return max(stats, key=stats.__getitem__)  # ties: the pair counted first, i.e. the first to appear


def _largest(stats: Counter[Pair]) -> Pair:
    return max(stats, key=lambda p: (stats[p], p))


def _train_variant(ids: list[int], num_merges: int, *, choose: Callable[[Counter[Pair]], Pair] = _smallest,
                   first_id: int = 256, step: int = 1, min_count: int = 1) -> list[Pair]:
    """The training loop with one thing changed: how the pair is chosen, the new ids, when it stops."""
    merges: list[Pair] = []
    for n in range(num_merges):
        stats = Counter(zip(ids, ids[1:], strict=False))  # in order of first appearance, like a dict
        if not stats:
            break
        pair = choose(stats)
        if stats[pair] < min_count:
            break
        ids = reference_merge(ids, pair, first_id + step * n)
        merges.append(pair)
    return merges


def train_mistakes(ids: list[int], num_merges: int) -> dict[str, list[Pair]]:
    once = Counter(zip(ids, ids[1:], strict=False))  # counted before any merge
    return {
        "counted the pairs only once, before merging: count them again after every merge, since a merge "
        "creates new pairs and removes old ones": sorted(once, key=lambda p: (-once[p], p))[:num_merges],
        "broke ties by which pair appears first; the rule is the smallest pair (compare left ids, then right)":
            _train_variant(ids, num_merges, choose=_first_seen),
        "broke ties by the largest pair; the rule is the smallest pair (compare left ids, then right)":
            _train_variant(ids, num_merges, choose=_largest),
        "numbered the new tokens from 255: the first merge makes id 256, the byte ids 0-255 are taken":
            _train_variant(ids, num_merges, first_id=255),
        "numbered the new tokens from 257: the first merge makes id 256": _train_variant(ids, num_merges, first_id=257),
        "gave every new token the same id: the n-th merge (from 0) makes id 256 + n":
            _train_variant(ids, num_merges, step=0),
        "stopped when the most frequent pair occurs only once: keep merging until num_merges merges are done "
        "or no pair is left": _train_variant(ids, num_merges, min_count=2),
        "made one merge too few: loop num_merges times": train_reference(ids, max(num_merges - 1, 0)),
        "ignored num_merges and merged until no pair was left": train_reference(ids, len(ids)),
    }


def check_train(t: Trial, ids: list[int], num_merges: int) -> None:
    outcome = t.call(ids, num_merges)
    t.expect(outcome.value, train_reference(ids, num_merges), "the merges",
             mistakes=train_mistakes(ids, num_merges), strict_sequences=True)


def text_ids(text: str) -> list[int]:
    return list(text.encode("utf-8"))


def _nested(ids: list[int], num_merges: int) -> bool:
    """Whether some learned merge joins a token made by an earlier merge."""
    return any(max(pair) >= 256 for pair in train_reference(ids, num_merges))


@train_bpe.case("learns the merges of short texts made of a few letters")
def _(t: Trial) -> None:
    for _ in range(2):
        letters = t.py.sample(LETTERS + "xyz", 3)
        text = "".join(t.py.choice(letters) for _ in range(t.py.randint(10, 20)))
        check_train(t, text_ids(text), t.py.randint(2, 5))


@train_bpe.case("counts the pairs again after every merge, so merged tokens pair up with their neighbours")
def _(t: Trial) -> None:
    def make() -> tuple[list[int], int]:
        text = random_text(t.py, random_words(t.py, 3, extras=0.2), t.py.randint(6, 10))
        return text_ids(text), t.py.randint(6, 12)

    def separates(data: tuple[list[int], int]) -> bool:  # by a merge of merged tokens, numbered right or not
        right, wrong = train_reference(*data), train_mistakes(*data)
        return _nested(*data) and all(value != right for key, value in wrong.items()
                                      if key.startswith(("counted the pairs only once", "numbered", "gave every")))

    check_train(t, *draw_until(make, separates))


@train_bpe.case("breaks ties between equally frequent pairs by the smallest pair")
def _(t: Trial) -> None:
    def make() -> tuple[list[int], int]:
        ids = t.py.sample(range(32, 256), t.py.randint(6, 10))  # distinct bytes: every pair occurs once
        return ids * t.py.randint(1, 2), t.py.randint(2, 4)

    def separates(data: tuple[list[int], int]) -> bool:
        right, wrong = train_reference(*data), train_mistakes(*data)
        return all(value != right for key, value in wrong.items() if key.startswith("broke ties"))

    check_train(t, *draw_until(make, separates))


@train_bpe.case("more merges asked for than the text allows, 0 merges, and a single id")
def _(t: Trial) -> None:
    ids = text_ids("".join(t.py.choice(LETTERS) for _ in range(t.py.randint(3, 6))))
    check_train(t, ids, len(ids) + t.py.randint(1, 5))
    check_train(t, text_ids(random_text(t.py, random_words(t.py, 3), 3)), 0)
    check_train(t, [t.py.randrange(256)], t.py.randint(1, 3))


@train_bpe.case("learns many merges from a longer text with multi-byte characters")
def _(t: Trial) -> None:
    text = random_text(t.py, random_words(t.py, 6, extras=0.6), t.py.randint(40, 70), combining=True)
    check_train(t, text_ids(text), t.py.randint(15, 40))


@train_bpe.case("two trainings in a row are independent (nothing is kept from an earlier call)")
def _(t: Trial) -> None:
    words = random_words(t.py, 3)
    first, second = (text_ids(random_text(t.py, words, t.py.randint(4, 8))) for _ in range(2))
    m1, m2 = t.py.randint(2, 5), t.py.randint(3, 6)
    got = t.run([Step((first, m1)), Step((second, m2))])
    kept = train_reference(first, m1) + train_reference(second, m2)
    t.expect(got[0].value, train_reference(first, m1), "the merges of the first call",
             mistakes=train_mistakes(first, m1), strict_sequences=True)
    t.expect(got[1].value, train_reference(second, m2), "the merges of the second call",
             mistakes={**train_mistakes(second, m2),
                       "kept the merges of an earlier call (a list made outside the function): start a new "
                       "list on every call": kept}, strict_sequences=True)


# --- 4. encode ---------------------------------------------------------------------------------

encode = exercise(
    "ch02.encode", name="encode",
    description="Encode text with a merge table: its UTF-8 bytes, then every merge in the order it was learned.",
    args=("text", "merges"), points=1, timeout=10,
    hints={"codec can't encode": "start from the text's UTF-8 bytes, text.encode('utf-8'): every character has "
                                 "them, but not every character has an ASCII or Latin-1 byte.",
           "bytes must be in range(0, 256)": BYTE_HINT},
)


def encode_reference(text: str, merges: dict[Pair, int]) -> list[int]:
    ids = list(text.encode("utf-8"))
    for pair, idx in merges.items():  # learned order; merge() is the course's, tested against HF
        ids = reference_merge(ids, pair, idx)
    return ids


def encode_mistakes(text: str, merges: dict[Pair, int]) -> dict[str, list[int]]:
    by_chars = [ord(ch) for ch in text]
    for pair, idx in merges.items():
        by_chars = reference_merge(by_chars, pair, idx)
    once_each = list(text.encode("utf-8"))
    for pair, idx in merges.items():
        once_each = _merge_first(once_each, pair, idx)
    renumbered = list(text.encode("utf-8"))
    for n, pair in enumerate(merges):
        renumbered = reference_merge(renumbered, pair, 256 + n)
    return {
        "applied the merges in the wrong order: replay them in the order they were learned (lowest new id first)":
            encode_reference(text, dict(reversed(list(merges.items())))),
        "applied the merges sorted by pair, not in the order they were learned":
            encode_reference(text, dict(sorted(merges.items()))),
        "started from the characters' code points (ord) instead of the text's UTF-8 bytes "
        "(text.encode('utf-8'))": by_chars,
        "applied each merge to its first occurrence only": once_each,
        "numbered the merged tokens 256, 257, ... yourself: use the id each pair maps to in `merges`": renumbered,
        "stripped the whitespace at the ends of the text: encode all of it": encode_reference(text.strip(), merges),
        "normalized the text (its accents) before encoding: encode exactly the characters you are given":
            encode_reference(unicodedata.normalize("NFC", text), merges),
    }


def check_encode(t: Trial, text: str, merges: dict[Pair, int]) -> None:
    outcome = t.call(text, merges)
    t.expect(outcome.value, encode_reference(text, merges), "the ids", mistakes=encode_mistakes(text, merges),
             strict_sequences=True)


@encode.case("encodes a text, whitespace at the ends included, with the merges learned from similar text")
def _(t: Trial) -> None:
    words = random_words(t.py, 5, extras=0.2)
    merges = learned_table(t.py, random_text(t.py, words, 30), t.py.randint(10, 30), spread=False)
    check_encode(t, random_text(t.py, words, t.py.randint(8, 15)), merges)


@encode.case("replays the merges in the order they were learned, where another order gives other ids")
def _(t: Trial) -> None:
    def make() -> tuple[str, dict[Pair, int]]:
        letters = t.py.sample(LETTERS, 3)
        training = "".join(t.py.choice(letters) for _ in range(30))
        merges = learned_table(t.py, training, t.py.randint(4, 8), spread=True)
        return "".join(t.py.choice(letters) for _ in range(t.py.randint(10, 20))), merges

    def separates(data: tuple[str, dict[Pair, int]]) -> bool:
        right, wrong = encode_reference(*data), encode_mistakes(*data)
        return all(v != right for k, v in wrong.items() if "order" in k)

    check_encode(t, *draw_until(make, separates))
    a, b, c = (ord(ch) for ch in t.py.sample(LETTERS, 3))  # "bc" learned before "ab", as in the notebook
    first, second, third = spread_ids(t.py, 3)
    text = "".join(chr(x) for x in [a, b, c] * t.py.randint(1, 3) + [a, b])
    check_encode(t, text, {(b, c): first, (a, b): second, (second, c): third})


@encode.case("starts from the UTF-8 bytes: accents, combining marks, emoji and CJK, with merges that split them")
def _(t: Trial) -> None:
    words = random_words(t.py, 5, extras=1.0)
    merges = learned_table(t.py, random_text(t.py, words, 25, combining=True), t.py.randint(15, 35), spread=True)
    check_encode(t, random_text(t.py, words, t.py.randint(6, 12), combining=True), merges)


@encode.case("uses the ids the table gives, which need not start at 256 or follow each other")
def _(t: Trial) -> None:
    words = random_words(t.py, 4, extras=0.3)
    merges = learned_table(t.py, random_text(t.py, words, 20), t.py.randint(8, 20), spread=True)
    check_encode(t, random_text(t.py, words, t.py.randint(5, 10)), merges)


@encode.case("the empty string, whitespace only, an empty table, and text none of whose pairs were learned")
def _(t: Trial) -> None:
    words = random_words(t.py, 4, extras=0.0)
    merges = learned_table(t.py, random_text(t.py, words, 15), t.py.randint(3, 8), spread=True)
    check_encode(t, "", merges)
    check_encode(t, "".join(t.py.sample(SPACES, 3)), merges)
    check_encode(t, random_text(t.py, words, 4), {})
    check_encode(t, "".join(t.py.sample("XYZ0123456789", 5)) + t.py.choice(EMOJI), merges)


# --- 5. decode ---------------------------------------------------------------------------------

decode = exercise(
    "ch02.decode", name="decode",
    description="Turn ids back into text: join every token's bytes, then decode UTF-8 once, with replacement.",
    args=("ids", "vocab"), points=1, timeout=10,
    hints={"UnicodeDecodeError": "bytes that are not valid UTF-8 (a token can hold part of a character) must "
                                 "become '�', not an error: decode with errors='replace', after joining all the "
                                 "bytes.",
           "bytes must be in range(0, 256)": "merged ids are above 255: look each id's bytes up in `vocab` "
                                             "instead of turning the ids themselves into bytes.",
           "list index out of range": "look each id up in `vocab` by its id, vocab[i]: merged ids need not be "
                                      "consecutive, and the dict's order is not the ids' order."},
)


def decode_reference(ids: list[int], vocab: dict[int, bytes]) -> str:
    return b"".join(vocab[i] for i in ids).decode("utf-8", errors="replace")


def decode_mistakes(ids: list[int], vocab: dict[int, bytes]) -> dict[str, str]:
    joined = b"".join(vocab[i] for i in ids)
    return {
        "decoded each token on its own: one character's UTF-8 bytes can be split over two tokens, so join all "
        "the bytes first, then decode once": "".join(vocab[i].decode("utf-8", errors="replace") for i in ids),
        "put spaces between the tokens: a token's bytes already include its spaces":
            " ".join(vocab[i].decode("utf-8", errors="replace") for i in ids),
        "dropped the bytes that are not valid UTF-8 (errors='ignore'); they should become '�' (errors='replace')":
            joined.decode("utf-8", errors="ignore"),
        "stripped the whitespace at the ends of the text: a token's spaces and newlines are part of the text":
            decode_reference(ids, vocab).strip(),
        "decoded one character per byte (Latin-1, or chr of each byte) instead of UTF-8": joined.decode("latin-1"),
        "decoded the bytes as ASCII: they are UTF-8, .decode('utf-8', errors='replace')":
            joined.decode("ascii", errors="replace"),
    }


def check_decode(t: Trial, ids: list[int], vocab: dict[int, bytes]) -> None:
    t.check_call(ids, vocab, reference=decode_reference, what="the text", mistakes=decode_mistakes)


def split_bytes(rng: random.Random, data: bytes) -> list[bytes]:
    """``data`` cut into pieces of 1-4 bytes at random places, through characters too."""
    pieces, at = [], 0
    while at < len(data):
        size = rng.randint(1, 4)
        pieces.append(data[at : at + size])
        at += size
    return pieces


@decode.case("decodes the ids of a text encoded with learned merges, whitespace at the ends included")
def _(t: Trial) -> None:
    words = random_words(t.py, 5, extras=0.4)
    merges = learned_table(t.py, random_text(t.py, words, 30), t.py.randint(10, 30), spread=True)
    text = random_text(t.py, words, t.py.randint(8, 15), combining=True)
    check_decode(t, encode_reference(text, merges), shuffled(t.py, vocab_for(merges)))


@decode.case("joins all the bytes before decoding, so characters split across tokens come out whole")
def _(t: Trial) -> None:
    text = random_text(t.py, random_words(t.py, 3), 3)
    for _ in range(3):
        at = t.py.randint(0, len(text))
        text = text[:at] + t.py.choice(EMOJI + COMBINING) + text[at:]
    table, ids = pieces_table(t.py, split_bytes(t.py, text.encode("utf-8")))
    check_decode(t, ids, shuffled(t.py, vocab_for(table)))


@decode.case("turns bytes that are not valid UTF-8 into the replacement character instead of raising")
def _(t: Trial) -> None:
    broken = [b"\xf0\x9f", b"\x80", b"\xc3", b"\xed\xa0\x80", b"\xff", "🙂".encode()[:3]]
    parts = [w.encode() for w in random_words(t.py, 4)] + t.py.sample(broken, 3)
    t.py.shuffle(parts)
    data = b" ".join(parts) + t.py.choice(broken)  # ends inside a character too
    table, ids = pieces_table(t.py, split_bytes(t.py, data))
    check_decode(t, ids, shuffled(t.py, vocab_for(table)))


@decode.case("no ids, a single merged id, and only byte ids")
def _(t: Trial) -> None:
    words = random_words(t.py, 3)
    merges = learned_table(t.py, random_text(t.py, words, 10), t.py.randint(3, 8), spread=True)
    vocab = shuffled(t.py, vocab_for(merges))
    check_decode(t, [], vocab)
    check_decode(t, [t.py.choice(list(merges.values()))], vocab)
    check_decode(t, list(random_text(t.py, words, 3).encode("utf-8")), vocab)

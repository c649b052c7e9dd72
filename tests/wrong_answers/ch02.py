"""Plausible wrong answers to chapter 2's exercises, each with a phrase the grader's message must contain."""

from __future__ import annotations

import unicodedata
from collections import Counter

from llmcourse.tokenizers.bpe import merge as _merge  # the correct merge: these mistakes lie elsewhere

from . import WrongAnswer

# --- get_stats ---------------------------------------------------------------------------------


def stats_stops_early(ids):
    counts = {}
    for i in range(len(ids) - 2):  # one short: misses the last pair
        pair = (ids[i], ids[i + 1])
        counts[pair] = counts.get(pair, 0) + 1
    return counts


def stats_like_merge(ids):
    counts = {}
    i = 0
    while i < len(ids) - 1:  # skips ahead after a pair, as merge does: overlapping pairs are missed
        pair = (ids[i], ids[i + 1])
        counts[pair] = counts.get(pair, 0) + 1
        i += 2 if i + 2 < len(ids) and ids[i + 2] == ids[i + 1] == ids[i] else 1
    return counts


def stats_backwards(ids):
    return dict(Counter(zip(ids[1:], ids)))


def stats_set(ids):
    return {pair: 1 for pair in zip(ids, ids[1:])}


def stats_crashes_on_empty(ids):
    counts = {(ids[0], ids[1]): 1}
    for pair in zip(ids[1:], ids[2:]):
        counts[pair] = counts.get(pair, 0) + 1
    return counts


def stats_two_apart(ids):
    return dict(Counter(zip(ids, ids[2:])))


def stats_pops_the_input(ids):
    counts = {}
    while len(ids) > 1:  # consumes the caller's list
        first = ids.pop(0)
        pair = (first, ids[0])
        counts[pair] = counts.get(pair, 0) + 1
    return counts


def stats_via_bytes(ids):
    data = bytes(ids)  # fine for the bytes of a text, not for merged ids above 255
    return dict(Counter(zip(data, data[1:])))


def stats_default_dict(ids, counts={}):  # noqa: B006 — the mistake: one dict shared by every call
    for pair in zip(ids, ids[1:]):
        counts[pair] = counts.get(pair, 0) + 1
    return counts


_COUNTS = {}


def stats_global_dict(ids):
    for pair in zip(ids, ids[1:]):
        _COUNTS[pair] = _COUNTS.get(pair, 0) + 1
    return _COUNTS


def stats_most_common(ids):
    return Counter(zip(ids, ids[1:])).most_common()


def stats_string_keys(ids):
    counts = {}
    for a, b in zip(ids, ids[1:]):
        counts[f"{a},{b}"] = counts.get(f"{a},{b}", 0) + 1
    return counts


# --- merge -------------------------------------------------------------------------------------


def merge_forgets_last(ids, pair, idx):
    out, i = [], 0
    while i < len(ids) - 1:
        if (ids[i], ids[i + 1]) == pair:
            out.append(idx)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out  # an id left over at the end is lost


def merge_misses_last_pair(ids, pair, idx):
    out = []
    i = 0
    while i < len(ids):
        if i + 2 < len(ids) and (ids[i], ids[i + 1]) == pair:  # off by one: a pair at the end is missed
            out.append(idx)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def merge_overlaps_twice(ids, pair, idx):
    out = []
    for i in range(len(ids)):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
            out.append(idx)
        elif i == 0 or (ids[i - 1], ids[i]) != pair:
            out.append(ids[i])
    return out


def merge_from_the_right(ids, pair, idx):
    out = []
    i = len(ids) - 1
    while i >= 0:
        if i >= 1 and (ids[i - 1], ids[i]) == pair:
            out.append(idx)
            i -= 2
        else:
            out.append(ids[i])
            i -= 1
    return out[::-1]


def merge_in_place(ids, pair, idx):
    i = 0
    while i < len(ids) - 1:
        if (ids[i], ids[i + 1]) == pair:
            ids[i : i + 2] = [idx]
        i += 1
    return ids


def merge_endless(ids, pair, idx):
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
            out.append(idx)
            i += 2
        else:
            out.append(ids[i])  # forgot i += 1: loops forever
    return out


def merge_first_id_only(ids, pair, idx):
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and ids[i] == pair[0]:  # the right neighbour is never compared
            out.append(idx)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def merge_pair_backwards(ids, pair, idx):
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i + 1], ids[i]) == pair:
            out.append(idx)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def merge_list_vs_tuple(ids, pair, idx):
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and [ids[i], ids[i + 1]] == pair:  # a list never equals the tuple `pair`
            out.append(idx)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def merge_hardcoded_256(ids, pair, idx):
    return _merge(ids, pair, 256)


def merge_as_text(ids, pair, idx):
    text = " ".join(str(i) for i in ids).replace(f"{pair[0]} {pair[1]}", str(idx))
    return [int(part) for part in text.split()]


def merge_bytes_replace(ids, pair, idx):
    return list(bytes(ids).replace(bytes(pair), bytes([idx])))


def merge_returns_tuple(ids, pair, idx):
    return tuple(_merge(ids, pair, idx))


def merge_first_occurrence(ids, pair, idx):
    for i in range(len(ids) - 1):
        if (ids[i], ids[i + 1]) == pair:
            return ids[:i] + [idx] + ids[i + 2 :]
    return list(ids)


# --- train_bpe ---------------------------------------------------------------------------------


def _smallest_most_frequent(ids):
    stats = Counter(zip(ids, ids[1:]))
    return max(stats, key=lambda p: (stats[p], -p[0], -p[1])) if stats else None


def train_counts_once(ids, num_merges):
    stats = Counter(zip(ids, ids[1:]))
    return sorted(stats, key=lambda p: (-stats[p], p))[:num_merges]


def train_first_seen_ties(ids, num_merges):
    merges = []
    for n in range(num_merges):
        stats = Counter(zip(ids, ids[1:]))
        if not stats:
            break
        pair = max(stats, key=stats.get)
        ids = _merge(ids, pair, 256 + n)
        merges.append(pair)
    return merges


def train_ids_from_255(ids, num_merges):
    merges = []
    for n in range(num_merges):
        pair = _smallest_most_frequent(ids)
        if pair is None:
            break
        ids = _merge(ids, pair, 255 + n)
        merges.append(pair)
    return merges


def train_never_stops(ids, num_merges):
    merges = []
    for n in range(num_merges):
        stats = Counter(zip(ids, ids[1:]))
        pair = max(stats, key=lambda p: (stats[p], -p[0], -p[1]))  # max() of no pairs when none are left
        ids = _merge(ids, pair, 256 + n)
        merges.append(pair)
    return merges


def _smallest(stats):
    return max(stats, key=lambda p: (stats[p], -p[0], -p[1]))


def _train(ids, num_merges, choose=_smallest, new_id=lambda n: 256 + n):
    merges = []
    for n in range(num_merges):
        stats = Counter(zip(ids, ids[1:]))
        if not stats:
            break
        pair = choose(stats)
        ids = _merge(ids, pair, new_id(n))
        merges.append(pair)
    return merges


def train_largest_ties(ids, num_merges):
    return _train(ids, num_merges, choose=lambda stats: max(stats, key=lambda p: (stats[p], p)))


def train_ids_from_257(ids, num_merges):
    return _train(ids, num_merges, new_id=lambda n: 257 + n)


def train_same_new_id(ids, num_merges):
    return _train(ids, num_merges, new_id=lambda n: 256)


def train_stops_at_count_one(ids, num_merges):
    merges = []
    for n in range(num_merges):
        stats = Counter(zip(ids, ids[1:]))
        if not stats or max(stats.values()) < 2:  # stops when every pair occurs once
            break
        pair = max(stats, key=lambda p: (stats[p], -p[0], -p[1]))
        ids = _merge(ids, pair, 256 + n)
        merges.append(pair)
    return merges


def train_one_too_few(ids, num_merges):
    return _train(ids, num_merges - 1) if num_merges > 0 else []


def train_ignores_num_merges(ids, num_merges):
    return _train(ids, len(ids))


def train_in_place(ids, num_merges):
    merges = []
    for n in range(num_merges):
        pair = _smallest_most_frequent(ids)
        if pair is None:
            break
        ids[:] = _merge(ids, pair, 256 + n)  # overwrites the caller's list
        merges.append(pair)
    return merges


_MERGES = []


def train_global_list(ids, num_merges):
    for n in range(num_merges):
        pair = _smallest_most_frequent(ids)
        if pair is None:
            break
        ids = _merge(ids, pair, 256 + n)
        _MERGES.append(pair)
    return _MERGES


def train_returns_table(ids, num_merges):
    return {pair: 256 + n for n, pair in enumerate(_train(ids, num_merges))}


def train_pairs_as_lists(ids, num_merges):
    return [list(pair) for pair in _train(ids, num_merges)]


# --- encode ------------------------------------------------------------------------------------


def encode_reversed(text, merges):
    ids = list(text.encode("utf-8"))
    for pair, idx in reversed(merges.items()):
        ids = _merge(ids, pair, idx)
    return ids


def encode_sorted(text, merges):
    ids = list(text.encode("utf-8"))
    for pair in sorted(merges):
        ids = _merge(ids, pair, merges[pair])
    return ids


def encode_code_points(text, merges):
    ids = [ord(ch) for ch in text]
    for pair, idx in merges.items():
        ids = _merge(ids, pair, idx)
    return ids


def encode_once_each(text, merges):
    ids = list(text.encode("utf-8"))
    for pair, idx in merges.items():
        for i in range(len(ids) - 1):
            if (ids[i], ids[i + 1]) == pair:
                ids = ids[:i] + [idx] + ids[i + 2 :]
                break
    return ids


def encode_renumbered(text, merges):
    ids = list(text.encode("utf-8"))
    for n, pair in enumerate(merges):
        ids = _merge(ids, pair, 256 + n)  # assumes the table is numbered 256, 257, ...
    return ids


def encode_strips(text, merges):
    ids = list(text.strip().encode("utf-8"))
    for pair, idx in merges.items():
        ids = _merge(ids, pair, idx)
    return ids


def encode_normalizes(text, merges):
    ids = list(unicodedata.normalize("NFC", text).encode("utf-8"))
    for pair, idx in merges.items():
        ids = _merge(ids, pair, idx)
    return ids


def encode_ascii(text, merges):
    ids = list(text.encode("ascii"))
    for pair, idx in merges.items():
        ids = _merge(ids, pair, idx)
    return ids


def encode_pops_merges(text, merges):
    ids = list(text.encode("utf-8"))
    while merges:  # empties the caller's table
        pair = next(iter(merges))
        ids = _merge(ids, pair, merges.pop(pair))
    return ids


def encode_returns_tuple(text, merges):
    ids = list(text.encode("utf-8"))
    for pair, idx in merges.items():
        ids = _merge(ids, pair, idx)
    return tuple(ids)


# --- decode ------------------------------------------------------------------------------------


def decode_token_by_token(ids, vocab):
    return "".join(vocab[i].decode("utf-8", errors="replace") for i in ids)


def decode_strict(ids, vocab):
    return b"".join(vocab[i] for i in ids).decode("utf-8")


def decode_with_spaces(ids, vocab):
    return " ".join(vocab[i].decode("utf-8", errors="replace") for i in ids)


def decode_ignore(ids, vocab):
    return b"".join(vocab[i] for i in ids).decode("utf-8", errors="ignore")


def decode_returns_bytes(ids, vocab):
    return b"".join(vocab[i] for i in ids)


def decode_strips(ids, vocab):
    return b"".join(vocab[i] for i in ids).decode("utf-8", errors="replace").strip()


def decode_latin1(ids, vocab):
    return "".join(chr(byte) for i in ids for byte in vocab[i])


def decode_ascii(ids, vocab):
    return b"".join(vocab[i] for i in ids).decode("ascii", errors="replace")


def decode_by_position(ids, vocab):
    tokens = list(vocab.values())  # assumes the dict is ordered by id, with no gaps
    return b"".join(tokens[i] for i in ids).decode("utf-8", errors="replace")


def decode_bytes_of_ids(ids, vocab):
    return bytes(ids).decode("utf-8", errors="replace")


def decode_in_place(ids, vocab):
    for k, i in enumerate(ids):
        ids[k] = vocab[i]  # overwrites the caller's list
    return b"".join(ids).decode("utf-8", errors="replace")


WRONG_ANSWERS = {
    "ch02.get_stats": [
        WrongAnswer("misses the last pair", stats_stops_early, "the last pair"),
        WrongAnswer("skips overlapping pairs", stats_like_merge, "overlapping pairs"),
        WrongAnswer("pairs written backwards", stats_backwards, "backwards"),
        WrongAnswer("a set of pairs, not counts", stats_set, "counted every pair once"),
        WrongAnswer("crashes on an empty sequence", stats_crashes_on_empty, "IndexError"),
        WrongAnswer("pairs two apart", stats_two_apart, "two apart"),
        WrongAnswer("pops the input", stats_pops_the_input, "changed its input `ids` in place"),
        WrongAnswer("bytes only", stats_via_bytes, "above 255"),
        WrongAnswer("default dict argument", stats_default_dict, "kept the counts of an earlier call"),
        WrongAnswer("global dict", stats_global_dict, "kept the counts of an earlier call"),
        WrongAnswer("list of (pair, count)", stats_most_common, "should be a dict"),
        WrongAnswer("string keys", stats_string_keys, "should not be there"),
    ],
    "ch02.merge": [
        WrongAnswer("loses the last id", merge_forgets_last, "the last id"),
        WrongAnswer("misses a pair at the end", merge_misses_last_pair, "at the very end"),
        WrongAnswer("merges overlaps twice", merge_overlaps_twice, "overlapping pairs twice"),
        WrongAnswer("merges from the right", merge_from_the_right, "from the right"),
        WrongAnswer("changes its input", merge_in_place, "changed its input `ids` in place"),
        WrongAnswer("endless loop", merge_endless, "endless loop"),
        WrongAnswer("first id only", merge_first_id_only, "matched only the pair's first id"),
        WrongAnswer("pair backwards", merge_pair_backwards, "backwards"),
        WrongAnswer("list compared with tuple", merge_list_vs_tuple, "never merged anything"),
        WrongAnswer("256 instead of idx", merge_hardcoded_256, "the new id is the argument `idx`"),
        WrongAnswer("replace in a string", merge_as_text, "written as text"),
        WrongAnswer("bytes.replace", merge_bytes_replace, "above 255"),
        WrongAnswer("returns a tuple", merge_returns_tuple, "but it is a tuple"),
        WrongAnswer("first occurrence only", merge_first_occurrence, "only the first occurrence"),
    ],
    "ch02.train_bpe": [
        WrongAnswer("counts pairs only once", train_counts_once, "count them again after every merge"),
        WrongAnswer("ties by first appearance", train_first_seen_ties, "smallest pair"),
        WrongAnswer("new ids from 255", train_ids_from_255, "from 255"),
        WrongAnswer("max() of no pairs", train_never_stops, "stop early"),
        WrongAnswer("ties by the largest pair", train_largest_ties, "largest pair"),
        WrongAnswer("new ids from 257", train_ids_from_257, "from 257"),
        WrongAnswer("every new id 256", train_same_new_id, "the same id"),
        WrongAnswer("stops at count one", train_stops_at_count_one, "occurs only once"),
        WrongAnswer("one merge too few", train_one_too_few, "one merge too few"),
        WrongAnswer("ignores num_merges", train_ignores_num_merges, "ignored num_merges"),
        WrongAnswer("changes its input", train_in_place, "changed its input `ids` in place"),
        WrongAnswer("global list of merges", train_global_list, "kept the merges of an earlier call"),
        WrongAnswer("returns the table", train_returns_table, "should be a list"),
        WrongAnswer("pairs as lists", train_pairs_as_lists, "should be a tuple"),
    ],
    "ch02.encode": [
        WrongAnswer("merges in reverse order", encode_reversed, "wrong order"),
        WrongAnswer("merges sorted by pair", encode_sorted, "sorted by pair"),
        WrongAnswer("code points, not bytes", encode_code_points, "UTF-8 bytes"),
        WrongAnswer("each merge once", encode_once_each, "first occurrence only"),
        WrongAnswer("renumbers the merges", encode_renumbered, "256, 257, ... yourself"),
        WrongAnswer("strips the text", encode_strips, "stripped the whitespace"),
        WrongAnswer("normalizes the text", encode_normalizes, "normalized the text"),
        WrongAnswer("ASCII bytes", encode_ascii, "text.encode('utf-8')"),
        WrongAnswer("empties the table", encode_pops_merges, "changed its input `merges` in place"),
        WrongAnswer("returns a tuple", encode_returns_tuple, "but it is a tuple"),
    ],
    "ch02.decode": [
        WrongAnswer("decodes token by token", decode_token_by_token, "join all the bytes first"),
        WrongAnswer("strict decoding", decode_strict, "errors='replace'"),
        WrongAnswer("spaces between tokens", decode_with_spaces, "spaces between the tokens"),
        WrongAnswer("drops invalid bytes", decode_ignore, "errors='ignore'"),
        WrongAnswer("returns bytes", decode_returns_bytes, "should be a python str"),
        WrongAnswer("strips the text", decode_strips, "stripped the whitespace"),
        WrongAnswer("one character per byte", decode_latin1, "one character per byte"),
        WrongAnswer("ASCII", decode_ascii, "decoded the bytes as ASCII"),
        WrongAnswer("tokens by position", decode_by_position, "by its id"),
        WrongAnswer("bytes of the ids", decode_bytes_of_ids, "look each id's bytes up"),
        WrongAnswer("changes its input", decode_in_place, "changed its input `ids` in place"),
    ],
}

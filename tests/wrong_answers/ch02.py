"""Plausible wrong answers to chapter 2's exercises, each with a phrase the grader's message must contain."""

from __future__ import annotations

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


WRONG_ANSWERS = {
    "ch02.get_stats": [
        WrongAnswer("misses the last pair", stats_stops_early, "the last pair"),
        WrongAnswer("skips overlapping pairs", stats_like_merge, "overlapping pairs"),
        WrongAnswer("pairs written backwards", stats_backwards, "backwards"),
        WrongAnswer("a set of pairs, not counts", stats_set, "counted every pair once"),
        WrongAnswer("crashes on an empty sequence", stats_crashes_on_empty, "IndexError"),
    ],
    "ch02.merge": [
        WrongAnswer("loses the last id", merge_forgets_last, "the last id"),
        WrongAnswer("misses a pair at the end", merge_misses_last_pair, "at the very end"),
        WrongAnswer("merges overlaps twice", merge_overlaps_twice, "overlapping pairs twice"),
        WrongAnswer("merges from the right", merge_from_the_right, "from the right"),
        WrongAnswer("changes its input", merge_in_place, "changed the list it was given"),
        WrongAnswer("endless loop", merge_endless, "endless loop"),
    ],
    "ch02.train_bpe": [
        WrongAnswer("counts pairs only once", train_counts_once, "count them again after every merge"),
        WrongAnswer("ties by first appearance", train_first_seen_ties, "smallest pair"),
        WrongAnswer("new ids from 255", train_ids_from_255, "from 255"),
        WrongAnswer("max() of no pairs", train_never_stops, "stop early"),
    ],
    "ch02.encode": [
        WrongAnswer("merges in reverse order", encode_reversed, "wrong order"),
        WrongAnswer("merges sorted by pair", encode_sorted, "sorted by pair"),
        WrongAnswer("code points, not bytes", encode_code_points, "UTF-8 bytes"),
        WrongAnswer("each merge once", encode_once_each, "first occurrence only"),
    ],
    "ch02.decode": [
        WrongAnswer("decodes token by token", decode_token_by_token, "join all the bytes first"),
        WrongAnswer("strict decoding", decode_strict, "errors='replace'"),
        WrongAnswer("spaces between tokens", decode_with_spaces, "spaces between the tokens"),
        WrongAnswer("drops invalid bytes", decode_ignore, "errors='ignore'"),
        WrongAnswer("returns bytes", decode_returns_bytes, "should be a str"),
    ],
}

"""Plausible wrong answers to chapter 2's exercises, each with a phrase the grader's message must contain."""

from __future__ import annotations

import base64
import unicodedata

import regex

from llmcourse.grading.ch02 import CL100K_PATTERN, cl100k
from llmcourse.tokenizers.bpe import GPT2_SPLIT_PATTERN

from . import WrongAnswer

# --- load_ranks --------------------------------------------------------------------------------------


def load_line_numbers(text):
    lines = [line for line in text.splitlines() if line]
    return {base64.b64decode(line.split()[0]): n for n, line in enumerate(lines)}  # the line number, not the rank


def load_rank_as_text(text):
    return {base64.b64decode(token): rank for token, rank in (line.split() for line in text.splitlines() if line)}


def load_base64_text(text):
    return {token.encode(): int(rank) for token, rank in (line.split() for line in text.splitlines() if line)}


def load_drops_last_line(text):
    ranks = {}
    for line in text.split("\n")[:-1]:  # assumes the file ends with a newline
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


def load_as_str(text):
    ranks = {}
    for line in text.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token).decode("utf-8")] = int(rank)  # not every token is valid UTF-8
    return ranks


def load_every_line(text):
    ranks = {}
    for line in text.split("\n"):  # the empty string after the final newline too
        token, rank = line.split()
        ranks[base64.b64decode(token)] = int(rank)
    return ranks


# --- bpe_chunk ---------------------------------------------------------------------------------------------


def _parts(chunk):
    return [bytes([b]) for b in chunk]


def chunk_greedy(chunk, mergeable_ranks):
    ids, at = [], 0
    while at < len(chunk):
        end = len(chunk)
        while end > at + 1 and chunk[at:end] not in mergeable_ranks:
            end -= 1
        ids.append(mergeable_ranks[chunk[at:end]])
        at = end
    return ids


def chunk_first_pair(chunk, mergeable_ranks):
    parts = _parts(chunk)
    merged = True
    while merged:
        merged = False
        for i in range(len(parts) - 1):
            if parts[i] + parts[i + 1] in mergeable_ranks:  # the first pair found, not the lowest rank
                parts[i : i + 2] = [parts[i] + parts[i + 1]]
                merged = True
                break
    return [mergeable_ranks[p] for p in parts]


def chunk_rightmost_tie(chunk, mergeable_ranks):
    parts = _parts(chunk)
    while len(parts) > 1:
        best, at = None, None
        for i in range(len(parts) - 1):
            rank = mergeable_ranks.get(parts[i] + parts[i + 1])
            if rank is not None and (best is None or rank <= best):  # <= keeps the last of equal pairs
                best, at = rank, i
        if best is None:
            break
        parts[at : at + 2] = [parts[at] + parts[at + 1]]
    return [mergeable_ranks[p] for p in parts]


def chunk_byte_values(chunk, mergeable_ranks):
    parts = _parts(chunk)
    while len(parts) > 1:
        found = [(mergeable_ranks[parts[i] + parts[i + 1]], i) for i in range(len(parts) - 1)
                 if parts[i] + parts[i + 1] in mergeable_ranks]
        if not found:
            break
        _, at = min(found)
        parts[at : at + 2] = [parts[at] + parts[at + 1]]
    return [mergeable_ranks[p] if len(p) > 1 else p[0] for p in parts]  # a byte's value is not its rank


def chunk_returns_bytes(chunk, mergeable_ranks):
    parts = _parts(chunk)
    while len(parts) > 1:
        found = [(mergeable_ranks[parts[i] + parts[i + 1]], i) for i in range(len(parts) - 1)
                 if parts[i] + parts[i + 1] in mergeable_ranks]
        if not found:
            break
        _, at = min(found)
        parts[at : at + 2] = [parts[at] + parts[at + 1]]
    return parts


def chunk_global_table(chunk, mergeable_ranks):
    return _right_chunk(chunk, cl100k())  # ignores the table it is given


def _right_chunk(chunk, ranks):
    parts = _parts(chunk)
    while len(parts) > 1:
        found = [(ranks[parts[i] + parts[i + 1]], i) for i in range(len(parts) - 1) if parts[i] + parts[i + 1] in ranks]
        if not found:
            break
        _, at = min(found)
        parts[at : at + 2] = [parts[at] + parts[at + 1]]
    return [ranks[p] for p in parts]


def chunk_pops_the_table(chunk, mergeable_ranks):
    ids = _right_chunk(chunk, mergeable_ranks)
    for key in [k for k in mergeable_ranks if len(k) == 1][:1]:
        mergeable_ranks.pop(key)  # "tidying up" the caller's table
    return ids


# --- recover_merges ----------------------------------------------------------------------------------------


def _bpe_parts(token, ranks, below=None):
    parts = _parts(token)
    while len(parts) > 1:
        found = [(ranks[parts[i] + parts[i + 1]], i) for i in range(len(parts) - 1)
                 if parts[i] + parts[i + 1] in ranks and (below is None or ranks[parts[i] + parts[i + 1]] < below)]
        if not found:
            break
        _, at = min(found)
        parts[at : at + 2] = [parts[at] + parts[at + 1]]
    return parts


def _by_rank(ranks):
    return sorted(ranks.items(), key=lambda kv: kv[1])


def recover_first_cut(mergeable_ranks):
    merges = {}
    for token, rank in _by_rank(mergeable_ranks):
        for i in range(1, len(token)):
            left, right = token[:i], token[i:]
            if mergeable_ranks.get(left, rank) < rank and mergeable_ranks.get(right, rank) < rank:
                merges[(mergeable_ranks[left], mergeable_ranks[right])] = rank  # the first cut that works
                break
    return merges


def recover_longest_prefix(mergeable_ranks):
    merges = {}
    for token, rank in _by_rank(mergeable_ranks):
        for i in range(len(token) - 1, 0, -1):
            left, right = token[:i], token[i:]
            if mergeable_ranks.get(left, rank) < rank and mergeable_ranks.get(right, rank) < rank:
                merges[(mergeable_ranks[left], mergeable_ranks[right])] = rank
                break
    return merges


def recover_numbered(mergeable_ranks):
    merges = {}
    for token, rank in _by_rank(mergeable_ranks):
        if len(token) >= 2:
            left, right = _bpe_parts(token, mergeable_ranks, below=rank)
            merges[(mergeable_ranks[left], mergeable_ranks[right])] = 256 + len(merges)  # as the chapter numbers
    return merges


def recover_in_given_order(mergeable_ranks):
    merges = {}
    for token, rank in mergeable_ranks.items():  # assumes the table is in rank order
        if len(token) >= 2:
            left, right = _bpe_parts(token, mergeable_ranks, below=rank)
            merges[(mergeable_ranks[left], mergeable_ranks[right])] = rank
    return merges


def recover_reversed_pairs(mergeable_ranks):
    merges = {}
    for token, rank in _by_rank(mergeable_ranks):
        if len(token) >= 2:
            left, right = _bpe_parts(token, mergeable_ranks, below=rank)
            merges[(mergeable_ranks[right], mergeable_ranks[left])] = rank
    return merges


def recover_bytes_pairs(mergeable_ranks):
    merges = {}
    for token, rank in _by_rank(mergeable_ranks):
        if len(token) >= 2:
            left, right = _bpe_parts(token, mergeable_ranks, below=rank)
            merges[(left, right)] = rank
    return merges


def recover_every_token(mergeable_ranks):
    merges = {}
    for token, rank in _by_rank(mergeable_ranks):
        left, right = _bpe_parts(token, mergeable_ranks)  # every token allowed: BPE rebuilds the token itself
        merges[(mergeable_ranks[left], mergeable_ranks[right])] = rank
    return merges


# --- gpt4_encode ----------------------------------------------------------------------------------------------


def _encode_chunks(chunks, ranks, chunk=_right_chunk):
    ids = []
    for piece in chunks:
        ids.extend(chunk(piece.encode("utf-8"), ranks))
    return ids


def encode_no_split(text, mergeable_ranks):
    return _right_chunk(text.encode("utf-8"), mergeable_ranks) if text else []


def encode_gpt2_split(text, mergeable_ranks):
    return _encode_chunks(regex.findall(GPT2_SPLIT_PATTERN, text), mergeable_ranks)


def encode_greedy(text, mergeable_ranks):
    return _encode_chunks(regex.findall(CL100K_PATTERN, text), mergeable_ranks, chunk_greedy)


def encode_strips(text, mergeable_ranks):
    return _encode_chunks(regex.findall(CL100K_PATTERN, text.strip()), mergeable_ranks)


def encode_nfc(text, mergeable_ranks):
    return _encode_chunks(regex.findall(CL100K_PATTERN, unicodedata.normalize("NFC", text)), mergeable_ranks)


def encode_split_on_spaces(text, mergeable_ranks):
    return _encode_chunks(text.split(), mergeable_ranks)


def encode_code_points(text, mergeable_ranks):
    ids = []
    for piece in regex.findall(CL100K_PATTERN, text):
        ids.extend(_right_chunk(bytes(ord(ch) for ch in piece), mergeable_ranks))  # code points are not bytes
    return ids


def encode_global_table(text, mergeable_ranks):
    return _encode_chunks(regex.findall(CL100K_PATTERN, text), cl100k())  # ignores the table it is given


WRONG_ANSWERS = {
    "ch02.load_ranks": [
        WrongAnswer("line number as rank", load_line_numbers, "line number"),
        WrongAnswer("rank kept as text", load_rank_as_text, "int()"),
        WrongAnswer("base64 not decoded", load_base64_text, "base64.b64decode"),
        WrongAnswer("drops the last line", load_drops_last_line, "does not end with a newline"),
        WrongAnswer("tokens decoded to str", load_as_str, "not every token is valid UTF-8"),
        WrongAnswer("crashes on the final empty line", load_every_line, "skip lines that hold nothing"),
    ],
    "ch02.bpe_chunk": [
        WrongAnswer("greedy longest match", chunk_greedy, "greedy matching"),
        WrongAnswer("first mergeable pair", chunk_first_pair, "joined the first pair"),
        WrongAnswer("ties from the right", chunk_rightmost_tie, "broke ties"),
        WrongAnswer("byte values for single bytes", chunk_byte_values, "byte value"),
        WrongAnswer("returns the parts' bytes", chunk_returns_bytes, "their ranks"),
        WrongAnswer("ignores the table it is given", chunk_global_table, "the table you are given"),
        WrongAnswer("changes the caller's table", chunk_pops_the_table, "changed its input `mergeable_ranks`"),
    ],
    "ch02.recover_merges": [
        WrongAnswer("first cut that works", recover_first_cut, "at the first place"),
        WrongAnswer("longest earlier prefix", recover_longest_prefix, "longest earlier token"),
        WrongAnswer("numbered from 256", recover_numbered, "256, 257"),
        WrongAnswer("trusts the table's order", recover_in_given_order, "not in the order they were learned"),
        WrongAnswer("pairs reversed", recover_reversed_pairs, "(right, left)"),
        WrongAnswer("pairs of bytes", recover_bytes_pairs, "two tokens' bytes"),
        WrongAnswer("every token allowed", recover_every_token, "allow only the tokens ranked below"),
    ],
    "ch02.gpt4_encode": [
        WrongAnswer("no pre-split", encode_no_split, "did not split the text first"),
        WrongAnswer("GPT-2's pattern", encode_gpt2_split, "GPT-2's pattern"),
        WrongAnswer("greedy longest match", encode_greedy, "greedy matching"),
        WrongAnswer("strips the text", encode_strips, "stripped the whitespace"),
        WrongAnswer("normalizes the text", encode_nfc, "normalized"),
        WrongAnswer("splits on whitespace", encode_split_on_spaces, "split on whitespace"),
        WrongAnswer("code points for bytes", encode_code_points, "UTF-8 bytes"),
        WrongAnswer("ignores the table it is given", encode_global_table, "the table you are given"),
    ],
}

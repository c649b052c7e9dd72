"""Chapter 2's graded exercises: GPT-4's real tokenizer rebuilt from its published rank table.

The chapter trains byte-level BPE and encodes by replaying a merge list. OpenAI publishes its tokenizers
the other way round: ``cl100k_base.tiktoken`` lists every token's bytes with a *rank* and no merges. The
exercises read that file, encode a chunk of bytes with ranks alone (tiktoken's algorithm), derive the
merge list the ranks imply (the idea of minbpe's ``recover_merges``) and encode text exactly as GPT-4 does.

References are computed at check time: tiktoken itself with the real cl100k table for GPT-4's ids, and a
short BPE-by-ranks loop here for small tables that the grader learns afresh each run with the course's
BPE trainer (on cl100k the loop gives tiktoken's ids: the hidden cases use it there, and the masters
pass). Passing all of cl100k through the grader's pipe costs seconds, so a case on real text passes *the
part of cl100k the text can reach*: every token that occurs anywhere in the text's bytes, and the 256
single bytes. BPE on any piece of that text looks up only its substrings, so on it this table gives
exactly the full table's ids, and the answer must equal tiktoken's.
"""

from __future__ import annotations

import base64
import random
import unicodedata
from collections import Counter
from collections.abc import Callable
from typing import Any

import regex

from llmcourse.tokenizers import reference
from llmcourse.tokenizers.bpe import GPT2_SPLIT_PATTERN, pretokenize, train_merges
from llmcourse.tokenizers.reference import CL100K_PATTERN

from .core import Trial, exercise
from .expect import CheckFailure

Ranks = dict[bytes, int]
Pair = tuple[int, int]

# GPT-4's tokenizer as the package has it (``llmcourse.tokenizers.reference``): tiktoken 0.14's split pattern
# (the package's GPT4_SPLIT_PATTERN), and the rank table read offline by tiktoken's own loader with its sha256
# checked.
cl100k = reference.cl100k_ranks
cl100k_encoding = reference.cl100k


def reachable(data: bytes, ranks: Ranks, longest: int = 128) -> Ranks:
    """The tokens of ``ranks`` that occur anywhere in ``data``, all BPE on any piece of ``data`` can look up,
    and every single byte (as in a real table)."""
    found = {bytes([b]): ranks[bytes([b])] for b in range(256) if bytes([b]) in ranks}
    for start in range(len(data)):
        for end in range(start + 1, min(len(data), start + longest) + 1):
            piece = data[start:end]
            if piece in ranks:
                found[piece] = ranks[piece]
    return dict(sorted(found.items(), key=lambda kv: kv[1]))


# --- references ----------------------------------------------------------------------------------------


def parse_reference(text: str) -> Ranks:
    return {base64.b64decode(token): int(rank) for token, rank in (line.split() for line in text.splitlines()
                                                                     if line.strip())}


def bpe_reference(chunk: bytes, ranks: Ranks, below: int | None = None) -> list[bytes]:
    """tiktoken's byte-pair merge: join the adjacent pair whose bytes have the lowest rank (leftmost on ties)
    until no adjacent pair is a token (of rank below ``below``); the parts, as bytes."""
    parts = [bytes([b]) for b in chunk]
    while len(parts) > 1:
        best, at = None, -1
        for i in range(len(parts) - 1):
            rank = ranks.get(parts[i] + parts[i + 1])
            if rank is not None and (below is None or rank < below) and (best is None or rank < best):
                best, at = rank, i
        if best is None:
            break
        parts[at : at + 2] = [parts[at] + parts[at + 1]]
    return parts


def chunk_reference(chunk: bytes, ranks: Ranks) -> list[int]:
    return [ranks[part] for part in bpe_reference(chunk, ranks)]


def recover_reference(ranks: Ranks) -> dict[Pair, int]:
    """Each token of two or more bytes was made by one merge: BPE on its bytes with only the tokens ranked
    below it stops at exactly the two parts that merge joined."""
    merges = {}
    for token, rank in sorted(ranks.items(), key=lambda kv: kv[1]):
        if len(token) < 2:
            continue
        left, right = bpe_reference(token, ranks, below=rank)
        merges[(ranks[left], ranks[right])] = rank
    return merges


def encode_reference(text: str, ranks: Ranks, pattern: str = CL100K_PATTERN) -> list[int]:
    ids: list[int] = []
    for chunk in regex.findall(pattern, text):
        ids.extend(chunk_reference(chunk.encode("utf-8"), ranks))
    return ids


# --- drawing inputs: small tables learned afresh, and text -----------------------------------------------

LETTERS = "aeinorst"
EXTRAS = ("é", "e\u0301", "ü", "ß", "Ω", "—", "東京", "🙂", "👍🏽")
SENTENCES = (  # held-out text written for these checks, in several languages and scripts
    "The quick brown fox doesn't jump over 1234567 lazy dogs.",
    "Le café coûte 3,50 € aujourd'hui, n'est-ce pas ?",
    "Der Straßenbahnfahrer grüßt die Fahrgäste um 07:45 Uhr.",
    "Москва — столица России; там живут 13 миллионов человек.",
    "東京の天気は晴れです。気温は25度。",
    "北京欢迎你！我们在2024年见面。",
    "नमस्ते, आप कैसे हैं?",
    "مرحبا بالعالم، كيف حالك؟",
    "¡Qué día tan bonito! ¿Vamos al parque?",
    "I'LL be there; you've GOT to see it, they're 'great'.",
    "def square(x):\n    return x ** 2\n\n\nprint(square(12))",
    "    if (n > 100) {\n\t\treturn n * 3.14159;\n\t}",
    "Emoji: 🙂👍🏽 👩\u200d💻 🇫🇷 — done!!!",
    "Ελληνικά: καλημέρα κόσμε, 99 φορές.",
    "한국어 문장도 있습니다. 세 번째 줄",
    "Cafe\u0301 cre\u0300me bru\u0302le\u0301e, voilà.",
)
SEPARATORS = (" ", "  ", "\n", "\n\n", "\t", " \n ", "\r\n", "   \n", "\u00a0")
ENDS = ("", " ", "\n", "\n  ", "  ", "\t\n", " \n\n   ")


def held_out_text(rng: random.Random, n: int, *, special: bool = False, combining: bool = False) -> str:
    """``n`` sentences in random order and scripts, random numbers and whitespace between them and at the ends
    (with ``combining``, one of them has accents written as combining marks)."""
    parts = rng.sample(SENTENCES[:-1], n) + ([SENTENCES[-1]] if combining else [])
    rng.shuffle(parts)
    if rng.random() < 0.7:
        parts.insert(rng.randint(0, len(parts)), str(rng.randrange(10 ** rng.randint(1, 9))))
    if special:
        parts.insert(rng.randint(0, len(parts)), "<|endoftext|>")
    body = parts[0]
    for part in parts[1:]:
        body += rng.choice(SEPARATORS) + part
    return rng.choice(ENDS) + body + rng.choice(ENDS)


def toy_text(rng: random.Random, words: int = 5, n: int = 40) -> str:
    vocab = []
    for _ in range(words):
        word = "".join(rng.choice(LETTERS) for _ in range(rng.randint(1, 5)))
        if rng.random() < 0.4:
            at = rng.randint(0, len(word))
            word = word[:at] + rng.choice(EXTRAS) + word[at:]
        vocab.append(word)
    vocab.append(rng.choice(LETTERS) * rng.randint(3, 6))  # a run of one letter: overlapping pairs
    return " ".join(rng.choice(vocab) for _ in range(n))


def toy_table(rng: random.Random, *, all_bytes: bool = False, gaps: bool = False,
              shuffle: bool = False) -> tuple[Ranks, str]:
    """A rank table learned from a toy text by the course's BPE trainer, and the text.

    The bytes come first with ranks in a random order (so a byte's rank is not its value), then each merge
    takes the next rank (with ``gaps``, some ranks are skipped). Redrawn until every token is the result of
    one merge of lower-ranked tokens, as in a real table.
    """
    for _ in range(50):
        text = toy_text(rng)
        data = text.encode("utf-8")
        counts = Counter(chunk.encode("utf-8") for chunk in pretokenize(text, GPT2_SPLIT_PATTERN))
        pairs = train_merges(dict(counts), rng.randint(15, 40))
        byte_values = list(range(256)) if all_bytes else sorted(set(data))
        rng.shuffle(byte_values)
        vocab = {b: bytes([b]) for b in range(256)}
        ranks: Ranks = {bytes([b]): r for r, b in enumerate(byte_values)}
        rank = len(byte_values)
        for n, (a, b) in enumerate(pairs):
            vocab[256 + n] = vocab[a] + vocab[b]
            rank += rng.randint(1, 40) if gaps else 1
            ranks.setdefault(vocab[256 + n], rank)
        if len(ranks) != len(byte_values) + len(pairs):
            continue  # two merges made the same bytes: a rank table cannot say that
        made = {ranks[vocab[256 + n]]: (ranks[vocab[a]], ranks[vocab[b]]) for n, (a, b) in enumerate(pairs)}
        if {r: p for p, r in recover_reference(ranks).items()} != made:
            continue
        if shuffle:
            items = list(ranks.items())
            rng.shuffle(items)
            ranks = dict(items)
        return ranks, text
    raise RuntimeError("could not draw a consistent toy table")  # a bug in the grader, not the learner's


def deep_table(rng: random.Random, k: int) -> Ranks:
    """``k`` long tokens from deep in cl100k (rank above 30,000) with every token inside them: a table that is
    complete for them, whose ranks are far apart."""
    full = cl100k()
    tokens = list(full)
    chosen: list[bytes] = []
    while len(chosen) < k:
        token = tokens[rng.randrange(30_000, len(tokens))]
        if len(token) >= 6 and full[token] >= 30_000:
            chosen.append(token)
    table: Ranks = {}
    for token in chosen:
        table.update(reachable(token, full))
    return dict(sorted(table.items(), key=lambda kv: kv[1]))


def draw_until(make: Callable[[], Any], good: Callable[[Any], bool], tries: int = 100) -> Any:
    """The first of ``make()``'s draws that is ``good`` (inputs that tell a known mistake apart)."""
    value = make()
    for _ in range(tries):
        if good(value):
            return value
        value = make()
    return value


def tiktoken_file(rng: random.Random, ranks: Ranks, *, order: str = "rank", end: str = "\n") -> str:
    """``ranks`` written in tiktoken's format: ``base64(token) rank`` a line."""
    items = sorted(ranks.items(), key=lambda kv: kv[1])
    if order == "shuffled":
        rng.shuffle(items)
    return "\n".join(f"{base64.b64encode(token).decode('ascii')} {rank}" for token, rank in items) + end


# --- 1. load_ranks ---------------------------------------------------------------------------------------

load_ranks = exercise(
    "ch02.load_ranks", name="load_ranks",
    description="Read a .tiktoken file's text into a dict from each token's bytes to its rank.",
    args=("text",), points=1, timeout=10,
    hints={"codec can't decode": "a token is bytes, and not every token is valid UTF-8 (it can hold part of a "
                                 "character): keep the decoded base64 as bytes.",
           "not enough values to unpack": "a file can end with an empty line: skip lines that hold nothing.",
           "Incorrect padding": "decode the token's base64 text with base64.b64decode, whole."},
)


def load_mistakes(text: str) -> dict[str, Any]:
    lines = [line for line in text.splitlines() if line.strip()]
    right = parse_reference(text)
    return {
        "took a token's line number as its rank: the rank is the number written on the line":
            {base64.b64decode(line.split()[0]): n for n, line in enumerate(lines)},
        "kept the rank as text: convert it with int()": {k: str(v) for k, v in right.items()},
        "kept the token's base64 text: decode it with base64.b64decode to get the token's bytes":
            {line.split()[0].encode("ascii"): int(line.split()[1]) for line in lines},
        "dropped the last line when the file does not end with a newline": parse_reference(
            "\n".join(text.split("\n")[:-1])),
        "decoded the tokens to text: a token is bytes (not every token is valid UTF-8)":
            {k.decode("utf-8", errors="replace"): v for k, v in right.items()},
    }


def check_load(t: Trial, text: str) -> None:
    t.check_call(text, reference=parse_reference, what="the table", mistakes=load_mistakes)


@load_ranks.case("reads a table learned from a toy text, whitespace and multi-byte tokens included")
def _(t: Trial) -> None:
    ranks, _ = toy_table(t.py)
    check_load(t, tiktoken_file(t.py, ranks))


@load_ranks.case("reads the rank written on each line, which need not be the line number; no final newline")
def _(t: Trial) -> None:
    ranks, _ = toy_table(t.py, gaps=True)
    check_load(t, tiktoken_file(t.py, ranks, order="shuffled", end=""))


@load_ranks.case("reads the first lines of GPT-4's file, tokens that are not valid UTF-8 included")
def _(t: Trial) -> None:
    full = cl100k()
    n = t.py.randint(300, 600)
    chosen = dict(list(full.items())[:n])
    for token in t.py.sample(list(full)[50_000:], 40):  # some deep tokens too, and bytes cut from a character
        chosen[token] = full[token]
    check_load(t, tiktoken_file(t.py, chosen, end=t.py.choice(("\n", "", "\n\n"))))


# --- 2. bpe_chunk ------------------------------------------------------------------------------------------

bpe_chunk = exercise(
    "ch02.bpe_chunk", name="bpe_chunk",
    description="Encode one chunk of bytes with a rank table alone: repeatedly join the adjacent pair whose "
                "bytes have the lowest rank, then give each part's rank.",
    args=("chunk", "mergeable_ranks"), points=2, timeout=10,
    hints={"'int' object has no attribute": "iterating over bytes gives ints: start from one-byte bytes "
                                            "objects, bytes([b]), so parts can be joined with +.",
           "can't concat int to bytes": "iterating over bytes gives ints: make each part bytes([b]) first."},
)


def _bpe_variant(chunk: bytes, ranks: Ranks, *, pick: str = "lowest") -> list[bytes]:
    """The byte-pair loop with another rule for which pair to join."""
    parts = [bytes([b]) for b in chunk]
    while len(parts) > 1:
        found = [(ranks[parts[i] + parts[i + 1]], i) for i in range(len(parts) - 1)
                 if parts[i] + parts[i + 1] in ranks]
        if not found:
            break
        if pick == "first":
            rank, at = found[0]
        elif pick == "highest":
            rank, at = max(found)
        else:  # "rightmost": the lowest rank, the last of equal ones
            rank = min(found)[0]
            at = max(i for r, i in found if r == rank)
        parts[at : at + 2] = [parts[at] + parts[at + 1]]
    return parts


def _greedy(chunk: bytes, ranks: Ranks) -> list[bytes]:
    """Longest token that starts here, again and again: not what BPE does."""
    parts, at = [], 0
    while at < len(chunk):
        end = max(e for e in range(at + 1, len(chunk) + 1) if chunk[at:e] in ranks or e == at + 1)
        parts.append(chunk[at:end])
        at = end
    return parts


def _one_pass(chunk: bytes, ranks: Ranks) -> list[bytes]:
    """Ranks the pairs of the bytes once, then merges in that order without looking at the new pairs."""
    parts = [bytes([b]) for b in chunk]
    order = sorted({parts[i] + parts[i + 1] for i in range(len(parts) - 1) if parts[i] + parts[i + 1] in ranks},
                   key=ranks.__getitem__)
    for joined in order:
        i = 0
        while i < len(parts) - 1:
            if parts[i] + parts[i + 1] == joined:
                parts[i : i + 2] = [joined]
            i += 1
    return parts


def chunk_mistakes(chunk: bytes, ranks: Ranks) -> dict[str, Any]:
    def ids(parts: list[bytes]) -> list[int]:
        return [ranks.get(p, -1) for p in parts]

    right = bpe_reference(chunk, ranks)
    return {
        "took the longest token at each position (greedy matching); BPE joins the lowest-ranked pair first":
            ids(_greedy(chunk, ranks)),
        "joined the first pair that is a token, left to right; join the pair with the lowest rank":
            ids(_bpe_variant(chunk, ranks, pick="first")),
        "joined the pair with the highest rank; the lowest rank was learned first": ids(_bpe_variant(
            chunk, ranks, pick="highest")),
        "broke ties between equal ranks from the right; the leftmost of equal pairs is joined first":
            ids(_bpe_variant(chunk, ranks, pick="rightmost")),
        "ranked the pairs once at the start; after each join, the new part makes new pairs to rank":
            ids(_one_pass(chunk, ranks)),
        "gave a single byte its byte value as id; its id is its rank in the table":
            [ranks[p] if len(p) > 1 else p[0] for p in right],
        "returned the parts' bytes; the answer is their ranks": right,
        "ignored `mergeable_ranks` and used GPT-4's table: use the table you are given":
            [cl100k().get(p, -1) for p in bpe_reference(chunk, cl100k())],
    }


def check_chunk(t: Trial, chunk: bytes, ranks: Ranks, reference: Callable[[bytes, Ranks], list[int]]
                = chunk_reference) -> None:
    t.check_call(chunk, ranks, reference=reference, what="the ids", mistakes=chunk_mistakes,
                 compare={"strict_sequences": True})


def _tiktoken_chunk(chunk: bytes, ranks: Ranks) -> list[int]:
    return list(cl100k_encoding()._encode_single_piece(chunk))


def _separates(chunk: bytes, ranks: Ranks, keys: tuple[str, ...]) -> bool:
    """Whether the mistakes named by ``keys`` all differ from the right ids and from each other here."""
    right, wrong = chunk_reference(chunk, ranks), chunk_mistakes(chunk, ranks)
    values = [right] + [v for k, v in wrong.items() if k.startswith(keys)]
    return all(a != b for i, a in enumerate(values) for b in values[i + 1 :])


@bpe_chunk.case("encodes words of the text a small table was learned from")
def _(t: Trial) -> None:
    ranks, text = toy_table(t.py)
    for word in t.py.sample(text.split(), 3):
        check_chunk(t, (" " + word).encode("utf-8"), ranks)


def hand_table(rng: random.Random) -> tuple[Ranks, bytes, bytes, bytes, bytes]:
    """A small table where the lowest-rank rule, greedy matching, left-to-right joining and ties from the right
    give different ids: bytes a, b, c, d (ranks in a random order), then aa, bc, bcd, ab, abcd.

    On ``abcd`` BPE gives [abcd] (bc, bcd, then abcd) as greedy matching does, but joining left to right
    gets stuck at [ab, c, d]; on ``abc`` BPE gives [a, bc] and both others [ab, c]; on ``aaa`` BPE gives
    [aa, a] and ties from the right [a, aa].
    """
    a, b, c, d = (bytes([x]) for x in rng.sample(range(33, 127), 4))
    singles = [a, b, c, d]
    rng.shuffle(singles)
    ranks = {token: r for r, token in enumerate(singles)}
    rank = rng.randint(4, 300)
    for token in (a + a, b + c, b + c + d, a + b, a + b + c + d):
        ranks[token] = rank
        rank += rng.randint(1, 5)
    return ranks, a + b + c + d, a + b + c, a * 3, d + a + b + c


@bpe_chunk.case("joins the lowest-ranked pair first, leftmost among equals, where other rules give other ids")
def _(t: Trial) -> None:
    ranks, *chunks = hand_table(t.py)
    for chunk in chunks:
        check_chunk(t, chunk, ranks)


@bpe_chunk.case("a table in no particular order, with every byte: a single byte, and pieces that cut a character")
def _(t: Trial) -> None:
    ranks, text = toy_table(t.py, all_bytes=True, shuffle=True)
    data = text.encode("utf-8")
    start = t.py.randrange(len(data) - 8)
    check_chunk(t, data[start : start + t.py.randint(3, 8)], ranks)
    check_chunk(t, bytes([t.py.randrange(256)]), ranks)  # (not b"": the grader's pipe cannot carry empty bytes)


@bpe_chunk.case("gives tiktoken's ids with GPT-4's table on chunks of held-out text in several scripts")
def _(t: Trial) -> None:
    chunks = [c.encode("utf-8") for c in regex.findall(CL100K_PATTERN, held_out_text(t.py, 4))]
    chunks.sort(key=len)
    for chunk in chunks[-3:] + [t.py.choice(chunks)]:
        check_chunk(t, chunk, reachable(chunk, cl100k()), reference=_tiktoken_chunk)


@bpe_chunk.case("gives tiktoken's ids with GPT-4's table where BPE and greedy matching differ")
def _(t: Trial) -> None:
    full = cl100k()
    words = ["unbelievably", " indistinguishable", " Straßenbahnhaltestelle", " counterrevolutionaries",
             " ninetynine", " überzeugt", " hyperparameterization", " 0xdeadbeef", " Pneumonoultramicroscopic"]
    chosen = [w.encode("utf-8") for w in t.py.sample(words, 5)]
    hard = [w for w in chosen if _separates(w, reachable(w, full), ("took the longest",))] or chosen[:1]
    for chunk in hard[:3]:
        check_chunk(t, chunk, reachable(chunk, full), reference=_tiktoken_chunk)


# --- 3. recover_merges -------------------------------------------------------------------------------------

recover_merges = exercise(
    "ch02.recover_merges", name="recover_merges",
    description="Rebuild the merge table a rank table implies: for each token of two or more bytes, the pair of "
                "ranks it was merged from, mapped to its own rank, in rank order.",
    args=("mergeable_ranks",), points=2, timeout=20,
    hints={"too many values to unpack": "with only the tokens ranked below a token, BPE on its bytes stops at "
                                        "exactly two parts; with more tokens allowed it goes too far.",
           "not enough values to unpack": "BPE on a token's bytes with every token allowed joins them all into "
                                          "the token itself: allow only the tokens ranked below it."},
)


def _splits(token: bytes, ranks: Ranks, rank: int) -> list[tuple[bytes, bytes]]:
    """Every cut of ``token`` into two tokens ranked below it, left part shortest first."""
    return [(token[:i], token[i:]) for i in range(1, len(token))
            if ranks.get(token[:i], rank) < rank and ranks.get(token[i:], rank) < rank]


def recover_mistakes(ranks: Ranks) -> dict[str, Any]:
    by_rank = sorted(ranks.items(), key=lambda kv: kv[1])
    long = [(token, rank) for token, rank in by_rank if len(token) >= 2]

    def table(cut: Callable[[bytes, int], tuple[bytes, bytes] | None]) -> dict[Pair, int]:
        out = {}
        for token, rank in long:
            parts = cut(token, rank)
            if parts is None:
                return {}
            out[(ranks[parts[0]], ranks[parts[1]])] = rank
        return out

    right = recover_reference(ranks)
    return {
        "cut each token at the first place where both sides are earlier tokens; BPE with the earlier tokens "
        "decides where the cut is": table(lambda tok, r: (_splits(tok, ranks, r) or [None])[0]),
        "cut each token at the longest earlier token it starts with; BPE with the earlier tokens decides where "
        "the cut is": table(lambda tok, r: (_splits(tok, ranks, r) or [None])[-1]),
        "numbered the merged tokens 256, 257, ... yourself: each merge makes the token of that rank":
            {pair: 256 + n for n, pair in enumerate(right)},
        "wrote each pair as (right, left); the left part's rank comes first": {(b, a): r for (a, b), r in
                                                                                right.items()},
        "gave each pair as its two tokens' bytes; the pair is their ranks":
            {(bpe_reference(tok, ranks, r)[0], bpe_reference(tok, ranks, r)[1]): r for tok, r in long},
    }


def check_recover(t: Trial, ranks: Ranks) -> None:
    outcome = t.check_call(ranks, reference=recover_reference, what="the merges", mistakes=recover_mistakes)
    ranks_in_order = list(outcome.value.values())
    if ranks_in_order != sorted(ranks_in_order):
        raise CheckFailure("the merges are right but not in the order they were learned: list them by rank, "
                           "lowest first (the table you are given may be in any order).", "wrong")


@recover_merges.case("a table learned from a toy text, ranks numbered from its first byte")
def _(t: Trial) -> None:
    check_recover(t, toy_table(t.py)[0])


@recover_merges.case("a table whose ranks have gaps, given in no particular order, with every byte")
def _(t: Trial) -> None:
    check_recover(t, toy_table(t.py, all_bytes=True, gaps=True, shuffle=True)[0])


@recover_merges.case("where simple rules for cutting a token in two and BPE disagree")
def _(t: Trial) -> None:
    def separates(ranks: Ranks) -> bool:
        right, wrong = recover_reference(ranks), recover_mistakes(ranks)
        return all(v != right for k, v in wrong.items() if k.startswith("cut each"))

    check_recover(t, draw_until(lambda: toy_table(t.py, gaps=True)[0], separates, tries=40))


@recover_merges.case("GPT-4's first ranks (a prefix of cl100k of random length)")
def _(t: Trial) -> None:
    n = t.py.randint(1500, 3000)
    check_recover(t, dict(list(cl100k().items())[:n]))


@recover_merges.case("long tokens from deep in GPT-4's vocabulary, with every token inside them")
def _(t: Trial) -> None:
    check_recover(t, deep_table(t.py, t.py.randint(5, 10)))


# --- 4. gpt4_encode ------------------------------------------------------------------------------------------

gpt4_encode = exercise(
    "ch02.gpt4_encode", name="gpt4_encode",
    description="Encode text as GPT-4 does: split it with cl100k's pattern, encode each chunk's UTF-8 bytes with "
                "the rank table; special tokens are ordinary text.",
    args=("text", "mergeable_ranks"), points=2, timeout=20,
    hints={"KeyError": "every chunk is encoded from its UTF-8 bytes, chunk.encode('utf-8'), whose single bytes are "
                       "all in the table; a character's code point is not.",
           "codec can't encode": "encode each chunk with chunk.encode('utf-8').",
           "bytes must be in range(0, 256)": "a character's code point can be far above 255: start from the "
                                             "chunk's UTF-8 bytes, chunk.encode('utf-8')."},
)


def encode_mistakes(text: str, ranks: Ranks) -> dict[str, Any]:
    def pieces(chunks: list[str], bpe: Callable[[bytes, Ranks], list[bytes]] = bpe_reference) -> list[int]:
        return [ranks.get(p, -1) for chunk in chunks for p in bpe(chunk.encode("utf-8"), ranks)]

    chunks = regex.findall(CL100K_PATTERN, text)
    return {
        "did not split the text first: BPE runs on each chunk of cl100k's pattern, never across chunks":
            pieces([text]),
        "split with GPT-2's pattern; GPT-4 splits with cl100k's (numbers in threes, whitespace kept apart)":
            pieces(regex.findall(GPT2_SPLIT_PATTERN, text)),
        "took the longest token at each position (greedy matching); BPE joins the lowest-ranked pair first":
            pieces(chunks, _greedy),
        "split on whitespace and dropped it; the spaces and newlines are part of the chunks":
            pieces(text.split()),
        "stripped the whitespace at the ends of the text: encode all of it":
            pieces(regex.findall(CL100K_PATTERN, text.strip())),
        "normalized the text (its accents) before encoding: encode exactly the characters given":
            pieces(regex.findall(CL100K_PATTERN, unicodedata.normalize("NFC", text))),
        "ignored `mergeable_ranks` and used GPT-4's table: use the table you are given":
            encode_reference(text, cl100k()),
    }


def check_encode(t: Trial, text: str, ranks: Ranks | None = None) -> None:
    """With ``ranks`` None: GPT-4's table (the part of it the text reaches), and tiktoken's own ids."""
    if ranks is None:
        ranks = reachable(text.encode("utf-8"), cl100k())
        t.check_call(text, ranks, reference=lambda text, ranks: cl100k_encoding().encode_ordinary(text),
                     what="the ids", mistakes=encode_mistakes, compare={"strict_sequences": True})
    else:
        t.check_call(text, ranks, reference=encode_reference, what="the ids", mistakes=encode_mistakes,
                     compare={"strict_sequences": True})


@gpt4_encode.case("gives tiktoken's ids for held-out text: several scripts, numbers, whitespace at the ends")
def _(t: Trial) -> None:
    check_encode(t, held_out_text(t.py, t.py.randint(3, 5), combining=True))


@gpt4_encode.case("gives tiktoken's ids for code, emoji and text with <|endoftext|> in it (as ordinary text)")
def _(t: Trial) -> None:
    picks = [s for s in SENTENCES if "\n" in s or "🙂" in s]
    text = t.py.choice(ENDS) + t.py.choice(SEPARATORS).join(t.py.sample(picks, 2)) + "<|endoftext|>"
    check_encode(t, text + t.py.choice(SEPARATORS) + held_out_text(t.py, 1) + "\n  ")


@gpt4_encode.case("where the pre-split and greedy matching change the ids")
def _(t: Trial) -> None:
    def separates(text: str) -> bool:
        ranks = reachable(text.encode("utf-8"), cl100k())
        right, wrong = encode_reference(text, ranks), encode_mistakes(text, ranks)
        return all(v != right for k, v in wrong.items() if k.startswith(("did not split", "took the longest")))

    check_encode(t, draw_until(lambda: held_out_text(t.py, 2), separates, tries=30))


@gpt4_encode.case("uses the table it is given: a small one learned afresh, every byte in it")
def _(t: Trial) -> None:
    ranks, text = toy_table(t.py, all_bytes=True, shuffle=True)
    check_encode(t, text[: t.py.randint(20, 60)] + t.py.choice(ENDS), ranks)
    check_encode(t, "", ranks)

"""Chapter 2's graded exercises: BPE trained from scratch, GPT-4's rank table read and its merges recovered, and
a streaming decoder that never shows half a character.

The chapter trains byte-level BPE on regex pre-split chunks and shows that a token need not be a whole UTF-8
character. The exercises read ``cl100k_base.tiktoken`` (every token's bytes with a *rank*, no merges), train
BPE GPT-style with a tie rule the task states (not the package trainer's rule, so its answer cannot be
imported), derive the merge list a rank table implies (the idea of minbpe's ``recover_merges``), and decode
a stream of token ids into text as they arrive.

Every case draws its inputs from the run's trial: small tables the grader learns afresh each run with the course's
trainer, parts of the real cl100k table, held-out text in several scripts, token streams cut inside characters.
The expected answers come from the teacher's references (``solutions/references/ch02.py``: the table parsed line by
line, a plain BPE training loop, tiktoken's byte-pair loop by ranks, and the streaming rule, which on valid UTF-8
releases exactly what Python's incremental decoder does and, on any bytes, adds up to
``bytes.decode("utf-8", errors="replace")`` of the whole stream), live on the teacher's side and replayed from the
recording in a learner's check; known mistakes are computed on the same inputs, so a message can name the one an
answer makes. Where a case redraws its inputs until they tell a mistake apart, or until a learned table is one BPE
can recover, it asks the references too. A case on real cl100k passes only *the part of cl100k it needs*, since
all of it costs seconds through the grader's pipe.
"""

from __future__ import annotations

import base64
import random
from collections import Counter
from collections.abc import Callable
from typing import Any

from llmcourse.tokenizers import reference
from llmcourse.tokenizers.bpe import GPT2_SPLIT_PATTERN, pretokenize, train_merges
from llmcourse.tokenizers.reference import CL100K_PATTERN

from ..grading.core import Forbidden, Step, Trial, exercise
from ..grading.expect import CheckFailure

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


def toy_table(t: Trial, *, all_bytes: bool = False, gaps: bool = False,
              shuffle: bool = False) -> tuple[Ranks, str]:
    """A rank table learned from a toy text by the course's BPE trainer, and the text.

    The bytes come first with ranks in a random order (so a byte's rank is not its value), then each merge
    takes the next rank (with ``gaps``, some ranks are skipped). Redrawn until every token is the result of
    one merge of lower-ranked tokens, as in a real table (the teacher's reference says whether BPE recovers the
    merges that made it).
    """
    rng = t.py
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
        if not t.reference("ch02.recover_merges/recovers", ranks, made):
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


def tiktoken_file(rng: random.Random, ranks: Ranks, *, order: str = "rank", end: str = "\n",
                  newlines: tuple[str, ...] = ("\n",)) -> str:
    """``ranks`` written in tiktoken's format: ``base64(token) rank`` a line, each line ended by one of
    ``newlines`` (drawn, every one of them used where there are lines enough)."""
    items = sorted(ranks.items(), key=lambda kv: kv[1])
    if order == "shuffled":
        rng.shuffle(items)
    lines = [f"{base64.b64encode(token).decode('ascii')} {rank}" for token, rank in items]
    ends = list(newlines) + [rng.choice(newlines) for _ in range(max(0, len(lines) - 1 - len(newlines)))]
    rng.shuffle(ends)
    return "".join(line + sep for line, sep in zip(lines, ends, strict=False)) + (lines[-1] if lines else "") + end


NEWLINES = ("\n", "\r\n", "\r")
EMOJI = ("🙂", "🦜", "🧬", "🎉", "🚀")  # characters of four bytes
MULTI_BYTE = ("東京", "北京", "한국어", "café", "naïve", "Ω", "—", "€")


def cl100k_pieces(rng: random.Random) -> tuple[str, Ranks]:
    """A short text with an emoji and other characters outside ASCII, and every GPT-4 token inside it (its bytes
    included), in no particular order."""
    text = rng.choice(EMOJI) + " " + " ".join(rng.sample(MULTI_BYTE, 3)) + rng.choice(EMOJI)
    data = text.encode("utf-8")
    items = [(token, rank) for token, rank in reachable(data, cl100k()).items() if token in data]
    rng.shuffle(items)
    return text, dict(items)


# --- 1. load_ranks ---------------------------------------------------------------------------------------

load_ranks = exercise(
    "ch02.load_ranks", name="load_ranks",
    description="Read a .tiktoken file's text (a line per token: its base64 and its rank; lines may end with \\n, "
                "\\r\\n or \\r, and blank lines hold nothing) into a dict from each token's bytes to its rank.",
    args=("text",), points=1, timeout=10,
    hints={"codec can't decode": "a token is bytes, and not every token is valid UTF-8 (it can hold part of a "
                                 "character): keep the decoded base64 as bytes.",
           "not enough values to unpack": "a file can end with an empty line: skip lines that hold nothing.",
           "Incorrect padding": "decode the token's base64 text with base64.b64decode, whole.",
           "too many values to unpack": "a line can end with \\r\\n or a lone \\r as well as \\n: cut the text "
                                        "into lines with str.splitlines(), which knows all three."},
)


def check_load(t: Trial, text: str) -> None:
    t.check_call(text, reference="ch02.load_ranks", what="the table", mistakes="ch02.load_ranks/mistakes")


@load_ranks.case("reads a table learned from a toy text, whitespace and multi-byte tokens included")
def _(t: Trial) -> None:
    ranks, _ = toy_table(t)
    check_load(t, tiktoken_file(t.py, ranks))


@load_ranks.case("reads the rank written on each line, which need not be the line number; no final newline")
def _(t: Trial) -> None:
    ranks, _ = toy_table(t, gaps=True)
    check_load(t, tiktoken_file(t.py, ranks, order="shuffled", end=""))


@load_ranks.case("reads the first lines of GPT-4's file, tokens that are not valid UTF-8 included")
def _(t: Trial) -> None:
    full = cl100k()
    n = t.py.randint(300, 600)
    chosen = dict(list(full.items())[:n])
    for token in t.py.sample(list(full)[50_000:], 40):  # some deep tokens too, and bytes cut from a character
        chosen[token] = full[token]
    check_load(t, tiktoken_file(t.py, chosen, end=t.py.choice(("\n", "", "\n\n"))))


@load_ranks.case("every kind of line ending (\\r\\n throughout, then \\n, \\r\\n and \\r mixed), lines in no "
                 "particular order, GPT-4's tokens of emoji and other characters outside ASCII; an empty file")
def _(t: Trial) -> None:
    check_load(t, "")
    ranks, _ = toy_table(t, gaps=True)
    used = set(ranks.values())
    for token, rank in cl100k_pieces(t.py)[1].items():
        if len(token) >= 2 and rank not in used:  # GPT-4's ranks for pieces of emoji and the like
            ranks.setdefault(token, rank)
    check_load(t, tiktoken_file(t.py, ranks, order="shuffled", newlines=("\r\n",), end=t.py.choice(("\r\n", ""))))
    check_load(t, tiktoken_file(t.py, ranks, order="shuffled", newlines=NEWLINES, end=t.py.choice(NEWLINES)))


# --- 2. train_bpe ------------------------------------------------------------------------------------------


_TRAIN_YOURSELF = "write the counting and merging loop yourself, with plain Python and `regex`."
TRAIN_FORBIDDEN = (
    Forbidden(module="tokenizers", why="Hugging Face's `tokenizers` library trains BPE in one call (and breaks "
                                       "ties its own way), which is this exercise: " + _TRAIN_YOURSELF),
    Forbidden(module="tiktoken", why="tiktoken holds finished tokenizers and their training helpers, which do this "
                                     "exercise's work: " + _TRAIN_YOURSELF),
    Forbidden(module="sentencepiece", why="SentencePiece trains its own kind of BPE in one call: " + _TRAIN_YOURSELF),
    # Only the package's module that holds a trainer: every library ruled out slows each call the learner makes
    # (the watch sees every call), and a BPE loop makes many. (The grader's reference is teacher-side, under
    # llmcourse_references, and that and llmcourse.checks are ruled out in every exercise.)
    Forbidden(module="llmcourse.tokenizers", why="the course's package holds the chapter's finished trainer "
                                                 "(`train_merges`, `BPETokenizer.train`, `get_stats`, `merge`); the "
                                                 "exercise is to write them: " + _TRAIN_YOURSELF),
)

train_bpe = exercise(
    "ch02.train_bpe", name="train_bpe",
    description="Train byte-level BPE GPT-style on `text` exactly as given: cut it into chunks with "
                "regex.findall(pattern, text), count "
                "each distinct chunk once with its frequency, and repeatedly merge the most frequent adjacent pair "
                "inside the chunks (pairs weighted by chunk frequency; among equal counts, the pair that occurs "
                "first in the text as tokenized so far) into the next id from 256 on, until there are `vocab_size` "
                "ids or no pair is left; return the merges in order.",
    args=("text", "vocab_size", "pattern"), points=3, timeout=10, forbidden=TRAIN_FORBIDDEN,
    hints={"arg is an empty sequence": "when no adjacent pair is left (every chunk is a single token), stop and "
                                       "return the merges made so far.",
           "max() iterable argument is empty": "when no adjacent pair is left (every chunk is a single token), "
                                               "stop and return the merges made so far.",
           "'str' object cannot be interpreted as an integer": "BPE starts from each chunk's UTF-8 bytes "
                                                                "(chunk.encode('utf-8')), whose values are ids 0-255.",
           "unhashable type: 'list'": "a pair is a tuple of two ids (lists cannot be dict keys).",
           "No module named 're'": "use the `regex` module, which knows \\p{L}, as the chapter does."},
)


def check_train(t: Trial, text: str, vocab_size: int, pattern: str) -> None:
    t.check_call(text, vocab_size, pattern, reference="ch02.train_bpe", what="the merges",
                 mistakes="ch02.train_bpe/mistakes")


def _separates_train(t: Trial, text: str, vocab_size: int, pattern: str, keys: tuple[str, ...]) -> bool:
    """Whether the named mistakes (their texts start with one of ``keys``) give other merges on these inputs (the
    teacher's reference says)."""
    return t.reference("ch02.train_bpe/separates", text, vocab_size, pattern, keys)


PATTERNS = (GPT2_SPLIT_PATTERN, CL100K_PATTERN, r"\S+|\s+", r" ?[^\W\d_]+| ?\d+| ?[^\w\s]+|\s+(?!\S)|\s+| ?_+")


def word_text(rng: random.Random, *, words: int = 6, n: int = 60, letters: str = LETTERS, extras: bool = True,
              skew: bool = False) -> str:
    """``n`` words drawn from ``words`` short random words over few letters (many tied pairs), some with a
    multi-byte character, one a run of one letter; with ``skew``, some words far more frequent than others."""
    vocab = []
    for _ in range(words):
        word = "".join(rng.choice(letters) for _ in range(rng.randint(2, 6)))
        if extras and rng.random() < 0.3:
            at = rng.randint(0, len(word))
            word = word[:at] + rng.choice(EXTRAS) + word[at:]
        vocab.append(word)
    vocab.append(rng.choice(letters) * rng.randint(3, 7))
    weights = [rng.choice((1, 1, 2, 6)) if skew else 1 for _ in vocab]
    seps = [" "] * 8 + [", ", ". ", "\n", "  ", "-"]
    out = rng.choice(vocab)
    for _ in range(n - 1):
        out += rng.choice(seps) + rng.choices(vocab, weights)[0]
    return out


@train_bpe.case("a short text over a few letters (many pairs tie), GPT-2's or GPT-4's pattern")
def _(t: Trial) -> None:
    pattern = t.py.choice(PATTERNS[:2])
    text, size = draw_until(lambda: (word_text(t.py, n=t.py.randint(20, 60)), 256 + t.py.randint(8, 30)),
                            lambda ts: _separates_train(t, ts[0], ts[1], pattern, ("broke ties", "counted each")))
    check_train(t, text, size, pattern)


@train_bpe.case("chunk boundaries matter: counting pairs across chunks would change the merges (other patterns)")
def _(t: Trial) -> None:
    pattern = t.py.choice(PATTERNS[2:])
    text, size = draw_until(lambda: (word_text(t.py, words=4, n=t.py.randint(30, 60), extras=False),
                                     256 + t.py.randint(5, 20)),
                            lambda ts: _separates_train(t, ts[0], ts[1], pattern, ("counted pairs across",)))
    check_train(t, text, size, pattern)


@train_bpe.case("chunks repeated with very different frequencies, and a run of one letter (overlapping pairs)")
def _(t: Trial) -> None:
    pattern = t.py.choice(PATTERNS)
    text, size = draw_until(lambda: (word_text(t.py, n=t.py.randint(40, 80), skew=True), 256 + t.py.randint(10, 30)),
                            lambda ts: _separates_train(t, ts[0], ts[1], pattern,
                                                        ("counted each", "went through", "counted a pair")))
    check_train(t, text, size, pattern)


@train_bpe.case("held-out text in several scripts (characters of two to four bytes), GPT-4's pattern")
def _(t: Trial) -> None:
    text = held_out_text(t.py, t.py.randint(2, 4))
    check_train(t, text, 256 + t.py.randint(20, 50), CL100K_PATTERN)


@train_bpe.case("edges: vocab_size 256 (no merges), more merges asked than the text allows (stop early), "
                "a text of one repeated letter, the empty text")
def _(t: Trial) -> None:
    pattern = t.py.choice(PATTERNS)
    check_train(t, word_text(t.py, n=10), 256, pattern)
    small = " ".join(t.py.choice(["ab", "ba", "abc", "ca"]) for _ in range(t.py.randint(3, 6)))
    check_train(t, small, 256 + t.py.randint(30, 60), pattern)  # far fewer pairs than that: stops early
    check_train(t, t.py.choice(LETTERS) * t.py.randint(5, 12), 256 + t.py.randint(2, 6), pattern)
    check_train(t, "", 256 + t.py.randint(1, 5), pattern)


@train_bpe.case("every kind of line ending (\\n, \\r\\n, \\r) and an emoji in the text; a text of line endings only")
def _(t: Trial) -> None:
    pattern = t.py.choice(PATTERNS)

    def make() -> tuple[str, int]:
        lines = [word_text(t.py, words=4, n=t.py.randint(3, 8)) for _ in range(t.py.randint(6, 10))]
        at = t.py.randrange(len(lines))
        lines[at] += " " + t.py.choice(EMOJI) + t.py.choice(("", "!", " ok"))
        ends = list(NEWLINES) + [t.py.choice(NEWLINES) for _ in lines[3:]]
        t.py.shuffle(ends)
        return "".join(line + end for line, end in zip(lines, ends, strict=True)), 256 + t.py.randint(15, 40)

    text, size = draw_until(make, lambda ts: _separates_train(t, ts[0], ts[1], pattern, ("changed the text's line",)))
    check_train(t, text, size, pattern)
    check_train(t, "".join(t.py.choice(NEWLINES) for _ in range(t.py.randint(6, 12))), 256 + t.py.randint(2, 6),
                pattern)


# --- 3. recover_merges -------------------------------------------------------------------------------------

recover_merges = exercise(
    "ch02.recover_merges", name="recover_merges",
    description="Rebuild the merge table a rank table implies: for each token of two or more bytes, the pair of "
                "ranks it was merged from, mapped to its own rank, in rank order.",
    args=("mergeable_ranks",), points=2, timeout=20,
    hints={"too many values to unpack": "each token of two or more bytes was made by one merge, of exactly two "
                                        "tokens learned before it: a token has two parts, never more.",
           "not enough values to unpack": "a token was made from two tokens learned before it, each of a lower "
                                          "rank than its own: it cannot be one of its own parts.",
           "max() arg is an empty sequence": "a table can be empty, or hold only single bytes: then nothing was "
                                             "merged, and the answer is an empty dict.",
           "max() iterable argument is empty": "a table can be empty, or hold only single bytes: then nothing was "
                                               "merged, and the answer is an empty dict."},
)


def check_recover(t: Trial, ranks: Ranks) -> None:
    outcome = t.check_call(ranks, reference="ch02.recover_merges", what="the merges",
                           mistakes="ch02.recover_merges/mistakes")
    ranks_in_order = list(outcome.value.values())
    if ranks_in_order != sorted(ranks_in_order):
        raise CheckFailure("the merges are right but not in the order they were learned: list them by rank, "
                           "lowest first (the table you are given may be in any order).", "wrong")


@recover_merges.case("a table learned from a toy text, ranks numbered from its first byte")
def _(t: Trial) -> None:
    check_recover(t, toy_table(t)[0])


@recover_merges.case("a table whose ranks have gaps, given in no particular order, with every byte")
def _(t: Trial) -> None:
    check_recover(t, toy_table(t, all_bytes=True, gaps=True, shuffle=True)[0])


@recover_merges.case("where simple rules for cutting a token in two and BPE disagree")
def _(t: Trial) -> None:
    def separates(ranks: Ranks) -> bool:
        return t.reference("ch02.recover_merges/separates", ranks)

    check_recover(t, draw_until(lambda: toy_table(t, gaps=True)[0], separates, tries=40))


@recover_merges.case("GPT-4's first ranks (a prefix of cl100k of random length)")
def _(t: Trial) -> None:
    n = t.py.randint(1200, 2400)
    check_recover(t, dict(list(cl100k().items())[:n]))


@recover_merges.case("long tokens from deep in GPT-4's vocabulary, with every token inside them")
def _(t: Trial) -> None:
    check_recover(t, deep_table(t.py, t.py.randint(5, 10)))


@recover_merges.case("edges: an empty table, a table of single bytes only (nothing merged), and GPT-4's tokens for a "
                     "text with emoji and other characters outside ASCII, in no particular order")
def _(t: Trial) -> None:
    check_recover(t, {})
    check_recover(t, {bytes([b]): r for r, b in enumerate(t.py.sample(range(256), t.py.randint(1, 40)))})
    check_recover(t, cl100k_pieces(t.py)[1])


# --- 4. StreamDecoder ------------------------------------------------------------------------------------------

_DECODE_YOURSELF = ("work out from each byte's high bits where a character ends, and hold back only an "
                    "unfinished one.")
STREAM_FORBIDDEN = (
    Forbidden(module="codecs", why="codecs.getincrementaldecoder('utf-8') (and codecs.iterdecode) is a finished "
                                   "streaming decoder, which is this exercise: " + _DECODE_YOURSELF),
    Forbidden(module="_codecs", why="_codecs.utf_8_decode(..., final=False) decodes a stream incrementally by "
                                    "itself, which is this exercise: " + _DECODE_YOURSELF),
    Forbidden(module="encodings", why="encodings.utf_8.IncrementalDecoder is a finished streaming decoder, which is "
                                      "this exercise: " + _DECODE_YOURSELF),
    Forbidden(module="tiktoken", why="tiktoken's decoders do this exercise's work: " + _DECODE_YOURSELF),
    Forbidden(module="tokenizers",
              why="Hugging Face's streaming decoders do this exercise's work: " + _DECODE_YOURSELF),
)

stream_decoder = exercise(
    "ch02.StreamDecoder", name="StreamDecoder", kind="class", global_rng=False,
    description="A streaming decoder: StreamDecoder(vocab) with vocab a dict from id to the token's bytes; "
                "push(token_id) returns, as str, every character the bytes so far complete (held back: only an "
                "unfinished character at the end, a lead byte followed by fewer continuation bytes than it "
                "announces, judged by the high bits alone; released bytes decoded with errors='replace'); flush() "
                "returns the held-back bytes decoded with errors='replace' and starts afresh. A token's bytes may be "
                "empty; text is returned exactly as its bytes decode (line endings included).",
    args=("vocab",), points=2, timeout=10, forbidden=STREAM_FORBIDDEN,
    hints={"codec can't decode": "a token's bytes can end inside a character: hold back an unfinished character "
                                 "until its last byte arrives, and decode invalid bytes with errors='replace'.",
           "can't concat str to bytes": "keep what has arrived as bytes, and decode only what you release.",
           "NoneType": "push and flush return a str every time: \"\" when nothing is ready.",
           "index out of range": "a token's bytes can be empty (b\"\"), and what is held back can be shorter than "
                                 "the character it starts: check a length before you index."},
)


Event = int | None  # a token id to push, or None for a flush


def check_stream(t: Trial, vocab: dict[int, bytes], streams: list[list[Event]]) -> None:
    """One decoder per stream, made at the start; the streams' events interleaved in turn; every call's text must
    be right, not only their total."""
    names = [f"d{i}" for i in range(len(streams))]
    steps = [Step((vocab,), keep=name) for name in names]
    order: list[tuple[int, int]] = []  # (stream, event index)
    cursors = [0] * len(streams)
    while any(c < len(s) for c, s in zip(cursors, streams, strict=True)):
        for i, stream in enumerate(streams):
            if cursors[i] < len(stream):
                order.append((i, cursors[i]))
                cursors[i] += 1
    for i, at in order:
        event = streams[i][at]
        steps.append(Step((), on=names[i], method="flush") if event is None else Step((event,), on=names[i],
                                                                                     method="push"))
    outcomes = t.run(steps)[len(names):]
    got: list[list[Any]] = [[] for _ in streams]
    for (i, _), outcome in zip(order, outcomes, strict=True):
        got[i].append(outcome.value)
    for i, stream in enumerate(streams):
        what = "the texts that push and flush returned, call by call" + (f" (decoder {i + 1})" if len(streams) > 1
                                                                         else "")
        t.expect(got[i], t.reference("ch02.StreamDecoder", vocab, stream), what,
                 mistakes=t.reference("ch02.StreamDecoder/mistakes", vocab, stream), strict_sequences=True)


def random_vocab(rng: random.Random, pieces: list[bytes]) -> tuple[dict[int, bytes], dict[bytes, int]]:
    """Ids for the distinct ``pieces``, drawn at random (not consecutive, not in order), plus a few unused ids."""
    distinct = list(dict.fromkeys(pieces))
    extra = [bytes(rng.randrange(256) for _ in range(rng.randint(1, 4))) for _ in range(5)]
    distinct += [e for e in extra if e not in distinct]
    ids = rng.sample(range(300, 100_000), len(distinct))
    vocab = dict(zip(ids, distinct, strict=True))
    return vocab, {piece: i for i, piece in vocab.items()}


def cut_bytes(rng: random.Random, data: bytes, *, inside: float = 0.7, longest: int = 4) -> list[bytes]:
    """``data`` cut into pieces of 1 to ``longest`` bytes, a share ``inside`` of the cuts inside a character."""
    pieces, at = [], 0
    while at < len(data):
        end = min(len(data), at + rng.randint(1, longest))
        if rng.random() < inside:  # move the cut inside a character if one is near
            for e in range(end, min(len(data), at + longest) + 1):
                if e < len(data) and 0x80 <= data[e] < 0xC0:
                    end = e
                    break
        pieces.append(data[at:end])
        at = end
    return pieces


def stream_of(rng: random.Random, data: bytes, **cut: Any) -> tuple[dict[int, bytes], list[Event]]:
    """A vocabulary for ``data`` cut into tokens, and the stream: the tokens' ids, then a flush."""
    pieces = cut_bytes(rng, data, **cut)
    vocab, ids = random_vocab(rng, pieces)
    return vocab, [ids[p] for p in pieces] + [None]


@stream_decoder.case("text in several scripts cut into tokens of 1-4 bytes, most cuts inside a character")
def _(t: Trial) -> None:
    vocab, events = stream_of(t.py, held_out_text(t.py, 3).encode("utf-8"))
    check_stream(t, vocab, [events])


@stream_decoder.case("emoji (4-byte characters, skin tones, joiners) and 3-byte characters fed one byte at a time")
def _(t: Trial) -> None:
    text = "".join(t.py.choice(("🙂", "👍🏽", "👩\u200d💻", "🇫🇷", "東京", "€", "é", "x", " ", "—")) for _ in range(12))
    vocab, events = stream_of(t.py, text.encode("utf-8"), longest=1)
    check_stream(t, vocab, [events])


@stream_decoder.case("tokens that hold a character's tail and the next one's head (cuts never on a boundary)")
def _(t: Trial) -> None:
    text = "".join(t.py.choice(("東", "京", "é", "ß", "🙂", "Ω", "ह", "ि")) for _ in range(15))
    data = text.encode("utf-8")
    starts = [i for i in range(1, len(data)) if 0x80 <= data[i] < 0xC0]  # cut only inside characters
    cuts = sorted(t.py.sample(starts, len(starts) // 2))
    pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    vocab, ids = random_vocab(t.py, pieces)
    check_stream(t, vocab, [[ids[p] for p in pieces] + [None]])


@stream_decoder.case("GPT-4's own tokens (cl100k) for text whose tokens cut characters")
def _(t: Trial) -> None:
    table = cl100k()
    by_id = {rank: token for token, rank in table.items()}
    scripts = [s for s in SENTENCES if any(ord(c) > 0x900 for c in s)]  # Devanagari, CJK, Hangul, emoji
    emoji = "".join(t.py.sample(["🙂", "👍🏽", "🇫🇷", "🦜", "🧬"], 3))
    text = t.py.choice(scripts) + " " + emoji
    ids = cl100k_encoding().encode_ordinary(text)
    vocab = {i: by_id[i] for i in ids}
    check_stream(t, vocab, [list(ids) + [None]])


@stream_decoder.case("invalid bytes: stray continuation bytes, an unfinished character followed by ASCII, bytes "
                     "UTF-8 never uses, invalid leads, and an unfinished character at the end")
def _(t: Trial) -> None:
    parts = [t.py.choice(("ab", "é", "€", "🙂", " ")).encode("utf-8") for _ in range(6)]
    parts += [bytes([t.py.randrange(0x80, 0xC0)]), "€".encode()[:2] + b"x", bytes([t.py.randrange(0xF8, 0x100)]),
              bytes([0xC0 | t.py.randrange(2), 0x80 | t.py.randrange(64)])]
    t.py.shuffle(parts)
    data = b"".join(parts)
    pieces = cut_bytes(t.py, data, longest=3)
    # Leads that are invalid but announce more bytes by their high bits (E0 80 is an overlong form, ED A0 a
    # surrogate, F5 and C1 never occur in UTF-8): held back until their length has arrived, like any other lead.
    tricky = [[b"x\xe0", b"\x80", b"\x80y"], [b"\xed", b"\xa0", b"\x80"], [b"z\xf5", b"\x80"], [b"\xc1", b"\xbfw"]]
    t.py.shuffle(tricky)
    for group in tricky:
        at = t.py.randint(0, len(pieces))
        pieces[at:at] = group
    pieces.append("🙂".encode()[: t.py.randint(1, 3)])  # ends inside a character: flush releases it
    vocab, ids = random_vocab(t.py, pieces)
    check_stream(t, vocab, [[ids[p] for p in pieces] + [None]])


@stream_decoder.case("edges: an empty stream, a decoder used for two streams (flush between), two decoders at once")
def _(t: Trial) -> None:
    one = cut_bytes(t.py, "déjà vu 🙂".encode() + "東".encode()[:2])  # ends inside a character
    two = cut_bytes(t.py, ("naïve " + t.py.choice(("€", "京", "👍🏽"))).encode())
    vocab, ids = random_vocab(t.py, one + two)
    first, second = [ids[p] for p in one] + [None], [ids[p] for p in two] + [None]
    check_stream(t, vocab, [[None], first + second, second + [None, None]])


@stream_decoder.case("a 4-byte character pushed one byte at a time (held back over three pushes, an empty token "
                     "among them), empty tokens, every kind of line ending (a \\r\\n cut between its two bytes too)")
def _(t: Trial) -> None:
    emoji = t.py.choice(EMOJI).encode("utf-8")
    wide = t.py.choice(("東", "京", "€", "ह")).encode("utf-8")  # three bytes

    def word() -> bytes:
        return t.py.choice(("naïve", "déjà", "ok", "Ω", "line", "x")).encode("utf-8")

    segments = [
        [word() + b"\r", b"\n" + word()],  # \r\n cut between its bytes
        [emoji[:1], emoji[1:2], b"", emoji[2:3], emoji[3:]],  # held back over three pushes, an empty token inside
        [wide[:1], wide[1:2], wide[2:] + b"\r"],
        [b"\r\n"], [word() + b"\r"], [word() + b"\n"], [b""], [word()],
    ]
    t.py.shuffle(segments)
    pieces = [piece for segment in segments for piece in segment]
    vocab, ids = random_vocab(t.py, pieces)
    check_stream(t, vocab, [[ids[p] for p in pieces] + [None]])

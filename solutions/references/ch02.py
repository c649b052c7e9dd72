"""Chapter 2's references and named mistakes (teacher side): what the public and hidden cases of
llmcourse/checks/ch02.py compare with. All are written here (none is the package's: the chapter's trainer breaks
ties its own way, and tiktoken's loops are not imported):

- ``load_ranks``: each line's base64 token decoded to bytes, with the rank written on the line;
- ``train_bpe``: a plain BPE training loop (:func:`train_variant` with its switches off), GPT-style on the chunks of
  ``regex.findall`` weighted by their frequency, ties going to the pair first seen in the text as tokenized so far;
- ``recover_merges``: tiktoken's byte-pair loop by ranks, written out (:func:`bpe_reference`), run on each token
  with only the tokens ranked below it (the idea of minbpe's ``recover_merges``), on small tables the grader learns
  afresh each run with the course's trainer and on parts of the real cl100k table; ``recover_merges/recovers``
  tells the grader's table drawing whether a learned table is one every merge of which BPE can recover;
- ``StreamDecoder``: the streaming rule (:func:`stream_variant`), which on valid UTF-8 releases exactly what
  Python's incremental decoder does and, on any bytes, adds up to ``bytes.decode("utf-8", errors="replace")`` of
  the whole stream.

Known mistakes are computed on the same inputs (for the trainer and the stream, by running each mistaken variant),
so a message can name the one an answer makes; a mistake that gives the right answer on a case's inputs is left
out (the grader could not tell it apart there, and the recording need not hold it). The ``/separates`` keys tell a
case's input drawing whether its inputs tell the mistakes it is about apart from the right answer."""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Callable
from typing import Any

import regex

from llmcourse.grading.references import reference
from llmcourse.tokenizers.bpe import GPT2_SPLIT_PATTERN

Ranks = dict[bytes, int]
Pair = tuple[int, int]
Event = int | None  # a token id to push, or None for a flush


def differing(right: Any, values: dict[str, Any]) -> dict[str, Any]:
    """The named mistakes whose value on these inputs is not the right answer: the grader cannot tell the others
    apart from a right answer and skips them, so the recording need not hold them."""
    return {description: value for description, value in values.items() if value != right}


# --- 1. load_ranks -----------------------------------------------------------------------------------------------


@reference("ch02.load_ranks")
def parse_reference(text: str) -> Ranks:
    return {base64.b64decode(token): int(rank) for token, rank in (line.split() for line in text.splitlines()
                                                                     if line.strip())}


@reference("ch02.load_ranks/mistakes")
def load_mistakes(text: str) -> dict[str, Any]:
    lines = [line for line in text.splitlines() if line.strip()]
    right = parse_reference(text)
    return differing(right, {
        "took a token's line number as its rank: the rank is the number written on the line":
            {base64.b64decode(line.split()[0]): n for n, line in enumerate(lines)},
        "kept the rank as text: convert it with int()": {k: str(v) for k, v in right.items()},
        "kept the token's base64 text: decode it with base64.b64decode to get the token's bytes":
            {line.split()[0].encode("ascii"): int(line.split()[1]) for line in lines},
        "dropped the last line when the file does not end with a newline": parse_reference(
            "\n".join(text.split("\n")[:-1])),
        "decoded the tokens to text: a token is bytes (not every token is valid UTF-8)":
            {k.decode("utf-8", errors="replace"): v for k, v in right.items()},
    })


# --- 2. train_bpe ------------------------------------------------------------------------------------------------


def _merge(ids: list[int], pair: Pair, idx: int, *, from_right: bool = False) -> list[int]:
    """Every occurrence of ``pair`` replaced by ``idx``, scanning left to right (``aaa`` -> ``[aa, a]``), or, as a
    known mistake, right to left (``aaa`` -> ``[a, aa]``)."""
    if from_right:
        return _merge(ids[::-1], (pair[1], pair[0]), idx)[::-1]
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            out.append(idx)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def train_variant(text: str, vocab_size: int, pattern: str, *, split: bool = True, weighted: bool = True,
                  order: str = "text", tie: str = "first", overlap: bool = True, from_right: bool = False,
                  code_points: bool = False, n_merges: int | None = None, pattern_used: str | None = None,
                  newlines: bool = False) -> list[Pair]:
    """BPE training with a switch for each known mistake; with the defaults, the reference.

    ``order`` is the order of the distinct chunks ("text": first appearance; "frequent": most frequent first, as
    Counter.most_common gives them; "sorted"); ``tie`` picks among pairs of equal count ("first": the first seen
    when counting the chunks in that order, each left to right; "smallest" / "largest": by comparing the pairs);
    ``overlap=False`` counts a pair as often as a left-to-right merge would replace it (``aaa`` holds (a, a) once);
    ``newlines`` turns the text's ``\r\n`` and ``\r`` into ``\n`` first (a learner "cleaning" the text).
    """
    if newlines:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    chunks = regex.findall(pattern_used or pattern, text) if split else ([text] if text else [])
    counts = Counter(chunks)  # distinct chunks in order of first appearance, with their frequencies
    items = list(counts.items())
    if order == "frequent":
        items = counts.most_common()
    elif order == "sorted":
        items = sorted(items)
    words = [[ord(c) for c in chunk] if code_points else list(chunk.encode("utf-8")) for chunk, _ in items]
    freqs = [n if weighted else 1 for _, n in items]
    wanted = vocab_size - 256 if n_merges is None else n_merges
    merges: list[Pair] = []
    while len(merges) < wanted:
        stats: dict[Pair, int] = {}
        for word, freq in zip(words, freqs, strict=True):
            if overlap:
                for pair in zip(word, word[1:], strict=False):
                    stats[pair] = stats.get(pair, 0) + freq
            else:
                i = 0
                while i + 1 < len(word):
                    pair = (word[i], word[i + 1])
                    stats[pair] = stats.get(pair, 0) + freq
                    i += 2 if i + 2 < len(word) and word[i + 2] == word[i + 1] == word[i] else 1
        if not stats:
            break
        if tie == "smallest":
            best = max(stats, key=lambda p: (stats[p], -p[0], -p[1]))
        elif tie == "largest":
            best = max(stats, key=lambda p: (stats[p], p))
        else:  # the first maximum in insertion order: the first occurrence in the text as tokenized now
            best = max(stats, key=stats.__getitem__)
        idx = 256 + len(merges)
        words = [_merge(word, best, idx, from_right=from_right) for word in words]
        merges.append(best)
    return merges


@reference("ch02.train_bpe")
def train_reference(text: str, vocab_size: int, pattern: str) -> list[Pair]:
    return train_variant(text, vocab_size, pattern)


def train_mistakes_all(text: str, vocab_size: int, pattern: str) -> dict[str, Any]:
    def run(**switches: Any) -> list[Pair]:
        return train_variant(text, vocab_size, pattern, **switches)

    return {
        "counted pairs across chunk boundaries (or did not split the text): pairs are counted inside each chunk "
        "of regex.findall(pattern, text) only": run(split=False),
        "counted each distinct chunk once: a chunk's pairs count as often as the chunk occurs in the text":
            run(weighted=False),
        "broke ties by taking the smallest pair; among pairs of equal count, take the one that occurs first in "
        "the text as tokenized so far": run(tie="smallest"),
        "broke ties by taking the largest pair (comparing (count, pair) tuples); among pairs of equal count, take "
        "the one that occurs first in the text as tokenized so far": run(tie="largest"),
        "went through the distinct chunks most frequent first, which changes which of equally frequent pairs is "
        "seen first: keep the chunks in the order they first appear in the text": run(order="frequent"),
        "went through the distinct chunks in sorted order, which changes which of equally frequent pairs is seen "
        "first: keep the chunks in the order they first appear in the text": run(order="sorted"),
        "counted a pair only where a merge could replace it (so a run like `aaa` holds (a, a) once); count every "
        "adjacent position: `aaa` holds (a, a) twice": run(overlap=False),
        "merged from the right (`aaa` became [a, aa]); replace occurrences scanning left to right": run(
            from_right=True),
        "started from code points (ord of each character); byte-level BPE starts from each chunk's UTF-8 bytes":
            run(code_points=True),
        "split with GPT-2's pattern: cut the text with the `pattern` you are given": run(
            pattern_used=GPT2_SPLIT_PATTERN),
        "made `vocab_size` merges; the vocabulary's first 256 ids are the bytes, so make vocab_size - 256":
            run(n_merges=vocab_size),
        "made one merge too many: stop when the vocabulary has `vocab_size` ids (256 bytes and vocab_size - 256 "
        "merges)": run(n_merges=vocab_size - 255),
        "changed the text's line endings (\\r\\n or \\r became \\n): train on the text exactly as it is given, "
        "every byte of it": run(newlines=True),
    }


@reference("ch02.train_bpe/mistakes")
def train_mistakes(text: str, vocab_size: int, pattern: str) -> dict[str, Any]:
    return differing(train_reference(text, vocab_size, pattern), train_mistakes_all(text, vocab_size, pattern))


@reference("ch02.train_bpe/separates")
def train_separates(text: str, vocab_size: int, pattern: str, keys: tuple[str, ...]) -> bool:
    """Whether every mistake whose text starts with one of ``keys`` gives other merges than the reference."""
    right, wrong = train_reference(text, vocab_size, pattern), train_mistakes_all(text, vocab_size, pattern)
    return all(v != right for k, v in wrong.items() if k.startswith(keys))


# --- 3. recover_merges -------------------------------------------------------------------------------------------


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


@reference("ch02.recover_merges")
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


def _splits(token: bytes, ranks: Ranks, rank: int) -> list[tuple[bytes, bytes]]:
    """Every cut of ``token`` into two tokens ranked below it, left part shortest first."""
    return [(token[:i], token[i:]) for i in range(1, len(token))
            if ranks.get(token[:i], rank) < rank and ranks.get(token[i:], rank) < rank]


def recover_mistakes_all(ranks: Ranks) -> dict[str, Any]:
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
        "cut each token at the first place where both sides are earlier tokens; a token can often be cut in "
        "more than one such place, and only one of them is the merge that made it":
            table(lambda tok, r: (_splits(tok, ranks, r) or [None])[0]),
        "cut each token at the longest earlier token it starts with; a token can often be cut in more than one "
        "place into earlier tokens, and only one of them is the merge that made it":
            table(lambda tok, r: (_splits(tok, ranks, r) or [None])[-1]),
        "numbered the merged tokens 256, 257, ... yourself: each merge makes the token of that rank":
            {pair: 256 + n for n, pair in enumerate(right)},
        "wrote each pair as (right, left); the left part's rank comes first": {(b, a): r for (a, b), r in
                                                                                right.items()},
        "gave each pair as its two tokens' bytes; the pair is their ranks":
            {(bpe_reference(tok, ranks, r)[0], bpe_reference(tok, ranks, r)[1]): r for tok, r in long},
    }


@reference("ch02.recover_merges/mistakes")
def recover_mistakes(ranks: Ranks) -> dict[str, Any]:
    return differing(recover_reference(ranks), recover_mistakes_all(ranks))


@reference("ch02.recover_merges/separates")
def recover_separates(ranks: Ranks) -> bool:
    """Whether both mistaken rules for cutting a token in two give other merges than BPE on this table."""
    right, wrong = recover_reference(ranks), recover_mistakes_all(ranks)
    return all(v != right for k, v in wrong.items() if k.startswith("cut each"))


@reference("ch02.recover_merges/recovers")
def recovers(ranks: Ranks, made: dict[int, Pair]) -> bool:
    """Whether BPE recovers from ``ranks`` exactly the merges that made it (``made``: each merged token's rank to
    the ranks of its two parts), as in a real table: the grader's toy tables are redrawn until it does."""
    return {r: p for p, r in recover_reference(ranks).items()} == made


# --- 4. StreamDecoder --------------------------------------------------------------------------------------------


def _announced(byte: int) -> int:
    """How many bytes the character a lead byte starts has, by its high bits (0: not a lead byte)."""
    if byte >> 5 == 0b110:
        return 2
    if byte >> 4 == 0b1110:
        return 3
    if byte >> 3 == 0b11110:
        return 4
    return 0


def _held_from(buffer: bytes) -> int:
    """Where the unfinished character at the end of ``buffer`` starts (``len(buffer)``: none)."""
    for back in range(1, min(4, len(buffer)) + 1):
        byte = buffer[-back]
        if 0x80 <= byte < 0xC0:  # a continuation byte: look further back for its lead
            continue
        return len(buffer) - back if back < _announced(byte) else len(buffer)
    return len(buffer)


def stream_variant(vocab: dict[int, bytes], events: list[Event], *, hold: str = "unfinished",
                   errors: str = "replace", per_token: bool = False, flush_keeps: bool = False,
                   flush_drops: bool = False, newlines: bool = False) -> list[str]:
    """What a decoder returns for each event; with the defaults, the reference.

    ``hold``: "unfinished" (the rule), "all" (release nothing before a flush), "lead" (hold back only a final lead
    byte: released as soon as a continuation byte follows), "high" (hold back every final byte >= 0x80),
    "complete" (hold back a character until one more byte has arrived: the lead counted twice), "valid" (hold back
    only a final piece that strict decoding calls unfinished, so an invalid lead is released at once), "two"
    (look back only two bytes for a lead byte, so a 4-byte character with three bytes arrived is released);
    ``newlines`` turns ``\r\n`` and ``\r`` into ``\n`` in each returned text.
    """
    if newlines:
        return [text.replace("\r\n", "\n").replace("\r", "\n")
                for text in stream_variant(vocab, events, hold=hold, errors=errors, per_token=per_token,
                                           flush_keeps=flush_keeps, flush_drops=flush_drops)]
    buffer, out = b"", []
    for event in events:
        if event is None:
            out.append("" if flush_drops else buffer.decode("utf-8", errors))
            if not flush_keeps:
                buffer = b""
            continue
        if per_token:
            out.append(vocab[event].decode("utf-8", errors))
            continue
        buffer += vocab[event]
        if hold == "all":
            cut = 0
        elif hold == "lead":
            cut = len(buffer) - 1 if buffer and buffer[-1] >= 0xC0 else len(buffer)
        elif hold == "high":
            cut = len(buffer)
            while cut and buffer[cut - 1] >= 0x80:
                cut -= 1
        elif hold == "valid":  # the shortest final piece that strict decoding calls unfinished, if any
            cut = len(buffer)
            for back in range(1, min(3, len(buffer)) + 1):
                try:
                    buffer[-back:].decode("utf-8")
                except UnicodeDecodeError as err:
                    if err.reason == "unexpected end of data" and err.start == 0:
                        cut = len(buffer) - back
                        break
        elif hold == "complete":
            cut = len(buffer)
            for back in range(1, min(5, len(buffer)) + 1):
                byte = buffer[-back]
                if 0x80 <= byte < 0xC0:
                    continue
                cut = len(buffer) - back if back <= _announced(byte) else len(buffer)
                break
        elif hold == "two":
            cut = _held_from(buffer[-2:]) + max(0, len(buffer) - 2)
        else:
            cut = _held_from(buffer)
        out.append(buffer[:cut].decode("utf-8", errors))
        buffer = buffer[cut:]
    return out


@reference("ch02.StreamDecoder")
def stream_reference(vocab: dict[int, bytes], events: list[Event]) -> list[str]:
    """What a right decoder returns for each event (push or flush) of one stream."""
    return stream_variant(vocab, events)


@reference("ch02.StreamDecoder/mistakes")
def stream_mistakes(vocab: dict[int, bytes], events: list[Event]) -> dict[str, list[str]]:
    def run(**switches: Any) -> list[str]:
        return stream_variant(vocab, events, **switches)

    return differing(stream_variant(vocab, events), {
        "decoded each token on its own: a token can end inside a character, whose bytes then become U+FFFD; hold "
        "back an unfinished character until its last byte arrives": run(per_token=True),
        "released nothing before flush(): push must return every character the bytes so far complete": run(
            hold="all"),
        "released a character as soon as a continuation byte followed its lead byte; the lead byte's high bits say "
        "how many bytes its character has": run(hold="lead"),
        "held back every final byte of 0x80 or more; continuation bytes that finish a character complete it, so "
        "release it": run(hold="high"),
        "held back a finished character until more bytes arrived (the lead byte counted twice?): release a "
        "character as soon as its last byte arrives": run(hold="complete"),
        "held back only what strict decoding calls an unfinished character, so invalid bytes were released early; "
        "judge a byte by its high bits alone, as the task says": run(hold="valid"),
        "decoded with errors='ignore', which drops invalid bytes; decode with errors='replace'": run(errors="ignore"),
        "flush() returned nothing: it must release the held-back bytes, decoded with errors='replace'": run(
            flush_drops=True),
        "flush() did not start afresh: after a flush, the held-back bytes are gone": run(flush_keeps=True),
        "looked back only two bytes for the lead byte, so a 4-byte character whose first three bytes had arrived "
        "was released: its lead byte can be three bytes back (a character can arrive over three or more pushes)":
            run(hold="two"),
        "changed the line endings (\\r\\n or \\r became \\n): return the text exactly as its bytes decode":
            run(newlines=True),
    })

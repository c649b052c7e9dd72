"""Plausible wrong answers to chapter 2's exercises, each with a phrase the grader's message must contain."""

from __future__ import annotations

import base64
from collections import Counter

import regex

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


def load_split_at_newline(text):
    ranks = {}
    for line in text.split("\n"):  # a file written with \r line endings is one long line
        if line.strip():
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


def load_empty_file_crashes(text):
    ranks = {}
    for line in text.strip().split("\n"):  # an empty file gives one empty line, which has no token
        token, rank = line.split()
        ranks[base64.b64decode(token)] = int(rank)
    return ranks


# --- train_bpe ---------------------------------------------------------------------------------------------


def _pairs_counted(words, freqs):
    stats = {}
    for ids, freq in zip(words, freqs, strict=True):
        for pair in zip(ids, ids[1:], strict=False):
            stats[pair] = stats.get(pair, 0) + freq
    return stats


def _merge_left(ids, pair, idx):
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
            out.append(idx)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def _merge_right(ids, pair, idx):
    out, i = [], len(ids) - 1
    while i >= 0:
        if i >= 1 and (ids[i - 1], ids[i]) == pair:  # scanning from the end
            out.append(idx)
            i -= 2
        else:
            out.append(ids[i])
            i -= 1
    return out[::-1]


def _train(text, vocab_size, pattern, *, chunks=None, weighted=True, pick=None, count=_pairs_counted,
           merge=_merge_left, to_ids=lambda chunk: list(chunk.encode("utf-8")), n_merges=None):
    counts = Counter(regex.findall(pattern, text) if chunks is None else chunks(text))
    items = list(counts.items())
    words = [to_ids(chunk) for chunk, _ in items]
    freqs = [n if weighted else 1 for _, n in items]
    merges = []
    wanted = vocab_size - 256 if n_merges is None else n_merges
    while len(merges) < wanted:
        stats = count(words, freqs)
        if not stats:
            break
        pair = pick(stats) if pick else max(stats, key=stats.get)
        words = [merge(ids, pair, 256 + len(merges)) for ids in words]
        merges.append(pair)
    return merges


def train_normalizes_newlines(text, vocab_size, pattern):
    text = text.replace("\r\n", "\n").replace("\r", "\n")  # "cleans" the text first
    return _train(text, vocab_size, pattern)


def train_no_split(text, vocab_size, pattern):
    return _train(text, vocab_size, pattern, chunks=lambda text: [text] if text else [])  # pairs cross chunks


def train_unweighted(text, vocab_size, pattern):
    return _train(text, vocab_size, pattern, weighted=False)  # each distinct chunk counted once


def train_smallest_pair_on_ties(text, vocab_size, pattern):
    return _train(text, vocab_size, pattern, pick=lambda stats: max(stats, key=lambda p: (stats[p], -p[0], -p[1])))


def train_compares_tuples(text, vocab_size, pattern):
    return _train(text, vocab_size, pattern, pick=lambda stats: max((n, p) for p, n in stats.items())[1])


def train_most_common_chunks(text, vocab_size, pattern):
    counts = Counter(regex.findall(pattern, text))
    ordered = counts.most_common()  # most frequent chunk first, not in text order
    return _train(text, vocab_size, pattern, chunks=lambda text: [c for c, n in ordered for _ in range(n)])


def train_counts_like_merge(text, vocab_size, pattern):
    def count(words, freqs):
        stats = {}
        for ids, freq in zip(words, freqs, strict=True):
            i = 0
            while i + 1 < len(ids):
                pair = (ids[i], ids[i + 1])
                stats[pair] = stats.get(pair, 0) + freq
                # skips the overlapping pair of a run, as a merge would: `aaa` holds (a, a) once
                i += 2 if i + 2 < len(ids) and ids[i] == ids[i + 1] == ids[i + 2] else 1
        return stats

    return _train(text, vocab_size, pattern, count=count)


def train_merges_from_the_right(text, vocab_size, pattern):
    return _train(text, vocab_size, pattern, merge=_merge_right)


def train_code_points(text, vocab_size, pattern):
    return _train(text, vocab_size, pattern, to_ids=lambda chunk: [ord(c) for c in chunk])


def train_vocab_size_merges(text, vocab_size, pattern):
    return _train(text, vocab_size, pattern, n_merges=vocab_size)


def train_one_too_many(text, vocab_size, pattern):
    return _train(text, vocab_size, pattern, n_merges=vocab_size - 255)  # <= where < was meant


def train_gpt2_pattern(text, vocab_size, pattern):
    return _train(text, vocab_size, GPT2_SPLIT_PATTERN)  # ignores the pattern it is given


def train_no_early_stop(text, vocab_size, pattern):
    words = [list(c.encode("utf-8")) for c in regex.findall(pattern, text)]
    merges = []
    for n in range(vocab_size - 256):
        stats = _pairs_counted(words, [1] * len(words))
        pair = max(stats, key=stats.get)  # fails once no pair is left
        words = [_merge_left(ids, pair, 256 + n) for ids in words]
        merges.append(pair)
    return merges


def train_with_the_package(text, vocab_size, pattern):
    from llmcourse.tokenizers.bpe import pretokenize, train_merges

    counts = Counter(c.encode("utf-8") for c in pretokenize(text, pattern))
    return train_merges(dict(counts), vocab_size - 256)


def train_with_tiktoken(text, vocab_size, pattern):
    import tiktoken._educational as edu  # tiktoken's teaching trainer

    return edu.bpe_train(text, vocab_size, pattern, visualise=None)


# --- StreamDecoder ------------------------------------------------------------------------------------------


def _needs(byte):
    if byte >> 5 == 0b110:
        return 2
    if byte >> 4 == 0b1110:
        return 3
    if byte >> 3 == 0b11110:
        return 4
    return 1


class _Buffered:
    """A decoder that keeps the bytes and releases what ``cut`` allows; the variants change one thing."""

    errors = "replace"

    def __init__(self, vocab):
        self.vocab = vocab
        self.pending = b""

    def cut(self, data):
        for back in range(1, min(4, len(data)) + 1):
            if data[-back] >> 6 == 0b10:
                continue
            return len(data) - back if back < _needs(data[-back]) else len(data)
        return len(data)

    def push(self, token_id):
        self.pending += self.vocab[token_id]
        at = self.cut(self.pending)
        text, self.pending = self.pending[:at].decode("utf-8", self.errors), self.pending[at:]
        return text

    def flush(self):
        text, self.pending = self.pending.decode("utf-8", self.errors), b""
        return text


class StreamPerToken:
    def __init__(self, vocab):
        self.vocab = vocab

    def push(self, token_id):
        return self.vocab[token_id].decode("utf-8", errors="replace")  # a token can end inside a character

    def flush(self):
        return ""


class StreamWaits(_Buffered):
    def cut(self, data):
        return 0  # everything waits for flush()


class StreamLeadOnly(_Buffered):
    def cut(self, data):
        return len(data) - 1 if data and data[-1] >= 0xC0 else len(data)  # only a lone final lead byte waits


class StreamHoldsHighBytes(_Buffered):
    def cut(self, data):
        at = len(data)
        while at and data[at - 1] >= 0x80:
            at -= 1
        return at


class StreamOffByOne(_Buffered):
    def cut(self, data):
        for back in range(1, min(5, len(data)) + 1):
            if data[-back] >> 6 == 0b10:
                continue
            need = _needs(data[-back])
            return len(data) - back if need > 1 and back <= need else len(data)  # <= where < was meant
        return len(data)


class StreamStrictTail(_Buffered):
    def cut(self, data):
        for back in range(1, min(3, len(data)) + 1):
            try:
                data[-back:].decode("utf-8")
            except UnicodeDecodeError as err:  # Python's validity, not the high bits
                if err.reason == "unexpected end of data" and err.start == 0:
                    return len(data) - back
        return len(data)


class StreamIgnores(_Buffered):
    errors = "ignore"


class StreamFlushDrops(_Buffered):
    def flush(self):
        self.pending = b""
        return ""


class StreamFlushKeeps(_Buffered):
    def flush(self):
        return self.pending.decode("utf-8", "replace")  # the bytes stay for the next stream


class StreamLooksBackTwo(_Buffered):
    def cut(self, data):
        for back in range(1, min(2, len(data)) + 1):  # a 4-byte character's lead can be three bytes back
            if data[-back] >> 6 == 0b10:
                continue
            return len(data) - back if back < _needs(data[-back]) else len(data)
        return len(data)


class StreamTranslatesNewlines(_Buffered):
    def push(self, token_id):
        return super().push(token_id).replace("\r\n", "\n").replace("\r", "\n")  # like a file read in text mode

    def flush(self):
        return super().flush().replace("\r\n", "\n").replace("\r", "\n")


class StreamEmptyToken(_Buffered):
    def push(self, token_id):
        token = self.vocab[token_id]
        if not self.pending and token[-1] < 0x80:  # a shortcut for tokens that end in ASCII; b"" has no last byte
            return token.decode("utf-8", "replace")
        return super().push(token_id)


class StreamStrict(_Buffered):
    errors = "strict"


class StreamReturnsNone(_Buffered):
    def push(self, token_id):
        return super().push(token_id) or None  # None when nothing is ready


class StreamSharedBuffer:
    pending = bytearray()  # one buffer for every decoder

    def __init__(self, vocab):
        self.vocab = vocab

    def push(self, token_id):
        self.pending.extend(self.vocab[token_id])
        at = _Buffered.cut(self, bytes(self.pending))
        text = bytes(self.pending[:at]).decode("utf-8", "replace")
        del self.pending[:at]
        return text

    def flush(self):
        text = bytes(self.pending).decode("utf-8", "replace")
        self.pending.clear()
        return text


class StreamCodecs:
    def __init__(self, vocab):
        import codecs

        self.vocab = vocab
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def push(self, token_id):
        return self.decoder.decode(self.vocab[token_id])

    def flush(self):
        return self.decoder.decode(b"", final=True)


# --- recover_merges ----------------------------------------------------------------------------------------


def _parts(chunk):
    return [bytes([b]) for b in chunk]




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


def recover_by_rank_list(mergeable_ranks):
    tokens = [None] * (max(mergeable_ranks.values()) + 1)  # an empty table has no largest rank
    for token, rank in mergeable_ranks.items():
        tokens[rank] = token
    merges = {}
    for rank, token in enumerate(tokens):
        if token is not None and len(token) >= 2:
            left, right = _bpe_parts(token, mergeable_ranks, below=rank)
            merges[(mergeable_ranks[left], mergeable_ranks[right])] = rank
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


WRONG_ANSWERS = {
    "ch02.load_ranks": [
        WrongAnswer("line number as rank", load_line_numbers, "line number"),
        WrongAnswer("rank kept as text", load_rank_as_text, "int()"),
        WrongAnswer("base64 not decoded", load_base64_text, "base64.b64decode"),
        WrongAnswer("drops the last line", load_drops_last_line, "does not end with a newline"),
        WrongAnswer("tokens decoded to str", load_as_str, "not every token is valid UTF-8"),
        WrongAnswer("crashes on the final empty line", load_every_line, "skip lines that hold nothing"),
        WrongAnswer("lines cut at \\n only", load_split_at_newline, "str.splitlines()"),
        WrongAnswer("crashes on an empty file", load_empty_file_crashes, "skip lines that hold nothing"),
    ],
    "ch02.train_bpe": [
        WrongAnswer("pairs across chunks", train_no_split, "across chunk boundaries"),
        WrongAnswer("chunk frequency ignored", train_unweighted, "counted each distinct chunk once"),
        WrongAnswer("smallest pair on ties", train_smallest_pair_on_ties, "smallest pair"),
        WrongAnswer("(count, pair) tuples compared", train_compares_tuples, "largest pair"),
        WrongAnswer("chunks most common first", train_most_common_chunks, "most frequent first"),
        WrongAnswer("non-overlapping counts", train_counts_like_merge, "holds (a, a) twice"),
        WrongAnswer("merges from the right", train_merges_from_the_right, "merged from the right"),
        WrongAnswer("code points", train_code_points, "UTF-8 bytes"),
        WrongAnswer("vocab_size merges", train_vocab_size_merges, "vocab_size - 256"),
        WrongAnswer("one merge too many", train_one_too_many, "one merge too many"),
        WrongAnswer("GPT-2's pattern always", train_gpt2_pattern, "the `pattern` you are given"),
        WrongAnswer("no early stop", train_no_early_stop, "return the merges made so far"),
        WrongAnswer("the package's trainer", train_with_the_package, "rules out"),
        WrongAnswer("tiktoken's trainer", train_with_tiktoken, "rules out"),
        WrongAnswer("line endings normalized", train_normalizes_newlines, "changed the text's line endings"),
    ],
    "ch02.recover_merges": [
        WrongAnswer("first cut that works", recover_first_cut, "at the first place"),
        WrongAnswer("longest earlier prefix", recover_longest_prefix, "longest earlier token"),
        WrongAnswer("numbered from 256", recover_numbered, "256, 257"),
        WrongAnswer("trusts the table's order", recover_in_given_order, "not in the order they were learned"),
        WrongAnswer("pairs reversed", recover_reversed_pairs, "(right, left)"),
        WrongAnswer("pairs of bytes", recover_bytes_pairs, "two tokens' bytes"),
        WrongAnswer("every token allowed", recover_every_token, "cannot be one of its own parts"),
        WrongAnswer("a list indexed by rank, crashes on an empty table", recover_by_rank_list, "empty dict"),
    ],
    "ch02.StreamDecoder": [
        WrongAnswer("each token decoded alone", StreamPerToken, "decoded each token on its own"),
        WrongAnswer("waits for the whole stream", StreamWaits, "released nothing before flush()"),
        WrongAnswer("only a final lead byte waits", StreamLeadOnly, "high bits say"),
        WrongAnswer("holds every byte >= 0x80", StreamHoldsHighBytes, "held back every final byte"),
        WrongAnswer("off by one in the length", StreamOffByOne, "held back a finished character"),
        WrongAnswer("unfinished judged by strict decoding", StreamStrictTail, "high bits alone"),
        WrongAnswer("errors='ignore'", StreamIgnores, "errors='ignore'"),
        WrongAnswer("flush drops the held bytes", StreamFlushDrops, "flush() returned nothing"),
        WrongAnswer("flush keeps the held bytes", StreamFlushKeeps, "did not start afresh"),
        WrongAnswer("strict decoding", StreamStrict, "errors='replace'"),
        WrongAnswer("None when nothing is ready", StreamReturnsNone, "should be a Python str"),
        WrongAnswer("one buffer for all decoders", StreamSharedBuffer, "decoder 2"),
        WrongAnswer("Python's incremental decoder", StreamCodecs, "rules out"),
        WrongAnswer("looks back two bytes for a lead", StreamLooksBackTwo, "three bytes back"),
        WrongAnswer("line endings translated", StreamTranslatesNewlines, "changed the line endings"),
        WrongAnswer("crashes on an empty token", StreamEmptyToken, "can be empty"),
    ],
}

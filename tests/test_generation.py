"""Chapter 8's decoding: the KV cache gives the same tokens as recomputation, each sampler its hand computation."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from llmcourse.gpt import GPT, GPTConfig, KVCache, beam_search, generate, generate_text, perplexity
from llmcourse.gpt.sampling import (
    block_repeated_ngrams,
    distinct_n,
    gnmt_length_penalty,
    greedy,
    min_p_filter,
    next_token_logits,
    penalize_repetition,
    process_logits,
    stop_index,
    time_decoding,
    token_nats,
    top_k_filter,
    top_p_filter,
)

VOCAB, BLOCK = 23, 12


def tiny(seed: int = 0, **changes) -> GPT:
    torch.manual_seed(seed)
    config = GPTConfig(**{**dict(vocab_size=VOCAB, block_size=BLOCK, n_layer=2, n_head=2, n_embd=16), **changes})
    model = GPT(config)
    with torch.no_grad():  # larger weights than the init's, so the logits are far from uniform
        for p in model.parameters():
            p.mul_(4.0) if p.dim() > 1 else None
    return model.eval()


def prompts(batch: int, length: int, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, VOCAB, (batch, length), generator=torch.Generator().manual_seed(seed))


# --- the KV cache ------------------------------------------------------------------------------------------------


def test_cached_logits_equal_a_full_pass_position_by_position():
    model, ids = tiny(), prompts(3, BLOCK)
    full = model(ids)  # (B, T, V)
    cache = model.new_cache(3)
    pieces = [model(ids[:, :5], cache=cache)] + [model(ids[:, t:t + 1], cache=cache) for t in range(5, BLOCK)]
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, atol=1e-5, rtol=1e-5)
    assert len(cache) == BLOCK


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("length", [1, BLOCK - 1])
def test_cached_decoding_gives_the_same_tokens_greedy_and_seeded(batch, length):
    model, ids = tiny(), prompts(batch, length)
    n = 2 * BLOCK  # runs past block_size, where both crop to the last block_size tokens
    for settings in ({"temperature": 0.0}, {"temperature": 1.3}, {"temperature": 0.9, "top_k": 5, "top_p": 0.9}):
        runs = [generate(model, ids, n, generator=torch.Generator().manual_seed(4), use_cache=c, **settings)
                for c in (True, False)]
        assert runs[0].shape == (batch, length + n)
        assert torch.equal(runs[0], runs[1]), settings


def test_the_cache_memory_is_two_times_layers_times_width_times_bytes():
    model = tiny(n_layer=3, n_embd=24, n_head=4)
    cache = model.new_cache(2)
    assert cache.nbytes() == 0
    model(prompts(2, 4), cache=cache)
    per_token = KVCache.bytes_per_token(model.config)
    assert per_token == 2 * 3 * 24 * 4
    assert cache.nbytes() == per_token * 2 * BLOCK == (cache.k.nbytes + cache.v.nbytes)  # 2 sequences, BLOCK slots
    assert KVCache.bytes_per_token(model.config, torch.bfloat16) == per_token // 2


def test_the_cache_refuses_what_does_not_fit():
    model = tiny()
    cache = model.new_cache(2, max_len=5)
    model(prompts(2, 4), cache=cache)
    with pytest.raises(ValueError, match="exceed"):
        model(prompts(2, 2), cache=cache)
    with pytest.raises(ValueError, match="sequences"):
        model(prompts(3, 1), cache=cache)
    with pytest.raises(ValueError, match="max_len"):
        model.new_cache(1, max_len=BLOCK + 1)


# --- samplers against hand computations ----------------------------------------------------------------------------


def test_greedy_and_top_k():
    logits = torch.tensor([[1.0, 3.0, 2.0, -1.0], [0.0, 0.0, 5.0, 4.0]])
    assert greedy(logits).tolist() == [1, 2]
    kept = top_k_filter(logits, 2)
    assert torch.isinf(kept).tolist() == [[True, False, False, True], [True, True, False, False]]
    assert torch.equal(top_k_filter(logits, 4), logits)


def test_top_p_keeps_the_id_that_crosses_the_threshold():
    probs = torch.tensor([[1 / 8, 1 / 2, 1 / 8, 1 / 4]])
    kept = F.softmax(top_p_filter(probs.log(), 0.6), dim=-1)
    torch.testing.assert_close(kept, torch.tensor([[0.0, 2 / 3, 0.0, 1 / 3]]))
    kept = F.softmax(top_p_filter(probs.log(), 0.5), dim=-1)  # the top id alone reaches 0.5
    torch.testing.assert_close(kept, torch.tensor([[0.0, 1.0, 0.0, 0.0]]))


def test_min_p_scales_with_the_top_probability():
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    kept = F.softmax(min_p_filter(probs.log(), 0.25), dim=-1)  # threshold 0.125: 0.05 goes
    torch.testing.assert_close(kept, torch.tensor([[0.5, 0.3, 0.15, 0.0]]) / 0.95)


def test_repetition_penalty_divides_positive_and_multiplies_negative_scores():
    logits = torch.tensor([[2.0, -1.0, 0.5, 3.0]])
    ids = torch.tensor([[0, 1, 0]])  # id 0 twice: penalised once
    out = penalize_repetition(logits, ids, 2.0)
    torch.testing.assert_close(out, torch.tensor([[1.0, -2.0, 0.5, 3.0]]))
    assert torch.equal(penalize_repetition(logits, ids, 1.0), logits)


def test_process_logits_applies_temperature_before_the_filters():
    logits = torch.tensor([[2.0, 1.0, 0.0]])
    out = process_logits(logits, temperature=0.5, top_p=0.9)
    probs = F.softmax(logits / 0.5, dim=-1)  # (0.867, 0.117, 0.016): the first two reach 0.9
    torch.testing.assert_close(F.softmax(out, -1)[0, :2], probs[0, :2] / probs[0, :2].sum())
    assert torch.isinf(out[0, 2])


def test_sampling_frequencies_follow_the_filtered_distribution():
    logits = torch.tensor([[1.0, 2.0, 0.5, -1.0, 1.5]]).repeat(20000, 1)
    filtered = process_logits(logits, temperature=0.7, top_k=3)
    ids = torch.multinomial(F.softmax(filtered, -1), 1, generator=torch.Generator().manual_seed(0))[:, 0]
    freq = torch.bincount(ids, minlength=5).double() / len(ids)
    expected = F.softmax(filtered[0].double(), -1)
    assert (freq - expected).abs().max() < 0.02


# --- stop conditions, beam search, perplexity ------------------------------------------------------------------------


def test_eos_stops_each_row_and_the_loop():
    model, ids = tiny(), prompts(2, 3)
    free = generate(model, ids, 8, temperature=0.0)
    eos = int(free[0, 5])  # the token row 0 produces third
    out = generate(model, ids, 8, temperature=0.0, eos_id=eos)
    first = (out[0, 3:] == eos).nonzero()[0].item()
    assert torch.equal(out[0, 3:3 + first + 1], free[0, 3:3 + first + 1])
    assert (out[0, 3 + first:] == eos).all()  # padded with the end token after it
    assert out.size(1) <= free.size(1)


class Letters:
    """A tokenizer of the letters a..w, one id each."""

    def encode(self, text: str) -> list[int]:
        return [ord(c) - ord("a") for c in text]

    def decode(self, ids: list[int]) -> str:
        return "".join(chr(ord("a") + i) for i in ids)


def test_a_stop_string_across_tokens_cuts_the_text_before_it():
    model, tok = tiny(), Letters()
    full = tok.decode(generate(model, torch.tensor([tok.encode("abc")]), 20, temperature=0.0)[0, 3:].tolist())
    stop = full[6:8]  # two tokens: it is found only in the decoded text, never in one token
    out = generate_text(model, tok, "abc", 20, stop=stop, temperature=0.0)
    assert out == full[:full.find(stop)]
    assert generate_text(model, tok, "abc", 20, temperature=0.0) == full
    assert stop_index("hello world", ["o w", "ll"]) == 2 and stop_index("abc", ["x"]) is None
    with pytest.raises(ValueError, match="empty"):
        generate_text(model, tok, "abc", 3, stop="")


def test_beam_search_with_one_beam_is_greedy_and_ends_after_the_end_token():
    model, ids = tiny(), prompts(1, 4)
    greedy_ids = generate(model, ids, 6, temperature=0.0)
    one, score_one = beam_search(model, ids, 6, beam_width=1)
    assert torch.equal(one, greedy_ids)
    assert math.isclose(score_one, total_logprob(model, one, 4), abs_tol=1e-4)
    wide, score_wide = beam_search(model, ids, 6, beam_width=4)
    assert math.isclose(score_wide, total_logprob(model, wide, 4), abs_tol=1e-4)  # no promise it beats width 1
    with pytest.raises(ValueError, match=r"\(1, T\)"):
        beam_search(model, prompts(2, 4), 3, beam_width=2)
    eos = int(greedy_ids[0, 5])  # greedy's second new token
    first = int((greedy_ids[0, 4:] == eos).nonzero()[0])  # where it first appears among the new tokens
    ended, _ = beam_search(model, ids, 6, beam_width=1, eos_id=eos)
    assert torch.equal(ended, greedy_ids[:, :4 + first + 1])  # cut right after the first end token


def total_logprob(model, seq: torch.Tensor, start: int) -> float:
    """log p of seq[0, start:] given what precedes it, in float64 (seq shorter than block_size + 1)."""
    logp = F.log_softmax(model(seq[:, :-1]).detach().double(), -1)[0, start - 1:]
    return float(logp.gather(-1, seq[0, start:, None]).sum())


SMALL_VOCAB = 5


def repeats_an_ngram(seq: list[int], start: int, n: int) -> bool:
    """Whether an n-gram ending at a position >= start already occurred earlier in seq."""
    for j in range(max(start, n - 1), len(seq)):
        earlier = {tuple(seq[i:i + n]) for i in range(j - n + 1)}
        if tuple(seq[j - n + 1:j + 1]) in earlier:
            return True
    return False


@torch.no_grad()
def brute_force_best(model, ids, n_new, eos, alpha, ngram):
    """Score every continuation of up to n_new tokens (cut after the first end token) and return the best."""
    t = ids.size(1)
    full = torch.tensor(list(itertools.product(range(SMALL_VOCAB), repeat=n_new)))  # (V^n, n): every continuation
    seqs = torch.cat((ids.expand(len(full), -1), full), dim=1)  # (V^n, t + n)
    logp = F.log_softmax(model(seqs[:, :-1]).double(), -1)[:, t - 1:]  # (V^n, n, V): causal, so a prefix's too
    running = logp.gather(-1, full[..., None])[..., 0].cumsum(-1)  # (V^n, n): log p of each prefix
    best = None
    for row, ys in enumerate(full.tolist()):
        m = ys.index(eos) + 1 if eos is not None and eos in ys else n_new  # cut after the first end token
        seq = ids[0].tolist() + ys[:m]
        if ngram and repeats_an_ngram(seq, t, ngram):
            continue
        score = float(running[row, m - 1]) / ((5 + m) / 6) ** alpha
        if best is None or score > best[0]:
            best = (score, seq)
    return best


@pytest.mark.parametrize("seed, eos", [(0, None), (1, None), (1, 4), (3, 1), (4, 3), (0, 0)])  # ends that vary
@pytest.mark.parametrize("alpha", [0.0, 1.0, 3.0, -0.5])
@pytest.mark.parametrize("ngram", [0, 2])
def test_a_beam_wide_enough_to_keep_everything_finds_the_brute_force_best(seed, eos, alpha, ngram):
    model = tiny(seed, vocab_size=SMALL_VOCAB, n_layer=1, block_size=8)
    ids = torch.randint(0, SMALL_VOCAB, (1, 3), generator=torch.Generator().manual_seed(seed))
    score, seq = brute_force_best(model, ids, 4, eos, alpha, ngram)
    out, beam_score = beam_search(model, ids, 4, SMALL_VOCAB ** 4, eos, length_penalty=alpha,
                                  no_repeat_ngram_size=ngram)
    assert out[0].tolist() == seq
    assert math.isclose(beam_score, score, abs_tol=1e-4)


def test_the_brute_force_cases_are_not_all_alike():
    # the settings above change the best continuation: its length with alpha, its tokens with blocking
    model = tiny(3, vocab_size=SMALL_VOCAB, n_layer=1, block_size=8)
    ids = torch.randint(0, SMALL_VOCAB, (1, 3), generator=torch.Generator().manual_seed(3))
    assert len({len(brute_force_best(model, ids, 4, 1, alpha, 0)[1]) for alpha in (0.0, 1.0, 3.0)}) > 1
    model = tiny(0, vocab_size=SMALL_VOCAB, n_layer=1, block_size=8)
    ids = torch.randint(0, SMALL_VOCAB, (1, 3), generator=torch.Generator().manual_seed(0))
    assert brute_force_best(model, ids, 4, None, 0.0, 0)[1] != brute_force_best(model, ids, 4, None, 0.0, 2)[1]


def test_a_larger_length_penalty_never_shortens_the_exact_best_ending():
    # maximising log p / ((5 + n) / 6)^alpha: the best length can only grow with alpha (exact search, ties aside)
    for seed in range(4):
        model = tiny(seed, vocab_size=SMALL_VOCAB, n_layer=1, block_size=8)
        ids = torch.randint(0, SMALL_VOCAB, (1, 2), generator=torch.Generator().manual_seed(seed))
        lengths = [beam_search(model, ids, 5, SMALL_VOCAB ** 5, eos_id=0, length_penalty=a)[0].size(1)
                   for a in (0.0, 0.5, 1.0, 2.0, 4.0)]
        assert lengths == sorted(lengths), lengths
        assert lengths[0] < lengths[-1]  # and the penalty does change it here


def test_the_gnmt_length_penalty():
    assert gnmt_length_penalty(1, 0.0) == 1.0 and gnmt_length_penalty(1, 0.7) == 1.0
    assert math.isclose(gnmt_length_penalty(7, 1.0), 2.0) and math.isclose(gnmt_length_penalty(19, 0.5), 2.0)


def test_ngram_blocking_against_a_loop():
    g = torch.Generator().manual_seed(3)
    ids = torch.randint(0, 4, (6, 15), generator=g)  # few ids: many repeated n-grams
    logits = torch.randn(6, 4, generator=g)
    for n in (1, 2, 3, 16):
        out = block_repeated_ngrams(logits, ids, n)
        for b in range(6):
            row = ids[b].tolist()
            for j in range(4):
                banned = len(row) >= n and repeats_an_ngram(row + [j], len(row), n)
                assert bool(torch.isinf(out[b, j])) == banned, (n, b, j)
                assert banned or out[b, j] == logits[b, j]
    assert torch.isinf(block_repeated_ngrams(logits[:1], torch.tensor([[1, 2, 1]]), 2)[0, 2])  # "1 2" is there


def test_beam_search_with_ngram_blocking_repeats_no_ngram():
    model, ids = tiny(), prompts(1, 3)
    for n in (2, 3):
        out, _ = beam_search(model, ids, 10, beam_width=3, no_repeat_ngram_size=n)
        assert not repeats_an_ngram(out[0].tolist(), 3, n)
    stuck, _ = beam_search(model, ids, 2 * VOCAB, beam_width=2, no_repeat_ngram_size=1)  # each id once at most
    new, used = stuck[0, 3:].tolist(), set(ids[0].tolist())
    assert len(set(new)) == len(new) and not used & set(new)
    assert len(new) == VOCAB - len(used)  # the beams end when every id has been used


def test_perplexity_is_exp_of_the_mean_loss_over_every_predicted_token():
    model = tiny()
    stream = prompts(1, 3 * BLOCK + 5)[0]  # three full windows and a tail
    loss, ppl = perplexity(model, stream, batch_size=2)
    nats = []
    for s in range(0, len(stream) - 1, BLOCK):
        window = stream[s:s + BLOCK + 1]
        nats.append(F.cross_entropy(model(window[None, :-1])[0].detach().double(), window[1:], reduction="none"))
    expected = torch.cat(nats)
    assert len(expected) == len(stream) - 1
    assert math.isclose(loss, float(expected.mean()), rel_tol=1e-5) and math.isclose(ppl, math.exp(loss))
    with pytest.raises(ValueError, match="1-D"):
        perplexity(model, stream[None])


def test_perplexity_with_a_stride_predicts_each_token_from_its_window():
    model, stride = tiny(), 5
    stream = prompts(1, 3 * BLOCK + 4)[0]
    nats = token_nats(model, stream, stride=stride, batch_size=3)
    expected = []
    for j in range(1, len(stream)):  # token j's window: the first one, stepping by stride, that reaches it
        start = next(s for s in range(0, j, stride) if s + BLOCK >= j)
        logits = model(stream[None, start:j]).detach().double()[0, -1]
        expected.append(float(-F.log_softmax(logits, -1)[stream[j]]))
    torch.testing.assert_close(nats, torch.tensor(expected, dtype=torch.float64), atol=1e-5, rtol=1e-5)
    loss, ppl = perplexity(model, stream, stride=stride)
    assert math.isclose(loss, float(nats.mean())) and math.isclose(ppl, math.exp(loss))
    one = token_nats(model, stream, stride=1)  # every token after the first window from exactly BLOCK tokens
    logits = model(stream[None, 2 * BLOCK - BLOCK:2 * BLOCK]).detach().double()[0, -1]
    assert math.isclose(float(one[2 * BLOCK - 1]), float(-F.log_softmax(logits, -1)[stream[2 * BLOCK]]), rel_tol=1e-5)
    assert torch.equal(token_nats(model, stream, stride=BLOCK), token_nats(model, stream))


def test_distinct_n():
    assert distinct_n("a b a b", 2) == 2 / 3 and distinct_n("a b c", 1) == 1.0
    assert distinct_n(["a b", "a b"], 2) == 0.5  # pooled: the second text repeats the first
    assert distinct_n("the  cat\nthe cat", 1) == 0.5  # words split at any whitespace
    assert distinct_n(["a", " "], 2) == 0.0  # no 2-gram at all: nothing varied
    for bad, words in ((("a b", 0), "n must be"), (([], 1), "texts"),
                       (([1, 2], 1), "texts")):
        with pytest.raises(ValueError, match=words):
            distinct_n(*bad)


# --- bad input: a clear error naming the argument, on every path ------------------------------------------------


def nan_model() -> GPT:
    model = tiny()
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(float("nan"))
    return model


GENERATION_PATHS = {  # each path of generation, called with one setting changed
    "generate": lambda model, ids, n=4, **kw: generate(model, ids, n, **kw),
    "generate, no cache": lambda model, ids, n=4, **kw: generate(model, ids, n, use_cache=False, **kw),
    "generate_text": lambda model, ids, n=4, **kw: generate_text(model, Letters(), Letters().decode(ids[0].tolist()),
                                                                 n, **kw),
}


@pytest.mark.parametrize("path", GENERATION_PATHS)
@pytest.mark.parametrize("bad, words", [
    ({"n": -1}, "max_new_tokens"), ({"n": 2.0}, "max_new_tokens"),
    ({"top_p": 0.0}, "top_p"), ({"top_p": 1.5}, "top_p"), ({"top_p": float("nan")}, "top_p"),
    ({"min_p": -0.1}, "min_p"), ({"min_p": 2.0}, "min_p"), ({"top_k": 0}, "top_k"), ({"top_k": 2.5}, "top_k"),
    ({"temperature": -1.0}, "temperature"), ({"temperature": float("inf")}, "temperature"),
    ({"repetition_penalty": 0.0}, "repetition_penalty"), ({"repetition_penalty": float("nan")}, "repetition_penalty"),
    ({"eos_id": VOCAB}, "eos_id"), ({"eos_id": -1}, "eos_id"),
])
@pytest.mark.parametrize("greedy_or_none", [{}, {"temperature": 0.0}, {"n": 0}, {"temperature": 0.0, "n": 0}])
def test_every_generation_path_refuses_a_bad_setting_even_where_it_would_not_be_used(path, bad, words,
                                                                                      greedy_or_none):
    model, ids = tiny(), prompts(1, 3)
    settings = {**greedy_or_none, **bad}  # the bad setting wins where both name it
    with pytest.raises(ValueError, match=words):
        GENERATION_PATHS[path](model, ids, **settings)


@pytest.mark.parametrize("path", GENERATION_PATHS)
@pytest.mark.parametrize("settings", [{"temperature": 0.0}, {"temperature": 1.0}, {"temperature": 0.8, "top_p": 0.9},
                                      {"temperature": 0.0, "repetition_penalty": 1.3}])
def test_nan_logits_are_refused_not_decoded(path, settings):
    with pytest.raises(ValueError, match="NaN"):
        GENERATION_PATHS[path](nan_model(), prompts(1, 3), **settings)


def test_beam_search_refuses_bad_input():
    model, ids = tiny(), prompts(1, 3)
    for kwargs, words in (({"max_new_tokens": -1}, "max_new_tokens"), ({"beam_width": 0}, "beam_width"),
                          ({"beam_width": 1.5}, "beam_width"), ({"eos_id": VOCAB}, "eos_id"),
                          ({"eos_id": VOCAB, "max_new_tokens": 0}, "eos_id"),
                          ({"length_penalty": float("nan")}, "length_penalty"),
                          ({"no_repeat_ngram_size": -1}, "no_repeat_ngram_size"),
                          ({"ids": ids[:0]}, r"\(1, T\)"), ({"ids": ids[:, :0]}, r"\(1, T\)"),
                          ({"ids": ids + VOCAB}, r"\[0, 23\)"), ({"ids": ids.float()}, "integer")):
        call = {"ids": ids, "max_new_tokens": 3, "beam_width": 2, **kwargs}
        with pytest.raises(ValueError, match=words):
            beam_search(model, call.pop("ids"), **call)
    for eos in (None, 1):
        with pytest.raises(ValueError, match="NaN"):
            beam_search(nan_model(), ids, 3, beam_width=2, eos_id=eos)


def test_a_batch_of_no_rows_or_no_positions_is_refused_on_every_path():
    model, ids = tiny(), prompts(2, 3)
    for call in (lambda i: generate(model, i, 3), lambda i: generate(model, i, 0),
                 lambda i: generate(model, i, 3, temperature=0.0), lambda i: next(next_token_logits(model, i))):
        for bad, words in ((ids[:0], "no rows"), (ids[:, :0], "T >= 1"), (ids[0], r"\(B, T\)"),
                           (ids.float(), "integer"), (ids + VOCAB, r"\[0, 23\)")):
            with pytest.raises(ValueError, match=words):
                call(bad)
    with pytest.raises(ValueError, match="batch_size"):
        time_decoding(model, 4, batch_size=0)
    with pytest.raises(ValueError, match="prompt"):
        generate_text(model, Letters(), "", 3)


def test_perplexity_refuses_bad_input():
    model, stream = tiny(), prompts(1, 40)[0]
    for kwargs, words in (({"ids": stream[:1]}, "at least 2"), ({"ids": stream[:0]}, "at least 2"),
                          ({"ids": stream[None]}, "1-D"), ({"ids": stream.float()}, "integer"),
                          ({"ids": stream + VOCAB}, r"\[0, 23\)"), ({"stride": 0}, "stride"),
                          ({"stride": BLOCK + 1}, "stride"), ({"batch_size": 0}, "batch_size")):
        call = {"ids": stream, **kwargs}
        with pytest.raises(ValueError, match=words):
            perplexity(model, call.pop("ids"), **call)
    with pytest.raises(ValueError, match="NaN"):
        perplexity(nan_model(), stream)


def test_clear_errors():
    model, ids = tiny(), prompts(2, 3)
    logits = torch.zeros(2, 5)
    for call, words in ((lambda: top_p_filter(logits, 0.0), "top_p"), (lambda: top_k_filter(logits, 0), "top_k"),
                        (lambda: min_p_filter(logits, 1.5), "min_p"),
                        (lambda: penalize_repetition(logits, ids[:1], 1.2), "ids must have shape"),
                        (lambda: penalize_repetition(logits, ids, 0.0), "penalty"),
                        (lambda: top_k_filter(logits[0], 2), r"\(B, V\)"),
                        (lambda: greedy(torch.full((2, 5), float("nan"))), "NaN"),
                        (lambda: process_logits(logits, temperature=0.0), "temperature"),
                        (lambda: block_repeated_ngrams(logits, ids, 0), "no_repeat_ngram_size"),
                        (lambda: generate_text(model, Letters(), "abc", 3, stop=""), "stop"),
                        (lambda: generate_text(model, Letters(), "abc", 3, stop=5), "stop"),
                        (lambda: generate(model, ids, -1), "max_new_tokens")):
        with pytest.raises(ValueError, match=words):
            call()
    with pytest.raises(TypeError, match="top_q"):
        generate_text(model, Letters(), "abc", 3, top_q=0.9)

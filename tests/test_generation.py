"""Chapter 8's decoding: the KV cache gives the same tokens as recomputation, each sampler its hand computation."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from llmcourse.gpt import GPT, GPTConfig, KVCache, beam_search, generate, generate_text, perplexity
from llmcourse.gpt.sampling import (
    greedy,
    min_p_filter,
    penalize_repetition,
    process_logits,
    stop_index,
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
    probs = torch.tensor([[1 / 8, 1 / 2, 1 / 8, 1 / 4]])  # chapter 4's worked example
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


def test_beam_search_with_one_beam_is_greedy_and_wider_beams_score_at_least_as_well():
    model, ids = tiny(), prompts(1, 4)
    greedy_ids = generate(model, ids, 6, temperature=0.0)
    one, score_one = beam_search(model, ids, 6, beam_width=1)
    assert torch.equal(one, greedy_ids)

    def score(seq: torch.Tensor) -> float:
        logp = F.log_softmax(model(seq[:, :-1]).detach().double(), -1)[0, 3:]  # the predictions of the 6 new tokens
        return float(logp.gather(-1, seq[0, 4:, None]).sum())

    assert math.isclose(score_one, score(one), abs_tol=1e-4)
    wide, score_wide = beam_search(model, ids, 6, beam_width=4)
    assert math.isclose(score_wide, score(wide), abs_tol=1e-4) and score_wide >= score_one - 1e-6
    with pytest.raises(ValueError, match=r"\(1, T\)"):
        beam_search(model, prompts(2, 4), 3, beam_width=2)
    eos = int(greedy_ids[0, 5])  # greedy's second new token
    first = int((greedy_ids[0, 4:] == eos).nonzero()[0])  # where it first appears among the new tokens
    ended, _ = beam_search(model, ids, 6, beam_width=1, eos_id=eos)
    assert torch.equal(ended, greedy_ids[:, :4 + first + 1])  # cut right after the first end token


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


def test_clear_errors():
    model, ids = tiny(), prompts(2, 3)
    logits = torch.zeros(2, 5)
    for call, words in ((lambda: top_p_filter(logits, 0.0), "top_p"), (lambda: top_k_filter(logits, 0), "top_k"),
                        (lambda: min_p_filter(logits, 1.5), "min_p"),
                        (lambda: penalize_repetition(logits, ids[:1], 1.2), "ids must have shape"),
                        (lambda: penalize_repetition(logits, ids, 0.0), "penalty"),
                        (lambda: top_k_filter(logits[0], 2), r"\(B, V\)"),
                        (lambda: generate(model, ids, -1), "max_new_tokens")):
        with pytest.raises(ValueError, match=words):
            call()

"""Chapter 9's encoder: tokenizer specials, BERT masking statistics, the model against Hugging Face's BERT,
pretraining that learns, and the verified cache."""

from __future__ import annotations

import math
import warnings

import pytest
import torch

from llmcourse.encoders import (
    IGNORE_INDEX,
    SPECIAL_TOKENS,
    EncoderConfig,
    MaskedLM,
    MLMSettings,
    corpus_ids,
    encode_batch,
    fill_mask,
    load_hf_bert,
    mask_tokens,
    normalize,
    pretrain_mlm,
    pretrain_mlm_cached,
    run_key,
    to_hf_bert,
    train_encoder_tokenizer,
)
from llmcourse.encoders.pretrain import cache_file

# A tiny corpus with structure to learn: fixed phrases in random order, so a masked word is predictable.
PHRASES = ["the cat sat on the mat", "a dog ran in the park", "birds fly over the sea", "she reads a good book",
           "we eat bread and cheese", "the sun rises in the east"]


def _corpus(n: int = 600, seed: int = 0) -> str:
    g = torch.Generator().manual_seed(seed)
    return " ".join(PHRASES[int(i)] for i in torch.randint(len(PHRASES), (n,), generator=g))


@pytest.fixture(scope="module")
def tok():
    return train_encoder_tokenizer(_corpus(), vocab_size=300)


def _model(tok, **sizes) -> MaskedLM:
    torch.manual_seed(0)
    config = dict(vocab_size=tok.vocab_size, block_size=32, n_layer=2, n_head=2, n_embd=32, dropout=0.0,
                  pad_id=tok.special_tokens["[PAD]"])
    return MaskedLM(EncoderConfig(**{**config, **sizes}))


# --- tokenizer ------------------------------------------------------------------------------------------


def test_special_tokens_are_the_last_ids_and_encode_batch_frames_and_pads(tok):
    assert list(tok.special_tokens) == list(SPECIAL_TOKENS)
    assert sorted(tok.special_tokens.values()) == list(range(tok.vocab_size - 4, tok.vocab_size))
    pad, cls, sep = (tok.special_tokens[s] for s in ("[PAD]", "[CLS]", "[SEP]"))
    ids, padding_mask = encode_batch(tok, ["the cat sat on the mat", "a dog"], max_len=64)
    lengths = [len(tok.encode_ordinary(t)) + 2 for t in ("the cat sat on the mat", "a dog")]
    assert ids.shape == (2, max(lengths)) and ids.dtype == torch.long and padding_mask.dtype == torch.bool
    for row, mask, n in zip(ids, padding_mask, lengths, strict=True):
        assert row[0] == cls and row[n - 1] == sep
        assert mask.tolist() == [False] * n + [True] * (len(row) - n)
        assert (row[mask] == pad).all() and not (row[~mask] == pad).any()
    truncated, _ = encode_batch(tok, ["the cat sat on the mat " * 10], max_len=8)
    assert truncated.shape == (1, 8) and truncated[0, -1] == sep and truncated[0, 0] == cls


def test_capitals_digits_and_punctuation_are_normalised_or_byte_tokens(tok):
    assert normalize("The  2 Towers!") == "the two towers!"
    upper, _ = encode_batch(tok, ["THE Cat SAT!"], max_len=32)
    lower, _ = encode_batch(tok, ["the cat sat!"], max_len=32)
    assert torch.equal(upper, lower)
    assert tok.decode(upper[0, 1:-1].tolist()) == "the cat sat!"
    assert ord("!") in upper[0].tolist()  # punctuation never seen in training: its byte token
    written, _ = encode_batch(tok, ["[MASK] x"], max_len=32)
    assert tok.special_tokens["[MASK]"] not in written[0].tolist()  # a special written in text is plain text


def test_tokenizer_and_batch_arguments_are_checked(tok):
    with pytest.raises(ValueError, match="vocab_size"):
        train_encoder_tokenizer("abc", vocab_size=100)
    with pytest.raises(ValueError, match="texts"):
        encode_batch(tok, "one string", max_len=8)
    with pytest.raises(ValueError, match="max_len"):
        encode_batch(tok, ["a"], max_len=1)


# --- masking --------------------------------------------------------------------------------------------


def test_masking_statistics_follow_berts_recipe(tok):
    g = torch.Generator().manual_seed(1)
    specials = set(tok.special_tokens.values())
    ordinary = torch.tensor([i for i in range(tok.vocab_size) if i not in specials])
    ids = ordinary[torch.randint(len(ordinary), (400, 100), generator=g)]
    ids[:, 0], ids[:, 60:] = tok.special_tokens["[CLS]"], tok.special_tokens["[PAD]"]  # 59 ordinary per row
    inputs, labels = mask_tokens(ids, tokenizer=tok, generator=torch.Generator().manual_seed(2))
    special = torch.isin(ids, torch.tensor(sorted(specials)))
    assert (labels[special] == IGNORE_INDEX).all() and torch.equal(inputs[special], ids[special])

    def within(count: int, n: int, p: float) -> bool:  # 5 binomial standard deviations
        return abs(count - n * p) < 5 * math.sqrt(n * p * (1 - p))

    chosen = labels != IGNORE_INDEX
    n_ordinary, n_chosen = int((~special).sum()), int(chosen.sum())
    assert within(n_chosen, n_ordinary, 0.15)
    assert torch.equal(labels[chosen], ids[chosen])
    masked = int((inputs[chosen] == tok.special_tokens["[MASK]"]).sum())
    kept = int((inputs[chosen] == ids[chosen]).sum())
    replaced = n_chosen - masked - kept
    p_same = 1 / len(ordinary)  # a random replacement may draw the original token
    assert within(masked, n_chosen, 0.8)
    assert within(kept, n_chosen, 0.1 + 0.1 * p_same)
    assert within(replaced, n_chosen, 0.1 * (1 - p_same))
    assert not torch.isin(inputs[chosen & (inputs != tok.special_tokens["[MASK]"])],
                          torch.tensor(sorted(specials))).any()  # random draws come from ordinary ids only
    assert torch.equal(inputs[~chosen], ids[~chosen])


def test_masking_is_determined_by_the_generator(tok):
    ids, _ = encode_batch(tok, [_corpus(20, seed=3)], max_len=128)
    first = mask_tokens(ids, tokenizer=tok, generator=torch.Generator().manual_seed(5))
    again = mask_tokens(ids, tokenizer=tok, generator=torch.Generator().manual_seed(5))
    other = mask_tokens(ids, tokenizer=tok, generator=torch.Generator().manual_seed(6))
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not torch.equal(first[1], other[1])
    with pytest.raises(ValueError, match="mask_prob"):
        mask_tokens(ids, tokenizer=tok, generator=torch.Generator(), mask_prob=1.5)
    with pytest.raises(ValueError, match="ids"):
        mask_tokens(ids.float(), tokenizer=tok, generator=torch.Generator())


# --- the model and Hugging Face's BERT ------------------------------------------------------------------


def test_padding_does_not_change_the_other_positions(tok):
    model = _model(tok).eval()
    short, short_mask = encode_batch(tok, ["the cat sat"], max_len=32)
    both, both_mask = encode_batch(tok, ["the cat sat", "a dog ran in the park and the sun rises"], max_len=32)
    n = short.size(1)
    assert both_mask[0, n:].all()
    torch.testing.assert_close(model.encoder(both, both_mask)[0, :n], model.encoder(short, short_mask)[0],
                               atol=1e-5, rtol=1e-5)
    assert "decoder" not in " ".join(model.state_dict())  # the head's decoder is the token embedding, tied


def test_model_arguments_are_checked(tok):
    model = _model(tok)
    with pytest.raises(ValueError, match="ids must lie"):
        model(torch.tensor([[0, tok.vocab_size]]))
    with pytest.raises(ValueError, match="block_size"):
        model(torch.zeros(1, 33, dtype=torch.long))
    with pytest.raises(ValueError, match="padding_mask"):
        model(torch.zeros(1, 4, dtype=torch.long), torch.zeros(1, 4))
    with pytest.raises(ValueError, match="n_embd"):
        EncoderConfig(vocab_size=10, n_embd=30, n_head=4)
    with pytest.raises(ValueError, match="pad_id"):
        EncoderConfig(vocab_size=10, pad_id=10)


def test_same_weights_same_logits_as_hugging_face_bert_both_ways(tok):
    from transformers import BertConfig, BertForMaskedLM

    ids, padding_mask = encode_batch(tok, ["the cat sat on the mat", "a dog", "birds fly over the sea"], 32)
    ours = _model(tok).eval()
    with torch.no_grad():  # nonzero LayerNorm and bias parameters, so a swapped pair would show
        for p in ours.parameters():
            if p.dim() == 1:
                p.add_(0.1 * torch.randn_like(p))
    theirs = to_hf_bert(ours).eval()
    hf_logits = theirs(input_ids=ids, attention_mask=(~padding_mask).long()).logits
    torch.testing.assert_close(ours(ids, padding_mask), hf_logits, atol=1e-4, rtol=0)

    torch.manual_seed(1)
    hf = BertForMaskedLM(BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2,
                                    num_attention_heads=2, intermediate_size=48, max_position_embeddings=32,
                                    type_vocab_size=2, layer_norm_eps=1e-5, hidden_dropout_prob=0.0,
                                    attention_probs_dropout_prob=0.0)).eval()
    loaded = load_hf_bert(hf).eval()
    expected = hf(input_ids=ids, attention_mask=(~padding_mask).long()).logits
    torch.testing.assert_close(loaded(ids, padding_mask), expected, atol=1e-4, rtol=0)
    hf.config.layer_norm_eps = 1e-12
    with pytest.raises(ValueError, match="layer_norm_eps"):
        load_hf_bert(hf)


# --- pretraining, the cache, fill-mask -------------------------------------------------------------------

TINY = MLMSettings(steps=30, batch_size=16, max_lr=3e-3, min_lr=3e-4, warmup_steps=3, eval_every=0,
                   eval_windows=16, val_fraction=0.1)


def test_thirty_steps_of_pretraining_lower_the_masked_loss(tok):
    torch.set_num_threads(1)
    ids = corpus_ids(tok, _corpus())
    model = _model(tok)
    first = pretrain_mlm(model, ids, tokenizer=tok, settings=MLMSettings(**{**TINY.__dict__, "steps": 1}),
                         generator=torch.Generator().manual_seed(0), progress=False)
    model = _model(tok)
    result = pretrain_mlm(model, ids, tokenizer=tok, settings=TINY, generator=torch.Generator().manual_seed(0),
                          progress=False)
    assert len(result.train_loss) == 30 and result.val_steps == [30]
    assert first.val_loss[0] > math.log(tok.vocab_size) - 0.5  # about uniform at the start
    assert result.val_loss[-1] < first.val_loss[0] - 1.5, (first.val_loss, result.val_loss)
    assert result.val_accuracy[-1] > first.val_accuracy[0] + 0.1
    top = fill_mask(model, tok, "the cat sat on the [MASK]", k=3)
    assert len(top) == 1 and len(top[0]) == 3
    probs = [p for _, p in top[0]]
    assert probs == sorted(probs, reverse=True) and all(t not in SPECIAL_TOKENS for t, _ in top[0])
    with pytest.raises(ValueError, match="MASK"):
        fill_mask(model, tok, "no blank here")


def test_cache_round_trip_corrupt_file_and_keys(tok, tmp_path):
    ids = corpus_ids(tok, _corpus())
    settings = MLMSettings(**{**TINY.__dict__, "steps": 4})

    def run(**kwargs):
        g = torch.Generator().manual_seed(0)
        model = _model(tok)
        result = pretrain_mlm_cached(model, ids, tokenizer=tok, settings=kwargs.get("settings", settings),
                                     generator=g, cache_dir=tmp_path, progress=False)
        return result, g

    trained, g_trained = run()
    assert not trained.cached and trained.cache_file.exists()
    loaded, g_loaded = run()
    assert loaded.cached and loaded.val_loss == trained.val_loss
    assert all(torch.equal(a, b) for a, b in zip(trained.model.state_dict().values(),
                                                 loaded.model.state_dict().values(), strict=True))
    assert torch.equal(g_trained.get_state(), g_loaded.get_state())  # the generator ends where training left it

    blob = bytearray(trained.cache_file.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    trained.cache_file.write_bytes(bytes(blob))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again, _ = run()
    assert not again.cached and any("damaged" in str(w.message) for w in caught)
    assert run()[0].cached  # the retrained run replaced the damaged file

    key = run_key(_model(tok), ids, tokenizer=tok, settings=settings, generator=torch.Generator().manual_seed(0))
    assert cache_file(tmp_path, key) == trained.cache_file
    other = MLMSettings(**{**settings.__dict__, "max_lr": 1e-3})
    assert run_key(_model(tok), ids, tokenizer=tok, settings=other,
                   generator=torch.Generator().manual_seed(0)) != key
    assert run_key(_model(tok), ids[:-1], tokenizer=tok, settings=settings,
                   generator=torch.Generator().manual_seed(0)) != key
    assert run_key(_model(tok), ids, tokenizer=tok, settings=settings,
                   generator=torch.Generator().manual_seed(1)) != key


def test_pretraining_arguments_are_checked(tok):
    model = _model(tok)
    with pytest.raises(ValueError, match="token_ids"):
        pretrain_mlm(model, torch.zeros(10), tokenizer=tok, generator=torch.Generator())
    with pytest.raises(ValueError, match="too few"):
        pretrain_mlm(model, torch.zeros(20, dtype=torch.long), tokenizer=tok, generator=torch.Generator())
    with pytest.raises(ValueError, match="max_lr"):
        MLMSettings(max_lr=0.0)

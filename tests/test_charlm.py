"""llmcourse.charlm: the shared character-LM data, split, batches and loss (on tiny texts made here)."""

import math

import pytest
import torch
import torch.nn.functional as F

from llmcourse import charlm
from llmcourse.charlm import (
    bits_per_char,
    estimate_loss,
    get_batch,
    lm_loss,
    load_char_data,
    perplexity,
    split_ids,
)

TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n" * 20


def test_load_char_data_splits_90_10_in_order_and_round_trips():
    data = load_char_data(TEXT)
    ids = torch.cat([data.train, data.val])
    assert data.tokenizer.decode(ids.tolist()) == TEXT
    assert len(data.train) == int(0.9 * len(TEXT))
    assert data.vocab_size == len(set(TEXT))
    assert data.train.dtype == torch.long and data.val.device == data.train.device


def test_default_text_is_tiny_shakespeare_through_the_registry(monkeypatch):
    seen = []
    monkeypatch.setattr(charlm, "read_text", lambda name: seen.append(name) or TEXT)
    load_char_data()
    assert seen == ["tinyshakespeare"]


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="empty text"):
        load_char_data("")
    with pytest.raises(ValueError, match="1-D"):
        split_ids(torch.zeros(2, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="too few"):
        split_ids(torch.arange(5))
    with pytest.raises(ValueError, match="does not fit"):
        get_batch(torch.arange(10), 2, 10)
    with pytest.raises(ValueError, match="block_size"):
        get_batch(torch.arange(10), 2, 0)
    with pytest.raises(ValueError, match=r"\(B, T, V\)"):
        lm_loss(torch.zeros(4, 5), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="split"):
        load_char_data(TEXT).split("test")


def test_batches_are_shifted_windows_and_seeded():
    ids = torch.arange(100)
    x, y = get_batch(ids, 8, 16, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (8, 16)
    assert torch.equal(y, x + 1)  # ids[i] = i, so the target is the next id
    assert torch.equal(x[:, 1:], x[:, :-1] + 1)  # contiguous windows
    x2, _ = get_batch(ids, 8, 16, torch.Generator().manual_seed(0))
    assert torch.equal(x, x2)
    # the last window that fits is reachable: starts lie in [0, len - T - 1]
    starts = torch.cat([get_batch(ids, 64, 16)[0][:, 0] for _ in range(50)])
    assert starts.max() <= 100 - 17 and starts.min() >= 0


def test_loss_is_mean_cross_entropy_in_nats_and_conversions():
    g = torch.Generator().manual_seed(0)
    logits, targets = torch.randn(2, 3, 5, generator=g), torch.randint(0, 5, (2, 3), generator=g)
    by_hand = -logits.log_softmax(-1).gather(-1, targets[..., None]).mean()
    torch.testing.assert_close(lm_loss(logits, targets), by_hand)
    uniform = lm_loss(torch.zeros(1, 4, 65), torch.zeros(1, 4, dtype=torch.long)).item()
    assert uniform == pytest.approx(math.log(65))
    assert perplexity(uniform) == pytest.approx(65)
    assert bits_per_char(math.log(2)) == pytest.approx(1.0)
    assert bits_per_char(uniform) == pytest.approx(math.log2(65))


def test_estimate_loss_is_repeatable_and_model_agnostic():
    data = load_char_data(TEXT)
    table = torch.randn(data.vocab_size, data.vocab_size, generator=torch.Generator().manual_seed(1))

    def logits_fn(x):
        return table[x]  # (B, T, V): a bigram-shaped model

    kwargs = dict(batch_size=4, block_size=8, n_batches=3)
    a = estimate_loss(logits_fn, data.val, **kwargs, seed=5)
    assert a == estimate_loss(logits_fn, data.val, **kwargs, seed=5)
    x, y = get_batch(data.val, 4, 8, torch.Generator().manual_seed(5))
    assert estimate_loss(logits_fn, data.val, batch_size=4, block_size=8, n_batches=1, seed=5) == pytest.approx(
        F.cross_entropy(table[x].reshape(-1, data.vocab_size), y.reshape(-1)).item())
    with pytest.raises(ValueError, match="n_batches"):
        estimate_loss(logits_fn, data.val, batch_size=4, block_size=8, n_batches=0)

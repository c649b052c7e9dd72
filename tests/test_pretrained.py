"""Chapter 7's GPT for the later chapters, or a stand-in trained in its place (llmcourse.gpt.pretrained)."""

import pytest
import torch

from llmcourse.config import settings
from llmcourse.gpt import GPT, GPTConfig, TrainConfig, char_data, train_gpt
from llmcourse.gpt.pretrained import chapter7_gpt, chapter7_path

TINY = dict(n_layer=1, n_head=2, n_embd=16, block_size=16, steps=2, batch_size=4, lr=1e-3)


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LLMCOURSE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def data():
    return char_data()


def write_chapter7(data, config: GPTConfig) -> GPT:
    """A one-step run of chapter 7's kind written where chapter 7 leaves its ci model."""
    torch.manual_seed(0)
    model = GPT(config)
    train_gpt(model, data, TrainConfig(max_steps=1, batch_size=2, warmup_steps=0, eval_every=0, eval_windows=2),
              checkpoint_path=chapter7_path("ci"), progress=False)
    return model


def test_chapter_7s_checkpoint_is_loaded_when_it_fits_its_settings(cache, data):
    c7 = settings("ch07", "ci")
    saved = write_chapter7(data, GPTConfig(vocab_size=data.vocab_size, block_size=c7.block_size, n_layer=c7.n_layer,
                                           n_head=c7.n_head, n_embd=c7.n_embd))
    model, how = chapter7_gpt(data, "ci", torch.device("cpu"), fallback=TINY)
    assert how.startswith("loaded chapter 7's checkpoint") and not model.training
    assert all(torch.equal(v, saved.state_dict()[k]) for k, v in model.state_dict().items())
    stand_in, how = chapter7_gpt(data, "ci", torch.device("cpu"), fallback=TINY, use_chapter7=False)
    assert "not asked for" in how and stand_in.config.n_embd == TINY["n_embd"]


def test_a_checkpoint_of_another_layout_is_refused_and_a_stand_in_is_trained_then_kept(cache, data, tmp_path):
    write_chapter7(data, GPTConfig(vocab_size=data.vocab_size, block_size=16, n_layer=1, n_head=2, n_embd=24))
    keep = tmp_path / "kept"
    model, how = chapter7_gpt(data, "ci", torch.device("cpu"), fallback=TINY, keep_in=keep)
    assert "does not fit its settings" in how and "trained 2 steps here" in how
    assert (model.config.n_layer, model.config.n_embd, model.config.block_size) == (1, 16, 16)
    again, how = chapter7_gpt(data, "ci", torch.device("cpu"), fallback=TINY, keep_in=keep)
    assert "loaded its finished run" in how  # the kept run, not a second training
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in model.state_dict().items())


def test_no_checkpoint_and_no_folder_trains_a_throwaway_stand_in(cache, data):
    model, how = chapter7_gpt(data, "ci", torch.device("cpu"), fallback=TINY)
    assert how.startswith("no checkpoint of chapter 7") and "trained 2 steps here" in how
    assert isinstance(model, GPT) and not (cache / "ch10").exists()


def test_a_fallback_without_its_sizes_is_refused(cache, data):
    with pytest.raises(ValueError, match=r"fallback lacks \['lr'\]"):
        chapter7_gpt(data, "ci", torch.device("cpu"), fallback={k: v for k, v in TINY.items() if k != "lr"})

"""llmcourse.transformer.climb: each stage and ablation builds with the parts and parameters it should, the full
stage is chapter 7's GPT, every row trains on one recipe, the cache round-trips and refuses stale settings, bad
input gets a clear error."""

import dataclasses
import math

import pytest
import torch

from llmcourse.device import seed_everything
from llmcourse.gpt import GPT, GPTConfig, char_data
from llmcourse.rnn import BigramModel
from llmcourse.transformer import LayerNorm, count_parameters, decoder_only_params
from llmcourse.transformer.climb import (
    ABLATIONS,
    FULL,
    STAGES,
    ClimbResult,
    StageConfig,
    StageModel,
    build_stage,
    climb_path,
    climb_results,
    climb_settings,
    load_climb,
    run_stages,
    sample_ids,
    save_climb,
    stage_config,
    with_train_slice,
)
from llmcourse.transformer.depth import ffn_gradient_norms, xavier_init_

TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n" * 12


def tiny_settings(**changes):
    """The ci profile's climb, smaller still: a few steps on a short context."""
    base = dataclasses.replace(climb_settings("ci"), block_size=16, eval_windows=4, steps=3, batch_size=2,
                               eval_every=2, sample_chars=12)
    return dataclasses.replace(base, **changes)


@pytest.fixture
def data():
    return char_data(TEXT)


def test_the_ci_profile_reads_chapter_7s_windows():
    from llmcourse.config import settings

    for profile in ("ci", "laptop", "gpu"):
        s, ch07 = climb_settings(profile), settings("ch07", profile)
        assert (s.block_size, s.eval_windows) == (ch07.block_size, ch07.eval_windows)
        assert s.tokens_per_row() == s.steps * s.batch_size * s.block_size


@pytest.mark.parametrize("name", [n for n in list(STAGES) + list(ABLATIONS) if n != "bigram"])
def test_each_stage_has_the_parts_and_parameters_it_should(name):
    s = tiny_settings()
    model = build_stage(name, 30, s)
    c = model.config
    assert isinstance(model, StageModel) and model.block_size == s.block_size
    expected = decoder_only_params(30, c.n_embd, c.n_layer, c.block_size, norm=c.norm, ffn=c.ffn)
    assert count_parameters(model) == expected
    has_norms = any(isinstance(m, LayerNorm) for m in model.modules())
    assert has_norms == (c.norm == "layer")
    assert all((block.ffn is not None) == c.ffn and block.residual == c.residual for block in model.blocks)
    one_layer = name in ("one head", "multi-head", "+ feed-forward")
    assert c.n_layer == (1 if one_layer else s.n_layer)
    assert c.n_head == (1 if name == "one head" else s.n_head)
    assert c.dropout == (s.dropout if name == "+ dropout" else 0.0)


def test_the_climb_adds_one_thing_per_row():
    s = tiny_settings()
    counts = {name: count_parameters(build_stage(name, 30, s)) for name in STAGES if name != "bigram"}
    assert build_stage("bigram", 30, s).table_size == 30 * 30  # counted, not learned: no parameters
    assert counts["one head"] == counts["multi-head"]  # heads split the width: no new weights
    assert counts["one head"] < counts["+ feed-forward"] < counts[FULL]
    assert counts[FULL] == counts["+ dropout"]  # dropout has no parameters
    assert isinstance(build_stage("bigram", 30, s), BigramModel)


def test_the_full_stage_is_chapter_7s_gpt():
    s = tiny_settings()
    stage = build_stage(FULL, 30, s)
    seed_everything(s.seed)
    gpt = GPT(GPTConfig(vocab_size=30, block_size=s.block_size, n_layer=s.n_layer, n_head=s.n_head,
                        n_embd=s.n_embd))
    mine, theirs = stage.state_dict(), gpt.state_dict()
    assert list(mine) == list(theirs)
    assert all(torch.equal(mine[k], theirs[k]) for k in mine)
    ids = torch.randint(0, 30, (2, 9))
    torch.testing.assert_close(stage.eval()(ids), gpt.eval()(ids))


def test_xavier_init_and_the_ffn_gradients():
    torch.manual_seed(0)
    model = StageModel(StageConfig(vocab_size=20, block_size=8, n_layer=3, n_head=2, n_embd=16, norm_first=False,
                                   init="xavier"))
    fc = model.blocks[0].ffn.fc.weight  # (64, 16): Xavier-uniform std = sqrt(2 / (16 + 64))
    assert abs(float(fc.detach().std()) - math.sqrt(2 / 80)) < 0.02
    assert float(model.blocks[0].ffn.fc.bias.abs().max()) == 0.0
    ids = torch.randint(0, 20, (2, 8))
    norms = ffn_gradient_norms(model, ids, torch.roll(ids, -1, 1))
    assert len(norms) == 3 and all(n > 0 for n in norms)
    assert xavier_init_(model) is model
    with pytest.raises(ValueError, match="ids and targets"):
        ffn_gradient_norms(model, ids, ids[:, :4])


def test_every_row_trains_on_one_recipe(data):
    s = tiny_settings()
    names = ["bigram", "one head", FULL, "+ dropout", "no layer norm"]
    result = run_stages(names, data, s)
    assert [r.name for r in result.rows] == names
    for row in result.rows:
        assert math.isfinite(row.val) and math.isfinite(row.train) and row.seconds >= 0
        assert len(row.sample) == s.sample_chars
        if row.name == "bigram":
            assert row.tokens == len(data.train) and row.val_curve == []
        else:
            assert row.tokens == s.steps * s.batch_size * s.block_size
            assert row.val_steps == [2, 3] and len(row.val_curve) == len(row.val_seconds) == 2
            assert abs(row.val_curve[-1] - row.val) < 1e-4  # the final evaluation is the row's loss
    assert result.row("bigram").val < math.log(data.vocab_size)  # counting beats a uniform guess
    with pytest.raises(KeyError, match="no row"):
        result.row("the full GPT")


def test_the_cache_round_trips_and_refuses_stale_settings(data, tmp_path, monkeypatch):
    monkeypatch.setenv("LLMCOURSE_CACHE_DIR", str(tmp_path))
    assert climb_path("ci") == tmp_path / "ch06" / "climb_ci.pt"
    s = tiny_settings()
    result = run_stages(["bigram", "one head"], data, s)
    path = tmp_path / "climb.pt"
    assert load_climb(path, s, data, ["bigram", "one head"]) is None  # absent: no warning, just None
    save_climb(path, result, data)
    loaded = load_climb(path, s, data, ["bigram", "one head"])
    assert isinstance(loaded, ClimbResult) and loaded.rows == result.rows and loaded.settings == s
    with pytest.warns(UserWarning, match="other settings"):
        assert load_climb(path, dataclasses.replace(s, steps=4), data, ["bigram", "one head"]) is None
    with pytest.warns(UserWarning, match="other settings"):
        assert load_climb(path, s, data, ["bigram"]) is None  # other stages
    with pytest.warns(UserWarning, match="other settings"):
        assert load_climb(path, s, with_train_slice(data, 500), ["bigram", "one head"]) is None  # other data
    path.write_bytes(path.read_bytes()[:-10])  # damaged
    with pytest.warns(UserWarning, match="damaged"):
        assert load_climb(path, s, data, ["bigram", "one head"]) is None


def test_climb_results_trains_once_then_reads_the_cache(data, tmp_path, monkeypatch):
    monkeypatch.setenv("LLMCOURSE_CACHE_DIR", str(tmp_path))
    first = climb_results("ci", data=data)
    assert [r.name for r in first.rows] == list(STAGES)
    assert climb_path("ci").exists()
    again = climb_results("ci", data=data)
    assert again.rows == first.rows  # read back, not retrained (the wall times would differ)


def test_sample_ids_is_a_seeded_multinomial_loop(data):
    s = tiny_settings()
    model = build_stage("one head", data.vocab_size, s)
    first = sample_ids(model, [0, 1], 20, s.block_size, temperature=0.8, seed=3)
    assert first == sample_ids(model, [0, 1], 20, s.block_size, temperature=0.8, seed=3)
    assert len(first) == 22 and first[:2] == [0, 1] and model.training  # the mode is restored
    bigram = BigramModel(data.vocab_size).fit(data.train)
    assert len(sample_ids(bigram, [0], 5, 1)) == 6
    with pytest.raises(ValueError, match="prompt_ids"):
        sample_ids(model, [], 5, 8)
    with pytest.raises(ValueError, match="temperature"):
        sample_ids(model, [0], 5, 8, temperature=0.0)


def test_clear_errors_on_bad_input(data):
    s = tiny_settings()
    with pytest.raises(ValueError, match="name must be one of"):
        stage_config("transformer", 30, s)
    with pytest.raises(ValueError, match="init"):
        StageConfig(vocab_size=30, block_size=8, n_layer=1, n_head=1, n_embd=8, init="kaiming")
    with pytest.raises(ValueError, match="dropout"):
        StageConfig(vocab_size=30, block_size=8, n_layer=1, n_head=1, n_embd=8, dropout=1.0)
    with pytest.raises(ValueError, match="n_chars"):
        with_train_slice(data, 0)
    small = with_train_slice(data, 200)
    assert len(small.train) == 200 and torch.equal(small.val, data.val) and small.vocab_size == data.vocab_size


def test_a_row_that_diverges_is_a_result(data, monkeypatch):
    import llmcourse.transformer.climb as climb

    def diverge(*args, **kwargs):
        raise FloatingPointError("loss became nan at step 2: lower the learning rate?")

    monkeypatch.setattr(climb, "train_gpt", diverge)
    result = run_stages(["no layer norm"], data, tiny_settings())
    row = result.row("no layer norm")
    assert math.isnan(row.val) and "diverged" in row.note and "step 2" in row.note
    assert set(result.models) == {"no layer norm"}

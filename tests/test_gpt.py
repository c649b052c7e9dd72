"""Chapter 7-8's GPT package: sizes, initialisation, Hugging Face parity, training, data and generation."""

from __future__ import annotations

import contextlib
import math
import time

import pytest
import torch

from llmcourse.device import can_compile
from llmcourse.gpt import (
    GPT,
    GPTConfig,
    TrainConfig,
    autocast_context,
    backward_micro_batches,
    bpe_data,
    char_data,
    configure_optimizer,
    evaluate,
    generate,
    get_batch,
    gpt_param_count,
    lr_at,
    param_groups,
    parameter_breakdown,
    train_gpt,
    val_windows,
)
from llmcourse.training import CheckpointError

TINY = GPTConfig(vocab_size=37, block_size=16, n_layer=2, n_head=4, n_embd=32)
TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n" * 12


def tiny(seed: int = 0, **changes) -> GPT:
    torch.manual_seed(seed)
    return GPT(GPTConfig(**{**TINY.to_dict(), **changes}))


# --- config, parameter count, initialisation ------------------------------------------------------------


@pytest.mark.parametrize("changes, words", [
    ({"n_embd": 30, "n_head": 4}, "divisible by n_head"),
    ({"n_layer": 0}, "n_layer"),
    ({"vocab_size": 2.5}, "vocab_size"),
    ({"dropout": 1.0}, "dropout"),
])
def test_config_refuses_bad_sizes(changes, words):
    with pytest.raises(ValueError, match=words):
        GPTConfig(**{**TINY.to_dict(), **changes})


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("tie", [True, False])
def test_param_count_formula_matches_the_model(bias, tie):
    config = GPTConfig(vocab_size=41, block_size=12, n_layer=3, n_head=2, n_embd=24, bias=bias, tie_embeddings=tie)
    model = GPT(config)
    counted = sum(p.numel() for p in model.parameters())
    assert gpt_param_count(config) == model.num_parameters() == counted
    assert gpt_param_count(config, non_embedding=True) == counted - 12 * 24
    parts = parameter_breakdown(config)
    assert parts["blocks"] == sum(p.numel() for p in model.blocks.parameters())
    assert parts["final LayerNorm"] == sum(p.numel() for p in model.ln_f.parameters())
    if tie:
        assert model.lm_head.weight is model.embed.tok_emb.weight
    else:  # an untied head adds one V x C matrix
        assert counted == gpt_param_count(GPTConfig(**{**config.to_dict(), "tie_embeddings": True})) + 41 * 24


def test_gpt2_small_has_124m_parameters():
    assert gpt_param_count(GPTConfig()) == 124_439_808  # GPT-2 small, tied, with its position table


def test_gpt2_initialisation():
    torch.manual_seed(0)
    config = GPTConfig(vocab_size=500, block_size=64, n_layer=4, n_head=4, n_embd=192)
    model = GPT(config)
    residual = 0.02 / math.sqrt(2 * config.n_layer)
    for name, p in model.named_parameters():
        if name.endswith(("attn.out_proj.weight", "ffn.proj.weight")):
            assert p.std().item() == pytest.approx(residual, rel=0.05), name
        elif name.endswith("bias"):
            assert torch.all(p == 0), name
        elif ".ln_" in name or name.startswith("ln_f"):
            assert torch.all(p == 1), name
        else:  # the other Linear weights and both embedding tables
            assert p.std().item() == pytest.approx(0.02, rel=0.05), name
            assert abs(p.mean().item()) < 0.002, name
    logits = model(torch.randint(0, 500, (2, 64)))
    assert logits.std().item() < 1.0  # no head starts out confident


# --- forward: errors and causality ---------------------------------------------------------------------------


def test_forward_shapes_and_clear_errors():
    model = tiny()
    assert model(torch.randint(0, 37, (3, 16))).shape == (3, 16, 37)
    with pytest.raises(ValueError, match="longer than block_size=16"):
        model(torch.zeros(1, 17, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\[0, 37\).*37"):
        model(torch.full((1, 4), 37))
    with pytest.raises(ValueError, match=r"-1"):
        model(torch.tensor([[0, -1]]))
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        model(torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        model(torch.zeros(1, 4))  # float ids


def test_a_position_sees_only_the_past():
    model = tiny().eval()
    ids = torch.randint(0, 37, (2, 12), generator=torch.Generator().manual_seed(1))
    changed = ids.clone()
    changed[:, 7:] = (changed[:, 7:] + 5) % 37
    a, b = model(ids), model(changed)
    torch.testing.assert_close(a[:, :7], b[:, :7])
    assert not torch.allclose(a[:, 7:], b[:, 7:])


# --- Hugging Face -------------------------------------------------------------------------------------------


def test_same_weights_same_logits_as_hugging_face_both_ways():
    transformers = pytest.importorskip("transformers")
    from llmcourse.gpt.hf import from_hf_state_dict, load_hf, to_hf, to_hf_config, to_hf_state_dict

    ids = torch.randint(0, 37, (3, 11), generator=torch.Generator().manual_seed(2))  # T < block_size
    full = torch.randint(0, 37, (1, 16), generator=torch.Generator().manual_seed(9))  # batch 1, T = block_size
    ours = tiny(seed=3).eval()
    theirs = to_hf(ours)
    assert theirs.config.activation_function == "gelu_new"
    assert theirs.num_parameters() == ours.num_parameters()
    with torch.no_grad():
        torch.testing.assert_close(theirs(ids).logits, ours(ids), atol=1e-4, rtol=0)
        torch.testing.assert_close(theirs(full).logits, ours(full), atol=1e-4, rtol=0)

    torch.manual_seed(4)
    hf_random = transformers.GPT2LMHeadModel(to_hf_config(TINY)).eval()  # random weights, no download
    back = load_hf(hf_random)
    assert back.config == TINY
    with torch.no_grad():
        torch.testing.assert_close(back(ids), hf_random(ids).logits, atol=1e-4, rtol=0)
    # the mappings are inverses: HF -> ours -> HF gives every tensor back unchanged
    again = to_hf_state_dict(back)
    for key, value in hf_random.state_dict().items():
        if key in again:
            torch.testing.assert_close(again[key], value, atol=0, rtol=0)
    assert set(from_hf_state_dict(hf_random.state_dict(), TINY)) == set(ours.state_dict())


def test_hugging_face_weights_that_do_not_fit_the_config_are_refused_by_name():
    transformers = pytest.importorskip("transformers")
    from llmcourse.gpt.hf import from_hf_state_dict, to_hf_config

    torch.manual_seed(0)
    hf_state = transformers.GPT2LMHeadModel(to_hf_config(TINY)).state_dict()
    fewer = GPTConfig(**{**TINY.to_dict(), "n_layer": TINY.n_layer - 1})
    with pytest.raises(ValueError, match=rf"{TINY.n_layer} blocks.*n_layer={TINY.n_layer - 1}"):
        from_hf_state_dict(hf_state, fewer)  # a layer would have been dropped silently
    more = GPTConfig(**{**TINY.to_dict(), "n_layer": TINY.n_layer + 1})
    with pytest.raises(ValueError, match="n_layer"):
        from_hf_state_dict(hf_state, more)
    wider = GPTConfig(**{**TINY.to_dict(), "n_embd": 2 * TINY.n_embd})
    with pytest.raises(ValueError, match=r"transformer\.wte\.weight has shape"):
        from_hf_state_dict(hf_state, wider)
    longer = GPTConfig(**{**TINY.to_dict(), "block_size": 2 * TINY.block_size})
    with pytest.raises(ValueError, match=r"transformer\.wpe\.weight has shape"):
        from_hf_state_dict(hf_state, longer)
    hf_state["transformer.h.0.mlp.c_fc.weight"] = hf_state["transformer.h.0.mlp.c_fc.weight"][:, :-1]
    with pytest.raises(ValueError, match=r"transformer\.h\.0\.mlp\.c_fc\.weight has shape"):
        from_hf_state_dict(hf_state, TINY)


def test_the_model_refuses_a_batch_of_zero_rows_and_ids_outside_the_vocabulary():
    model = tiny(seed=0)
    with pytest.raises(ValueError, match="no rows"):
        model(torch.zeros(0, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="no positions"):
        model(torch.zeros(2, 0, dtype=torch.long))
    with pytest.raises(ValueError, match=r"in \[0, 37\)"):
        model(torch.full((1, 3), 37))
    with pytest.raises(ValueError, match="block_size"):
        model(torch.zeros(1, 17, dtype=torch.long))


def test_hugging_face_refuses_what_gpt2_lacks():
    pytest.importorskip("transformers")
    from llmcourse.gpt.hf import to_hf_config

    with pytest.raises(ValueError, match="biases"):
        to_hf_config(GPTConfig(**{**TINY.to_dict(), "bias": False}))


# --- the optimizer, the schedule, accumulation ------------------------------------------------------------


def test_lr_schedule_at_its_edges():
    kw = {"max_lr": 1e-3, "min_lr": 1e-4, "warmup_steps": 10, "max_steps": 110}
    assert lr_at(0, **kw) == pytest.approx(1e-4)  # (0 + 1) / 10 of the peak: step 0 already learns
    assert lr_at(9, **kw) == pytest.approx(1e-3)  # the last warm-up step reaches the peak
    assert lr_at(10, **kw) == pytest.approx(1e-3)  # the cosine starts at the peak
    assert lr_at(60, **kw) == pytest.approx(5.5e-4)  # half way down the cosine: the mean of peak and floor
    assert lr_at(110, **kw) == pytest.approx(1e-4)
    assert lr_at(10_000, **kw) == pytest.approx(1e-4)  # past the end: the floor
    lrs = [lr_at(s, **kw) for s in range(10, 111)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:], strict=False))
    warmup = [lr_at(s, **kw) for s in range(10)]
    assert all(a < b for a, b in zip(warmup, warmup[1:], strict=False))
    assert lr_at(0, **{**kw, "warmup_steps": 0}) == pytest.approx(1e-3)
    with pytest.raises(ValueError):
        lr_at(-1, **kw)


def test_weight_decay_on_matrices_and_embeddings_only():
    model = tiny()
    decay, no_decay = param_groups(model, 0.1)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    decayed = {id(p) for p in decay["params"]}
    for name, p in model.named_parameters():
        assert (id(p) in decayed) == (p.dim() >= 2), name
    assert id(model.embed.tok_emb.weight) in decayed and id(model.embed.pos_emb.weight) in decayed
    assert sum(p.numel() for p in decay["params"] + no_decay["params"]) == model.num_parameters()  # tied: once
    optimizer = configure_optimizer(model, TrainConfig(weight_decay=0.05), "cpu")
    assert [g["weight_decay"] for g in optimizer.param_groups] == [0.05, 0.0]
    assert not optimizer.defaults["fused"]  # fused kernels on CUDA only


@pytest.mark.parametrize("grad_accum", [2, 4])
def test_accumulated_micro_batches_give_the_full_batch_gradient(grad_accum):
    model = tiny(seed=5)
    ids = torch.randint(0, 37, (8, 17), generator=torch.Generator().manual_seed(6))
    x, y = ids[:, :-1], ids[:, 1:]
    full = backward_micro_batches(model, x, y, 1)
    expected = {name: p.grad.clone() for name, p in model.named_parameters()}
    model.zero_grad(set_to_none=True)
    loss = backward_micro_batches(model, x, y, grad_accum)
    torch.testing.assert_close(loss, full, atol=1e-6, rtol=1e-6)
    for name, p in model.named_parameters():
        torch.testing.assert_close(p.grad, expected[name], atol=1e-6, rtol=1e-5, msg=name)
    with pytest.raises(ValueError, match="divisible"):
        backward_micro_batches(model, x[:6], y[:6], 4)


def test_no_autocast_off_cuda():
    assert isinstance(autocast_context("cpu"), contextlib.nullcontext)  # float32 on the CPU: comparable numbers


def test_train_config_refuses_unequal_micro_batches():
    with pytest.raises(ValueError, match="divisible by grad_accum"):
        TrainConfig(batch_size=10, grad_accum=4)


# --- data ---------------------------------------------------------------------------------------------------


def test_batches_are_seeded_windows_gathered_on_the_device():
    ids = torch.arange(100)
    x, y = get_batch(ids, 5, 8, torch.Generator().manual_seed(0))
    x2, _ = get_batch(ids, 5, 8, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (5, 8) and torch.equal(x, x2)
    assert torch.equal(y, x + 1)  # each target is the next token
    with pytest.raises(ValueError, match="does not fit"):
        get_batch(ids, 2, 100)


def test_validation_windows_are_fixed_and_in_range():
    ids = torch.arange(50)
    starts = val_windows(ids, 7, 10)
    assert torch.equal(starts, val_windows(ids, 7, 10))
    assert starts[0] == 0 and starts[-1] == 50 - 10 - 1 and torch.all(starts[1:] > starts[:-1])


def test_char_and_bpe_streams_and_loss_per_character():
    chars = char_data(TEXT)
    assert chars.tokenizer.decode(chars.train.tolist()) + chars.tokenizer.decode(chars.val.tolist()) == TEXT
    assert torch.all(chars.chars_per_token == 1)
    bpe = bpe_data(300, TEXT)
    cut = int(0.9 * len(TEXT))  # chapter 4's cut, on characters
    assert bpe.tokenizer.decode(bpe.train.tolist()) == TEXT[:cut]
    assert bpe.tokenizer.decode(bpe.val.tolist()) == TEXT[cut:]
    assert bpe.chars(bpe.val) == len(TEXT) - cut and len(bpe.val) < len(TEXT) - cut

    logits = torch.randn(bpe.vocab_size, generator=torch.Generator().manual_seed(0))
    unigram = lambda x: logits.expand(*x.shape, -1)  # the same scores at every position
    starts = val_windows(bpe.val, 5, 8)
    result = evaluate(unigram, bpe.val, starts, 8, bpe.chars_per_token, batch_size=2)
    targets = torch.stack([bpe.val[s + 1:s + 9] for s in starts.tolist()])  # (5, 8)
    nats = -torch.log_softmax(logits, -1)[targets].sum().item()
    assert result.tokens == 40 and result.chars == bpe.chars(targets)
    assert result.loss == pytest.approx(nats / 40) and result.loss_per_char == pytest.approx(nats / result.chars)
    assert result.bits_per_char == pytest.approx(result.loss_per_char / math.log(2))
    with pytest.raises(ValueError, match="256"):
        bpe_data(100, TEXT)


# --- training and exact resume --------------------------------------------------------------------------------


def test_training_lowers_the_loss():
    data = char_data(TEXT)
    model = tiny(seed=0, vocab_size=data.vocab_size)
    config = TrainConfig(max_steps=30, batch_size=8, learning_rate=3e-3, min_lr=3e-4, warmup_steps=5,
                         eval_every=15, eval_windows=8, log_every=7)
    result = train_gpt(model, data, config, progress=False)
    h = result.history
    assert h.steps == list(range(30)) and len(h.train) == 30
    assert h.val_steps == [15, 30] and len(result.val_per_char) == 2
    assert h.val[-1] < h.val[0] < math.log(data.vocab_size)
    assert result.val_per_char == pytest.approx(h.val)  # one character per token
    assert result.tokens_per_second > 0
    assert len(result.val_seconds) == 2 and 0 < result.val_seconds[0] < result.val_seconds[1]  # wall time of each


def test_compile_is_off_by_default_on_the_cpu_and_a_request_without_a_compiler_trains_eager(monkeypatch):
    from llmcourse import device as device_module
    from llmcourse.gpt import train as train_module

    assert not train_module.compile_wanted(None, "cpu") and not train_module.compile_wanted(False, "cpu")
    monkeypatch.setattr(device_module.shutil, "which", lambda name: None)  # no C++ compiler on the PATH
    monkeypatch.delenv("CXX", raising=False)
    with pytest.warns(UserWarning, match="C\\+\\+ compiler"):
        assert not train_module.compile_wanted(True, "cpu")
    data = char_data(TEXT)
    config = TrainConfig(max_steps=3, batch_size=4, warmup_steps=1, eval_every=0, eval_windows=4, compile=True)
    with pytest.warns(UserWarning, match="training eager"):
        compiled = train_gpt(tiny(seed=0, vocab_size=data.vocab_size), data, config, progress=False)
    eager = train_gpt(tiny(seed=0, vocab_size=data.vocab_size), data, TrainConfig(**{**config.__dict__,
                                                                                     "compile": False}),
                      progress=False)
    assert compiled.history.train == eager.history.train


@pytest.mark.skipif(not can_compile("cpu"), reason="no C++ compiler here: torch.compile cannot run on this CPU")
def test_a_compiled_run_trains_the_same_model_as_an_eager_one():
    data = char_data(TEXT)
    config = TrainConfig(max_steps=4, batch_size=4, warmup_steps=1, eval_every=2, eval_windows=4, log_every=1)
    runs = {}
    for compiled in (False, True):
        model = tiny(seed=0, vocab_size=data.vocab_size)
        runs[compiled] = (train_gpt(model, data, TrainConfig(**{**config.__dict__, "compile": compiled}),
                                    progress=False), model)
    (eager, eager_model), (fast, fast_model) = runs[False], runs[True]
    assert fast.history.train == pytest.approx(eager.history.train, abs=1e-4)
    assert fast.history.val == pytest.approx(eager.history.val, abs=1e-4)
    for a, b in zip(eager_model.parameters(), fast_model.parameters(), strict=True):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-3)


def test_a_resumed_run_repeats_the_unbroken_one_exactly(tmp_path):
    data = char_data(TEXT)
    config = TrainConfig(max_steps=8, batch_size=4, grad_accum=2, learning_rate=3e-3, min_lr=3e-4, warmup_steps=2,
                         eval_every=3, eval_windows=4, log_every=2, checkpoint_every=5)
    unbroken = tiny(seed=0, vocab_size=data.vocab_size, dropout=0.2)
    whole = train_gpt(unbroken, data, config, progress=False)

    path = tmp_path / "run.pt"
    first = tiny(seed=0, vocab_size=data.vocab_size, dropout=0.2)
    part = train_gpt(first, data, config, checkpoint_path=path, until=4, progress=False)
    assert part.step == 4 and part.history.steps == [0, 1, 2, 3]
    torch.manual_seed(123)  # the global generator moves on between sessions: the checkpoint must put it back
    resumed = tiny(seed=99, vocab_size=data.vocab_size, dropout=0.2)  # other weights: the checkpoint replaces them
    rest = train_gpt(resumed, data, config, checkpoint_path=path, progress=False)

    assert rest.history.steps == whole.history.steps
    assert rest.history.train == whole.history.train  # exactly, not approximately
    assert rest.history.val_steps == whole.history.val_steps and rest.history.val == whole.history.val
    assert rest.val_per_char == whole.val_per_char
    for (name, a), b in zip(unbroken.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), name

    other = TrainConfig(**{**config.__dict__, "learning_rate": 1e-3})
    with pytest.raises(CheckpointError, match="other training settings"):
        train_gpt(tiny(vocab_size=data.vocab_size), data, other, checkpoint_path=path, progress=False)
    # the model's own settings are saved too: same shapes, other n_head or dropout, is another model; a refused
    # resume leaves the caller's model as it was
    for change in ({"n_head": 2}, {"dropout": 0.1}):
        fresh = tiny(seed=5, vocab_size=data.vocab_size, **{"dropout": 0.2, **change})
        before = {key: value.clone() for key, value in fresh.state_dict().items()}
        with pytest.raises(CheckpointError, match="other model settings"):
            train_gpt(fresh, data, config, checkpoint_path=path, progress=False)
        for key, value in fresh.state_dict().items():
            assert torch.equal(value, before[key]), key
    with pytest.raises(ValueError, match="checkpoint_path"):
        train_gpt(resumed, data, config, until=2, progress=False)


# --- generation ------------------------------------------------------------------------------------------------


def test_generate_is_seeded_greedy_at_zero_and_crops_to_block_size():
    model = tiny(seed=7).train()
    prompt = torch.randint(0, 37, (2, 20), generator=torch.Generator().manual_seed(8))  # longer than block_size
    sample = lambda seed, **kw: generate(model, prompt, 10, generator=torch.Generator().manual_seed(seed), **kw)
    a, b, c = sample(0), sample(0), sample(1)
    assert a.shape == (2, 30) and torch.equal(a[:, :20], prompt)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert model.training  # put back in the mode it was in

    greedy = generate(model, prompt, 10, temperature=0.0)
    ids = prompt
    with torch.no_grad():
        model.eval()
        for _ in range(10):
            ids = torch.cat((ids, model(ids[:, -16:])[:, -1].argmax(-1, keepdim=True)), dim=1)
    assert torch.equal(greedy, ids)
    assert torch.equal(sample(5, top_k=1), greedy)  # top-1 sampling is greedy
    assert torch.equal(generate(model, prompt, 0), prompt)
    top3 = sample(3, top_k=3, temperature=2.0)
    assert top3.min() >= 0 and top3.max() < 37
    for bad, words in (({"temperature": -1.0}, "temperature"), ({"top_k": 0}, "top_k")):
        with pytest.raises(ValueError, match=words):
            generate(model, prompt, 1, **bad)
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        generate(model, prompt[0], 1)


# --- chapter 7: the training windows, the evaluation callback, scoring on the same characters ----------------


def test_fixed_training_windows_are_scored_at_every_evaluation_and_resume_exactly(tmp_path):
    data = char_data(TEXT)
    config = TrainConfig(max_steps=8, batch_size=4, learning_rate=3e-3, min_lr=3e-4, warmup_steps=2, eval_every=4,
                         eval_windows=5, log_every=2)
    model = tiny(seed=0, vocab_size=data.vocab_size)
    whole = train_gpt(model, data, config, progress=False)
    assert len(whole.train_eval) == len(whole.train_eval_per_char) == len(whole.history.val_steps) == 2
    assert whole.train_eval_per_char == pytest.approx(whole.train_eval)  # one character per token
    model.eval()
    final = evaluate(model, data.train, val_windows(data.train, 5, TINY.block_size), TINY.block_size,
                     data.chars_per_token)
    assert whole.train_eval[-1] == pytest.approx(final.loss, abs=1e-6)  # the same windows, the final weights

    path = tmp_path / "run.pt"
    train_gpt(tiny(seed=0, vocab_size=data.vocab_size), data, config, checkpoint_path=path, until=5, progress=False)
    rest = train_gpt(tiny(seed=3, vocab_size=data.vocab_size), data, config, checkpoint_path=path, progress=False)
    assert rest.train_eval == whole.train_eval and rest.train_eval_per_char == whole.train_eval_per_char


def test_on_eval_runs_after_each_evaluation_in_eval_mode_off_the_clock():
    data = char_data(TEXT)
    config = TrainConfig(max_steps=6, batch_size=4, warmup_steps=1, eval_every=3, eval_windows=4)
    model = tiny(seed=0, vocab_size=data.vocab_size)
    calls = []

    def on_eval(step):
        calls.append((step, model.training))
        time.sleep(1.0)

    began = time.perf_counter()
    result = train_gpt(model, data, config, progress=False, on_eval=on_eval)
    wall = time.perf_counter() - began
    assert calls == [(3, False), (6, False)] and model.training
    assert wall - result.val_seconds[-1] >= 1.9  # both sleeps are outside the run's clock
    with pytest.raises(ValueError, match="on_eval"):
        train_gpt(model, data, config, progress=False, on_eval="sample")


def test_a_model_of_any_tokenizer_is_scored_on_the_character_models_characters():
    from llmcourse.gpt.data import evaluate_on_characters

    chars = char_data(TEXT)
    val_text = chars.tokenizer.decode(chars.val.tolist())
    model = tiny(seed=1, vocab_size=chars.vocab_size).eval()
    starts = val_windows(chars.val, 6, 12)
    plain = evaluate(model, chars.val, starts, 12, chars.chars_per_token)
    same = evaluate_on_characters(model, chars.tokenizer, val_text, starts, 12, TINY.block_size, batch_size=4)
    assert (same.tokens, same.chars) == (plain.tokens, plain.chars) == (72, 72)
    assert same.loss_per_char == pytest.approx(plain.loss_per_char, abs=1e-6)  # a character model: the same thing

    bpe = bpe_data(300, TEXT)
    logits = torch.randn(bpe.vocab_size, generator=torch.Generator().manual_seed(0))
    unigram = lambda x: logits.expand(*x.shape, -1)  # the same scores at every position
    result = evaluate_on_characters(unigram, bpe.tokenizer, val_text, starts, 12, TINY.block_size, batch_size=4)
    targets = [bpe.tokenizer.encode(val_text[s + 1:s + 13]) for s in starts.tolist()]  # each stretch on its own
    nats = -sum(torch.log_softmax(logits, -1)[t].sum().item() for t in targets)
    assert result.chars == 6 * 12 and result.tokens == sum(map(len, targets)) < 72  # fewer, longer tokens
    assert result.loss_per_char == pytest.approx(nats / 72) and result.loss == pytest.approx(nats / result.tokens)

    with pytest.raises(ValueError, match="n_chars"):
        evaluate_on_characters(model, chars.tokenizer, val_text, starts, 20, TINY.block_size)  # 20 > block_size
    with pytest.raises(ValueError, match="starts"):
        evaluate_on_characters(model, chars.tokenizer, val_text, [len(val_text) - 5], 12, TINY.block_size)
    with pytest.raises(ValueError, match="starts"):
        evaluate_on_characters(model, chars.tokenizer, val_text, [], 12, TINY.block_size)
    with pytest.raises(ValueError, match="n_chars"):
        evaluate_on_characters(model, chars.tokenizer, val_text, starts, 0, TINY.block_size)

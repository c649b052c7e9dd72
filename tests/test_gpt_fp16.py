"""Chapter 7's train_gpt in fp16 with a gradient scaler, the path a CUDA GPU without native bf16 (T4, V100) takes.

The CPU has no such GPU, but CPU autocast computes in float16 and ``torch.amp.GradScaler("cpu")`` works, so the
tests pretend: they make train_gpt's dtype lookup answer float16 (or bfloat16) and run the real loop on the CPU.
"""

from __future__ import annotations

import contextlib
import math

import pytest
import torch

import llmcourse.device as device_module
import llmcourse.gpt.train as train_module
from llmcourse.gpt import GPT, GPTConfig, TrainConfig, autocast_context, char_data, train_gpt
from llmcourse.training import read_checkpoint

TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n" * 12
DATA = char_data(TEXT)
CONFIG = TrainConfig(max_steps=8, batch_size=8, grad_accum=2, learning_rate=3e-3, min_lr=3e-4, warmup_steps=2,
                     eval_every=4, eval_windows=4, log_every=3, checkpoint_every=3)


def tiny(seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=DATA.vocab_size, block_size=16, n_layer=2, n_head=4, n_embd=32, dropout=0.1))


@pytest.fixture
def fp16(monkeypatch):
    """train_gpt believes the device autocasts to float16, as on a CUDA GPU without native bf16."""
    monkeypatch.setattr(device_module, "autocast_dtype", lambda device: torch.float16)


def test_the_cpu_stays_float32_without_a_scaler():
    assert isinstance(autocast_context("cpu"), contextlib.nullcontext)
    assert not train_module.grad_scaler("cpu").is_enabled()


def test_fp16_autocasts_to_float16_and_trains_to_a_finite_falling_loss(fp16, monkeypatch, tmp_path):
    context = autocast_context("cpu")
    assert isinstance(context, torch.autocast) and context.fast_dtype == torch.float16
    with context:
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float16
    assert train_module.grad_scaler("cpu").is_enabled()

    norms = []  # the gradient norm clipping sees at each step: the true one, not the one times the loss scale
    clip = torch.nn.utils.clip_grad_norm_
    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", lambda *args, **kw: norms.append(float(clip(*args, **kw))))
    config = TrainConfig(**{**CONFIG.__dict__, "max_steps": 12, "eval_every": 6, "checkpoint_every": 0})
    path = tmp_path / "run.pt"
    result = train_gpt(tiny(), DATA, config, checkpoint_path=path, progress=False)
    fp16_norms, norms[:] = norms[:], []
    train, val = result.history.train, result.history.val
    assert len(train) == 12 and all(math.isfinite(loss) for loss in train + val)
    assert sum(train[-4:]) / 4 < sum(train[:4]) / 4 - 0.2 and val[1] < val[0] < math.log(DATA.vocab_size)
    scaler = read_checkpoint(path)["scaler"]  # the loss scale the run reached rides in the checkpoint
    assert scaler["scale"] == 2.0**16 and scaler["_growth_tracker"] == 12  # torch's start; 12 good steps in a row

    monkeypatch.setattr(device_module, "autocast_dtype", lambda device: None)  # the CPU's own answer: float32
    float32 = train_gpt(tiny(), DATA, config, checkpoint_path=tmp_path / "float32.pt", progress=False)
    assert float32.history.train != train and float32.history.train == pytest.approx(train, abs=0.05)  # fp16 ran
    assert len(fp16_norms) == len(norms) == 12 and fp16_norms[0] == pytest.approx(norms[0], rel=0.05)
    assert "scaler" not in read_checkpoint(tmp_path / "float32.pt")


def test_an_fp16_run_resumed_repeats_the_unbroken_one_exactly(fp16, tmp_path):
    unbroken = tiny()
    whole = train_gpt(unbroken, DATA, CONFIG, checkpoint_path=tmp_path / "whole.pt", progress=False)

    path = tmp_path / "run.pt"
    train_gpt(tiny(), DATA, CONFIG, checkpoint_path=path, until=5, progress=False)
    assert read_checkpoint(path)["scaler"]["_growth_tracker"] == 5
    torch.manual_seed(123)  # the global generator moves on between sessions: the checkpoint must put it back
    resumed = tiny(seed=99)  # other weights: the checkpoint replaces them
    rest = train_gpt(resumed, DATA, CONFIG, checkpoint_path=path, progress=False)

    assert rest.history.steps == whole.history.steps and rest.history.train == whole.history.train  # exactly
    assert rest.history.val == whole.history.val and rest.val_per_char == whole.val_per_char
    for (name, a), b in zip(unbroken.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    assert read_checkpoint(path)["scaler"] == read_checkpoint(tmp_path / "whole.pt")["scaler"]  # the scaler too


def test_a_step_whose_gradients_overflow_is_skipped_and_the_scale_halved(fp16, monkeypatch, tmp_path):
    """A scale of 2^24 overflows fp16's gradients (largest 65504): those steps must be skipped, not applied."""
    monkeypatch.setattr(train_module, "grad_scaler", lambda device: torch.amp.GradScaler("cpu", init_scale=2.0**24))
    config = TrainConfig(**{**CONFIG.__dict__, "max_steps": 16, "eval_every": 0, "checkpoint_every": 0})
    path = tmp_path / "run.pt"
    model = tiny()
    result = train_gpt(model, DATA, config, checkpoint_path=path, progress=False)
    state = read_checkpoint(path)
    skipped = round(math.log2(2.0**24 / state["scaler"]["scale"]))  # each overflow halves the scale once
    assert 0 < skipped < 16
    assert state["optimizer"]["state"][0]["step"] == 16 - skipped  # AdamW stepped only on the good steps
    assert all(torch.isfinite(p).all() for p in model.parameters())  # no inf/NaN gradient reached the weights
    assert result.history.train[-1] < result.history.train[0]


def test_native_bf16_keeps_no_scaler(monkeypatch, tmp_path):
    monkeypatch.setattr(device_module, "autocast_dtype", lambda device: torch.bfloat16)
    context = autocast_context("cpu")
    assert isinstance(context, torch.autocast) and context.fast_dtype == torch.bfloat16
    assert not train_module.grad_scaler("cpu").is_enabled()
    path = tmp_path / "run.pt"
    config = TrainConfig(**{**CONFIG.__dict__, "max_steps": 3, "eval_every": 0, "checkpoint_every": 0})
    result = train_gpt(tiny(), DATA, config, checkpoint_path=path, progress=False)
    assert all(math.isfinite(loss) for loss in result.history.train)
    assert "scaler" not in read_checkpoint(path)

"""The pure parts of the benchmark scripts: how they read and compare runs (the timings themselves are not tested)."""

import importlib.util
from pathlib import Path

import pytest
import torch

from llmcourse.gpt import GPTConfig, TrainConfig

ROOT = Path(__file__).resolve().parent.parent


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_runs_are_compared_point_for_point_at_equal_steps_and_at_equal_time():
    gpt_train = _load("gpt_train")
    ours = [(50.0, 500, 2.3), (100.0, 1000, 2.0), (150.0, 1500, 2.1)]  # (seconds, step, val on our windows)
    theirs = [(40.0, 500, 2.6, 2.5), (120.0, 1000, 1.95, 1.9), (160.0, 1500, 2.2, 2.05)]  # + its own estimate
    at_steps, at_times = gpt_train.compare_runs(ours, theirs)
    assert [line.split()[0] for line in at_steps] == ["500", "1000", "1500"]  # every step both evaluated
    assert at_steps[0].endswith("ours lower") and at_steps[1].endswith("nanoGPT lower")
    assert at_steps[2].endswith("nanoGPT lower")  # 2.05 < 2.1: the same step, not our best so far
    assert "no evaluation then" in at_times[0]  # at 40 s we had not evaluated
    assert " 2.0400 " in at_times[1] and at_times[1].endswith("nanoGPT lower")  # ours 2.0 + 0.1 * 20 / 50
    assert "no evaluation then" in at_times[2]  # after our last evaluation: nothing to read
    assert gpt_train.read_curve(75.0, [(50.0, 2.3), (100.0, 2.0)]) == pytest.approx(2.15)
    assert gpt_train.read_curve(101.0, [(50.0, 2.3), (100.0, 2.0)]) is None


def test_a_nanogpt_checkpoint_maps_into_our_model_with_its_exact_gelu():
    pytest.importorskip("transformers")
    gpt_train = _load("gpt_train")
    from llmcourse.gpt import GPT
    from llmcourse.gpt.hf import to_hf_state_dict

    config = GPTConfig(vocab_size=29, block_size=12, n_layer=2, n_head=2, n_embd=16)
    torch.manual_seed(0)
    ours = GPT(config).eval()
    # nanoGPT's layout: Hugging Face's names with nn.Linear (out, in) weights, saved from a compiled model
    nanogpt = {"_orig_mod." + key: (value.t() if key.endswith(gpt_train._NANOGPT_LINEARS) else value)
               for key, value in to_hf_state_dict(ours).items()}
    assert nanogpt["_orig_mod.transformer.h.0.attn.c_attn.weight"].shape == (48, 16)  # (3C, C), as nn.Linear
    mapped = gpt_train.nanogpt_model(config, nanogpt)
    for key, value in ours.state_dict().items():
        assert torch.equal(mapped.state_dict()[key], value), key
    assert all(block.ffn.act.approximate == "none" for block in mapped.blocks)  # nanoGPT's nn.GELU()
    ids = torch.randint(0, 29, (2, 12), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(mapped(ids), ours(ids), atol=5e-3, rtol=0)  # only the GELU differs
        assert not torch.equal(mapped(ids), ours(ids))
    with pytest.raises(ValueError, match="n_layer"):
        gpt_train.nanogpt_model(GPTConfig(**{**config.to_dict(), "n_layer": 3}), nanogpt)
    with pytest.raises(ValueError, match="biases"):
        gpt_train.nanogpt_model(GPTConfig(**{**config.to_dict(), "bias": False}), nanogpt)


@pytest.mark.parametrize("which", ["same", "readme", "wide"])
def test_nanogpt_arguments_are_its_command_line_settings(which):
    gpt_train = _load("gpt_train")
    config = GPTConfig(vocab_size=65, block_size=128, n_layer=4, n_head=4, n_embd=128)
    train = TrainConfig(max_steps=6000, batch_size=8, learning_rate=3e-3, min_lr=3e-4, eval_every=500)
    arguments = gpt_train.nanogpt_arguments(which, config, train)
    settings = dict(a.removeprefix("--").split("=", 1) for a in arguments if a.startswith("--"))
    assert settings["compile"] == "False"
    if which == "same":
        assert (settings["n_embd"], settings["block_size"], settings["batch_size"]) == ("128", "128", "8")
        assert (settings["max_iters"], settings["lr_decay_iters"], settings["learning_rate"]) == ("6000", "6000",
                                                                                                   "0.003")
    else:  # nanoGPT's README CPU command, widened for "wide"; the later of two equal flags wins in its configurator
        assert arguments[0] == "config/train_shakespeare_char.py" and settings["max_iters"] == "2000"
        width, context = ("192", "128") if which == "wide" else ("128", "64")
        assert [a for a in arguments if a.startswith("--n_embd")][-1] == f"--n_embd={width}"
        assert [a for a in arguments if a.startswith("--block_size")][-1] == f"--block_size={context}"

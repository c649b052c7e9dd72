"""The pure parts of the benchmark scripts: how they read and compare runs (the timings themselves are not tested)."""

import importlib.util
from pathlib import Path

import pytest

from llmcourse.gpt import GPTConfig, TrainConfig

ROOT = Path(__file__).resolve().parent.parent


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_equal_wall_time_compares_with_our_best_loss_evaluated_by_then():
    gpt_train = _load("gpt_train")
    ours = [(50.0, 500, 2.3), (100.0, 1000, 2.0), (150.0, 1500, 2.1)]  # the last one rose: the best counts
    theirs = [(40.0, 250, 2.5), (120.0, 750, 1.9), (160.0, 1000, 2.05)]
    lines = gpt_train.at_equal_time(ours, theirs)
    assert len(lines) == 3
    assert "no evaluation yet" in lines[0]  # at 40 s we had not evaluated
    assert "ours step  1000  2.0000" in lines[1] and lines[1].endswith("nanoGPT lower")
    assert "ours step  1000  2.0000" in lines[2] and lines[2].endswith("ours lower or equal")


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

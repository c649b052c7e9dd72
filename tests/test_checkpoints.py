"""Checkpoints of llmcourse.training: a resumed run repeats the unbroken one bit for bit, and a bad file is refused.

The model has dropout and the batches are drawn from each global generator in turn (Python, NumPy,
torch), so a resume that lost any of their states would draw other batches or masks. Chapter 4's
truncated BPTT, which also carries a hidden state, is tested in test_rnn.py.
"""

import hashlib
import io
import os
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from llmcourse import training
from llmcourse.device import seed_everything
from llmcourse.training import (
    CheckpointError,
    History,
    checksum_path,
    copy_checkpoint,
    load_checkpoint,
    read_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
    train,
)

X = torch.randn(64, 4, generator=torch.Generator().manual_seed(0))
Y = X @ torch.tensor([[1.0], [-2.0], [0.5], [0.0]]) + 0.3
DRAW = {  # 8 row indices out of 64, from one global generator
    "python": lambda: torch.tensor(random.sample(range(64), 8)),
    "numpy": lambda: torch.from_numpy(np.random.choice(64, 8, replace=False)),
    "torch": lambda: torch.randint(64, (8,)),
}


def _fresh(seed: int) -> tuple[nn.Module, torch.optim.Optimizer]:
    """A new model and optimizer, as a new process would build them (``seed`` differs between processes)."""
    seed_everything(seed)
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 1))
    return model, torch.optim.Adam(model.parameters(), lr=1e-2)


def _run(steps, *, path=None, seed=0, source="torch", interrupt_at=None, model_and_opt=None):
    """Train with checkpoints every 5 steps and evaluations every 10; ``interrupt_at`` kills it at that step."""
    model, opt = model_and_opt or _fresh(seed)

    def get_batch(step):
        if step == interrupt_at:
            raise KeyboardInterrupt  # what Ctrl-C or a killed kernel does mid-run
        rows = DRAW[source]()
        return X[rows], Y[rows]

    history = train(model, get_batch, lambda m, x, y: F.mse_loss(m(x), y), opt, steps,
                    eval_fn=lambda: F.mse_loss(model(X), Y).item(), eval_every=10,
                    checkpoint_path=path, checkpoint_every=5, progress=False)
    return model, opt, history


def _assert_same_state(a: nn.Module, b: nn.Module, opt_a, opt_b) -> None:
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(x, y), f"{name} differs"
    for key, state in opt_a.state_dict()["state"].items():
        for name, value in state.items():
            assert torch.equal(value, opt_b.state_dict()["state"][key][name]), f"Adam's {name} differs"


@pytest.mark.parametrize("source", DRAW)
@pytest.mark.parametrize("how", ["interrupted at step 17", "finished at step 20, then extended"])
def test_a_resumed_run_repeats_the_unbroken_run_bit_for_bit(tmp_path, source, how):
    model, opt, unbroken = _run(40, source=source)
    path = tmp_path / "run.pt"
    if how.startswith("interrupted"):
        with pytest.raises(KeyboardInterrupt):
            _run(40, path=path, source=source, interrupt_at=17)
        assert read_checkpoint(path)["step"] == 15
    else:
        _run(20, path=path, source=source)
    resumed_model, resumed_opt, resumed = _run(40, path=path, source=source, seed=1234)  # another process
    assert resumed == unbroken  # every train and validation loss, as Python floats: bit for bit
    assert resumed.steps == list(range(40)) and resumed.val_steps == [10, 20, 30, 40]
    _assert_same_state(model, resumed_model, opt, resumed_opt)


def test_without_the_random_states_the_resume_would_differ(tmp_path, monkeypatch):
    """The control that shows the test above can fail: dropout and batches depend on the generators."""
    _, _, unbroken = _run(40)
    path = tmp_path / "run.pt"
    with pytest.raises(KeyboardInterrupt):
        _run(40, path=path, interrupt_at=17)
    monkeypatch.setattr(training, "set_rng_state", lambda state: None)
    _, _, resumed = _run(40, path=path, seed=1234)
    assert resumed.train[:15] == unbroken.train[:15]
    assert resumed.train[15] != unbroken.train[15]


def test_rng_state_round_trips_through_a_weights_only_file(tmp_path):
    state = rng_state()
    draws = (random.random(), np.random.rand(), np.random.randn(), torch.rand(3))
    buffer = io.BytesIO()
    torch.save(state, buffer)
    set_rng_state(torch.load(io.BytesIO(buffer.getvalue()), weights_only=True))
    again = (random.random(), np.random.rand(), np.random.randn(), torch.rand(3))
    assert draws[:3] == again[:3] and torch.equal(draws[3], again[3])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_rng_state_is_saved_and_restored():
    torch.rand(1, device="cuda")  # CUDA is in use, so its generator belongs to the run
    state = rng_state()
    assert "cuda" in state
    first = torch.rand(4, device="cuda")
    set_rng_state(state)
    assert torch.equal(torch.rand(4, device="cuda"), first)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_cuda_checkpoint_resumed_without_cuda_warns_that_it_will_not_repeat():
    state = rng_state()
    state["cuda"] = [torch.zeros(16, dtype=torch.uint8)]
    with pytest.warns(UserWarning, match="resumed without CUDA"):
        set_rng_state(state)


def test_a_checkpoint_past_the_requested_steps_is_refused_before_anything_changes(tmp_path):
    path = tmp_path / "run.pt"
    _, _, finished = _run(20, path=path)
    saved = path.read_bytes()
    model, opt = _fresh(7)
    before = {name: p.clone() for name, p in model.state_dict().items()}
    with pytest.raises(CheckpointError, match="at step 20, past the 12 steps asked for") as error:
        _run(12, path=path, model_and_opt=(model, opt))
    assert str(path) in str(error.value)
    assert all(torch.equal(p, before[name]) for name, p in model.state_dict().items())
    assert path.read_bytes() == saved
    _, _, again = _run(20, path=path)  # asking for exactly the steps it has is no error: nothing left to do
    assert again == finished and path.read_bytes() == saved


def test_the_sha256_is_written_beside_in_sha256sum_format_and_the_file_loads_weights_only(tmp_path):
    path = tmp_path / "run.pt"
    _run(3, path=path)
    assert checksum_path(path).read_text() == f"{hashlib.sha256(path.read_bytes()).hexdigest()}  run.pt\n"
    state = torch.load(path, weights_only=True)
    assert set(state) == {"model", "optimizer", "step", "history", "rng", "extra"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.pt", "run.pt.sha256"]  # no temporary left


def test_a_copied_checkpoint_is_verified_on_the_way_and_gets_its_own_sha256(tmp_path):
    path, published = tmp_path / "run.pt", tmp_path / "cache" / "ch07" / "gpt.pt"
    _run(3, path=path)
    copy_checkpoint(path, published)
    assert read_checkpoint(published)["step"] == 3
    assert checksum_path(published).read_text().endswith("  gpt.pt\n")
    path.write_bytes(path.read_bytes()[:100])  # damaged: the copy refuses it and leaves the published one alone
    with pytest.raises(CheckpointError, match="damaged"):
        copy_checkpoint(path, published)
    assert read_checkpoint(published)["step"] == 3


def _flip_a_byte_inside_a_weight(data: bytes, weight: torch.Tensor) -> bytes:
    at = data.find(weight.numpy().tobytes())
    assert at > 0, "the weight's bytes were not found in the file"
    damaged = bytearray(data)
    damaged[at + 9] ^= 0x10  # one bit of one float of the first layer's weight
    return bytes(damaged)


DAMAGE = {
    "truncated": lambda data, weight: data[: len(data) // 2],
    "empty": lambda data, weight: b"",
    "garbage": lambda data, weight: random.Random(0).randbytes(len(data)),
    "one flipped byte inside a weight": _flip_a_byte_inside_a_weight,
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_checkpoint_is_refused_with_its_name(tmp_path, damage):
    path = tmp_path / "run.pt"
    model, _, _ = _run(5, path=path)
    weight = model[0].weight.detach()
    path.write_bytes(DAMAGE[damage](path.read_bytes(), weight))
    if damage == "one flipped byte inside a weight":  # without the sha256 this would resume silently
        silently = torch.load(path, weights_only=True)["model"]["0.weight"]
        assert not torch.equal(silently, weight) and torch.isfinite(silently).all()
    with pytest.raises(CheckpointError, match="is damaged") as error:
        _run(10, path=path)
    assert str(path) in str(error.value) and "run.pt.sha256" in str(error.value)


def test_a_checkpoint_that_cannot_be_verified_or_used_is_refused_with_its_name(tmp_path):
    path, sidecar = tmp_path / "run.pt", tmp_path / "run.pt.sha256"
    _run(5, path=path)
    good = path.read_bytes()

    def expect(match):
        with pytest.raises(CheckpointError, match=match) as error:
            _run(10, path=path)
        assert str(path) in str(error.value)

    sidecar.unlink()
    expect("has no run.pt.sha256 beside it")
    sidecar.write_text("not a digest\n")
    expect("does not start with a sha256")

    def rewrite(data: bytes) -> None:  # a file whose sha256 was recorded for it, so only its content is wrong
        path.write_bytes(data)
        sidecar.write_text(hashlib.sha256(data).hexdigest() + "  run.pt\n")

    rewrite(b"garbage that was hashed anyway")
    expect("not a readable checkpoint")
    buffer = io.BytesIO()
    torch.save({"model": {}, "step": 5}, buffer)
    rewrite(buffer.getvalue())
    expect("lacks")
    rewrite(good)
    other = nn.Linear(4, 1)
    with pytest.raises(CheckpointError, match="does not fit this run") as error:
        load_checkpoint(path, other, torch.optim.Adam(other.parameters()))
    assert str(path) in str(error.value)


def _crash(*args):
    raise OSError("simulated crash")


def _crash_on_rename(monkeypatch, nth: int) -> None:
    """Make the ``nth`` ``os.replace`` from now on raise, as if the process died right there."""
    real_replace, renames = os.replace, []

    def replace(src, dst):
        renames.append(dst)
        if len(renames) == nth:
            _crash()
        real_replace(src, dst)

    monkeypatch.setattr(training.os, "replace", replace)


@pytest.mark.parametrize("crash_at, step_left", [("fsync", 5), ("first rename", 5), ("second rename", 10)])
def test_a_save_cut_off_at_any_moment_leaves_a_usable_checkpoint(tmp_path, monkeypatch, crash_at, step_left):
    """The write is atomic: before the checkpoint's rename the old pair is untouched; after it, load finishes."""
    path = tmp_path / "run.pt"
    model, opt, history = _run(5, path=path)
    old = path.read_bytes()
    if crash_at == "fsync":
        monkeypatch.setattr(training.os, "fsync", _crash)  # dies while the temporary file is written
    else:
        _crash_on_rename(monkeypatch, 1 if crash_at == "first rename" else 2)
    with pytest.raises(OSError, match="simulated crash"):
        save_checkpoint(path, model, opt, 10, history)
    monkeypatch.undo()
    if step_left == 5:
        assert path.read_bytes() == old
    step, _ = load_checkpoint(path, *_fresh(1))
    assert step == step_left
    assert checksum_path(path).read_text().split()[0] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_first_save_cut_off_between_its_renames_is_finished_by_the_next_load(tmp_path, monkeypatch):
    path = tmp_path / "run.pt"
    model, opt = _fresh(0)
    _crash_on_rename(monkeypatch, 2)
    with pytest.raises(OSError, match="simulated crash"):
        save_checkpoint(path, model, opt, 3, History(steps=[0, 1, 2], train=[3.0, 2.0, 1.0]))
    monkeypatch.undo()
    assert path.exists() and not checksum_path(path).exists()  # its sha256 is still under .sha256.tmp
    step, history = load_checkpoint(path, *_fresh(1))
    assert step == 3 and history.train == [3.0, 2.0, 1.0] and checksum_path(path).exists()

"""The shared training loop: it learns, evaluates, and an interrupted run resumes exactly."""

import pytest
import torch

from llmcourse.training import History, load_checkpoint, train


def _problem(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(64, 3, generator=g)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.3
    torch.manual_seed(seed)
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loss_fn = lambda m, xb, yb: torch.nn.functional.mse_loss(m(xb), yb)  # noqa: E731
    return model, opt, (lambda step: (x, y)), loss_fn, lambda: loss_fn(model, x, y).item()


def test_train_reduces_loss_and_evaluates():
    model, opt, get_batch, loss_fn, eval_fn = _problem()
    history = train(model, get_batch, loss_fn, opt, 100, eval_fn=eval_fn, eval_every=25, progress=False)
    assert len(history.train) == 100 and history.steps == list(range(100))
    assert history.val_steps == [25, 50, 75, 100]
    assert history.train[-1] < 0.01 * history.train[0]


def test_interrupted_run_resumes_to_the_same_weights(tmp_path):
    model, opt, get_batch, loss_fn, _ = _problem()
    train(model, get_batch, loss_fn, opt, 40, progress=False)
    uninterrupted = model.weight.detach().clone()

    ckpt = tmp_path / "run.pt"
    model, opt, get_batch, loss_fn, _ = _problem()
    train(model, get_batch, loss_fn, opt, 15, checkpoint_path=ckpt, checkpoint_every=5, progress=False)
    model, opt, get_batch, loss_fn, _ = _problem()  # a fresh process: new model, same checkpoint
    history = train(model, get_batch, loss_fn, opt, 40, checkpoint_path=ckpt, checkpoint_every=5, progress=False)
    torch.testing.assert_close(model.weight.detach(), uninterrupted)
    assert history.steps == list(range(40))
    assert not (tmp_path / "run.pt.tmp").exists()
    step, _ = load_checkpoint(ckpt, model, opt)
    assert step == 40


def test_checkpoint_loads_with_weights_only(tmp_path):
    model, opt, get_batch, loss_fn, _ = _problem()
    train(model, get_batch, loss_fn, opt, 3, checkpoint_path=tmp_path / "c.pt", progress=False)
    state = torch.load(tmp_path / "c.pt", weights_only=True)
    assert set(state) == {"model", "optimizer", "step", "history"}


def test_diverging_loss_stops_with_advice():
    model, opt, get_batch, loss_fn, _ = _problem()
    for group in opt.param_groups:
        group["lr"] = 1e6
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        train(model, get_batch, loss_fn, opt, 200, progress=False)


def test_history_plot_draws_both_curves():
    history = History(steps=[0, 1, 2], train=[3.0, 2.0, 1.0], val_steps=[2], val=[1.5])
    ax = history.plot()
    assert [line.get_label() for line in ax.get_lines()] == ["train", "validation"]

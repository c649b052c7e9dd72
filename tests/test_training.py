"""The shared training loop: it learns, evaluates and stops on a diverging loss (checkpoints: test_checkpoints.py)."""

import pytest
import torch

from llmcourse.training import History, train


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

"""llmcourse.basics (chapter 1) on tiny sizes, and the ch01 settings every profile must provide."""

import copy

import pytest
import torch
import torch.nn.functional as F

from llmcourse.basics import (
    MLP,
    MiniModel,
    accuracy,
    count_parameters,
    make_spirals,
    matmul_gflops,
    plot_decision_boundary,
    time_matmul,
)
from llmcourse.config import PROFILES, settings
from llmcourse.training import train


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run fastest on one thread; two threads on a busy 2-core machine were ~30x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("n_points, n_classes", [(10, 2), (301, 3), (400, 2)])
def test_spirals_shapes_dtypes_and_balance(n_points, n_classes):
    x, y = make_spirals(n_points, n_classes=n_classes)
    assert x.shape == (n_points, 2) and x.dtype == torch.float32
    assert y.shape == (n_points,) and y.dtype == torch.int64
    counts = torch.bincount(y, minlength=n_classes)
    assert counts.max() - counts.min() <= 1  # balanced
    assert torch.isfinite(x).all() and x.abs().max() < 2


def test_spirals_are_seeded():
    a, b, c = make_spirals(50, seed=3), make_spirals(50, seed=3), make_spirals(50, seed=4)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


def test_spirals_are_not_linearly_separable():
    """The point of the data set: a linear classifier cannot do much better than chance."""
    torch.manual_seed(0)
    x, y = make_spirals(400)
    linear = torch.nn.Linear(2, 2)
    opt = torch.optim.Adam(linear.parameters(), lr=0.05)
    for _ in range(200):
        opt.zero_grad()
        F.cross_entropy(linear(x), y).backward()
        opt.step()
    assert accuracy(linear(x), y) < 0.75


def test_spirals_reject_too_few_points():
    with pytest.raises(ValueError, match="at least one point per class"):
        make_spirals(1, n_classes=2)


def test_mini_model():
    model = MiniModel()
    assert count_parameters(model) == 10 * 5 + 5
    out = model(torch.randn(4, 10))
    assert out.shape == (4, 5) and (out >= 0).all()
    assert model(torch.randn(2, 3, 10)).shape == (2, 3, 5)


@pytest.mark.parametrize("n_layers", [1, 2, 3])
def test_mlp_shapes_and_parameter_count(n_layers):
    model = MLP(2, 8, 3, n_layers=n_layers)
    assert model(torch.randn(5, 2)).shape == (5, 3)
    expected = (2 * 8 + 8) + (n_layers - 1) * (8 * 8 + 8) + (8 * 3 + 3)
    assert count_parameters(model) == expected


def test_accuracy():
    logits = torch.tensor([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0], [0.0, 1.0]])
    assert accuracy(logits, torch.tensor([0, 1, 1, 1])) == pytest.approx(0.75)


def test_mlp_learns_the_ci_spirals():
    """What chapter 1 asserts in the ci profile, at the ci sizes."""
    cfg = settings("ch01", "ci")
    x, y = make_spirals(cfg.n_points, seed=0)
    torch.manual_seed(0)
    model = MLP(2, cfg.hidden, 2)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    for _ in range(cfg.steps):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert accuracy(model(x), y) >= 0.9  # guessing gives 0.5; the ci reference run gives more (llmcourse.expected)
    x_val, y_val = make_spirals(cfg.n_val, seed=1)
    assert accuracy(model(x_val), y_val) >= 0.85


def test_hand_written_loop_equals_training_train():
    """Chapter 1 claims llmcourse.training.train is the loop it wrote by hand: same losses, same weights."""
    x, y = make_spirals(64)
    torch.manual_seed(0)
    model = MLP(2, 8, 2)
    copy_ = copy.deepcopy(model)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    losses = []
    for _ in range(20):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    history = train(copy_, lambda step: (x, y), lambda m, xb, yb: F.cross_entropy(m(xb), yb),
                    torch.optim.Adam(copy_.parameters(), lr=0.01), 20, progress=False)
    torch.testing.assert_close(torch.tensor(history.train), torch.tensor(losses))
    for p, q in zip(model.parameters(), copy_.parameters(), strict=True):
        torch.testing.assert_close(p, q)


def test_plot_decision_boundary_keeps_training_mode():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x, y = make_spirals(40)
    model = MLP(2, 4, 2)
    model.train()
    ax = plot_decision_boundary(model, x, y, resolution=20)
    assert model.training and ax.get_title() == "decision boundary"
    plt.close(ax.figure)


def test_plot_decision_boundary_labels_axes_and_classes():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x, y = make_spirals(30, n_classes=3)
    ax = plot_decision_boundary(MLP(2, 4, 3), x, y, resolution=10)
    assert ax.get_xlabel() and ax.get_ylabel()
    legend = ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["class 0", "class 1", "class 2"]
    points = ax.collections[-4]  # the scattered points, before the three legend-only entries
    colours = [tuple(h.get_facecolor()[0]) for h in legend.legend_handles]
    assert len(set(colours)) == 3  # each class its own colour ...
    assert colours == [tuple(points.cmap(points.norm(k))) for k in range(3)]  # ... the colour of its points
    plt.close(ax.figure)


def test_time_matmul_on_cpu():
    seconds = time_matmul(32, "cpu", repeats=2)
    assert 0 < seconds < 5
    assert matmul_gflops(1000, 2.0) == pytest.approx(1.0)


def test_every_profile_has_the_same_ch01_settings():
    keys = {p: set(settings("ch01", p)) for p in PROFILES}
    assert keys["ci"] == keys["laptop"] == keys["gpu"]
    ci, laptop = settings("ch01", "ci"), settings("ch01", "laptop")
    assert ci.n_points <= laptop.n_points and ci.steps <= laptop.steps


def _spiral_run(steps, checkpoint_path=None):
    x, y = make_spirals(64)
    torch.manual_seed(0)
    model = MLP(2, 8, 2)
    history = train(model, lambda step: (x, y), lambda m, xb, yb: F.cross_entropy(m(xb), yb),
                    torch.optim.Adam(model.parameters(), lr=0.01), steps, progress=False,
                    checkpoint_path=checkpoint_path, checkpoint_every=5 if checkpoint_path else 0)
    return model, history


def test_train_scales_the_loss_exactly_when_autocast_is_float16(monkeypatch, tmp_path):
    """Chapter 1: float16 training needs a GradScaler, bfloat16 and float32 do not. Pretend the device autocasts to
    float16 (the autocast itself stays a no-op, so the arithmetic is float32): the scaler switches on, scales by a
    power of two and unscales before each step, so the run equals the unscaled one, and its state is checkpointed."""
    import llmcourse.training as training

    plain_model, plain = _spiral_run(12)
    seen = []
    real_scaler = torch.amp.GradScaler

    def recording_scaler(*args, **kwargs):
        scaler = real_scaler(*args, **kwargs)
        seen.append(scaler)
        return scaler

    import contextlib

    import llmcourse.device as device_module

    monkeypatch.setattr(device_module, "autocast_dtype", lambda device: torch.float16)  # what grad_scaler reads
    monkeypatch.setattr(training, "autocast", lambda device: contextlib.nullcontext())  # the autocast stays a no-op
    monkeypatch.setattr(training.torch.amp, "GradScaler", recording_scaler)
    scaled_model, scaled = _spiral_run(12)
    assert seen and seen[-1].is_enabled() and seen[-1].get_scale() >= 2.0**16
    torch.testing.assert_close(torch.tensor(scaled.train), torch.tensor(plain.train))
    for p, q in zip(plain_model.parameters(), scaled_model.parameters(), strict=True):
        torch.testing.assert_close(p, q)

    path = tmp_path / "run.pt"
    _spiral_run(5, path)  # stops at step 5 with a checkpoint ...
    from llmcourse.training import read_checkpoint

    assert read_checkpoint(path)["scaler"]["scale"] == seen[-1].get_scale()
    resumed_model, resumed = _spiral_run(12, path)  # ... and goes on from it
    torch.testing.assert_close(torch.tensor(resumed.train), torch.tensor(plain.train))


def test_train_leaves_the_scaler_off_without_float16():
    """On the CPU (float32) train() builds its scaler switched off: loss.backward() and optimizer.step() as written."""
    import llmcourse.training as training
    from llmcourse.device import autocast_dtype

    assert autocast_dtype("cpu") is None
    assert not training.grad_scaler("cpu").is_enabled()

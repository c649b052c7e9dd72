"""llmcourse.rnn: hand-written cells equal PyTorch's, bigram counts, the fixed-window MLP, TBPTT, sampling, timing."""

import math
import shutil

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from llmcourse.charlm import estimate_loss, load_char_data
from llmcourse.device import seed_everything
from llmcourse.rnn import (
    BigramModel,
    CarriedState,
    CharRNN,
    LSTMCell,
    MLPLanguageModel,
    Recurrent,
    RNNCell,
    Streams,
    bigram_counts,
    compare_with_torch,
    detach_state,
    input_gradient_norms,
    safe_norm,
    sample,
    sample_next,
    train_recording_grad_norms,
    train_tbptt,
)
from llmcourse.training import CheckpointError, checksum_path, read_checkpoint

TEXT = "To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n" * 12
TOL = dict(atol=1e-5, rtol=1e-5)


def _grads(module):
    return {name: p.grad.clone() for name, p in module.named_parameters()}


@pytest.mark.parametrize("hand_cls, torch_cls", [(RNNCell, nn.RNNCell), (LSTMCell, nn.LSTMCell)])
def test_cells_match_pytorch_outputs_and_gradients(hand_cls, torch_cls):
    torch.manual_seed(0)
    theirs = torch_cls(5, 7)
    mine = hand_cls(5, 7)
    mine.load_state_dict(theirs.state_dict())  # same names and shapes
    x = torch.randn(3, 5)
    state = torch.randn(3, 7) if hand_cls is RNNCell else (torch.randn(3, 7), torch.randn(3, 7))
    x_mine, x_theirs = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_mine, out_theirs = mine(x_mine, state), theirs(x_theirs, state)
    outs_mine = out_mine if isinstance(out_mine, tuple) else (out_mine,)
    outs_theirs = out_theirs if isinstance(out_theirs, tuple) else (out_theirs,)
    for a, b in zip(outs_mine, outs_theirs, strict=True):
        torch.testing.assert_close(a, b, **TOL)
    w = torch.randn(7)
    sum((o * w).sum() for o in outs_mine).backward()
    sum((o * w).sum() for o in outs_theirs).backward()
    torch.testing.assert_close(x_mine.grad, x_theirs.grad, **TOL)
    g_mine, g_theirs = _grads(mine), _grads(theirs)
    for name in g_theirs:
        torch.testing.assert_close(g_mine[name], g_theirs[name], **TOL)


def test_cells_default_to_zero_state():
    torch.manual_seed(1)
    theirs, mine = nn.LSTMCell(4, 6), LSTMCell(4, 6)
    mine.load_state_dict(theirs.state_dict())
    x = torch.randn(2, 4)
    for a, b in zip(mine(x), theirs(x), strict=True):
        torch.testing.assert_close(a, b, **TOL)
    rnn_theirs, rnn_mine = nn.RNNCell(4, 6), RNNCell(4, 6)
    rnn_mine.load_state_dict(rnn_theirs.state_dict())
    torch.testing.assert_close(rnn_mine(x), rnn_theirs(x), **TOL)


@pytest.mark.parametrize("kind, torch_cls", [("rnn", nn.RNN), ("lstm", nn.LSTM)])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_recurrent_matches_nn_rnn_and_lstm_over_a_sequence(kind, torch_cls, num_layers):
    torch.manual_seed(2)
    theirs = torch_cls(5, 8, num_layers, batch_first=True)
    mine = Recurrent(kind, 5, 8, num_layers).load_torch(theirs)
    x = torch.randn(3, 11, 5)
    h0 = torch.randn(num_layers, 3, 8)
    state = h0 if kind == "rnn" else (h0, torch.randn(num_layers, 3, 8))
    x_mine, x_theirs = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_mine, state_mine = mine(x_mine, state)
    out_theirs, state_theirs = theirs(x_theirs, state)
    torch.testing.assert_close(out_mine, out_theirs, **TOL)
    for a, b in zip(detach_state_list(state_mine), detach_state_list(state_theirs), strict=True):
        torch.testing.assert_close(a, b, **TOL)
    target = torch.randn_like(out_mine)
    (out_mine * target).sum().backward()
    (out_theirs * target).sum().backward()
    torch.testing.assert_close(x_mine.grad, x_theirs.grad, **TOL)
    g_theirs = dict(theirs.named_parameters())
    for k, cell in enumerate(mine.cells):
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            torch.testing.assert_close(getattr(cell, name).grad, g_theirs[f"{name}_l{k}"].grad, **TOL)


def detach_state_list(state):
    return [state] if isinstance(state, torch.Tensor) else list(state)


def test_hand_written_char_model_equals_torch_one_after_copying():
    torch.manual_seed(3)
    ref = CharRNN(11, 6, kind="lstm", n_embd=4)
    hand = CharRNN(11, 6, kind="lstm", n_embd=4, hand_written=True)
    hand.embed.load_state_dict(ref.embed.state_dict())
    hand.head.load_state_dict(ref.head.state_dict())
    hand.core.load_torch(ref.core)
    ids = torch.randint(0, 11, (2, 9))
    torch.testing.assert_close(hand(ids)[0], ref(ids)[0], **TOL)


def test_bad_shapes_and_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match=r"\(batch, 5\)"):
        RNNCell(5, 7)(torch.randn(3, 4))
    with pytest.raises(ValueError, match=r"state should have shape \(3, 7\)"):
        LSTMCell(5, 7)(torch.randn(3, 5), (torch.randn(3, 6), torch.randn(3, 7)))
    with pytest.raises(ValueError, match="batch, time"):
        Recurrent("lstm", 5, 7)(torch.randn(3, 5))
    with pytest.raises(ValueError, match="num_layers, batch, hidden"):
        Recurrent("rnn", 5, 7)(torch.randn(3, 4, 5), torch.randn(3, 7))
    with pytest.raises(ValueError, match="kind"):
        Recurrent("gru", 5, 7)
    with pytest.raises(ValueError, match="can only copy"):
        Recurrent("lstm", 5, 7).load_torch(nn.RNN(5, 7))
    with pytest.raises(ValueError, match="int64 ids"):
        CharRNN(10, 8)(torch.randn(2, 3))
    with pytest.raises(ValueError, match="batch, vocab"):
        sample_next(torch.randn(5), 1.0)
    with pytest.raises(ValueError, match="temperature"):
        sample_next(torch.randn(1, 5), -1.0)
    with pytest.raises(ValueError, match="at least one id"):
        sample(CharRNN(10, 8), [], 5)
    with pytest.raises(ValueError, match="at least 2 ids"):
        bigram_counts([3], 5)
    with pytest.raises(ValueError, match=r"\[0, 5\)"):
        bigram_counts([0, 7], 5)
    with pytest.raises(ValueError, match="shorter than"):
        Streams(torch.arange(50), batch_size=8, block_size=10)


def test_bigram_counts_and_model():
    assert bigram_counts([0, 1, 0, 1], 2).tolist() == [[0, 2], [1, 0]]
    model = BigramModel(3, smoothing=1.0).fit(torch.tensor([0, 1, 2, 0, 1, 2, 0]))
    probs = model.log_probs.exp()
    torch.testing.assert_close(probs.sum(1), torch.ones(3))
    # after 0 comes 1 twice: (2 + 1) / (2 + 3) with add-one smoothing
    assert probs[0, 1].item() == pytest.approx(3 / 5)
    assert model(torch.tensor([[0, 1]])).shape == (1, 2, 3)
    assert model.table_size == 9


def test_bigram_loss_is_the_count_entropy():
    """On its own training text, the unsmoothed bigram's loss is the conditional entropy of the counts."""
    data = load_char_data(TEXT)
    model = BigramModel(data.vocab_size, smoothing=0.0).fit(data.train)
    counts = bigram_counts(data.train, data.vocab_size).double()
    p = counts / counts.sum(1, keepdim=True).clamp(min=1)
    entropy = -(counts * p.clamp(min=1e-300).log()).sum() / counts.sum()
    x, y = data.train[:-1][None], data.train[1:][None]
    loss = F.cross_entropy(model(x)[0], y[0])
    assert loss.item() == pytest.approx(entropy.item(), rel=1e-5)


def test_streams_are_contiguous_across_chunks():
    ids = torch.arange(1000)
    streams = Streams(ids, batch_size=4, block_size=10)
    x0, y0 = streams.get(0)
    x1, _ = streams.get(1)
    assert x0.shape == (4, 10) and torch.equal(y0, x0 + 1)
    assert torch.equal(x1[:, 0], x0[:, -1] + 1)  # chunk 1 continues where chunk 0 stopped
    assert torch.equal(x0[:, 0], torch.arange(4) * (999 // 4))
    assert torch.equal(streams.get(streams.n_chunks)[0], x0)  # wraps round


def test_tbptt_carries_a_detached_state(monkeypatch):
    """The state passed into step k+1 is step k's final state, with no graph behind it."""
    data = load_char_data(TEXT)
    torch.manual_seed(4)
    model = CharRNN(data.vocab_size, 16, kind="lstm", n_embd=8)
    seen = []
    forward = CharRNN.forward

    def spy(self, ids, state=None):
        seen.append(state)
        logits, new_state = forward(self, ids, state)
        seen.append(new_state)
        return logits, new_state

    monkeypatch.setattr(CharRNN, "forward", spy)
    history = train_tbptt(model, data, torch.optim.Adam(model.parameters(), 1e-2), 3, batch_size=4,
                          block_size=8, progress=False)
    assert len(history.train) == 3 and history.val  # one evaluation at the end
    assert seen[0] is None  # the first chunk starts from zeros
    for k in (1, 2):
        carried, previous_out = seen[2 * k], seen[2 * k - 1]
        assert all(s.grad_fn is None and not s.requires_grad for s in carried)
        for a, b in zip(carried, previous_out, strict=True):
            torch.testing.assert_close(a, b.detach())
    assert all(s.grad_fn is not None for s in seen[1])  # the output state itself was part of the graph


def test_detach_state():
    h = torch.randn(2, 3, requires_grad=True) * 2
    assert detach_state(h).grad_fn is None
    assert all(s.grad_fn is None for s in detach_state((h, h)))
    assert detach_state(None) is None


def test_training_lowers_the_loss_below_uniform():
    data = load_char_data(TEXT)
    torch.manual_seed(5)
    model = CharRNN(data.vocab_size, 32, kind="lstm", n_embd=16)
    history = train_tbptt(model, data, torch.optim.Adam(model.parameters(), 1e-2), 60, batch_size=4,
                          block_size=16, eval_every=30, progress=False)
    assert history.val[-1] < math.log(data.vocab_size) - 0.5
    again = estimate_loss(lambda x: model(x)[0], data.val, batch_size=4, block_size=16, n_batches=20)
    assert again == pytest.approx(history.val[-1])


def test_sample_next_temperature():
    logits = torch.tensor([[0.0, 2.0, 1.0]])
    assert sample_next(logits, 0).tolist() == [1]  # temperature 0: greedy
    g = torch.Generator().manual_seed(0)
    draws = torch.stack([sample_next(logits.expand(1000, 3), 0.5, g) for _ in range(4)]).flatten()
    freq = torch.bincount(draws, minlength=3).double() / draws.numel()
    expected = F.softmax(logits[0].double() / 0.5, -1)
    torch.testing.assert_close(freq, expected, atol=0.02, rtol=0)
    cold = sample_next(logits.expand(2000, 3), 0.1, g)
    hot = sample_next(logits.expand(2000, 3), 5.0, g)
    assert (cold == 1).float().mean() > 0.99 and (hot == 1).float().mean() < 0.5


def test_sample_is_seeded_and_continues_the_prompt():
    torch.manual_seed(6)
    model = CharRNN(12, 16, kind="rnn")
    model.train()
    a = sample(model, [1, 2, 3], 20, temperature=1.0, seed=7)
    b = sample(model, [1, 2, 3], 20, temperature=1.0, seed=7)
    assert a == b and len(a) == 23 and a[:3] == [1, 2, 3] and all(0 <= i < 12 for i in a)
    assert model.training  # restored

    # sampling one id at a time with the carried state equals reading the whole sequence at once
    greedy = sample(model, [1, 2, 3], 10, temperature=0)
    logits, _ = model(torch.tensor([greedy[:-1]]))
    assert logits[0, 2:].argmax(-1).tolist() == greedy[3:]


def test_input_gradient_norms_rnn_decays_faster_than_lstm_shape():
    torch.manual_seed(8)
    ids = torch.randint(0, 10, (4, 31))
    for kind in ("rnn", "lstm"):
        norms = input_gradient_norms(CharRNN(10, 16, kind=kind), ids)
        assert norms.shape == (30,) and torch.isfinite(norms).all()
        assert norms[-1] > norms[0]  # the last input matters more than the first
    with pytest.raises(ValueError, match="time"):
        input_gradient_norms(CharRNN(10, 16), torch.zeros(2, 1, dtype=torch.long))


def test_safe_norm_does_not_underflow():
    tiny = torch.full((4,), 1e-30)  # float32: each square (1e-60) underflows to 0
    assert tiny.norm().item() == 0.0  # the artifact the chapter once plotted
    assert safe_norm(tiny).item() == pytest.approx(2e-30, rel=1e-5)
    x = torch.randn(3, 5, dtype=torch.float64)
    torch.testing.assert_close(safe_norm(x, dim=-1), x.norm(dim=-1))
    assert safe_norm(torch.zeros(2, 3)).tolist() == [0.0, 0.0]


def test_input_gradient_norms_float64_no_zeros_far_back():
    torch.manual_seed(3)
    model = CharRNN(10, 16, kind="rnn")
    with torch.no_grad():
        model.core.weight_hh_l0.mul_(0.05)  # a strongly contracting recurrence: far-back gradients ~1e-60
    ids = torch.randint(0, 10, (2, 61))
    norms = input_gradient_norms(model, ids)
    assert norms.dtype == torch.float64 and (norms > 0).all()  # tiny, never exactly zero
    assert norms[0] < 1e-45  # below anything float32 holds
    assert next(model.parameters()).dtype == torch.float32  # the model itself is not converted


def test_train_tbptt_on_eval_called_at_each_evaluation():
    data = load_char_data(TEXT)
    torch.manual_seed(0)
    model = CharRNN(data.vocab_size, 8, kind="rnn")
    calls = []
    history = train_tbptt(model, data, torch.optim.Adam(model.parameters(), 1e-2), 4, batch_size=2, block_size=8,
                          eval_every=2, eval_batches=1, on_eval=lambda: calls.append(model.training),
                          progress=False)
    assert history.val_steps == [2, 4] and calls == [False, False]  # in eval mode, once per evaluation


def test_train_recording_grad_norms_clips():
    data = load_char_data(TEXT)
    streams = Streams(data.train, 4, 8)
    torch.manual_seed(9)
    model = CharRNN(data.vocab_size, 16, kind="rnn")
    losses, norms = train_recording_grad_norms(model, streams.get, torch.optim.SGD(model.parameters(), 0.1), 5,
                                               grad_clip=0.01, progress=False)
    assert len(losses) == len(norms) == 5
    assert all(n > 0.01 for n in norms)  # the norms recorded are the ones before clipping
    total = sum(p.grad.norm() ** 2 for p in model.parameters()) ** 0.5
    assert total.item() == pytest.approx(0.01, rel=1e-3)  # ... and the update used the clipped gradient


def _tbptt(data, steps, *, seed, path=None, batch_size=4):
    """A 2-layer LSTM with dropout (between layers and before the head), as a fresh process builds it."""
    seed_everything(seed)
    model = CharRNN(data.vocab_size, 16, kind="lstm", n_embd=8, num_layers=2, dropout=0.3)
    history = train_tbptt(model, data, torch.optim.Adam(model.parameters(), 1e-2), steps, batch_size=batch_size,
                          block_size=8, eval_every=4, eval_batches=2, checkpoint_path=path, checkpoint_every=3,
                          progress=False)
    return model, history


def _interrupt_tbptt(data, path, monkeypatch, *, at_step):
    get = Streams.get

    def killed(self, step):
        if step == at_step:
            raise KeyboardInterrupt  # what Ctrl-C or a killed kernel does mid-run
        return get(self, step)

    with monkeypatch.context() as patch:
        patch.setattr(Streams, "get", killed)
        with pytest.raises(KeyboardInterrupt):
            _tbptt(data, 12, seed=0, path=path)


def test_tbptt_resume_repeats_the_unbroken_run_bit_for_bit(tmp_path, monkeypatch):
    """Dropout masks and the carried (h, c) at the checkpoint both come back, so nothing after it changes."""
    data = load_char_data(TEXT)
    unbroken_model, unbroken = _tbptt(data, 12, seed=0)
    path = tmp_path / "lstm.pt"
    _interrupt_tbptt(data, path, monkeypatch, at_step=8)
    saved = read_checkpoint(path)
    h, c = saved["extra"]["state"]
    assert saved["step"] == 6 and h.shape == c.shape == (2, 4, 16) and h.abs().sum() > 0
    copy = tmp_path / "copy.pt"  # the step-6 pair, kept for the control below
    shutil.copy(path, copy)
    shutil.copy(checksum_path(path), checksum_path(copy))

    model, resumed = _tbptt(data, 12, seed=1, path=path)  # another process: other seed, fresh model
    assert resumed == unbroken  # every train and validation loss, bit for bit
    for (name, a), (_, b) in zip(unbroken_model.state_dict().items(), model.state_dict().items(), strict=True):
        assert torch.equal(a, b), f"{name} differs"

    # the control: resuming from a zero state at the right position (what a checkpoint without it gives) differs
    monkeypatch.setattr(CarriedState, "load_state_dict", lambda self, saved: None)
    _, zero_state = _tbptt(data, 12, seed=1, path=copy)
    assert zero_state.train[:6] == unbroken.train[:6] and zero_state.train[6] != unbroken.train[6]


def test_tbptt_refuses_a_checkpoint_cut_into_other_streams(tmp_path):
    data = load_char_data(TEXT)
    path = tmp_path / "lstm.pt"
    _tbptt(data, 3, seed=0, path=path)
    with pytest.raises(CheckpointError, match="batch_size") as error:
        _tbptt(data, 6, seed=0, path=path, batch_size=2)
    assert str(path) in str(error.value)


def test_mlp_is_the_window_formula_position_by_position():
    """Logits at t = head(tanh(hidden([e(id_{t-k+1}), ..., e(id_t)]))), with the pad id before the text."""
    torch.manual_seed(10)
    model = MLPLanguageModel(vocab_size=7, context=3, n_embd=4, hidden_size=5)
    ids = torch.randint(0, 7, (2, 6))
    logits, state = model(ids)
    assert logits.shape == (2, 6, 7) and torch.equal(state, ids[:, -2:])
    padded = torch.cat([torch.full((2, 2), 7), ids], dim=1)  # id 7 = vocab_size: "before the text"
    for t in range(6):
        window = padded[:, t:t + 3]  # (B, k): the characters t-2, t-1, t
        x = torch.cat([model.embed(window[:, j]) for j in range(3)], dim=-1)  # (B, k*C), oldest first
        expected = model.head(torch.tanh(model.hidden(x)))
        torch.testing.assert_close(logits[:, t], expected, **TOL)


def test_mlp_sees_exactly_its_window_and_carries_it_across_calls():
    torch.manual_seed(11)
    model = MLPLanguageModel(vocab_size=9, context=4, n_embd=3, hidden_size=6)
    ids = torch.randint(0, 9, (3, 12))
    logits, _ = model(ids)
    first, state = model(ids[:, :5])
    second, _ = model(ids[:, 5:], state)
    torch.testing.assert_close(torch.cat([first, second], 1), logits, **TOL)  # two calls = one
    t = 8
    changed = ids.clone()
    changed[:, t - 4] = (changed[:, t - 4] + 1) % 9  # just outside the window of position t
    torch.testing.assert_close(model(changed)[0][:, t:], logits[:, t:], **TOL)
    changed[:, t - 3] = (changed[:, t - 3] + 1) % 9  # the oldest character inside it
    assert not torch.allclose(model(changed)[0][:, t], logits[:, t])
    with pytest.raises(ValueError, match=r"last context - 1 ids, shape \(3, 3\)"):
        model(ids, ids[:, :2])
    with pytest.raises(ValueError, match="int64 ids"):
        model(ids.float())
    with pytest.raises(ValueError, match="must be >= 1"):
        MLPLanguageModel(9, 0, 3, 6)
    single = MLPLanguageModel(vocab_size=9, context=1, n_embd=3, hidden_size=6)  # a bigram model with a hidden layer
    assert single(ids)[1].shape == (3, 0)


def test_mlp_trains_with_the_recurrent_loop_and_samples():
    data = load_char_data(TEXT)
    seed_everything(12)
    model = MLPLanguageModel(data.vocab_size, context=4, n_embd=8, hidden_size=32)
    history = train_tbptt(model, data, torch.optim.Adam(model.parameters(), 1e-2), 60, batch_size=4,
                          block_size=16, eval_every=30, progress=False)
    assert history.val_steps == [30, 60] and history.val[-1] < math.log(data.vocab_size) - 0.5
    greedy = sample(model, [1, 2, 3], 10, temperature=0)
    logits, _ = model(torch.tensor([greedy[:-1]]))
    assert logits[0, 2:].argmax(-1).tolist() == greedy[3:]  # one id at a time = the whole sequence at once


def test_progress_bar_ends_on_the_final_validation_loss(capsys):
    data = load_char_data(TEXT)
    seed_everything(13)
    model = CharRNN(data.vocab_size, 8, kind="rnn", n_embd=4)
    history = train_tbptt(model, data, torch.optim.Adam(model.parameters(), 1e-2), 7, batch_size=4, block_size=8,
                          eval_every=5, eval_batches=2)
    bar = capsys.readouterr().err
    assert history.val_steps == [5, 7]
    assert bar.rstrip().splitlines()[-1].split("\r")[-1].endswith(f"val={history.val[-1]:.4f}]")


@pytest.mark.parametrize("kind", ["rnn", "lstm"])
def test_compare_with_torch_times_both_with_the_same_weights(kind):
    before = torch.get_num_threads()
    result = compare_with_torch(kind, 2, 5, 6, repeats=3, warmup=1, threads=1)
    assert torch.get_num_threads() == before  # the thread count is the measurement's only
    assert result.max_diff < 1e-5 and result.ours_s > 0 and result.torch_s > 0
    assert result.ratio == result.ours_s / result.torch_s and result.row().split()[:5] == [kind, "2", "5", "6", "1"]
    with pytest.raises(ValueError, match="kind"):
        compare_with_torch("gru", 2, 5, 6)
    with pytest.raises(ValueError, match="repeats"):
        compare_with_torch(kind, 2, 5, 6, repeats=0)


_TINY_CH04 = dict(n_embd=8, mlp_context=3, mlp_n_embd=4, mlp_hidden=16, rnn_hidden=12, lstm_hidden=6, num_layers=1,
                  dropout=0.0, steps=6, batch_size=4, block_size=8, lr=1e-2, grad_clip=1.0)


def test_baselines_train_as_chapter_4_does_and_survive_a_round_trip(tmp_path):
    from llmcourse.rnn.baselines import baseline_factories, load_baselines, save_baselines, train_baselines

    data = load_char_data(TEXT)
    trained = train_baselines(data, _TINY_CH04, progress=False)
    assert [b.name for b in trained] == ["MLP (3 chars)", "RNN (1x12)", "LSTM (1x6)"]
    assert all(b.tokens == 6 * 4 * 8 and b.seconds > 0 and not b.model.training for b in trained)
    # Chapter 4's recipe by hand for the LSTM: seed 0, build, Adam, train_tbptt. The same weights.
    seed_everything(0)
    by_hand = baseline_factories(data.vocab_size, _TINY_CH04)["LSTM (1x6)"]()
    train_tbptt(by_hand, data, torch.optim.Adam(by_hand.parameters(), lr=1e-2), 6, batch_size=4, block_size=8,
                grad_clip=1.0, progress=False)
    assert all(torch.equal(a, b) for a, b in zip(by_hand.state_dict().values(),
                                                trained[2].model.state_dict().values(), strict=True))

    path = tmp_path / "ch04" / "baselines_ci.pt"
    save_baselines(path, trained, _TINY_CH04)
    assert checksum_path(path).exists()
    loaded = load_baselines(path, data.vocab_size, _TINY_CH04)
    x = data.val[:16].view(2, 8)
    for a, b in zip(trained, loaded, strict=True):
        assert (a.name, a.tokens, a.seconds) == (b.name, b.tokens, b.seconds) and not b.model.training
        assert torch.equal(a.model(x)[0], b.model(x)[0])


def test_stored_baselines_that_are_missing_stale_or_damaged_are_not_used(tmp_path):
    from llmcourse.rnn.baselines import load_baselines, save_baselines, train_baselines

    data = load_char_data(TEXT)
    path = tmp_path / "baselines.pt"
    assert load_baselines(path, data.vocab_size, _TINY_CH04) is None  # never stored: no warning, just None
    save_baselines(path, train_baselines(data, _TINY_CH04, progress=False), _TINY_CH04)
    with pytest.warns(UserWarning, match="other settings"):
        assert load_baselines(path, data.vocab_size, {**_TINY_CH04, "steps": 7}) is None
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.warns(UserWarning, match="damaged"):
        assert load_baselines(path, data.vocab_size, _TINY_CH04) is None


# --- chapter 4's grader: its mistake variants are never the answer ------------------------------------------


@pytest.mark.parametrize("mistake", ["", "no_such_mistake"])
def test_the_graders_variants_refuse_an_empty_or_unknown_mistake(mistake):
    # With no mistake switched on each variant would compute the right answer. The variants live on the teacher's
    # side (solutions/references/ch04.py), out of the learner's install, and refuse to be the answer there too.
    import sys

    import llmcourse.checks.ch04 as checks
    from llmcourse.grading.references import MODULE_PREFIX, load_references

    load_references()
    ch04 = sys.modules[f"{MODULE_PREFIX}.ch04"]
    for name in ("bptt_variant", "gru_variant", "clip_variant", "bptt_reference", "gru_reference", "clip_reference",
                 "run_layer", "bptt_mistakes", "gru_mistakes", "clip_mistakes"):
        assert not hasattr(checks, name), f"llmcourse.checks.ch04 ships {name} to the learner"
    x, h0, w_ih, w_hh, b_ih, b_hh = (torch.randn(2, 3, 4), torch.randn(2, 5), torch.randn(5, 4), torch.randn(5, 5),
                                      torch.randn(5), torch.randn(5))
    with pytest.raises(ValueError, match="mistake"):
        ch04.bptt_variant(x, h0, w_ih, w_hh, b_ih, b_hh, torch.randn(2, 3, 5), mistake=mistake)
    gru = (torch.randn(15, 4), torch.randn(15, 5), torch.randn(15), torch.randn(15))
    with pytest.raises(ValueError, match="mistake"):
        ch04.gru_variant(x, h0, *gru, mistake=mistake)
    with pytest.raises(TypeError):
        ch04.gru_variant(x, h0, *gru)  # no default: a mistake must be named
    with pytest.raises(ValueError, match="mistake"):
        ch04.clip_variant([torch.randn(3)], 1.0, 2.0, mistake)
    for name in ch04.GRU_MISTAKES:  # every named one still runs
        ch04.gru_variant(x, h0, *gru, mistake=name)


def test_clip_grad_norm_accepts_a_new_tensor_stored_in_grad():
    # The exercise asks that each .grad hold the clipped gradient afterwards; the grader sees values, not whether
    # the tensor was scaled in place, so assigning p.grad = p.grad * coef passes (and is what an optimizer reads).
    from llmcourse.grading import run_check

    def clip_by_assignment(parameters, max_norm, norm_type):
        parameters = [p for p in parameters if p.grad is not None]
        flat = torch.cat([p.grad.reshape(-1) for p in parameters])
        total = flat.abs().max() if norm_type == math.inf else flat.square().sum().sqrt()
        coef = (max_norm / (total + 1e-6)).clamp(max=1.0)
        for p in parameters:
            p.grad = p.grad * coef
        return total

    assert run_check("ch04.clip_grad_norm", clip_by_assignment, seed=3).passed

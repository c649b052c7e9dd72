"""llmcourse.transformer: norms equal PyTorch's, blocks equal nn.TransformerEncoderLayer and are causal where they
should be, parameter formulas equal the counted parameters, the toy task learns, bad shapes give clear errors."""

import pytest
import torch
from torch import nn

from llmcourse.config import settings
from llmcourse.device import cpu_threads
from llmcourse.training import train
from llmcourse.transformer import (
    BOS,
    EOS,
    SEP,
    VOCAB_SIZE,
    BlockStack,
    DecoderBlock,
    DecoderOnlyTransformer,
    EncoderBlock,
    FeedForward,
    LayerNorm,
    RMSNorm,
    Seq2SeqTransformer,
    ToyTask,
    attention_params,
    count_parameters,
    decoder_block_params,
    decoder_only_loss,
    decoder_only_params,
    encoder_block_params,
    exact_match,
    feedforward_params,
    gradient_norms_vs_depth,
    greedy_decode,
    layer_gradient_norms,
    norm_params,
    seq2seq_loss,
)
from llmcourse.transformer.seq2seq import DIGIT0, IGNORE

TOL = dict(atol=1e-5, rtol=1e-5)


def _leaf(x):
    return x.clone().requires_grad_(True)


@pytest.mark.parametrize("shape", [(7,), (2, 3, 7), (1, 5, 7)])
@pytest.mark.parametrize("bias", [True, False])
def test_layer_norm_equals_pytorch_values_and_gradients(shape, bias):
    torch.manual_seed(0)
    theirs = nn.LayerNorm(7, bias=bias)
    with torch.no_grad():
        theirs.weight.normal_()
        if bias:
            theirs.bias.normal_()
    mine = LayerNorm(7, bias=bias)
    mine.load_state_dict(theirs.state_dict())
    x = torch.randn(shape) * 3 + 1
    xa, xb = _leaf(x), _leaf(x)
    up = torch.randn(shape)
    (mine(xa) * up).sum().backward()
    (theirs(xb) * up).sum().backward()
    torch.testing.assert_close(mine(x), theirs(x), **TOL)
    torch.testing.assert_close(xa.grad, xb.grad, **TOL)
    torch.testing.assert_close(mine.weight.grad, theirs.weight.grad, **TOL)


def test_rms_norm_equals_pytorch():
    torch.manual_seed(0)
    theirs = nn.RMSNorm(6, eps=1e-6)
    with torch.no_grad():
        theirs.weight.normal_()
    mine = RMSNorm(6, eps=1e-6)
    mine.load_state_dict(theirs.state_dict())
    x = torch.randn(3, 4, 6)
    torch.testing.assert_close(mine(x), theirs(x), **TOL)
    assert sum(p.numel() for p in mine.parameters()) == norm_params(6, "rms")


def test_norms_normalise_each_position_on_its_own():
    x = torch.randn(4, 5, 8)
    y = LayerNorm(8)(x)
    torch.testing.assert_close(y.mean(-1), torch.zeros(4, 5), atol=1e-5, rtol=0)
    torch.testing.assert_close(y.var(-1, unbiased=False), torch.ones(4, 5), atol=1e-3, rtol=0)
    torch.testing.assert_close(LayerNorm(8)(x[:1]), y[:1])  # the rest of the batch does not matter


def test_feedforward_is_two_linears_around_gelu():
    ffn = FeedForward(6, 10)
    x = torch.randn(2, 3, 6)
    expected = ffn.proj(nn.functional.gelu(ffn.fc(x)))
    torch.testing.assert_close(ffn(x), expected)
    assert FeedForward(6).d_ff == 24
    assert count_parameters(ffn) == feedforward_params(6, 10)


@pytest.mark.parametrize("norm_first", [True, False])
def test_encoder_block_equals_torch_encoder_layer(norm_first):
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(16, 4, 40, dropout=0.0, activation="gelu", batch_first=True,
                                       norm_first=norm_first).eval()
    block = EncoderBlock(16, 4, d_ff=40, norm_first=norm_first).load_torch(layer).eval()
    x = torch.randn(3, 7, 16)
    torch.testing.assert_close(block(x), layer(x), **TOL)
    pad = torch.zeros(3, 7, dtype=torch.bool)
    pad[1, 4:] = True
    torch.testing.assert_close(block(x, pad)[~pad], layer(x, src_key_padding_mask=pad)[~pad], **TOL)
    assert count_parameters(block) == count_parameters(layer) == encoder_block_params(16, 40)


def test_load_torch_refuses_a_different_layout():
    layer = nn.TransformerEncoderLayer(16, 4, 40, batch_first=True, norm_first=True)
    with pytest.raises(ValueError, match="norm_first=False"):
        EncoderBlock(16, 4, d_ff=40, norm_first=False).load_torch(layer)
    with pytest.raises(ValueError, match="sizes differ"):
        EncoderBlock(16, 4, d_ff=32).load_torch(layer)


@pytest.mark.parametrize("norm_first", [True, False])
@pytest.mark.parametrize("cross", [False, True])
def test_decoder_block_is_causal_and_encoder_block_is_not(norm_first, cross):
    torch.manual_seed(0)
    dec = DecoderBlock(16, 4, cross=cross, norm_first=norm_first).eval()
    memory = torch.randn(2, 5, 16) if cross else None
    x = torch.randn(2, 6, 16)
    changed = x.clone()
    changed[:, 4] = torch.randn(2, 16)  # a future token for positions 0..3 (not a shift: LayerNorm removes those)
    y, y2 = dec(x, memory), dec(changed, memory)
    torch.testing.assert_close(y[:, :4], y2[:, :4])
    assert float((y[:, 4:] - y2[:, 4:]).abs().max().detach()) > 1e-3
    enc = EncoderBlock(16, 4, norm_first=norm_first).eval()
    assert float((enc(x)[:, :4] - enc(changed)[:, :4]).abs().max().detach()) > 1e-3  # bidirectional: all see position 4


def test_cross_attention_ignores_padded_memory_and_returns_weights():
    torch.manual_seed(0)
    dec = DecoderBlock(16, 4, cross=True).eval()
    x, memory = torch.randn(2, 3, 16), torch.randn(2, 5, 16)
    pad = torch.tensor([[False] * 5, [False, False, False, True, True]])
    other = memory.clone()
    other[1, 3:] = torch.randn(2, 16) * 10
    torch.testing.assert_close(dec(x, memory, memory_padding_mask=pad), dec(x, other, memory_padding_mask=pad))
    y, weights = dec(x, memory, memory_padding_mask=pad, need_weights=True)
    assert weights.shape == (2, 4, 3, 5)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 4, 3))
    assert float(weights[1, :, :, 3:].detach().abs().max()) == 0.0
    torch.testing.assert_close(y, dec(x, memory, memory_padding_mask=pad))  # both attention paths agree


def test_decoder_only_model_is_causal():
    torch.manual_seed(0)
    model = DecoderOnlyTransformer(VOCAB_SIZE, 16, 2, 2, 12).eval()
    ids = torch.randint(0, VOCAB_SIZE, (2, 10))
    other = ids.clone()
    other[:, 7:] = (other[:, 7:] + 1) % VOCAB_SIZE
    torch.testing.assert_close(model(ids)[:, :7], model(other)[:, :7])


@pytest.mark.parametrize("residual", [True, False])
@pytest.mark.parametrize("norm_first", [True, False])
def test_block_counts_equal_their_formulas(residual, norm_first):
    for n_embd, d_ff in ((8, None), (12, 20)):
        enc = EncoderBlock(n_embd, 4, d_ff=d_ff, norm_first=norm_first, residual=residual)
        assert count_parameters(enc) == encoder_block_params(n_embd, d_ff)
        for cross in (False, True):
            dec = DecoderBlock(n_embd, 2, d_ff=d_ff, cross=cross)
            assert count_parameters(dec) == decoder_block_params(n_embd, d_ff, cross=cross)
    assert count_parameters(EncoderBlock(8, 2, norm="rms")) == encoder_block_params(8, norm="rms")
    assert count_parameters(dec.attn) == attention_params(12)
    assert count_parameters(dec.cross_attn) == attention_params(12)


@pytest.mark.parametrize("tie", [True, False])
@pytest.mark.parametrize("norm_first", [True, False])
def test_decoder_only_count_equals_its_formula(tie, norm_first):
    model = DecoderOnlyTransformer(50, 16, 4, 3, 20, d_ff=40, norm_first=norm_first, tie_embeddings=tie)
    assert count_parameters(model) == decoder_only_params(50, 16, 3, 20, 40, norm_first=norm_first,
                                                          tie_embeddings=tie)


@pytest.mark.parametrize("residual", [True, False])
@pytest.mark.parametrize("norm", ["layer", "none"])
@pytest.mark.parametrize("ffn", [True, False])
def test_parts_switched_off_one_at_a_time(residual, norm, ffn):
    """Chapter 6's climb and ablations: a block without its residuals, norms or FFN, counted and wired as said."""
    torch.manual_seed(0)
    block = DecoderBlock(16, 4, residual=residual, norm=norm, ffn=ffn).eval()
    assert count_parameters(block) == decoder_block_params(16, norm=norm, ffn=ffn)
    x = torch.randn(2, 5, 16)
    h = block.attn(x if norm == "none" else block.ln_attn(x), causal=True)
    h = x + h if residual else h
    if ffn:
        f = block.ffn(h if norm == "none" else block.ln_ffn(h))
        h = h + f if residual else f
    else:
        assert block.ffn is None and block.ln_ffn is None
    torch.testing.assert_close(block(x), h)
    model = DecoderOnlyTransformer(30, 16, 4, 2, 8, residual=residual, norm=norm, ffn=ffn)
    assert count_parameters(model) == decoder_only_params(30, 16, 2, 8, norm=norm, ffn=ffn)
    assert isinstance(model.ln_f, nn.Identity) == (norm == "none")


def test_the_heads_do_not_change_the_count():
    assert count_parameters(DecoderBlock(32, 1)) == count_parameters(DecoderBlock(32, 8))


def test_toy_task_tensors():
    task = ToyTask("reverse", 2, 4)
    gen = torch.Generator().manual_seed(0)
    pairs = task.examples(5, gen)
    assert all(a == q[::-1] and 2 <= len(q) <= 4 for q, a in pairs)
    assert all(a == sorted(q) for q, a in ToyTask("sort").examples(5, gen))
    src, pad, tgt_in, tgt_out = task.seq2seq_batch(6, gen)
    assert src.shape == pad.shape and tgt_in.shape == tgt_out.shape and src.size(0) == 6
    assert bool((tgt_in[:, 0] == BOS).all())
    lengths = (~pad).sum(1)
    for row in range(6):
        n = int(lengths[row])
        assert tgt_out[row, n] == EOS and bool((tgt_out[row, n + 1:] == IGNORE).all())
        assert tgt_out[row, :n].tolist() == src[row, :n].flip(0).tolist()
        assert tgt_in[row, 1:n + 1].tolist() == tgt_out[row, :n].tolist()  # shifted by one
    ids, targets = task.decoder_only_batch(6, gen)
    assert ids.shape == targets.shape
    for row in range(6):
        sep = ids[row].tolist().index(SEP)
        assert bool((targets[row, :sep] == IGNORE).all())  # the question is not scored
        assert targets[row, sep] >= DIGIT0  # the first answer digit is predicted from SEP


@pytest.mark.parametrize("kind", ["seq2seq", "decoder-only"])
def test_toy_task_learns_in_the_ci_profile(kind):
    cfg = settings("ch06", "ci")
    task = ToyTask(cfg.toy_kind, cfg.min_len, cfg.max_len)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    if kind == "seq2seq":
        model = Seq2SeqTransformer(VOCAB_SIZE, cfg.n_embd, cfg.n_head, cfg.n_enc_layer, cfg.n_dec_layer,
                                   task.max_len + 1)
        get, loss = (lambda _: task.seq2seq_batch(cfg.batch_size, gen)), seq2seq_loss
    else:
        model = DecoderOnlyTransformer(VOCAB_SIZE, cfg.n_embd, cfg.n_head, cfg.dec_only_layer, task.block_size)
        get, loss = (lambda _: task.decoder_only_batch(cfg.batch_size, gen)), decoder_only_loss
    with cpu_threads(1):  # small models: one thread is as fast, and does not fight a busy CPU
        history = train(model, get, loss, torch.optim.AdamW(model.parameters(), cfg.lr), cfg.toy_steps,
                        progress=False)
    first, last = sum(history.train[:5]) / 5, sum(history.train[-5:]) / 5
    assert last < 0.8 * first, (kind, first, last)
    assert 0.0 <= exact_match(model, task, 20, torch.Generator().manual_seed(2)) <= 1.0


def test_greedy_decode_stops_at_eos_and_answers_every_question():
    torch.manual_seed(0)
    model = Seq2SeqTransformer(VOCAB_SIZE, 16, 2, 1, 1, 10)
    with torch.no_grad():  # a model that always says EOS: empty answers
        model.lm_head.weight = nn.Parameter(torch.zeros(VOCAB_SIZE, 16))
        model.dec_ln.bias[:] = 0
    model.lm_head.bias = nn.Parameter(torch.zeros(VOCAB_SIZE))
    with torch.no_grad():
        model.lm_head.bias[EOS] = 1.0
    assert greedy_decode(model, [[1, 2], [3, 4, 5]], 5) == [[], []]
    decoder_only = DecoderOnlyTransformer(VOCAB_SIZE, 16, 2, 1, 10)
    answers = greedy_decode(decoder_only, [[1], [2, 3], [4]], 3)
    assert len(answers) == 3 and all(len(a) <= 3 for a in answers)


def test_gradient_flow_sweep():
    result = gradient_norms_vs_depth([2, 6], n_embd=16, n_head=2, batch=2, seq_len=6, seeds=1)
    assert set(result) == {"no residual", "post-LN", "pre-LN"}
    for curves in result.values():
        assert len(curves["norm"]) == len(curves["similarity"]) == 2
        assert all(n > 0 for n in curves["norm"])
    # without skips every position is told (nearly) the same thing; with them, each its own
    assert result["no residual"]["similarity"][1] > 0.5 > result["pre-LN"]["similarity"][1]
    assert len(layer_gradient_norms("post-LN", 3, n_embd=16, n_head=2, batch=2, seq_len=6)) == 3


def test_clear_errors_on_bad_input():
    with pytest.raises(ValueError, match=r"\(2, 3, 5\)"):
        LayerNorm(8)(torch.randn(2, 3, 5))
    with pytest.raises(ValueError, match="RMSNorm"):
        RMSNorm(8)(torch.randn(4))
    with pytest.raises(ValueError, match=r"\(B, T, 8\)"):
        EncoderBlock(8, 2)(torch.randn(3, 8))
    with pytest.raises(ValueError, match="memory"):
        DecoderBlock(8, 2, cross=True)(torch.randn(1, 3, 8))
    with pytest.raises(ValueError, match="no cross-attention"):
        DecoderBlock(8, 2)(torch.randn(1, 3, 8), torch.randn(1, 2, 8))
    with pytest.raises(ValueError, match="FeedForward"):
        FeedForward(8)(torch.randn(2, 7))
    model = Seq2SeqTransformer(VOCAB_SIZE, 8, 2, 1, 1, 6)
    with pytest.raises(ValueError, match="batch size"):
        model(torch.zeros(2, 3, dtype=torch.long), torch.zeros(3, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="block_size=6"):
        model.encode(torch.zeros(1, 7, dtype=torch.long))
    with pytest.raises(ValueError, match="int64"):
        model.encode(torch.zeros(1, 3))
    with pytest.raises(ValueError, match="kind"):
        ToyTask("copy")
    with pytest.raises(ValueError, match="kind"):
        BlockStack(2, 8, 2, kind="both")
    with pytest.raises(ValueError, match="norm"):
        EncoderBlock(8, 2, norm="batch")

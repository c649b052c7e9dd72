"""llmcourse.attention: equal to PyTorch's SDPA and nn.MultiheadAttention, masks, positions, tiles, windows, errors."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from llmcourse.attention import (
    LearnedPositions,
    MultiHeadAttention,
    RotaryEmbedding,
    SinusoidalPositions,
    TokenAndPositionEmbedding,
    TokenWindows,
    attention,
    causal_mask,
    online_softmax,
    padding_mask,
    peak_cpu_memory,
    tiled_attention,
)
from llmcourse.attention.explorer import attention_figure, explorer

TOL = dict(atol=1e-5, rtol=1e-5)


def _qkv(gen, b=2, h=3, tq=5, tk=7, d=8, dv=6):
    return (torch.randn(b, h, tq, d, generator=gen), torch.randn(b, h, tk, d, generator=gen),
            torch.randn(b, h, tk, dv, generator=gen))


@pytest.mark.parametrize("tq, tk", [(5, 5), (4, 9), (1, 3), (6, 2)])
def test_attention_equals_sdpa_without_mask_and_causal(tq, tk):
    gen = torch.Generator().manual_seed(tq * 10 + tk)
    q, k, v = _qkv(gen, tq=tq, tk=tk)
    out, weights = attention(q, k, v)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v), **TOL)
    torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:-1]), **TOL)
    out, weights = attention(q, k, v, causal=True)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, is_causal=True), **TOL)
    assert not weights.masked_select(~causal_mask(tq, tk)).any()


def test_attention_equals_sdpa_with_padding_mask_and_gradients_agree():
    gen = torch.Generator().manual_seed(0)
    q, k, v = (t.requires_grad_() for t in _qkv(gen, b=3, tq=7, tk=7))
    mask = padding_mask(torch.tensor([7, 3, 1]), 7)  # (3, 1, 1, 7)
    assert mask.shape == (3, 1, 1, 7) and mask.dtype == torch.bool
    for causal in (False, True):
        ours, weights = attention(q, k, v, mask=mask, causal=causal)
        full = mask & causal_mask(7) if causal else mask
        ref = F.scaled_dot_product_attention(q, k, v, attn_mask=full)
        torch.testing.assert_close(ours, ref, **TOL)
        assert weights[1, :, :, 3:].abs().max() == 0  # padding keys get no weight
        g_ours = torch.autograd.grad(ours.square().sum(), (q, k, v))
        g_ref = torch.autograd.grad(ref.square().sum(), (q, k, v))
        for a, b in zip(g_ours, g_ref, strict=True):
            torch.testing.assert_close(a, b, **TOL)


TORCH_SAFE_SOFTMAX = tuple(int(p) for p in torch.__version__.split("+")[0].split(".")[:2]) >= (2, 5)


def test_fully_masked_rows_give_zeros_not_nan():
    gen = torch.Generator().manual_seed(1)
    q, k, v = (t.requires_grad_() for t in _qkv(gen, b=1, h=1, tq=3, tk=4))
    mask = torch.ones(3, 4, dtype=torch.bool)
    mask[1] = False
    out, weights = attention(q, k, v, mask=mask)
    assert out[0, 0, 1].abs().max() == 0 and weights[0, 0, 1].abs().max() == 0
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    torch.testing.assert_close(out[:, :, [0, 2]], ref[:, :, [0, 2]], **TOL)  # the rows that see a key
    out.sum().backward()
    assert all(torch.isfinite(t.grad).all() for t in (q, k, v))


@pytest.mark.skipif(not TORCH_SAFE_SOFTMAX, reason="SDPA gives NaN for a fully masked row before PyTorch 2.5")
def test_sdpa_itself_gives_zeros_for_fully_masked_rows_since_torch_2_5():
    gen = torch.Generator().manual_seed(1)
    q, k, v = _qkv(gen, b=1, h=1, tq=3, tk=4)
    mask = torch.ones(3, 4, dtype=torch.bool)
    mask[1] = False
    ours, _ = attention(q, k, v, mask=mask)
    torch.testing.assert_close(ours, F.scaled_dot_product_attention(q, k, v, attn_mask=mask))


def _sdpa_before_2_5(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False):
    """SDPA as PyTorch < 2.5 computes it: a plain softmax, so a row with no key gives NaN."""
    scores = q @ k.transpose(-2, -1) / q.size(-1) ** 0.5
    if is_causal:
        scores = scores.masked_fill(~causal_mask(q.size(-2), k.size(-2)), float("-inf"))
    if attn_mask is not None:
        scores = scores.masked_fill(~attn_mask, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


@pytest.mark.parametrize("old_torch", [False, True])
def test_multihead_sdpa_path_gives_zeros_for_a_sequence_of_padding_only(monkeypatch, old_torch):
    """A sequence whose every key is padding: zeros and finite gradients on both paths, on any PyTorch version."""
    if old_torch:
        monkeypatch.setattr(F, "scaled_dot_product_attention", _sdpa_before_2_5)
    gen = torch.Generator().manual_seed(4)
    mha = MultiHeadAttention(8, 2).eval()
    x = torch.randn(3, 5, 8, generator=gen, requires_grad=True)
    pad = torch.zeros(3, 5, dtype=torch.bool)
    pad[1] = True  # sequence 1: padding only
    pad[2, :2] = True  # sequence 2: padded on the left, so its first two queries see no key under the causal mask
    for causal in (False, True):
        y = mha(x, causal=causal, key_padding_mask=pad)  # the SDPA path
        y_weights, w = mha(x, causal=causal, key_padding_mask=pad, need_weights=True)  # our attention
        torch.testing.assert_close(y, y_weights, **TOL)
        blind = (pad[:, None, :] | ~causal_mask(5)).all(-1) if causal else pad.all(-1, keepdim=True).expand(3, 5)
        assert blind[2, :2].all() == causal and blind[1].all()
        bias_only = mha.out_proj.bias.expand(3, 5, 8)  # a zero attention output leaves the output projection's bias
        torch.testing.assert_close(y[blind], bias_only[blind])
        assert w.sum(-1)[blind[:, None].expand_as(w.sum(-1))].abs().max() == 0
        (grad,) = torch.autograd.grad(y.square().sum(), x)
        assert torch.isfinite(grad).all()


def test_masks_shapes_and_offsets():
    m = causal_mask(3)
    assert m.tolist() == [[True, False, False], [True, True, False], [True, True, True]]
    assert causal_mask(2, 4, offset=2).tolist() == [[True, True, True, False], [True, True, True, True]]
    assert padding_mask([2, 0], 3)[:, 0, 0].tolist() == [[True, True, False], [False, False, False]]


def test_attention_errors_name_the_shapes():
    q = torch.randn(2, 5, 8)
    with pytest.raises(ValueError, match=r"\(2, 5, 8\)"):
        attention(q, torch.randn(2, 5, 7), torch.randn(2, 5, 8))
    with pytest.raises(ValueError, match="same Tk"):
        attention(q, torch.randn(2, 5, 8), torch.randn(2, 4, 8))
    with pytest.raises(ValueError, match="boolean"):
        attention(q, q, q, mask=torch.ones(5, 5))
    with pytest.raises(ValueError, match="does not broadcast"):
        attention(q, q, q, mask=torch.ones(4, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="1-d"):
        padding_mask(torch.ones(2, 2, dtype=torch.long), 3)
    with pytest.raises(ValueError, match="0..3"):
        padding_mask([4], 3)


def test_attention_alone_is_permutation_equivariant():
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(1, 6, 16, generator=gen)
    mha = MultiHeadAttention(16, 4).eval()
    perm = torch.randperm(6, generator=gen)
    torch.testing.assert_close(mha(x)[:, perm], mha(x[:, perm]), **TOL)
    # with positions added the permuted sentence is a different input: equivariance breaks
    pos = SinusoidalPositions(6, 16)
    assert not torch.allclose(mha(pos(x))[:, perm], mha(pos(x[:, perm])), atol=1e-3)


def _torch_mha(n_embd, n_head, gen_seed, kdim=None, bias=True):
    torch.manual_seed(gen_seed)
    ref = nn.MultiheadAttention(n_embd, n_head, batch_first=True, kdim=kdim, vdim=kdim, bias=bias).eval()
    with torch.no_grad():  # biases start at zero in PyTorch; make them count
        for p in ref.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return ref, MultiHeadAttention(n_embd, n_head, kdim=kdim, bias=bias).load_torch(ref).eval()


@pytest.mark.parametrize("n_embd, n_head, b, t", [(16, 4, 2, 5), (12, 3, 1, 7), (8, 1, 3, 4)])
@pytest.mark.parametrize("causal", [False, True])
def test_self_attention_equals_nn_multiheadattention(n_embd, n_head, b, t, causal):
    ref, ours = _torch_mha(n_embd, n_head, n_embd + t)
    x = torch.randn(b, t, n_embd)
    pad = torch.zeros(b, t, dtype=torch.bool)
    pad[0, t - 2:] = True  # the first sequence ends in two padding tokens
    blocked = ~causal_mask(t) if causal else None  # nn.MultiheadAttention's attn_mask: True = blocked
    y_ref, w_ref = ref(x, x, x, attn_mask=blocked, key_padding_mask=pad, average_attn_weights=False)
    y, w = ours(x, causal=causal, key_padding_mask=pad, need_weights=True)
    torch.testing.assert_close(y, y_ref, **TOL)
    torch.testing.assert_close(w, w_ref, **TOL)
    torch.testing.assert_close(ours(x, causal=causal, key_padding_mask=pad), y_ref, **TOL)  # the SDPA path


@pytest.mark.parametrize("bias", [True, False])
def test_cross_attention_with_kdim_equals_nn_multiheadattention(bias):
    ref, ours = _torch_mha(16, 2, 3, kdim=10, bias=bias)
    x, context = torch.randn(2, 5, 16), torch.randn(2, 9, 10)
    pad = torch.zeros(2, 9, dtype=torch.bool)
    pad[1, 4:] = True
    y_ref, w_ref = ref(x, context, context, key_padding_mask=pad, average_attn_weights=False)
    y, w = ours(x, context, key_padding_mask=pad, need_weights=True)
    assert w.shape == (2, 2, 5, 9)
    torch.testing.assert_close(y, y_ref, **TOL)
    torch.testing.assert_close(w, w_ref, **TOL)
    torch.testing.assert_close(ours(x, context, key_padding_mask=pad), y_ref, **TOL)


def test_multihead_errors_and_training_dropout():
    with pytest.raises(ValueError, match="multiple"):
        MultiHeadAttention(10, 3)
    mha = MultiHeadAttention(8, 2, kdim=4)
    with pytest.raises(ValueError, match=r"\(2, S, 4\)"):
        mha(torch.randn(2, 3, 8), torch.randn(2, 3, 8))
    with pytest.raises(ValueError, match=r"\(B, T, 8\)"):
        mha(torch.randn(3, 8))
    with pytest.raises(ValueError, match="True = padding"):
        mha(torch.randn(2, 3, 8), torch.randn(2, 5, 4), key_padding_mask=torch.zeros(2, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="sizes differ"):
        MultiHeadAttention(8, 2).load_torch(nn.MultiheadAttention(8, 4, batch_first=True))
    drop = MultiHeadAttention(8, 2, dropout=0.5)
    x = torch.randn(2, 6, 8)
    assert not torch.allclose(drop(x), drop(x))  # training: dropout on
    drop.eval()
    torch.testing.assert_close(drop(x), drop(x))


def test_rope_scores_depend_only_on_the_offset():
    gen = torch.Generator().manual_seed(3)
    rope = RotaryEmbedding(8, 64)
    q, k = torch.randn(1, 1, 1, 8, generator=gen), torch.randn(1, 1, 1, 8, generator=gen)
    def score(m, n):
        return (rope(q, start=m) * rope(k, start=n)).sum()
    for m, n in [(5, 2), (40, 37), (3, 0)]:
        torch.testing.assert_close(score(m, n), score(3, 0), **TOL)
    assert not torch.allclose(score(5, 2), score(5, 1))
    torch.testing.assert_close(rope(q).norm(), q.norm(), **TOL)  # a rotation keeps lengths
    x = torch.randn(2, 3, 10, 8, generator=gen)
    torch.testing.assert_close(rope(x)[:, :, 4:], rope(x[:, :, 4:], start=4), **TOL)
    with pytest.raises(ValueError, match="even"):
        RotaryEmbedding(7, 8)
    with pytest.raises(ValueError, match="block_size"):
        rope(torch.randn(1, 1, 65, 8))


def test_position_tables():
    sin = SinusoidalPositions(16, 8)
    assert sin(16).shape == (16, 8) and not list(sin.parameters())
    torch.testing.assert_close(sin(3)[0], torch.tensor([0.0, 1.0] * 4))
    learned = LearnedPositions(16, 8)
    x = torch.randn(2, 5, 8)
    torch.testing.assert_close(learned(x), x + learned.weight[:5])
    torch.testing.assert_close(learned(x, start=3), x + learned.weight[3:8])
    with pytest.raises(ValueError, match="block_size"):
        learned(17)
    with pytest.raises(ValueError, match=r"\(B, T, 8\)"):
        sin(torch.randn(2, 5, 4))


def test_token_windows_shift_by_one_and_batch():
    ids = list(range(20))
    ds = TokenWindows(ids, block_size=4)
    assert len(ds) == 4  # starts 0, 4, 8, 12; 16 would need ids up to 20
    x, y = ds[1]
    assert x.tolist() == [4, 5, 6, 7] and y.tolist() == [5, 6, 7, 8]
    assert len(TokenWindows(ids, 4, stride=1)) == 16 and ds[-1][0].tolist() == [12, 13, 14, 15]
    xb, yb = next(iter(DataLoader(ds, batch_size=3)))
    assert xb.shape == yb.shape == (3, 4) and xb.dtype == torch.long
    torch.testing.assert_close(xb[:, 1:], yb[:, :-1])
    with pytest.raises(ValueError, match="too few"):
        TokenWindows([1, 2, 3], 3)
    with pytest.raises(IndexError):
        ds[4]


@pytest.mark.parametrize("positions", ["learned", "sinusoidal", "none"])
def test_token_and_position_embedding(positions):
    emb = TokenAndPositionEmbedding(50, 8, 6, positions=positions)
    idx = torch.randint(0, 50, (2, 5))
    out = emb(idx)
    assert out.shape == (2, 5, 6)
    if positions == "none":
        torch.testing.assert_close(out, emb.tok_emb(idx))
    else:
        same = torch.full((1, 2), 7)
        assert not torch.allclose(emb(same)[0, 0], emb(same)[0, 1])  # one token, two positions, two vectors
    with pytest.raises(ValueError, match="block_size"):
        emb(torch.zeros(1, 9, dtype=torch.long))
    with pytest.raises(ValueError, match="positions"):
        TokenAndPositionEmbedding(5, 4, 4, positions="rotary")


@pytest.mark.parametrize("tq, tk, bq, bk", [(37, 37, 8, 8), (20, 53, 16, 5), (9, 9, 64, 64), (1, 12, 1, 3)])
@pytest.mark.parametrize("causal", [False, True])
def test_tiled_attention_equals_the_naive_one(tq, tk, bq, bk, causal):
    gen = torch.Generator().manual_seed(tq + tk)
    q, k, v = _qkv(gen, b=2, h=2, tq=tq, tk=tk, d=16, dv=4)
    q = 4 * q  # large scores: the running max has to do its job
    torch.testing.assert_close(tiled_attention(q, k, v, causal=causal, block_q=bq, block_k=bk),
                               attention(q, k, v, causal=causal)[0], **TOL)
    scores = torch.randn(3, 41, generator=gen) * 30
    torch.testing.assert_close(online_softmax(scores, bk), torch.softmax(scores, -1), **TOL)
    with pytest.raises(ValueError, match="block sizes"):
        tiled_attention(q, k, v, block_q=0)


def test_tiled_attention_allocates_far_less_than_the_naive_one():
    q = k = v = torch.randn(1, 2, 512, 32)
    with torch.no_grad():
        naive, _ = peak_cpu_memory(lambda: attention(q, k, v)[0])
        tiled, _ = peak_cpu_memory(lambda: tiled_attention(q, k, v, block_q=64, block_k=64))
    scores = 2 * 512 * 512 * 4  # one (B, H, T, T) float32 matrix
    assert naive >= scores and tiled < scores / 4, (naive, tiled)


def test_explorer_figure_and_widget():
    import matplotlib

    matplotlib.use("Agg")
    tokens = ["The", " cat", " sat", "."]
    weights = torch.softmax(torch.randn(2, 4, 4), -1)
    fig = attention_figure(tokens, weights, head=1, query=2)
    assert len(fig.axes) == 2
    assert explorer(tokens, weights).children[0].max == 1  # the head slider
    with pytest.raises(ValueError, match=r"\(n_head, T, T\) with T = 4"):
        attention_figure(tokens, weights[:, :3])

"""Plausible wrong answers to chapter 6's exercises, each with a phrase the grader's message must contain."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from . import WrongAnswer

# --- layer_norm_backward -----------------------------------------------------------------------


def _stats(x, eps, unbiased=False, outside=False):
    mean = x.mean(-1, keepdim=True)
    var = x.var(-1, keepdim=True, unbiased=unbiased)
    std = var.sqrt() + eps if outside else (var + eps).sqrt()
    return (x - mean) / std, std


def _per_feature(t):
    return t.reshape(-1, t.shape[-1]).sum(0)


def _ln_grads(grad_out, x, weight, eps, unbiased=False, outside=False):
    x_hat, std = _stats(x, eps, unbiased, outside)
    g = grad_out * weight
    dx = (g - g.mean(-1, keepdim=True) - x_hat * (g * x_hat).mean(-1, keepdim=True)) / std
    return dx, _per_feature(grad_out * x_hat), _per_feature(grad_out)


def ln_constant_stats(grad_out, x, weight, eps):
    x_hat, std = _stats(x, eps)
    return grad_out * weight / std, _per_feature(grad_out * x_hat), _per_feature(grad_out)


def ln_float32_accumulators(grad_out, x, weight, eps):
    dx, _, _ = _ln_grads(grad_out, x, weight, eps)
    x_hat, _ = _stats(x, eps)
    d_weight, d_bias = torch.zeros(x.shape[-1]), torch.zeros(x.shape[-1])  # float32 whatever x's dtype
    for g, xh in zip(grad_out.reshape(-1, x.shape[-1]), x_hat.reshape(-1, x.shape[-1])):  # position by position
        d_weight += g * xh
        d_bias += g
    return dx, d_weight, d_bias


def ln_mean_path_only(grad_out, x, weight, eps):
    x_hat, std = _stats(x, eps)
    g = grad_out * weight
    return (g - g.mean(-1, keepdim=True)) / std, _per_feature(grad_out * x_hat), _per_feature(grad_out)


def ln_unbiased(grad_out, x, weight, eps):  # the right backward of a forward that divides by C - 1
    x_hat, std = _stats(x, eps, unbiased=True)
    c = x.shape[-1]
    g = grad_out * weight
    dx = (g - g.mean(-1, keepdim=True) - x_hat * (g * x_hat).sum(-1, keepdim=True) / (c - 1)) / std
    return dx, _per_feature(grad_out * x_hat), _per_feature(grad_out)


def ln_eps_outside(grad_out, x, weight, eps):
    mean = x.mean(-1, keepdim=True)
    sigma = x.var(-1, keepdim=True, unbiased=False).sqrt()
    std = sigma + eps
    x_hat = (x - mean) / std
    g = grad_out * weight
    c = x.shape[-1]
    # d/dx of (x - mu) / (sigma + eps): the mean path, and sigma's path d sigma/dx = (x - mu) / (C sigma)
    dx = (g - g.mean(-1, keepdim=True)) / std - (x - mean) * (g * (x - mean)).sum(-1, keepdim=True) / (
        c * sigma * std**2)
    return dx, _per_feature(grad_out * x_hat), _per_feature(grad_out)


def ln_averages_gamma(grad_out, x, weight, eps):
    dx, _, _ = _ln_grads(grad_out, x, weight, eps)
    x_hat, _ = _stats(x, eps)
    c = x.shape[-1]
    return dx, (grad_out * x_hat).reshape(-1, c).mean(0), grad_out.reshape(-1, c).mean(0)


def ln_gamma_without_x_hat(grad_out, x, weight, eps):
    dx, _, dbias = _ln_grads(grad_out, x, weight, eps)
    return dx, _per_feature(grad_out), dbias


def ln_sums_over_empty_dims(grad_out, x, weight, eps):
    dx, _, _ = _ln_grads(grad_out, x, weight, eps)
    x_hat, _ = _stats(x, eps)
    rows = tuple(range(x.dim() - 1))  # () for one vector: .sum(()) then reduces everything
    return dx, (grad_out * x_hat).sum(rows), grad_out.sum(rows)


def ln_uses_autograd(grad_out, x, weight, eps):  # the forward by hand, the backward by autograd
    x, weight = x.detach().requires_grad_(True), weight.detach().requires_grad_(True)
    bias = torch.zeros_like(weight, requires_grad=True)
    with torch.enable_grad():
        x_hat, _ = _stats(x, eps)
        y = x_hat * weight + bias
        return torch.autograd.grad(y, (x, weight, bias), grad_out)


def ln_scales_grad_out_in_place(grad_out, x, weight, eps):
    x_hat, std = _stats(x, eps)
    dweight, dbias = _per_feature(grad_out * x_hat), _per_feature(grad_out)
    grad_out *= weight  # changes the caller's tensor
    g = grad_out
    return (g - g.mean(-1, keepdim=True) - x_hat * (g * x_hat).mean(-1, keepdim=True)) / std, dweight, dbias


def ln_over_batch(grad_out, x, weight, eps):
    rows = tuple(range(x.dim() - 1)) or (-1,)
    mean = x.mean(rows, keepdim=True)
    var = x.var(rows, keepdim=True, unbiased=False)
    std = (var + eps).sqrt()
    x_hat = (x - mean) / std
    g = grad_out * weight
    dx = (g - g.mean(rows, keepdim=True) - x_hat * (g * x_hat).mean(rows, keepdim=True)) / std
    return dx, _per_feature(grad_out * x_hat), _per_feature(grad_out)


def ln_native_backward(grad_out, x, weight, eps):  # PyTorch's own backward kernel, called directly
    c = x.shape[-1]
    mean = x.mean(-1, keepdim=True)
    rstd = 1 / (x.var(-1, keepdim=True, unbiased=False) + eps).sqrt()
    return torch.ops.aten.native_layer_norm_backward(grad_out, x, [c], mean, rstd, weight, torch.zeros_like(weight),
                                                     [True, True, True])


def ln_grad_fn_of_layer_norm(grad_out, x, weight, eps):  # the backward node of F.layer_norm, called by hand
    with torch.enable_grad():
        leaves = [x.detach().requires_grad_(), weight.detach().requires_grad_(),
                  torch.zeros_like(weight, requires_grad=True)]
        y = F.layer_norm(leaves[0], (x.shape[-1],), leaves[1], leaves[2], eps)
        return y.grad_fn(grad_out)


def ln_group_norm_grad_fn(grad_out, x, weight, eps):  # group norm with one group is layer norm on (N, C)
    c = x.shape[-1]
    with torch.enable_grad():
        flat = x.detach().reshape(-1, c).requires_grad_()
        y = F.group_norm(flat, 1, eps=eps)
        dx = y.grad_fn((grad_out * weight).reshape(-1, c))[0]
    x_hat = y.detach().reshape(x.shape)
    return dx.reshape(x.shape), _per_feature(grad_out * x_hat), _per_feature(grad_out)


def ln_one_pass_variance(grad_out, x, weight, eps):  # var = E[x^2] - E[x]^2: fine near 0, nothing left near 3000
    mean = x.mean(-1, keepdim=True)
    var = (x * x).mean(-1, keepdim=True) - mean * mean
    std = (var + eps).sqrt()
    x_hat = (x - mean) / std
    g = grad_out * weight
    dx = (g - g.mean(-1, keepdim=True) - x_hat * (g * x_hat).mean(-1, keepdim=True)) / std
    return dx, _per_feature(grad_out * x_hat), _per_feature(grad_out)


def ln_float32_result(grad_out, x, weight, eps):  # works in float32 "for stability", never casts back
    if x.dtype == torch.float64:
        return _ln_grads(grad_out, x, weight, eps)
    return _ln_grads(grad_out.float(), x.float(), weight.float(), eps)


# --- swiglu_width ------------------------------------------------------------------------------


def width_gelu(n_embd, multiple_of):
    return 4 * n_embd


def width_round_down(n_embd, multiple_of):
    return multiple_of * (int(8 * n_embd / 3) // multiple_of)


def width_nearest(n_embd, multiple_of):
    return multiple_of * round(int(8 * n_embd / 3) / multiple_of)


def width_ceil_first(n_embd, multiple_of):
    hidden = math.ceil(8 * n_embd / 3)
    return multiple_of * ((hidden + multiple_of - 1) // multiple_of)


def width_float(n_embd, multiple_of):
    hidden = int(2 * 4 * n_embd / 3)
    return float(multiple_of * math.ceil(hidden / multiple_of))


# --- swiglu_ffn --------------------------------------------------------------------------------


def swiglu_silu_on_up(x, w_gate, w_up, w_down):
    return ((x @ w_gate.T) * F.silu(x @ w_up.T)) @ w_down.T


def swiglu_gelu(x, w_gate, w_up, w_down):
    return (F.gelu(x @ w_gate.T) * (x @ w_up.T)) @ w_down.T


def swiglu_sigmoid(x, w_gate, w_up, w_down):
    return (torch.sigmoid(x @ w_gate.T) * (x @ w_up.T)) @ w_down.T


def swiglu_no_transpose(x, w_gate, w_up, w_down):
    return (F.silu(x @ w_gate) * (x @ w_up)) @ w_down


def swiglu_detached(x, w_gate, w_up, w_down):
    gate = F.silu(x @ w_gate.T).detach()
    return (gate * (x @ w_up.T)) @ w_down.T


def swiglu_float64(x, w_gate, w_up, w_down):
    x, w_gate, w_up, w_down = (t.double() for t in (x, w_gate, w_up, w_down))
    return (F.silu(x @ w_gate.T) * (x @ w_up.T)) @ w_down.T


def swiglu_exp_silu(x, w_gate, w_up, w_down):  # SiLU as z e^z / (1 + e^z): e^z overflows for z > 88 in float32
    z = x @ w_gate.T
    return (z * torch.exp(z) / (1 + torch.exp(z)) * (x @ w_up.T)) @ w_down.T


def swiglu_exp_minus_silu(x, w_gate, w_up, w_down):  # z / (1 + e^-z): right values, NaN gradients for z < -88
    z = x @ w_gate.T
    return (z / (1 + torch.exp(-z)) * (x @ w_up.T)) @ w_down.T


def swiglu_float32_result(x, w_gate, w_up, w_down):  # upcasts half inputs and never casts back
    if x.dtype in (torch.float16, torch.bfloat16):
        x, w_gate, w_up, w_down = (t.float() for t in (x, w_gate, w_up, w_down))
    return (F.silu(x @ w_gate.T) * (x @ w_up.T)) @ w_down.T


# --- encoder_decoder_params --------------------------------------------------------------------


def _sizes(n_embd, n_head, n_kv_head):
    return n_embd, n_kv_head * (n_embd // n_head)


def count_package_model(src_vocab_size, tgt_vocab_size, n_embd, n_head, n_kv_head, n_enc_layer, n_dec_layer, d_ff):
    """The package's Seq2SeqTransformer, the closest it builds, counted on the meta device."""
    from llmcourse.transformer import Seq2SeqTransformer

    with torch.device("meta"):
        model = Seq2SeqTransformer(tgt_vocab_size, n_embd, n_head, n_enc_layer, n_dec_layer, 1, d_ff=d_ff,
                                   tie_embeddings=False)
    return sum(p.numel() for p in model.parameters())


def count_meta_model(src_vocab_size, tgt_vocab_size, n_embd, n_head, n_kv_head, n_enc_layer, n_dec_layer, d_ff):
    """The right layout, written out with PyTorch's layers on the meta device and counted: a measurement."""
    nn, kv = torch.nn, n_kv_head * (n_embd // n_head)

    def attention():
        return [nn.Linear(n_embd, n_embd, bias=False), nn.Linear(n_embd, kv, bias=False),
                nn.Linear(n_embd, kv, bias=False), nn.Linear(n_embd, n_embd, bias=False)]

    def block(cross):
        parts = [nn.RMSNorm(n_embd), *attention(), nn.RMSNorm(n_embd), nn.Linear(n_embd, d_ff, bias=False),
                 nn.Linear(n_embd, d_ff, bias=False), nn.Linear(d_ff, n_embd, bias=False)]
        return parts + ([nn.RMSNorm(n_embd), *attention()] if cross else [])

    with torch.device("meta"):
        model = nn.ModuleList([nn.Embedding(src_vocab_size, n_embd), nn.Embedding(tgt_vocab_size, n_embd),
                               *(m for _ in range(n_enc_layer) for m in block(False)),
                               *(m for _ in range(n_dec_layer) for m in block(True)),
                               nn.RMSNorm(n_embd), nn.RMSNorm(n_embd), nn.Linear(n_embd, tgt_vocab_size, bias=False)])
    return sum(p.numel() for p in model.parameters())


def count_package_formulas(src_vocab_size, tgt_vocab_size, n_embd, n_head, n_kv_head, n_enc_layer, n_dec_layer,
                           d_ff):
    """The package's formulas with RMSNorm and no biases: its FFN has two matrices, its keys and values full width."""
    from llmcourse.transformer import decoder_block_params, encoder_block_params

    blocks = n_enc_layer * encoder_block_params(n_embd, d_ff, norm="rms", bias=False)
    blocks += n_dec_layer * decoder_block_params(n_embd, d_ff, cross=True, norm="rms", bias=False)
    return (src_vocab_size + 2 * tgt_vocab_size) * n_embd + blocks + 2 * n_embd


def count_full_width_kv(src_vocab_size, tgt_vocab_size, n_embd, n_head, n_kv_head, n_enc_layer, n_dec_layer, d_ff):
    c = n_embd
    attention = 4 * c * c  # "k and v are C x C like q"
    blocks = n_enc_layer * (attention + 3 * c * d_ff + 2 * c) + n_dec_layer * (2 * attention + 3 * c * d_ff + 3 * c)
    return (src_vocab_size + 2 * tgt_vocab_size) * c + blocks + 2 * c


def count_layer_norm(src_vocab_size, tgt_vocab_size, n_embd, n_head, n_kv_head, n_enc_layer, n_dec_layer, d_ff):
    c, kv = _sizes(n_embd, n_head, n_kv_head)
    attention = 2 * c * c + 2 * c * kv
    norm = 2 * c  # "a gain and a shift"
    blocks = n_enc_layer * (attention + 3 * c * d_ff + 2 * norm)
    blocks += n_dec_layer * (2 * attention + 3 * c * d_ff + 3 * norm)
    return (src_vocab_size + 2 * tgt_vocab_size) * c + blocks + 2 * norm


def count_shared_table(src_vocab_size, tgt_vocab_size, n_embd, n_head, n_kv_head, n_enc_layer, n_dec_layer, d_ff):
    c, kv = _sizes(n_embd, n_head, n_kv_head)
    attention = 2 * c * c + 2 * c * kv
    blocks = n_enc_layer * (attention + 3 * c * d_ff + 2 * c) + n_dec_layer * (2 * attention + 3 * c * d_ff + 3 * c)
    return 2 * tgt_vocab_size * c + blocks + 2 * c  # one (target) table, and the head


def count_as_float(src_vocab_size, tgt_vocab_size, n_embd, n_head, n_kv_head, n_enc_layer, n_dec_layer, d_ff):
    c, kv = n_embd, n_kv_head * n_embd / n_head
    attention = 2 * c * c + 2 * c * kv
    blocks = n_enc_layer * (attention + 3 * c * d_ff + 2 * c) + n_dec_layer * (2 * attention + 3 * c * d_ff + 3 * c)
    return (src_vocab_size + 2 * tgt_vocab_size) * c + blocks + 2 * c


# --- moe_feedforward ---------------------------------------------------------------------------


def _all_experts(x, w_fc, b_fc, w_proj, b_proj, act=F.gelu):
    hidden = act(torch.einsum("...c,efc->...ef", x, w_fc) + b_fc)
    return torch.einsum("...ef,ecf->...ec", hidden, w_proj) + b_proj


def _mix(outputs, chosen, gates):
    index = chosen.unsqueeze(-1).expand(*chosen.shape, outputs.shape[-1])
    return (gates.unsqueeze(-1) * outputs.gather(-2, index)).sum(-2)


def moe_softmax_over_all(x, router_weight, w_fc, b_fc, w_proj, b_proj, k):
    probs = torch.softmax(x @ router_weight.T, dim=-1)
    gates, chosen = probs.topk(k, dim=-1)  # Switch's habit, without renormalising
    return _mix(_all_experts(x, w_fc, b_fc, w_proj, b_proj), chosen, gates)


def moe_uniform(x, router_weight, w_fc, b_fc, w_proj, b_proj, k):
    _, chosen = (x @ router_weight.T).topk(k, dim=-1)
    gates = torch.full(chosen.shape, 1.0 / k, dtype=x.dtype)
    return _mix(_all_experts(x, w_fc, b_fc, w_proj, b_proj), chosen, gates)


def moe_dense(x, router_weight, w_fc, b_fc, w_proj, b_proj, k):
    gates = torch.softmax(x @ router_weight.T, dim=-1)
    return (gates.unsqueeze(-1) * _all_experts(x, w_fc, b_fc, w_proj, b_proj)).sum(-2)


def moe_relu(x, router_weight, w_fc, b_fc, w_proj, b_proj, k):
    kept, chosen = (x @ router_weight.T).topk(k, dim=-1)
    return _mix(_all_experts(x, w_fc, b_fc, w_proj, b_proj, torch.relu), chosen, torch.softmax(kept, -1))


def moe_float32_output(x, router_weight, w_fc, b_fc, w_proj, b_proj, k):
    kept, chosen = (x @ router_weight.T).topk(k, dim=-1)  # (..., k)
    gates = torch.softmax(kept, -1)
    out = torch.zeros(x.shape)  # float32 whatever x's dtype: every expert's share is rounded into it
    for e in range(w_fc.shape[0]):  # expert by expert, as Mixtral's reference code loops
        gate_e = (gates * (chosen == e)).sum(-1, keepdim=True)  # (..., 1): 0 where e was not chosen
        out += gate_e * (F.gelu(x @ w_fc[e].T + b_fc[e]) @ w_proj[e].T + b_proj[e])
    return out


def moe_detached_router(x, router_weight, w_fc, b_fc, w_proj, b_proj, k):
    kept, chosen = (x @ router_weight.T).topk(k, dim=-1)
    gates = torch.softmax(kept, -1).detach()  # "the routing is a discrete choice"
    return _mix(_all_experts(x, w_fc, b_fc, w_proj, b_proj), chosen, gates)


def moe_softmax_without_max(x, router_weight, w_fc, b_fc, w_proj, b_proj, k):  # e^kept overflows past 88
    kept, chosen = (x @ router_weight.T).topk(k, dim=-1)
    gates = kept.exp() / kept.exp().sum(-1, keepdim=True)
    return _mix(_all_experts(x, w_fc, b_fc, w_proj, b_proj), chosen, gates)


def moe_float32_result(x, router_weight, w_fc, b_fc, w_proj, b_proj, k):  # upcasts half inputs, never casts back
    if x.dtype in (torch.float16, torch.bfloat16):
        x, router_weight, w_fc, b_fc, w_proj, b_proj = (t.float() for t in (x, router_weight, w_fc, b_fc, w_proj,
                                                                             b_proj))
    kept, chosen = (x @ router_weight.T).topk(k, dim=-1)
    return _mix(_all_experts(x, w_fc, b_fc, w_proj, b_proj), chosen, torch.softmax(kept, -1))


WRONG_ANSWERS = {
    "ch06.layer_norm_backward": [
        WrongAnswer("mean and variance treated as constants", ln_constant_stats, "as constants"),
        WrongAnswer("only the mean's path", ln_mean_path_only, "variance's dependence"),
        WrongAnswer("unbiased variance", ln_unbiased, "unbiased variance"),
        WrongAnswer("eps outside the square root", ln_eps_outside, "eps outside the square root"),
        WrongAnswer("statistics over the batch", ln_over_batch, "normalised over the batch"),
        WrongAnswer("gamma's and beta's gradients averaged", ln_averages_gamma, "averaged dL/dweight"),
        WrongAnswer("gamma's gradient without x_hat", ln_gamma_without_x_hat, "forgot x_hat"),
        WrongAnswer("dweight, dbias summed into float32 torch.zeros", ln_float32_accumulators, "should be float64"),
        WrongAnswer("sums over () for one vector", ln_sums_over_empty_dims, "shape"),
        WrongAnswer("uses autograd", ln_uses_autograd, "called autograd"),
        WrongAnswer("scales grad_out in place", ln_scales_grad_out_in_place, "changed its input"),
        WrongAnswer("PyTorch's native_layer_norm_backward", ln_native_backward, "native_layer_norm_backward"),
        WrongAnswer("the grad_fn of F.layer_norm called by hand", ln_grad_fn_of_layer_norm, "rules out"),
        WrongAnswer("the grad_fn of a one-group group norm", ln_group_norm_grad_fn, "group_norm"),
        WrongAnswer("one-pass variance E[x^2] - E[x]^2", ln_one_pass_variance, "dL/dx"),
        WrongAnswer("float32 gradients for bfloat16 inputs", ln_float32_result, "should be bfloat16"),
    ],
    "ch06.swiglu_width": [
        WrongAnswer("the GELU network's width", width_gelu, "three matrices"),
        WrongAnswer("rounded down", width_round_down, "rounds up"),
        WrongAnswer("rounded to the nearest multiple", width_nearest, "rounds up"),
        WrongAnswer("ceil before the multiple", width_ceil_first, "whole-number part"),
        WrongAnswer("a float", width_float, "Python int"),
    ],
    "ch06.swiglu_ffn": [
        WrongAnswer("SiLU on the up branch", swiglu_silu_on_up, "up branch"),
        WrongAnswer("GELU instead of SiLU", swiglu_gelu, "used GELU"),
        WrongAnswer("a sigmoid gate (GLU)", swiglu_sigmoid, "plain sigmoid"),
        WrongAnswer("weights not transposed", swiglu_no_transpose, "transposes"),
        WrongAnswer("gate detached", swiglu_detached, "gradient"),
        WrongAnswer("float64 result", swiglu_float64, "float64"),
        WrongAnswer("SiLU as z exp(z) / (1 + exp(z))", swiglu_exp_silu, "NaN or infinity"),
        WrongAnswer("SiLU as z / (1 + exp(-z))", swiglu_exp_minus_silu, "gradient with respect to"),
        WrongAnswer("float32 result for bfloat16 inputs", swiglu_float32_result, "should be bfloat16"),
    ],
    "ch06.encoder_decoder_params": [
        WrongAnswer("the package's Seq2SeqTransformer counted on the meta device", count_package_model,
                    "on the `meta` device"),
        WrongAnswer("the right layout built on the meta device and counted", count_meta_model, "meta"),
        WrongAnswer("the package's formulas (RMSNorm, no biases)", count_package_formulas, "three matrices"),
        WrongAnswer("keys and values as wide as the queries", count_full_width_kv, "n_kv_head"),
        WrongAnswer("LayerNorm's gain and shift", count_layer_norm, "gain only"),
        WrongAnswer("one token table for both sides", count_shared_table, "only the target's token table"),
        WrongAnswer("a float", count_as_float, "Python int"),
    ],
    "ch06.moe_feedforward": [
        WrongAnswer("softmax over all experts, not renormalised", moe_softmax_over_all, "softmax over all experts"),
        WrongAnswer("equal weights for the chosen experts", moe_uniform, "equally"),
        WrongAnswer("every expert mixed", moe_dense, "dense mixture"),
        WrongAnswer("ReLU experts", moe_relu, "ReLU"),
        WrongAnswer("router cut off from autograd", moe_detached_router, "the gradient with respect to"),
        WrongAnswer("experts summed into a float32 torch.zeros", moe_float32_output, "should be float64"),
        WrongAnswer("softmax of the kept logits without the max subtracted", moe_softmax_without_max,
                    "NaN or infinity"),
        WrongAnswer("float32 result for bfloat16 inputs", moe_float32_result, "should be bfloat16"),
    ],
}


# Found by the adversarial run (issue 20): `.view` where only non-contiguous inputs break it, which the public cases
# must show (the second half of them take non-contiguous views), not only a hidden case.


def ln_flattened_with_view(grad_out, x, weight, eps):
    mean, var = x.mean(-1, keepdim=True), x.var(-1, keepdim=True, unbiased=False)
    inv = 1 / torch.sqrt(var + eps)
    x_hat, c = (x - mean) * inv, x.shape[-1]
    g = grad_out * weight
    grad_x = inv * (g - g.mean(-1, keepdim=True) - x_hat * (g * x_hat).mean(-1, keepdim=True))
    return grad_x, (grad_out * x_hat).view(-1, c).sum(0), grad_out.view(-1, c).sum(0)


def moe_flattened_with_view(x, router_weight, w_fc, b_fc, w_proj, b_proj, k):
    kept, chosen = (x @ router_weight.T).topk(k, -1)
    gates = kept.softmax(-1)
    flat = x.view(-1, x.shape[-1])  # (N, C)
    hidden = F.gelu(torch.einsum("nc,efc->nef", flat, w_fc) + b_fc)
    out = (torch.einsum("nef,ecf->nec", hidden, w_proj) + b_proj).reshape(*x.shape[:-1], w_proj.shape[0], -1)
    index = chosen.unsqueeze(-1).expand(*chosen.shape, out.shape[-1])
    return (gates.unsqueeze(-1) * out.gather(-2, index)).sum(-2)


WRONG_ANSWERS["ch06.layer_norm_backward"].append(WrongAnswer("flattens with .view", ln_flattened_with_view,
                                                             "non-contiguous"))
WRONG_ANSWERS["ch06.moe_feedforward"].append(WrongAnswer("flattens with .view", moe_flattened_with_view,
                                                         "non-contiguous"))

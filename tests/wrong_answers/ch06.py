"""Plausible wrong answers to chapter 6's exercises, each with a phrase the grader's message must contain."""

from __future__ import annotations

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


def ln_uses_autograd(grad_out, x, weight, eps):
    x, weight = x.detach().requires_grad_(True), weight.detach().requires_grad_(True)
    bias = torch.zeros_like(weight, requires_grad=True)
    y = F.layer_norm(x, (x.shape[-1],), weight, bias, eps)
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


# --- encoder_decoder_params --------------------------------------------------------------------


def _blocks(n_embd, d_ff):
    attention = 4 * n_embd * n_embd + 4 * n_embd
    ffn = 2 * n_embd * d_ff + d_ff + n_embd
    return attention, ffn, 2 * n_embd


def count_no_cross(vocab_size, n_embd, n_head, n_enc_layer, n_dec_layer, block_size, d_ff, norm_first,
                   tie_embeddings):
    attention, ffn, norm = _blocks(n_embd, d_ff)
    block = attention + ffn + 2 * norm  # the decoder's blocks counted like the encoder's
    total = vocab_size * n_embd + 2 * block_size * n_embd + (n_enc_layer + n_dec_layer) * block
    return total + (2 * norm if norm_first else 0) + (0 if tie_embeddings else vocab_size * n_embd)


def count_tied_twice(vocab_size, n_embd, n_head, n_enc_layer, n_dec_layer, block_size, d_ff, norm_first,
                     tie_embeddings):
    attention, ffn, norm = _blocks(n_embd, d_ff)
    total = vocab_size * n_embd + 2 * block_size * n_embd
    total += n_enc_layer * (attention + ffn + 2 * norm) + n_dec_layer * (2 * attention + ffn + 3 * norm)
    return total + (2 * norm if norm_first else 0) + vocab_size * n_embd  # the head, tied or not


def count_per_head(vocab_size, n_embd, n_head, n_enc_layer, n_dec_layer, block_size, d_ff, norm_first,
                   tie_embeddings):
    attention, ffn, norm = _blocks(n_embd, d_ff)
    attention *= n_head  # "every head has its own q, k, v, out"
    total = vocab_size * n_embd + 2 * block_size * n_embd
    total += n_enc_layer * (attention + ffn + 2 * norm) + n_dec_layer * (2 * attention + ffn + 3 * norm)
    return total + (2 * norm if norm_first else 0) + (0 if tie_embeddings else vocab_size * n_embd)


def count_always_final_norms(vocab_size, n_embd, n_head, n_enc_layer, n_dec_layer, block_size, d_ff, norm_first,
                             tie_embeddings):
    attention, ffn, norm = _blocks(n_embd, d_ff)
    total = vocab_size * n_embd + 2 * block_size * n_embd
    total += n_enc_layer * (attention + ffn + 2 * norm) + n_dec_layer * (2 * attention + ffn + 3 * norm)
    return total + 2 * norm + (0 if tie_embeddings else vocab_size * n_embd)


def count_as_float(vocab_size, n_embd, n_head, n_enc_layer, n_dec_layer, block_size, d_ff, norm_first,
                   tie_embeddings):
    attention = 4 * n_embd**2 + 4 * n_embd
    per_block = attention + 2 * n_embd * d_ff + d_ff + n_embd + 4 * n_embd
    total = vocab_size * n_embd + 2 * block_size * n_embd + n_enc_layer * per_block
    total += n_dec_layer * (per_block + attention + 2 * n_embd)
    total += (4 * n_embd if norm_first else 0) + (0 if tie_embeddings else vocab_size * n_embd)
    return total / 1.0  # "a count is a number"


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


def moe_detached_router(x, router_weight, w_fc, b_fc, w_proj, b_proj, k):
    kept, chosen = (x @ router_weight.T).topk(k, dim=-1)
    gates = torch.softmax(kept, -1).detach()  # "the routing is a discrete choice"
    return _mix(_all_experts(x, w_fc, b_fc, w_proj, b_proj), chosen, gates)


WRONG_ANSWERS = {
    "ch06.layer_norm_backward": [
        WrongAnswer("mean and variance treated as constants", ln_constant_stats, "as constants"),
        WrongAnswer("only the mean's path", ln_mean_path_only, "variance's dependence"),
        WrongAnswer("unbiased variance", ln_unbiased, "unbiased variance"),
        WrongAnswer("eps outside the square root", ln_eps_outside, "eps outside the square root"),
        WrongAnswer("statistics over the batch", ln_over_batch, "normalised over the batch"),
        WrongAnswer("gamma's and beta's gradients averaged", ln_averages_gamma, "averaged dL/dweight"),
        WrongAnswer("gamma's gradient without x_hat", ln_gamma_without_x_hat, "forgot x_hat"),
        WrongAnswer("sums over () for one vector", ln_sums_over_empty_dims, "shape"),
        WrongAnswer("uses autograd", ln_uses_autograd, "called autograd"),
        WrongAnswer("scales grad_out in place", ln_scales_grad_out_in_place, "changed its input"),
    ],
    "ch06.swiglu_ffn": [
        WrongAnswer("SiLU on the up branch", swiglu_silu_on_up, "up branch"),
        WrongAnswer("GELU instead of SiLU", swiglu_gelu, "used GELU"),
        WrongAnswer("a sigmoid gate (GLU)", swiglu_sigmoid, "plain sigmoid"),
        WrongAnswer("weights not transposed", swiglu_no_transpose, "transposes"),
        WrongAnswer("gate detached", swiglu_detached, "gradient"),
        WrongAnswer("float64 result", swiglu_float64, "float64"),
    ],
    "ch06.encoder_decoder_params": [
        WrongAnswer("no cross-attention", count_no_cross, "cross-attention"),
        WrongAnswer("tied table counted twice", count_tied_twice, "token table twice"),
        WrongAnswer("attention per head", count_per_head, "number of heads"),
        WrongAnswer("final norms in post-LN too", count_always_final_norms, "post-LN model"),
        WrongAnswer("a float", count_as_float, "Python int"),
    ],
    "ch06.moe_feedforward": [
        WrongAnswer("softmax over all experts, not renormalised", moe_softmax_over_all, "softmax over all experts"),
        WrongAnswer("equal weights for the chosen experts", moe_uniform, "equally"),
        WrongAnswer("every expert mixed", moe_dense, "dense mixture"),
        WrongAnswer("ReLU experts", moe_relu, "ReLU"),
        WrongAnswer("router cut off from autograd", moe_detached_router, "the gradient with respect to"),
    ],
}
